"""The planner's arithmetic (pure): page estimates, the hot window, the next hour's tiers.

See :mod:`bot.core.planner.plan` for the policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.planner.budget import HOUR
from bot.core.planner.heat import may_be_hot, tier_timeline
from bot.core.planner.types import PlannerConfig, Tier
from bot.core.snapshot import Snapshot, Source

PAGE_SIZE = 100
# /upcoming/ keeps items for 24 h after they happen.
UPCOMING_KEEPS = timedelta(hours=24)
# How far a window read reaches when every known item fits one page: the whole upcoming list.
FAR_AHEAD = timedelta(days=3650)
STEP = timedelta(minutes=1)  # resolution of the next hour's tier timeline


def pages_for(count: int) -> int:
    """Pages of at most 100 items needed for ``count`` items (an empty answer is one page)."""
    return max(1, math.ceil(count / PAGE_SIZE))


def upcoming_pages(items: Iterable[Snapshot], source: Source, at: datetime) -> int:
    """Estimated pages of ``/upcoming/`` for a source, from the items we know."""
    cutoff = at - UPCOMING_KEEPS
    return pages_for(
        sum(1 for i in items if i.source is source and (i.date is None or i.date >= cutoff))
    )


def hot_window(
    hot: Sequence[Snapshot],
    at: datetime,
    config: PlannerConfig,
    known: Sequence[Snapshot] = (),
    also: Sequence[datetime] = (),
) -> tuple[datetime, datetime]:
    """The date window of a hot query: the hot window around ``at``, every hot item's date, and
    then as far ahead as one page holds (``page_fill`` of the ``known`` items, at most
    ``window_reach`` ahead). ``also``: more dates the window must reach (lookouts' items).

    A page holds 100 items whatever the window, so reading further ahead is free: each hot poll
    then also catches date moves and updates of the next items, whatever their last_updated says.
    """
    dates = [i.date for i in hot if i.date is not None] + list(also)
    start = min([at - config.hot_window_after, *dates])
    end = max([at + config.hot_window_before, *dates])
    # Back to what /upcoming/ still holds (the last 24 h), when the page has room for it.
    dated = [i.date for i in known if i.date is not None]
    behind = sum(1 for d in dated if at - UPCOMING_KEEPS <= d < start)
    inside = sum(1 for d in dated if start <= d <= end)
    if inside + behind <= config.page_fill:
        start = min(start, at - UPCOMING_KEEPS)
        inside += behind
    limit = at + config.window_reach
    ahead = sorted(d for d in dated if end < d)
    room = config.page_fill - inside
    if room > len(ahead):
        # Every known item fits one page: read on to the end of the upcoming list.
        end = max(end, at + FAR_AHEAD)
    elif room > 0 and limit > end:
        within = [d for d in ahead if d <= limit]
        end = within[room - 1] if len(within) >= room else limit
    return start, end


def covers_source(
    items: Iterable[Snapshot], source: Source, start: datetime, end: datetime, at: datetime
) -> bool:
    """Whether a window read of ``source`` reads every known item /upcoming/ holds.

    Such a read finds every edit the incremental query would (and the edits that do not bump
    ``last_updated``), so it counts as the source's incremental poll too.
    """
    for i in items:
        if i.source is not source:
            continue
        if i.date is None:
            return False
        if i.date >= at - UPCOMING_KEEPS and not start <= i.date <= end:
            return False
    return True


def window_pages(items: Iterable[Snapshot], source: Source, start: datetime, end: datetime) -> int:
    """Estimated pages of a date-window query, from the known items dated in the window."""
    return pages_for(
        sum(1 for i in items if i.source is source and i.date and start <= i.date <= end)
    )


@dataclass(frozen=True)
class Outlook:
    """The next hour as the planner sees it."""

    timeline: list[dict[Source, Tier]]  # tiers at now, now + STEP, ...
    shortlist: list[Snapshot]  # items that may be hot within the hour


def forecast(items: Sequence[Snapshot], config: PlannerConfig, now: datetime) -> Outlook:
    """Each source's tier, minute by minute, over the next hour."""
    shortlist = [i for i in items if may_be_hot(i, now, now + HOUR, config)]
    return Outlook(tier_timeline(shortlist, now, HOUR, STEP, config), shortlist)
