"""Reminders for the terminal: one readable line, and the JSON keys scripts rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.reminders import Reminder, plan_reminders
from bot.core.render.reminder_text import reminder_to_json, reminder_to_text
from tests.core.reminders.support import event_at, reminding

T0 = datetime(2026, 6, 1, 14, 32, tzinfo=UTC)


def _due_at_t_minus_10() -> tuple[datetime, Reminder]:
    now = T0 - timedelta(minutes=10)
    plan = plan_reminders([event_at(T0)], [reminding((10,))], [], now)
    [reminder] = plan.due
    return now, reminder


def test_json_has_every_changes_keys_plus_offset_target_and_moment() -> None:
    """kind/source/id/name/detected_at/version, then offset_minutes, target and at, in UTC Z."""
    now, reminder = _due_at_t_minus_10()
    data = reminder_to_json(reminder, now)
    assert data == {
        "kind": "reminder",
        "source": "event",
        "id": "1201",
        "name": data["name"],
        "detected_at": "2026-06-01T14:22:00Z",
        "version": "T-10m@2026-06-01T14:32:00Z",
        "offset_minutes": 10,
        "target": "2026-06-01T14:32:00Z",
        "at": "2026-06-01T14:22:00Z",
    }
    assert data["name"]


def test_text_names_the_countdown_and_the_utc_time() -> None:
    """One line: [reminder], the item, "T-10 min" and the UTC time with how far it is."""
    now, reminder = _due_at_t_minus_10()
    line = reminder_to_text(reminder, now)
    assert line.startswith("[reminder] event 1201 ")
    assert "T-10 min" in line
    assert "2026-06-01 14:32 UTC (in 10m)" in line
    assert "\n" not in line
