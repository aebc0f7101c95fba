"""Sliding-window arithmetic for the LL2 request budget, as pure functions.

LL2 counts requests in a sliding window (an hour). A request sent at ``t`` occupies one slot while
``t > now - window``, so it frees its slot exactly at ``t + window``. These helpers answer the
planner's two questions without touching a clock: how many slots are free at a given moment,
and when ``need`` slots will be free if nothing else is sent. ``bot.ll2.budget.RequestBudget``
enforces the same rule at send time (with a small margin the caller adds to ``window``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)


def active_sends(send_times: Iterable[datetime], at: datetime, window: timedelta = HOUR) -> int:
    """How many sends still occupy a slot at ``at``.

    Sends stamped after ``at`` count too: they can only be later sends of the same cycle, and
    over-counting is the safe side of a rate limit.
    """
    cutoff = at - window
    return sum(1 for sent in send_times if sent > cutoff)


def free_slots(
    send_times: Iterable[datetime], at: datetime, limit: int, window: timedelta = HOUR
) -> int:
    """Slots free at ``at`` (never negative)."""
    return max(0, limit - active_sends(send_times, at, window))


def slots_free_at(
    send_times: Iterable[datetime],
    now: datetime,
    limit: int,
    need: int,
    window: timedelta = HOUR,
) -> datetime:
    """The earliest moment ``>= now`` at which ``need`` slots are free, if nothing else is sent.

    ``need`` is clamped to ``limit``: a request that can never fit in one instant is planned for
    the moment the whole window is free (its pages then go out one by one as slots allow).
    With ``limit <= 0`` nothing ever fits, so the answer is one whole window away.
    """
    if limit <= 0:
        return now + window
    need = min(max(need, 0), limit)
    active = sorted(sent for sent in send_times if sent > now - window)
    must_expire = len(active) + need - limit
    if must_expire <= 0:
        return now
    return max(now, active[must_expire - 1] + window)


def budget_slots(
    send_times: Iterable[datetime], now: datetime, limit: int, window: timedelta = HOUR
) -> tuple[int, datetime]:
    """``(available_now, next_free_at)`` for a sliding window of ``limit`` requests.

    ``next_free_at`` is ``now`` when a slot is free, else the moment the oldest blocking send
    expires.
    """
    times = list(send_times)
    available = free_slots(times, now, limit, window)
    return available, slots_free_at(times, now, limit, 1, window)


def slot_release_times(
    send_times: Iterable[datetime], after: datetime, window: timedelta = HOUR
) -> list[datetime]:
    """The moments after ``after`` at which a send's slot frees, oldest first."""
    return sorted(sent + window for sent in send_times if sent + window > after)
