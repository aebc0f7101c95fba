"""The diff engine on the real event 1201, the synthetic launch and edited copies of them.

Edited copies are made in code from the fixtures, so every test shows exactly what it changed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.core.changes import Change, ChangeKind
from bot.core.diff import KIND_ORDER, diff, diff_all
from bot.core.models import Event, Launch
from bot.core.snapshot import Snapshot, snapshot_from_event, snapshot_from_launch

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NOW = datetime(2025, 6, 26, 14, 0, tzinfo=UTC)
EVENT_DATE = datetime(2025, 6, 26, 10, 30, tzinfo=UTC)
LAUNCH_NET = datetime(2025, 7, 2, 5, 10, 30, tzinfo=UTC)


def _json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def event_json() -> dict[str, Any]:
    """A fresh copy of the real detailed event 1201."""
    return _json("event-1201-detailed.json")


def launch_json() -> dict[str, Any]:
    """A fresh copy of the synthetic detailed launch."""
    return _json("launch-synthetic-detailed.json")


def normal_launch_json() -> dict[str, Any]:
    """The synthetic launch as mode=normal sends it: no updates, no vid_urls."""
    data = launch_json()
    data["response_mode"] = "normal"
    del data["updates"]
    del data["vid_urls"]
    return data


def ev(data: dict[str, Any] | None = None) -> Snapshot:
    return snapshot_from_event(Event.model_validate(data if data is not None else event_json()))


def la(data: dict[str, Any] | None = None) -> Snapshot:
    return snapshot_from_launch(Launch.model_validate(data if data is not None else launch_json()))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def kinds(changes: list[Change]) -> list[ChangeKind]:
    return [c.kind for c in changes]


def only(changes: list[Change], kind: ChangeKind) -> Change:
    assert kinds(changes) == [kind]
    return changes[0]


def with_update(data: dict[str, Any], update_id: int, created_on: str, comment: str) -> None:
    # LL2 lists updates newest first: a new one goes in front.
    data["updates"].insert(
        0,
        {
            "id": update_id,
            "profile_image": None,
            "comment": comment,
            "info_url": None,
            "created_by": "LL2",
            "created_on": created_on,
        },
    )


# --- new items and baselines ---------------------------------------------------------------


def test_first_sighting_is_new_item() -> None:
    """An item never seen before yields exactly one new_item change."""
    change = only(diff(None, ev(), NOW), ChangeKind.NEW_ITEM)
    assert change.version == "new"
    assert change.identity == "event:1201:new_item:new"


def test_first_sighting_in_baseline_is_silent() -> None:
    """In baseline mode a never-seen item yields no change at all."""
    assert diff(None, ev(), NOW, baseline=True) == []


def test_change_carries_new_snapshot_and_detection_time() -> None:
    """Changes point at the new snapshot and take `now` as detected_at."""
    new = ev()
    change = diff(None, new, NOW)[0]
    assert change.item == new
    assert change.detected_at == NOW
    assert (change.source.value, change.item_id, change.name) == (
        "event",
        "1201",
        "SpaceX AX-4 Crew Dragon Docking",
    )


def test_identical_snapshots_yield_nothing() -> None:
    """diff(x, x) is empty."""
    assert diff(ev(), ev(), NOW) == []


def test_identical_launch_snapshots_yield_nothing() -> None:
    """diff(x, x) is empty for a launch too."""
    assert diff(la(), la(), NOW) == []


# --- date_changed --------------------------------------------------------------------------


def test_date_slip_is_date_changed() -> None:
    """A two-hour slip yields date_changed with both dates and precisions."""
    data = event_json()
    data["date"] = "2025-06-26T12:30:00Z"
    change = only(diff(ev(), ev(data), NOW), ChangeKind.DATE_CHANGED)
    assert change.old_date == EVENT_DATE
    assert change.new_date == EVENT_DATE + timedelta(hours=2)
    assert (change.old_precision, change.new_precision) == ("Minute", "Minute")


def test_date_changed_version_is_deterministic() -> None:
    """The version spells out both UTC dates and both precision ids."""
    data = event_json()
    data["date"] = "2025-06-26T12:30:00Z"
    change = diff(ev(), ev(data), NOW)[0]
    assert change.version == "2025-06-26T10:30:00Z>2025-06-26T12:30:00Z/1>1@2025-06-26T13:55:56Z"


def test_date_moved_earlier_is_date_changed() -> None:
    """Moving the date earlier counts as much as a slip."""
    data = event_json()
    data["date"] = "2025-06-26T09:00:00Z"
    only(diff(ev(), ev(data), NOW), ChangeKind.DATE_CHANGED)


def test_date_moved_30_seconds_is_not_alerted() -> None:
    """A 30 s move is below the default one-minute threshold."""
    data = event_json()
    data["date"] = "2025-06-26T10:30:30Z"
    assert diff(ev(), ev(data), NOW) == []


def test_date_moved_exactly_threshold_is_date_changed() -> None:
    """A move of exactly the threshold counts."""
    data = event_json()
    data["date"] = "2025-06-26T10:31:00Z"
    only(diff(ev(), ev(data), NOW), ChangeKind.DATE_CHANGED)


def test_zero_threshold_still_needs_a_move() -> None:
    """With a zero threshold, an unmoved date is still no change."""
    assert diff(ev(), ev(), NOW, date_threshold=timedelta(0)) == []


def test_custom_threshold_is_honoured() -> None:
    """With a 10-minute threshold a 5-minute move is not a change."""
    data = event_json()
    data["date"] = "2025-06-26T10:35:00Z"
    assert diff(ev(), ev(data), NOW, date_threshold=timedelta(minutes=10)) == []


def test_same_instant_in_another_zone_is_no_change() -> None:
    """The same instant written with a +02:00 offset is not a move."""
    data = event_json()
    data["date"] = "2025-06-26T12:30:00+02:00"
    assert diff(ev(), ev(data), NOW) == []


def test_precision_refined_is_date_changed() -> None:
    """Month -> Day at the same instant is a date change."""
    old_data, new_data = event_json(), event_json()
    old_data["date_precision"] = {"id": 7, "name": "Month", "abbrev": "M", "description": ""}
    new_data["date_precision"] = {"id": 5, "name": "Day", "abbrev": "D", "description": ""}
    change = only(diff(ev(old_data), ev(new_data), NOW), ChangeKind.DATE_CHANGED)
    assert (change.old_precision, change.new_precision) == ("Month", "Day")
    assert change.version.endswith("/7>5@2025-06-26T13:55:56Z")


def test_precision_becoming_null_is_not_alerted() -> None:
    """A precision LL2 stops sending is unknown, not changed."""
    data = event_json()
    data["date_precision"] = None
    assert diff(ev(), ev(data), NOW) == []


def test_date_appearing_is_date_changed() -> None:
    """A date that was unknown and now is set counts."""
    old_data = event_json()
    old_data["date"] = None
    change = only(diff(ev(old_data), ev(), NOW), ChangeKind.DATE_CHANGED)
    assert change.old_date is None
    assert change.version == "none>2025-06-26T10:30:00Z/1>1@2025-06-26T13:55:56Z"


def test_date_disappearing_is_date_changed() -> None:
    """A date that vanishes counts."""
    data = event_json()
    data["date"] = None
    change = only(diff(ev(), ev(data), NOW), ChangeKind.DATE_CHANGED)
    assert change.new_date is None


def test_launch_net_slip_is_date_changed() -> None:
    """A launch NET slip yields date_changed."""
    data = launch_json()
    data["net"] = "2025-07-03T04:48:10Z"
    change = only(diff(la(), la(data), NOW), ChangeKind.DATE_CHANGED)
    assert change.version == "2025-07-02T05:10:30Z>2025-07-03T04:48:10Z/0>0@2025-07-01T18:42:10Z"


def test_launch_window_change_alone_is_not_alerted() -> None:
    """A new launch window without a NET move is no change."""
    data = launch_json()
    data["window_end"] = "2025-07-02T07:00:00Z"
    assert diff(la(), la(data), NOW) == []


# --- new_update ----------------------------------------------------------------------------


def test_new_update_is_reported() -> None:
    """An update id absent from the old snapshot yields new_update with the update."""
    data = event_json()
    with_update(data, 11404, "2025-06-26T14:10:00Z", "Hatch open.")
    change = only(diff(ev(), ev(data), NOW), ChangeKind.NEW_UPDATE)
    assert change.version == "11404"
    assert change.update is not None
    assert (change.update.id, change.update.comment) == (11404, "Hatch open.")


def test_several_new_updates_come_oldest_first() -> None:
    """Two new updates yield two changes, oldest first, whatever the list order."""
    data = event_json()
    with_update(data, 11406, "2025-06-26T14:00:00Z", "Older one.")
    with_update(data, 11405, "2025-06-26T15:00:00Z", "Newer one, smaller id.")
    changes = diff(ev(), ev(data), NOW)
    assert [c.version for c in changes] == ["11406", "11405"]


def test_edited_update_comment_is_not_alerted() -> None:
    """An update whose comment is edited keeps its id and is not news."""
    data = event_json()
    data["updates"][0]["comment"] = "Added event (typo fixed)."
    assert diff(ev(), ev(data), NOW) == []


def test_update_listed_twice_is_reported_once() -> None:
    """An update id LL2 lists twice yields one new_update."""
    data = event_json()
    with_update(data, 11404, "2025-06-26T14:10:00Z", "Hatch open.")
    with_update(data, 11404, "2025-06-26T14:10:00Z", "Hatch open.")
    assert [c.version for c in diff(ev(), ev(data), NOW)] == ["11404"]


def test_removed_update_is_not_alerted() -> None:
    """An update disappearing from the list is no change."""
    data = event_json()
    del data["updates"][0]
    assert diff(ev(), ev(data), NOW) == []


def test_updates_are_ignored_without_details() -> None:
    """A detail-less new snapshot never makes updates look new or gone (defensive)."""
    old = la(normal_launch_json())
    assert diff(old, la(), NOW) == []


def test_normal_mode_launch_after_detailed_is_silent() -> None:
    """A normal-mode read after a detailed one yields no change, even uncarried."""
    assert diff(la(), la(normal_launch_json()), NOW) == []


def test_new_launch_update_is_reported() -> None:
    """A launch's new update id yields new_update."""
    data = launch_json()
    with_update(data, 30420, "2025-07-02T03:00:00Z", "Weather 90% GO.")
    assert only(diff(la(), la(data), NOW), ChangeKind.NEW_UPDATE).version == "30420"


# --- webcast_live / webcast_ended ----------------------------------------------------------


def test_webcast_flag_going_live_is_webcast_live() -> None:
    """webcast_live False -> True yields webcast_live versioned by the date."""
    data = event_json()
    data["webcast_live"] = True
    change = only(diff(ev(), ev(data), NOW), ChangeKind.WEBCAST_LIVE)
    assert change.version == iso(EVENT_DATE)
    assert [w.priority for w in change.urls] == [10, 11, 12]


def test_link_going_live_is_webcast_live() -> None:
    """One link's live flag flipping is enough, even if the item flag lags."""
    data = event_json()
    data["vid_urls"][1]["live"] = True
    change = only(diff(ev(), ev(data), NOW), ChangeKind.WEBCAST_LIVE)
    assert change.urls[0].url == "https://www.youtube.com/watch?v=OZcfHni6L5M"


def test_several_links_going_live_is_one_change() -> None:
    """Everything going live at once is still a single webcast_live, live links first."""
    data = event_json()
    data["webcast_live"] = True
    data["vid_urls"][1]["live"] = True
    data["vid_urls"][2]["live"] = True
    change = only(diff(ev(), ev(data), NOW), ChangeKind.WEBCAST_LIVE)
    assert [w.priority for w in change.urls] == [11, 12, 10]


def test_new_link_already_live_is_webcast_live() -> None:
    """A link that appears already live counts."""
    data = event_json()
    data["vid_urls"].append(
        {**data["vid_urls"][0], "url": "https://x.com/i/broadcasts/1", "live": True}
    )
    only(diff(ev(), ev(data), NOW), ChangeKind.WEBCAST_LIVE)


def test_link_listed_twice_is_live_if_any_copy_is() -> None:
    """A URL listed twice counts as live when either copy says so."""
    data = event_json()
    data["vid_urls"].append({**data["vid_urls"][0], "language": None})
    data["vid_urls"][0]["live"] = True
    only(diff(ev(), ev(data), NOW), ChangeKind.WEBCAST_LIVE)


def test_new_link_not_live_is_not_alerted() -> None:
    """A link that appears but is not live is no change."""
    data = event_json()
    data["vid_urls"].append({**data["vid_urls"][0], "url": "https://x.com/i/broadcasts/1"})
    assert diff(ev(), ev(data), NOW) == []


def test_webcast_still_live_is_not_alerted() -> None:
    """Live on both polls is no change."""
    data = event_json()
    data["webcast_live"] = True
    data["vid_urls"][0]["live"] = True
    assert diff(ev(data), ev(data), NOW) == []


def test_webcast_going_off_air_is_only_webcast_ended() -> None:
    """Live -> not live yields webcast_ended only, which is not alertable."""
    live = event_json()
    live["webcast_live"] = True
    live["vid_urls"][0]["live"] = True
    change = only(diff(ev(live), ev(), NOW), ChangeKind.WEBCAST_ENDED)
    assert not change.alertable
    assert change.version == iso(EVENT_DATE)


def test_one_link_ending_while_another_is_live_is_no_change() -> None:
    """A second stream still live means the webcast has not ended."""
    old, new = event_json(), event_json()
    for data in (old, new):
        data["webcast_live"] = True
        data["vid_urls"][1]["live"] = True
    old["vid_urls"][0]["live"] = True
    assert diff(ev(old), ev(new), NOW) == []


def test_item_flag_dropping_while_a_link_is_live_is_no_change() -> None:
    """webcast_live going False while a link still says live is not an end."""
    old, new = event_json(), event_json()
    old["webcast_live"] = True
    old["vid_urls"][0]["live"] = new["vid_urls"][0]["live"] = True
    assert diff(ev(old), ev(new), NOW) == []


def test_last_live_link_ending_is_webcast_ended() -> None:
    """The last live link going off air ends the webcast even if the item flag never rose."""
    old = event_json()
    old["vid_urls"][2]["live"] = True
    only(diff(ev(old), ev(), NOW), ChangeKind.WEBCAST_ENDED)


def test_webcast_ended_without_links_keeps_the_old_ones() -> None:
    """A detail-less read that ends the webcast still names the old links (for replays)."""
    old = launch_json()
    old["webcast_live"] = True
    old["vid_urls"][0]["live"] = True
    change = only(diff(la(old), la(normal_launch_json()), NOW), ChangeKind.WEBCAST_ENDED)
    assert [w.publisher for w in change.urls] == ["SpaceX", "NASASpaceflight"]


def test_webcast_flapping_on_same_date_keeps_identity() -> None:
    """Live, off, live again on the same date gives the same identity (alerted once)."""
    live = event_json()
    live["webcast_live"] = True
    first = diff(ev(), ev(live), NOW)[0]
    again = diff(ev(), ev(live), NOW + timedelta(minutes=5))[0]
    assert first.identity == again.identity


def test_webcast_after_reschedule_gets_new_identity() -> None:
    """Going live for a re-scheduled attempt is a new identity."""
    live = event_json()
    live["webcast_live"] = True
    moved_old, moved_live = event_json(), event_json()
    moved_old["date"] = moved_live["date"] = "2025-06-27T10:30:00Z"
    moved_live["webcast_live"] = True
    first = only(diff(ev(), ev(live), NOW), ChangeKind.WEBCAST_LIVE)
    second = only(diff(ev(moved_old), ev(moved_live), NOW), ChangeKind.WEBCAST_LIVE)
    assert first.identity != second.identity


def test_webcast_live_without_date_is_versioned_nodate() -> None:
    """An item without a date versions its webcast change "nodate"."""
    old, new = event_json(), event_json()
    old["date"] = new["date"] = None
    new["webcast_live"] = True
    assert only(diff(ev(old), ev(new), NOW), ChangeKind.WEBCAST_LIVE).version == "nodate"


def test_launch_webcast_flag_in_normal_mode_is_webcast_live() -> None:
    """A normal-mode read carries webcast_live, and that alone is enough."""
    data = normal_launch_json()
    data["webcast_live"] = True
    _, changes = diff_all({la().key: la()}, [la(data)], NOW)
    change = only(changes, ChangeKind.WEBCAST_LIVE)
    # The links come from the carried detailed read.
    assert [w.publisher for w in change.urls] == ["SpaceX", "NASASpaceflight"]


def test_detailed_read_after_normal_one_ignores_link_flags() -> None:
    """Links first seen (already live) after a detail-less read are not taken as going live."""
    old = normal_launch_json()
    old["webcast_live"] = True
    new = launch_json()
    new["webcast_live"] = True
    new["vid_urls"][0]["live"] = True
    assert diff(la(old), la(new), NOW) == []


# --- status_changed ------------------------------------------------------------------------


def test_status_change_is_status_changed() -> None:
    """Go -> Hold yields status_changed with names, ids and version "1>5"."""
    data = launch_json()
    data["status"] = {"id": 5, "name": "On Hold", "abbrev": "Hold"}
    change = only(diff(la(), la(data), NOW), ChangeKind.STATUS_CHANGED)
    assert (change.old_status, change.new_status) == ("Go for Launch", "On Hold")
    assert (change.old_status_id, change.new_status_id) == (1, 5)
    assert change.version == "1>5@2025-07-01T18:42:10Z"


def test_status_appearing_is_status_changed() -> None:
    """A status appearing (null -> Go) counts, versioned "none>1"."""
    data = launch_json()
    data["status"] = None
    change = only(diff(la(data), la(), NOW), ChangeKind.STATUS_CHANGED)
    assert change.version == "none>1@2025-07-01T18:42:10Z"


def test_status_disappearing_is_not_alerted() -> None:
    """A status LL2 stops sending is missing data, not a change."""
    data = launch_json()
    data["status"] = None
    assert diff(la(), la(data), NOW) == []


def test_status_name_edit_alone_is_not_alerted() -> None:
    """Same status id with another display name is no change."""
    data = launch_json()
    data["status"]["name"] = "Go"
    assert diff(la(), la(data), NOW) == []


# --- untracked fields ----------------------------------------------------------------------


def test_image_change_is_not_alerted() -> None:
    """A new image URL is not news."""
    data = event_json()
    data["image"]["image_url"] = "https://example.com/new.jpeg"
    data["image"]["thumbnail_url"] = "https://example.com/new_thumb.jpeg"
    assert diff(ev(), ev(data), NOW) == []


def test_description_change_is_not_alerted() -> None:
    """A description edit is not news."""
    data = event_json()
    data["description"] = "The AX-4 Crew Dragon docked to the ISS."
    assert diff(ev(), ev(data), NOW) == []


def test_last_updated_bump_alone_is_not_alerted() -> None:
    """last_updated moving with nothing else is not news."""
    data = event_json()
    data["last_updated"] = "2025-06-27T09:00:00Z"
    assert diff(ev(), ev(data), NOW) == []


def test_name_change_is_not_alerted() -> None:
    """A rename is not news, but later changes carry the new name."""
    data = event_json()
    data["name"] = "Axiom Mission 4 Docking"
    assert diff(ev(), ev(data), NOW) == []
    data["webcast_live"] = True
    assert diff(ev(), ev(data), NOW)[0].name == "Axiom Mission 4 Docking"


def test_webcast_metadata_change_is_not_alerted() -> None:
    """A webcast's new title or priority is not news."""
    data = event_json()
    data["vid_urls"][0]["title"] = "Ax-4 docking (replay)"
    data["vid_urls"][0]["priority"] = 99
    assert diff(ev(), ev(data), NOW) == []


def test_launch_display_changes_are_not_alerted() -> None:
    """Mission description, pad and provider details are display data only."""
    data = launch_json()
    data["mission"]["description"] = "A batch of 27 Starlink satellites."
    data["pad"]["location"]["name"] = "Cape Canaveral Space Force Station"
    data["launch_service_provider"]["name"] = "Space Exploration Technologies"
    assert diff(la(), la(data), NOW) == []


# --- several kinds, order, arguments -------------------------------------------------------


def test_simultaneous_changes_come_in_kind_order() -> None:
    """Status, date, webcast and update changes of one poll come in the fixed kind order."""
    data = launch_json()
    data["status"] = {"id": 6, "name": "Launch in Flight", "abbrev": "In Flight"}
    data["net"] = "2025-07-02T05:20:00Z"
    data["webcast_live"] = True
    with_update(data, 30421, "2025-07-02T05:21:00Z", "Liftoff!")
    assert kinds(diff(la(), la(data), NOW)) == [
        ChangeKind.STATUS_CHANGED,
        ChangeKind.DATE_CHANGED,
        ChangeKind.WEBCAST_LIVE,
        ChangeKind.NEW_UPDATE,
    ]


def test_kind_order_covers_every_kind() -> None:
    """KIND_ORDER lists each change kind exactly once."""
    assert sorted(KIND_ORDER) == sorted(ChangeKind)


def test_naive_now_is_rejected() -> None:
    """A naive `now` is refused rather than read in the host's zone."""
    with pytest.raises(ValueError, match="timezone-aware"):
        diff(None, ev(), datetime(2025, 6, 26, 14, 0))  # noqa: DTZ001 - the point of the test


def test_negative_threshold_is_rejected() -> None:
    """A negative date threshold is a programming error."""
    with pytest.raises(ValueError, match="threshold"):
        diff(ev(), ev(), NOW, date_threshold=timedelta(seconds=-1))


def test_diffing_two_items_is_rejected() -> None:
    """Snapshots of two different items cannot be diffed."""
    with pytest.raises(ValueError, match="different items"):
        diff(ev(), la(), NOW)


def test_now_in_another_zone_is_kept_aware() -> None:
    """An aware `now` in any zone is accepted as the detection time."""
    paris = NOW.astimezone(timezone(timedelta(hours=2)))
    assert diff(None, ev(), paris)[0].detected_at == NOW


# --- diff_all ------------------------------------------------------------------------------


def test_diff_all_returns_snapshots_in_input_order() -> None:
    """Snapshots to store come one per item, in the order of the answer."""
    stored, _ = diff_all({}, [la(), ev()], NOW)
    assert [s.ref for s in stored] == [la().ref, "event:1201"]


def test_diff_all_groups_changes_by_item_then_kind() -> None:
    """Changes come item by item (answer order), each item's in kind order."""
    event_data, launch_data = event_json(), launch_json()
    event_data["webcast_live"] = True
    event_data["date"] = "2025-06-26T11:30:00Z"
    with_update(launch_data, 30430, "2025-07-02T03:00:00Z", "Weather 90% GO.")
    launch_data["status"] = {"id": 5, "name": "On Hold", "abbrev": "Hold"}
    old = {ev().key: ev(), la().key: la()}
    _, changes = diff_all(old, [ev(event_data), la(launch_data)], NOW)
    assert [(c.source.value, c.kind) for c in changes] == [
        ("event", ChangeKind.DATE_CHANGED),
        ("event", ChangeKind.WEBCAST_LIVE),
        ("launch", ChangeKind.STATUS_CHANGED),
        ("launch", ChangeKind.NEW_UPDATE),
    ]


def test_diff_all_baseline_is_silent_but_stores() -> None:
    """A baseline poll stores every item and reports nothing new."""
    stored, changes = diff_all({}, [ev(), la()], NOW, baseline=True)
    assert len(stored) == 2
    assert changes == []


def test_diff_all_baseline_still_reports_known_items() -> None:
    """Baseline only silences never-seen items, not changes to stored ones."""
    data = event_json()
    data["webcast_live"] = True
    _, changes = diff_all({ev().key: ev()}, [ev(data), la()], NOW, baseline=True)
    assert kinds(changes) == [ChangeKind.WEBCAST_LIVE]


def test_diff_all_reports_new_items() -> None:
    """Outside baseline, never-seen items are new_item changes."""
    _, changes = diff_all({ev().key: ev()}, [ev(), la()], NOW)
    assert [(c.item_id, c.kind) for c in changes] == [(la().id, ChangeKind.NEW_ITEM)]


def test_diff_all_carries_details_into_stored_snapshot() -> None:
    """A normal-mode read is stored with the updates and webcasts it did not include."""
    stored, changes = diff_all({la().key: la()}, [la(normal_launch_json())], NOW)
    assert changes == []
    assert stored[0].updates == la().updates
    assert stored[0].webcasts == la().webcasts


def test_diff_all_after_normal_mode_reports_only_truly_new_updates() -> None:
    """Detailed, normal, detailed-with-one-more-update reports exactly that one update."""
    stored, _ = diff_all({la().key: la()}, [la(normal_launch_json())], NOW)
    data = launch_json()
    with_update(data, 30440, "2025-07-02T04:00:00Z", "Fuelling underway.")
    _, changes = diff_all({s.key: s for s in stored}, [la(data)], NOW)
    assert [c.version for c in changes] == ["30440"]


def test_diff_all_ignores_items_missing_from_the_answer() -> None:
    """A stored item absent from the answer is neither reported nor re-stored."""
    stored, changes = diff_all({ev().key: ev(), la().key: la()}, [la()], NOW)
    assert [s.ref for s in stored] == [la().ref]
    assert changes == []


def test_diff_all_same_poll_twice_reports_once() -> None:
    """Re-applying an answer to the snapshots it produced reports nothing."""
    data = event_json()
    data["webcast_live"] = True
    with_update(data, 11410, "2025-06-26T14:10:00Z", "Docked.")
    stored, first = diff_all({ev().key: ev()}, [ev(data)], NOW)
    _, second = diff_all({s.key: s for s in stored}, [ev(data)], NOW)
    assert kinds(first) == [ChangeKind.WEBCAST_LIVE, ChangeKind.NEW_UPDATE]
    assert second == []


def test_diff_all_duplicate_item_is_diffed_once() -> None:
    """An item listed twice (pages shifting) is stored and reported once."""
    data = event_json()
    data["webcast_live"] = True
    stored, changes = diff_all({ev().key: ev()}, [ev(data), ev(data)], NOW)
    assert len(stored) == 1
    assert kinds(changes) == [ChangeKind.WEBCAST_LIVE]


def test_diff_all_duplicate_prefers_the_detailed_copy() -> None:
    """Of a normal and a detailed copy of one launch, the detailed one is used."""
    data = launch_json()
    with_update(data, 30450, "2025-07-02T04:30:00Z", "Go for prop load.")
    stored, changes = diff_all({la().key: la()}, [la(data), la(normal_launch_json())], NOW)
    assert [c.version for c in changes] == ["30450"]
    assert stored[0].updates[-1].id == 30450


def test_diff_all_duplicate_prefers_the_fresher_copy() -> None:
    """Of two copies with details, the later last_updated wins."""
    fresh = event_json()
    fresh["last_updated"] = "2025-06-26T14:30:00Z"
    fresh["webcast_live"] = True
    stored, changes = diff_all({ev().key: ev()}, [ev(fresh), ev()], NOW)
    assert stored[0].webcast_live
    assert kinds(changes) == [ChangeKind.WEBCAST_LIVE]


def test_repeated_status_flip_gets_a_new_identity() -> None:
    """Go → Hold, back to Go, then Hold again (a later edit) is a second, distinct alert."""
    hold = launch_json()
    hold["status"] = {"id": 5, "name": "On Hold", "abbrev": "Hold"}
    first = only(diff(la(), la(hold), NOW), ChangeKind.STATUS_CHANGED)
    hold_again = launch_json()
    hold_again["status"] = {"id": 5, "name": "On Hold", "abbrev": "Hold"}
    hold_again["last_updated"] = "2025-07-01T20:00:00Z"
    second = only(diff(la(), la(hold_again), NOW), ChangeKind.STATUS_CHANGED)
    assert first.identity != second.identity


def test_item_first_seen_live_also_alerts_webcast_live() -> None:
    """An item met for the first time mid-webcast yields new_item and webcast_live."""
    data = event_json()
    data["webcast_live"] = True
    changes = diff(None, ev(data), NOW)
    assert [c.kind for c in changes] == [ChangeKind.NEW_ITEM, ChangeKind.WEBCAST_LIVE]
