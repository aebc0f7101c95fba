"""The global budget with real processes: one alert to N channels from 1, 2, 4 or 8 ``run``
processes on one PostgreSQL database and one bot token, against a loopback Discord.

    python bench/bench_global_budget_loopback.py [--channels 1000] [--procs 1,2,4,8]
                                                 [--rate 45] [--limit 50] [--latency 0.05]

What ``bench/bench_global_budget.py`` simulates on a virtual clock, measured for real at a
size that fits a couple of minutes: each process is ``tests/scaleout/harness.py`` (the real
``AppServices``: claims, the shared budget row in PostgreSQL, discord.py, settles), serving
one shard of N; the loopback Discord (``tests/scaleout/fakes.OneTokenDiscord``) accepts one
token, enforces ``--limit`` requests in any sliding second across all connections (429
``X-RateLimit-Scope: global`` beyond it) and answers after ``--latency`` seconds. The alert's
rows are written to the outbox in one transaction once every process is ready; times are
from that commit to the first and the last message Discord stored. The rows are written by
this script, not by a poll, so no worker is notified: each finds them at its next idle tick
(every 5 s), which the first delivery shows; in a deployment the polling process's worker is
woken at once and the others join within that tick. Needs ``$SPACECAST_TEST_PG_URL`` (or the
default local PostgreSQL); each run uses a fresh database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.changes import ChangeKind  # noqa: E402
from bot.core.routing import route  # noqa: E402
from bot.services.delivery.rows import enqueue_deliveries  # noqa: E402
from bot.store import open_store  # noqa: E402
from tests.core.change_factory import change, event_1201  # noqa: E402
from tests.scaleout.fakes import CountingLL2, OneTokenDiscord, serve_ll2  # noqa: E402
from tests.scaleout.support import (  # noqa: E402
    fresh_database,
    harness_env,
    spawn_harness,
    stop,
    wait_ready,
)
from tests.services.delivery.fake_discord import TOKEN  # noqa: E402


async def one_run(
    channels: int, procs: int, rate: float, limit: int, latency: float
) -> tuple[float, float, int, int, int]:
    """Seconds to the last and to the first message, messages, global 429s, max in a second."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-budget-"))
    async with contextlib.AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(fresh_database())
        store = await open_store(db_url)
        stack.push_async_callback(store.close)
        ll2 = await stack.enter_async_context(serve_ll2(CountingLL2()))
        fake = await stack.enter_async_context(OneTokenDiscord(global_limit=limit, latency=latency))
        running = []
        for shard in range(procs):
            proc = await spawn_harness(
                shard,
                harness_env(
                    db_url,
                    ll2.base_url(f"p{shard}"),
                    fake.base_url,
                    token=TOKEN,
                    heartbeat=tmp / f"hb-{shard}",
                    shard=(shard, procs),
                    SPACECAST_DELIVERY__GLOBAL_RATE_PER_SECOND=str(rate),
                    SPACECAST_LOGGING__LEVEL="WARNING",
                ),
                tmp / f"p{shard}.log",
            )
            stack.push_async_callback(stop, proc)
            running.append(proc)
        for proc in running:
            await wait_ready(proc)
        rng = random.Random(channels + procs)
        now = datetime.now(UTC)
        subs = []
        for n in range(channels):
            guild = rng.getrandbits(62) | (1 << 60)
            subs.append(await store.add_subscription(guild, 1_600_000_000_000_000_000 + n, now=now))
        live = change(ChangeKind.WEBCAST_LIVE, event_1201(), detected_at=now)
        fake.messages.clear()
        fake.rate_limited_by_scope.clear()
        async with store.transaction() as tx:
            await enqueue_deliveries(tx, route([live], subs), now, timedelta(minutes=10))
        committed = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                fake.wait_until(lambda: len(fake.messages) >= channels), channels / rate * 2 + 30
            )
        last = max(m.created for m in fake.messages) if fake.messages else committed
        first = min(m.created for m in fake.messages) if fake.messages else committed
        return (
            last - committed,
            first - committed,
            len(fake.messages),
            fake.rate_limited_by_scope["global"],
            fake.max_in_any_second(),
        )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--procs", default="1,2,4,8")
    parser.add_argument("--rate", type=float, default=45.0)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    print(
        "| channels | rate (limit) | processes | last delivery | first delivery | first to last |"
        " channels / rate | messages | global 429s | max in any second |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for procs in [int(p) for p in args.procs.split(",")]:
        seconds, first, got, g429, peak = await one_run(
            args.channels, procs, args.rate, args.limit, args.latency
        )
        ideal = args.channels / args.rate
        span = seconds - first
        print(
            f"| {args.channels:,} | {args.rate:g}/s ({args.limit}/s) | {procs} | {seconds:.1f} s |"
            f" {first:.1f} s | {span:.1f} s ({span / ideal - 1:+.1%}) | {ideal:.1f} s |"
            f" {got:,} | {g429} | {peak} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
