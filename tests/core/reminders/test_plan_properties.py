"""Properties of the reminder planner over random items, subscriptions, clocks and date moves."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.reminders import (
    DropReason,
    Reminder,
    ReminderKey,
    ReminderPlan,
    grace_for,
    plan_reminders,
)
from bot.core.routing import DEFAULT_QUIET_PERIOD
from bot.core.snapshot import Snapshot
from bot.core.subscriptions import Subscription
from tests.core.change_factory import CHANNEL_A, CHANNEL_B, minutes
from tests.core.reminders.support import event_at, launch_at, reminding

T0 = datetime(2025, 6, 28, 4, 0, tzinfo=UTC)
OFFSETS = (1, 2, 5, 10, 30, 60, 120, 180, 1440)
LAUNCH_IDS = ("launch-1", "launch-2")

offsets_st = st.frozensets(st.sampled_from(OFFSETS), max_size=5).map(
    lambda s: tuple(sorted(s, reverse=True))
)
subs_st = st.lists(
    st.builds(
        lambda i, channel, offsets, role: reminding(offsets, i, channel, role_id=role),
        st.integers(1, 20),
        st.sampled_from((CHANNEL_A, CHANNEL_B)),
        offsets_st,
        st.none() | st.sampled_from((10, 20)),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda s: s.id,
)
# Dates on a minute grid around T0, within a day and a half.
date_st = st.integers(-60, 36 * 60).map(lambda m: T0 + minutes(m))
items_st = st.lists(
    st.builds(
        lambda item_id, date, status, precision: launch_at(
            date, status_id=status, precision_id=precision, item_id=item_id
        ),
        st.sampled_from(LAUNCH_IDS),
        date_st,
        st.sampled_from((1, 2, 5, 8, None)),
        st.sampled_from((0, 1, 2, 5, 7, None)),
    )
    | st.builds(
        lambda date, precision: event_at(date, precision_id=precision),
        date_st,
        st.sampled_from((0, 1, 2, 5)),
    ),
    max_size=3,
    unique_by=lambda s: s.ref,
)
now_st = st.integers(-120, 36 * 60).map(lambda m: T0 + minutes(m))
since_back_st = st.none() | st.integers(0, 180).map(lambda m: minutes(m))


def _all(plan: ReminderPlan) -> list[Reminder]:
    return [*plan.due, *plan.armed, *(d.reminder for d in plan.dropped)]


def _plan(
    items: list[Snapshot],
    subs: list[Subscription],
    now: datetime,
    back: timedelta | None,
    sent: tuple[ReminderKey, ...] = (),
) -> ReminderPlan:
    since = None if back is None else now - back
    return plan_reminders(items, subs, sent, now, since=since)


@settings(max_examples=300, deadline=None)
@given(items_st, subs_st, now_st, since_back_st)
def test_never_early_and_armed_only_ahead(
    items: list[Snapshot], subs: list[Subscription], now: datetime, back: timedelta | None
) -> None:
    """Due reminders have reached their moment and T-0 is ahead; armed ones have not."""
    plan = _plan(items, subs, now, back)
    assert all(r.moment <= now < r.key.target for r in plan.due)
    assert all(r.moment > now for r in plan.armed)


@settings(max_examples=300, deadline=None)
@given(items_st, subs_st, now_st, since_back_st)
def test_precision_gating(
    items: list[Snapshot], subs: list[Subscription], now: datetime, back: timedelta | None
) -> None:
    """Second/Minute: any offset; Hour: 2 h and more; anything else: no reminder at all."""
    by_ref = {i.ref: i for i in items}
    for reminder in _all(_plan(items, subs, now, back)):
        precision = by_ref[reminder.key.item_ref].precision_id
        assert precision in (0, 1, 2)
        if precision == 2:
            assert reminder.key.offset_minutes >= 120


@settings(max_examples=300, deadline=None)
@given(items_st, subs_st, now_st, since_back_st)
def test_hold_and_tbd_launches_get_nothing(
    items: list[Snapshot], subs: list[Subscription], now: datetime, back: timedelta | None
) -> None:
    """Only Go and TBC launches (and events) appear in any part of the plan."""
    by_ref = {i.ref: i for i in items}
    for reminder in _all(_plan(items, subs, now, back)):
        item = by_ref[reminder.key.item_ref]
        assert item.source.value == "event" or item.status_id in (1, 8)


@settings(max_examples=300, deadline=None)
@given(items_st, subs_st, now_st, since_back_st)
def test_only_the_nearest_fires_per_channel_and_item(
    items: list[Snapshot], subs: list[Subscription], now: datetime, back: timedelta | None
) -> None:
    """At most one due per (channel, item); every superseded one is farther from T-0 than it."""
    plan = _plan(items, subs, now, back)
    due = {(r.key.channel_id, r.key.item_ref): r for r in plan.due}
    assert len(due) == len(plan.due)
    for dropped in plan.dropped:
        if dropped.reason is DropReason.SUPERSEDED:
            key = dropped.reminder.key
            assert key.offset_minutes > due[(key.channel_id, key.item_ref)].key.offset_minutes


@settings(max_examples=200, deadline=None)
@given(
    st.frozensets(st.integers(10, 16), min_size=2),
    st.integers(0, 6 * 60).map(lambda s: timedelta(seconds=s)),
    st.integers(0, 30),
)
def test_several_due_at_once_send_only_the_nearest(
    offsets: frozenset[int], before: timedelta, down: int
) -> None:
    """Offsets a minute apart reached together after an outage: the smallest one fires."""
    sub = reminding(tuple(offsets))
    item = launch_at(T0)
    now = T0 - minutes(10) - before
    plan = plan_reminders([item], [sub], [], now, since=now - minutes(down) - minutes(7))
    fireable = [o for o in offsets if timedelta(0) <= now - (T0 - minutes(o)) <= grace_for(o)]
    assert [r.key.offset_minutes for r in plan.due] == ([min(fireable)] if fireable else [])
    superseded = sorted(
        d.reminder.key.offset_minutes for d in plan.dropped if d.reason is DropReason.SUPERSEDED
    )
    assert superseded == sorted(fireable)[1:]


@settings(max_examples=300, deadline=None)
@given(items_st, subs_st, now_st, st.integers(0, 24 * 60).map(lambda m: minutes(m)))
def test_downtime_grace(
    items: list[Snapshot], subs: list[Subscription], now: datetime, down: timedelta
) -> None:
    """After any downtime, sent ones are within min(5 min, offset/2) late; late ones are dropped."""
    plan = _plan(items, subs, now, down)
    for r in plan.due:
        assert now - r.moment <= grace_for(r.key.offset_minutes)
    for d in plan.dropped:
        if d.reason is DropReason.LATE:
            assert now - d.reminder.moment > grace_for(d.reminder.key.offset_minutes)


@settings(max_examples=300, deadline=None)
@given(items_st, subs_st, now_st, since_back_st)
def test_keys_are_unique_and_deterministic(
    items: list[Snapshot], subs: list[Subscription], now: datetime, back: timedelta | None
) -> None:
    """No key appears twice in a plan, and planning again gives the same plan."""
    plan = _plan(items, subs, now, back)
    keys = [r.dedup_key for r in _all(plan)]
    assert len(keys) == len(set(keys))
    assert plan == _plan(list(reversed(items)), list(reversed(subs)), now, back)


@settings(max_examples=200, deadline=None)
@given(offsets_st, st.integers(30, 600), st.integers(1, 600), st.integers(0, 600))
def test_slip_later_rearms(offsets: tuple[int, ...], ahead: int, slip: int, elapsed: int) -> None:
    """After a slip later, every offset whose new moment is ahead is armed for the new date,
    unless it was sent for the old date at most a quiet period before its new moment."""
    sub = reminding(offsets)
    old_date = T0 + minutes(ahead)
    now = T0 + minutes(min(elapsed, ahead - 1))
    sent = tuple(
        ReminderKey(CHANNEL_A, "launch:launch-1", o, old_date)
        for o in offsets
        if old_date - minutes(o) <= now
    )
    new = launch_at(old_date + minutes(slip), item_id="launch-1")
    armed = {r.key.offset_minutes: r for r in plan_reminders([new], [sub], sent, now).armed}
    old_moments = {k.offset_minutes: k.moment for k in sent}
    for offset in offsets:
        assert new.date is not None
        moment = new.date - minutes(offset)
        repeat_too_soon = (
            offset in old_moments and moment <= old_moments[offset] + DEFAULT_QUIET_PERIOD
        )
        expected = moment > now and not repeat_too_soon
        assert (offset in armed) == expected
        if expected:
            assert armed[offset].key.target == new.date


@settings(max_examples=200, deadline=None)
@given(offsets_st, st.integers(60, 600), st.integers(1, 300), st.integers(1, 30))
def test_slip_earlier_past_a_moment_skips_it(
    offsets: tuple[int, ...], ahead: int, slip: int, tick: int
) -> None:
    """A moment a date move put before the previous run is neither sent nor dropped: skipped."""
    sub = reminding(offsets)
    since = T0
    now = since + minutes(tick)
    moved = launch_at(since + minutes(ahead - slip), item_id="launch-1")
    plan = plan_reminders([moved], [sub], [], now, since=since)
    assert moved.date is not None
    for reminder in _all(plan):
        assert reminder.moment > since


@dataclass
class _Adapter:
    """The caller's loop as the lead will build it: remember sends and the last run."""

    sent: list[ReminderKey] = field(default_factory=list)
    sent_at: dict[ReminderKey, datetime] = field(default_factory=dict)
    since: datetime | None = None

    def run(self, items: list[Snapshot], subs: list[Subscription], now: datetime) -> None:
        plan = plan_reminders(items, subs, self.sent, now, since=self.since)
        for reminder in plan.due:
            self.sent.append(reminder.key)
            self.sent_at[reminder.key] = now
        self.since = now


@settings(max_examples=300, deadline=None)
@given(
    subs_st,
    st.lists(
        st.tuples(st.integers(1, 90), st.none() | st.integers(-120, 240)),
        min_size=1,
        max_size=25,
    ),
)
def test_a_run_of_ticks_never_repeats_a_key_and_is_never_early(
    subs: list[Subscription], ticks: list[tuple[int, int | None]]
) -> None:
    """Ticks at random gaps (some long: downtime), the date moving at random: every key is sent
    at most once, never before its moment, never past its grace, always before T-0."""
    adapter = _Adapter()
    date = T0 + timedelta(hours=3)
    now = T0
    for gap, move in ticks:
        now += minutes(gap)
        if move is not None:
            date = now + minutes(move)
        adapter.run([launch_at(date, item_id="launch-1")], subs, now)
    counts = Counter(adapter.sent)
    assert all(n == 1 for n in counts.values())
    for key, at in adapter.sent_at.items():
        assert key.moment <= at < key.target
        assert at - key.moment <= grace_for(key.offset_minutes)
