"""A webcast alert's fan-out while the server calendar catches up, with and without priority.

    python bench/bench_calendar_priority.py [--channels 1000] [--guilds 1000] [--latency 0.05]

One process as ``run`` builds it: one send budget for the token (45 requests/s, through
discord.py's HTTP trace), the delivery worker (concurrency 8) and the calendar job (10 guilds at
once, its own pace of 20/s), against the loopback Discord with scheduled events and Discord's
validation (a global 50 requests/s, 429 beyond it; ``--latency`` seconds per answer).

At the start, the outbox holds one ``webcast_live`` alert for each of ``--channels`` channels
and ``--guilds`` calendars each hold one event whose webcast just went live (one START each),
the moment the two meet in practice. Both run at once until done, twice on fresh databases:

- ``background`` (as shipped): calendar requests take a budget slot only while no alert is
  waiting (:func:`bot.discord_ui.traffic.background`);
- ``no priority``: the calendar's requests queue for slots like any other.

Reported per scenario: when the last alert was delivered, when the last START was applied,
429 answers, and messages/events at Discord (nothing lost or doubled).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake Discord lives with the tests

import discord  # noqa: E402

from bot.config import DeliverySettings  # noqa: E402
from bot.core.changes import ChangeKind  # noqa: E402
from bot.core.routing import route  # noqa: E402
from bot.core.schedule import CalendarSettings, Entry, Status, fields_for  # noqa: E402
from bot.core.snapshot import WebcastRef  # noqa: E402
from bot.discord_ui import scheduled_events  # noqa: E402
from bot.discord_ui.scheduled_events import DiscordScheduledEvents  # noqa: E402
from bot.discord_ui.sender import DiscordSender  # noqa: E402
from bot.discord_ui.traffic import budget_trace  # noqa: E402
from bot.services.calendar import CalendarJob  # noqa: E402
from bot.services.delivery import DeliveryWorker  # noqa: E402
from bot.services.delivery.budget import LocalSlots, SendBudget  # noqa: E402
from bot.services.delivery.rows import enqueue_deliveries  # noqa: E402
from bot.store import OutboxStatus, Store, open_store  # noqa: E402
from tests.core.change_factory import change  # noqa: E402
from tests.core.reminders.support import launch_at  # noqa: E402
from tests.services.calendar.fake_events import FakeDiscordEvents, StoredEvent  # noqa: E402
from tests.services.delivery.fake_discord import TOKEN, routed_to  # noqa: E402

FIRST_GUILD = 1_300_000_000_000_000_000
FIRST_CHANNEL = 1_310_000_000_000_000_000
WATCH = "https://www.youtube.com/watch?v=OZcfHni6L5M"


@contextlib.contextmanager
def _no_priority() -> Iterator[None]:
    yield


async def _seed(store: Store, fake: FakeDiscordEvents, args: argparse.Namespace) -> None:
    """The outbox's alerts, the calendars and their events (one live item, already mirrored)."""
    now = datetime.now(UTC)
    item = launch_at(now + timedelta(minutes=20), item_id="launch-live")
    assert item.date is not None
    fields = fields_for(item, item.date)  # as mirrored before the webcast went live
    live = item.model_copy(
        update={"webcast_live": True, "webcasts": (WebcastRef(url=WATCH, live=True),)}
    )
    await store.save_snapshots([live], seen_at=now)
    subs = [
        await store.add_subscription(FIRST_GUILD + (n << 22), FIRST_CHANNEL + n, now=now)
        for n in range(args.channels)
    ]
    async with store.transaction() as tx:
        alert = [change(ChangeKind.WEBCAST_LIVE, live, detected_at=now)]
        await enqueue_deliveries(tx, route(alert, subs), now, timedelta(minutes=10))
        for g in range(args.guilds):
            guild = FIRST_GUILD + (g << 22)
            await tx.save_calendar(CalendarSettings(guild_id=guild), now=now)
            event_id = fake._snowflake()
            fake.events[event_id] = StoredEvent(
                event_id, guild, fields.name, fields.description,
                fields.location, fields.start, fields.end,
            )  # fmt: skip
            await tx.record_event(guild, Entry(live.ref, event_id, Status.SCHEDULED, fields))


async def _scenario(name: str, args: argparse.Namespace, *, priority: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        original = scheduled_events.background
        if not priority:
            scheduled_events.background = _no_priority  # type: ignore[assignment]
        try:
            async with FakeDiscordEvents(global_limit=50, latency=args.latency) as fake:
                await _seed(store, fake, args)
                budget = SendBudget(LocalSlots(45.0))
                with routed_to(fake.base_url):
                    client = discord.Client(
                        intents=discord.Intents.none(), http_trace=budget_trace(budget)
                    )
                    await client.login(TOKEN)
                    try:
                        fake.stats.rate_limited = 0
                        await _race(name, store, client, budget, fake, args)
                    finally:
                        await client.close()
        finally:
            scheduled_events.background = original  # type: ignore[assignment]
            await store.close()


async def _race(
    name: str,
    store: Store,
    client: discord.Client,
    budget: SendBudget,
    fake: FakeDiscordEvents,
    args: argparse.Namespace,
) -> None:
    worker = DeliveryWorker(store, DiscordSender(client), DeliverySettings(), budget=budget)
    job = CalendarJob(
        store,
        DiscordScheduledEvents(client, rate=20.0),
        clock=lambda: datetime.now(UTC),
        quiet_period=timedelta(minutes=10),
        max_actions=200,
    )
    started = time.perf_counter()
    done: dict[str, float] = {}

    async def alerts() -> None:
        while (await store.outbox_counts())[OutboxStatus.PENDING]:
            report = await worker.run_once()
            if report.claimed == 0:
                await asyncio.sleep(0.05)
        done["alerts"] = time.perf_counter() - started

    async def calendar() -> None:
        while True:
            report: Any = await job.run()
            if report.requests == 0:
                break
        done["calendar"] = time.perf_counter() - started

    await asyncio.gather(alerts(), calendar())
    live = sum(1 for e in fake.events.values() if e.status == 2)
    print(
        f"{name}: last alert delivered at {done['alerts']:.1f}s "
        f"({len(fake.messages)} messages), last START at {done['calendar']:.1f}s "
        f"({live} of {args.guilds} events live), {fake.stats.rate_limited} x 429",
        flush=True,
    )


async def main() -> None:
    """Both scenarios, one after the other."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--guilds", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per answer")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    await _scenario("background (as shipped)", args, priority=True)
    await _scenario("no priority", args, priority=False)


if __name__ == "__main__":
    asyncio.run(main())
