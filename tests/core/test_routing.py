"""Routing: which channels get which changes, grouped into deliveries, and date-slip coalescing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from bot.core.changes import ChangeKind
from bot.core.routing import (
    NONCE_MAX_LENGTH,
    Delivery,
    coalesce_date_slip,
    dedup_key_for,
    matches,
    nonce_for,
    route,
)
from bot.core.snapshot import Source
from tests.core.change_factory import (
    CHANNEL_A,
    CHANNEL_B,
    SPACEX,
    T0,
    change,
    event,
    launch,
    minutes,
    slip,
    sub,
)

LIVE = ChangeKind.WEBCAST_LIVE
DATE_A = datetime(2025, 6, 26, 10, 30, tzinfo=UTC)
DATE_B = datetime(2025, 6, 26, 11, 0, tzinfo=UTC)
DATE_C = datetime(2025, 6, 26, 12, 15, tzinfo=UTC)


# --- matches ---------------------------------------------------------------------------------


def test_event_type_filter_accepts_listed_type() -> None:
    """An event whose type is in the subscription's types matches."""
    assert matches(sub(event_types=frozenset({2, 3})), change(LIVE, event(type_id=2)))


def test_event_type_filter_rejects_other_type() -> None:
    """An event of an unlisted type does not match."""
    assert not matches(sub(event_types=frozenset({3})), change(LIVE, event(type_id=2)))


def test_event_without_type_matches_only_all_types() -> None:
    """An event LL2 left untyped passes "all types" but no explicit type list."""
    untyped = change(LIVE, event(type_id=None))
    assert matches(sub(event_types=None), untyped)
    assert not matches(sub(event_types=frozenset({2})), untyped)


def test_provider_filter_accepts_listed_provider() -> None:
    """A launch by a listed provider matches."""
    assert matches(sub(providers=frozenset({SPACEX})), change(LIVE, launch(provider_id=SPACEX)))


def test_provider_filter_rejects_other_provider() -> None:
    """A launch by another provider does not match."""
    assert not matches(sub(providers=frozenset({44})), change(LIVE, launch(provider_id=SPACEX)))


def test_type_filter_does_not_restrict_launches() -> None:
    """An event-type filter leaves launches alone (and a provider filter leaves events alone)."""
    assert matches(sub(event_types=frozenset({3})), change(LIVE, launch()))
    assert matches(sub(providers=frozenset({44})), change(LIVE, event()))


def test_source_filter_rejects_other_source() -> None:
    """A launches-only subscription ignores events."""
    assert not matches(sub(sources=frozenset({Source.LAUNCH})), change(LIVE, event()))


def test_kind_filter_rejects_unwanted_kind() -> None:
    """A webcast-only subscription ignores a new update."""
    only_live = sub(kinds=frozenset({LIVE}))
    assert matches(only_live, change(LIVE, event()))
    assert not matches(only_live, change(ChangeKind.NEW_UPDATE, event()))


def test_disabled_subscription_matches_nothing() -> None:
    """A paused subscription gets no alerts."""
    assert not matches(sub(enabled=False), change(LIVE, event()))


def test_webcast_ended_is_never_routed() -> None:
    """``webcast_ended`` is bookkeeping: no subscription receives it, even one listing it."""
    ended = change(ChangeKind.WEBCAST_ENDED, event())
    greedy = sub(kinds=frozenset(ChangeKind))
    assert not matches(greedy, ended)
    assert route([ended], [greedy]) == []


# --- route -----------------------------------------------------------------------------------


def test_overlapping_subscriptions_in_one_channel_yield_one_delivery() -> None:
    """Two matching subscriptions in one channel give one delivery that pings both roles."""
    subs = [sub(7, role_id=30), sub(3, event_types=frozenset({2}), role_id=20)]
    [delivery] = route([change(LIVE, event())], subs)
    assert delivery.channel_id == CHANNEL_A
    assert delivery.subscription_id == 3
    assert delivery.role_ids == (20, 30)


def test_same_role_on_two_subscriptions_is_mentioned_once() -> None:
    """Role ids are deduplicated."""
    [delivery] = route([change(LIVE, event())], [sub(1, role_id=20), sub(2, role_id=20)])
    assert delivery.role_ids == (20,)


def test_role_of_subscription_matching_nothing_in_delivery_is_not_pinged() -> None:
    """A launches-only subscription's role is not pinged for an event alert in its channel."""
    subs = [sub(1, role_id=20), sub(2, sources=frozenset({Source.LAUNCH}), role_id=99)]
    [delivery] = route([change(LIVE, event())], subs)
    assert delivery.role_ids == (20,)
    assert delivery.subscription_id == 1


def test_two_channels_yield_two_deliveries() -> None:
    """Each subscribed channel gets its own delivery of the same change."""
    deliveries = route([change(LIVE, event())], [sub(1, CHANNEL_A), sub(2, CHANNEL_B)])
    assert [d.channel_id for d in deliveries] == [CHANNEL_A, CHANNEL_B]
    assert deliveries[0].dedup_key != deliveries[1].dedup_key


def test_several_changes_to_one_item_yield_one_delivery() -> None:
    """A webcast, a slip and an update to one item in one poll become one ordered delivery."""
    item = event()
    changes = [
        change(ChangeKind.NEW_UPDATE, item, version="9002"),
        slip(item, DATE_A, DATE_B),
        change(LIVE, item),
        change(ChangeKind.NEW_UPDATE, item, version="9001"),
    ]
    [delivery] = route(changes, [sub()])
    assert delivery.item_ref == "event:1201"
    kinds = [c.kind for c in delivery.changes]
    assert kinds == [LIVE, ChangeKind.DATE_CHANGED, ChangeKind.NEW_UPDATE, ChangeKind.NEW_UPDATE]
    assert [c.version for c in delivery.changes[2:]] == ["9001", "9002"]


def test_different_items_yield_separate_deliveries() -> None:
    """Changes to two items in one channel are two deliveries, in the items' input order."""
    deliveries = route([change(LIVE, launch()), change(LIVE, event())], [sub()])
    assert [d.item_ref for d in deliveries] == [
        "launch:f0a8b8f2-1c36-4b1d-8f6a-0d2a6f0c1b01",
        "event:1201",
    ]


def test_only_matching_changes_reach_a_channel() -> None:
    """A channel that wants only webcasts gets the webcast change, not the slip beside it."""
    item = event()
    [delivery] = route(
        [change(LIVE, item), slip(item, DATE_A, DATE_B)], [sub(kinds=frozenset({LIVE}))]
    )
    assert [c.kind for c in delivery.changes] == [LIVE]


def test_duplicate_change_is_routed_once() -> None:
    """The same change listed twice appears once in the delivery."""
    [delivery] = route([change(LIVE, event()), change(LIVE, event())], [sub()])
    assert len(delivery.changes) == 1


def test_nothing_matches_yields_no_delivery() -> None:
    """No subscription, no delivery."""
    assert route([change(LIVE, event())], []) == []


# --- keys and nonces -------------------------------------------------------------------------


def test_dedup_key_is_stable_across_calls_and_change_order() -> None:
    """Replaying a poll, in any order, gives the same key: the outbox will not send twice."""
    item = event()
    changes = [change(LIVE, item), slip(item, DATE_A, DATE_B), change(ChangeKind.NEW_UPDATE, item)]
    [first] = route(changes, [sub()])
    [again] = route(list(reversed(changes)), [sub()])
    assert first.dedup_key == again.dedup_key
    assert first.dedup_key.startswith(f"{CHANNEL_A}:event:1201:")


def test_dedup_key_differs_for_another_change_set() -> None:
    """A different set of changes to the same item in the same channel is a different message."""
    item = event()
    one = dedup_key_for(CHANNEL_A, "event:1201", [change(LIVE, item)])
    two = dedup_key_for(CHANNEL_A, "event:1201", [change(LIVE, item, version="2025-06-27T00:00Z")])
    assert one != two


def test_nonce_fits_discord_limit_and_is_deterministic() -> None:
    """A nonce has at most 25 characters and depends only on the key."""
    key = f"{CHANNEL_A}:event:1201:0123456789abcdef"
    assert len(nonce_for(key)) <= NONCE_MAX_LENGTH == 25
    assert nonce_for(key) == nonce_for(key)
    assert nonce_for(key) != nonce_for(key + "x")


def test_nonce_is_stable_across_processes() -> None:
    """The nonce is a fixed function of the key (no salted ``hash()``): pinned value."""
    assert nonce_for("800000000000000001:event:1201:0123456789abcdef") == (
        "i2rbhpjuifcvhhq7ipqramdd"
    )


def test_delivery_nonce_property_uses_dedup_key() -> None:
    """``Delivery.nonce`` is the nonce of its dedup key."""
    [delivery] = route([change(LIVE, event())], [sub()])
    assert delivery.nonce == nonce_for(delivery.dedup_key)


def test_delivery_refuses_changes_of_another_item() -> None:
    """A delivery is about one item; a stray change is a programming error."""
    with pytest.raises(ValidationError, match="event:1201"):
        Delivery(
            guild_id=1,
            channel_id=CHANNEL_A,
            subscription_id=1,
            role_ids=(),
            item_ref="event:1201",
            changes=(change(LIVE, launch()),),
            dedup_key="k",
        )


# --- coalesce_date_slip ----------------------------------------------------------------------


def _delivery(*changes_: object, channel: int = CHANNEL_A, role: int | None = None) -> Delivery:
    [delivery] = route(list(changes_), [sub(1, channel, role_id=role)])  # type: ignore[arg-type]
    return delivery


def test_second_slip_within_quiet_period_merges_to_net_change() -> None:
    """A → B then B → C within the quiet period becomes one A → C."""
    item = event()
    pending = _delivery(slip(item, DATE_A, DATE_B, detected_at=T0))
    new = _delivery(slip(item, DATE_B, DATE_C, detected_at=T0 + minutes(4)))
    merged = coalesce_date_slip(pending, new, now=T0 + minutes(4))
    assert merged is not None
    [date_change] = merged.changes
    assert (date_change.old_date, date_change.new_date) == (DATE_A, DATE_C)
    assert date_change.detected_at == T0
    assert merged.dedup_key == dedup_key_for(CHANNEL_A, "event:1201", merged.changes)
    assert merged.dedup_key not in (pending.dedup_key, new.dedup_key)


def test_slip_back_to_original_date_cancels_the_date_change() -> None:
    """A → B then B → A leaves no date change, but keeps the other pending changes."""
    item = event()
    update = change(ChangeKind.NEW_UPDATE, item)
    pending = _delivery(slip(item, DATE_A, DATE_B), update)
    new = _delivery(slip(item, DATE_B, DATE_A, detected_at=T0 + minutes(2)))
    merged = coalesce_date_slip(pending, new, now=T0 + minutes(2))
    assert merged is not None
    assert [c.identity for c in merged.changes] == [update.identity]


def test_slip_back_with_nothing_else_leaves_an_empty_delivery() -> None:
    """A reverted slip with nothing else pending merges into a delivery with no changes."""
    item = event()
    pending = _delivery(slip(item, DATE_A, DATE_B))
    new = _delivery(slip(item, DATE_B, DATE_A, detected_at=T0 + minutes(1)))
    merged = coalesce_date_slip(pending, new, now=T0 + minutes(1))
    assert merged is not None
    assert merged.changes == ()


def test_precision_change_keeps_a_returning_date() -> None:
    """Back to the same instant but at another precision is still news."""
    item = event()
    pending = _delivery(slip(item, DATE_A, DATE_B, old_precision="Hour", new_precision="Minute"))
    new = _delivery(slip(item, DATE_B, DATE_A, detected_at=T0 + minutes(1)))
    merged = coalesce_date_slip(pending, new, now=T0 + minutes(1))
    assert merged is not None
    [date_change] = merged.changes
    assert (date_change.old_precision, date_change.new_precision) == ("Hour", "Minute")


def test_slip_after_quiet_period_is_not_merged() -> None:
    """Past the quiet period, both slips go out as they are."""
    item = event()
    pending = _delivery(slip(item, DATE_A, DATE_B))
    new = _delivery(slip(item, DATE_B, DATE_C, detected_at=T0 + minutes(11)))
    assert coalesce_date_slip(pending, new, now=T0 + minutes(11)) is None


def test_quiet_period_is_a_parameter() -> None:
    """A longer quiet period merges later slips."""
    item = event()
    pending = _delivery(slip(item, DATE_A, DATE_B))
    new = _delivery(slip(item, DATE_B, DATE_C, detected_at=T0 + minutes(11)))
    assert coalesce_date_slip(pending, new, T0 + minutes(11), quiet_period=minutes(15))


def test_slips_in_different_channels_are_not_merged() -> None:
    """Coalescing stays within one channel."""
    item = event()
    pending = _delivery(slip(item, DATE_A, DATE_B), channel=CHANNEL_A)
    new = _delivery(slip(item, DATE_B, DATE_C), channel=CHANNEL_B)
    assert coalesce_date_slip(pending, new, now=T0) is None


def test_new_delivery_without_slip_is_not_merged() -> None:
    """Only a further date change triggers coalescing."""
    item = event()
    pending = _delivery(slip(item, DATE_A, DATE_B))
    assert coalesce_date_slip(pending, _delivery(change(LIVE, item)), now=T0) is None


def test_merge_keeps_other_changes_once_and_unites_roles() -> None:
    """Other changes of both deliveries survive once each; both deliveries' roles are pinged."""
    item = event()
    update = change(ChangeKind.NEW_UPDATE, item)
    pending = _delivery(slip(item, DATE_A, DATE_B), update, role=20)
    new = _delivery(slip(item, DATE_B, DATE_C), update, change(LIVE, item), role=30)
    merged = coalesce_date_slip(pending, new, now=T0 + minutes(1))
    assert merged is not None
    assert [c.kind for c in merged.changes] == [LIVE, ChangeKind.DATE_CHANGED, update.kind]
    assert merged.role_ids == (20, 30)


def test_third_slip_merges_into_merged_delivery() -> None:
    """A → B, B → C, C → D within the window reads A → D."""
    item = event()
    date_d = datetime(2025, 6, 27, 8, 0, tzinfo=UTC)
    first = _delivery(slip(item, DATE_A, DATE_B))
    second = _delivery(slip(item, DATE_B, DATE_C, detected_at=T0 + minutes(3)))
    third = _delivery(slip(item, DATE_C, date_d, detected_at=T0 + minutes(6)))
    merged = coalesce_date_slip(first, second, now=T0 + minutes(3))
    assert merged is not None
    merged = coalesce_date_slip(merged, third, now=T0 + minutes(6))
    assert merged is not None
    [date_change] = merged.changes
    assert (date_change.old_date, date_change.new_date) == (DATE_A, date_d)


def test_merged_version_differs_from_a_later_identical_slip() -> None:
    """The merged change's identity cannot collide with a later genuine B → C slip."""
    item = event()
    pending = _delivery(slip(item, DATE_A, DATE_B))
    b_to_c = slip(item, DATE_B, DATE_C, detected_at=T0 + minutes(1))
    merged = coalesce_date_slip(pending, _delivery(b_to_c), now=T0 + minutes(1))
    assert merged is not None
    assert merged.changes[0].identity != b_to_c.identity


def test_quiet_period_is_anchored_at_the_first_slip() -> None:
    """A date that keeps slipping is still announced one quiet period after its first move."""
    item = event()
    date_d = datetime(2025, 6, 27, 8, 0, tzinfo=UTC)
    first = _delivery(slip(item, DATE_A, DATE_B))
    second = _delivery(slip(item, DATE_B, DATE_C, detected_at=T0 + minutes(8)))
    merged = coalesce_date_slip(first, second, now=T0 + minutes(8))
    assert merged is not None
    third = _delivery(slip(item, DATE_C, date_d, detected_at=T0 + minutes(16)))
    assert coalesce_date_slip(merged, third, now=T0 + minutes(16)) is None
