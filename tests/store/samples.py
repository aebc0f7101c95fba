"""Small builders for store tests: snapshots from the real fixtures, changes, outbox rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.core.changes import Change, ChangeKind
from bot.core.models import Event, Launch
from bot.core.snapshot import Snapshot, Source, snapshot_from_event, snapshot_from_launch
from bot.store import OutboxRow

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

T0 = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)


def real_event() -> Snapshot:
    """The real detailed event 1201 (3 webcasts, 10 updates), normalised."""
    data = json.loads((FIXTURES / "event-1201-detailed.json").read_text())
    return snapshot_from_event(Event.model_validate(data))


def real_launch() -> Snapshot:
    """The synthetic detailed launch fixture, normalised."""
    data = json.loads((FIXTURES / "launch-synthetic-detailed.json").read_text())
    return snapshot_from_launch(Launch.model_validate(data))


def snap(
    item_id: str,
    name: str | None = None,
    *,
    source: Source = Source.EVENT,
    date: datetime | None = None,
    type_id: int | None = None,
    provider_id: int | None = None,
) -> Snapshot:
    """A minimal snapshot."""
    return Snapshot(
        source=source,
        id=item_id,
        name=name or f"Item {item_id}",
        date=date,
        type_id=type_id,
        provider_id=provider_id,
    )


def change(
    item: Snapshot,
    kind: ChangeKind = ChangeKind.DATE_CHANGED,
    version: str = "v1",
    detected_at: datetime = T0,
) -> Change:
    """A change to ``item``."""
    return Change(
        kind=kind,
        source=item.source,
        item_id=item.id,
        name=item.name,
        version=version,
        detected_at=detected_at,
        item=item,
        new_date=item.date,
    )


def outbox_row(
    key: str,
    *,
    guild_id: int = 1_100_000_000_000_000_001,
    channel_id: int = 2_200_000_000_000_000_002,
    item_ref: str = "event:1",
    kinds: frozenset[ChangeKind] = frozenset({ChangeKind.DATE_CHANGED}),
    payload: dict[str, Any] | None = None,
    due: datetime = T0,
    subscription_id: int | None = None,
    role_id: int | None = None,
) -> OutboxRow:
    """A pending outbox row due at ``due``."""
    return OutboxRow(
        dedup_key=key,
        guild_id=guild_id,
        channel_id=channel_id,
        subscription_id=subscription_id,
        item_ref=item_ref,
        kinds=kinds,
        payload=payload if payload is not None else {"key": key},
        role_id=role_id,
        next_attempt_at=due,
        created_at=due - timedelta(seconds=1),
    )


def guild_on_shard(shard: int, shard_count: int, n: int = 0) -> int:
    """A snowflake-sized guild id that Discord routes to ``shard``."""
    return (((1_000_000 + n) * shard_count + shard) << 22) | 12345
