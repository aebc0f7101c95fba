"""The server calendar's store: guild settings, and the bot's scheduled events per (guild, item).

The model is :mod:`bot.core.schedule`; this module only reads and writes it. One row of
``calendar_events`` per (guild, item) holds the Discord event id and the fields Discord holds,
written right after Discord answers, so a restart plans from what Discord has. A crash between
Discord's answer and this write is healed by adoption (:mod:`bot.services.calendar`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, func, select, update

from bot.core.schedule import CalendarSettings, Entry, EventFields, Hold, Status
from bot.core.snapshot import Source
from bot.store import schema
from bot.store.base import StoreBase, dump_set, load_json, require_aware

_S = schema.calendar_settings
_E = schema.calendar_events
_LIVE = (int(Status.SCHEDULED), int(Status.ACTIVE))


def _at(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else require_aware(now, "now")


def _settings(row: Row[Any]) -> CalendarSettings:
    event_types = load_json(row.event_types)
    providers = load_json(row.providers)
    return CalendarSettings(
        guild_id=row.guild_id,
        enabled=bool(row.enabled),
        sources=frozenset(Source(s) for s in load_json(row.sources)),
        event_types=None if event_types is None else frozenset(event_types),
        providers=None if providers is None else frozenset(providers),
        horizon_days=row.horizon_days,
        max_events=row.max_events,
        disabled_reason=row.disabled_reason,
    )


def _entry(row: Row[Any]) -> Entry:
    return Entry(
        item_ref=row.item_ref,
        event_id=row.event_id,
        status=Status(row.status),
        fields=EventFields(
            name=row.name,
            description=row.description,
            location=row.location,
            start=row.start_at,
            end=row.end_at,
            cover=row.cover_url,
        ),
        pending_start=row.pending_start,
        pending_since=row.pending_since,
    )


def event_url(guild_id: int, event_id: int) -> str:
    """The link Discord gives a scheduled event (opens it in the server's Events)."""
    return f"https://discord.com/events/{guild_id}/{event_id}"


class CalendarQueries(StoreBase):
    """Calendar settings and the bot's scheduled events."""

    async def save_calendar(
        self, settings: CalendarSettings, *, now: datetime | None = None
    ) -> CalendarSettings:
        """Create or replace a guild's calendar settings (enabling clears an old reason)."""
        at = _at(now)
        values = {
            "enabled": settings.enabled,
            "sources": dump_set(s.value for s in settings.sources),
            "event_types": dump_set(settings.event_types),
            "providers": dump_set(settings.providers),
            "horizon_days": settings.horizon_days,
            "max_events": settings.max_events,
            "disabled_reason": settings.disabled_reason,
            "updated_at": at,
        }
        stmt = self._upsert(_S, ["guild_id"], values).values(
            guild_id=settings.guild_id, created_at=at, **values
        )
        # An admin's enable brings back the items a moderator removed (their tombstones).
        forgiven = delete(_E).where(
            _E.c.guild_id == settings.guild_id, _E.c.status == int(Status.CANCELED)
        )
        async with self._write() as conn:
            await conn.execute(stmt)
            if settings.enabled:
                await conn.execute(forgiven)
        return settings

    async def get_calendar(self, guild_id: int) -> CalendarSettings | None:
        """One guild's calendar settings, or None if it never enabled one."""
        async with self._read() as conn:
            row = (await conn.execute(select(_S).where(_S.c.guild_id == guild_id))).first()
        return None if row is None else _settings(row)

    async def list_calendars(self, guild_id: int | None = None) -> list[CalendarSettings]:
        """Every guild's calendar settings (or one guild's), by guild id."""
        stmt = select(_S).order_by(_S.c.guild_id)
        if guild_id is not None:
            stmt = stmt.where(_S.c.guild_id == guild_id)
        async with self._read() as conn:
            return [_settings(row) for row in await conn.execute(stmt)]

    async def disable_calendar(
        self, guild_id: int, reason: str | None = None, *, now: datetime | None = None
    ) -> bool:
        """Turn a guild's calendar off (``reason``: what Discord said); True if it had one."""
        stmt = (
            update(_S)
            .where(_S.c.guild_id == guild_id)
            .values(enabled=False, disabled_reason=reason, updated_at=_at(now))
        )
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount) > 0

    async def calendar_entries(self, guild_ids: Iterable[int]) -> dict[int, list[Entry]]:
        """The bot's recorded events of each guild in ``guild_ids`` (guilds without any are
        left out)."""
        wanted = sorted(set(guild_ids))
        found: dict[int, list[Entry]] = {}
        if not wanted:
            return found
        async with self._read() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                stmt = select(_E).where(_E.c.guild_id.in_(chunk)).order_by(_E.c.item_ref)
                for row in await conn.execute(stmt):
                    found.setdefault(row.guild_id, []).append(_entry(row))
        return found

    async def record_event(
        self,
        guild_id: int,
        entry: Entry,
        *,
        now: datetime | None = None,
        keep_cover: bool = False,
    ) -> None:
        """Store (or replace) the bot's event for ``(guild_id, entry.item_ref)``.

        ``keep_cover``: the entry comes from Discord's answer, which names no cover source, so
        an existing row keeps its recorded one (a new row takes ``entry.fields.cover``).
        """
        values: dict[str, Any] = {
            "event_id": entry.event_id,
            "status": int(entry.status),
            "name": entry.fields.name,
            "description": entry.fields.description,
            "location": entry.fields.location,
            "start_at": entry.fields.start,
            "end_at": entry.fields.end,
            "pending_start": entry.pending_start,
            "pending_since": entry.pending_since,
            "updated_at": _at(now),
        }
        cover = {"cover_url": entry.fields.cover}
        stmt = self._upsert(
            _E, ["guild_id", "item_ref"], values if keep_cover else values | cover
        ).values(guild_id=guild_id, item_ref=entry.item_ref, **values, **cover)
        async with self._write() as conn:
            await conn.execute(stmt)

    async def forget_event(self, guild_id: int, item_ref: str) -> None:
        """Drop the record of the bot's event for one item (deleted, or gone at Discord)."""
        stmt = delete(_E).where(_E.c.guild_id == guild_id, _E.c.item_ref == item_ref)
        async with self._write() as conn:
            await conn.execute(stmt)

    async def dismiss_event(
        self, guild_id: int, item_ref: str, *, now: datetime | None = None
    ) -> None:
        """Mark the bot's event for one item as removed by someone else (a CANCELED
        tombstone): the planner does not recreate it (see :mod:`bot.core.schedule.plan`)."""
        stmt = (
            update(_E)
            .where(_E.c.guild_id == guild_id, _E.c.item_ref == item_ref)
            .values(
                status=int(Status.CANCELED),
                pending_start=None,
                pending_since=None,
                updated_at=_at(now),
            )
        )
        async with self._write() as conn:
            await conn.execute(stmt)

    async def set_covers(self, guild_id: int, covers: Iterable[tuple[str, str]]) -> None:
        """Record ``(item_ref, url)``: the cover source of each of the guild's events (the
        planner's reading of adopted covers, see :mod:`bot.core.schedule.cover`)."""
        async with self._write() as conn:
            for item_ref, url in covers:
                await conn.execute(
                    update(_E)
                    .where(_E.c.guild_id == guild_id, _E.c.item_ref == item_ref)
                    .values(cover_url=url)
                )

    async def set_holds(self, guild_id: int, holds: Iterable[Hold]) -> None:
        """Record the held date edits of one guild; every other row's hold is cleared."""
        held = {h.item_ref: h for h in holds}
        clear = update(_E).where(_E.c.guild_id == guild_id, _E.c.pending_start.is_not(None))
        if held:
            clear = clear.where(_E.c.item_ref.not_in(list(held)))
        async with self._write() as conn:
            await conn.execute(clear.values(pending_start=None, pending_since=None))
            for hold in held.values():
                await conn.execute(
                    update(_E)
                    .where(_E.c.guild_id == guild_id, _E.c.item_ref == hold.item_ref)
                    .values(pending_start=hold.start, pending_since=hold.since)
                )

    async def managed_counts(self, now: datetime) -> dict[int, int]:
        """Per guild, how many SCHEDULED or ACTIVE events the bot holds at ``now`` (an event
        past its recorded end has been completed by Discord)."""
        require_aware(now, "now")
        stmt = (
            select(_E.c.guild_id, func.count())
            .where(_E.c.status.in_(_LIVE), _E.c.end_at > now)
            .group_by(_E.c.guild_id)
        )
        async with self._read() as conn:
            return {int(g): int(n) for g, n in await conn.execute(stmt)}

    async def dismissed_counts(self) -> dict[int, int]:
        """Per guild, how many items' events a moderator removed (CANCELED tombstones)."""
        stmt = (
            select(_E.c.guild_id, func.count())
            .where(_E.c.status == int(Status.CANCELED))
            .group_by(_E.c.guild_id)
        )
        async with self._read() as conn:
            return {int(g): int(n) for g, n in await conn.execute(stmt)}

    async def event_links(self, guild_id: int, now: datetime) -> dict[str, str]:
        """Item ref -> the Discord link of the bot's SCHEDULED or ACTIVE event for it in
        ``guild_id`` (for ``/next``)."""
        require_aware(now, "now")
        stmt = select(_E.c.item_ref, _E.c.event_id).where(
            _E.c.guild_id == guild_id, _E.c.status.in_(_LIVE), _E.c.end_at > now
        )
        async with self._read() as conn:
            rows = await conn.execute(stmt)
            return {ref: event_url(guild_id, event_id) for ref, event_id in rows}

    async def prune_calendar_events(self, before: datetime) -> int:
        """Forget finished events older than ``before`` (past their end, or completed by the
        bot); return how many. A moderator's removal (CANCELED) is kept until its event's end
        is older than ``before``, so the item stays off the calendar for as long as it lasts."""
        require_aware(before, "before")
        completed = _E.c.status == int(Status.COMPLETED)
        stmt = delete(_E).where((_E.c.end_at < before) | (completed & (_E.c.updated_at < before)))
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount)
