"""Properties of the calendar planner over random timelines of items, settings and clocks.

Each example is a few steps: the clock moves on, LL2's items change (dates slip, webcasts go
live, launches get an outcome, items vanish), the planner plans and Discord accepts the plan.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.schedule import (
    LIVE_STATUSES,
    MIN_LEAD,
    ActionKind,
    CalendarSettings,
    Entry,
    Status,
    apply_plan,
    effective_status,
    plan_calendar,
    qualifies,
)
from bot.core.snapshot import Snapshot
from tests.core.change_factory import minutes
from tests.core.schedule.support import T0, calendar, launch

QUIET = timedelta(minutes=10)
IDS = tuple(f"launch-{i}" for i in range(6))

item_st = st.builds(
    lambda item_id, offset, precision, status, live: launch(
        T0 + minutes(offset), item_id, precision_id=precision, status_id=status, live=live
    ),
    st.sampled_from(IDS),
    st.integers(-120, 4 * 24 * 60),  # minutes from T0: a bit past to four days ahead
    st.sampled_from((0, 1, 2, 5, 7)),
    st.sampled_from((1, 1, 1, 3, 5, 8)),
    st.booleans(),
)
items_st = st.lists(item_st, max_size=6, unique_by=lambda i: i.id)
settings_st = st.builds(
    lambda max_events, horizon, enabled: calendar(
        max_events=max_events, horizon_days=horizon, enabled=enabled
    ),
    st.integers(1, 4),
    st.integers(1, 3),
    st.sampled_from((True, True, True, False)),
)
steps_st = st.lists(
    st.tuples(st.integers(0, 180), items_st, settings_st, st.integers(0, 6)),
    min_size=1,
    max_size=5,
)


def run(
    steps: list[tuple[int, list[Snapshot], CalendarSettings, int]],
) -> list[tuple[datetime, list[Snapshot], CalendarSettings, int, list[Entry]]]:
    """Plan and apply each step; return (now, items, settings, room, entries after) per step."""
    now, state = T0, []
    out = []
    for advance, items, guild, others in steps:
        now += minutes(advance)
        room = 6 - others  # the server's own events leave 0 to 6 slots
        plan = plan_calendar(items, guild, state, now, quiet_period=QUIET, room=room)
        state = apply_plan(state, plan)
        out.append((now, items, guild, room, state))
    return out


@settings(max_examples=300, deadline=None)
@given(steps_st)
def test_applying_a_plan_and_planning_again_yields_nothing(steps: list) -> None:  # type: ignore[type-arg]
    """Convergence: once Discord took the plan, the same moment plans no further request."""
    for now, items, guild, room, state in run(steps):
        again = plan_calendar(items, guild, state, now, quiet_period=QUIET, room=room)
        assert again.actions == ()


@settings(max_examples=300, deadline=None)
@given(steps_st)
def test_never_more_than_max_or_room_events(steps: list) -> None:  # type: ignore[type-arg]
    """SCHEDULED + ACTIVE events never exceed min(max, room); disabled, only ACTIVE ones stay."""
    for now, _items, guild, room, state in run(steps):
        live = [e for e in state if effective_status(e, now) in LIVE_STATUSES]
        if guild.active:
            assert len(live) <= min(guild.max_events, room)
        else:  # disabled: whatever has not started is gone
            assert all(effective_status(e, now) is Status.ACTIVE for e in live)


@settings(max_examples=300, deadline=None)
@given(steps_st)
def test_never_a_start_in_the_past_and_never_closer_than_min_lead(steps: list) -> None:  # type: ignore[type-arg]
    """Every create, and every edit that moves a start, starts at least MIN_LEAD ahead."""
    now, state = T0, []
    for advance, items, guild, _others in steps:
        now += minutes(advance)
        plan = plan_calendar(items, guild, state, now, quiet_period=QUIET)
        for action in plan.actions:
            moves_start = action.kind is ActionKind.CREATE or "start" in action.changed
            if moves_start:
                assert action.fields is not None
                assert action.fields.start >= now + MIN_LEAD
        state = apply_plan(state, plan)


@settings(max_examples=300, deadline=None)
@given(steps_st)
def test_only_precise_followed_items_without_outcome_get_a_new_event(steps: list) -> None:  # type: ignore[type-arg]
    """Precision gating: a create is always for a Second/Minute/Hour item that qualifies."""
    now, state = T0, []
    for advance, items, guild, _others in steps:
        now += minutes(advance)
        plan = plan_calendar(items, guild, state, now, quiet_period=QUIET)
        by_ref = {i.ref: i for i in items}
        for action in plan.actions:
            if action.kind is ActionKind.CREATE:
                item = by_ref[action.item_ref]
                assert item.precision_id in (0, 1, 2)
                assert qualifies(item, guild, now)
        state = apply_plan(state, plan)


@settings(max_examples=300, deadline=None)
@given(items_st, settings_st)
def test_the_mirrored_items_are_the_nearest(items: list[Snapshot], guild: CalendarSettings) -> None:
    """Ordering by date: no qualifying item left out is nearer than one that got an event."""
    plan = plan_calendar(items, guild, [], T0)
    created = {a.item_ref for a in plan.actions if a.kind is ActionKind.CREATE}
    eligible = [
        i
        for i in items
        if guild.active
        and qualifies(i, guild, T0)
        and i.date is not None
        and i.date > T0 + MIN_LEAD
    ]
    assert len(created) == min(len(eligible), guild.max_events)
    if created:
        farthest = max(i.date for i in eligible if i.ref in created)  # type: ignore[type-var]
        assert all(i.date >= farthest for i in eligible if i.ref not in created)  # type: ignore[operator]


@settings(max_examples=200, deadline=None)
@given(steps_st, st.sampled_from(IDS), st.integers(0, 4))
def test_an_item_whose_event_someone_removed_never_gets_a_new_one(
    steps: list,
    removed: str,
    at_step: int,  # type: ignore[type-arg]
) -> None:
    """Once a moderator's removal is recorded (CANCELED), no later plan creates an event for
    that item, and planning still converges."""
    now, state = T0, []
    for index, (advance, items, guild, others) in enumerate(steps):
        now += minutes(advance)
        if index == at_step:
            state = [
                replace(e, status=Status.CANCELED) if e.item_ref == f"launch:{removed}" else e
                for e in state
            ]
        tombstoned = any(
            e.item_ref == f"launch:{removed}" and e.status is Status.CANCELED for e in state
        )
        plan = plan_calendar(items, guild, state, now, quiet_period=QUIET, room=6 - others)
        if tombstoned:
            assert all(
                a.item_ref != f"launch:{removed}" or a.kind is not ActionKind.CREATE
                for a in plan.actions
            )
        state = apply_plan(state, plan)
        again = plan_calendar(items, guild, state, now, quiet_period=QUIET, room=6 - others)
        assert again.actions == ()
