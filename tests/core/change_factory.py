"""Realistic snapshots, changes and subscriptions for routing tests.

The event comes from the real LL2 fixture (event 1201, "SpaceX AX-4 Crew Dragon Docking", type 2
Docking); launches are built directly with SpaceX's real agency id (121).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from bot.core.changes import ALERT_KINDS, Change, ChangeKind
from bot.core.models import Event
from bot.core.snapshot import Snapshot, Source, UpdateRef, WebcastRef, snapshot_from_event
from bot.core.subscriptions import Subscription

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

T0 = datetime(2025, 6, 26, 9, 0, tzinfo=UTC)
GUILD = 700_000_000_000_000_001
CHANNEL_A = 800_000_000_000_000_001
CHANNEL_B = 800_000_000_000_000_002
SPACEX = 121


@cache
def event_1201() -> Snapshot:
    """The real detailed event 1201 (Docking), normalised."""
    raw = json.loads((FIXTURES / "event-1201-detailed.json").read_text(encoding="utf-8"))
    return snapshot_from_event(Event.model_validate(raw))


def event(item_id: int = 1201, type_id: int | None = 2, type_name: str | None = None) -> Snapshot:
    """Event 1201's snapshot under another id and type (type 2 keeps the fixture as is)."""
    names = {2: "Docking", 3: "EVA", 8: "Undocking"}
    return event_1201().model_copy(
        update={
            "id": str(item_id),
            "type_id": type_id,
            "type_name": type_name or names.get(type_id or 0),
        }
    )


def launch(
    item_id: str = "f0a8b8f2-1c36-4b1d-8f6a-0d2a6f0c1b01", provider_id: int | None = SPACEX
) -> Snapshot:
    """A Falcon 9 launch snapshot by the given provider."""
    return Snapshot(
        source=Source.LAUNCH,
        id=item_id,
        name="Falcon 9 Block 5 | Starlink Group 10-25",
        provider_id=provider_id,
        provider_name="SpaceX" if provider_id == SPACEX else f"Agency {provider_id}",
        status_id=1,
        status_name="Go for Launch",
        status_abbrev="Go",
        date=datetime(2025, 6, 28, 4, 26, tzinfo=UTC),
        precision_id=1,
        precision_name="Minute",
        webcast_live=False,
    )


def change(
    kind: ChangeKind,
    item: Snapshot,
    *,
    version: str | None = None,
    detected_at: datetime = T0,
    **fields: Any,
) -> Change:
    """A change of ``kind`` to ``item``, with a version in the diff's style unless given."""
    if kind is ChangeKind.NEW_UPDATE and "update" not in fields:
        fields["update"] = UpdateRef(id=int(version or "9001"), comment="Docking confirmed")
    if kind in (ChangeKind.WEBCAST_LIVE, ChangeKind.WEBCAST_ENDED) and "urls" not in fields:
        fields["urls"] = (WebcastRef(url="https://www.youtube.com/watch?v=ax4", live=True),)
    default_versions = {
        ChangeKind.NEW_UPDATE: str(fields["update"].id) if "update" in fields else "9001",
        ChangeKind.STATUS_CHANGED: "2>1",
        ChangeKind.NEW_ITEM: "new",
    }
    return Change(
        kind=kind,
        source=item.source,
        item_id=item.id,
        name=item.name,
        version=version or default_versions.get(kind, "2025-06-26T10:30:00Z"),
        detected_at=detected_at,
        item=item,
        **fields,
    )


def slip(
    item: Snapshot,
    old: datetime,
    new: datetime,
    *,
    detected_at: datetime = T0,
    old_precision: str = "Minute",
    new_precision: str = "Minute",
) -> Change:
    """A ``date_changed`` change with the diff's version format."""
    iso = {d: d.astimezone(UTC).isoformat().replace("+00:00", "Z") for d in (old, new)}
    return change(
        ChangeKind.DATE_CHANGED,
        item.model_copy(update={"date": new, "precision_name": new_precision}),
        version=f"{iso[old]}>{iso[new]}/1>1",
        detected_at=detected_at,
        old_date=old,
        new_date=new,
        old_precision=old_precision,
        new_precision=new_precision,
    )


def sub(
    sub_id: int = 1,
    channel_id: int = CHANNEL_A,
    *,
    guild_id: int = GUILD,
    sources: frozenset[Source] = frozenset(Source),
    event_types: frozenset[int] | None = None,
    providers: frozenset[int] | None = None,
    kinds: frozenset[ChangeKind] = frozenset(ALERT_KINDS),
    role_id: int | None = None,
    enabled: bool = True,
) -> Subscription:
    """A subscription; every filter defaults to "all"."""
    return Subscription(
        id=sub_id,
        guild_id=guild_id,
        channel_id=channel_id,
        sources=sources,
        event_types=event_types,
        providers=providers,
        kinds=kinds,
        role_id=role_id,
        enabled=enabled,
        disabled_reason=None if enabled else "missing permissions",
    )


def minutes(n: float) -> timedelta:
    """Shorthand for a timedelta of ``n`` minutes."""
    return timedelta(minutes=n)
