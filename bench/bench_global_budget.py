"""One alert to 1,000 / 10,000 / 100,000 channels from 1, 2, 4, 8 processes on one bot token.

    python bench/bench_global_budget.py [--sizes 1000,10000,100000] [--procs 1,2,4,8]
                                        [--rates 45,450] [--latency 0.05] [--today]

A simulation on a **virtual clock** (an asyncio event loop whose time jumps to the next timer,
so 37 virtual minutes take seconds), running the real pacing code:

- each process sends through the real :class:`bot.services.delivery.sending.RowSender`
  (``post``: its in-flight limit of ``concurrency`` and its wait for a budget slot) and the
  real :class:`bot.services.delivery.budget.SendBudget`, in a loop shaped like
  :class:`~bot.services.delivery.worker.DeliveryWorker`'s (claim a batch of
  ``max(32, concurrency * 8)`` rows of its own shards, one task per channel, wait for the
  batch, claim again), with 5 ms per claim and 2 ms per "mark sent";
- the processes share one budget state with the real rules (:mod:`bot.core.send_budget`), as
  the PostgreSQL row of :mod:`bot.store.send_budget` holds it, reserved one process at a time
  with 1 ms per reservation (the row lock); the real row itself is exercised by
  ``tests/scaleout/test_global_budget.py`` with real processes;
- Discord is modelled as its global limit per token (``limit`` requests in any sliding second:
  50 for the default 45/s, 500 for a bot granted 500/s, configured at 450/s), ``--latency``
  seconds per answer, and discord.py's reaction to a 429 (sleep ``retry_after``, try again)
  plus our HTTP trace's (tell the budget);
- the channels belong to random guilds, sharded by Discord's rule ``(guild_id >> 22) % N``.

Not modelled: the database's own time under load (100,000 ``mark_sent`` updates), rendering,
the poll that queued the rows, per-channel buckets (one message per channel here).

``--today`` adds the behaviour before the shared budget: each process paces itself at the full
rate and only discord.py reacts to a 429. The feed line is one post plus one publish through
the same budget: what a follower of the announcement channel waits, however many follow it.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import selectors
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.render import MessageData  # noqa: E402
from bot.core.send_budget import BudgetState, after_global_429, reserve  # noqa: E402
from bot.services.delivery.budget import LocalSlots, SendBudget  # noqa: E402
from bot.services.delivery.sending import RowSender  # noqa: E402

CLAIM_SECONDS = 0.005
SETTLE_SECONDS = 0.002
RESERVE_SECONDS = 0.001
MESSAGE = MessageData(content="🔴 Webcast live")


# --- a virtual clock for asyncio ------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0


class _JumpingSelector(selectors.DefaultSelector):
    """Never blocks: when the loop would wait for its next timer, time jumps there instead."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if not ready and timeout is not None and timeout > 0:
            self._clock.now += timeout
        return ready


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time (no real I/O may be awaited on it)."""

    def __init__(self) -> None:
        self.clock = _Clock()
        super().__init__(_JumpingSelector(self.clock))

    def time(self) -> float:
        return self.clock.now


# --- the shared budget, Discord, and one process ----------------------------------------------


class SharedState:
    """The budget row every process reserves from (one at a time, as the row lock makes it)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.state = BudgetState()
        self.lock = asyncio.Lock()


class SimSharedSlots:
    """:class:`~bot.services.delivery.budget.SharedSlots` over :class:`SharedState`."""

    def __init__(self, shared: SharedState) -> None:
        self.rate = shared.rate
        self._shared = shared

    async def reserve(self, count: int) -> list[float]:
        async with self._shared.lock:
            await asyncio.sleep(RESERVE_SECONDS)
            now = asyncio.get_running_loop().time()
            self._shared.state, res = reserve(self._shared.state, now, count, self.rate)
        return [res.slot(i) for i in range(count)]

    async def global_429(self, retry_after: float) -> None:
        async with self._shared.lock:
            now = asyncio.get_running_loop().time()
            self._shared.state = after_global_429(self._shared.state, now, retry_after)


class SimDiscord:
    """The token's global limit, latency, and discord.py's retry after a 429."""

    def __init__(self, limit: int, latency: float) -> None:
        self.limit = limit
        self.latency = latency
        self.window: deque[float] = deque()
        self.global_429s = 0
        self.delivered = 0
        self.last_delivery = 0.0

    def admit(self, now: float) -> float | None:
        """None when the request is within the limit, else Discord's ``retry_after``."""
        while self.window and now - self.window[0] >= 1.0:
            self.window.popleft()
        if len(self.window) < self.limit:
            self.window.append(now)
            return None
        self.global_429s += 1
        return 1.0 - (now - self.window[0])


class SimSender:
    """A :class:`~bot.discord_ui.sender.MessageSender` talking to :class:`SimDiscord`."""

    def __init__(self, discord: SimDiscord, budget: SendBudget, *, shared: bool = True) -> None:
        self._discord = discord
        self._budget = budget
        self._shared = shared  # False: today's code, which never told its pacer of a 429

    async def send(
        self, channel_id: int, message: MessageData, *, nonce: str, allowed_role_ids: Sequence[int]
    ) -> int:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._discord.latency / 2)
            retry_after = self._discord.admit(loop.time())
            await asyncio.sleep(self._discord.latency / 2)
            if retry_after is None:
                self._discord.delivered += 1
                self._discord.last_delivery = loop.time()
                return channel_id
            if self._shared:
                await self._budget.global_429(retry_after)  # our HTTP trace
            await asyncio.sleep(retry_after)  # discord.py waits it out, then tries again


async def run_process(rows: list[int], sending: RowSender, concurrency: int) -> None:
    """The worker's loop: claim a batch, one task per channel, wait, claim the next."""
    batch_size = max(32, concurrency * 8)
    for start in range(0, len(rows), batch_size):
        await asyncio.sleep(CLAIM_SECONDS)
        batch = rows[start : start + batch_size]

        async def one(channel: int) -> None:
            await sending.post(channel, [MESSAGE], nonce_key=f"k{channel}")
            await asyncio.sleep(SETTLE_SECONDS)

        await asyncio.gather(*(one(c) for c in batch))


@dataclass
class Result:
    seconds: float
    global_429s: int
    delivered: int


async def scenario(
    channels: int, procs: int, rate: float, limit: int, latency: float, *, today: bool
) -> Result:
    rng = random.Random(channels * 31 + procs)
    shards: list[list[int]] = [[] for _ in range(procs)]
    for n in range(channels):
        guild = rng.getrandbits(62) | (1 << 60)
        shards[(guild >> 22) % procs].append(n)
    concurrency = max(8, math.ceil(rate * latency * 2))
    discord = SimDiscord(limit, latency)
    shared = SharedState(rate)
    tasks = []
    for rows in shards:
        source = LocalSlots(rate) if today else SimSharedSlots(shared)
        budget = SendBudget(source)
        sending = RowSender(
            SimSender(discord, budget, shared=not today),
            concurrency=concurrency,
            rate_per_second=None,
            now=lambda: None,  # type: ignore[arg-type,return-value]  # post() never renders
            pacer=budget,
        )
        tasks.append(run_process(rows, sending, concurrency))
    await asyncio.gather(*tasks)
    return Result(discord.last_delivery, discord.global_429s, discord.delivered)


async def feed_scenario(rate: float, limit: int, latency: float) -> float:
    """One post and one publish through the budget: when followers see the alert."""
    discord = SimDiscord(limit, latency)
    budget = SendBudget(SimSharedSlots(SharedState(rate)))
    sender = SimSender(discord, budget)
    for _ in range(2):  # POST the message, then POST .../crosspost
        await budget.wait()
        await sender.send(0, MESSAGE, nonce="feed", allowed_role_ids=())
    return discord.last_delivery


def run(coro: object) -> object:
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(coro)  # type: ignore[arg-type]
    finally:
        loop.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--procs", default="1,2,4,8")
    parser.add_argument("--rates", default="45,450", help="configured rates; limit = rate / 0.9")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--today", action="store_true", help="also each process on its own")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    procs_list = [int(p) for p in args.procs.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    print(
        "| channels | rate (Discord limit) | processes | last delivery | target | 429s (global) |"
        + (" today: last delivery / 429s |" if args.today else "")
    )
    print("|---:|---|---:|---:|---:|---:|" + ("---|" if args.today else ""))
    for rate in rates:
        limit = round(rate / 0.9)
        for size in sizes:
            for procs in procs_list:
                started = time.perf_counter()
                res = run(scenario(size, procs, rate, limit, args.latency, today=False))
                assert isinstance(res, Result)
                assert res.delivered == size
                extra = ""
                if args.today:
                    old = run(scenario(size, procs, rate, limit, args.latency, today=True))
                    assert isinstance(old, Result)
                    extra = f" {old.seconds:,.1f} s / {old.global_429s:,} |"
                ideal = size / rate
                print(
                    f"| {size:,} | {rate:g}/s ({limit}/s) | {procs} | {res.seconds:,.1f} s |"
                    f" {ideal:,.1f} s ({res.seconds / ideal - 1:+.1%}) | {res.global_429s} |"
                    + extra
                    + f"  <!-- {time.perf_counter() - started:.1f}s real -->",
                    flush=True,
                )
        feed = run(feed_scenario(rate, limit, args.latency))
        print(f"| feed followers, any count | {rate:g}/s ({limit}/s) | any | {feed:.2f} s | | 0 |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
