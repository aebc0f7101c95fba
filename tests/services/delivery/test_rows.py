"""Deliveries in and out of the outbox: payload round trip, holding and coalescing date slips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.changes import ChangeKind
from bot.core.routing import nonce_for, route
from bot.services.delivery.rows import (
    PayloadError,
    deliveries_to_rows,
    part_nonce,
    render_delivery,
    row_to_delivery,
)
from bot.store import OutboxStatus, Store
from tests.core.change_factory import T0, change, event, slip
from tests.core.change_factory import sub as make_sub
from tests.services.delivery.support import QUIET, queue, rows_of, subscribe, update_change

DATE_A = datetime(2025, 6, 26, 10, 30, tzinfo=UTC)
DATE_B = datetime(2025, 6, 26, 11, 0, tzinfo=UTC)
DATE_C = datetime(2025, 6, 26, 12, 15, tzinfo=UTC)
CHANNEL = 800_000_000_000_000_009
ROLE = 900_000_000_000_000_001


# --- pure ------------------------------------------------------------------------------------


def test_row_round_trips_to_the_same_delivery() -> None:
    """A delivery written as a row comes back equal, snapshots, roles and key included."""
    subs = [make_sub(1, CHANNEL, role_id=ROLE), make_sub(2, CHANNEL, role_id=ROLE + 1)]
    (delivery,) = route([update_change(), change(ChangeKind.WEBCAST_LIVE, event())], subs)
    (row,) = deliveries_to_rows([delivery], T0)
    back = row_to_delivery(row.model_copy(update={"id": 1}))
    assert back == delivery
    assert row.role_id == ROLE
    assert row.kinds == {ChangeKind.NEW_UPDATE, ChangeKind.WEBCAST_LIVE}


def test_row_keeps_attribution_when_subscription_deleted() -> None:
    """A row whose subscription was deleted (column NULL) still reads back."""
    (delivery,) = route([update_change()], [make_sub(5, CHANNEL)])
    (row,) = deliveries_to_rows([delivery], T0)
    assert row_to_delivery(row.model_copy(update={"subscription_id": None})).subscription_id == 5


@pytest.mark.parametrize("payload", [{}, {"v": 99}, {"v": 1, "changes": [{"kind": "x"}]}])
def test_unreadable_payload_is_a_payload_error(payload: dict[str, object]) -> None:
    """A payload of an unknown version or shape raises PayloadError, not a random exception."""
    (row,) = deliveries_to_rows(route([update_change()], [make_sub(1, CHANNEL)]), T0)
    with pytest.raises(PayloadError):
        row_to_delivery(row.model_copy(update={"payload": payload}))


def test_date_only_rows_are_held_for_the_quiet_period() -> None:
    """A lone date slip waits for the quiet period; anything else is due at once."""
    subs = [make_sub(1, CHANNEL)]
    only_date = route([slip(event(1), DATE_A, DATE_B)], subs)
    mixed = route([slip(event(2), DATE_A, DATE_B), update_change(2)], subs)
    (held,) = deliveries_to_rows(only_date, T0, QUIET)
    (due,) = deliveries_to_rows(mixed, T0, QUIET)
    assert held.next_attempt_at == T0 + QUIET
    assert due.next_attempt_at == T0


def test_first_part_nonce_is_the_delivery_nonce() -> None:
    """Part 0 uses the delivery's own nonce; later parts get distinct ones of legal length."""
    (delivery,) = route([update_change()], [make_sub(1, CHANNEL)])
    nonces = [part_nonce(delivery.dedup_key, i) for i in range(3)]
    assert nonces[0] == delivery.nonce == nonce_for(delivery.dedup_key)
    assert len(set(nonces)) == 3
    assert all(len(n) <= 25 for n in nonces)


def test_several_roles_are_all_mentioned_once() -> None:
    """Two subscriptions' roles both lead the content of the first message only."""
    subs = [make_sub(1, CHANNEL, role_id=ROLE + 1), make_sub(2, CHANNEL, role_id=ROLE)]
    (delivery,) = route([update_change()], subs)
    messages = render_delivery(delivery, T0)
    assert messages[0].content is not None
    assert messages[0].content.startswith(f"<@&{ROLE}> <@&{ROLE + 1}> ")
    assert messages[0].content.count("<@&") == 2


# --- with the store --------------------------------------------------------------------------


async def test_replayed_poll_enqueues_nothing_new(store: Store) -> None:
    """The same deliveries twice (a poll replayed after a crash) make one row."""
    sub = await subscribe(store, CHANNEL)
    assert await queue(store, [update_change()], [sub]) == 1
    assert await queue(store, [update_change()], [sub]) == 0
    assert len(await rows_of(store)) == 1


async def test_second_slip_merges_into_held_row(store: Store) -> None:
    """A → B then B → C within the quiet period leaves one held row announcing A → C."""
    sub = await subscribe(store, CHANNEL)
    await queue(store, [slip(event(), DATE_A, DATE_B)], [sub])
    later = T0 + timedelta(minutes=4)
    second = slip(event(), DATE_B, DATE_C, detected_at=later)
    assert await queue(store, [second], [sub], now=later) == 1
    (row,) = await rows_of(store)
    (merged,) = row_to_delivery(row).changes
    assert (merged.old_date, merged.new_date) == (DATE_A, DATE_C)
    assert row.next_attempt_at == T0 + QUIET  # the hold stays anchored at the first slip
    assert row.status is OutboxStatus.PENDING


async def test_slip_that_reverts_withdraws_the_held_row(store: Store) -> None:
    """A → B then B → A: the pending alert is cancelled and nothing new is queued."""
    sub = await subscribe(store, CHANNEL)
    await queue(store, [slip(event(), DATE_A, DATE_B)], [sub])
    later = T0 + timedelta(minutes=2)
    assert await queue(store, [slip(event(), DATE_B, DATE_A, detected_at=later)], [sub], later) == 0
    (row,) = await rows_of(store)
    assert row.status is OutboxStatus.CANCELLED


async def test_slip_after_quiet_period_gets_its_own_row(store: Store) -> None:
    """A slip later than the quiet period after the first is not merged."""
    sub = await subscribe(store, CHANNEL)
    await queue(store, [slip(event(), DATE_A, DATE_B)], [sub])
    later = T0 + QUIET + timedelta(minutes=1)
    await queue(store, [slip(event(), DATE_B, DATE_C, detected_at=later)], [sub], later)
    assert [r.status for r in await rows_of(store)] == [OutboxStatus.PENDING] * 2


async def test_urgent_change_merged_into_held_row_makes_it_due(store: Store) -> None:
    """A slip arriving with a webcast-live change is merged, and the row is due at once."""
    sub = await subscribe(store, CHANNEL)
    await queue(store, [slip(event(), DATE_A, DATE_B)], [sub])
    later = T0 + timedelta(minutes=3)
    urgent = [
        slip(event(), DATE_B, DATE_C, detected_at=later),
        change(ChangeKind.WEBCAST_LIVE, event(), detected_at=later),
    ]
    await queue(store, urgent, [sub], later)
    (row,) = await rows_of(store)
    assert row.kinds == {ChangeKind.DATE_CHANGED, ChangeKind.WEBCAST_LIVE}
    assert row.next_attempt_at == later


async def test_slip_does_not_rewrite_a_row_due_now(store: Store) -> None:
    """A pending row with more than date changes (due, maybe in flight) is left alone."""
    sub = await subscribe(store, CHANNEL)
    await queue(store, [slip(event(), DATE_A, DATE_B), update_change()], [sub])
    later = T0 + timedelta(minutes=1)
    await queue(store, [slip(event(), DATE_B, DATE_C, detected_at=later)], [sub], later)
    first, second = await rows_of(store)
    assert first.kinds == {ChangeKind.DATE_CHANGED, ChangeKind.NEW_UPDATE}
    assert second.kinds == {ChangeKind.DATE_CHANGED}
