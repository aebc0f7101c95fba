"""Reminders as ``watch`` prints them: one terminal line, or one JSON object.

Kept out of :mod:`bot.core.render`'s public face: :mod:`bot.core.reminders` itself imports
:mod:`bot.core.render.when`, so importing it from the package's ``__init__`` would be a cycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.core.reminders import Reminder, offset_label
from bot.core.render.sanitize import one_line
from bot.core.render.when import when_plain
from bot.core.snapshot import as_utc_iso


def reminder_to_json(reminder: Reminder, now: datetime) -> dict[str, Any]:
    """A reminder as ``watch --format json`` prints it: the keys every change has, plus
    ``offset_minutes``, ``target`` (the date it counts down to) and ``at`` (its moment)."""
    key = reminder.key
    return {
        "kind": "reminder",
        "source": reminder.item.source.value,
        "id": reminder.item.id,
        "name": reminder.item.name,
        "detected_at": as_utc_iso(now),
        "version": f"T-{key.offset_minutes}m@{as_utc_iso(key.target)}",
        "offset_minutes": key.offset_minutes,
        "target": as_utc_iso(key.target),
        "at": as_utc_iso(key.moment),
    }


def reminder_to_text(reminder: Reminder, now: datetime) -> str:
    """One line for people, e.g. ``[reminder] launch <id> Name: T-10 min, 2026-06-01 14:32 UTC
    (in 10m)``."""
    item = reminder.item
    when = when_plain(reminder.key.target, now, item.precision_id, item.precision_name)
    return (
        f"[reminder] {item.source.value} {one_line(item.id)} {one_line(item.name)}: "
        f"{offset_label(reminder.key.offset_minutes)}, {when}"
    )
