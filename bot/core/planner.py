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

Budget split, per sliding hour of ``limit`` requests
    - Overhead: full refreshes and event types, amortised (about 1 request/h at defaults), and
      a slack of 1 (5 % with a key) so jitter and page estimates do not turn into waits.
    - Reserve: ``reserve`` (2) requests a sliding hour that hot polling may not plan for; they
      go to the incremental query, at least ``max(reserve, 1)`` an hour (each source hourly at
      15/h). The reserve is sized for the 15/h reference and grows in proportion with a key.
    - Hot polling gets the rest. Each tier asks for a gap (60 s / 120 s / 360 s); the demand is
      those gaps integrated over the next hour's tier timeline. When it exceeds what is free,
      every gap is stretched by one *pressure* factor, so the polls fit yet stay weighted towards
      the likely moments, and a coming TIGHT phase slows the WARM polls before it. Pressure is
      checked at 15/30/45/60 min ahead against the slots free by then (free now plus the sends
      that expire), so a window crowded by recent sends is not overspent and then stalls in the
      minutes that matter. A bigger budget shrinks the gaps in proportion, down to ``min_gap``.
    - Quiet (nothing hot within the hour): incremental queries get everything but the reserve,
      which stays idle as headroom (multi-page refreshes, an item moving into the window): at
      15/h one query about every 5 min, alternating sources.

Coverage (each source's regular read)
    No source goes unread longer than ``cover_gap`` (8 min at 15/h: the two sources read in
    turn at the full budget). When every known item of a source fits one page, the window read
    stretches to cover all of /upcoming/ (the last 24 h to the end) and counts as the source's
    incremental read too; a hot source's regular read is then that window read. Hot polls
    beyond that get only what the coverage leaves (at 15/h: little).

Scheduling
    A stream is due at its last success plus its gap (a full refresh also counts as the
    source's incremental and hot poll; a failed attempt waits ``min(gap, interval)``). A hot
    stream follows the hour's tier timeline, so an item entering the window or a webcast start
    drawing near wakes the planner on time. The plan's time is the earliest moment, not before
    ``now``, the last send plus ``min_gap`` or a 429 block, at which something due fits the
    sliding window (:mod:`bot.core.planner_budget`); what falls due within ``min_gap`` after it
    rides along. Background queries go first, oldest due first; one that does not fit makes the
    rest wait behind it. A hot query takes a slot only if every background query due within the
    window still fits on time afterwards: a crowd of hot items can delay no incremental query.
    Full refreshes wait while a source is TIGHT or CRITICAL (at most half their period) so their
    pages do not pause hot polling. Pages are estimates: ``RequestBudget`` stays the hard limit
    at send time, and the next plan sees the real send times.

At 15/h a 2 min hot cadence for hours is out of reach (it needs 30/h): the ~12 hot requests of
each hour are spread evenly, weighted by tier (about every 5 min for one TIGHT item). With a
key (e.g. 300/h) the same rules give 15-20 s hot polls and incremental polls every 30 s.
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
    Outlook,
    covers_source,
    forecast,
    hot_due,
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

_KIND_ORDER = {k: i for i, k in enumerate(QueryKind)}


@dataclass(frozen=True)
class _Candidate:
    stream: Stream
    due: datetime
    baseline: bool = False
    tier: Tier = Tier.COLD  # > COLD marks a hot query
    cover: bool = False  # reads every item of its source (counts as its regular read)
    regular: bool = False  # the source's regular read

    @property
    def hot(self) -> bool:
        return self.tier > Tier.COLD


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


def _candidates(
    items: Sequence[Snapshot],
    state: PollState,
    config: PlannerConfig,
    outlook: Outlook,
    now: datetime,
) -> list[_Candidate]:
    cadence = outlook.cadence
    out: list[_Candidate] = []
    regular: list[tuple[datetime, Source, QueryKind]] = []  # sources with a baseline
    for source in Source:
        last_full = state.last_full_refresh.get(source)
        stream: Stream = (QueryKind.FULL_UPCOMING, source)
        if last_full is None:
            due = _after_failure(state, stream, last_full, now, config.interval, config)
            out.append(_Candidate(stream, due, baseline=True, cover=True))
            continue
        due = _after_failure(
            state,
            stream,
            last_full,
            last_full + config.full_refresh_every,
            config.full_refresh_every,
            config,
        )
        busy = max(cadence.tiers.values()) >= Tier.TIGHT
        if not (busy and now < due + config.full_refresh_every / 2):
            out.append(_Candidate(stream, due, cover=True))
        covers = _covers(items, outlook, config, source, now)
        last_hot = state.last_hot.get(source)
        hot = hot_due(outlook, source, _latest(last_hot, last_full), now)
        if hot is not None:
            due, tier = hot
            stream = (QueryKind.HOT_WINDOW, source)
            gap = outlook.gaps[tier]
            due = _after_failure(state, stream, last_hot, due, gap, config)
            out.append(_Candidate(stream, due, tier=tier, cover=covers))
        # The source's regular read: the window read when it covers every item and the source
        # is hot now (it also re-reads the hot items), else the incremental query.
        base = _latest(state.last_incremental.get(source), last_full)
        kind = QueryKind.INCREMENTAL
        if covers:
            base = _latest(base, last_hot)
            if cadence.tiers[source] > Tier.COLD:
                kind = QueryKind.HOT_WINDOW
        assert base is not None
        regular.append((base, source, kind))
    out.extend(_regular_candidates(regular, state, config, cadence.incremental_gap))
    stream = (QueryKind.EVENT_TYPES, None)
    last = state.last_event_types
    due = now if last is None else last + config.event_types_every
    due = _after_failure(state, stream, last, due, config.event_types_every, config)
    out.append(_Candidate(stream, due))
    return out


def _regular_candidates(
    bases: Sequence[tuple[datetime, Source, QueryKind]],
    state: PollState,
    config: PlannerConfig,
    gap: timedelta,
) -> list[_Candidate]:
    """Each source's regular read, staggered so sources alternate instead of polling in pairs."""
    order = sorted(bases, key=lambda b: (b[0], list(Source).index(b[1])))
    out: list[_Candidate] = []
    # Stalest source first, one turn every gap / 2, and no source waits longer than gap.
    turn = max((base for base, _, _ in order), default=None)
    for base, source, kind in order:
        assert turn is not None
        due = min(base + gap, turn + gap / 2)
        turn = due
        stream: Stream = (kind, source)
        success = (
            state.last_incremental.get(source)
            if kind is QueryKind.INCREMENTAL
            else state.last_hot.get(source)
        )
        due = _after_failure(state, stream, success, due, gap, config)
        out.append(_Candidate(stream, due, cover=kind is QueryKind.HOT_WINDOW, regular=True))
    return out


def _build(
    candidate: _Candidate,
    items: Sequence[Snapshot],
    outlook: Outlook,
    state: PollState,
    config: PlannerConfig,
    now: datetime,
    at: datetime,
) -> Query:
    kind, source = candidate.stream
    if source is None:
        return Query(kind)
    if kind is QueryKind.FULL_UPCOMING:
        return Query(kind, source, pages=upcoming_pages(items, source, at))
    if kind is QueryKind.INCREMENTAL:
        since = _latest(state.last_incremental.get(source), state.last_full_refresh.get(source))
        return Query(kind, source, since=since)
    # Items hot now, or by the time this query was due (it may ride along a little early).
    mine = [i for i in outlook.shortlist if i.source is source]
    hot = hot_items(mine, now, config) + hot_items(mine, max(at, candidate.due), config)
    known = [i for i in items if i.source is source]
    start, end = hot_window(hot, at, config, known)
    return Query(kind, source, start=start, end=end, pages=window_pages(items, source, start, end))


@dataclass(frozen=True)
class _Slots:
    """The sliding window at one moment of planning."""

    sends: Sequence[datetime]
    at: datetime
    limit: int
    window: timedelta

    def free(self) -> int:
        """Free slots at ``at``."""
        return free_slots(self.sends, self.at, self.limit, self.window)

    def background_keeps_room(self, extra: int, later: Sequence[tuple[datetime, int]]) -> bool:
        """Whether ``extra`` sends now leave every background query due within the window
        fitting on time, as far as it would have fitted without them."""
        with_extra = [*self.sends, *[self.at] * extra]
        without = list(self.sends)
        for due, cost in sorted(later):
            if due >= self.at + self.window:
                break
            fits = free_slots(with_extra, due, self.limit, self.window) >= cost
            would_fit = free_slots(without, due, self.limit, self.window) >= cost
            if would_fit and not fits:
                return False
            if fits:
                with_extra.extend([due] * cost)
            if would_fit:
                without.extend([due] * cost)
        return True


def _batch(
    due: Sequence[_Candidate],
    later: Sequence[_Candidate],
    build: Callable[[_Candidate], Query],
    slots: _Slots,
) -> list[Query]:
    """The queries that fit at one moment: background first, then hot where it harms none.

    Hot polling never takes a slot that a background query (due now or within the window)
    would need: that is what keeps a crowd of hot items from starving the incremental query.
    """
    background = sorted(
        (c for c in due if not c.hot),
        key=lambda c: (not c.baseline, c.due, _KIND_ORDER[c.stream[0]]),
    )
    free = slots.free()
    chosen: list[Query] = []
    read: set[Source | None] = set()  # sources whose every item a chosen query reads
    used = blocked = 0
    for candidate in background:
        if candidate.stream[1] in read and candidate.stream[0] is not QueryKind.EVENT_TYPES:
            continue  # a full or covering read in this batch reads everything it would
        query = build(candidate)
        cost = min(query.cost, slots.limit)
        if used + cost > free:
            blocked = cost  # first come, first served: the rest wait behind it
            break
        chosen.append(query)
        used += cost
        if candidate.cover or query.kind is QueryKind.HOT_WINDOW:
            read.add(query.source)
    pending = [c for c in later if not c.hot]
    for candidate in sorted((c for c in due if c.hot), key=lambda c: (-c.tier, c.due)):
        source = candidate.stream[1]
        if source in read:
            continue  # this batch already reads the hot items
        query = build(candidate)
        cost = min(query.cost, slots.limit)
        # A covering hot read is also the source's regular read: that one need not fit too.
        upcoming = [
            (c.due, min(build(c).cost, slots.limit))
            for c in pending
            if not (candidate.cover and c.regular and c.stream[1] == source)
        ]
        if used + cost + blocked <= free and slots.background_keeps_room(used + cost, upcoming):
            chosen.append(query)
            used += cost
            read.add(source)
    return chosen


def plan_next_poll(
    snapshots: Iterable[Snapshot],
    budget: BudgetState,
    state: PollState,
    config: PlannerConfig,
    now: datetime,
) -> Plan:
    """Plan the next poll: the earliest moment something due fits the budget, and what then."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    items = tuple(snapshots)
    limit = budget.limit
    window = HOUR + config.budget_margin
    sends = sorted(budget.send_times)
    outlook = forecast(items, max(limit, 1), config, now, sends)
    cadence = outlook.cadence
    candidates = _candidates(items, state, config, outlook, now)

    start = now
    if limit <= 0:
        # The server granted nothing (RequestBudget behaves the same): look again in a window.
        return Plan(now + window, (), cadence, "no request budget")
    if budget.blocked_until is not None:
        start = max(start, budget.blocked_until)
    if sends:
        start = max(start, sends[-1] + config.min_gap)
    moments = sorted(
        {start}
        | {c.due for c in candidates if c.due > start}
        | set(slot_release_times(sends, start, window))
    )
    for at in moments:
        # Something must be due; what falls due within min_gap rides along (it would have to
        # wait that long after this cycle anyway).
        due = [c for c in candidates if c.due <= at + config.min_gap]
        if not any(c.due <= at for c in due):
            continue
        build = partial(
            _build, items=items, outlook=outlook, state=state, config=config, now=now, at=at
        )
        later = [c for c in candidates if c.due > at + config.min_gap]
        queries = _batch(due, later, build, _Slots(sends, at, limit, window))
        if queries:
            return Plan(at, tuple(queries), cadence, _reason(queries, due, start, at))
    # Unreachable with a positive limit (once every slot is free the oldest query fits);
    # plan an empty wake-up rather than loop.
    return Plan(moments[-1] + window, (), cadence, "nothing fits the budget")


def _reason(
    queries: Sequence[Query], due: Sequence[_Candidate], start: datetime, at: datetime
) -> str:
    labels = ", ".join(q.label for q in queries)
    earliest = min(c.due for c in due)
    return f"{labels} (waited for the budget)" if at > max(earliest, start) else labels
