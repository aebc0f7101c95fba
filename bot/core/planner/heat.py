"""Which items are hot, and how hot, at a given moment (pure; see :mod:`bot.core.planner.plan`).

An item's *relevant times* are its date (only when its precision is an actual clock time: a
"NET June" date of ``06-30T00:00`` is no moment anyone announced) and the announced
``start_time`` of each webcast not yet live. The item is hot at ``t`` when one of them lies in
``[t - after, t + before]`` and it has not ended. Tiers then say how hot:

- CRITICAL: a not-yet-live webcast's start_time within ``critical_margin`` of ``t``: the
  go-live moment is announced and near.
- TIGHT: the date within ``[t - tight_after, t + tight_before]`` (the typical go-live zone, 2 h
  to 5 min before the date, and the holds and scrubs around T-0). When a webcast is live or has
  an announced start_time, only the minutes around T-0 stay tight: the go-live moment is then
  known, but a hold or scrub still moves the date.
- WARM: anything else in the hot window (a live webcast, a date a little past...).

An item has ended, and is cold, when LL2 reports a final launch status, or when nothing is live
and all its relevant times are more than ``ended_after`` past.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from bot.core.planner.types import PlannerConfig, Tier
from bot.core.snapshot import Snapshot, Source

# Launch statuses after which nothing alert-worthy is expected: Success, Failure, Partial
# Failure, Payload Deployed.
FINISHED_STATUS_IDS = frozenset({3, 4, 7, 9})
# Precisions whose timestamp is a clock time: Second, Minute, Hour (or none given).
_EXACT_PRECISION_MAX = 2


def _is_live(item: Snapshot) -> bool:
    return item.webcast_live or any(w.live for w in item.webcasts)


def _pending_starts(item: Snapshot) -> list[datetime]:
    return [w.start_time for w in item.webcasts if w.start_time is not None and not w.live]


def _exact_date(item: Snapshot) -> datetime | None:
    if item.date is None:
        return None
    if item.precision_id is not None and item.precision_id > _EXACT_PRECISION_MAX:
        return None
    return item.date


def relevant_times(item: Snapshot) -> list[datetime]:
    """The moments that can make an item hot: an exact date and pending webcast starts.

    Items without any date are never hot: the windowed query selects by date, so it could not
    read them anyway (the incremental query still does).
    """
    if item.date is None or item.status_id in FINISHED_STATUS_IDS:
        return []
    exact = _exact_date(item)
    return ([exact] if exact is not None else []) + _pending_starts(item)


def item_tier(item: Snapshot, at: datetime, config: PlannerConfig) -> Tier:
    """How hot one item is at ``at``."""
    times = relevant_times(item)
    low, high = at - config.hot_window_after, at + config.hot_window_before
    if not any(low <= moment <= high for moment in times):
        return Tier.COLD
    live = _is_live(item)
    if not live and all(moment < at - config.ended_after for moment in times):
        return Tier.COLD
    if not live and any(
        abs(start - at) <= config.critical_margin for start in _pending_starts(item)
    ):
        return Tier.CRITICAL
    date = _exact_date(item)
    if date is not None:
        # An announced start_time or a live webcast says when the webcast goes live better
        # than the date does: then only the minutes around T-0 (holds, scrubs) stay tight.
        announced = live or bool(_pending_starts(item))
        until = config.critical_margin if announced else config.tight_before
        if at - config.tight_after <= date <= at + until:
            return Tier.TIGHT
    return Tier.WARM


def watch_points(item: Snapshot, gap: timedelta, config: PlannerConfig) -> list[datetime]:
    """When to read an item around its first announced webcast start (while none is live):
    every ``gap`` back from ``critical_margin`` after the start to as long before it.

    Counting back from the end means the last read comes when the margin closes, so a webcast
    going live late in the margin is seen as soon as one going live early.
    """
    if item.status_id in FINISHED_STATUS_IDS or _is_live(item):
        return []
    starts = _pending_starts(item)
    if not starts:
        return []
    # The item goes live with its first webcast: watch the earliest announced start only.
    start = min(starts)
    points: list[datetime] = []
    moment = start + config.critical_margin
    while moment >= start - config.critical_margin:
        points.append(moment)
        moment -= gap
    return points[::-1]


def may_be_hot(item: Snapshot, start: datetime, end: datetime, config: PlannerConfig) -> bool:
    """Whether the item can be hot at some moment of ``[start, end]`` (a cheap pre-filter)."""
    return any(
        moment - config.hot_window_before <= end and moment + config.hot_window_after >= start
        for moment in relevant_times(item)
    )


def source_tiers(
    items: Iterable[Snapshot], at: datetime, config: PlannerConfig
) -> dict[Source, Tier]:
    """The hottest tier of each source's items at ``at`` (COLD when none is hot)."""
    tiers = dict.fromkeys(Source, Tier.COLD)
    for item in items:
        tier = item_tier(item, at, config)
        if tier > tiers[item.source]:
            tiers[item.source] = tier
    return tiers


def hot_items(items: Iterable[Snapshot], at: datetime, config: PlannerConfig) -> list[Snapshot]:
    """The items hot at ``at``."""
    return [item for item in items if item_tier(item, at, config) > Tier.COLD]


def tier_timeline(
    items: Sequence[Snapshot],
    start: datetime,
    horizon: timedelta,
    step: timedelta,
    config: PlannerConfig,
) -> list[dict[Source, Tier]]:
    """Each source's tier at ``start``, ``start + step``, ... up to (not including) the horizon."""
    steps = max(1, int(horizon / step))
    shortlist = [item for item in items if may_be_hot(item, start, start + horizon, config)]
    return [source_tiers(shortlist, start + i * step, config) for i in range(steps)]
