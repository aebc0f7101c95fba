"""Two pollers on one database at once: what a poller wedged mid-poll does when it wakes up
after a successor took over (the lease normally prevents two pollers; this is the fallback).

Both run the same change through real stores (two engines, as two processes would have) and
real LL2 clients against one loopback LL2, concurrently. Whatever the interleaving, the change
is queued once per channel: the outbox's dedup key and the change log's unique key make the
second writer's rows no-ops, and neither poll fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config import Settings
from bot.core.changes import ChangeKind
from bot.ll2 import LL2Client
from bot.services.poller import Poller
from bot.store import Store
from tests.e2e.fake_ll2 import FakeLL2, load_fixture, serve
from tests.store.dbutil import DbTarget

NOW = datetime(2025, 6, 26, 8, 0, tzinfo=UTC)
AFTER_HOLD = NOW + timedelta(minutes=11)


def _event(**changes: Any) -> dict[str, Any]:
    event = load_fixture("event-1201-detailed.json")
    event.update({"response_mode": "normal"}, **changes)
    return event


@asynccontextmanager
async def _two_pollers(
    store: Store, db_target: DbTarget
) -> AsyncIterator[tuple[FakeLL2, list[Poller]]]:
    """Channels 10 and 11 subscribed, a baseline stored, and two pollers on their own stores
    (two engines, as two processes would have) and LL2 clients against one loopback LL2."""
    await store.add_subscription(1, 10)
    await store.add_subscription(1, 11)
    second = await db_target.open_store()
    async with serve(FakeLL2(events=[_event()], launches=[])) as fake:
        settings = Settings.model_validate({"ll2": {"base_url": fake.base_url}})
        clients = [LL2Client.create(settings.ll2, send_log=s) for s in (store, second)]
        try:
            pollers = [
                Poller(s, c, settings, clock=lambda: NOW)
                for s, c in zip((store, second), clients, strict=True)
            ]
            await pollers[0].poll_upcoming()  # the baseline
            yield fake, pollers
        finally:
            for client in clients:
                await client.aclose()
            await second.close()


async def test_two_pollers_racing_queue_a_change_once(store: Store, db_target: DbTarget) -> None:
    """A change seen by two pollers at the same moment reaches each channel once."""
    async with _two_pollers(store, db_target) as (fake, pollers):
        fake.events = [_event(webcast_live=True, date="2025-06-26T12:30:00Z")]
        reports = await asyncio.gather(*(p.poll_upcoming() for p in pollers))
    assert all(not r.failed_queries for r in reports)
    seen = [c.kind for r in reports for c in r.alerts]
    assert ChangeKind.WEBCAST_LIVE in seen
    rows = await store.claim_due(AFTER_HOLD, 50)
    # One row per channel (a webcast going live and a date move of one item share a row).
    assert sorted(r.channel_id for r in rows) == [10, 11]


async def test_two_pollers_that_both_read_the_old_snapshot_queue_once(
    store: Store, db_target: DbTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worst interleaving: both transactions read the stored snapshot before either
    commits, so both diff the change. The second writer's change-log and outbox inserts are
    no-ops: each channel still gets one row, and neither poll fails."""
    if store.dialect_name != "postgresql":
        pytest.skip(
            "SQLite serialises write transactions: the second cannot read before the first commits"
        )
    async with _two_pollers(store, db_target) as (fake, pollers):
        both_read = asyncio.Barrier(2)
        load = Store.load_snapshot_data

        async def load_then_wait(self: Store, *args: Any, **kwargs: Any) -> Any:
            data = await load(self, *args, **kwargs)
            await asyncio.wait_for(both_read.wait(), timeout=10)
            return data

        monkeypatch.setattr(Store, "load_snapshot_data", load_then_wait)
        fake.events = [_event(webcast_live=True)]
        reports = await asyncio.gather(*(p.poll_upcoming() for p in pollers))
    assert all(not r.failed_queries for r in reports)
    # Both diffed the flip; the change log kept it once.
    assert sum(1 for r in reports for c in r.alerts if c.kind is ChangeKind.WEBCAST_LIVE) == 1
    rows = await store.claim_due(NOW, 50)
    assert sorted(r.channel_id for r in rows) == [10, 11]
