"""Snapshots: normalising real and schema-shaped LL2 JSON into the fields alerts depend on."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bot.core.models import Event, Launch
from bot.core.snapshot import (
    Snapshot,
    Source,
    WebcastRef,
    as_utc_iso,
    best_webcasts,
    carry_details,
    snapshot_from_event,
    snapshot_from_launch,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def _event(data: dict[str, Any] | None = None) -> Snapshot:
    return snapshot_from_event(Event.model_validate(data or _json("event-1201-detailed.json")))


def _launch(data: dict[str, Any] | None = None) -> Snapshot:
    raw = data or _json("launch-synthetic-detailed.json")
    return snapshot_from_launch(Launch.model_validate(raw))


def _normal_mode_launch() -> dict[str, Any]:
    # What /launches/ in mode=normal sends: no updates, no vid_urls (GUIDE section 2).
    data = copy.deepcopy(_json("launch-synthetic-detailed.json"))
    data["response_mode"] = "normal"
    del data["updates"]
    del data["vid_urls"]
    return data


def test_event_identity_and_type() -> None:
    """The real event 1201 becomes event:1201, type 2 Docking."""
    snap = _event()
    assert snap.key == (Source.EVENT, "1201")
    assert snap.ref == "event:1201"
    assert (snap.type_id, snap.type_name) == (2, "Docking")
    assert snap.name == "SpaceX AX-4 Crew Dragon Docking"


def test_event_date_and_precision() -> None:
    """The event date is aware UTC and carries its precision."""
    snap = _event()
    assert snap.date == datetime(2025, 6, 26, 10, 30, tzinfo=UTC)
    assert (snap.precision_id, snap.precision_name) == (1, "Minute")


def test_event_updates_are_sorted_oldest_first() -> None:
    """LL2's unordered updates list becomes oldest first."""
    snap = _event()
    assert len(snap.updates) == 10
    created = [u.created_on for u in snap.updates]
    assert created == sorted(c for c in created if c is not None)
    assert snap.updates[0].id == 11197
    assert snap.updates[-1].id == 11403


def test_event_webcasts_keep_link_details() -> None:
    """All three real webcasts are kept, with live flag, priority and language code."""
    snap = _event()
    assert [w.priority for w in snap.webcasts] == [10, 11, 12]
    assert all(w.language == "en" and not w.live for w in snap.webcasts)
    assert snap.webcasts[0].url == "https://www.youtube.com/watch?v=7eCWkePf9sk"


def test_event_display_data() -> None:
    """Location, image and description land in the untracked display part."""
    snap = _event()
    assert snap.display.location == "International Space Station"
    assert snap.display.image_url is not None
    assert snap.display.image_url.endswith(".jpeg")
    assert snap.display.info_url is None  # the real event has no info_urls


def test_event_detailed_mode_has_details() -> None:
    """A detailed event counts as carrying its updates and webcasts."""
    assert _event().has_details


def test_event_list_mode_has_no_details() -> None:
    """An event read in list mode does not claim to know its updates."""
    data = _json("event-1201-detailed.json")
    data["response_mode"] = "list"
    del data["updates"]
    assert not _event(data).has_details


def test_long_description_is_shortened() -> None:
    """Display descriptions are capped at 1000 characters with an ellipsis."""
    data = _json("event-1201-detailed.json")
    data["description"] = "x" * 5000
    description = _event(data).display.description
    assert description is not None
    assert len(description) == 1000
    assert description.endswith("…")


def test_null_precision_is_tolerated() -> None:
    """A null date_precision yields no precision rather than an error."""
    data = _json("event-1201-detailed.json")
    data["date_precision"] = None
    snap = _event(data)
    assert (snap.precision_id, snap.precision_name) == (None, None)


def test_launch_tracked_fields() -> None:
    """The synthetic detailed launch yields status Go, SpaceX (121) and its NET."""
    snap = _launch()
    assert snap.source is Source.LAUNCH
    assert (snap.status_id, snap.status_abbrev) == (1, "Go")
    assert (snap.provider_id, snap.provider_name) == (121, "SpaceX")
    assert snap.date == datetime(2025, 7, 2, 5, 10, 30, tzinfo=UTC)
    assert (snap.precision_id, snap.precision_name) == (0, "Second")


def test_launch_location_joins_pad_and_site() -> None:
    """The launch location reads "pad, site"."""
    assert _launch().display.location == "Space Launch Complex 40, Cape Canaveral SFS, FL, USA"


def test_launch_detailed_keeps_updates_and_webcasts() -> None:
    """A detailed launch has details, its updates oldest first and both webcasts."""
    snap = _launch()
    assert snap.has_details
    assert [u.id for u in snap.updates] == [30377, 30398, 30412]
    assert len(snap.webcasts) == 2


def test_launch_normal_mode_has_no_details() -> None:
    """A normal-mode launch (no updates, no vid_urls) is flagged as lacking details."""
    snap = _launch(_normal_mode_launch())
    assert not snap.has_details
    assert snap.updates == ()
    assert snap.webcasts == ()


def test_carry_details_fills_a_normal_mode_read() -> None:
    """carry_details copies the old updates and webcasts into a detail-less snapshot."""
    old = _launch()
    carried = carry_details(old, _launch(_normal_mode_launch()))
    assert carried.has_details
    assert carried.updates == old.updates
    assert carried.webcasts == old.webcasts


def test_carry_details_keeps_fresh_fields() -> None:
    """carry_details keeps the new read's own tracked fields (status, webcast_live)."""
    data = _normal_mode_launch()
    data["status"] = {"id": 5, "name": "On Hold", "abbrev": "Hold"}
    data["webcast_live"] = True
    carried = carry_details(_launch(), _launch(data))
    assert carried.status_id == 5
    assert carried.webcast_live


def test_carry_details_leaves_a_detailed_read_alone() -> None:
    """A new snapshot that has details is returned as is."""
    new = _launch()
    assert carry_details(_launch(_normal_mode_launch()), new) is new


def test_carry_details_without_old_is_identity() -> None:
    """With nothing stored, the new snapshot is returned unchanged."""
    new = _launch(_normal_mode_launch())
    assert carry_details(None, new) is new


def test_best_webcasts_puts_live_first() -> None:
    """A live link outranks a better-priority link that is not live."""
    webcasts = (
        WebcastRef(url="https://a.example/1", priority=1),
        WebcastRef(url="https://a.example/2", priority=50, live=True),
    )
    assert [w.url for w in best_webcasts(webcasts)] == [
        "https://a.example/2",
        "https://a.example/1",
    ]


def test_best_webcasts_prefers_language_at_equal_priority() -> None:
    """Between equal priorities the preferred language comes first."""
    webcasts = (
        WebcastRef(url="https://a.example/de", priority=10, language="de"),
        WebcastRef(url="https://a.example/en", priority=10, language="en"),
    )
    assert best_webcasts(webcasts)[0].language == "en"
    assert best_webcasts(webcasts, preferred_language="de")[0].language == "de"


def test_best_webcasts_puts_unknown_priority_last() -> None:
    """A link without priority sorts after prioritised ones."""
    webcasts = (
        WebcastRef(url="https://a.example/none"),
        WebcastRef(url="https://a.example/p", priority=99),
    )
    assert best_webcasts(webcasts)[0].url == "https://a.example/p"


def test_as_utc_iso_converts_offsets_to_z() -> None:
    """Times with an offset are written in UTC with a Z suffix."""
    moment = datetime(2025, 6, 26, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    assert as_utc_iso(moment) == "2025-06-26T10:30:00Z"


def test_as_utc_iso_passes_none() -> None:
    """None stays None."""
    assert as_utc_iso(None) is None
