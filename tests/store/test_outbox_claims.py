"""Outbox claims name their owner, and rows carry deadlines (schema version 2)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.store import OutboxStatus, Store
from tests.store.samples import T0, outbox_row

OWNER, OTHER = 1111, 2222


async def test_claim_records_the_owner_and_settling_clears_it(store: Store) -> None:
    """claim_due stamps claim_owner; mark_sent, mark_retry and mark_failed clear it."""
    await store.enqueue([outbox_row("a"), outbox_row("b"), outbox_row("c")])
    rows = await store.claim_due(T0, 10, owner=OWNER)
    assert {r.claim_owner for r in rows} == {OWNER}
    a, b, c = sorted(rows, key=lambda r: r.dedup_key)
    assert a.id is not None
    assert b.id is not None
    assert c.id is not None
    await store.mark_sent(a.id, 1, T0)
    await store.mark_retry(b.id, "later", T0 + timedelta(minutes=1))
    await store.mark_failed(c.id, "no")
    for row_id in (a.id, b.id, c.id):
        stored = await store.get_outbox_row(row_id)
        assert stored is not None
        assert stored.claim_owner is None


async def test_release_claims_frees_others_claims_at_once(store: Store) -> None:
    """A starting process takes back claims of a dead start, not its own; due now, not later."""
    if store.dialect_name == "postgresql":
        # There a claim of an owner with no live lock is due at once anyway (the owner keys
        # here hold none): tests/services/delivery/test_owner.py covers that rule.
        pytest.skip("SQLite's rule: one process owns the file")
    await store.enqueue([outbox_row("dead"), outbox_row("mine"), outbox_row("free")])
    (_dead,) = await store.claim_due(T0, 1, owner=OTHER)
    (mine,) = await store.claim_due(T0, 1, owner=OWNER)
    # A claim without an owner (a row claimed before schema version 2) keeps its lease.
    (unowned,) = await store.claim_due(T0 + timedelta(seconds=1), 10)
    assert unowned.dedup_key == "free"
    later = T0 + timedelta(seconds=5)
    assert await store.release_claims(later, owner_other_than=OWNER) == 1
    (again,) = await store.claim_due(later, 10, owner=OWNER)
    assert again.dedup_key == "dead"  # due at once, not when its 60 s lease ends
    assert again.attempts == 2
    assert mine.id is not None
    kept = await store.get_outbox_row(mine.id)
    assert kept is not None
    assert kept.claim_owner == OWNER


async def test_per_channel_caps_one_channels_rows_in_a_batch(store: Store) -> None:
    """per_channel keeps a batch from holding more of one channel's rows than it can send."""
    rows = [outbox_row(f"busy{i}", channel_id=10) for i in range(5)]
    await store.enqueue([*rows, outbox_row("quiet", channel_id=20)])
    claimed = await store.claim_due(T0, 10, per_channel=2)
    assert sorted(r.dedup_key for r in claimed) == ["busy0", "busy1", "quiet"]


async def test_expire_overdue_marks_only_pending_rows_past_their_deadline(store: Store) -> None:
    """Rows past their deadline expire; a row in flight, a later deadline or none stay."""
    past = outbox_row("past").model_copy(update={"deadline": T0 + timedelta(minutes=1)})
    later = outbox_row("later").model_copy(update={"deadline": T0 + timedelta(hours=5)})
    never = outbox_row("never")
    flying = outbox_row("flying").model_copy(update={"deadline": T0 + timedelta(minutes=1)})
    await store.enqueue([flying])
    (in_flight,) = await store.claim_due(T0 + timedelta(minutes=2), 1, owner=OWNER)
    await store.enqueue([past, later, never])
    expired = await store.expire_overdue(T0 + timedelta(minutes=2))
    assert [r.dedup_key for r in expired] == ["past"]
    assert expired[0].status is OutboxStatus.EXPIRED
    counts = await store.outbox_counts()
    assert counts[OutboxStatus.EXPIRED] == 1
    assert counts[OutboxStatus.PENDING] == 3
    assert in_flight.id is not None
    assert await store.mark_sent(in_flight.id, 5, T0 + timedelta(minutes=2))


async def test_deadline_round_trips(store: Store) -> None:
    """A row's deadline is stored and read back as aware UTC."""
    row = outbox_row("d").model_copy(update={"deadline": T0 + timedelta(hours=1)})
    await store.enqueue([row])
    (claimed,) = await store.claim_due(T0, 1)
    assert claimed.deadline == T0 + timedelta(hours=1)
