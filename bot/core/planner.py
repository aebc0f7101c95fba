"""The poll planner: which LL2 queries to run next, and when. Pure: ``now`` is a parameter.

Why a planner: LL2 grants 15 requests per sliding hour without a key. A fixed 240 s poll of
the upcoming lists spends that on items months away while a webcast goes live unseen. The
planner spends the budget where news is likely and never plans more than the window has free.

Queries (a :class:`Query` costs one request per page of 100 items)
    FULL_UPCOMING per source (every page of ``/upcoming/``): a source's baseline, then every
    ``full_refresh_every`` (6 h) to catch what the incremental query missed; its pages are
    estimated from the known upcoming items. INCREMENTAL per source (``last_updated__gte`` the
    last success): the cheap way to find edits. HOT_WINDOW per source (date/net window): re-reads
    every hot item whatever its ``last_updated`` says, since nothing documents that every change
    (an automated live flip...) bumps it. EVENT_TYPES once a day.

Heat (:mod:`bot.core.planner_heat`)
    A source's tier is its hottest item's: CRITICAL around an announced webcast start_time
    (±15 min), TIGHT when the date is 2 h to -10 min away (where webcasts typically go live and
    holds happen), WARM elsewhere in the ``[now - 3 h, now + 3 h]`` hot window, else COLD. One
    windowed query per hot source covers every hot item's date plus the whole hot window, so an
    item LL2 moved into the window is read too, and then reads on as far as one page holds
    (80 known items, at most 30 days): a page costs one request however wide its window, so
    every hot poll also catches date moves and updates of the next items.

Scheduling (work-conserving, by urgency)
    Each source has a read stream (a window read when it covers every item, else an
    incremental read plus a window-only hot stream). Its urgency at ``t`` is the time since its
    last read over its desired gap: ``critical_gap``/``tight_gap`` while the source is
    CRITICAL/TIGHT, ``cover_gap`` otherwise (scaled down with a bigger budget). Whenever a slot
    is free, at least ``min_gap`` after the last send, the most urgent overdue stream goes (one
    read a cycle); a regular read more than 1.25 ``cover_gap`` late goes before any hot read.
    Baselines, full refreshes (held back while TIGHT/CRITICAL, at most half their period) and
    the event types go first when due.

Pacing
    Reads keep to the pace the sliding window sustains (the j-th send after the free slots
    must wait for the j-th release), stretched so about ``critical_bank`` slots stay idle; a
    CRITICAL source or a stale regular read may go at 0.75 of the unstretched pace while more
    than two slots are free. So a busy stretch never bursts and then stalls, and the slots
    saved go to the minutes around a webcast start. ``RequestBudget`` stays the hard limit at
    send time, and the next plan sees the real send times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from bot.core.planner_budget import (
    HOUR,
    budget_slots,
    free_slots,
    slot_release_times,
    slots_free_at,
)
from bot.core.planner_cadence import (
    STEP,
    Outlook,
    covers_source,
    forecast,
    hot_window,
    plan_cadence,
    upcoming_pages,
    window_pages,
)
from bot.core.planner_heat import hot_items
from bot.core.planner_types import (
    BudgetState,
    Cadence,
    Plan,
    PlannerConfig,
    PollState,
    Query,
    QueryKind,
    Stream,
    Tier,
)
from bot.core.snapshot import Snapshot, Source

__all__ = [
    "BudgetState",
    "Cadence",
    "Plan",
    "PlannerConfig",
    "PollState",
    "Query",
    "QueryKind",
    "Tier",
    "budget_slots",
    "plan_cadence",
    "plan_next_poll",
    "slots_free_at",
]


def _after_failure(
    state: PollState,
    stream: Stream,
    success: datetime | None,
    due: datetime,
    gap: timedelta,
    config: PlannerConfig,
) -> datetime:
    """Hold a failed query back instead of re-planning it at once (and spending a slot)."""
    attempt = state.last_attempt.get(stream)
    if attempt is not None and (success is None or attempt > success):
        return max(due, attempt + min(gap, config.interval))
    return due


def _latest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return max(present) if present else None


def _covers(
    items: Sequence[Snapshot],
    outlook: Outlook,
    config: PlannerConfig,
    source: Source,
    now: datetime,
) -> bool:
    """Whether a window read of ``source`` now would read every item /upcoming/ holds."""
    mine = [i for i in outlook.shortlist if i.source is source]
    known = [i for i in items if i.source is source]
    start, end = hot_window(hot_items(mine, now, config), now, config, known)
    return covers_source(items, source, start, end, now)


@dataclass(frozen=True)
class _Fixed:
    """A query due at a set moment: a baseline, a full refresh, the event types."""

    stream: Stream
    due: datetime
    baseline: bool = False


@dataclass(frozen=True)
class _Read:
    """A source's read stream, scheduled by urgency: time since its last read / desired gap."""

    source: Source
    base: datetime  # the last read this stream counts
    ready: datetime  # not before (a failed attempt waits)
    hot: bool  # the window read only (else the source's regular read)
    covers: bool  # a window read of this source reads every item it has
    stale_at: datetime  # a regular read this late goes before every hot read


def _gap_for(tier: Tier, config: PlannerConfig, scale: float, hot: bool) -> timedelta | None:
    """A stream's desired gap at a tier: short while CRITICAL/TIGHT, else ``cover_gap``.

    A window-only stream (a source too big for one page) has nothing to do while COLD.
    """
    if tier is Tier.CRITICAL:
        gap = config.critical_gap
    elif tier is Tier.TIGHT:
        gap = config.tight_gap
    elif hot and tier is Tier.COLD:
        return None
    else:
        gap = config.cover_gap
        return max(2 * config.min_gap, gap * scale)
    return max(config.min_gap, gap * scale)


def _tier_at(outlook: Outlook, source: Source, now: datetime, at: datetime) -> Tier:
    """The source's tier at ``at`` from the next hour's timeline (its last step beyond)."""
    step = max(0, min(len(outlook.timeline) - 1, int((at - now) / STEP)))
    return outlook.timeline[step][source]


def _streams(
    items: Sequence[Snapshot],
    state: PollState,
    config: PlannerConfig,
    outlook: Outlook,
    scale: float,
    now: datetime,
) -> tuple[list[_Fixed], list[_Read]]:
    fixed: list[_Fixed] = []
    reads: list[_Read] = []
    busy = max(outlook.timeline[0].values()) >= Tier.TIGHT
    for source in Source:
        last_full = state.last_full_refresh.get(source)
        stream: Stream = (QueryKind.FULL_UPCOMING, source)
        if last_full is None:
            due = _after_failure(state, stream, last_full, now, config.interval, config)
            fixed.append(_Fixed(stream, due, baseline=True))
            continue
        due = _after_failure(
            state,
            stream,
            last_full,
            last_full + config.full_refresh_every,
            config.full_refresh_every,
            config,
        )
        # Full refreshes wait out a TIGHT/CRITICAL phase (at most half their period).
        if not (busy and now < due + config.full_refresh_every / 2):
            fixed.append(_Fixed(stream, due))
        covers = _covers(items, outlook, config, source, now)
        last_hot = state.last_hot.get(source)
        cover_gap = _gap_for(Tier.COLD, config, scale, hot=False)
        assert cover_gap is not None
        regular = _latest(state.last_incremental.get(source), last_full)
        assert regular is not None
        if covers:
            # One stream: the window read reads every item, so it is the regular read too.
            base = _latest(regular, last_hot)
            assert base is not None
            kinds = (QueryKind.INCREMENTAL, QueryKind.HOT_WINDOW)
            ready = max(
                _after_failure(state, (k, source), base, base, cover_gap, config) for k in kinds
            )
            reads.append(
                _Read(source, base, max(ready, base), False, True, base + config.cover_gap * 1.25)
            )
            continue
        ready = _after_failure(
            state,
            (QueryKind.INCREMENTAL, source),
            state.last_incremental.get(source),
            regular,
            cover_gap,
            config,
        )
        reads.append(_Read(source, regular, ready, False, False, regular + config.cover_gap * 1.25))
        hot_base = _latest(last_hot, last_full)
        assert hot_base is not None
        ready = _after_failure(
            state, (QueryKind.HOT_WINDOW, source), last_hot, hot_base, config.tight_gap, config
        )
        reads.append(_Read(source, hot_base, ready, True, False, hot_base + 1000 * HOUR))
    stream = (QueryKind.EVENT_TYPES, None)
    last = state.last_event_types
    due = now if last is None else last + config.event_types_every
    due = _after_failure(state, stream, last, due, config.event_types_every, config)
    fixed.append(_Fixed(stream, due))
    return fixed, reads


def _urgency(
    read: _Read, outlook: Outlook, config: PlannerConfig, scale: float, now: datetime, at: datetime
) -> float:
    """How overdue a read is at ``at``: 1 when its desired gap has passed (0 when not wanted)."""
    if at < read.ready:
        return 0.0
    gap = _gap_for(_tier_at(outlook, read.source, now, at), config, scale, read.hot)
    if gap is None:
        return 0.0
    return (at - read.base) / gap


def _read_kind(read: _Read, outlook: Outlook, now: datetime, at: datetime) -> QueryKind:
    if read.hot:
        return QueryKind.HOT_WINDOW
    if read.covers and _tier_at(outlook, read.source, now, at) > Tier.COLD:
        return QueryKind.HOT_WINDOW
    return QueryKind.INCREMENTAL


def _build(
    stream: Stream,
    items: Sequence[Snapshot],
    outlook: Outlook,
    state: PollState,
    config: PlannerConfig,
    now: datetime,
    at: datetime,
) -> Query:
    kind, source = stream
    if source is None:
        return Query(kind)
    if kind is QueryKind.FULL_UPCOMING:
        return Query(kind, source, pages=upcoming_pages(items, source, at))
    if kind is QueryKind.INCREMENTAL:
        since = _latest(state.last_incremental.get(source), state.last_full_refresh.get(source))
        return Query(kind, source, since=since)
    mine = [i for i in outlook.shortlist if i.source is source]
    hot = hot_items(mine, now, config) + hot_items(mine, at, config)
    known = [i for i in items if i.source is source]
    start, end = hot_window(hot, at, config, known)
    return Query(kind, source, start=start, end=end, pages=window_pages(items, source, start, end))


def _batch(
    fixed: Sequence[_Fixed],
    reads: Sequence[tuple[float, _Read]],
    build: Callable[[Stream], Query],
    outlook: Outlook,
    free: int,
    limit: int,
    now: datetime,
    at: datetime,
) -> list[Query]:
    """What to send at ``at`` with ``free`` slots: fixed queries due first (oldest first; one
    that does not fit makes the rest wait), then the overdue reads, most urgent first."""
    chosen: list[Query] = []
    read: set[Source] = set()  # sources whose every item a chosen query reads
    used = 0
    for candidate in sorted(fixed, key=lambda c: (not c.baseline, c.due)):
        source = candidate.stream[1]
        if source is not None and source in read:
            continue
        query = build(candidate.stream)
        cost = min(query.cost, limit)
        if used + cost > free:
            return chosen
        chosen.append(query)
        used += cost
        if source is not None:
            read.add(source)
    # A regular read well past its cover gap goes before any hot read: hot polling may
    # stretch the other source's reads, never starve them.
    for _, stream in sorted(reads, key=lambda r: (-(r[1].stale_at <= at), -r[0])):
        if stream.source in read:
            continue
        query = build((_read_kind(stream, outlook, now, at), stream.source))
        cost = min(query.cost, limit)
        if used + cost <= free:
            # One read a cycle: the pace holds for one send at a time.
            return [*chosen, query]
    return chosen


def _cadence(outlook: Outlook, config: PlannerConfig, scale: float, now: datetime) -> Cadence:
    tiers = dict(outlook.timeline[0])
    hot_gap = {}
    for source, tier in tiers.items():
        if tier > Tier.COLD:
            gap = _gap_for(tier, config, scale, hot=True)
            if tier is Tier.WARM:
                gap = max(config.min_gap, config.warm_gap * scale)
            assert gap is not None
            hot_gap[source] = gap
    cover = _gap_for(Tier.COLD, config, scale, hot=False)
    assert cover is not None
    return Cadence(tiers, hot_gap, cover, outlook.cadence.pressure)


def _bank(config: PlannerConfig, limit: int) -> int:
    """Slots paced reads leave idle for bursts around a webcast start (grows with a key)."""
    scaled = round(config.critical_bank * limit / config.reference_limit)
    return max(0, min(scaled, limit - 1))


def _pace(sends: Sequence[datetime], at: datetime, free: int, window: timedelta) -> timedelta:
    """The spacing at which sends from ``at`` on never run out of slots: the j-th send after
    the ``free`` ones must wait for the j-th release, so no gap may be shorter than
    ``(release_j - at) / (free + j)``. Spending at that rate keeps a busy stretch from
    bursting and then stalling for the rest of the hour, and a free window is spent fast."""
    releases = slot_release_times(sends, at, window)
    return max(
        [(release - at) / (free + j) for j, release in enumerate(releases, start=1)],
        default=window / (free + len(releases)),
    )


def plan_next_poll(
    snapshots: Iterable[Snapshot],
    budget: BudgetState,
    state: PollState,
    config: PlannerConfig,
    now: datetime,
) -> Plan:
    """Plan the next poll: the earliest moment a free slot meets an overdue stream."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    items = tuple(snapshots)
    limit = budget.limit
    window = HOUR + config.budget_margin
    sends = sorted(budget.send_times)
    outlook = forecast(items, max(limit, 1), config, now, sends)
    scale = min(1.0, config.reference_limit / max(limit, 1))
    cadence = _cadence(outlook, config, scale, now)
    if limit <= 0:
        # The server granted nothing (RequestBudget behaves the same): look again in a window.
        return Plan(now + window, (), cadence, "no request budget")
    fixed, reads = _streams(items, state, config, outlook, scale, now)
    start = now
    if budget.blocked_until is not None:
        start = max(start, budget.blocked_until)
    if sends:
        start = max(start, sends[-1] + config.min_gap)
    horizon = start + window + 2 * config.cover_gap
    grid = int((horizon - start) / config.min_gap) + 1
    moments = sorted(
        {start}
        | {start + i * config.min_gap for i in range(grid)}
        | {c.due for c in fixed if start < c.due}
        | {r.ready for r in reads if start < r.ready}
        | set(slot_release_times(sends, start, window))
    )
    build = partial(_build, items=items, outlook=outlook, state=state, config=config, now=now)
    last = sends[-1] if sends else None
    bank = _bank(config, limit)
    for at in moments:
        free = free_slots(sends, at, limit, window)
        if free <= 0:
            continue
        # Reads keep to the pace the window sustains (never a burst and then a stall),
        # stretched so that about ``bank`` slots stay idle; a source around a webcast start
        # (CRITICAL) or a stale regular read may go at the unstretched pace and spend them.
        pace = _pace(sends, at, free, window) if last is not None else timedelta(0)
        since = at - last if last is not None else HOUR
        paced = since >= pace * (limit / (limit - bank))
        due = [c for c in fixed if c.due <= at and (paced or c.baseline)]
        urgent = [
            (u, r)
            for r in reads
            if (u := _urgency(r, outlook, config, scale, now, at)) >= 1.0
            and (
                paced
                or (
                    since >= pace * 0.75
                    and free > 2
                    and (r.stale_at <= at or _tier_at(outlook, r.source, now, at) is Tier.CRITICAL)
                )
            )
        ]
        if not due and not urgent:
            continue
        queries = _batch(due, urgent, partial(build, at=at), outlook, free, limit, now, at)
        if queries:
            earliest = min([c.due for c in due] + [at])
            reason = ", ".join(q.label for q in queries)
            if at > max(earliest, start) and due:
                reason += " (waited for the budget)"
            return Plan(at, tuple(queries), cadence, reason)
    # Unreachable with a positive limit (once every slot is free the oldest query fits);
    # plan an empty wake-up rather than loop.
    return Plan(moments[-1] + window, (), cadence, "nothing fits the budget")
