"""Poll state, the LL2 request log and cached event types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from bot.ll2.budget import SendLog
from bot.store import Store
from tests.store.samples import T0


async def test_state_get_set_overwrite_delete(store: Store) -> None:
    """Keys start absent, take values, can be overwritten and deleted."""
    assert await store.get_state("poll:events:last") is None
    await store.set_state("poll:events:last", "a")
    await store.set_state("poll:events:last", "b")
    assert await store.get_state("poll:events:last") == "b"
    assert await store.delete_state("poll:events:last")
    assert not await store.delete_state("poll:events:last")
    assert await store.get_state("poll:events:last") is None


async def test_datetime_state_is_aware_utc(store: Store) -> None:
    """Timestamps in any zone come back as the same instant in UTC."""
    tokyo = timezone(timedelta(hours=9))
    moment = datetime(2025, 7, 1, 21, 0, 0, 123456, tzinfo=tokyo)
    await store.set_datetime("poll:launches:last", moment)
    back = await store.get_datetime("poll:launches:last")
    assert back == moment
    assert back is not None
    assert back.tzinfo == UTC
    assert await store.get_datetime("missing") is None


async def test_flags(store: Store) -> None:
    """Boolean flags default to False."""
    assert not await store.get_flag("baseline:events")
    await store.set_flag("baseline:events")
    assert await store.get_flag("baseline:events")
    await store.set_flag("baseline:events", False)
    assert not await store.get_flag("baseline:events")


async def test_request_log_roundtrip_and_prune(store: Store) -> None:
    """Request times come back sorted and aware from `since`; pruning drops old ones."""
    times = [T0 + timedelta(minutes=m) for m in (30, 0, 10, 59)]
    for at in times:
        await store.record_request(at)
    assert await store.load_request_times(T0 + timedelta(minutes=10)) == sorted(times)[1:]
    loaded = await store.load_request_times(T0 - timedelta(hours=1))
    assert loaded == sorted(times)
    assert all(t.tzinfo == UTC for t in loaded)
    assert await store.prune_request_log(T0 + timedelta(minutes=30)) == 2
    assert await store.load_request_times(T0) == sorted(times)[2:]


def test_store_is_the_budgets_send_log(store: Store) -> None:
    """The store satisfies the LL2 budget's SendLog protocol."""
    log: SendLog = store
    assert log is store


async def test_event_types_upsert_and_list(store: Store) -> None:
    """Event types are inserted, renamed on refresh, and listed by id."""
    assert await store.event_types_updated_at() is None
    await store.save_event_types([(3, "EVA"), (2, "Docking")], at=T0)
    later = T0 + timedelta(days=1)
    await store.save_event_types([(3, "Spacewalk"), (9, "Landing")], at=later)
    assert await store.list_event_types() == [(2, "Docking"), (3, "Spacewalk"), (9, "Landing")]
    assert await store.event_types_updated_at() == later


async def test_state_is_part_of_the_transaction(store: Store) -> None:
    """set_state inside a transaction is visible inside it and committed with it."""
    async with store.transaction() as tx:
        await tx.set_datetime("poll:last", T0)
        assert await tx.get_datetime("poll:last") == T0
    assert await store.get_datetime("poll:last") == T0


async def test_throttle_block_keeps_the_later_moment(store: Store) -> None:
    """The persisted LL2 block starts absent, comes back aware UTC, and is never shortened."""
    tokyo = timezone(timedelta(hours=9))
    assert await store.load_blocked_until() is None
    await store.record_blocked_until((T0 + timedelta(hours=1)).astimezone(tokyo))
    await store.record_blocked_until(T0 + timedelta(minutes=10))
    back = await store.load_blocked_until()
    assert back == T0 + timedelta(hours=1)
    assert back is not None
    assert back.tzinfo == UTC
    await store.record_blocked_until(T0 + timedelta(hours=1, microseconds=1))
    assert await store.load_blocked_until() == T0 + timedelta(hours=1, microseconds=1)
