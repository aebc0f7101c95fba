"""T-minus reminders, the public face: offsets as users type them, and the planner.

- :mod:`~bot.core.reminders.offsets`: ``24h,1h,10m`` to minutes and back to words;
- :mod:`~bot.core.reminders.plan`: snapshots, subscriptions, sent keys and ``now`` in; the
  reminders due now, armed for later, or dropped out.
"""

from bot.core.reminders.offsets import (
    MAX_OFFSET_MINUTES,
    MAX_OFFSETS,
    MIN_OFFSET_MINUTES,
    OffsetError,
    describe_offsets,
    normalise_offsets,
    offset_label,
    offsets_text,
    parse_offsets,
)
from bot.core.reminders.plan import (
    COUNTING_STATUSES,
    HOUR_PRECISION_MIN_OFFSET,
    MAX_GRACE,
    DroppedReminder,
    DropReason,
    Reminder,
    ReminderKey,
    ReminderPlan,
    allowed_offsets,
    grace_for,
    plan_reminders,
)

__all__ = [
    "COUNTING_STATUSES",
    "HOUR_PRECISION_MIN_OFFSET",
    "MAX_GRACE",
    "MAX_OFFSETS",
    "MAX_OFFSET_MINUTES",
    "MIN_OFFSET_MINUTES",
    "DropReason",
    "DroppedReminder",
    "OffsetError",
    "Reminder",
    "ReminderKey",
    "ReminderPlan",
    "allowed_offsets",
    "describe_offsets",
    "grace_for",
    "normalise_offsets",
    "offset_label",
    "offsets_text",
    "parse_offsets",
    "plan_reminders",
]
