"""How fast to poll: the hot gaps and incremental gap the budget affords (pure).

See :mod:`bot.core.planner` for the policy; this module holds its arithmetic: page estimates,
the hot window, the next hour's tier timeline and the pressure that fits it to the budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.planner_budget import HOUR, free_slots, slot_release_times
from bot.core.planner_heat import desired_gap, hot_items, may_be_hot, tier_timeline
from bot.core.planner_types import Cadence, PlannerConfig, Tier
from bot.core.snapshot import Snapshot, Source

PAGE_SIZE = 100
# /upcoming/ keeps items for 24 h after they happen.
UPCOMING_KEEPS = timedelta(hours=24)
# How far a window read reaches when every known item fits one page: the whole upcoming list.
FAR_AHEAD = timedelta(days=3650)
STEP = timedelta(minutes=1)  # resolution of the next hour's tier timeline
HORIZONS = tuple(timedelta(minutes=m) for m in (15, 30, 45, 60))  # budget checks ahead


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
) -> tuple[datetime, datetime]:
    """The date window of a hot query: the hot window around ``at``, every hot item's date, and
    then as far ahead as one page holds (``page_fill`` of the ``known`` items, at most
    ``window_reach`` ahead).

    A page holds 100 items whatever the window, so reading further ahead is free: each hot poll
    then also catches date moves and updates of the next items, whatever their last_updated says.
    """
    dates = [i.date for i in hot if i.date is not None]
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


def reserve_for(config: PlannerConfig, limit: int) -> int:
    """Requests per sliding hour hot polling may not plan for: the incremental query's share.

    ``reserve`` is sized for the reference budget and grows with a bigger one, so that with a
    key the incremental query speeds up along with hot polling instead of keeping 2 of 300.
    Hot polling keeps at least one request of its own, however small the budget.
    """
    scaled = math.ceil(config.reserve * max(1.0, limit / config.reference_limit))
    return max(0, min(scaled, limit - 1))


@dataclass(frozen=True)
class Outlook:
    """The next hour as the planner sees it."""

    cadence: Cadence
    timeline: list[dict[Source, Tier]]  # tiers at now, now + STEP, ...
    gaps: dict[Tier, timedelta]  # hot-poll gap per tier under the current pressure
    shortlist: list[Snapshot]  # items that may be hot within the hour


def forecast(
    items: Sequence[Snapshot],
    limit: int,
    config: PlannerConfig,
    now: datetime,
    sends: Sequence[datetime] = (),
) -> Outlook:
    """Tiers, hot gaps and incremental gap for the next hour, given the recent ``sends``."""
    reserve = reserve_for(config, limit)
    shortlist = [i for i in items if may_be_hot(i, now, now + HOUR, config)]
    timeline = tier_timeline(shortlist, now, HOUR, STEP, config)
    hot_now = hot_items(shortlist, now, config)
    hot_pages = {
        s: window_pages(
            items, s, *hot_window(hot_now, now, config, [i for i in items if i.source is s])
        )
        for s in Source
    }
    overhead = (
        sum(upcoming_pages(items, s, now) for s in Source) * (HOUR / config.full_refresh_every)
        + HOUR / config.event_types_every
    )
    incremental_floor = float(max(reserve, 1))
    # Pace a little under the limit, so jitter and page estimates do not turn into waits.
    slack = max(1.0, 0.05 * limit)

    def per_step(gaps: dict[Tier, timedelta]) -> list[float]:
        """Hot requests in each timeline step if every source polls at its tier's gap."""
        return [
            sum(hot_pages[s] * (STEP / gaps[t]) for s, t in tiers.items() if t in gaps)
            for tiers in timeline
        ]

    wanted = {t: g for t in Tier if (g := desired_gap(t, config)) is not None}
    demand = per_step(wanted)
    # Hot polls may use, by each horizon, what is free now plus what frees up by then, less
    # the background's and the slack's share. The tightest horizon sets the pressure. Over a
    # whole window this is simply limit - overhead - incremental - slack; the shorter ones
    # keep a window crowded by recent sends from being overspent and then stalling.
    window = HOUR + config.budget_margin
    free_now = free_slots(sends, now, limit, window)
    releases = slot_release_times(sends, now, window)
    background = incremental_floor + overhead + slack  # per hour
    hour_allocation = max(limit - background, 1.0)
    pressure = max(config.reference_limit / limit, sum(demand) / hour_allocation)
    # The incremental share follows the hour's hot demand: a short squeeze below must not
    # hand the squeezed hot requests to the incremental query.
    hour_gaps = {t: max(config.min_gap, g * pressure) for t, g in wanted.items()}
    expected_hot = sum(per_step(hour_gaps)) * (HOUR / (STEP * len(timeline)))
    for horizon in HORIZONS:
        steps = min(len(demand), int(horizon / STEP))
        supply = float(free_now + sum(1 for r in releases if r <= now + horizon))
        supply = supply - background * (horizon / HOUR)
        pressure = max(pressure, sum(demand[:steps]) / max(supply, 1.0))
    gaps = {t: max(config.min_gap, g * pressure) for t, g in wanted.items()}
    incremental_rate = max(incremental_floor, limit - reserve - overhead - expected_hot)
    cover = config.cover_gap * min(1.0, config.reference_limit / limit)
    cadence = Cadence(
        tiers=dict(timeline[0]),
        hot_gap={s: gaps[t] for s, t in timeline[0].items() if t in gaps},
        incremental_gap=max(2 * config.min_gap, min(cover, len(Source) * HOUR / incremental_rate)),
        pressure=pressure,
    )
    return Outlook(cadence, timeline, gaps, shortlist)


def plan_cadence(
    items: Sequence[Snapshot],
    limit: int,
    config: PlannerConfig,
    now: datetime,
    sends: Sequence[datetime] = (),
) -> Cadence:
    """The hot gaps and the incremental gap the budget affords over the next hour."""
    return forecast(items, max(limit, 1), config, now, sends).cadence
