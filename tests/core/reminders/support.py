"""Snapshots and subscriptions for reminder planner tests (built on tests/core/change_factory)."""

from __future__ import annotations

from datetime import datetime

from bot.core.reminders import ReminderPlan
from bot.core.snapshot import Snapshot
from bot.core.subscriptions import Subscription
from tests.core.change_factory import CHANNEL_A, event, launch, sub

PRECISION_NAMES = {0: "Second", 1: "Minute", 2: "Hour", 5: "Day", 7: "Month", 14: "Year"}
STATUS_NAMES = {1: "Go for Launch", 2: "To Be Determined", 5: "On Hold", 8: "To Be Confirmed"}


def launch_at(
    date: datetime | None,
    *,
    status_id: int | None = 1,
    precision_id: int | None = 1,
    item_id: str = "f0a8b8f2-1c36-4b1d-8f6a-0d2a6f0c1b01",
) -> Snapshot:
    """The factory's Falcon 9 launch at ``date`` with the given status and precision."""
    return launch(item_id).model_copy(
        update={
            "date": date,
            "status_id": status_id,
            "status_name": STATUS_NAMES.get(status_id or 0),
            "precision_id": precision_id,
            "precision_name": PRECISION_NAMES.get(precision_id or -1),
        }
    )


def event_at(date: datetime, *, precision_id: int | None = 1, item_id: int = 1201) -> Snapshot:
    """The real event 1201 (Docking) at ``date`` with the given precision."""
    return event(item_id).model_copy(
        update={
            "date": date,
            "precision_id": precision_id,
            "precision_name": PRECISION_NAMES.get(precision_id or -1),
        }
    )


def reminding(
    offsets: tuple[int, ...],
    sub_id: int = 1,
    channel_id: int = CHANNEL_A,
    role_id: int | None = None,
    **filters: object,
) -> Subscription:
    """A subscription to everything with the given reminder offsets."""
    base = sub(sub_id, channel_id, role_id=role_id, **filters)  # type: ignore[arg-type]
    return Subscription.model_validate(base.model_dump() | {"reminders": offsets})


def due_offsets(plan: ReminderPlan) -> list[int]:
    """The offsets of the reminders due now."""
    return [r.key.offset_minutes for r in plan.due]


def armed_offsets(plan: ReminderPlan) -> list[int]:
    """The offsets of the armed reminders, soonest first."""
    return [r.key.offset_minutes for r in plan.armed]
