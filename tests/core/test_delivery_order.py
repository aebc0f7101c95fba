"""The claim order: urgent rows first, oldest first, one channel's order kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.core.changes import ChangeKind
from bot.core.delivery_order import NORMAL, URGENT, Candidate, claim_order, tier_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def backlogs(draw: st.DrawFn) -> list[Candidate]:
    n = draw(st.integers(0, 40))
    return [
        Candidate(
            id=i + 1,
            channel_id=draw(st.integers(1, 6)),
            due=T0 + timedelta(seconds=draw(st.integers(0, 20))),
            tier=draw(st.sampled_from([URGENT, NORMAL])),
        )
        for i in range(n)
    ]


def _channel_rows(cands: list[Candidate], channel: int) -> list[int]:
    return [c.id for c in sorted(cands, key=lambda c: (c.due, c.id)) if c.channel_id == channel]


@given(backlogs(), st.integers(0, 50), st.one_of(st.none(), st.integers(1, 5)))
def test_each_channel_gets_its_oldest_rows_in_order(
    cands: list[Candidate], limit: int, per_channel: int | None
) -> None:
    chosen = claim_order(cands, limit, per_channel=per_channel)
    assert len(chosen) == len(set(chosen)) <= limit
    for channel in {c.channel_id for c in cands}:
        mine = [i for i in chosen if i in set(_channel_rows(cands, channel))]
        assert mine == _channel_rows(cands, channel)[: len(mine)]  # a prefix, in order
        if per_channel is not None:
            assert len(mine) <= per_channel


@given(backlogs(), st.integers(1, 50))
def test_urgent_rows_go_before_the_rest(cands: list[Candidate], limit: int) -> None:
    chosen = claim_order(cands, limit)
    by_id = {c.id: c for c in cands}

    def lends_urgency(cand: Candidate) -> bool:  # it or a later row of its channel is urgent
        return any(
            o.channel_id == cand.channel_id and (o.due, o.id) >= (cand.due, cand.id)
            for o in cands
            if o.tier == URGENT
        )

    urgent_left_out = [c for c in cands if c.tier == URGENT and c.id not in chosen]
    if urgent_left_out:  # the limit was binding: only urgent-carrying rows were taken
        assert all(lends_urgency(by_id[i]) for i in chosen)
    # Oldest first within the urgent part and within the rest.
    keys = [(0 if lends_urgency(by_id[i]) else 1, by_id[i].due, i) for i in chosen]
    assert keys == sorted(keys)


@given(backlogs(), st.integers(0, 50))
def test_without_urgent_rows_the_order_is_oldest_due_first(
    cands: list[Candidate], limit: int
) -> None:
    plain = [Candidate(c.id, c.channel_id, c.due, NORMAL) for c in cands]
    expected = [c.id for c in sorted(plain, key=lambda c: (c.due, c.id))][:limit]
    assert claim_order(plain, limit) == expected


def test_a_webcast_overtakes_other_channels_but_not_its_own_older_row() -> None:
    rows = [
        Candidate(1, channel_id=10, due=T0, tier=NORMAL),  # date change, channel 10
        Candidate(2, channel_id=20, due=T0, tier=NORMAL),  # date change, channel 20
        Candidate(3, channel_id=30, due=T0 + timedelta(seconds=5), tier=URGENT),  # webcast
        Candidate(4, channel_id=10, due=T0 + timedelta(seconds=5), tier=URGENT),  # webcast
    ]
    assert claim_order(rows, 10) == [1, 3, 4, 2]
    assert claim_order(rows, 2) == [1, 3]


def test_tiers() -> None:
    assert tier_of([ChangeKind.WEBCAST_LIVE, ChangeKind.NEW_UPDATE], reminder=False) == URGENT
    assert tier_of([], reminder=True) == URGENT
    assert tier_of([ChangeKind.DATE_CHANGED], reminder=False) == NORMAL
    assert tier_of([ChangeKind.NEW_UPDATE, ChangeKind.STATUS_CHANGED], reminder=False) == NORMAL
