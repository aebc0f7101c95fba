"""The outbox: messages to deliver, one row per (change, channel), surviving crashes.

Life of a row: ``pending`` → :meth:`~OutboxQueries.claim_due` leases it (pushes
``next_attempt_at`` forward by the lease and counts the attempt) → the worker sends it and calls
:meth:`~OutboxQueries.mark_sent`, :meth:`~OutboxQueries.mark_retry` (still pending, later) or
:meth:`~OutboxQueries.mark_failed`. A worker that dies mid-send leaves the row pending; it is
due again when the lease ends. Claims are atomic (a conditional ``UPDATE``), so several workers
or processes never claim the same row twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, Row, delete, func, literal, select, update

from bot.core.changes import ChangeKind
from bot.store import schema
from bot.store.base import StoreBase, chunks, dump_json, load_json, require_aware
from bot.store.models import OutboxRow, OutboxStatus, ShardSpec

_O = schema.outbox

DEFAULT_LEASE = timedelta(seconds=60)
_FINISHED = (OutboxStatus.SENT.value, OutboxStatus.FAILED.value, OutboxStatus.CANCELLED.value)


def dump_kinds(kinds: Iterable[ChangeKind]) -> str:
    """The stored form of a row's kinds: sorted, comma-separated."""
    return ",".join(sorted(ChangeKind(k).value for k in kinds))


def load_kinds(text: str) -> frozenset[ChangeKind]:
    """Inverse of :func:`dump_kinds`."""
    return frozenset(ChangeKind(k) for k in text.split(",") if k)


def _row(row: Row[Any]) -> OutboxRow:
    return OutboxRow(
        id=row.id,
        dedup_key=row.dedup_key,
        guild_id=row.guild_id,
        channel_id=row.channel_id,
        subscription_id=row.subscription_id,
        item_ref=row.item_ref,
        kinds=load_kinds(row.kinds),
        payload=load_json(row.payload),
        role_id=row.role_id,
        status=OutboxStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        message_id=row.message_id,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


def _values(row: OutboxRow) -> dict[str, Any]:
    return {
        "dedup_key": row.dedup_key,
        "guild_id": row.guild_id,
        "channel_id": row.channel_id,
        "subscription_id": row.subscription_id,
        "item_ref": row.item_ref,
        "kinds": dump_kinds(row.kinds),
        "payload": dump_json(row.payload),
        "role_id": row.role_id,
        "status": row.status.value,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "message_id": row.message_id,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "sent_at": row.sent_at,
    }


def _shard_condition(shards: ShardSpec) -> ColumnElement[bool]:
    # Discord's rule, (guild_id >> 22) % shard_count, evaluated by the database.
    # PostgreSQL has bigint >> integer only, so the shift count must not be bound as a bigint.
    shard = _O.c.guild_id.bitwise_rshift(literal(22, Integer)) % shards.shard_count
    return shard.in_(sorted(shards.shard_ids))


class OutboxQueries(StoreBase):
    """Outbox rows: enqueue, claim, settle, coalesce, prune."""

    async def enqueue(self, rows: Sequence[OutboxRow]) -> int:
        """Insert ``rows``, skipping any whose ``dedup_key`` exists; return how many were new."""
        unique: dict[str, dict[str, Any]] = {}
        for row in rows:
            unique.setdefault(row.dedup_key, _values(row))
        if not unique:
            return 0
        stmt = self._insert_ignore(_O, ["dedup_key"]).returning(_O.c.id)
        inserted = 0
        async with self._write() as conn:
            for part in chunks(list(unique.values())):
                inserted += len((await conn.execute(stmt, part)).all())
        return inserted

    async def get_outbox_row(self, row_id: int) -> OutboxRow | None:
        """One row by id, or None."""
        async with self._read() as conn:
            row = (await conn.execute(select(_O).where(_O.c.id == row_id))).first()
        return None if row is None else _row(row)

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        *,
        shards: ShardSpec | None = None,
        guild_filter: Callable[[int], bool] | None = None,
        lease: timedelta = DEFAULT_LEASE,
    ) -> list[OutboxRow]:
        """Lease up to ``limit`` pending rows due at ``now``, oldest due first.

        ``shards`` keeps the guilds of this process's shards (computed in SQL);
        ``guild_filter`` is any further predicate on ``guild_id`` (applied in Python). Each
        claimed row gets ``attempts + 1`` and ``next_attempt_at = now + lease``: settle it with
        ``mark_*`` before the lease ends, or it becomes due again (crash recovery).
        """
        require_aware(now, "now")
        if limit <= 0:
            return []
        base = select(_O.c.id, _O.c.guild_id).where(
            _O.c.status == OutboxStatus.PENDING.value, _O.c.next_attempt_at <= now
        )
        if shards is not None:
            base = base.where(_shard_condition(shards))
        base = base.order_by(_O.c.next_attempt_at, _O.c.id)
        page = limit if guild_filter is None else max(limit * 4, 100)
        async with self._write() as conn:
            chosen: list[int] = []
            offset = 0
            while len(chosen) < limit:
                stmt = base.limit(page).offset(offset)
                if self.dialect_name == "postgresql" and guild_filter is None:
                    stmt = stmt.with_for_update(skip_locked=True)
                candidates = (await conn.execute(stmt)).all()
                for cand in candidates:
                    if guild_filter is None or guild_filter(cand.guild_id):
                        chosen.append(cand.id)
                        if len(chosen) == limit:
                            break
                if len(candidates) < page:
                    break
                offset += page
            if not chosen:
                return []
            claim = (
                update(_O)
                .where(
                    _O.c.id.in_(chosen),
                    _O.c.status == OutboxStatus.PENDING.value,
                    _O.c.next_attempt_at <= now,
                )
                .values(attempts=_O.c.attempts + 1, next_attempt_at=now + lease)
                .returning(*_O.c)
            )
            claimed = {row.id: _row(row) for row in await conn.execute(claim)}
        return [claimed[i] for i in chosen if i in claimed]

    async def _settle(self, row_id: int, dedup_key: str | None, values: dict[str, Any]) -> bool:
        stmt = (
            update(_O)
            .where(_O.c.id == row_id, _O.c.status == OutboxStatus.PENDING.value)
            .values(**values)
        )
        if dedup_key is not None:
            stmt = stmt.where(_O.c.dedup_key == dedup_key)
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount) > 0

    async def mark_sent(
        self, row_id: int, message_id: int, at: datetime, *, dedup_key: str | None = None
    ) -> bool:
        """Record delivery. True if the row was pending (and still had ``dedup_key``, if given).

        Pass the claimed row's ``dedup_key``: if the poller coalesced a newer change into the row
        while it was being sent, the key differs, the row stays pending and the newer content
        goes out when the lease ends.
        """
        require_aware(at, "at")
        values = {
            "status": OutboxStatus.SENT.value,
            "message_id": message_id,
            "sent_at": at,
            "last_error": None,
        }
        return await self._settle(row_id, dedup_key, values)

    async def mark_retry(self, row_id: int, error: str, next_attempt_at: datetime) -> bool:
        """Keep the row pending, due again at ``next_attempt_at``; True if it was pending."""
        require_aware(next_attempt_at, "next_attempt_at")
        values = {"last_error": error, "next_attempt_at": next_attempt_at}
        return await self._settle(row_id, None, values)

    async def mark_failed(self, row_id: int, error: str) -> bool:
        """Give up on a pending row; True if it was pending."""
        values = {"status": OutboxStatus.FAILED.value, "last_error": error}
        return await self._settle(row_id, None, values)

    async def cancel_channel(self, channel_id: int, reason: str) -> int:
        """Cancel every pending row for a dead channel; return how many."""
        stmt = (
            update(_O)
            .where(_O.c.channel_id == channel_id, _O.c.status == OutboxStatus.PENDING.value)
            .values(status=OutboxStatus.CANCELLED.value, last_error=reason)
        )
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount)

    async def find_pending_for_item(
        self, channel_id: int, item_ref: str, kind: ChangeKind
    ) -> OutboxRow | None:
        """The newest pending row for this channel and item whose kinds include ``kind``."""
        stmt = (
            select(_O)
            .where(
                _O.c.channel_id == channel_id,
                _O.c.item_ref == item_ref,
                _O.c.status == OutboxStatus.PENDING.value,
            )
            .order_by(_O.c.id.desc())
        )
        async with self._read() as conn:
            rows = [_row(r) for r in await conn.execute(stmt)]
        return next((r for r in rows if ChangeKind(kind) in r.kinds), None)

    async def update_payload(
        self,
        row_id: int,
        payload: dict[str, Any],
        dedup_key: str,
        *,
        role_id: int | None = None,
        kinds: Iterable[ChangeKind] | None = None,
    ) -> bool:
        """Replace a *pending* row's content and dedup key (coalescing a newer change into it).

        Returns False, changing nothing, if the row is no longer pending or another row already
        has ``dedup_key``. ``role_id`` and ``kinds`` are replaced when given.
        """
        async with self._write() as conn:
            clash = await conn.execute(
                select(_O.c.id).where(_O.c.dedup_key == dedup_key, _O.c.id != row_id)
            )
            if clash.first() is not None:
                return False
            values: dict[str, Any] = {"payload": dump_json(payload), "dedup_key": dedup_key}
            if role_id is not None:
                values["role_id"] = role_id
            if kinds is not None:
                values["kinds"] = dump_kinds(kinds)
            stmt = (
                update(_O)
                .where(_O.c.id == row_id, _O.c.status == OutboxStatus.PENDING.value)
                .values(**values)
            )
            result = await conn.execute(stmt)
        return int(result.rowcount) > 0

    async def replace_pending(self, row: OutboxRow) -> int | None:
        """Coalesce ``row`` into a pending row for the same channel, item and kinds.

        If one exists, its payload, dedup key and role become ``row``'s and its id is returned;
        otherwise (or if ``row``'s key is already used) None is returned and the caller should
        :meth:`enqueue` ``row``. Use it for changes where only the latest matters (a date that
        slips again before the previous alert went out).
        """
        stmt = (
            select(_O)
            .where(
                _O.c.channel_id == row.channel_id,
                _O.c.item_ref == row.item_ref,
                _O.c.kinds == dump_kinds(row.kinds),
                _O.c.status == OutboxStatus.PENDING.value,
            )
            .order_by(_O.c.id.desc())
            .limit(1)
        )
        async with self._write() as conn:
            found = (await conn.execute(stmt)).first()
            if found is None:
                return None
            existing = _row(found)
            assert existing.id is not None
            if existing.dedup_key == row.dedup_key:
                return existing.id
            tx = type(self)(self._engine, conn)
            ok = await tx.update_payload(
                existing.id, row.payload, row.dedup_key, role_id=row.role_id
            )
        return existing.id if ok else None

    async def outbox_counts(self) -> dict[OutboxStatus, int]:
        """How many rows are in each status (every status present, zero if none)."""
        stmt = select(_O.c.status, func.count()).group_by(_O.c.status)
        counts = dict.fromkeys(OutboxStatus, 0)
        async with self._read() as conn:
            for status, count in await conn.execute(stmt):
                counts[OutboxStatus(status)] = int(count)
        return counts

    async def prune_outbox(self, sent_before: datetime) -> int:
        """Delete finished rows (sent, failed, cancelled) older than ``sent_before``.

        Age is ``sent_at`` for sent rows and ``created_at`` for the others. Returns how many.
        """
        require_aware(sent_before, "sent_before")
        stmt = delete(_O).where(
            _O.c.status.in_(_FINISHED),
            func.coalesce(_O.c.sent_at, _O.c.created_at) < sent_before,
        )
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount)
