"""The reminder planner on hand-picked cases: one rule per test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.reminders import DropReason, ReminderKey, plan_reminders
from tests.core.change_factory import CHANNEL_A, CHANNEL_B, minutes
from tests.core.reminders.support import (
    armed_offsets,
    due_offsets,
    event_at,
    launch_at,
    reminding,
)

T0 = datetime(2025, 6, 28, 4, 26, tzinfo=UTC)
ITEM = launch_at(T0)
SUB = reminding((1440, 60, 10))


def _tick(at: datetime, back: float = 0.5) -> tuple[datetime, datetime]:
    """(since, now) for a run at ``at`` whose previous run was ``back`` minutes earlier."""
    return at - minutes(back), at


def test_reminder_fires_at_its_moment() -> None:
    """At T-10 min exactly, the T-10 min reminder is due, and nothing else."""
    since, now = _tick(T0 - minutes(10))
    plan = plan_reminders([ITEM], [SUB], [], now, since=since)
    assert due_offsets(plan) == [10]
    assert plan.due[0].dedup_key == (f"reminder:{CHANNEL_A}:{ITEM.ref}:10m:2025-06-28T04:26:00Z")


def test_nothing_is_due_a_second_early() -> None:
    """One second before the moment the reminder is armed, not due."""
    since, now = _tick(T0 - minutes(10) - timedelta(seconds=1))
    plan = plan_reminders([ITEM], [SUB], [], now, since=since)
    assert plan.due == ()
    assert armed_offsets(plan) == [10]
    assert plan.next_moment == T0 - minutes(10)


def test_armed_lists_every_future_moment_soonest_first() -> None:
    """A day and a half out, all three offsets are armed, soonest moment first."""
    since, now = _tick(T0 - timedelta(hours=36))
    plan = plan_reminders([ITEM], [SUB], [], now, since=since)
    assert armed_offsets(plan) == [1440, 60, 10]


def test_sent_reminder_is_not_sent_again() -> None:
    """A key in ``sent`` is neither due nor armed."""
    since, now = _tick(T0 - minutes(10))
    sent = [ReminderKey(CHANNEL_A, ITEM.ref, 10, T0)]
    plan = plan_reminders([ITEM], [SUB], sent, now, since=since)
    assert plan.due == ()
    assert plan.armed == ()


def test_key_round_trips_through_its_text() -> None:
    """The stored dedup key reads back to the same key."""
    key = ReminderKey(CHANNEL_A, ITEM.ref, 60, T0)
    assert ReminderKey.from_dedup_key(key.dedup_key) == key


@pytest.mark.parametrize(
    "text", ["800:event:1:10m:x", "reminder:1:event:1:10:2025-06-28T04:26:00Z"]
)
def test_other_keys_are_refused(text: str) -> None:
    """Routing's keys and malformed ones are not reminder keys."""
    with pytest.raises(ValueError, match="key"):
        ReminderKey.from_dedup_key(text)


@pytest.mark.parametrize("status", [2, 5, 3, 4, 6, None])
def test_launch_not_go_or_tbc_gets_no_reminders(status: int | None) -> None:
    """Hold, TBD, finished and unknown statuses arm nothing."""
    item = launch_at(T0, status_id=status)
    plan = plan_reminders([item], [SUB], [], T0 - timedelta(days=2))
    assert plan.armed == ()


def test_tbc_launch_counts() -> None:
    """To Be Confirmed counts like Go."""
    item = launch_at(T0, status_id=8)
    assert armed_offsets(plan_reminders([item], [SUB], [], T0 - timedelta(days=2))) == [
        1440,
        60,
        10,
    ]


def test_event_counts_without_a_status() -> None:
    """Events have no status and get reminders."""
    item = event_at(T0)
    assert len(plan_reminders([item], [SUB], [], T0 - timedelta(days=2)).armed) == 3


@pytest.mark.parametrize(
    ("precision", "offsets"),
    [(0, [1440, 60, 10]), (1, [1440, 60, 10]), (2, [1440]), (5, []), (7, []), (None, [])],
)
def test_precision_gates_offsets(precision: int | None, offsets: list[int]) -> None:
    """Second/Minute allow all, Hour only 2 h and more, coarser or unstated none."""
    item = launch_at(T0, precision_id=precision)
    assert armed_offsets(plan_reminders([item], [SUB], [], T0 - timedelta(days=2))) == offsets


def test_undated_item_gets_no_reminders() -> None:
    """No date, no countdown."""
    item = launch_at(None)
    assert plan_reminders([item], [SUB], [], T0).armed == ()


def test_subscription_filters_apply() -> None:
    """A subscription to another provider, or a paused one, reminds of nothing."""
    other = reminding((10,), sub_id=2, providers=frozenset({44}))
    paused = reminding((10,), sub_id=3, enabled=False)
    plan = plan_reminders([ITEM], [other, paused], [], T0 - timedelta(days=1))
    assert plan.armed == ()


def test_subscription_without_reminders_sends_none() -> None:
    """The default (no offsets) plans nothing: existing subscriptions are unchanged."""
    plain = reminding(())
    assert plan_reminders([ITEM], [plain], [], T0 - minutes(10)).armed == ()


def test_overlapping_subscriptions_of_one_channel_share_one_reminder() -> None:
    """Two subscriptions asking for T-10 min in one channel give one reminder with both roles."""
    subs = [reminding((10,), 5, role_id=20), reminding((60, 10), 3, role_id=10)]
    since, now = _tick(T0 - minutes(10))
    [due] = plan_reminders([ITEM], subs, [], now, since=since).due
    assert (due.subscription_id, due.role_ids) == (3, (10, 20))


def test_each_channel_gets_its_own_reminder() -> None:
    """Two channels asking for one offset get one reminder each, with distinct keys."""
    subs = [reminding((10,), 1, CHANNEL_A), reminding((10,), 2, CHANNEL_B)]
    since, now = _tick(T0 - minutes(10))
    plan = plan_reminders([ITEM], subs, [], now, since=since)
    assert [r.key.channel_id for r in plan.due] == [CHANNEL_A, CHANNEL_B]


def test_after_downtime_only_the_nearest_reminder_fires() -> None:
    """Back after an hour and a half down at T-9 min: T-10 fires; T-1 h is late, not sent."""
    now = T0 - minutes(9)
    plan = plan_reminders([ITEM], [SUB], [], now, since=now - timedelta(hours=1, minutes=30))
    assert due_offsets(plan) == [10]
    assert [(d.reminder.key.offset_minutes, d.reason) for d in plan.dropped] == [
        (60, DropReason.LATE)
    ]


def test_two_reminders_reached_at_once_send_only_the_nearer() -> None:
    """T-3 min and T-2 min both within grace after a short outage: only T-2 min is sent."""
    sub = reminding((3, 2))
    now = T0 - minutes(2)
    plan = plan_reminders([ITEM], [sub], [], now, since=now - minutes(3))
    assert due_offsets(plan) == [2]
    assert [(d.reminder.key.offset_minutes, d.reason) for d in plan.dropped] == [
        (3, DropReason.SUPERSEDED)
    ]


def test_grace_is_five_minutes_at_most() -> None:
    """T-1 h is sent 5 min late but dropped 5 min 1 s late."""
    moment = T0 - minutes(60)
    on_time = plan_reminders([ITEM], [SUB], [], moment + minutes(5), since=moment - minutes(1))
    late = moment + minutes(5) + timedelta(seconds=1)
    too_late = plan_reminders([ITEM], [SUB], [], late, since=moment - minutes(1))
    assert due_offsets(on_time) == [60]
    assert due_offsets(too_late) == []
    assert [d.reason for d in too_late.dropped] == [DropReason.LATE]


def test_grace_is_half_the_offset_for_short_offsets() -> None:
    """T-2 min may be at most 1 min late."""
    sub = reminding((2,))
    moment = T0 - minutes(2)
    assert due_offsets(plan_reminders([ITEM], [sub], [], moment + minutes(1), since=moment)) == []
    assert due_offsets(
        plan_reminders([ITEM], [sub], [], moment + minutes(1), since=moment - minutes(1))
    ) == [2]
    assert (
        due_offsets(
            plan_reminders([ITEM], [sub], [], moment + minutes(1.1), since=moment - minutes(1))
        )
        == []
    )


def test_moment_before_the_window_is_never_sent() -> None:
    """A moment the previous run already covered is not sent by this one, even within grace."""
    moment = T0 - minutes(60)
    plan = plan_reminders([ITEM], [SUB], [], moment + minutes(1), since=moment + minutes(0.5))
    assert plan.due == ()
    assert plan.dropped == ()


def test_date_moved_earlier_past_a_moment_skips_it() -> None:
    """Planned at T-61 min; the launch moves 2 min earlier: T-1 h was skipped over, not sent."""
    since = T0 - minutes(61)
    moved = launch_at(T0 - minutes(2))
    plan = plan_reminders([moved], [SUB], [], since + minutes(0.5), since=since)
    assert plan.due == ()
    assert armed_offsets(plan) == [10]


def test_date_moved_later_rearms_an_unsent_reminder() -> None:
    """An unsent T-10 min follows the new date."""
    moved = launch_at(T0 + timedelta(hours=2))
    plan = plan_reminders([moved], [SUB], [], T0 - minutes(30), since=T0 - minutes(31))
    assert [(r.key.offset_minutes, r.key.target) for r in plan.armed] == [
        (60, moved.date),
        (10, moved.date),
    ]


def test_sent_reminder_repeats_after_a_long_slip() -> None:
    """T-10 min sent for 04:26; the launch slips an hour: T-10 min is armed for 05:26."""
    sent = [ReminderKey(CHANNEL_A, ITEM.ref, 10, T0)]
    moved = launch_at(T0 + timedelta(hours=1))
    plan = plan_reminders([moved], [reminding((10,))], sent, T0 - minutes(5))
    assert [r.key.target for r in plan.armed] == [moved.date]


def test_sent_reminder_does_not_repeat_after_a_short_slip() -> None:
    """T-10 min sent for 04:26; a slip of 10 min (the quiet period) does not repeat it."""
    sent = [ReminderKey(CHANNEL_A, ITEM.ref, 10, T0)]
    moved = launch_at(T0 + minutes(10))
    sub = reminding((10,))
    early = plan_reminders([moved], [sub], sent, T0 - minutes(5))
    at_moment = plan_reminders([moved], [sub], sent, T0, since=T0 - minutes(0.5))
    assert early.armed == ()
    assert at_moment.due == ()
    assert [d.reason for d in at_moment.dropped] == [DropReason.REPEAT]


def test_repeat_decision_holds_as_the_new_moment_approaches() -> None:
    """A repeat armed an hour ahead still fires at its moment (not withheld near it)."""
    sent = [ReminderKey(CHANNEL_A, ITEM.ref, 10, T0)]
    moved = launch_at(T0 + timedelta(hours=1))
    moment = moved.date - minutes(10)  # type: ignore[operator]
    plan = plan_reminders([moved], [reminding((10,))], sent, moment, since=moment - minutes(1))
    assert due_offsets(plan) == [10]


def test_without_since_the_window_opens_the_longest_grace_back() -> None:
    """With no previous run recorded, a moment 4 min past still fires; 6 min past does not."""
    moment = T0 - minutes(60)
    assert due_offsets(plan_reminders([ITEM], [SUB], [], moment + minutes(4))) == [60]
    six = plan_reminders([ITEM], [SUB], [], moment + minutes(6))
    assert six.due == ()
    assert six.dropped == ()
