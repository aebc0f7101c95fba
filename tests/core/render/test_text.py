"""Console lines and JSON for the terminal ``watch`` command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.changes import ChangeKind
from bot.core.render.text import change_to_json, change_to_text
from bot.core.snapshot import UpdateRef, WebcastRef
from tests.core.render.support import NOW, event_1201, make_change, synthetic_launch

COMMON = {"kind", "source", "id", "name", "detected_at", "version"}


def test_date_changed_line_shows_utc_and_relative_times() -> None:
    """Old → new, in UTC and relative to now."""
    change = make_change(ChangeKind.DATE_CHANGED, event_1201())
    assert change_to_text(change, NOW) == (
        "[date_changed] event 1201 SpaceX AX-4 Crew Dragon Docking: "
        "2025-06-26 10:30 UTC (in 3h 12m) → 2025-06-26 11:00 UTC (in 3h 42m)"
    )


def test_date_changed_line_uses_precision_words() -> None:
    """A coarse date is written in words, not as a clock time."""
    change = make_change(
        ChangeKind.DATE_CHANGED,
        event_1201(),
        old_date=datetime(2025, 9, 30, tzinfo=UTC),
        old_precision="Quarter 3",
    )
    assert change_to_text(change, NOW).endswith(": NET Q3 2025 → 2025-06-26 11:00 UTC (in 3h 42m)")


def test_webcast_live_line_lists_links_best_first() -> None:
    """Live links first, with publisher and language."""
    change = make_change(ChangeKind.WEBCAST_LIVE, event_1201())
    assert change_to_text(change, NOW) == (
        "[webcast_live] event 1201 SpaceX AX-4 Crew Dragon Docking: webcast live: "
        "https://www.youtube.com/watch?v=OZcfHni6L5M (European Space Agency, ESA, en), "
        "https://www.youtube.com/watch?v=7eCWkePf9sk (NASA, en), "
        "https://plus.nasa.gov/scheduled-video/axiom-mission-4-arrival-and-welcome-remarks/ "
        "(NASA, en)"
    )


def test_new_update_line_quotes_the_comment_on_one_line() -> None:
    """Comment, author and source; newlines and terminal escapes are flattened away."""
    update = UpdateRef(
        id=7,
        comment="New docking time.\n\x1b[31mRed\x1b[0m alert\r\n",
        created_by="Cosmic_Penguin",
        info_url="https://x.com/nasa/status/1",
    )
    line = change_to_text(make_change(ChangeKind.NEW_UPDATE, event_1201(), update=update), NOW)
    assert line == (
        "[new_update] event 1201 SpaceX AX-4 Crew Dragon Docking: "
        "“New docking time. [31mRed[0m alert” — Cosmic_Penguin (https://x.com/nasa/status/1)"
    )
    assert "\x1b" not in line
    assert "\n" not in line


def test_status_changed_line() -> None:
    """Old → new status names."""
    change = make_change(ChangeKind.STATUS_CHANGED, synthetic_launch())
    assert change_to_text(change, NOW) == (
        "[status_changed] launch 4f8e2b6d-1c3a-4e7b-9d25-6a0c8b3f5e91 "
        "Falcon 9 Block 5 | Starlink Group 10-99: To Be Confirmed → Go for Launch"
    )


def test_new_item_line() -> None:
    """A new item shows its date and type."""
    change = make_change(ChangeKind.NEW_ITEM, event_1201())
    assert change_to_text(change, NOW) == (
        "[new_item] event 1201 SpaceX AX-4 Crew Dragon Docking: "
        "new event: 2025-06-26 10:30 UTC (in 3h 12m) · Docking"
    )


def test_many_webcasts_are_summarised() -> None:
    """Only the five best links are printed."""
    urls = tuple(WebcastRef(url=f"https://example.com/{i}", priority=i) for i in range(9))
    line = change_to_text(make_change(ChangeKind.WEBCAST_LIVE, event_1201(), urls=urls), NOW)
    assert line.endswith("https://example.com/4 (+4 more)")


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        (ChangeKind.DATE_CHANGED, {"old", "new", "old_precision", "new_precision"}),
        (ChangeKind.NEW_UPDATE, {"update_id", "comment", "author", "info_url", "created_on"}),
        (ChangeKind.WEBCAST_LIVE, {"urls", "webcasts"}),
        (ChangeKind.WEBCAST_ENDED, {"urls", "webcasts"}),
        (ChangeKind.STATUS_CHANGED, {"old", "new", "old_id", "new_id"}),
        (ChangeKind.NEW_ITEM, {"date", "precision", "type", "status"}),
    ],
)
def test_json_keys_per_kind(kind: ChangeKind, extra: set[str]) -> None:
    """Every kind has the common keys plus its own, and serialises as JSON."""
    data = change_to_json(make_change(kind, event_1201()))
    assert set(data) == COMMON | extra
    assert json.loads(json.dumps(data)) == data


def test_json_values_for_a_date_change() -> None:
    """Times are ISO 8601 UTC with Z; precisions are LL2's names."""
    change = make_change(
        ChangeKind.DATE_CHANGED,
        event_1201(),
        new_date=datetime(2025, 6, 26, 7, 0, tzinfo=UTC) + timedelta(hours=4),
    )
    assert change_to_json(change) == {
        "kind": "date_changed",
        "source": "event",
        "id": "1201",
        "name": "SpaceX AX-4 Crew Dragon Docking",
        "detected_at": "2025-06-26T07:18:00Z",
        "version": "v-date_changed",
        "old": "2025-06-26T10:30:00Z",
        "new": "2025-06-26T11:00:00Z",
        "old_precision": "Minute",
        "new_precision": "Minute",
    }


def test_json_values_for_webcasts_updates_and_status() -> None:
    """URLs best first; update id and comment; status names."""
    live = change_to_json(make_change(ChangeKind.WEBCAST_LIVE, event_1201()))
    assert live["urls"] == [
        "https://www.youtube.com/watch?v=OZcfHni6L5M",
        "https://www.youtube.com/watch?v=7eCWkePf9sk",
        "https://plus.nasa.gov/scheduled-video/axiom-mission-4-arrival-and-welcome-remarks/",
    ]
    update = change_to_json(make_change(ChangeKind.NEW_UPDATE, event_1201()))
    assert (update["update_id"], update["comment"], update["author"]) == (
        11403,
        "New docking time.",
        "Cosmic_Penguin",
    )
    status = change_to_json(make_change(ChangeKind.STATUS_CHANGED, synthetic_launch()))
    assert (status["source"], status["old"], status["new"]) == (
        "launch",
        "To Be Confirmed",
        "Go for Launch",
    )
