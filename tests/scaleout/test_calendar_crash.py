"""SIGKILL between Discord's answer to a create and its record, then restart: one event.

One real harness process (the real :class:`bot.services.app.AppServices`) mirrors an LL2 event
dated three hours ahead (precision Minute) into a guild's Discord Events list; the calendar
is enabled in the store before the process starts. The loopback Discord
(:class:`~tests.services.calendar.fake_events.FakeDiscordEvents`, on the wall clock the child
process also reads) *applies* the create and holds its HTTP response, so the process never
learns the event's id: the crash window of issue 15. The test SIGKILLs it there, checks that
the store has no ``calendar_events`` row, drops the held response and starts the process
again. The restarted process must list the guild before any other request there, adopt the
event by its marker line and creator, record its id, and send no second create.

The duplicate case: the held create is applied twice (as a create Discord received twice
would be), so two events carry the marker. The restart keeps the first one created and
deletes the other.

The calendar job runs every scheduler tick (``SPACECAST_POLL_TICK_SECONDS``, 1 s in the
harness), so no test-only timing is needed beyond the harness's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.schedule import CalendarSettings, item_ref_of
from bot.store import Store, open_store
from tests.scaleout.fakes import CountingLL2, serve_ll2
from tests.scaleout.support import (
    database,
    harness_env,
    hot_event,
    start_harness,
    until,
)
from tests.services.calendar.fake_events import FakeDiscordEvents
from tests.services.delivery.fake_discord import API_PREFIX, TOKEN

pytestmark = pytest.mark.slow

GUILD = 1_700_000_000_000_000_001
ITEM = "event:1201"
EVENTS_PATH = f"{API_PREFIX}/guilds/{GUILD}/scheduled-events"
SETTLE_LIMIT = 20.0


async def eventually(predicate: Callable[[], Awaitable[bool]], limit: float, what: str) -> None:
    """Await ``predicate`` every 0.2 s until it holds (fail after ``limit`` seconds)."""
    started = time.monotonic()
    while not await predicate():
        if time.monotonic() - started > limit:
            pytest.fail(f"timed out after {limit:.0f}s waiting for {what}")
        await asyncio.sleep(0.2)


async def recorded_ids(store: Store) -> list[int]:
    """The event ids the store has recorded for the guild's item."""
    entries = (await store.calendar_entries([GUILD])).get(GUILD, [])
    return [e.event_id for e in entries if e.item_ref == ITEM]


def event_requests(fake: FakeDiscordEvents, since: int = 0) -> list[tuple[str, str]]:
    """(method, path) of the guild's scheduled-event requests, from request ``since`` on."""
    return [(m, p) for m, p, _ in fake.requests[since:] if p.startswith(EVENTS_PATH)]


# Each backend once, each case once (the four combinations cost 30 s of CI for no more cover:
# adoption does not depend on the backend).
@pytest.mark.parametrize(
    ("backend", "copies"),
    [
        pytest.param("sqlite", 1, id="sqlite-one-create"),
        pytest.param("postgres", 2, id="postgres-create-applied-twice", marks=pytest.mark.postgres),
    ],
)
async def test_sigkill_between_create_and_record_then_restart_leaves_one_event(
    backend: str, copies: int, tmp_path: Path
) -> None:
    """The restart lists first, adopts the event Discord has (the first, if two), records its
    id, deletes a duplicate and creates nothing."""
    event = hot_event(datetime.now(UTC))
    event["date"] = (datetime.now(UTC) + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with contextlib.AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(database(backend, tmp_path))
        store = await open_store(db_url)
        stack.push_async_callback(store.close)
        await store.save_calendar(CalendarSettings(guild_id=GUILD))
        ll2 = await stack.enter_async_context(serve_ll2(CountingLL2(events=[event])))
        fake = await stack.enter_async_context(
            FakeDiscordEvents(global_limit=None, channel_limit=None)
        )
        fake.hold_next_create(copies=copies)
        settings = harness_env(
            db_url,
            ll2.base_url("p0"),
            fake.base_url,
            token=TOKEN,
            heartbeat=tmp_path / "heartbeat",
            requests_per_hour=ll2.request_limit,
        )
        log_path = tmp_path / "bot.log"
        first = await start_harness(stack, 0, settings, log_path)
        await until(lambda: bool(fake.held), 40, "the create the loopback holds")

        # The crash window: Discord has the event, the process has not recorded it.
        first.process.kill()
        await first.process.wait()
        held = fake.held
        assert [item_ref_of(e.description) for e in held] == [ITEM] * copies
        assert sorted(e.id for e in fake.in_guild(GUILD)) == sorted(e.id for e in held)
        assert await recorded_ids(store) == [], "the kill came after the record"
        assert event_requests(fake) == [("GET", EVENTS_PATH), ("POST", EVENTS_PATH)]
        restart_at = len(fake.requests)
        fake.release()  # the answer goes to a dead socket

        second = await start_harness(stack, 0, settings, log_path)

        async def settled() -> bool:
            after = event_requests(fake, restart_at)
            assert ("POST", EVENTS_PATH) not in after, f"the restart created again: {after}"
            return await recorded_ids(store) != [] and len(fake.in_guild(GUILD)) == 1

        await eventually(settled, SETTLE_LIMIT, "the restarted process to adopt the event")
        # Room for a wrong second create or delete: two calendar ticks (1 s each).
        await asyncio.sleep(2)

        [kept] = fake.in_guild(GUILD)
        assert kept.id == held[0].id, "the first event created must be the one kept"
        assert await recorded_ids(store) == [kept.id]
        after = event_requests(fake, restart_at)
        assert after[0] == ("GET", EVENTS_PATH), f"the restart did not list first: {after}"
        assert ("POST", EVENTS_PATH) not in after, f"the restart created again: {after}"
        duplicates = [("DELETE", f"{EVENTS_PATH}/{e.id}") for e in held[1:]]
        assert [r for r in after if r[0] == "DELETE"] == duplicates
        assert fake.stats.invalid == 0
        assert "adopted scheduled event" in second.logs()
        print(f"\n{backend}, {copies} applied: after the restart {after}")
