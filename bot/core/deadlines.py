"""Deadlines: how long an alert stays worth sending.

A "webcast is live" alert an hour late is noise; a date change is still news half a day later.
Every outbox row carries the moment after which it is no longer sent (it is marked ``expired``
instead): its creation plus the longest allowance of the kinds it holds, so a row that also
carries longer-lived news is not thrown away for its shortest-lived part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from bot.core.changes import ChangeKind

# The defaults, in minutes (``delivery.deadline_minutes``); 0 means "never expires".
DEFAULT_DEADLINE_MINUTES: Mapping[ChangeKind, int] = {
    ChangeKind.WEBCAST_LIVE: 60,  # the stream is usually over within an hour or two
    ChangeKind.STATUS_CHANGED: 360,  # Go / Hold / In Flight change within hours
    ChangeKind.DATE_CHANGED: 720,  # a new date stays news for half a day
    ChangeKind.NEW_UPDATE: 720,
    ChangeKind.NEW_ITEM: 1440,  # a newly announced item is news for a day
}


def deadline_for(
    kinds: Iterable[ChangeKind], created_at: datetime, minutes: Mapping[ChangeKind, int]
) -> datetime | None:
    """When a row holding ``kinds`` created at ``created_at`` stops being worth sending.

    None (never expires) when any of its kinds has no deadline (0 or not configured).
    """
    allowances: list[int] = []
    for kind in kinds:
        allowance = minutes.get(kind, 0)
        if allowance <= 0:
            return None
        allowances.append(allowance)
    if not allowances:
        return None
    return created_at + timedelta(minutes=max(allowances))
