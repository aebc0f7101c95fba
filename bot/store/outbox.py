"""The outbox: messages to deliver, one row per (change, channel), surviving crashes.

Life of a row: ``pending`` → :meth:`~OutboxQueries.claim_due` leases it (records the claiming
process's key in ``claim_owner``, pushes ``next_attempt_at`` forward by the lease and counts the
attempt) → the worker sends it and calls :meth:`~OutboxQueries.mark_sent`,
:meth:`~OutboxQueries.mark_retry` (still pending, later) or :meth:`~OutboxQueries.mark_failed`,
each of which clears the claim. Claims are atomic (a conditional ``UPDATE``), so several workers
or processes never claim the same row twice.

A worker that dies mid-send leaves the row pending and claimed. Its claim is free at once, not
when the lease ends, because the claim says who holds it:

- on SQLite one process owns the file, so a starting worker takes back every claim
  (:meth:`~OutboxQueries.release_claims`);
- on PostgreSQL each delivering process holds a session-level advisory lock on its key
  (:data:`OWNER_LOCK_CLASS`, key) for as long as it lives (``bot.services.delivery.owner``); a
  claim whose owner's lock is gone from ``pg_locks`` is claimable at once.

The lease stays as the fallback for an owner that is alive but wedged. A row still pending when
its ``deadline`` passes is marked ``expired`` (:meth:`~OutboxQueries.expire_overdue`) instead of
being sent hours late.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    update,
)

from bot.core.changes import ChangeKind
from bot.core.delivery_order import Candidate, claim_order, tier_of
from bot.store import schema
from bot.store.base import StoreBase, chunks, dump_json, load_json, require_aware
from bot.store.models import OutboxRow, OutboxStatus, ShardSpec

_O = schema.outbox

DEFAULT_LEASE = timedelta(seconds=60)
_FINISHED = (
    OutboxStatus.SENT.value,
    OutboxStatus.FAILED.value,
    OutboxStatus.CANCELLED.value,
    OutboxStatus.EXPIRED.value,
)
# The first key of the two-key advisory locks delivering processes hold on their owner key
# (the poller lease uses the one-key form, so the two never collide). "SPCW", a signed int4.
OWNER_LOCK_CLASS = 0x5350_4357
# The owner keys whose process is alive: the second keys of the granted owner locks of this
# database (pg_locks shows two-key advisory locks as classid/objid with objsubid 2).
_LIVE_OWNERS = (
    "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2"
    f" AND classid = {OWNER_LOCK_CLASS} AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


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
        claim_owner=row.claim_owner,
        deadline=row.deadline,
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
        "claim_owner": row.claim_owner,
        "deadline": row.deadline,
        "message_id": row.message_id,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "sent_at": row.sent_at,
    }


# Rows that go first when a backlog forms (bot.core.delivery_order): a webcast going live or a
# T-minus reminder (reminder rows are the ones whose dedup key starts "reminder:").
_URGENT = or_(
    _O.c.kinds.like(f"%{ChangeKind.WEBCAST_LIVE.value}%"),
    _O.c.dedup_key.startswith("reminder:", autoescape=True),
)


def _candidate(row: Row[Any]) -> Candidate:
    reminder = str(row.dedup_key).startswith("reminder:")
    return Candidate(
        id=row.id,
        channel_id=row.channel_id,
        due=row.next_attempt_at,
        tier=tier_of(load_kinds(row.kinds), reminder=reminder),
    )


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
        owner: int | None = None,
        per_channel: int | None = None,
    ) -> list[OutboxRow]:
        """Lease up to ``limit`` pending rows due at ``now``: urgent ones first, oldest due first.

        Urgent rows (a webcast going live, a reminder) and the older due rows of their channels
        come before the rest, and each channel's rows stay in order
        (:func:`bot.core.delivery_order.claim_order` decides; this method fetches the
        candidates and claims its choice).

        ``shards`` keeps the guilds of this process's shards (computed in SQL);
        ``guild_filter`` is any further predicate on ``guild_id`` (applied in Python);
        ``per_channel`` caps the rows of one channel (a channel's rows go out one by one, so a
        batch must not hold more of them than can be sent within the lease). Each claimed row
        gets ``attempts + 1``, ``next_attempt_at = now + lease`` and ``claim_owner = owner``:
        settle it with ``mark_*`` before the lease ends, or it becomes due again. On
        PostgreSQL a row whose claim owner is no longer alive is due at once (see the module
        docstring).
        """
        require_aware(now, "now")
        if limit <= 0:
            return []
        due: ColumnElement[bool] = _O.c.next_attempt_at <= now
        if self.dialect_name == "postgresql":
            due = or_(
                due,
                and_(
                    _O.c.claim_owner.is_not(None),
                    text(f"outbox.claim_owner NOT IN ({_LIVE_OWNERS})"),
                ),
            )
        columns = (
            _O.c.id,
            _O.c.guild_id,
            _O.c.channel_id,
            _O.c.next_attempt_at,
            _O.c.kinds,
            _O.c.dedup_key,
        )
        base = select(*columns).where(_O.c.status == OutboxStatus.PENDING.value, due)
        if shards is not None:
            base = base.where(_shard_condition(shards))
        base = base.order_by(_O.c.next_attempt_at, _O.c.id)
        page = limit if guild_filter is None and per_channel is None else max(limit * 4, 100)
        lock = self.dialect_name == "postgresql" and guild_filter is None

        def locked(stmt: Any) -> Any:
            return stmt.with_for_update(skip_locked=True) if lock else stmt

        async with self._write() as conn:
            found: dict[int, Candidate] = {}

            def take(rows: Iterable[Row[Any]]) -> int:
                seen = 0
                for cand in rows:
                    seen += 1
                    if guild_filter is not None and not guild_filter(cand.guild_id):
                        continue
                    found.setdefault(cand.id, _candidate(cand))
                return seen

            # The oldest due rows, page by page until a batch's worth passes the filters...
            offset = 0
            while True:
                got = take(await conn.execute(locked(base.limit(page).offset(offset))))
                plain = claim_order(list(found.values()), limit, per_channel=per_channel)
                if len(plain) >= limit or got < page:
                    break
                offset += page
            # ...then the oldest due urgent rows (webcast live, reminders), and the due rows of
            # their channels, which must go before them (bot.core.delivery_order).
            urgent = list(await conn.execute(locked(base.where(_URGENT).limit(page))))
            take(urgent)
            channels = sorted({row.channel_id for row in urgent})
            for part in chunks(channels):
                stmt = base.where(_O.c.channel_id.in_(part)).limit(page)
                take(await conn.execute(locked(stmt)))
            chosen = claim_order(list(found.values()), limit, per_channel=per_channel)
            if not chosen:
                return []
            claim = (
                update(_O)
                .where(_O.c.id.in_(chosen), _O.c.status == OutboxStatus.PENDING.value, due)
                .values(attempts=_O.c.attempts + 1, next_attempt_at=now + lease, claim_owner=owner)
                .returning(*_O.c)
            )
            claimed = {row.id: _row(row) for row in await conn.execute(claim)}
        return [claimed[i] for i in chosen if i in claimed]

    async def release_claims(self, now: datetime, *, owner_other_than: int | None = None) -> int:
        """Make every claimed pending row due at ``now`` and unclaimed; return how many.

        For a starting SQLite process, which owns the file: whoever claimed those rows is gone
        (a crash), so they go out now instead of when their lease ends. Rows claimed by
        ``owner_other_than`` (this process's own key) are left alone.
        """
        require_aware(now, "now")
        stmt = update(_O).where(
            _O.c.status == OutboxStatus.PENDING.value, _O.c.claim_owner.is_not(None)
        )
        if owner_other_than is not None:
            stmt = stmt.where(_O.c.claim_owner != owner_other_than)
        # The earlier of the two: LEAST on PostgreSQL is min() on SQLite, so spell it as a CASE.
        at = literal(now, schema.UTCDateTime)  # typed, so SQLite stores it as the column does
        earlier = case((_O.c.next_attempt_at < at, _O.c.next_attempt_at), else_=at)
        stmt = stmt.values(claim_owner=None, next_attempt_at=earlier)
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount)

    async def expire_overdue(
        self, now: datetime, *, shards: ShardSpec | None = None
    ) -> list[OutboxRow]:
        """Mark pending rows whose deadline has passed ``expired``; return them (for the log).

        A row being sent right now (claimed, lease running) is left to finish its send.
        """
        require_aware(now, "now")
        stmt = update(_O).where(
            _O.c.status == OutboxStatus.PENDING.value,
            _O.c.deadline.is_not(None),
            _O.c.deadline < now,
            or_(_O.c.claim_owner.is_(None), _O.c.next_attempt_at <= now),
        )
        if shards is not None:
            stmt = stmt.where(_shard_condition(shards))
        stmt = stmt.values(
            status=OutboxStatus.EXPIRED.value, claim_owner=None, last_error="past its deadline"
        ).returning(*_O.c)
        async with self._write() as conn:
            return [_row(row) for row in await conn.execute(stmt)]

    async def _settle(self, row_id: int, dedup_key: str | None, values: dict[str, Any]) -> bool:
        stmt = (
            update(_O)
            .where(_O.c.id == row_id, _O.c.status == OutboxStatus.PENDING.value)
            .values(**values, claim_owner=None)
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
            .values(status=OutboxStatus.CANCELLED.value, last_error=reason, claim_owner=None)
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
