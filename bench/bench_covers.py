"""What covers cost: many guilds' calendars created from empty, with and without cover images.

    python bench/bench_covers.py [--guilds 100] [--items 5] [--image-kib 256] [--rate 45]
                                 [--latency 0.05]

Each guild turns the calendar on; ``--items`` upcoming launches each have an LL2 image of about
``--image-kib`` KiB (a real PNG) on a loopback HTTPS image host (``tests/services/calendar/
image_server.py``). A :class:`bot.services.calendar.CalendarJob` runs until it has nothing to do
against the loopback Discord (``tests/services/calendar/fake_events.py``: Discord's validation,
``image`` checked as image data, 50 requests/s global limit, ``--latency`` per answer), once
with covers off and once (fresh database, fresh Discord) with a :class:`~bot.services.covers.
CoverFetcher`. Reported: creates, image downloads, bytes of image data sent, wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fakes live with the tests

from bot.core.schedule import CalendarSettings  # noqa: E402
from bot.discord_ui.scheduled_events import DiscordScheduledEvents  # noqa: E402
from bot.services.calendar import CalendarJob  # noqa: E402
from bot.services.covers import CoverFetcher  # noqa: E402
from bot.store import open_store  # noqa: E402
from tests.core.reminders.support import launch_at  # noqa: E402
from tests.services.calendar.fake_events import FakeDiscordEvents  # noqa: E402
from tests.services.calendar.image_server import ImageServer, png  # noqa: E402
from tests.services.delivery.fake_discord import logged_in_client  # noqa: E402
from tests.services.delivery.support import Clock  # noqa: E402

FIRST_GUILD = 1_200_000_000_000_000_000
QUIET = timedelta(minutes=10)


async def phase(args: argparse.Namespace, images: ImageServer, with_covers: bool) -> None:
    """One run from empty to converged; print its figures."""
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    side = 16
    while len(png(side, side)) < args.image_kib * 1024:
        side += 16
    items = []
    for i in range(args.items):
        url = images.serve(f"/{i}.png", png(side, side, seed=i))
        item = launch_at(clock.now() + timedelta(hours=2 + i), item_id=f"launch-{i:02d}")
        display = replace(item.display, image_url=url)
        items.append(item.model_copy(update={"display": display}))
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await store.save_snapshots(items, seen_at=clock.now())
        async with store.transaction() as tx:
            for g in range(args.guilds):
                settings = CalendarSettings(guild_id=FIRST_GUILD + (g << 22), max_events=20)
                await tx.save_calendar(settings, now=clock.now())
        covers = (
            CoverFetcher(
                [images.host],
                max_bytes=4 * 1024 * 1024,
                clock=clock.now,
                verify=images.client_context(),
            )
            if with_covers
            else None
        )
        hits = images.hits.total()
        async with (
            FakeDiscordEvents(clock=clock.now, latency=args.latency) as fake,
            logged_in_client(fake.base_url) as client,
        ):
            job = CalendarJob(
                store, DiscordScheduledEvents(client, rate=args.rate), clock=clock.now,
                quiet_period=QUIET, max_actions=args.rate * 60, covers=covers,
            )  # fmt: skip
            started = time.perf_counter()
            while (await job.run()).requests:
                pass
            elapsed = time.perf_counter() - started
            sent = sum(
                len(body.get("image") or "")
                for method, _, body in fake.requests
                if body and method in ("POST", "PATCH")
            )
            with_image = sum(e.image is not None for e in fake.events.values())
            print(
                f"covers {'on ' if with_covers else 'off'}: {fake.event_requests['POST']} creates "
                f"({with_image} with a cover), {images.hits.total() - hits} image downloads, "
                f"{sent / 1e6:.1f} MB of image data sent, {elapsed:.1f} s, "
                f"{fake.stats.rate_limited} x 429, {fake.stats.invalid} refused"
            )
        if covers is not None:
            await covers.aclose()
        await store.close()


async def main(args: argparse.Namespace) -> None:
    """Both phases against one image host."""
    logging.basicConfig(level=logging.WARNING)
    async with ImageServer() as images:
        for with_covers in (False, True):
            await phase(args, images, with_covers)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--guilds", type=int, default=100)
    parser.add_argument("--items", type=int, default=5)
    parser.add_argument("--image-kib", type=int, default=256)
    parser.add_argument("--rate", type=int, default=45)
    parser.add_argument("--latency", type=float, default=0.05)
    asyncio.run(main(parser.parse_args()))
