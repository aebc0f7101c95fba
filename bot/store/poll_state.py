"""Small state: poll bookkeeping (key/value), the LL2 request log, cached event types."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import delete, func, select

from bot.core.snapshot import Source
from bot.store import schema
from bot.store.base import StoreBase, require_aware

# When a query's answer last arrived complete, per stream label ("full_upcoming:launch", ...).
LAST_SUCCESS_KEY = "poll:last_success:{stream}"
_FULL_READ = "full_upcoming:{source}"  # the label of a read of LL2's whole upcoming list

_P = schema.poll_state
_R = schema.request_log
_E = schema.event_types


class PollStateQueries(StoreBase):
    """Key/value poll state: last poll times, baseline flags, anything small."""

    async def get_state(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        async with self._read() as conn:
            value = (await conn.execute(select(_P.c.value).where(_P.c.key == key))).scalar()
        return None if value is None else str(value)

    async def set_state(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` (replacing any previous value)."""
        stmt = self._upsert(_P, ["key"], ["value"])
        async with self._write() as conn:
            await conn.execute(stmt, [{"key": key, "value": value}])

    async def delete_state(self, key: str) -> bool:
        """Forget ``key``; True if it existed."""
        async with self._write() as conn:
            result = await conn.execute(delete(_P).where(_P.c.key == key))
        return int(result.rowcount) > 0

    async def get_datetime(self, key: str) -> datetime | None:
        """A timestamp stored with :meth:`set_datetime` (aware UTC), or None."""
        text = await self.get_state(key)
        if text is None:
            return None
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:  # not written by set_datetime; assume UTC
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    async def set_datetime(self, key: str, value: datetime) -> None:
        """Store an aware timestamp under ``key`` (as ISO 8601 UTC)."""
        require_aware(value, "value")
        await self.set_state(key, value.astimezone(UTC).isoformat())

    async def last_full_reads(self) -> dict[Source, datetime]:
        """Per source, when a read of LL2's whole upcoming list last completed.

        Every item of that read was stamped ``last_seen_at`` at that moment, in the same
        transaction, so an item of the source last seen before it was no longer in LL2's
        upcoming list: removed, or more than a day past (see ``upcoming``'s ``listed_since``).
        """
        found: dict[Source, datetime] = {}
        for source in Source:
            key = LAST_SUCCESS_KEY.format(stream=_FULL_READ.format(source=source.value))
            value = await self.get_datetime(key)
            if value is not None:
                found[source] = value
        return found

    async def get_flag(self, key: str) -> bool:
        """A boolean stored with :meth:`set_flag`; False when never set."""
        return await self.get_state(key) == "1"

    async def set_flag(self, key: str, value: bool = True) -> None:
        """Store a boolean under ``key``."""
        await self.set_state(key, "1" if value else "0")


BLOCKED_UNTIL_KEY = "ll2:blocked_until"


def _blocked_text(value: datetime) -> str:
    # Fixed width (always microseconds, always +00:00): the text sorts as the instant does, so
    # the database itself can keep the later of two blocks.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class RequestLogQueries(StoreBase):
    """When LL2 requests were sent, and when LL2 said to wait until: the persistent side of the
    client's request budget."""

    async def load_blocked_until(self) -> datetime | None:
        """The stored "send nothing to LL2 before" moment (aware UTC), or None."""
        async with self._read() as conn:
            stmt = select(_P.c.value).where(_P.c.key == BLOCKED_UNTIL_KEY)
            text = (await conn.execute(stmt)).scalar()
        return None if text is None else datetime.fromisoformat(str(text)).astimezone(UTC)

    async def record_blocked_until(self, until: datetime) -> None:
        """Store a "send nothing before" moment unless a later one is stored already.

        One conditional upsert, so two processes throttled at once keep the later block.
        """
        require_aware(until, "until")
        stmt = self._insert(_P).values(key=BLOCKED_UNTIL_KEY, value=_blocked_text(until))
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"value": stmt.excluded.value},
            where=_P.c.value < stmt.excluded.value,
        )
        async with self._write() as conn:
            await conn.execute(stmt)

    async def load_request_times(self, since: datetime) -> list[datetime]:
        """Send times at or after ``since``, oldest first."""
        require_aware(since, "since")
        stmt = select(_R.c.sent_at).where(_R.c.sent_at >= since).order_by(_R.c.sent_at)
        async with self._read() as conn:
            return list((await conn.execute(stmt)).scalars())

    async def record_request(self, at: datetime) -> None:
        """Log one request sent at ``at``."""
        require_aware(at, "at")
        async with self._write() as conn:
            await conn.execute(_R.insert().values(sent_at=at))

    async def prune_request_log(self, before: datetime) -> int:
        """Delete entries older than ``before``; return how many."""
        require_aware(before, "before")
        async with self._write() as conn:
            result = await conn.execute(delete(_R).where(_R.c.sent_at < before))
        return int(result.rowcount)


class EventTypeQueries(StoreBase):
    """LL2's event types (``/config/event_types/``), cached for filters and autocomplete."""

    async def save_event_types(self, types: Iterable[tuple[int, str]], at: datetime) -> None:
        """Insert or rename event types; ``at`` marks when they were fetched."""
        require_aware(at, "at")
        rows = [{"id": int(i), "name": name, "updated_at": at} for i, name in dict(types).items()]
        if not rows:
            return
        stmt = self._upsert(_E, ["id"], ["name", "updated_at"])
        async with self._write() as conn:
            await conn.execute(stmt, rows)

    async def list_event_types(self) -> list[tuple[int, str]]:
        """Every cached event type as ``(id, name)``, by id."""
        async with self._read() as conn:
            rows = await conn.execute(select(_E.c.id, _E.c.name).order_by(_E.c.id))
            return [(int(r.id), str(r.name)) for r in rows]

    async def event_types_updated_at(self) -> datetime | None:
        """When event types were last saved, or None if never (to decide on a refresh)."""
        async with self._read() as conn:
            value = (await conn.execute(select(func.max(_E.c.updated_at)))).scalar()
        return value if isinstance(value, datetime) else None
