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

Heat (:mod:`bot.core.planner.heat`)
    A source's tier is its hottest item's: CRITICAL within ``critical_margin`` (3 min) of an
    announced webcast start_time, TIGHT when the date is 2 h to -10 min away (where webcasts
    typically go live and holds happen), WARM elsewhere in the ``[now - 3 h, now + 3 h]`` hot
    window, else COLD. One windowed query per hot source covers every hot item's date plus the
    whole hot window, so an item LL2 moved into the window is read too, and then reads on as
    far as one page holds (80 known items, at most 30 days): a page costs one request however
    wide its window, so every hot poll also catches date moves and updates of the next items.

Scheduling (work-conserving, by urgency)
    Each source has a read stream (a window read when it covers every item, else an
    incremental read plus a window-only hot stream). Its urgency at ``t`` is the time since its
    last read over its desired gap: ``tight_gap`` while a window read's source is TIGHT,
    ``cover_gap`` otherwise, twice that for a window-only stream while only WARM (all scaled
    down with a bigger budget). Whenever the pace allows, the most urgent overdue stream goes
    (one read a cycle). Baselines, full refreshes (held back while TIGHT/CRITICAL, at most
    half their period) and the event types go first when due.

Announced webcast starts (held-back slots)
    Around an announced start_time the planner reads the item's source at set moments: every
    ``critical_gap`` (2 min) from ``critical_margin`` after the start back to as long before
    it. These moments are known up to an hour ahead, so paced reads leave slots for them: the
    pace is computed with those reads counted in, and when one comes due it goes at once.
    A window read of the source just before one of them, and a window-only stream's reads
    while there are any, are left to them. Slots are set aside only while the paced reads can
    still read every source within ``starve_after`` cover gaps (at most ``limit - reserve``
    in all), so a crowd of announced webcasts stretches the other reads but never starves
    them; a regular read ``stale_after`` cover gaps late goes first, at once, whenever that
    takes no held-back slot and leaves the other sources their deadline.

Lookouts (armed reminders)
    A :class:`Lookout` asks for a read of one source ``lookout_lead`` (75 s) before a moment,
    reaching the lookout's date, unless the source was read less than ``lookout_fresh`` (3 min)
    before the moment anyway. The reminder job passes one per armed reminder, so a slip
    published a few minutes before a reminder moves it instead of making a wrong one. Two ways
    serve a lookout: a paced read that falls in its fresh span goes to its source (the budget's
    own cadence, costing nothing extra), and a held-back slot exactly like an announced
    webcast start's (the same cap, the same starvation guard), so lookouts never take the
    budget over and never starve the regular reads. When neither is possible (a crowd of
    reminders, or a window spent to its last slot), the reminder uses the last snapshot.

Pacing
    Paced reads keep to the pace the sliding window sustains: the send after the ``c`` that
    fit before a slot's release must wait for it. So a busy stretch never bursts and then
    stalls, a quiet hour spends its whole budget, and the slots set aside stay free.
    ``RequestBudget`` stays the hard limit at send time, and the next plan sees the real
    send times.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from bot.core.planner.budget import (
    HOUR,
    budget_slots,
    free_slots,
    slot_release_times,
    slots_free_at,
)
from bot.core.planner.heat import hot_items, watch_points
from bot.core.planner.types import (
    BudgetState,
    Cadence,
    Lookout,
    Plan,
    PlannerConfig,
    PollState,
    Query,
    QueryKind,
    Stream,
    Tier,
)
from bot.core.planner.window import (
    STEP,
    Outlook,
    covers_source,
    forecast,
    hot_window,
    upcoming_pages,
    window_pages,
)
from bot.core.snapshot import Snapshot, Source

__all__ = [
    "BudgetState",
    "Cadence",
    "Lookout",
    "Plan",
    "PlannerConfig",
    "PollState",
    "Query",
    "QueryKind",
    "Tier",
    "budget_slots",
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


def _gap_for(tier: Tier, config: PlannerConfig, scale: float, windowed: bool) -> timedelta:
    """A stream's desired gap at a tier, scaled with the budget.

    A window read (``windowed``) re-reads the hot items, so it speeds up while its source is
    CRITICAL or TIGHT; an incremental read cannot see what it is hurried for (a webcast flip
    need not bump ``last_updated``), so it keeps ``cover_gap``. A window-only stream (a source
    too big for one page, whose regular read is the incremental one) rests while COLD.
    """
    if windowed and tier is Tier.CRITICAL:
        return max(config.min_gap, config.critical_gap * scale)
    if windowed and tier is Tier.TIGHT:
        return max(config.min_gap, config.tight_gap * scale)
    return max(2 * config.min_gap, config.cover_gap * scale)


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
        cover_gap = _gap_for(Tier.COLD, config, scale, windowed=False)
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
                _Read(
                    source,
                    base,
                    max(ready, base),
                    False,
                    True,
                    base + cover_gap * config.stale_after,
                )
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
        reads.append(
            _Read(source, regular, ready, False, False, regular + cover_gap * config.stale_after)
        )
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
    tier = _tier_at(outlook, read.source, now, at)
    if read.hot and tier is Tier.COLD:
        return 0.0
    gap = _gap_for(tier, config, scale, read.hot or read.covers)
    if read.hot and tier is Tier.WARM:
        # A window-only read while nothing is near (no date within 2 h, no announced start)
        # is a spare look: it must not take a third of the budget from the regular reads.
        gap *= 2
    return (at - read.base) / gap


def _read_kind(
    read: _Read, outlook: Outlook, now: datetime, at: datetime, looking: bool = False
) -> QueryKind:
    if read.hot or (read.covers and looking):
        # A lookout wants its item re-read whatever its last_updated says: a window read.
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
    lookouts: Sequence[Lookout] = (),
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
    # The window reaches the date of every lookout of the source still ahead, so the read
    # that serves a reminder reads its item.
    also = [lk.date for lk in lookouts if lk.source is source and at <= lk.moment]
    start, end = hot_window(hot, at, config, known, also)
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
    looking: frozenset[Source] = frozenset(),
) -> list[Query]:
    """What to send at ``at`` with ``free`` slots: fixed queries due first (oldest first; one
    that does not fit makes the rest wait), then the overdue reads, most urgent first.
    ``looking``: the sources a lookout's held-back read is for now (read through a window)."""
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
        kind = _read_kind(stream, outlook, now, at, stream.source in looking)
        query = build((kind, stream.source))
        cost = min(query.cost, limit)
        if used + cost <= free:
            # One read a cycle: the pace holds for one send at a time.
            return [*chosen, query]
    return chosen


def _cadence(outlook: Outlook, config: PlannerConfig, scale: float, held_back: int) -> Cadence:
    tiers = dict(outlook.timeline[0])
    hot_gap = {
        source: _gap_for(tier, config, scale, windowed=True)
        for source, tier in tiers.items()
        if tier > Tier.COLD
    }
    cover = _gap_for(Tier.COLD, config, scale, windowed=False)
    return Cadence(tiers, hot_gap, cover, held_back)


# Urgency of a paced read that serves a lookout: above any overdue read's (a stale regular
# read still goes first: see _batch).
_LOOKOUT_URGENCY = 1e6


def _windowed_base(reads: Sequence[_Read], source: Source) -> datetime:
    """The last read of a source's window-reading stream (every source has one)."""
    return max(r.base for r in reads if r.source is source and (r.hot or r.covers))


def _held_back(
    reads: Sequence[_Read],
    outlook: Outlook,
    config: PlannerConfig,
    scale: float,
    limit: int,
    sends: Sequence[datetime],
    free: int,
    window: timedelta,
    now: datetime,
    at: datetime,
    lookouts: Sequence[Lookout] = (),
) -> list[tuple[datetime, Source]]:
    """The reads the next hour's announced webcast starts and lookouts want from ``at`` on
    (the starts' :func:`~bot.core.planner.heat.watch_points` and each lookout's read
    ``lookout_lead`` before its moment, per window-reading stream, skipping those a read has
    covered since): the slots paced reads leave for them.

    They are known ahead, so slots are set aside for them instead of idling a fixed bank all
    day. A watch point passed unread is due at ``at``. The latest are dropped while paced
    reads could not keep every source from starving, and at most ``limit - reserve`` are set
    aside at all.
    """
    gap = _gap_for(Tier.CRITICAL, config, scale, windowed=True)
    held: set[tuple[datetime, Source]] = set()
    for read in reads:
        if not (read.hot or read.covers):
            continue
        # (due, earliest): a read at or after ``earliest`` serves the point; it is due at ``due``.
        points = [
            (p, p - config.min_gap)
            for item in outlook.shortlist
            if item.source is read.source
            for p in watch_points(item, gap, config)
            if at - gap < p <= now + HOUR
        ] + [
            (lk.moment - config.lookout_lead, lk.moment - config.lookout_fresh)
            for lk in lookouts
            # Once its moment has come, a read can no longer help the reminder.
            if lk.source is read.source and at < lk.moment <= now + HOUR
        ]
        last = read.base
        for point, earliest in sorted(points):
            if last >= earliest:
                continue  # read since (or another point just before)
            moment = max(point, at)  # a point passed unread is due now
            held.add((moment, read.source))
            last = moment
    ordered = sorted(held)[: max(0, limit - config.reserve)]
    # Held-back reads may keep a regular read waiting until it starves, not longer.
    deadline = _deadline(reads, at, config, scale)
    while ordered and not _affordable(
        sends, at, free, window, [m for m, _ in ordered], deadline, config, scale
    ):
        ordered.pop()
    return ordered


def _deadline(
    reads: Iterable[_Read], at: datetime, config: PlannerConfig, scale: float
) -> datetime:
    """When the first of these regular reads starves (held-back reads may delay it until then)."""
    base = min((r.base for r in reads if not r.hot), default=at + HOUR)
    return max(at, base + _starved(config, scale))


def _may_hurry(
    read: _Read,
    reads: Sequence[_Read],
    sends: Sequence[datetime],
    at: datetime,
    free: int,
    window: timedelta,
    config: PlannerConfig,
    scale: float,
) -> bool:
    """Whether a stale regular read may go now, out of pace (the caller checks that it takes no
    held-back slot): only if the other sources' regular reads still fit before they starve."""
    others = [r for r in reads if r.source is not read.source]
    deadline = _deadline(others, at, config, scale)
    return _affordable(sends, at, free, window, [at], deadline, config, scale)


def _affordable(
    sends: Sequence[datetime],
    at: datetime,
    free: int,
    window: timedelta,
    held: Sequence[datetime],
    deadline: datetime,
    config: PlannerConfig,
    scale: float,
) -> bool:
    """Whether, with slots set aside for ``held``, paced reads still keep every source from
    starving: the next one fits by the ``deadline`` (the first regular read to starve), and
    at the pace left each source, read in turn, is read within :func:`_starved`."""
    paced = _pace(sends, at, free, window, held)
    return (
        paced is not None
        and paced[0] <= deadline
        and paced[1] * len(Source) <= _starved(config, scale)
    )


def _starved(config: PlannerConfig, scale: float) -> timedelta:
    """How long a source may go unread while held-back reads keep it waiting."""
    return _gap_for(Tier.COLD, config, scale, windowed=False) * config.starve_after


def _pace(
    sends: Sequence[datetime],
    at: datetime,
    free: int,
    window: timedelta,
    held_back: Sequence[datetime] = (),
) -> tuple[datetime, timedelta] | None:
    """When the next paced send may go, and the spacing at which paced sends never run out of
    slots nor take one a ``held_back`` read needs; None when none fits within the window.

    ``capacity(x)`` is what is free at ``x`` for paced sends: the ``free`` slots, plus the
    releases, less the held-back reads, up to ``x``. A send at ``t`` keeps its slot for the
    whole window, so it fits only if capacity stays >= 1 from ``t`` on: the suffix minimum
    ``m(t)``. The first paced send goes at the first moment with ``m >= 1``; after it, no more
    than ``m`` sends may have gone before ``m`` rises at a release ``x``, so no gap may be
    shorter than ``(x - first) / m``. Spending at that rate keeps a busy stretch from bursting
    and then stalling, spends a free window fast, and leaves the held-back reads their slots.
    """
    marks = sorted(
        [(release, 1) for release in slot_release_times(sends, at, window)]
        + [(moment, -1) for moment in held_back if moment > at],
        key=lambda mark: (mark[0], -mark[1]),
    )
    moments = [at] + [moment for moment, _ in marks]
    capacity = [free - sum(1 for moment in held_back if moment <= at)]
    for _, delta in marks:
        capacity.append(capacity[-1] + delta)
    lowest = capacity[:]  # suffix minimum
    for i in range(len(lowest) - 2, -1, -1):
        lowest[i] = min(lowest[i], lowest[i + 1])
    start = next((i for i, low in enumerate(lowest) if low >= 1), None)
    if start is None:
        return None
    first = moments[start]
    pace = window / max(capacity[-1], 1)
    for i in range(start + 1, len(moments)):
        if lowest[i] > lowest[i - 1]:
            pace = max(pace, (moments[i] - first) / lowest[i - 1])
    return first, pace


def plan_next_poll(
    snapshots: Iterable[Snapshot],
    budget: BudgetState,
    state: PollState,
    config: PlannerConfig,
    now: datetime,
    lookouts: Iterable[Lookout] = (),
) -> Plan:
    """Plan the next poll: the earliest moment a free slot meets an overdue stream.

    ``lookouts`` are moments that want fresh data (the armed reminders; see the module
    docstring): each gets a held-back read shortly before it when the budget allows.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    items = tuple(snapshots)
    looks = tuple(lookouts)
    limit = budget.limit
    window = HOUR + config.budget_margin
    sends = sorted(budget.send_times)
    outlook = forecast(items, config, now)
    scale = min(1.0, config.reference_limit / max(limit, 1))
    if limit <= 0:
        # The server granted nothing (RequestBudget behaves the same): look again in a window.
        return Plan(now + window, (), _cadence(outlook, config, scale, 0), "no request budget")
    fixed, reads = _streams(items, state, config, outlook, scale, now)
    critical_gap = _gap_for(Tier.CRITICAL, config, scale, windowed=True)
    free_now = free_slots(sends, now, limit, window)
    held_now = _held_back(
        reads, outlook, config, scale, limit, sends, free_now, window, now, now, looks
    )
    cadence = _cadence(outlook, config, scale, len(held_now))
    start = now
    if budget.blocked_until is not None:
        start = max(start, budget.blocked_until)
    if sends:
        start = max(start, sends[-1] + config.min_gap)
    horizon = start + window + 2 * config.cover_gap
    grid = int((horizon - start) / config.min_gap) + 1
    moments = list(
        {start}
        | {start + i * config.min_gap for i in range(grid)}
        | {c.due for c in fixed if start < c.due}
        | {r.ready for r in reads if start < r.ready}
        | set(slot_release_times(sends, start, window))
    )
    build = partial(
        _build, items=items, outlook=outlook, state=state, config=config, now=now, lookouts=looks
    )
    last = sends[-1] if sends else None
    heapq.heapify(moments)
    tried: set[datetime] = set()
    while moments:
        at = heapq.heappop(moments)
        if at in tried:
            continue
        tried.add(at)
        free = free_slots(sends, at, limit, window)
        if free <= 0:
            continue
        since = at - last if last is not None else HOUR
        held = _held_back(reads, outlook, config, scale, limit, sends, free, window, now, at, looks)
        # Paced reads (and the fixed queries) keep to the sustainable pace and leave the
        # held-back slots alone. A CRITICAL read a slot was set aside for goes at once, and so
        # may a regular read gone stale (it then goes first) as long as no held-back read
        # loses its slot: hot reads may stretch the other source's reads, never starve them.
        paced = _pace(sends, at, free, window, [m for m, _ in held])
        in_pace = paced is not None and paced[0] == at and (last is None or since >= paced[1])
        rushing = {source for moment, source in held if moment == at}
        # A paced read that falls in a lookout's fresh span goes to the lookout's source when
        # no read has served the lookout yet: the budget's own cadence serves most lookouts,
        # the held-back slot the rest (when the guard allows one).
        spanning = (
            {
                lk.source
                for lk in looks
                if lk.moment - config.lookout_fresh <= at < lk.moment - config.min_gap
                and _windowed_base(reads, lk.source) < lk.moment - config.lookout_fresh
            }
            if in_pace
            else set()
        )
        # A window read just before a held-back read of the same source would be wasted; and
        # a window-only stream leaves its source's reads to the held-back ones altogether
        # while there are any (its paced reads then go to the regular reads they protect).
        watched = {source for _, source in held}
        imminent = {source for moment, source in held if at < moment <= at + critical_gap}
        if paced is not None and not in_pace and last is not None:
            # The grid is coarse: try the very moment the pace allows, too (within the
            # horizon, so the search always ends).
            allowed = max(paced[0], last + paced[1])
            if at < allowed <= horizon:
                heapq.heappush(moments, allowed)
        due = [c for c in fixed if c.due <= at and (in_pace or c.baseline)]
        urgent: list[tuple[float, _Read]] = []
        for r in reads:
            u = _urgency(r, outlook, config, scale, now, at)
            windowed = r.hot or r.covers
            if (
                windowed
                and r.source not in rushing
                and r.source not in spanning
                and (r.source in imminent or (r.hot and r.source in watched))
            ):
                continue
            if windowed and r.source in spanning and r.source not in rushing:
                urgent.append((_LOOKOUT_URGENCY, r))
                continue
            if (windowed and r.source in rushing) or (
                u >= 1.0
                and (
                    in_pace
                    or (
                        r.stale_at <= at
                        and paced is not None
                        and paced[0] == at
                        and _may_hurry(r, reads, sends, at, free, window, config, scale)
                    )
                )
            ):
                urgent.append((u, r))
        if not due and not urgent:
            continue
        looking = frozenset(rushing | spanning) if looks else frozenset()
        queries = _batch(due, urgent, partial(build, at=at), outlook, free, limit, now, at, looking)
        if queries:
            earliest = min([c.due for c in due] + [at])
            reason = ", ".join(q.label for q in queries)
            if at > max(earliest, start) and due:
                reason += " (waited for the budget)"
            return Plan(at, tuple(queries), cadence, reason)
    # Unreachable with a positive limit (once every slot is free the oldest query fits);
    # plan an empty wake-up rather than loop.
    return Plan(horizon + window, (), cadence, "nothing fits the budget")
