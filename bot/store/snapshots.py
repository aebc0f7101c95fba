"""Snapshots (the local copy of LL2 items) and the change log."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, case, delete, or_, select, true, update

from bot.core.changes import Change, ChangeKind
from bot.core.snapshot import Snapshot, Source
from bot.store import schema
from bot.store.base import StoreBase, chunks, require_aware

SnapshotKey = tuple[Source, str]

_S = schema.snapshots
_C = schema.change_log


def _like_pattern(query: str) -> str:
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _id_chunks(keys: Iterable[SnapshotKey]) -> list[tuple[Source, list[str]]]:
    """``keys`` grouped by source, de-duplicated and cut into chunks small enough for ``IN``."""
    by_source: dict[Source, set[str]] = defaultdict(set)
    for source, item_id in keys:
        by_source[Source(source)].add(item_id)
    return [(source, part) for source, ids in by_source.items() for part in chunks(sorted(ids))]


def _snapshot(row: Row[Any]) -> Snapshot:
    return Snapshot.model_validate_json(row.data)


class SnapshotQueries(StoreBase):
    """Snapshot persistence: what the poller diffs against and what commands answer from."""

    async def load_snapshots(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Snapshot]:
        """The stored snapshots for ``keys`` (missing keys are simply absent)."""
        raw = await self.load_snapshot_data(keys)
        return {key: Snapshot.model_validate_json(text) for key, text in raw.items()}

    async def load_snapshot_data(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, str]:
        """The stored snapshots' JSON text for ``keys``, unparsed.

        The poller compares this text with the new snapshot's JSON first: an identical item
        (most of every poll) then costs neither parsing nor diffing.
        """
        return {key: str(value) for key, value in (await self._by_key(keys, _S.c.data)).items()}

    async def _by_key(self, keys: Iterable[SnapshotKey], column: Any) -> dict[SnapshotKey, Any]:
        """One column of the stored rows for ``keys`` (missing keys are absent)."""
        found: dict[SnapshotKey, Any] = {}
        async with self._read() as conn:
            for source, part in _id_chunks(keys):
                stmt = select(_S.c.item_id, column).where(
                    _S.c.source == source.value, _S.c.item_id.in_(part)
                )
                for item_id, value in await conn.execute(stmt):
                    found[(source, item_id)] = value
        return found

    async def touch_snapshots(self, keys: Iterable[SnapshotKey], seen_at: datetime) -> None:
        """Move ``last_seen_at`` (pruning goes by it) of unchanged items; data is untouched."""
        require_aware(seen_at, "seen_at")
        parts = _id_chunks(keys)
        if not parts:
            return
        async with self._write() as conn:
            for source, part in parts:
                stmt = (
                    update(_S)
                    .where(_S.c.source == source.value, _S.c.item_id.in_(part))
                    .values(last_seen_at=seen_at)
                )
                await conn.execute(stmt)

    async def load_all_snapshots(self, source: Source | None = None) -> dict[SnapshotKey, Snapshot]:
        """Every stored snapshot (of one source, if given)."""
        stmt = select(_S.c.data)
        if source is not None:
            stmt = stmt.where(_S.c.source == Source(source).value)
        async with self._read() as conn:
            rows = await conn.execute(stmt)
            snaps = [_snapshot(row) for row in rows]
        return {snap.key: snap for snap in snaps}

    async def last_seen_times(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, datetime]:
        """When each of ``keys`` was last in an LL2 answer (unknown keys are left out)."""
        return await self._by_key(keys, _S.c.last_seen_at)

    async def get_snapshot(self, source: Source, item_id: str) -> Snapshot | None:
        """One snapshot, or None if the item was never seen (or was pruned)."""
        stmt = select(_S.c.data).where(_S.c.source == Source(source).value, _S.c.item_id == item_id)
        async with self._read() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else _snapshot(row)

    async def save_snapshots(self, snapshots: Sequence[Snapshot], seen_at: datetime) -> None:
        """Insert or replace ``snapshots``; ``first_seen_at`` is kept, ``last_seen_at`` moves.

        When the same item appears twice, the last one wins.
        """
        require_aware(seen_at, "seen_at")
        latest = {snap.key: snap for snap in snapshots}
        if not latest:
            return
        rows = [
            {
                "source": snap.source.value,
                "item_id": snap.id,
                "name": snap.name,
                "date": snap.date,
                "type_id": snap.type_id,
                "provider_id": snap.provider_id,
                "data": snap.model_dump_json(),
                "first_seen_at": seen_at,
                "last_seen_at": seen_at,
            }
            for snap in latest.values()
        ]
        stmt = self._upsert(
            _S,
            ["source", "item_id"],
            ["name", "date", "type_id", "provider_id", "data", "last_seen_at"],
        )
        async with self._write() as conn:
            await conn.execute(stmt, rows)

    async def upcoming(
        self,
        now: datetime,
        limit: int,
        source: Source | None = None,
        type_id: int | None = None,
        provider_id: int | None = None,
        listed_since: Mapping[Source, datetime] | None = None,
    ) -> list[Snapshot]:
        """Items dated at or after ``now``, soonest first (for ``/next``).

        ``type_id`` filters events by type and ``provider_id`` launches by provider; items
        without a date are left out. ``listed_since`` (source -> the time of its last complete
        read of LL2's whole upcoming list) leaves out items of that source not seen since: LL2
        no longer lists them (removed, or more than a day past), so they are gone, not upcoming.
        """
        require_aware(now, "now")
        stmt = select(_S.c.data).where(_S.c.date.is_not(None), _S.c.date >= now)
        for listed_source, listed_at in (listed_since or {}).items():
            require_aware(listed_at, "listed_since")
            stmt = stmt.where(
                (_S.c.source != Source(listed_source).value) | (_S.c.last_seen_at >= listed_at)
            )
        if source is not None:
            stmt = stmt.where(_S.c.source == Source(source).value)
        if type_id is not None:
            stmt = stmt.where(_S.c.type_id == type_id)
        if provider_id is not None:
            stmt = stmt.where(_S.c.provider_id == provider_id)
        stmt = stmt.order_by(_S.c.date, _S.c.source, _S.c.item_id).limit(limit)
        async with self._read() as conn:
            rows = await conn.execute(stmt)
            return [_snapshot(row) for row in rows]

    async def search_snapshots(
        self, query: str, limit: int, source: Source | None = None
    ) -> list[Snapshot]:
        """Items whose name contains ``query`` (case-insensitive), for autocomplete.

        Names starting with the query come first, then by date (undated last). An exact item id
        also matches, so a pasted id finds its item; an empty query matches everything.
        """
        query = query.strip()
        matches: ColumnElement[bool] = true()
        if query:
            matches = or_(_S.c.name.ilike(_like_pattern(query), escape="\\"), _S.c.item_id == query)
        stmt = select(_S.c.data).where(matches)
        if source is not None:
            stmt = stmt.where(_S.c.source == Source(source).value)
        prefix_first = case((_S.c.name.ilike(_like_pattern(query)[1:], escape="\\"), 0), else_=1)
        undated_last = case((_S.c.date.is_(None), 1), else_=0)
        stmt = stmt.order_by(prefix_first, undated_last, _S.c.date, _S.c.name).limit(limit)
        async with self._read() as conn:
            rows = await conn.execute(stmt)
            return [_snapshot(row) for row in rows]

    async def prune_snapshots(self, not_seen_since: datetime) -> int:
        """Delete snapshots last seen before ``not_seen_since``; return how many."""
        require_aware(not_seen_since, "not_seen_since")
        stmt = delete(_S).where(_S.c.last_seen_at < not_seen_since)
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount)


class ChangeLogQueries(StoreBase):
    """The change log: every change ever detected, once per ``Change.identity``."""

    async def record_changes(self, changes: Sequence[Change]) -> list[Change]:
        """Store ``changes`` and return those not stored before, in input order.

        A change whose (source, item_id, kind, version) is already logged (a replayed poll, a
        second process) is skipped: this is what makes each change alert once.
        """
        unique: dict[str, Change] = {}
        for change in changes:
            unique.setdefault(change.identity, change)
        if not unique:
            return []
        rows = [
            {
                "source": c.source.value,
                "item_id": c.item_id,
                "kind": c.kind.value,
                "version": c.version,
                "detected_at": c.detected_at,
                "data": c.model_dump_json(),
            }
            for c in unique.values()
        ]
        stmt = self._insert_ignore(_C, ["source", "item_id", "kind", "version"]).returning(
            _C.c.source, _C.c.item_id, _C.c.kind, _C.c.version
        )
        inserted: set[str] = set()
        async with self._write() as conn:
            for part in chunks(rows):
                result = await conn.execute(stmt, part)
                inserted.update(f"{r.source}:{r.item_id}:{r.kind}:{r.version}" for r in result)
        return [c for identity, c in unique.items() if identity in inserted]

    async def recent_changes(
        self,
        limit: int,
        *,
        source: Source | None = None,
        item_id: str | None = None,
        kinds: Iterable[ChangeKind] | None = None,
    ) -> list[Change]:
        """The latest logged changes, newest first, optionally of one item or some kinds."""
        stmt = select(_C.c.data)
        if source is not None:
            stmt = stmt.where(_C.c.source == Source(source).value)
        if item_id is not None:
            stmt = stmt.where(_C.c.item_id == item_id)
        if kinds is not None:
            stmt = stmt.where(_C.c.kind.in_([ChangeKind(k).value for k in kinds]))
        stmt = stmt.order_by(_C.c.detected_at.desc(), _C.c.id.desc()).limit(limit)
        async with self._read() as conn:
            rows = await conn.execute(stmt)
            return [Change.model_validate_json(row.data) for row in rows]

    async def prune_changes(self, detected_before: datetime) -> int:
        """Delete change-log entries detected before ``detected_before``; return how many.

        Pruned identities can be recorded (and so alerted) again: prune well beyond the time an
        item can stay in LL2's answers.
        """
        require_aware(detected_before, "detected_before")
        stmt = delete(_C).where(_C.c.detected_at < detected_before)
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount)
