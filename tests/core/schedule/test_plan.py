"""The calendar planner, rule by rule (see bot/core/schedule/plan.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.core.schedule import (
    MIN_LEAD,
    Action,
    ActionKind,
    Hold,
    Status,
    apply_plan,
    effective_status,
    fields_for,
    item_ref_of,
    plan_calendar,
)
from bot.core.schedule.event import DESCRIPTION_MAX, LOCATION_MAX, NAME_MAX
from tests.core.change_factory import minutes
from tests.core.schedule.support import T0, WATCH, calendar, entry_for, event, launch

QUIET = timedelta(minutes=10)


def kinds(actions: tuple[Action, ...]) -> list[tuple[ActionKind, str]]:
    """(kind, item ref) of each action, in order."""
    return [(a.kind, a.item_ref) for a in actions]


def test_a_followed_precise_item_in_the_horizon_is_created_with_its_date_and_a_marker() -> None:
    """A Go launch two hours ahead becomes an EXTERNAL event from T-0 to T-0 + 1 h."""
    item = launch(T0 + minutes(120))
    plan = plan_calendar([item], calendar(), [], T0)
    assert kinds(plan.actions) == [(ActionKind.CREATE, item.ref)]
    fields = plan.actions[0].fields
    assert fields is not None
    assert fields.start == item.date
    assert fields.end == T0 + minutes(180)
    assert item_ref_of(fields.description) == item.ref
    assert fields.location.startswith("https://")
    assert len(fields.location) <= LOCATION_MAX


def test_only_second_minute_and_hour_precision_are_mirrored() -> None:
    """A day-precision date is not a time to put in a calendar; an hour one is."""
    day = launch(T0 + minutes(600), "day", precision_id=5)
    hour = launch(T0 + minutes(600), "hour", precision_id=2)
    plan = plan_calendar([day, hour], calendar(), [], T0)
    assert kinds(plan.actions) == [(ActionKind.CREATE, hour.ref)]


def test_the_horizon_and_the_filters_decide_what_is_followed() -> None:
    """Beyond horizon_days, or by another provider, nothing is created."""
    far = launch(T0 + timedelta(days=3), "far")
    near = launch(T0 + timedelta(days=1), "near")
    assert kinds(plan_calendar([far, near], calendar(horizon_days=2), [], T0).actions) == [
        (ActionKind.CREATE, near.ref)
    ]
    assert plan_calendar([near], calendar(providers=frozenset({999})), [], T0).actions == ()


def test_only_the_max_nearest_are_mirrored_and_a_nearer_one_displaces_the_farthest() -> None:
    """With max 2, three items give the two nearest; a new nearer item deletes the farthest."""
    a, b, c = (launch(T0 + minutes(m), name) for m, name in ((300, "a"), (100, "b"), (200, "c")))
    plan = plan_calendar([a, b, c], calendar(max_events=2), [], T0)
    assert kinds(plan.actions) == [(ActionKind.CREATE, b.ref), (ActionKind.CREATE, c.ref)]
    state = apply_plan([], plan)
    d = launch(T0 + minutes(50), "d")
    again = plan_calendar([a, b, c, d], calendar(max_events=2), state, T0)
    assert sorted(kinds(again.actions)) == [(ActionKind.CREATE, d.ref), (ActionKind.DELETE, c.ref)]


def test_room_leaves_space_for_the_servers_own_events() -> None:
    """With room for one more event only one is created, whatever max says."""
    items = [launch(T0 + minutes(100 + i), f"l{i}") for i in range(3)]
    assert len(plan_calendar(items, calendar(), [], T0, room=1).actions) == 1


def test_an_item_too_close_to_now_is_not_created() -> None:
    """Within MIN_LEAD of now a create could reach Discord with a start in the past."""
    item = launch(T0 + MIN_LEAD)
    assert plan_calendar([item], calendar(), [], T0).actions == ()


def test_a_slip_is_held_for_the_quiet_period_then_edited_once() -> None:
    """Three slips in six minutes: no edit until the last has been stable for 10 minutes."""
    item = launch(T0 + minutes(600))
    state = [entry_for(item)]
    now = T0
    for slip in (30, 60, 90):
        now += minutes(3)
        moved = launch(T0 + minutes(600 + slip))
        plan = plan_calendar([moved], calendar(), state, now, quiet_period=QUIET)
        assert plan.actions == ()
        assert plan.holds[0].since == now
        state = apply_plan(state, plan)
    plan = plan_calendar([moved], calendar(), state, now + minutes(9), quiet_period=QUIET)
    assert plan.actions == ()
    plan = plan_calendar([moved], calendar(), state, now + minutes(10), quiet_period=QUIET)
    assert kinds(plan.actions) == [(ActionKind.UPDATE, item.ref)]
    assert plan.actions[0].changed == ("start", "end")
    assert plan.actions[0].fields is not None
    assert plan.actions[0].fields.start == moved.date
    # The due edit keeps its hold: if this run cannot send it (its request budget ran out),
    # the next run sends it at once instead of starting a new quiet period.
    assert plan.holds == (Hold(item.ref, moved.date, now),)
    later = plan_calendar([moved], calendar(), state, now + minutes(11), quiet_period=QUIET)
    assert kinds(later.actions) == [(ActionKind.UPDATE, item.ref)]
    # Once applied, the hold is spent and nothing is left to do.
    done = apply_plan(state, later)
    assert done[0].pending_start is None
    again = plan_calendar([moved], calendar(), done, now + minutes(11), quiet_period=QUIET)
    assert (again.actions, again.holds) == ((), ())


def test_a_slip_near_the_start_is_edited_at_once() -> None:
    """An event starting within the quiet period is edited now, before Discord starts it."""
    item = launch(T0 + minutes(8))
    moved = launch(T0 + minutes(40))
    plan = plan_calendar([moved], calendar(), [entry_for(item)], T0, quiet_period=QUIET)
    assert kinds(plan.actions) == [(ActionKind.UPDATE, item.ref)]


def test_a_date_moved_into_the_past_starts_the_event_just_ahead_of_now() -> None:
    """Discord refuses a past start: the edit sets now + MIN_LEAD and Discord starts it then."""
    item = launch(T0 + minutes(60))
    moved = launch(T0 - minutes(5))
    plan = plan_calendar([moved], calendar(), [entry_for(item)], T0)
    fields = plan.actions[0].fields
    assert fields is not None
    assert fields.start == T0 + MIN_LEAD
    assert plan_calendar([moved], calendar(), apply_plan([entry_for(item)], plan), T0).actions == ()


def test_a_live_webcast_starts_the_event_and_an_already_live_item_is_created_started() -> None:
    """Webcast live -> START; a new item already live -> CREATE with start_now."""
    item = launch(T0 + minutes(20))
    live = launch(T0 + minutes(20), live=True)
    plan = plan_calendar([live], calendar(), [entry_for(item)], T0)
    assert (ActionKind.START, item.ref) in kinds(plan.actions)
    fresh = plan_calendar([live], calendar(), [], T0)
    assert fresh.actions[0].kind is ActionKind.CREATE
    assert fresh.actions[0].start_now
    assert fresh.actions[0].fields is not None
    assert fresh.actions[0].fields.location == WATCH


def test_an_event_discord_started_and_ended_by_itself_is_seen_so() -> None:
    """A SCHEDULED event past its start is ACTIVE, past its end COMPLETED, with no request."""
    item = launch(T0 + minutes(10))
    entry = entry_for(item)
    assert effective_status(entry, T0 + minutes(11)) is Status.ACTIVE
    assert effective_status(entry, T0 + minutes(71)) is Status.COMPLETED
    assert plan_calendar([item], calendar(), [entry], T0 + minutes(71)).actions == ()


def test_an_outcome_or_the_end_of_the_webcast_after_t0_ends_the_event() -> None:
    """Success without a live webcast ends it; so does the webcast we started it for ending."""
    item = launch(T0 - minutes(10))
    running = entry_for(item, status=Status.ACTIVE)
    success = launch(T0 - minutes(10), status_id=3)
    assert kinds(plan_calendar([success], calendar(), [running], T0).actions) == [
        (ActionKind.END, item.ref)
    ]
    assert kinds(plan_calendar([item], calendar(), [running], T0).actions) == [
        (ActionKind.END, item.ref)
    ]
    still_live = launch(T0 - minutes(10), status_id=3, live=True)
    assert all(
        a.kind is not ActionKind.END
        for a in plan_calendar([still_live], calendar(), [running], T0).actions
    )


def test_a_scrub_after_discord_started_the_event_ends_it_and_schedules_the_new_date() -> None:
    """The ACTIVE event cannot move: it ends, and a new event is created for tomorrow."""
    item = launch(T0 - minutes(1))
    running = entry_for(item, status=Status.ACTIVE)
    scrubbed = launch(T0 + timedelta(days=1))
    plan = plan_calendar([scrubbed], calendar(), [running], T0)
    assert kinds(plan.actions) == [(ActionKind.END, item.ref), (ActionKind.CREATE, item.ref)]
    state = apply_plan([running], plan, new_ids=[99])
    assert [(e.event_id, e.status) for e in state] == [(99, Status.SCHEDULED)]


def test_removed_or_unfollowed_items_lose_their_event_and_disable_keeps_running_ones() -> None:
    """Gone from upcoming -> DELETE; disabling deletes what has not started, not what runs."""
    soon = launch(T0 + minutes(60), "soon")
    now_on = launch(T0 - minutes(5), "now-on", live=True)
    state = [entry_for(soon, 1), entry_for(now_on, 2, Status.ACTIVE)]
    assert kinds(plan_calendar([now_on], calendar(), state, T0).actions) == [
        (ActionKind.DELETE, soon.ref)
    ]
    assert kinds(plan_calendar([soon, now_on], calendar(enabled=False), state, T0).actions) == [
        (ActionKind.DELETE, soon.ref)
    ]


def test_names_and_descriptions_fit_discord_and_ll2_text_pings_nobody() -> None:
    """A 300-character name with @everyone and a 5000-character description still fit."""
    item = event(T0 + minutes(100))
    item = item.model_copy(
        update={
            "name": "@everyone " + "N" * 300,
            "display": replace(item.display, description="D" * 5000),
        }
    )
    fields = fields_for(item, T0 + minutes(100))
    assert len(fields.name) <= NAME_MAX
    assert "@everyone" not in fields.name
    assert len(fields.description) <= DESCRIPTION_MAX
    assert item_ref_of(fields.description) == item.ref
    assert fields.end - fields.start == timedelta(hours=2)  # a docking's approach


def test_a_description_without_our_marker_is_not_ours() -> None:
    """The server's own events are never adopted."""
    assert item_ref_of("Watch party in #general") is None
    assert item_ref_of(None) is None


def test_an_event_someone_else_removed_is_not_recreated() -> None:
    """A CANCELED tombstone (a moderator deleted the event) keeps the item off the calendar;
    other items are still mirrored, and the slot it held is free for them."""
    removed = launch(T0 + minutes(60), "removed")
    other = launch(T0 + minutes(90), "other")
    tomb = entry_for(removed, 1, Status.CANCELED)
    plan = plan_calendar([removed, other], calendar(max_events=1), [tomb], T0)
    assert kinds(plan.actions) == [(ActionKind.CREATE, other.ref)]
    # A tombstone of the bot's own END (COMPLETED) does not block a next attempt.
    ended = entry_for(removed, 1, Status.COMPLETED)
    plan = plan_calendar([removed], calendar(), [ended], T0)
    assert kinds(plan.actions) == [(ActionKind.CREATE, removed.ref)]


def test_a_webcast_live_after_discord_started_the_event_ends_it_when_the_webcast_ends() -> None:
    """Discord started the event at T-0; the webcast then goes live: recorded ACTIVE without a
    request; once it is over (after T-0), the event ends instead of running to its end time."""
    item = launch(T0 - minutes(5))
    started_by_discord = entry_for(item)  # recorded SCHEDULED, its start has passed
    assert effective_status(started_by_discord, T0) is Status.ACTIVE
    live = launch(T0 - minutes(5), live=True)
    plan = plan_calendar([live], calendar(), [started_by_discord], T0)
    # The location follows the webcast link; the status is only recorded (no request).
    assert kinds(plan.actions) == [(ActionKind.UPDATE, item.ref)]
    assert plan.actions[0].changed == ("location",)
    assert plan.seen_live == (item.ref,)
    [watched] = apply_plan([started_by_discord], plan)
    assert watched.status is Status.ACTIVE
    # Without that observation the webcast's end changes nothing (Discord ends it at its end).
    over = plan_calendar([item], calendar(), [started_by_discord], T0 + minutes(10))
    assert over.actions == ()
    ended = plan_calendar([item], calendar(), [watched], T0 + minutes(10))
    assert kinds(ended.actions) == [(ActionKind.END, item.ref)]


def test_an_event_seen_live_and_ended_in_one_plan_ends() -> None:
    """Found by the convergence property at 4,000 examples: Discord started the event, its
    webcast is live, and the guild has no room left, so the same plan records it live and ends
    it. Applied in the adapter's order (the record first), the END wins and nothing is left."""
    item = launch(T0 - minutes(1), live=True)
    started_by_discord = entry_for(launch(T0 - minutes(1)))
    plan = plan_calendar([item], calendar(), [started_by_discord], T0, room=0)
    assert kinds(plan.actions) == [(ActionKind.END, item.ref)]
    assert plan.seen_live == (item.ref,)
    [ended] = apply_plan([started_by_discord], plan)
    assert ended.status is Status.COMPLETED
    assert plan_calendar([item], calendar(), [ended], T0, room=0).actions == ()
