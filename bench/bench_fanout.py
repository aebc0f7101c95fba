"""Fan one alert out to 1,000 channels through a loopback Discord limited to 50 requests/s.

    python bench/bench_fanout.py [--channels 1000] [--latency 0.05] [--pg URL]

One ``webcast_live`` change (real event 1201) is routed to ``--channels`` subscriptions, each in
its own channel, and written to the outbox in one transaction, as the poller does. Then each
scenario delivers the whole outbox through real discord.py to a fresh fake Discord
(``tests/delivery/fake_discord.py``) that enforces a global 50 requests/s (429 with
``retry_after`` beyond it, which discord.py waits out) and adds ``--latency`` seconds to every
answer, a typical round trip to Discord:

- ``worker``: :class:`bot.services.delivery.DeliveryWorker` with its defaults (concurrency 8,
  paced at 45 sends/s);
- ``worker unpaced``: the same without pacing, to show what the pacer saves in 429s;
- ``naive loop``: claim everything, then render, send and mark sent one row after another.

Reported per scenario: deliveries/s, wall time, 429 answers, and messages created (must equal
the channel count: nothing lost, nothing doubled). A send that discord.py gives up on after five
429s is rescheduled by the worker with backoff; the scenario ends when the outbox is empty.
Target (issue 5): worker >= 40/s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake Discord lives with the tests

from bot.config import DeliverySettings  # noqa: E402
from bot.core.changes import ChangeKind  # noqa: E402
from bot.core.routing import route  # noqa: E402
from bot.discord_ui.sender import DiscordSender  # noqa: E402
from bot.services.delivery.rows import (  # noqa: E402
    enqueue_deliveries,
    part_nonce,
    render_delivery,
    row_to_delivery,
)
from bot.services.delivery.worker import DeliveryWorker  # noqa: E402
from bot.store import OutboxStatus, Store, open_store  # noqa: E402
from tests.core.change_factory import change, event_1201  # noqa: E402
from tests.services.delivery.fake_discord import FakeDiscord, logged_in_client  # noqa: E402

GUILDS = 50
FIRST_CHANNEL = 800_000_000_000_000_000


@dataclass
class Result:
    """One scenario's figures."""

    name: str
    delivered: int
    seconds: float
    rate_limited: int
    created: int

    @property
    def per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0


async def _fill_outbox(store: Store, channels: int) -> float:
    """Subscribe ``channels`` channels and enqueue one alert for each; return the seconds taken."""
    now = datetime.now(UTC)
    subs = []
    for n in range(channels):
        guild = 700_000_000_000_000_000 + (n % GUILDS)
        subs.append(await store.add_subscription(guild, FIRST_CHANNEL + n, role_id=None, now=now))
    live = change(ChangeKind.WEBCAST_LIVE, event_1201(), detected_at=now)
    started = time.perf_counter()
    async with store.transaction() as tx:
        await enqueue_deliveries(tx, route([live], subs), now, timedelta(minutes=10))
    return time.perf_counter() - started


async def _run_worker(store: Store, sender: DiscordSender, rate: float | None) -> int:
    worker = DeliveryWorker(store, sender, DeliverySettings(), rate_per_second=rate)
    delivered = 0
    # Until the outbox is empty: rows that hit a transient error wait out their backoff.
    while (await store.outbox_counts())[OutboxStatus.PENDING]:
        report = await worker.run_once()
        delivered += report.sent
        if report.claimed == 0:
            await asyncio.sleep(0.1)
    return delivered


async def _run_naive(store: Store, sender: DiscordSender) -> int:
    delivered = 0
    now = datetime.now(UTC)
    for row in await store.claim_due(now, 1_000_000, lease=timedelta(hours=1)):
        assert row.id is not None
        delivery = row_to_delivery(row)
        for index, message in enumerate(render_delivery(delivery, now)):
            message_id = await sender.send(
                row.channel_id,
                message,
                nonce=part_nonce(row.dedup_key, index),
                allowed_role_ids=delivery.role_ids,
            )
        await store.mark_sent(row.id, message_id, datetime.now(UTC), dedup_key=row.dedup_key)
        delivered += 1
    return delivered


async def _scenario(
    name: str,
    url: str,
    channels: int,
    latency: float,
    deliver: Callable[[Store, DiscordSender], Awaitable[int]],
    engine_kwargs: dict[str, object],
) -> Result:
    store = await open_store(url, **engine_kwargs)
    try:
        fill = await _fill_outbox(store, channels)
        print(f"  {name}: outbox filled with {channels} rows in {fill:.2f}s", flush=True)
        async with FakeDiscord(global_limit=50, latency=latency) as fake:
            async with logged_in_client(fake.base_url) as client:
                fake.stats.rate_limited = 0
                started = time.perf_counter()
                delivered = await deliver(store, DiscordSender(client))
                seconds = time.perf_counter() - started
            return Result(name, delivered, seconds, fake.stats.rate_limited, len(fake.messages))
    finally:
        await store.close()


async def _pg_execute(url: str, sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per answer")
    parser.add_argument("--pg", metavar="URL", help="use PostgreSQL instead of a SQLite file")
    args = parser.parse_args()
    # discord.py logs every 429 it waits out; the count is in the table instead.
    logging.basicConfig(level=logging.ERROR)

    async def worker_paced(store: Store, sender: DiscordSender) -> int:
        return await _run_worker(store, sender, rate=45.0)

    async def worker_unpaced(store: Store, sender: DiscordSender) -> int:
        return await _run_worker(store, sender, rate=None)

    scenarios = [
        ("worker", worker_paced),
        ("worker unpaced", worker_unpaced),
        ("naive loop", _run_naive),
    ]
    backend = "PostgreSQL" if args.pg else "SQLite"
    print(f"{args.channels} channels, fake Discord 50 req/s global, latency {args.latency}s, "
          f"{backend}")  # fmt: skip
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (name, deliver) in enumerate(scenarios):
            if not args.pg:
                url = f"sqlite+aiosqlite:///{Path(tmp) / f'fanout{index}.db'}"
                results.append(await _scenario(name, url, args.channels, args.latency, deliver, {}))
                continue
            # A throw-away schema per scenario, as the store tests do.
            schema = f"bench_{uuid.uuid4().hex[:12]}"
            await _pg_execute(args.pg, f'CREATE SCHEMA "{schema}"')
            kwargs: dict[str, object] = {
                "connect_args": {"server_settings": {"search_path": schema}}
            }
            try:
                results.append(
                    await _scenario(name, args.pg, args.channels, args.latency, deliver, kwargs)
                )
            finally:
                await _pg_execute(args.pg, f'DROP SCHEMA "{schema}" CASCADE')
    print(f"{'scenario':<16} {'deliveries/s':>12} {'wall s':>8} {'429s':>6} {'messages':>9}")
    for r in results:
        print(
            f"{r.name:<16} {r.per_second:>12.1f} {r.seconds:>8.2f} {r.rate_limited:>6} "
            f"{r.created:>9}"
        )


if __name__ == "__main__":
    asyncio.run(main())
