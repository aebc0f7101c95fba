"""The change log's dedup, and the all-or-nothing poll transaction."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.core.changes import ChangeKind
from bot.core.snapshot import Source
from bot.store import OutboxStatus, Store
from tests.store.samples import T0, change, outbox_row, real_event, snap


class Boom(Exception):
    """Raised inside a transaction on purpose."""


async def test_record_changes_returns_only_new_ones(store: Store) -> None:
    """Replaying the same changes records nothing new; new versions are recorded."""
    item = snap("1", date=T0)
    first = [change(item, ChangeKind.DATE_CHANGED, "d1"), change(item, ChangeKind.NEW_UPDATE, "u9")]
    assert await store.record_changes(first) == first
    assert await store.record_changes(first) == []
    again = [*first, change(item, ChangeKind.DATE_CHANGED, "d2")]
    assert await store.record_changes(again) == [again[2]]


async def test_record_changes_dedups_within_one_batch(store: Store) -> None:
    """The same identity twice in one call is recorded once."""
    item = snap("1")
    c = change(item, version="x")
    assert await store.record_changes([c, c]) == [c]
    assert await store.recent_changes(10) == [c]


async def test_record_changes_keeps_input_order(store: Store) -> None:
    """Newly recorded changes come back in the order given."""
    changes = [change(snap(str(i)), version=str(i)) for i in range(5, 0, -1)]
    assert await store.record_changes(changes) == changes


async def test_recent_changes_newest_first_with_filters(store: Store) -> None:
    """recent_changes orders by detection time and filters by item and kind."""
    a, b = snap("a"), snap("b", source=Source.LAUNCH)
    log = [
        change(a, ChangeKind.DATE_CHANGED, "1", T0),
        change(b, ChangeKind.WEBCAST_LIVE, "1", T0 + timedelta(minutes=2)),
        change(a, ChangeKind.NEW_UPDATE, "7", T0 + timedelta(minutes=1)),
    ]
    await store.record_changes(log)
    assert await store.recent_changes(10) == [log[1], log[2], log[0]]
    assert await store.recent_changes(1) == [log[1]]
    assert await store.recent_changes(10, source=Source.EVENT, item_id="a") == [log[2], log[0]]
    assert await store.recent_changes(10, kinds=[ChangeKind.DATE_CHANGED]) == [log[0]]
    assert await store.prune_changes(T0 + timedelta(minutes=1)) == 1


async def test_changes_carry_the_full_snapshot(store: Store) -> None:
    """A logged change keeps its item snapshot intact."""
    c = change(real_event(), ChangeKind.NEW_UPDATE, "u1")
    await store.record_changes([c])
    (back,) = await store.recent_changes(1)
    assert back == c
    assert back.item.updates == c.item.updates


async def _seed(store: Store) -> None:
    await store.save_snapshots([snap("1", "Before")], seen_at=T0)
    await store.record_changes([change(snap("1"), version="old")])
    await store.enqueue([outbox_row("old")])
    await store.set_state("poll:last", "before")


async def _observe(store: Store) -> tuple[object, ...]:
    return (
        await store.load_all_snapshots(),
        await store.recent_changes(100),
        await store.outbox_counts(),
        await store.get_state("poll:last"),
        await store.list_subscriptions(),
    )


async def test_exception_inside_transaction_rolls_everything_back(store: Store) -> None:
    """A poll that raises after writing leaves snapshots, change log and outbox untouched."""
    await _seed(store)
    before = await _observe(store)

    async def poll_that_crashes() -> None:
        async with store.transaction() as tx:
            await tx.save_snapshots([snap("1", "After"), snap("2")], seen_at=T0)
            inside = await tx.get_snapshot(Source.EVENT, "1")
            assert inside is not None
            assert inside.name == "After"
            assert len(await tx.record_changes([change(snap("1"), version="new")])) == 1
            assert await tx.enqueue([outbox_row("new"), outbox_row("new2")]) == 2
            await tx.set_state("poll:last", "after")
            await tx.add_subscription(1, 2)
            await tx.prune_snapshots(T0 + timedelta(days=1))
            raise Boom

    with pytest.raises(Boom):
        await poll_that_crashes()
    assert await _observe(store) == before
    # The change was not recorded, so the next poll reports it again.
    assert len(await store.record_changes([change(snap("1"), version="new")])) == 1


async def test_transaction_commits_everything(store: Store) -> None:
    """Without an exception every write of the block is committed together."""
    async with store.transaction() as tx:
        await tx.save_snapshots([snap("1")], seen_at=T0)
        await tx.record_changes([change(snap("1"))])
        await tx.enqueue([outbox_row("k")])
        await tx.set_state("poll:last", "x")
    assert len(await store.load_all_snapshots()) == 1
    assert len(await store.recent_changes(10)) == 1
    assert (await store.outbox_counts())[OutboxStatus.PENDING] == 1
    assert await store.get_state("poll:last") == "x"


async def test_nested_transaction_is_a_savepoint(store: Store) -> None:
    """A failing inner block undoes only itself when the error is caught."""
    async with store.transaction() as tx:
        await tx.set_state("outer", "1")

        async def inner_block() -> None:
            async with tx.transaction() as inner:
                await inner.set_state("inner", "1")
                raise Boom

        with pytest.raises(Boom):
            await inner_block()
        await tx.set_state("after", "1")
    assert [await store.get_state(k) for k in ("outer", "inner", "after")] == ["1", None, "1"]


async def test_concurrent_read_then_write_transactions_both_commit(store: Store) -> None:
    """Two read-then-write transactions at once serialise instead of failing."""

    async def bump() -> None:
        async with store.transaction() as tx:
            value = int(await tx.get_state("counter") or "0")
            await asyncio.sleep(0.05)
            await tx.set_state("counter", str(value + 1))

    if store.dialect_name == "postgresql":
        # READ COMMITTED: a read-modify-write needs row locks there; BEGIN IMMEDIATE is SQLite's.
        pytest.skip("SQLite-only: write transactions serialise through BEGIN IMMEDIATE")
    await store.set_state("counter", "0")
    await asyncio.gather(bump(), bump(), bump())
    assert await store.get_state("counter") == "3"


async def test_reads_proceed_while_a_write_transaction_is_open(store: Store) -> None:
    """A command's read is not blocked by an open poll transaction (WAL on SQLite)."""
    await store.save_snapshots([snap("1")], seen_at=T0)
    async with store.transaction() as tx:
        await tx.save_snapshots([snap("2")], seen_at=T0)
        seen = await asyncio.wait_for(store.load_all_snapshots(), timeout=2)
        assert set(seen) == {(Source.EVENT, "1")}  # uncommitted row invisible


async def test_two_concurrent_polls_record_a_change_once(store: Store) -> None:
    """Two transactions recording the same change at once: exactly one gets it."""
    c = change(snap("1"), version="same")

    async def poll() -> int:
        async with store.transaction() as tx:
            new = await tx.record_changes([c])
            await asyncio.sleep(0.05)
            return len(new)

    assert sorted(await asyncio.gather(poll(), poll())) == [0, 1]
