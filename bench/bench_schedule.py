"""One poll that slips 5 of 20 mirrored items, in the calendars of many guilds.

    python bench/bench_schedule.py [--guilds 1000] [--items 20] [--slipped 5] [--rate 20]
                                   [--concurrency 10] [--latency 0.05]

Each guild has the calendar on (max 20) and already holds one Discord scheduled event per
upcoming item: the events are put straight into the loopback Discord
(``tests/services/calendar/fake_events.py``, Discord's validation, a global 50 requests/s with
429s beyond it, ``--latency`` seconds per answer) and into the store, as a previous run would
have left them. Then:

1. *restart*: a fresh :class:`bot.services.calendar.CalendarJob` runs until it has nothing to
   do: it lists every guild once (adoption check) and finds everything in step;
2. *slip*: ``--slipped`` items move one hour later in one poll; the job runs (the edits are held
   for the 10-minute quiet period: a virtual clock shared with the fake moves past it) until it
   has nothing left to do.

Reported per phase: scheduled-event requests by method, wall time until all applied, and 429
answers. Requests go through real discord.py, paced at ``--rate`` per second (the job's pacer,
``calendar.requests_per_second``, default 20; Discord's global limit is 50/s), with up to
``--concurrency`` guilds served at once, and each run sends at most what the pacer allows in
one 10 s scheduler tick, as ``run`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake Discord lives with the tests

from bot.core.schedule import CalendarSettings, Entry, Status, fields_for  # noqa: E402
from bot.discord_ui.scheduled_events import DiscordScheduledEvents  # noqa: E402
from bot.services.calendar import CalendarJob  # noqa: E402
from bot.store import open_store  # noqa: E402
from tests.core.reminders.support import launch_at  # noqa: E402
from tests.services.calendar.fake_events import FakeDiscordEvents, StoredEvent  # noqa: E402
from tests.services.delivery.fake_discord import logged_in_client  # noqa: E402
from tests.services.delivery.support import Clock  # noqa: E402

FIRST_GUILD = 1_200_000_000_000_000_000
QUIET = timedelta(minutes=10)


async def drain(job: CalendarJob) -> int:
    """Run the job until a run sends nothing; return how many runs it took."""
    runs = 0
    while True:
        runs += 1
        report = await job.run()
        if report.requests == 0:
            return runs


async def main(args: argparse.Namespace) -> None:
    """Seed, restart, slip; print the figures."""
    logging.basicConfig(level=logging.WARNING)
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        items = [
            launch_at(clock.now() + timedelta(hours=2 + i), item_id=f"launch-{i:02d}")
            for i in range(args.items)
        ]
        await store.save_snapshots(items, seen_at=clock.now())
        async with FakeDiscordEvents(clock=clock.now, latency=args.latency) as fake:
            started = time.perf_counter()
            async with store.transaction() as tx:
                for g in range(args.guilds):
                    guild = FIRST_GUILD + (g << 22)
                    await tx.save_calendar(
                        CalendarSettings(guild_id=guild, max_events=20), now=clock.now()
                    )
                    for item in items:
                        assert item.date is not None
                        fields = fields_for(item, item.date)
                        event_id = fake._snowflake()
                        fake.events[event_id] = StoredEvent(
                            event_id, guild, fields.name, fields.description,
                            fields.location, fields.start, fields.end,
                        )  # fmt: skip
                        entry = Entry(item.ref, event_id, Status.SCHEDULED, fields)
                        await tx.record_event(guild, entry, now=clock.now())
            print(f"seeded {args.guilds} guilds x {args.items} events in "
                  f"{time.perf_counter() - started:.1f}s")  # fmt: skip
            async with logged_in_client(fake.base_url) as client:
                events = DiscordScheduledEvents(client, rate=args.rate)
                job = CalendarJob(
                    store, events, clock=clock.now, quiet_period=QUIET,
                    max_actions=int(args.rate * 10), concurrency=args.concurrency,
                )  # fmt: skip
                for phase in ("restart", "slip"):
                    if phase == "slip":
                        moved = [
                            item.model_copy(update={"date": item.date + timedelta(hours=1)})  # type: ignore[operator]
                            for item in items[: args.slipped]
                        ]
                        await store.save_snapshots(moved, seen_at=clock.now())
                        await job.run()  # sees the slips, holds them
                        clock.advance(QUIET)
                    before = dict(fake.event_requests)
                    limited = fake.stats.rate_limited
                    started = time.perf_counter()
                    runs = await drain(job)
                    elapsed = time.perf_counter() - started
                    sent = {k: v - before.get(k, 0) for k, v in fake.event_requests.items()}
                    sent = {k: v for k, v in sent.items() if v}
                    print(
                        f"{phase}: {sum(sent.values())} scheduled-event requests {sent}, "
                        f"all applied in {elapsed:.1f}s ({runs} runs), "
                        f"{fake.stats.rate_limited - limited} x 429"
                    )
            slipped_refs = {i.ref for i in items[: args.slipped]}
            expected = {
                i.ref: i.date + (timedelta(hours=1) if i.ref in slipped_refs else timedelta())  # type: ignore[operator]
                for i in items
            }
            mismatched = 0
            guilds = [FIRST_GUILD + (g << 22) for g in range(args.guilds)]
            by_guild = await store.calendar_entries(guilds)
            for entries in by_guild.values():
                mismatched += sum(e.fields.start != expected[e.item_ref] for e in entries)
            print(f"events at the wrong start afterwards: {mismatched}; "
                  f"events at Discord: {len(fake.events)}")  # fmt: skip
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--guilds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--slipped", type=int, default=5)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.05)
    asyncio.run(main(parser.parse_args()))
