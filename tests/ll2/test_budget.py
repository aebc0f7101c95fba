"""RequestBudget on virtual time: the sliding-hour limit, persistence and the server's view."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.models import ThrottleInfo
from bot.ll2 import BudgetExhausted, InMemorySendLog, RequestBudget
from tests.ll2.conftest import START, FakeClock

HOUR = timedelta(hours=1)


def max_in_any_hour(sends: list[datetime]) -> int:
    """The most sends inside any closed one-hour window (every window starts at some send)."""
    ordered = sorted(sends)
    best = 0
    for i, start in enumerate(ordered):
        best = max(best, sum(1 for t in ordered[i:] if t - start <= HOUR))
    return best


def server_view(current_use: int, *, limit: int = 15, next_use: int = 0) -> ThrottleInfo:
    return ThrottleInfo(
        your_request_limit=limit,
        limit_frequency_secs=3600,
        current_use=current_use,
        next_use_secs=next_use,
        ident="203.0.113.7",
    )


async def test_thousand_calls_over_ten_hours_never_exceed_limit() -> None:
    """1,000 randomly timed calls over 10 virtual hours: no hour ever holds more than 15 sends."""
    clock = FakeClock()
    log = InMemorySendLog()
    budget = RequestBudget(15, send_log=log, clock=clock)
    rng = random.Random(20250701)
    arrivals = sorted(rng.uniform(0, 10 * 3600) for _ in range(1000))
    granted: list[datetime] = []
    refusals: list[float] = []

    for offset in arrivals:
        clock.set(max(clock.now(), START + timedelta(seconds=offset)))
        try:
            # Some callers may wait a little, most take a slot or give up at once.
            granted.append(await budget.acquire(wait=rng.random() < 0.3, max_wait=120))
        except BudgetExhausted as exc:
            refusals.append(exc.wait_seconds)

    assert max_in_any_hour(granted) <= 15
    assert len(granted) + len(refusals) == 1000
    assert all(wait > 0 for wait in refusals)
    assert sorted(log.times) == sorted(granted)
    # The limiter must not starve either: about 15 per hour over 10 hours got through.
    assert len(granted) >= 140


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0, max_value=900), min_size=1, max_size=120),
)
async def test_sliding_limit_holds_for_any_arrival_pattern(limit: int, gaps: list[float]) -> None:
    """Whatever the arrival gaps, waiting callers never push an hour past the limit."""
    clock = FakeClock()
    budget = RequestBudget(limit, clock=clock)
    granted = []
    for gap in gaps:
        clock.advance(gap)
        granted.append(await budget.acquire())
    assert max_in_any_hour(granted) <= limit


async def test_concurrent_acquires_share_the_limit() -> None:
    """Fifty tasks racing for slots still respect the hourly limit."""
    clock = FakeClock()
    budget = RequestBudget(5, clock=clock)
    granted = await asyncio.gather(*(budget.acquire() for _ in range(50)))
    assert max_in_any_hour(list(granted)) <= 5
    assert clock.now() - START > 9 * HOUR


async def test_acquire_waits_exactly_until_the_oldest_send_expires() -> None:
    """With the hour full, the next caller sleeps until the oldest send leaves the window."""
    clock = FakeClock()
    budget = RequestBudget(2, clock=clock, margin_seconds=2)
    await budget.acquire()
    clock.advance(600)
    await budget.acquire()

    sent = await budget.acquire()

    assert clock.sleeps == [pytest.approx(3002)]
    assert sent == START + timedelta(seconds=3602)


async def test_no_wait_raises_with_wait_seconds() -> None:
    """``wait=False`` (or a too-long wait) raises BudgetExhausted saying how long to wait."""
    clock = FakeClock()
    budget = RequestBudget(1, clock=clock, margin_seconds=0)
    await budget.acquire()
    clock.advance(100)
    with pytest.raises(BudgetExhausted) as caught:
        await budget.acquire(wait=False)
    assert caught.value.wait_seconds == pytest.approx(3500)
    with pytest.raises(BudgetExhausted):
        await budget.acquire(max_wait=3499)
    assert clock.sleeps == []


async def test_restart_honours_earlier_sends() -> None:
    """A new budget on the same send log knows the old process spent the hour."""
    clock = FakeClock()
    log = InMemorySendLog()
    old = RequestBudget(15, send_log=log, clock=clock)
    for _ in range(15):
        await old.acquire()
        clock.advance(60)

    new = RequestBudget(15, send_log=log, clock=clock)
    assert await new.load() == 15

    now = clock.now()
    assert new.used_in_last_hour(now) == 15
    assert new.available(now) == 0
    assert new.next_slot(now) == START + HOUR + timedelta(seconds=2)
    with pytest.raises(BudgetExhausted):
        await new.acquire(wait=False)


async def test_load_ignores_sends_older_than_the_window() -> None:
    """Sends from two hours ago no longer count after a restart."""
    clock = FakeClock()
    log = InMemorySendLog([START - 2 * HOUR, START - timedelta(minutes=10)])
    budget = RequestBudget(15, send_log=log, clock=clock)
    assert await budget.load() == 1
    assert budget.available(clock.now()) == 14


async def test_failed_persistence_blocks_the_request() -> None:
    """If the send cannot be recorded, acquire fails: no unrecorded request goes out."""

    class BrokenLog(InMemorySendLog):
        async def record_request(self, at: datetime) -> None:
            raise OSError("disk full")

    budget = RequestBudget(15, send_log=BrokenLog(), clock=FakeClock())
    with pytest.raises(OSError, match="disk full"):
        await budget.acquire()


def test_server_view_turns_excess_into_phantom_sends() -> None:
    """The server counted 10, we sent 2: our remaining allowance becomes the server's 5."""
    clock = FakeClock()
    budget = RequestBudget(15, clock=clock)
    budget._sends = [START - timedelta(minutes=5), START - timedelta(minutes=1)]
    now = clock.now()

    budget.apply_server_view(server_view(10), now)
    assert budget.available(now) == 5

    budget.apply_server_view(server_view(10), now)  # the same view again adds nothing
    assert budget.available(now) == 5


def test_server_view_never_loosens() -> None:
    """A server that counted fewer than we did does not give slots back."""
    clock = FakeClock()
    budget = RequestBudget(15, clock=clock)
    budget._sends = [START - timedelta(minutes=m) for m in range(1, 9)]
    budget.apply_server_view(server_view(1), clock.now())
    assert budget.available(clock.now()) == 7


def test_lower_server_limit_lowers_ours_and_higher_does_not_raise() -> None:
    """``your_request_limit`` below ours wins; above ours it is ignored."""
    clock = FakeClock()
    budget = RequestBudget(15, clock=clock)
    budget.apply_server_view(server_view(0, limit=10), clock.now())
    assert budget.limit == 10
    assert budget.available(clock.now()) == 10
    budget.apply_server_view(server_view(0, limit=300), clock.now())
    assert budget.limit == 15


def test_next_use_secs_blocks_and_dates_the_oldest_phantom() -> None:
    """A full server window says when its oldest request expires; we wait just that long."""
    clock = FakeClock()
    budget = RequestBudget(15, clock=clock)
    now = clock.now()

    budget.apply_server_view(server_view(15, next_use=90), now)

    assert budget.available(now) == 0
    assert budget.next_slot(now) == now + timedelta(seconds=90)
    later = now + timedelta(seconds=90)
    assert budget.available(later) == 1


def test_block_until_never_shortens() -> None:
    """A later 429 cannot cut short an earlier, longer block."""
    clock = FakeClock()
    budget = RequestBudget(15, clock=clock)
    now = clock.now()
    budget.block_until(now + timedelta(seconds=300))
    budget.block_until(now + timedelta(seconds=30))
    assert budget.next_slot(now) == now + timedelta(seconds=300)
    assert budget.available(now + timedelta(seconds=299)) == 0
    assert budget.available(now + timedelta(seconds=300)) == 15


def test_zero_server_limit_means_no_slot_this_hour() -> None:
    """A server that grants nothing leaves no slot for a whole window."""
    clock = FakeClock()
    budget = RequestBudget(15, clock=clock)
    budget.apply_server_view(server_view(0, limit=0), clock.now())
    assert budget.available(clock.now()) == 0
    assert budget.next_slot(clock.now()) >= clock.now() + HOUR


def test_limit_must_be_positive() -> None:
    """A budget of nothing is a configuration bug."""
    with pytest.raises(ValueError, match="positive"):
        RequestBudget(0)
