"""The poll planner: budget arithmetic, heat, cadence and the never-over-budget guarantee."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.planner.budget import HOUR
from bot.core.planner.heat import item_tier, watch_points
from bot.core.planner.plan import (
    BudgetState,
    Plan,
    PlannerConfig,
    PollState,
    Query,
    QueryKind,
    Tier,
    budget_slots,
    plan_next_poll,
    slots_free_at,
)
from bot.core.snapshot import Snapshot, Source, WebcastRef
from tests.core.planner.support import T0, Run, item, settled, simulate

CONFIG = PlannerConfig()
MARGIN = CONFIG.budget_margin
MIN = timedelta(minutes=1)


def plan(
    items: list[Snapshot],
    state: PollState,
    *,
    limit: int = 15,
    sends: tuple[datetime, ...] = (),
    now: datetime = T0,
    blocked_until: datetime | None = None,
) -> Plan:
    return plan_next_poll(items, BudgetState(limit, sends, blocked_until), state, CONFIG, now)


def gaps(times: list[datetime]) -> list[timedelta]:
    return [b - a for a, b in pairwise(times)]


def assert_watched(run: Run, source: Source, start_time: datetime) -> None:
    """At least 3 window reads of ``source`` within the critical margin of ``start_time``,
    one every critical gap (give or take a grid step)."""
    around = [
        t
        for t in run.times(QueryKind.HOT_WINDOW, source)
        if start_time - CONFIG.critical_margin <= t <= start_time + CONFIG.critical_margin
    ]
    assert len(around) >= 3
    assert max(gaps(around)) <= CONFIG.critical_gap + CONFIG.min_gap


# -- budget arithmetic ---------------------------------------------------------------------


def test_budget_slots_with_room_answers_now() -> None:
    """Free slots are counted and the next one is free at once."""
    assert budget_slots([T0 - 10 * MIN], T0, limit=3) == (2, T0)


def test_budget_slots_when_full_waits_for_the_oldest_send() -> None:
    """A full window frees its first slot one hour after its oldest send."""
    sends = [T0 - 50 * MIN, T0 - 20 * MIN]
    assert budget_slots(sends, T0, limit=2) == (0, T0 - 50 * MIN + HOUR)


def test_budget_slots_frees_a_slot_exactly_one_window_later() -> None:
    """A send stops counting at send + window, not a moment later."""
    assert budget_slots([T0 - HOUR], T0, limit=1) == (1, T0)


def test_slots_free_at_waits_for_enough_expiries() -> None:
    """Three slots out of a full window of four need the three oldest sends gone."""
    sends = [T0 - 40 * MIN, T0 - 30 * MIN, T0 - 20 * MIN, T0 - 10 * MIN]
    assert slots_free_at(sends, T0, limit=4, need=3) == T0 + 40 * MIN


# -- the first start and the quiet day ------------------------------------------------------


def test_first_run_reads_both_upcoming_lists_at_once() -> None:
    """Without a baseline, the plan is a full refresh of both sources, now."""
    first = plan([], PollState())
    assert first.at == T0
    kinds = {(q.kind, q.source) for q in first.queries}
    assert {
        (QueryKind.FULL_UPCOMING, Source.EVENT),
        (QueryKind.FULL_UPCOMING, Source.LAUNCH),
    } <= kinds
    assert not any(q.kind in (QueryKind.INCREMENTAL, QueryKind.HOT_WINDOW) for q in first.queries)


def test_quiet_day_spreads_incremental_queries_within_the_limit() -> None:
    """With nothing hot, incremental queries alternate sources evenly and stay within 15/h."""
    far = [item(Source.LAUNCH, i, T0 + timedelta(days=3 + i)) for i in range(20)]
    run = simulate(far, 15, timedelta(hours=24))
    assert run.max_in_any_hour() <= 15
    incremental = run.polls(QueryKind.INCREMENTAL)
    assert len(incremental) >= 24 * 14  # the whole budget, less full refreshes and types
    spacing = gaps([at for at, _ in incremental])
    assert sum(g < 3 * MIN for g in spacing) <= len(spacing) // 10
    sources = [q.source for _, q in incremental]
    assert sum(a is b for a, b in pairwise(sources)) <= len(sources) // 10


def test_overdue_work_is_planned_now_not_in_the_past() -> None:
    """Work overdue for hours is planned at ``now``, never earlier."""
    state = settled(T0 - timedelta(hours=5))
    assert plan([], state).at == T0


def test_incremental_reads_since_the_last_success() -> None:
    """The incremental query's ``since`` is the source's last successful read."""
    state = PollState(
        last_full_refresh=dict.fromkeys(Source, T0 - timedelta(hours=2)),
        last_incremental={Source.EVENT: T0 - 30 * MIN, Source.LAUNCH: T0 - 20 * MIN},
        last_event_types=T0,
    )
    first = plan([], state).queries[0]
    assert (first.kind, first.source, first.since) == (
        QueryKind.INCREMENTAL,
        Source.EVENT,
        T0 - 30 * MIN,
    )


# -- hot items -----------------------------------------------------------------------------


def test_item_90_minutes_out_is_read_through_a_hot_window() -> None:
    """An item 90 min out is TIGHT and one windowed query covers its date."""
    launch = item(Source.LAUNCH, 1, T0 + 90 * MIN)
    hot = plan([launch], settled(T0 - 30 * MIN))
    windows = [q for q in hot.queries if q.kind is QueryKind.HOT_WINDOW]
    assert [q.source for q in windows] == [Source.LAUNCH]
    start, end = windows[0].start, windows[0].end
    assert start is not None
    assert end is not None
    assert start <= T0 + 90 * MIN <= end
    assert hot.cadence.tiers[Source.LAUNCH] is Tier.TIGHT


def test_item_90_minutes_out_is_polled_faster_when_the_budget_allows() -> None:
    """With a budget that affords more (60/h), a TIGHT item is read every 1-3 min, and more
    often than the cold source (whose read, every 2 min at this budget, takes its share)."""
    launch = item(Source.LAUNCH, 1, T0 + 90 * MIN)
    run = simulate([launch], 60, timedelta(hours=1), state=settled(T0 - HOUR))
    hot = run.times(QueryKind.HOT_WINDOW, Source.LAUNCH)
    assert hot[0] == T0
    assert max(gaps(hot)) <= 3 * MIN
    assert len(hot) >= len(run.times(QueryKind.INCREMENTAL, Source.EVENT))
    assert run.max_in_any_hour() <= 60


def test_default_budget_spends_the_whole_budget_with_a_hot_item() -> None:
    """At 15/h with a TIGHT item the budget is spent, and neither source waits over 8 min
    (the hot source's window read, covering every item, is its regular read), apart from
    the odd squeeze when a full refresh or the event types take a slot."""
    launch = item(Source.LAUNCH, 1, T0 + 150 * MIN)
    run = simulate([launch], 15, timedelta(hours=2), state=settled(T0 - HOUR))
    second_hour = [t for t in run.sends if t >= T0 + HOUR]
    assert len(second_hour) >= 14
    hot = [t for t in run.times(QueryKind.HOT_WINDOW, Source.LAUNCH) if t >= T0 + HOUR]
    assert max(gaps(hot)) <= 15 * MIN
    events = [t for t in run.times(QueryKind.INCREMENTAL, Source.EVENT) if t >= T0 + HOUR]
    assert max(gaps(events)) <= 15 * MIN
    assert run.max_in_any_hour() <= 15


def test_webcast_start_in_two_minutes_tightens_the_cadence() -> None:
    """An announced webcast start 2 min away is CRITICAL and read 4 times as often as a WARM
    item; a bigger budget shortens the gap further."""
    event = item(Source.EVENT, 1, T0 + 150 * MIN, start_time=T0 + 2 * MIN)
    warm = item(Source.EVENT, 2, T0 + 150 * MIN)
    critical = plan([event], settled(T0 - HOUR))
    relaxed = plan([warm], settled(T0 - HOUR))
    assert critical.cadence.tiers[Source.EVENT] is Tier.CRITICAL
    assert relaxed.cadence.tiers[Source.EVENT] is Tier.WARM
    assert critical.cadence.hot_gap[Source.EVENT] <= 2 * MIN  # the naive poller: 8 min
    assert critical.cadence.hot_gap[Source.EVENT] * 4 <= relaxed.cadence.hot_gap[Source.EVENT]
    generous = plan([event], settled(T0 - HOUR), limit=60)
    assert generous.cadence.hot_gap[Source.EVENT] <= MIN


def test_slots_are_set_aside_for_an_announced_webcast_start() -> None:
    """With the window busy for hours, an announced start still gets a read every 2 min in
    the minutes before it: paced reads leave slots for it beforehand. The other source still
    waits at most about two cover gaps, and the budget is otherwise spent."""
    start_time = T0 + 40 * MIN
    event = item(Source.EVENT, 1, T0 + 90 * MIN, start_time=start_time)
    launches = [item(Source.LAUNCH, i, T0 + timedelta(days=2 + i)) for i in range(5)]
    begin = T0 - 2 * HOUR
    run = simulate([event, *launches], 15, 4 * HOUR, start=begin, state=settled(begin))
    assert run.max_in_any_hour() <= 15
    assert_watched(run, Source.EVENT, start_time)
    launch_reads = [t for kind in QueryKind for t in run.times(kind, Source.LAUNCH)]
    assert max(gaps(sorted([begin, *launch_reads]))) <= 2 * CONFIG.cover_gap
    # Slots set aside are spent around the start, not lost: 4 h use nearly 4 x 15.
    assert len(run.sends) >= 4 * 15 - 4


def test_watch_points_count_back_from_the_end_of_the_margin() -> None:
    """An announced start is read every 2 min from 3 min after it back to 3 min before it, so
    the last read closes the margin; only the first announced start counts; a live or
    finished item needs none."""
    event = item(Source.EVENT, 1, T0 + HOUR, start_time=T0)
    assert watch_points(event, 2 * MIN, CONFIG) == [T0 + k * MIN for k in (-3, -1, 1, 3)]
    two = event.model_copy(
        update={
            "webcasts": (
                WebcastRef(url="https://example.org/b", start_time=T0 + 5 * MIN, live=False),
                *event.webcasts,
            )
        }
    )
    assert watch_points(two, 2 * MIN, CONFIG) == watch_points(event, 2 * MIN, CONFIG)
    assert watch_points(item(Source.EVENT, 2, T0, start_time=T0, live=True), 2 * MIN, CONFIG) == []
    done = item(Source.LAUNCH, 3, T0, start_time=T0, status_id=3)
    assert watch_points(done, 2 * MIN, CONFIG) == []


def test_no_more_watch_reads_once_the_webcast_is_live() -> None:
    """Once a read finds the webcast live, the minutes left around its start are not read."""
    start_time = T0 + 10 * MIN
    waiting = item(Source.EVENT, 1, T0 + HOUR, start_time=start_time)
    live = item(Source.EVENT, 1, T0 + HOUR, start_time=start_time, live=True)
    state = settled(start_time - 2 * MIN)
    assert plan([waiting], state, now=start_time - MIN).cadence.held_back >= 2
    assert plan([live], state, now=start_time - MIN).cadence.held_back == 0


def test_hot_window_reaches_the_date_of_an_item_hot_by_its_webcast() -> None:
    """A webcast starting soon for an item dated beyond the hot window still gets read."""
    event = item(Source.EVENT, 1, T0 + 5 * HOUR, start_time=T0 + 10 * MIN)
    window = next(
        q for q in plan([event], settled(T0 - HOUR)).queries if q.kind is QueryKind.HOT_WINDOW
    )
    assert window.end is not None
    assert window.end >= T0 + 5 * HOUR


def test_hot_window_reads_ahead_as_far_as_one_page_holds() -> None:
    """The hot query's window runs on past the hot window to the 80th known item, one page."""
    hot = item(Source.LAUNCH, 0, T0 + 90 * MIN)
    ahead = [item(Source.LAUNCH, i, T0 + i * HOUR) for i in range(4, 200)]
    run = simulate([hot, *ahead], 15, 30 * MIN, state=settled(T0 - HOUR))
    _, window = run.polls(QueryKind.HOT_WINDOW, Source.LAUNCH)[0]
    assert window.end == T0 + (4 + 79 - 1) * HOUR  # 1 hot + 79 ahead: 80 known items
    assert window.pages == 1


@pytest.mark.parametrize(
    "snapshot",
    [
        item(Source.LAUNCH, 1, T0 + HOUR, precision_id=7),  # "NET June": no clock time
        item(Source.LAUNCH, 2, T0 - 10 * MIN, status_id=3),  # Success
        item(Source.LAUNCH, 3, T0 - 2 * HOUR),  # long past, nothing live
        item(Source.EVENT, 4, None),  # no date: the window query cannot read it
    ],
    ids=["coarse-date", "finished", "ended", "dateless"],
)
def test_items_that_cannot_change_soon_are_cold(snapshot: Snapshot) -> None:
    """Coarse, finished, ended and dateless items are not hot."""
    assert item_tier(snapshot, T0, CONFIG) is Tier.COLD


def test_live_webcast_keeps_an_item_warm_after_its_date() -> None:
    """An item whose webcast is still live two hours after its date stays in the hot window."""
    assert item_tier(item(Source.EVENT, 1, T0 - 2 * HOUR, live=True), T0, CONFIG) is Tier.WARM


def test_hot_window_onset_wakes_the_planner() -> None:
    """The first hot poll comes within one paced slot (15/h: about 5 min) of an item entering
    the window."""
    onset = T0 + 20 * MIN
    launch = item(Source.LAUNCH, 1, onset + CONFIG.hot_window_before)
    run = simulate([launch], 15, HOUR, state=settled(T0 - HOUR))
    first_hot = run.times(QueryKind.HOT_WINDOW)[0]
    assert onset <= first_hot <= onset + 6 * MIN


def test_a_crowd_of_hot_items_never_starves_the_incremental_query() -> None:
    """Twenty hot items across both sources still leave each source read regularly (a window
    read covering every item of its source counts as its incremental)."""
    crowd = [
        item(source, i, T0 + (20 + 9 * i) * MIN, start_time=T0 + (5 + 9 * i) * MIN)
        for i, source in enumerate([Source.EVENT, Source.LAUNCH] * 10)
    ]
    run = simulate(crowd, 15, timedelta(hours=4), state=settled(T0 - 10 * MIN))
    assert len(run.times(QueryKind.HOT_WINDOW)) >= 30
    for source in Source:
        reads = [t for kind in QueryKind for t in run.times(kind, source)]
        times = sorted([T0 - 10 * MIN, *reads, T0 + 4 * HOUR])
        assert max(gaps(times)) <= 2 * CONFIG.cover_gap + CONFIG.min_gap
    assert run.max_in_any_hour() <= 15


# -- the guarantee --------------------------------------------------------------------------

_offsets = st.integers(min_value=-6 * 60, max_value=30 * 60)
_items = st.lists(
    st.builds(
        lambda source, ident, offset, start, live, precision, status: item(
            source,
            ident,
            T0 + timedelta(minutes=offset),
            start_time=None if start is None else T0 + timedelta(minutes=offset - start),
            live=live,
            precision_id=precision,
            status_id=status,
        ),
        st.sampled_from(Source),
        st.integers(min_value=1, max_value=10**6),
        _offsets,
        st.none() | st.integers(min_value=-30, max_value=180),
        st.booleans(),
        st.sampled_from([None, 0, 1, 2, 5, 7]),
        st.sampled_from([None, 1, 3, 6]),
    ),
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=_items, limit=st.sampled_from([1, 2, 3, 5, 15, 40]))
def test_a_day_of_planning_never_exceeds_the_limit(items: list[Snapshot], limit: int) -> None:
    """24 h of plans: every sliding hour stays within the limit and every plan moves on."""
    run = simulate(items, limit, timedelta(hours=24))  # checks progress and budget each step
    assert run.max_in_any_hour() <= limit
    # Regular reads never starve: a window read that covers the whole upcoming list stands in
    # for the incremental query, so count every kind that re-reads a source.
    regular = (QueryKind.INCREMENTAL, QueryKind.HOT_WINDOW, QueryKind.FULL_UPCOMING)
    assert sum(len(run.times(kind)) for kind in regular) >= 24 // 2


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=_items, limit=st.sampled_from([2, 15]), fail_every=st.integers(2, 5))
def test_failing_polls_never_burst_the_budget(
    items: list[Snapshot], limit: int, fail_every: int
) -> None:
    """With every few polls failing, plans still move on and stay within the limit."""
    run = simulate(items, limit, timedelta(hours=12), fail_every=fail_every)
    assert run.max_in_any_hour() <= limit


def test_full_budget_plans_the_next_free_slot() -> None:
    """With every slot taken, the plan waits until the oldest send leaves the window."""
    sends = tuple(T0 - 59 * MIN + i * MIN for i in range(15))
    waiting = plan([], settled(T0 - HOUR), sends=sends)
    assert waiting.at == T0 - 59 * MIN + HOUR + MARGIN


def test_a_throttle_block_is_respected() -> None:
    """Nothing is planned before a 429's Retry-After has passed."""
    assert plan([], settled(T0 - HOUR), blocked_until=T0 + 7 * MIN).at == T0 + 7 * MIN


def test_a_failed_query_is_not_retried_at_once() -> None:
    """A query that failed just now waits before it is tried again."""
    state = settled(T0 - 5 * HOUR)
    failed = PollState(
        last_full_refresh=state.last_full_refresh,
        last_event_types=T0,
        last_attempt={
            (kind, source): T0
            for kind in (QueryKind.FULL_UPCOMING, QueryKind.INCREMENTAL)
            for source in Source
        },
    )
    assert plan([], failed).at >= T0 + min(CONFIG.interval, timedelta(minutes=2))


# -- budget scaling, refreshes, event types ------------------------------------------------


def test_larger_budget_polls_faster_but_never_closer_than_the_floor() -> None:
    """With 300/h both cadences shrink, and polls stay at least 15 s apart."""
    launch = item(Source.LAUNCH, 1, T0 + 90 * MIN)
    small = plan([launch], settled(T0 - HOUR), limit=15).cadence
    large = plan([launch], settled(T0 - HOUR), limit=300).cadence
    assert large.hot_gap[Source.LAUNCH] < small.hot_gap[Source.LAUNCH] / 4
    assert large.incremental_gap < small.incremental_gap / 4
    run = simulate([launch], 300, HOUR, state=settled(T0 - HOUR))
    assert min(gaps([p.at for p in run.plans])) >= CONFIG.min_gap
    assert run.max_in_any_hour() <= 300


def test_full_refresh_runs_every_six_hours() -> None:
    """Each source's upcoming list is re-read every 6 h (plus at most a few minutes)."""
    run = simulate([], 15, timedelta(hours=25))
    for source in Source:
        times = run.times(QueryKind.FULL_UPCOMING, source)
        assert len(times) == 5
        assert all(6 * HOUR <= gap <= 6 * HOUR + 10 * MIN for gap in gaps(times))


def test_full_refresh_waits_out_a_tight_phase() -> None:
    """A due full refresh yields to a TIGHT item, but not beyond half its period."""
    launch = item(Source.LAUNCH, 1, T0 + 30 * MIN)
    due = plan([launch], settled(T0 - 6 * HOUR - MIN))
    late = plan([launch], settled(T0 - 9 * HOUR - MIN))
    assert not any(q.kind is QueryKind.FULL_UPCOMING for q in due.queries)
    assert any(q.kind is QueryKind.FULL_UPCOMING for q in late.queries)


def test_full_refresh_cost_follows_the_known_upcoming_items() -> None:
    """250 known upcoming launches make a three-page full refresh."""
    launches = [item(Source.LAUNCH, i, T0 + timedelta(days=2 + i)) for i in range(250)]
    full = next(q for q in plan(launches, PollState()).queries if q.source is Source.LAUNCH)
    assert (full.kind, full.pages) == (QueryKind.FULL_UPCOMING, 3)


def test_event_types_are_refreshed_daily() -> None:
    """Event types are read at the first start and again a day later, not in between."""
    run = simulate([], 15, timedelta(hours=26))
    times = run.times(QueryKind.EVENT_TYPES)
    assert len(times) == 2
    assert timedelta(hours=24) <= times[1] - times[0] <= timedelta(hours=24, minutes=10)


# -- inputs --------------------------------------------------------------------------------


def test_naive_now_is_refused() -> None:
    """``now`` must be timezone-aware."""
    with pytest.raises(ValueError, match="aware"):
        plan([], PollState(), now=T0.replace(tzinfo=None))


def test_hot_window_query_needs_its_window() -> None:
    """A hot window query without a window is refused."""
    with pytest.raises(ValueError, match="window"):
        Query(QueryKind.HOT_WINDOW, Source.EVENT)


def test_announced_start_in_a_big_source_is_watched_through_its_window() -> None:
    """With more launches than one page holds, the watch reads around an announced start are
    window reads (the incremental query cannot see a flip that does not bump last_updated),
    and the incremental query of both sources goes on."""
    start_time = T0 + 30 * MIN
    hot = item(Source.LAUNCH, 0, T0 + 2 * HOUR, start_time=start_time)
    ahead = [item(Source.LAUNCH, i, T0 + i * HOUR) for i in range(3, 250)]
    begin = T0 - 2 * HOUR
    run = simulate([hot, *ahead], 15, 3 * HOUR, start=begin, state=settled(begin))
    assert run.max_in_any_hour() <= 15
    assert_watched(run, Source.LAUNCH, start_time)
    for source in Source:
        incremental = run.times(QueryKind.INCREMENTAL, source)
        assert max(gaps([begin, *incremental, T0 + HOUR])) <= 2 * CONFIG.cover_gap
