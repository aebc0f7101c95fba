"""Lookouts: the planner reads an item's source shortly before an armed reminder (issue 14.4)."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.planner import Lookout, PlannerConfig, QueryKind
from bot.core.snapshot import Snapshot, Source
from tests.core.planner.support import T0, Run, item, settled, simulate

CONFIG = PlannerConfig()


def _far_items() -> list[Snapshot]:
    """Both sources cold for the next hours: every item is a day or more away."""
    return [
        item(Source.LAUNCH, 1, T0 + timedelta(hours=24, minutes=30)),
        item(Source.LAUNCH, 2, T0 + timedelta(days=3)),
        item(Source.EVENT, 3, T0 + timedelta(days=2)),
    ]


def _served(run: Run, lookout: Lookout) -> list[datetime]:
    """When a window read of the lookout's source reaching its date ran in the fresh span."""
    return [
        at
        for at, query in run.polls(QueryKind.HOT_WINDOW, lookout.source)
        if lookout.moment - CONFIG.lookout_fresh <= at < lookout.moment
        and query.start is not None
        and query.end is not None
        and query.start <= lookout.date <= query.end
    ]


def test_a_lookout_on_a_cold_source_gets_a_window_read_just_before_its_moment() -> None:
    items = _far_items()
    # A 24 h reminder of launch 1: its moment is 30 minutes from now.
    lookout = Lookout(
        Source.LAUNCH, T0 + timedelta(minutes=30), T0 + timedelta(hours=24, minutes=30)
    )
    run = simulate(items, 15, timedelta(hours=1), state=settled(), lookouts=(lookout,))
    served = _served(run, lookout)
    assert len(served) == 1
    # Read about lookout_lead before the moment (within one grid step of min_gap).
    lead = lookout.moment - served[0]
    assert CONFIG.lookout_lead - CONFIG.min_gap <= lead <= CONFIG.lookout_lead


def test_without_the_lookout_nothing_reads_that_item_before_the_moment() -> None:
    """The control: the read above is the lookout's doing, not the regular cadence's."""
    items = _far_items()
    lookout = Lookout(
        Source.LAUNCH, T0 + timedelta(minutes=30), T0 + timedelta(hours=24, minutes=30)
    )
    run = simulate(items, 15, timedelta(hours=1), state=settled())
    assert _served(run, lookout) == []


def test_a_lookout_past_its_moment_asks_for_nothing() -> None:
    items = _far_items()
    past = Lookout(Source.LAUNCH, T0 - timedelta(seconds=1), T0 + timedelta(hours=24))
    with_past = simulate(items, 15, timedelta(hours=1), state=settled(), lookouts=(past,))
    without = simulate(items, 15, timedelta(hours=1), state=settled())
    assert [p.queries for p in with_past.plans] == [p.queries for p in without.plans]


def test_lookouts_of_several_subscriptions_at_one_moment_cost_one_read() -> None:
    items = _far_items()
    moment = T0 + timedelta(minutes=20)
    date = T0 + timedelta(hours=24, minutes=30)
    same = tuple(Lookout(Source.LAUNCH, moment, date) for _ in range(5))
    near = Lookout(Source.LAUNCH, moment + timedelta(seconds=30), date)  # another offset
    run = simulate(items, 15, timedelta(hours=1), state=settled(), lookouts=(*same, near))
    assert len(_served(run, same[0])) == 1
    assert _served(run, near) == _served(run, same[0])  # that read is fresh for both


_moments = st.lists(st.integers(min_value=5, max_value=170), min_size=1, max_size=6, unique=True)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(minutes=_moments, limit=st.sampled_from([3, 5, 15]))
def test_lookouts_never_take_the_budget_over(minutes: list[int], limit: int) -> None:
    """simulate() asserts on every plan that it fits the sliding window; lookouts at any
    moments, even more than the budget could serve, never break that."""
    items = _far_items()
    lookouts = tuple(
        Lookout(Source.LAUNCH, T0 + timedelta(minutes=m), T0 + timedelta(hours=24 + m // 60))
        for m in minutes
    )
    run = simulate(items, limit, timedelta(hours=3), state=settled(), lookouts=lookouts)
    assert run.max_in_any_hour() <= limit


WARM_UP = timedelta(hours=1)  # a window that has been spent at pace, as after a day of running


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slots=st.lists(st.integers(min_value=1, max_value=17), min_size=1, max_size=5, unique=True))
def test_spaced_lookouts_are_served_at_the_default_budget(slots: list[int]) -> None:
    """Lookouts at least 10 minutes apart (a reminder schedule of one launch, or a few) get
    their fresh read at 15 requests an hour, once the window is in its steady state: all of
    them, or all but one.

    Not always all: the held-back slot obeys the starvation guard, and when the sliding window
    is spent to its last slot the guard refuses it (the paced read then goes to the other
    source). Over 400 random schedules of up to five such lookouts, 2 had one lookout unserved
    (seen with a loop over ``random.sample(range(1, 18), k)`` schedules); that reminder then
    uses the last snapshot, which the reminder benchmark counts. Right after a start with an
    empty window it happens more often, hence the warm-up.
    """
    items = _far_items()
    lookouts = tuple(
        Lookout(
            Source.LAUNCH if s % 2 else Source.EVENT,
            T0 + WARM_UP + timedelta(minutes=10 * s),
            T0 + timedelta(hours=24, minutes=10 * s),
        )
        for s in sorted(slots)
    )
    run = simulate(items, 15, WARM_UP + timedelta(hours=3), state=settled(), lookouts=lookouts)
    unserved = [lk.moment for lk in lookouts if not _served(run, lk)]
    assert len(unserved) <= 1, f"no fresh read before {unserved}"
    if len(lookouts) <= 2:
        assert unserved == []  # a lone reminder or two always get theirs (all 153 checked)


def test_a_crowd_of_lookouts_never_starves_the_regular_reads() -> None:
    """A reminder every two minutes for four hours (far more than the budget can serve):
    every source is still read within its starvation bound, and the budget holds."""
    items = _far_items()
    lookouts = tuple(
        Lookout(
            Source.LAUNCH,
            T0 + timedelta(minutes=2 * i),
            T0 + timedelta(hours=24, minutes=30),
        )
        for i in range(1, 120)
    )
    run = simulate(items, 15, timedelta(hours=4), state=settled(), lookouts=lookouts)
    assert run.max_in_any_hour() <= 15
    served = sum(1 for lk in lookouts if _served(run, lk))
    assert served >= 20  # a good part of the budget goes to them...
    for source in Source:  # ...but the regular reads keep their pace
        reads = sorted([T0, *(t for kind in QueryKind for t in run.times(kind, source))])
        gaps = [b - a for a, b in pairwise(reads)]
        bound = 2 * CONFIG.cover_gap + CONFIG.min_gap  # as for a crowd of webcasts
        assert max(gaps) <= bound, f"{source} unread for {max(gaps)}"
