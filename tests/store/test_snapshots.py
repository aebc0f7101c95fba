"""Snapshots: upsert and load round trips, /next ordering, search, pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.core.snapshot import Source
from bot.store import Store, schema
from tests.store.samples import T0, real_event, real_launch, snap


async def test_roundtrip_keeps_every_field(store: Store) -> None:
    """A real event and launch come back equal, with aware datetimes."""
    event, launch = real_event(), real_launch()
    await store.save_snapshots([event, launch], seen_at=T0)
    loaded = await store.load_snapshots([event.key, launch.key, (Source.EVENT, "404")])
    assert loaded == {event.key: event, launch.key: launch}
    back = loaded[event.key]
    assert back.date is not None
    assert back.date.tzinfo is not None
    assert back.updates
    assert all(u.created_on and u.created_on.tzinfo for u in back.updates)
    assert len(back.webcasts) == len(event.webcasts) == 3


async def test_date_column_is_aware_utc(store: Store) -> None:
    """Dates in other zones are stored as the same instant and read back as aware UTC."""
    paris = timezone(timedelta(hours=2))
    item = snap("1", date=datetime(2025, 7, 2, 14, 0, tzinfo=paris))
    await store.save_snapshots([item], seen_at=T0)
    async with store.transaction() as tx:
        row = (await tx.connection.execute(schema.snapshots.select())).one()
    assert row.date == datetime(2025, 7, 2, 12, 0, tzinfo=UTC)
    assert row.date.tzinfo == UTC
    assert row.first_seen_at == T0
    assert row.first_seen_at.tzinfo == UTC


async def test_upsert_replaces_data_and_keeps_first_seen(store: Store) -> None:
    """Saving again overwrites the snapshot and moves last_seen_at, not first_seen_at."""
    await store.save_snapshots([snap("1", "Old name")], seen_at=T0)
    later = T0 + timedelta(hours=1)
    await store.save_snapshots([snap("1", "New name", type_id=3)], seen_at=later)
    got = await store.get_snapshot(Source.EVENT, "1")
    assert got is not None
    assert got.name == "New name"
    assert got.type_id == 3
    async with store.transaction() as tx:
        row = (await tx.connection.execute(schema.snapshots.select())).one()
    assert (row.first_seen_at, row.last_seen_at, row.type_id) == (T0, later, 3)


async def test_duplicate_keys_in_one_batch_last_wins(store: Store) -> None:
    """Two snapshots of the same item in one call store the last one."""
    await store.save_snapshots([snap("1", "first"), snap("1", "second")], seen_at=T0)
    got = await store.get_snapshot(Source.EVENT, "1")
    assert got is not None
    assert got.name == "second"


async def test_load_all_filters_by_source(store: Store) -> None:
    """load_all_snapshots returns everything, or one source's items."""
    items = [snap("1"), snap("2"), snap("abc", source=Source.LAUNCH)]
    await store.save_snapshots(items, seen_at=T0)
    assert set(await store.load_all_snapshots()) == {i.key for i in items}
    assert set(await store.load_all_snapshots(Source.LAUNCH)) == {(Source.LAUNCH, "abc")}


async def test_same_id_in_two_sources_are_distinct(store: Store) -> None:
    """An event and a launch may share an id string without clashing."""
    await store.save_snapshots([snap("7"), snap("7", "L", source=Source.LAUNCH)], seen_at=T0)
    loaded = await store.load_snapshots([(Source.EVENT, "7"), (Source.LAUNCH, "7")])
    assert len(loaded) == 2


async def test_load_many_keys(store: Store) -> None:
    """Loading more keys than one IN list holds works."""
    items = [snap(str(i)) for i in range(1200)]
    await store.save_snapshots(items, seen_at=T0)
    loaded = await store.load_snapshots(i.key for i in items)
    assert len(loaded) == 1200


async def test_upcoming_orders_by_date_and_filters(store: Store) -> None:
    """upcoming skips past and undated items, sorts by date and filters by type or source."""
    items = [
        snap("past", date=T0 - timedelta(hours=1), type_id=3),
        snap("later", date=T0 + timedelta(days=2), type_id=3),
        snap("soon", date=T0 + timedelta(hours=1), type_id=2),
        snap("now", date=T0, type_id=3),
        snap("undated", type_id=3),
        snap("launch", source=Source.LAUNCH, date=T0 + timedelta(hours=2), provider_id=121),
    ]
    await store.save_snapshots(items, seen_at=T0)
    ids = [s.id for s in await store.upcoming(T0, limit=10)]
    assert ids == ["now", "soon", "launch", "later"]
    assert [s.id for s in await store.upcoming(T0, limit=2)] == ["now", "soon"]
    assert [s.id for s in await store.upcoming(T0, 10, type_id=3)] == ["now", "later"]
    assert [s.id for s in await store.upcoming(T0, 10, source=Source.LAUNCH)] == ["launch"]
    assert [s.id for s in await store.upcoming(T0, 10, provider_id=121)] == ["launch"]


async def test_search_is_case_insensitive_prefix_first(store: Store) -> None:
    """search_snapshots matches names case-insensitively, prefixes first, then by date."""
    items = [
        snap("1", "Crew-10 Undocking", date=T0 + timedelta(days=3)),
        snap("2", "ISS: Crew-11 docking", date=T0 + timedelta(days=1)),
        snap("3", "crew transfer", date=T0 + timedelta(days=5)),
        snap("4", "Starship Flight 10", date=T0),
    ]
    await store.save_snapshots(items, seen_at=T0)
    assert [s.id for s in await store.search_snapshots("CREW", 10)] == ["1", "3", "2"]
    assert [s.id for s in await store.search_snapshots("crew", 2)] == ["1", "3"]
    assert [s.id for s in await store.search_snapshots("4", 10)] == ["4"]  # id match
    assert await store.search_snapshots("nothing like it", 10) == []


@pytest.mark.parametrize("query", ["%", "_", "\\"])
async def test_search_treats_wildcards_literally(store: Store, query: str) -> None:
    """LIKE wildcards in the query match only themselves."""
    await store.save_snapshots([snap("1", "100% real"), snap("2", "plain")], seen_at=T0)
    expected = ["1"] if query == "%" else []
    assert [s.id for s in await store.search_snapshots(query, 10)] == expected


async def test_get_missing_snapshot_is_none(store: Store) -> None:
    """get_snapshot of an unknown item is None."""
    assert await store.get_snapshot(Source.LAUNCH, "nope") is None


async def test_prune_removes_items_not_seen_lately(store: Store) -> None:
    """prune_snapshots deletes items last seen before the cut-off and counts them."""
    await store.save_snapshots([snap("old")], seen_at=T0 - timedelta(days=30))
    await store.save_snapshots([snap("new")], seen_at=T0)
    assert await store.prune_snapshots(T0 - timedelta(days=7)) == 1
    assert set(await store.load_all_snapshots()) == {(Source.EVENT, "new")}


async def test_naive_datetime_is_refused(store: Store) -> None:
    """Naive timestamps are a bug and raise instead of being stored as local time."""
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.save_snapshots([snap("1")], seen_at=datetime(2025, 1, 1))  # noqa: DTZ001


async def test_load_snapshot_data_returns_the_stored_json(store: Store) -> None:
    """The raw JSON comes back exactly as the snapshot serialises, keyed by item."""
    event = real_event()
    await store.save_snapshots([event], T0)
    raw = await store.load_snapshot_data([event.key, (Source.LAUNCH, "absent")])
    assert raw == {event.key: event.model_dump_json()}


async def test_touch_moves_last_seen_only(store: Store) -> None:
    """Touching an unchanged item keeps it from being pruned without changing its data."""
    event = real_event()
    await store.save_snapshots([event], T0)
    await store.touch_snapshots([event.key], T0 + timedelta(days=40))
    assert await store.prune_snapshots(T0 + timedelta(days=30)) == 0
    assert await store.get_snapshot(Source.EVENT, event.id) == event
