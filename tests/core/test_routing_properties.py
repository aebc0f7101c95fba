"""Properties of routing and date-slip coalescing over random changes and subscriptions."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.changes import Change, ChangeKind
from bot.core.routing import (
    DEFAULT_QUIET_PERIOD,
    Delivery,
    coalesce_date_slip,
    dedup_key_for,
    matches,
    nonce_for,
    route,
)
from bot.core.snapshot import Snapshot, Source
from bot.core.subscriptions import Subscription
from tests.core.change_factory import (
    CHANNEL_A,
    CHANNEL_B,
    T0,
    change,
    event,
    launch,
    slip,
    sub,
)

CHANNEL_C = 800_000_000_000_000_003
CHANNELS = (CHANNEL_A, CHANNEL_B, CHANNEL_C)
EVENT_TYPES = (2, 3, 8)
PROVIDERS = (121, 44)
# A fixed pool, so item ids repeat across changes with consistent types and providers.
ITEMS: tuple[Snapshot, ...] = (
    event(1201, type_id=2),
    event(1202, type_id=3),
    event(1203, type_id=None),
    launch("launch-1", provider_id=121),
    launch("launch-2", provider_id=44),
    launch("launch-3", provider_id=None),
)

changes_st = st.lists(
    st.builds(
        lambda item, kind, version: change(kind, item, version=version),
        st.sampled_from(ITEMS),
        st.sampled_from(list(ChangeKind)),
        st.sampled_from(["1", "2", "3"]),  # few versions, so duplicates happen
    ),
    max_size=12,
)


def _id_filter(ids: tuple[int, ...]) -> st.SearchStrategy[frozenset[int] | None]:
    return st.none() | st.frozensets(st.sampled_from(ids), min_size=1)


subscription_st = st.builds(
    lambda sub_id, channel, sources, types, providers, kinds, role, enabled: sub(
        sub_id,
        channel,
        sources=sources,
        event_types=types,
        providers=providers,
        kinds=kinds,
        role_id=role,
        enabled=enabled,
    ),
    st.integers(1, 50),
    st.sampled_from(CHANNELS),
    st.frozensets(st.sampled_from(list(Source)), min_size=1),
    _id_filter(EVENT_TYPES),
    _id_filter(PROVIDERS),
    # webcast_ended included on purpose: it must never be routed even when asked for.
    st.frozensets(st.sampled_from(list(ChangeKind)), min_size=1),
    st.none() | st.sampled_from([10, 20, 30]),
    st.booleans(),
)
subs_st = st.lists(subscription_st, max_size=8, unique_by=lambda s: s.id)


def _summary(deliveries: list[Delivery]) -> set[tuple[str, tuple[int, ...], int, tuple[str, ...]]]:
    return {
        (d.dedup_key, d.role_ids, d.subscription_id, tuple(c.identity for c in d.changes))
        for d in deliveries
    }


@settings(max_examples=300, deadline=None)
@given(changes_st, subs_st)
def test_every_matched_change_reaches_each_channel_exactly_once(
    changes: list[Change], subs: list[Subscription]
) -> None:
    """Each (change, channel) pair with a matching subscription is in exactly one delivery."""
    deliveries = route(changes, subs)
    for c in changes:
        for channel in CHANNELS:
            wanted = any(matches(s, c) for s in subs if s.channel_id == channel)
            carrying = [
                d
                for d in deliveries
                if d.channel_id == channel and c.identity in {x.identity for x in d.changes}
            ]
            assert len(carrying) == (1 if wanted else 0)


@settings(max_examples=300, deadline=None)
@given(changes_st, subs_st)
def test_deliveries_hold_only_matched_changes_and_consistent_metadata(
    changes: list[Change], subs: list[Subscription]
) -> None:
    """Every change in a delivery is wanted there; roles, ids and keys follow from the matches."""
    deliveries = route(changes, subs)
    assert len({(d.channel_id, d.item_ref) for d in deliveries}) == len(deliveries)
    assert len({d.dedup_key for d in deliveries}) == len(deliveries)
    for d in deliveries:
        assert d.changes
        channel_subs = [s for s in subs if s.channel_id == d.channel_id]
        matched = [s for s in channel_subs if any(matches(s, c) for c in d.changes)]
        for c in d.changes:
            assert c.kind is not ChangeKind.WEBCAST_ENDED
            assert any(matches(s, c) for s in channel_subs)
        assert d.subscription_id == min(s.id for s in matched)
        assert d.role_ids == tuple(sorted({s.role_id for s in matched if s.role_id is not None}))
        assert d.dedup_key == dedup_key_for(d.channel_id, d.item_ref, d.changes)
        assert len({c.identity for c in d.changes}) == len(d.changes)


@settings(max_examples=200, deadline=None)
@given(changes_st, subs_st, st.randoms(use_true_random=False))
def test_routing_ignores_input_order(
    changes: list[Change], subs: list[Subscription], rnd: random.Random
) -> None:
    """Shuffling changes and subscriptions changes neither keys, roles nor change order."""
    shuffled_changes, shuffled_subs = list(changes), list(subs)
    rnd.shuffle(shuffled_changes)
    rnd.shuffle(shuffled_subs)
    assert _summary(route(changes, subs)) == _summary(route(shuffled_changes, shuffled_subs))


@given(st.text(max_size=300))
def test_nonce_is_short_base32_and_deterministic(key: str) -> None:
    """Any key maps to the same ≤ 25-character lowercase base32 nonce every time."""
    nonce = nonce_for(key)
    assert len(nonce) <= 25
    assert set(nonce) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert nonce == nonce_for(key)


# --- coalescing ------------------------------------------------------------------------------

DATES = tuple(datetime(2025, 6, 26, 10, 30, tzinfo=UTC) + timedelta(hours=h) for h in range(4))
PRECISIONS = ("Minute", "Hour")
ITEM = ITEMS[0]
CHANNEL_SUB = sub(1, CHANNEL_A, role_id=None)


def _states(min_size: int) -> st.SearchStrategy[list[tuple[datetime, str]]]:
    """Dated states in a row; consecutive ones differ, as the diff only reports real moves."""
    return st.lists(
        st.tuples(st.sampled_from(DATES), st.sampled_from(PRECISIONS)),
        min_size=min_size,
        max_size=6,
    ).filter(lambda s: all(a != b for a, b in pairwise(s)))


states_st = _states(2)


def _slips(states: list[tuple[datetime, str]], gaps: list[int]) -> list[tuple[datetime, Delivery]]:
    """One delivery per move between consecutive states, detected after the given gaps."""
    out = []
    at = T0
    for (old, old_p), (new, new_p), gap in zip(states, states[1:], gaps, strict=False):
        at += timedelta(minutes=gap)
        moved = slip(ITEM, old, new, detected_at=at, old_precision=old_p, new_precision=new_p)
        out.append((at, _only(route([moved], [CHANNEL_SUB]))))
    return out


def _only(deliveries: list[Delivery]) -> Delivery:
    [delivery] = deliveries
    return delivery


def _worker(slips: list[tuple[datetime, Delivery]]) -> list[Delivery]:
    """Model the outbox worker: hold one pending delivery, coalesce, send when it cannot merge."""
    sent: list[Delivery] = []
    pending: Delivery | None = None
    for now, new in slips:
        if pending is None:
            pending = new
            continue
        merged = coalesce_date_slip(pending, new, now)
        if merged is None:
            sent.append(pending)
            pending = new
        else:
            pending = merged if merged.changes else None
    if pending is not None:
        sent.append(pending)
    return sent


State = tuple[datetime | None, str | None]


def _date_moves(sent: list[Delivery]) -> list[tuple[State, State]]:
    return [
        ((c.old_date, c.old_precision), (c.new_date, c.new_precision))
        for d in sent
        for c in d.changes
        if c.kind is ChangeKind.DATE_CHANGED
    ]


@settings(max_examples=300, deadline=None)
@given(states_st, st.lists(st.integers(0, 30), min_size=5, max_size=5))
def test_sent_date_changes_chain_from_first_to_last_date(
    states: list[tuple[datetime, str]], gaps: list[int]
) -> None:
    """Whatever the timing, sent date changes link up from the first date to the last one."""
    moves = _date_moves(_worker(_slips(states, gaps)))
    position: State = states[0]
    for old, new in moves:
        assert old == position
        assert new != old
        position = new
    assert position == states[-1]


@settings(max_examples=300, deadline=None)
@given(states_st, st.lists(st.integers(0, 2), min_size=5, max_size=5))
def test_slips_within_quiet_period_are_announced_once_as_net_change(
    states: list[tuple[datetime, str]], gaps: list[int]
) -> None:
    """Slips inside one quiet period give one net first → last change, or none if it came back."""
    slips = _slips(states, gaps)
    assert slips[-1][0] - slips[0][0] <= DEFAULT_QUIET_PERIOD
    moves = _date_moves(_worker(slips))
    if states[0] == states[-1]:
        assert moves == []
    else:
        assert moves == [(states[0], states[-1])]


@settings(max_examples=200, deadline=None)
@given(
    states_st,
    st.lists(st.sampled_from([ChangeKind.NEW_UPDATE, ChangeKind.WEBCAST_LIVE]), max_size=5),
    st.lists(st.integers(0, 30), min_size=5, max_size=5),
)
def test_coalescing_never_loses_or_repeats_other_changes(
    states: list[tuple[datetime, str]], extra_kinds: list[ChangeKind], gaps: list[int]
) -> None:
    """Non-date changes riding along with slips are sent exactly once each."""
    slips = _slips(states, gaps)
    extras: list[Change] = []
    with_extras = []
    for i, (now, delivery) in enumerate(slips):
        added = [
            change(kind, ITEM, version=f"{i}{j}")
            for j, kind in enumerate(extra_kinds)
            if (i + j) % 2 == 0
        ]
        extras += added
        with_extras.append((now, _only(route([*delivery.changes, *added], [CHANNEL_SUB]))))
    sent = [c.identity for d in _worker(with_extras) for c in d.changes]
    for extra in extras:
        assert sent.count(extra.identity) == 1


@settings(max_examples=200, deadline=None)
@given(_states(3), st.integers(0, 30), st.frozensets(st.sampled_from([10, 20]), max_size=2))
def test_merge_is_deterministic_and_self_consistent(
    states: list[tuple[datetime, str]], gap: int, roles: frozenset[int]
) -> None:
    """Merging twice gives the same delivery; its key matches its changes; roles are united."""
    [(_, pending), (now, new)] = _slips(states[:3], [0, gap])
    new = new.model_copy(update={"role_ids": tuple(sorted(roles))})
    merged = coalesce_date_slip(pending, new, now)
    if gap > DEFAULT_QUIET_PERIOD.total_seconds() / 60:
        assert merged is None
        return
    assert merged is not None
    assert merged == coalesce_date_slip(pending, new, now)
    assert merged.dedup_key == dedup_key_for(merged.channel_id, merged.item_ref, merged.changes)
    assert merged.role_ids == tuple(sorted(roles))
