"""The outbox: dedup, claims and leases, settling, shards, coalescing, housekeeping."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.core.changes import ChangeKind
from bot.store import OutboxStatus, ShardSpec, Store, shard_of
from tests.store.samples import T0, guild_on_shard, outbox_row


async def test_enqueue_skips_duplicate_keys(store: Store) -> None:
    """The same dedup key is stored once, across and within calls."""
    assert await store.enqueue([outbox_row("a"), outbox_row("b"), outbox_row("a")]) == 2
    assert await store.enqueue([outbox_row("a"), outbox_row("c")]) == 1
    assert await store.enqueue([]) == 0
    assert (await store.outbox_counts())[OutboxStatus.PENDING] == 3


async def test_rows_round_trip_with_big_snowflakes(store: Store) -> None:
    """Every field, snowflakes past 2**63 / 2 included, survives the database."""
    row = outbox_row(
        "k",
        guild_id=2**62 + 1,
        channel_id=2**62 + 2,
        role_id=2**62 + 3,
        payload={"title": "Crew-11", "nested": {"n": [1, 2]}},
        kinds=frozenset({ChangeKind.DATE_CHANGED, ChangeKind.STATUS_CHANGED}),
    )
    await store.enqueue([row])
    (claimed,) = await store.claim_due(T0, 10)
    assert claimed.id is not None
    assert claimed.model_dump(exclude={"id", "attempts", "next_attempt_at"}) == row.model_dump(
        exclude={"id", "attempts", "next_attempt_at"}
    )
    assert claimed.created_at.tzinfo is not None


async def test_claim_takes_only_due_pending_rows_in_order(store: Store) -> None:
    """claim_due returns due rows, oldest due first, up to the limit."""
    await store.enqueue(
        [
            outbox_row("late", due=T0 + timedelta(minutes=5)),
            outbox_row("second", due=T0 - timedelta(seconds=10)),
            outbox_row("first", due=T0 - timedelta(seconds=20)),
            outbox_row("third", due=T0),
        ]
    )
    assert [r.dedup_key for r in await store.claim_due(T0, 2)] == ["first", "second"]
    assert [r.dedup_key for r in await store.claim_due(T0, 10)] == ["third"]
    assert await store.claim_due(T0, 10) == []


async def test_claim_leases_and_counts_attempts(store: Store) -> None:
    """A claimed row is hidden for the lease, then due again with one more attempt."""
    await store.enqueue([outbox_row("k")])
    (first,) = await store.claim_due(T0, 1, lease=timedelta(seconds=30))
    assert first.attempts == 1
    assert first.next_attempt_at == T0 + timedelta(seconds=30)
    assert await store.claim_due(T0 + timedelta(seconds=29), 1) == []
    (again,) = await store.claim_due(T0 + timedelta(seconds=30), 1)
    assert (again.id, again.attempts) == (first.id, 2)


async def test_concurrent_claims_never_share_a_row(store: Store) -> None:
    """Claimers running at once split the rows between them without overlap."""
    await store.enqueue([outbox_row(f"k{i}") for i in range(30)])
    batches = await asyncio.gather(*(store.claim_due(T0, 10) for _ in range(5)))
    ids = [r.id for batch in batches for r in batch]
    assert len(ids) == len(set(ids)) == 30


async def test_mark_sent(store: Store) -> None:
    """mark_sent stores the message id and time; a sent row is never claimed again."""
    await store.enqueue([outbox_row("k")])
    (row,) = await store.claim_due(T0, 1)
    assert row.id is not None
    assert await store.mark_sent(row.id, 2**60, T0, dedup_key="k")
    got = await store.get_outbox_row(row.id)
    assert got is not None
    assert (got.status, got.message_id, got.sent_at) == (OutboxStatus.SENT, 2**60, T0)
    assert await store.claim_due(T0 + timedelta(days=1), 10) == []
    assert not await store.mark_sent(row.id, 1, T0)  # already settled


async def test_mark_retry_keeps_pending_until_the_given_time(store: Store) -> None:
    """mark_retry records the error and makes the row due at next_attempt_at."""
    await store.enqueue([outbox_row("k")])
    (row,) = await store.claim_due(T0, 1)
    assert row.id is not None
    retry_at = T0 + timedelta(minutes=2)
    assert await store.mark_retry(row.id, "HTTP 503", retry_at)
    assert await store.claim_due(retry_at - timedelta(seconds=1), 1) == []
    (again,) = await store.claim_due(retry_at, 1)
    assert (again.last_error, again.attempts, again.status) == ("HTTP 503", 2, "pending")


async def test_mark_failed(store: Store) -> None:
    """mark_failed ends the row's life with its error."""
    await store.enqueue([outbox_row("k")])
    (row,) = await store.claim_due(T0, 1)
    assert row.id is not None
    assert await store.mark_failed(row.id, "50035 invalid form body")
    got = await store.get_outbox_row(row.id)
    assert got is not None
    assert (got.status, got.last_error) == ("failed", "50035 invalid form body")
    assert not await store.mark_retry(row.id, "x", T0)


async def test_cancel_channel_cancels_only_that_channels_pending_rows(store: Store) -> None:
    """A dead channel's pending rows are cancelled; sent rows and other channels stay."""
    await store.enqueue(
        [outbox_row("a", channel_id=10), outbox_row("b", channel_id=10), outbox_row("c")]
    )
    (sent,) = [r for r in await store.claim_due(T0, 10) if r.dedup_key == "a"]
    assert sent.id is not None
    await store.mark_sent(sent.id, 1, T0)
    assert await store.cancel_channel(10, "10003 Unknown Channel") == 1
    counts = await store.outbox_counts()
    assert counts == {
        OutboxStatus.PENDING: 1,
        OutboxStatus.SENT: 1,
        OutboxStatus.FAILED: 0,
        OutboxStatus.CANCELLED: 1,
        OutboxStatus.EXPIRED: 0,
    }


@pytest.mark.parametrize("shard_count", [1, 2, 3])
async def test_claim_by_shard_follows_discords_rule(store: Store, shard_count: int) -> None:
    """Only guilds whose (guild_id >> 22) % shard_count is served are claimed."""
    rows = [
        outbox_row(f"s{shard}-{n}", guild_id=guild_on_shard(shard, shard_count, n))
        for shard in range(shard_count)
        for n in range(3)
    ]
    await store.enqueue(rows)
    spec = ShardSpec.of([0], shard_count)
    claimed = await store.claim_due(T0, 100, shards=spec)
    assert {r.dedup_key for r in claimed} == {f"s0-{n}" for n in range(3)}
    assert all(shard_of(r.guild_id, shard_count) == 0 for r in claimed)
    others = await store.claim_due(T0, 100, shards=ShardSpec.of(range(1, shard_count), shard_count))
    assert len(others) == len(rows) - 3


async def test_claim_with_guild_filter_pages_until_limit(store: Store) -> None:
    """A Python guild filter still fills the limit when matches are sparse."""
    await store.enqueue([outbox_row(f"k{i:03}", guild_id=1000 + i) for i in range(250)])
    claimed = await store.claim_due(T0, 3, guild_filter=lambda g: g % 100 == 0)
    assert sorted(r.guild_id for r in claimed) == [1000, 1100, 1200]


def test_shard_spec_validates() -> None:
    """Shard ids must fit the shard count."""
    with pytest.raises(ValueError, match="out of range"):
        ShardSpec.of([2], 2)
    with pytest.raises(ValueError, match="at least 1"):
        ShardSpec.of([], 0)


async def test_coalescing_replaces_an_unsent_slip(store: Store) -> None:
    """A second slip of the same item while the first is unsent replaces it."""
    first = outbox_row("event:1:date_changed:v1:ch", item_ref="event:1", payload={"v": 1})
    await store.enqueue([first])
    found = await store.find_pending_for_item(first.channel_id, "event:1", ChangeKind.DATE_CHANGED)
    assert found is not None
    assert found.dedup_key == first.dedup_key
    second = outbox_row("event:1:date_changed:v2:ch", item_ref="event:1", payload={"v": 2})
    assert await store.replace_pending(second) == found.id
    (row,) = await store.claim_due(T0, 10)
    assert (row.id, row.dedup_key, row.payload) == (found.id, second.dedup_key, {"v": 2})


async def test_no_coalescing_once_sent_or_for_other_kinds(store: Store) -> None:
    """replace_pending returns None when nothing pending matches channel, item and kinds."""
    await store.enqueue([outbox_row("v1", item_ref="event:1")])
    other_kind = outbox_row("u1", item_ref="event:1", kinds=frozenset({ChangeKind.NEW_UPDATE}))
    assert await store.replace_pending(other_kind) is None
    assert (
        await store.find_pending_for_item(
            outbox_row("x").channel_id, "event:1", ChangeKind.NEW_UPDATE
        )
        is None
    )
    (row,) = await store.claim_due(T0, 1)
    assert row.id is not None
    await store.mark_sent(row.id, 5, T0)
    assert await store.replace_pending(outbox_row("v2", item_ref="event:1")) is None


async def test_update_payload_refuses_a_key_in_use(store: Store) -> None:
    """update_payload changes nothing when the new dedup key belongs to another row."""
    await store.enqueue([outbox_row("a", item_ref="event:1"), outbox_row("b", item_ref="event:2")])
    a = await store.find_pending_for_item(
        outbox_row("x").channel_id, "event:1", ChangeKind.DATE_CHANGED
    )
    assert a is not None
    assert a.id is not None
    assert not await store.update_payload(a.id, {"new": True}, "b")
    assert await store.update_payload(a.id, {"new": True}, "a2", role_id=77)
    got = await store.get_outbox_row(a.id)
    assert got is not None
    assert (got.dedup_key, got.payload, got.role_id) == (
        "a2",
        {"new": True},
        77,
    )


async def test_mark_sent_with_stale_key_leaves_the_coalesced_row_pending(store: Store) -> None:
    """If a newer change was coalesced in during the send, the row stays pending."""
    await store.enqueue([outbox_row("v1")])
    (row,) = await store.claim_due(T0, 1)
    assert row.id is not None
    await store.replace_pending(outbox_row("v2"))
    assert not await store.mark_sent(row.id, 123, T0, dedup_key="v1")
    (again,) = await store.claim_due(T0 + timedelta(minutes=5), 1)
    assert (again.id, again.dedup_key) == (row.id, "v2")


async def test_prune_outbox_removes_only_old_finished_rows(store: Store) -> None:
    """prune_outbox deletes sent/failed/cancelled rows older than the cut-off."""
    await store.enqueue([outbox_row(k) for k in ("sent", "failed", "pending", "cancelled")])
    rows = {r.dedup_key: r.id for r in await store.claim_due(T0, 10)}
    assert rows["sent"] is not None
    assert rows["failed"] is not None
    await store.mark_sent(rows["sent"], 1, T0)
    await store.mark_failed(rows["failed"], "x")
    await store.cancel_channel(outbox_row("x").channel_id, "gone")  # cancels the other two
    assert await store.prune_outbox(T0 - timedelta(days=1)) == 0
    assert await store.prune_outbox(T0 + timedelta(seconds=1)) == 4
    assert sum((await store.outbox_counts()).values()) == 0


async def test_deleting_a_subscription_keeps_its_rows(store: Store) -> None:
    """Outbox rows outlive their subscription (subscription_id becomes NULL)."""
    sub = await store.add_subscription(1, outbox_row("x").channel_id, now=T0)
    await store.enqueue([outbox_row("k", subscription_id=sub.id)])
    assert await store.remove_subscription(sub.id)
    (row,) = await store.claim_due(T0, 1)
    assert row.subscription_id is None
