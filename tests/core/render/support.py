"""Snapshots, changes and checks shared by the rendering tests.

The event is the real LL2 event 1201 (tests/fixtures/event-1201-detailed.json). The launch is
synthetic (built here through the real wire model), since no real launch fixture is recorded.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from bot.core.changes import Change, ChangeKind
from bot.core.models import Event, Launch
from bot.core.render.message import EmbedData, MessageData
from bot.core.snapshot import (
    Snapshot,
    UpdateRef,
    WebcastRef,
    snapshot_from_event,
    snapshot_from_launch,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

# 3h 12m before event 1201's docking time (2025-06-26 10:30 UTC).
NOW = datetime(2025, 6, 26, 7, 18, tzinfo=UTC)

# Anything Discord would turn into a mention (or a channel link).
RAW_MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>", re.IGNORECASE)


@cache
def event_1201() -> Snapshot:
    """The real detailed event 1201, normalised."""
    raw = json.loads((FIXTURES / "event-1201-detailed.json").read_text(encoding="utf-8"))
    return snapshot_from_event(Event.model_validate(raw))


def synthetic_launch(**overrides: Any) -> Snapshot:
    """A synthetic Falcon 9 launch in detailed mode, built through the LL2 wire model."""
    raw: dict[str, Any] = {
        "id": "4f8e2b6d-1c3a-4e7b-9d25-6a0c8b3f5e91",
        "response_mode": "detailed",
        "name": "Falcon 9 Block 5 | Starlink Group 10-99",
        "slug": "falcon-9-block-5-starlink-group-10-99",
        "net": "2025-07-02T05:10:30Z",
        "net_precision": {"id": 0, "name": "Second", "abbrev": "SEC"},
        "window_start": "2025-07-02T05:10:30Z",
        "window_end": "2025-07-02T09:41:00Z",
        "status": {"id": 1, "name": "Go for Launch", "abbrev": "Go"},
        "webcast_live": False,
        "vid_urls": [
            {
                "priority": 10,
                "publisher": "SpaceX",
                "title": "Starlink Mission",
                "url": "https://x.com/i/broadcasts/1abcdefghijkl",
                "language": {"id": 1, "name": "English", "code": "en"},
                "live": False,
            }
        ],
        "info_urls": [{"url": "https://www.spacex.com/launches/sl-10-99"}],
        "updates": [],
        "launch_service_provider": {"id": 121, "name": "SpaceX", "abbrev": "SpX"},
        "mission": {
            "name": "Starlink Group 10-99",
            "description": "A batch of Starlink V2 Mini satellites.",
        },
        "pad": {
            "name": "Space Launch Complex 40",
            "location": {"name": "Cape Canaveral SFS, FL, USA"},
        },
        "last_updated": "2025-07-01T18:42:10Z",
    }
    raw.update(overrides)
    return snapshot_from_launch(Launch.model_validate(raw))


def make_change(kind: ChangeKind, item: Snapshot, **fields: Any) -> Change:
    """A change of ``kind`` to ``item`` with realistic defaults for the kind's own fields."""
    defaults: dict[str, Any] = {}
    if kind is ChangeKind.DATE_CHANGED:
        assert item.date is not None
        defaults = {
            "old_date": item.date,
            "new_date": item.date + timedelta(minutes=30),
            "old_precision": item.precision_name,
            "new_precision": item.precision_name,
        }
    elif kind is ChangeKind.NEW_UPDATE:
        defaults = {"update": item.updates[-1] if item.updates else UpdateRef(id=1, comment="Hi")}
    elif kind in (ChangeKind.WEBCAST_LIVE, ChangeKind.WEBCAST_ENDED):
        live = tuple(dataclasses.replace(w, live=i == 1) for i, w in enumerate(item.webcasts))
        defaults = {"urls": live or (WebcastRef(url="https://example.com/live", live=True),)}
    elif kind is ChangeKind.STATUS_CHANGED:
        defaults = {
            "old_status": "To Be Confirmed",
            "new_status": "Go for Launch",
            "old_status_id": 8,
            "new_status_id": 1,
        }
    defaults.update(fields)
    return Change(
        kind=kind,
        source=item.source,
        item_id=item.id,
        name=item.name,
        version=f"v-{kind.value}",
        detected_at=NOW,
        item=item,
        **defaults,
    )


def strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON-like value (keys excluded)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def embed_texts(embed: EmbedData) -> list[str]:
    """Every string of an embed as Discord would receive it."""
    return list(strings(embed.to_dict()))


def assert_no_raw_mentions(message: MessageData, role_id: int | None = None) -> None:
    """No mention anywhere in ``message`` except, in the content, the given role's."""
    content = message.content or ""
    if role_id is not None:
        content = content.replace(f"<@&{role_id}>", "", 1)
    for text in [content, *(t for e in message.embeds for t in embed_texts(e))]:
        assert not RAW_MENTION.search(text), text
