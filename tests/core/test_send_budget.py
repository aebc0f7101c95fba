"""The shared send budget's rules (GCRA): spacing, work conservation, global 429s."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.send_budget import (
    MIN_FACTOR,
    PENALTY_SECONDS,
    BudgetState,
    after_global_429,
    block_size,
    reserve,
    usable,
)

# (gap before the request, slots asked) for any number of processes asking in any order.
requests = st.lists(
    st.tuples(st.floats(0, 2, allow_nan=False), st.integers(1, 20)), min_size=1, max_size=60
)
rates = st.floats(1, 1000, allow_nan=False)


@given(requests, rates)
def test_slots_of_all_processes_are_never_closer_than_the_interval(
    asks: list[tuple[float, int]], rate: float
) -> None:
    state, now, slots = BudgetState(), 0.0, []
    for gap, count in asks:
        now += gap
        state, res = reserve(state, now, count, rate)
        assert res.start >= now  # never a slot in the past
        slots.extend(res.slot(i) for i in range(count))
    slots.sort()
    for a, b in itertools.pairwise(slots):
        assert b - a >= 1.0 / rate - 1e-9


@given(requests, rates)
def test_no_one_second_window_holds_more_than_the_rate_plus_one(
    asks: list[tuple[float, int]], rate: float
) -> None:
    state, now, slots = BudgetState(), 0.0, []
    for gap, count in asks:
        now += gap
        state, res = reserve(state, now, count, rate)
        slots.extend(res.slot(i) for i in range(count))
    slots.sort()
    start = 0
    for end, at in enumerate(slots):
        while at - slots[start] >= 1.0:
            start += 1
        assert end - start + 1 <= rate + 1


@given(st.floats(0, 100, allow_nan=False), rates, st.integers(1, 50))
def test_an_idle_budget_gives_a_slot_at_once(idle: float, rate: float, count: int) -> None:
    state, first = reserve(BudgetState(), 0.0, count, rate)
    now = first.end + idle
    _, res = reserve(state, now, 1, rate)
    assert res.start == now  # work-conserving: nobody waits for a budget nobody uses


@given(st.floats(0, 30, allow_nan=False), st.floats(0, 10, allow_nan=False), rates)
def test_after_a_global_429_nobody_sends_before_retry_after(
    now: float, retry_after: float, rate: float
) -> None:
    state = after_global_429(BudgetState(tat=now), now, retry_after)
    _, res = reserve(state, now, 3, rate)
    assert res.start >= now + retry_after
    assert res.interval == pytest.approx(1.0 / (rate * 0.8))  # and slower for a while
    _, later = reserve(state, now + PENALTY_SECONDS + 1, 1, rate)
    assert later.interval == pytest.approx(1.0 / rate)  # until the penalty is over


def test_global_429s_compound_down_to_the_floor() -> None:
    state = BudgetState()
    for n in range(20):
        state = after_global_429(state, float(n), 0.5)
    assert state.factor == MIN_FACTOR
    assert state.global_429s == 20


def test_block_size_and_late_slots() -> None:
    assert block_size(45) == 4
    assert block_size(500) == 50
    assert block_size(2) == 1
    assert usable(10.0, 10.05)
    assert not usable(10.0, 10.2)
    with pytest.raises(ValueError, match="rate"):
        block_size(0)
    with pytest.raises(ValueError, match="count"):
        reserve(BudgetState(), 0, 0, 45)
