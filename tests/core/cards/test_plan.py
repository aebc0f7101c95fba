"""The card planner: edit vs post per kind, coalescing, end of life, far slips (with properties)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.cards import (
    FAR_SLIP,
    OVER_AFTER,
    CardState,
    FreezeReason,
    PointerKind,
    plan_card,
    plan_retirement,
    pointer_kind,
)
from bot.core.changes import Change, ChangeKind
from bot.core.snapshot import UpdateRef
from tests.core.change_factory import T0, change, event, launch, slip

CH = 800_000_000_000_000_001
GUILD = 700_000_000_000_000_001
QUIET = timedelta(minutes=10)
ITEM = launch()
DATE = ITEM.date
assert DATE is not None


def plan(state: CardState | None, changes: list[Change], now=T0):  # type: ignore[no-untyped-def]
    return plan_card(
        state, guild_id=GUILD, channel_id=CH, changes=changes, now=now, quiet_period=QUIET
    )


def status(new_id: int, new: str, old_id: int = 1, old: str = "Go for Launch") -> Change:
    return change(
        ChangeKind.STATUS_CHANGED,
        ITEM.model_copy(update={"status_id": new_id, "status_name": new}),
        version=f"{old_id}>{new_id}",
        old_status=old,
        new_status=new,
        old_status_id=old_id,
        new_status_id=new_id,
    )


def update(n: int, at: timedelta = timedelta(0)) -> Change:
    return change(
        ChangeKind.NEW_UPDATE, ITEM, update=UpdateRef(id=n, comment=f"u{n}"), detected_at=T0 + at
    )


def at(made: Change, when: object) -> Change:
    """``made`` as detected at ``when``."""
    return made.model_copy(update={"detected_at": when})


LIVE = change(ChangeKind.WEBCAST_LIVE, ITEM)
SLIP = slip(ITEM, DATE, DATE + timedelta(minutes=30))


@pytest.mark.parametrize(
    ("made", "pings"),
    [
        (LIVE, PointerKind.WEBCAST_LIVE),
        (status(3, "Launch Successful"), PointerKind.OUTCOME),
        (status(4, "Launch Failure"), PointerKind.OUTCOME),
        (status(7, "Launch was a Partial Failure"), PointerKind.OUTCOME),
        (status(6, "Launch in Flight"), None),
        (status(5, "On Hold"), None),
        (SLIP, None),
        (update(1), None),
        (change(ChangeKind.NEW_ITEM, ITEM), None),
    ],
)
def test_which_kinds_post_and_which_only_edit(made: Change, pings: PointerKind | None) -> None:
    """webcast_live and outcomes post a pointer; every kind edits the card."""
    assert pointer_kind(made) is pings
    first = plan(None, [made])
    assert first.edit is not None
    assert first.edit.new_message
    assert [p.kind for p in first.pointers] == ([pings] if pings else [])


def test_first_change_posts_later_ones_edit_with_new_versions() -> None:
    """The first alert posts the card (version 1); the next edits it (version 2)."""
    first = plan(None, [update(1)])
    assert first.edit is not None
    assert first.edit.new_message
    assert first.edit.version == 1
    second = plan(first.state, [update(2)])
    assert second.edit is not None
    assert not second.edit.new_message
    assert second.edit.version == 2
    assert second.edit.dedup_key != first.edit.dedup_key
    assert second.state is not None
    assert [e.update.id for e in second.state.history if e.update] == [2, 1]  # newest first


def test_date_only_waits_out_the_quiet_period_and_others_go_now() -> None:
    """A date change alone is held like a date alert; status and webcast edit at once."""
    held = plan(None, [SLIP])
    assert held.edit is not None
    assert held.edit.due_at == T0 + QUIET
    for now_kind in (LIVE, status(6, "Launch in Flight"), update(3)):
        mixed = plan(None, [SLIP, now_kind])
        assert mixed.edit is not None
        assert mixed.edit.due_at == T0


def test_outcome_is_final_and_later_changes_are_ignored() -> None:
    """Success: one final edit, frozen; a later change edits nothing and pings nobody."""
    first = plan(None, [LIVE])
    final = plan(first.state, [status(3, "Launch Successful", 6, "Launch in Flight")])
    assert final.state is not None
    assert final.state.final
    assert final.state.frozen
    assert final.state.outcome == "Success"
    after = plan(final.state, [update(5)])
    assert after.edit is None
    assert after.pointers == ()
    assert after.ignored
    assert after.state == final.state


def test_replayed_changes_do_nothing() -> None:
    """The same change again (a replayed poll) neither bumps the version nor pings again."""
    first = plan(None, [LIVE])
    again = plan(first.state, [LIVE])
    assert again.edit is None
    assert again.pointers == ()
    assert again.state == first.state


def test_far_slip_freezes_and_the_next_alert_starts_a_new_card() -> None:
    """Slipping beyond FAR_SLIP freezes the card ('moved'); the next alert posts a new one."""
    first = plan(None, [update(1)])
    far = slip(ITEM, DATE, T0 + FAR_SLIP + timedelta(days=2))
    moved = plan(first.state, [far])
    assert moved.state is not None
    assert moved.state.frozen
    assert moved.state.frozen_reason is FreezeReason.MOVED
    assert moved.edit is not None
    assert not moved.edit.new_message
    back = plan(moved.state, [update(2)], now=T0 + timedelta(days=4))
    assert back.state is not None
    assert not back.state.frozen
    assert back.edit is not None
    assert back.edit.new_message
    assert back.state.generation == moved.state.generation + 1
    assert len(back.state.history) == 3  # the history carries over


def test_retirement_after_the_date() -> None:
    """An event OVER_AFTER past its date gets a final edit; before that, nothing."""
    state = plan(None, [change(ChangeKind.NEW_ITEM, event())]).state
    assert state is not None
    assert state.item.date is not None
    assert plan_retirement(state, state.item.date + OVER_AFTER).edit is None
    done = plan_retirement(state, state.item.date + OVER_AFTER + timedelta(minutes=1))
    assert done.edit is not None
    assert done.state is not None
    assert done.state.final


def test_changes_of_two_items_are_refused() -> None:
    with pytest.raises(ValueError, match="one item"):
        plan(None, [update(1), change(ChangeKind.NEW_UPDATE, event())])


KINDS = st.sampled_from(
    [
        lambda n: update(n),
        lambda n: slip(ITEM, DATE, DATE + timedelta(minutes=n + 1)),
        lambda n: LIVE,
        lambda n: status(6, "Launch in Flight"),
        lambda n: status(3, "Launch Successful", 6, "Launch in Flight"),
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.tuples(KINDS, st.integers(0, 500)), min_size=1, max_size=4), max_size=8)
)
def test_properties_over_any_sequence_of_polls(polls: list[list[tuple]]) -> None:  # type: ignore[type-arg]
    """Over any sequence of polls: versions only grow and each plan has at most one edit;
    a pointer is posted once per change; nothing edits a final card; history is newest first
    and bounded; an edit is never due before now nor later than the quiet period."""
    state: CardState | None = None
    pinged: set[str] = set()
    for index, poll in enumerate(polls):
        now = T0 + timedelta(minutes=index)
        batch = [at(make(n), now) for make, n in poll]
        before = state
        result = plan(state, batch, now=now)
        if before is not None and before.final:
            assert result.edit is None
            assert result.pointers == ()
            assert result.state == before
        if result.edit is not None:
            assert result.state is not None
            assert result.edit.version == result.state.version
            assert result.edit.version > (before.version if before else 0)
            assert now <= result.edit.due_at <= now + QUIET
        else:
            assert result.state == before
        for pointer in result.pointers:
            assert pointer.dedup_key not in pinged
            pinged.add(pointer.dedup_key)
        state = result.state
        if state is not None:
            stamps = [e.at for e in state.history]
            assert len(state.history) <= 50
            assert len({e.identity for e in state.history}) == len(state.history)
            assert stamps == sorted(stamps, reverse=True)


def test_retirement_of_an_item_ll2_no_longer_lists() -> None:
    """Not listed: a final edit at once, whatever the date; listed and not past: nothing."""
    state = plan(None, [change(ChangeKind.NEW_ITEM, event())]).state
    assert state is not None
    assert state.item.date is not None
    before = state.item.date - timedelta(days=1)
    assert plan_retirement(state, before).edit is None
    gone = plan_retirement(state, before, listed=False)
    assert gone.edit is not None
    assert gone.state is not None
    assert (gone.state.final, gone.state.frozen_reason) == (True, FreezeReason.REMOVED)
    assert plan_retirement(gone.state, before, listed=False).edit is None  # once
