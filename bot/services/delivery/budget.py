"""The send budget every request to Discord waits on: one per bot token, shared by processes.

:class:`SendBudget` is what senders await (``await budget.wait()`` before each request). It
hands out send slots it reserved from a :class:`SlotSource`, a few at a time
(:func:`bot.core.send_budget.block_size`, about 0.1 s of sending):

- :class:`SharedSlots` (PostgreSQL): the slots come from one row every process of the
  deployment reserves from (:mod:`bot.store.send_budget`), so all of them together stay
  under ``delivery.global_rate_per_second``; a busy process gets whatever the others leave;
- :class:`LocalSlots` (SQLite, a lone process, tests and the benchmark): the same rules
  (:mod:`bot.core.send_budget`) on this process's own clock; the process has the whole rate.

A global 429 (``X-RateLimit-Scope: global``) goes to :meth:`SendBudget.global_429`, which
pauses this process at once and writes the pause (and a slower rate for a minute) to the
source, so every other process honours it from its next reservation. Per-route 429s stay with
discord.py's own buckets. A slot the process wakes up too late for is dropped rather than
sent in a burst (:func:`bot.core.send_budget.usable`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.core.send_budget import (
    BudgetState,
    after_global_429,
    block_size,
    reserve,
    usable,
)
from bot.discord_ui.sender import TransientSendError
from bot.services import metrics
from bot.store import Store
from bot.store.send_budget import (
    load_budget,
    load_shares,
    record_global_429,
    record_share,
    reserve_slots,
)

log = logging.getLogger("bot.delivery")

RATE_WINDOW_SECONDS = 5.0  # the measured send rate is over this many seconds
SHARE_REPORT_SECONDS = 2.0  # how often a sending process writes its rate for the others

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class BudgetUnavailable(TransientSendError):
    """No slot could be reserved (the shared budget's database is unreachable)."""


class SlotSource(Protocol):
    """Where a process's send slots come from."""

    rate: float

    async def reserve(self, count: int) -> list[float]:
        """``count`` slot moments on the caller's clock (see :class:`SendBudget`)."""
        ...

    async def global_429(self, retry_after: float) -> None:
        """Record a global 429 so that nobody sends before ``retry_after`` seconds pass."""
        ...


class LocalSlots:
    """The budget in this process's memory: for a lone process, which has all of it."""

    def __init__(self, rate: float, clock: Clock | None = None) -> None:
        self.rate = rate
        self._clock = clock
        self.state = BudgetState()

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def reserve(self, count: int) -> list[float]:
        """Reserve ``count`` slots from the in-memory state."""
        self.state, res = reserve(self.state, self._now(), count, self.rate)
        return [res.slot(i) for i in range(count)]

    async def global_429(self, retry_after: float) -> None:
        """Pause and slow the in-memory budget."""
        self.state = after_global_429(self.state, self._now(), retry_after)


class SharedSlots:
    """The budget in the shared PostgreSQL database (see :mod:`bot.store.send_budget`)."""

    def __init__(self, store: Store, rate: float) -> None:
        self.rate = rate
        self._store = store

    async def reserve(self, count: int) -> list[float]:
        """Reserve ``count`` slots in the shared row; convert them to this loop's clock.

        The database's clock is read in the reserving statement, so only the difference
        ``slot - db_now`` crosses over: hosts whose clocks disagree still share one timeline.
        """
        loop = asyncio.get_running_loop()
        reserved = await reserve_slots(self._store, count, self.rate, loop.time)
        offset = reserved.local_now - reserved.db_now
        res = reserved.reservation
        return [res.slot(i) + offset for i in range(count)]

    async def global_429(self, retry_after: float) -> None:
        """Write the pause and the slower rate to the shared row."""
        await record_global_429(self._store, retry_after)


class SendBudget:
    """Paces this process's Discord requests to its part of the token's global budget.

    ``wait()`` returns when the caller may send one request. Also measures what was sent
    (:meth:`sends_per_second`) and counts 429s by scope (:attr:`rate_limited`).
    """

    def __init__(
        self,
        source: SlotSource,
        *,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        share_key: int | None = None,
        store: Store | None = None,
    ) -> None:
        self._source = source
        self._clock = clock
        self._sleep = sleep
        self._slots: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._block = block_size(source.rate)
        self._paused_until = 0.0
        # Callers waiting for a slot that are not background (see wait()).
        self._foreground = 0
        self._no_foreground = asyncio.Event()
        self._no_foreground.set()
        self._sent: deque[float] = deque()
        self._share_key = share_key
        self._store = store
        self._share_reported = 0.0
        self.sent_total = 0
        self.dropped_slots = 0
        self.rate_limited: Counter[str] = Counter()

    @property
    def rate(self) -> float:
        """The configured rate of the whole deployment (requests per second)."""
        return self._source.rate

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def wait(self, *, background: bool = False) -> None:
        """Sleep until this caller's send slot (reserving more slots when none are left).

        A ``background`` caller (the calendar) first waits until no other caller is waiting:
        alerts go first, and the calendar has the slots they leave.
        """
        if background:
            while self._foreground:
                await self._no_foreground.wait()
            await self._take()
            return
        self._foreground += 1
        self._no_foreground.clear()
        try:
            await self._take()
        finally:
            self._foreground -= 1
            if not self._foreground:
                self._no_foreground.set()

    async def _take(self) -> None:
        while True:
            async with self._lock:
                slot = await self._next_slot()
            delay = slot - self._now()
            if delay > 0:
                await self._sleep(delay)
            now = self._now()
            if now < self._paused_until:  # a global 429 arrived while we slept
                continue
            if usable(slot, now):
                self._record_send(now)
                return
            self.dropped_slots += 1

    async def _next_slot(self) -> float:
        while True:
            now = self._now()
            while self._slots:
                slot = self._slots.popleft()
                if slot >= self._paused_until and usable(slot, now):
                    return slot
                self.dropped_slots += 1
            try:
                self._slots.extend(await self._source.reserve(self._block))
            except Exception as exc:
                # The shared budget is out of reach (the database is down): send nothing rather
                # than guess at the others' rate. The worker retries the row later, as after
                # any transient error.
                raise BudgetUnavailable(f"send budget unavailable: {exc!r}") from exc

    def _record_send(self, now: float) -> None:
        self.sent_total += 1
        self._sent.append(now)
        while self._sent and now - self._sent[0] > RATE_WINDOW_SECONDS:
            self._sent.popleft()
        metrics.set_send_rate(len(self._sent) / RATE_WINDOW_SECONDS, self.rate)
        if (
            self._store is not None
            and self._share_key is not None
            and now - self._share_reported >= SHARE_REPORT_SECONDS
        ):
            self._share_reported = now
            task = asyncio.get_running_loop().create_task(self._report_share())
            task.add_done_callback(_ignore_result)

    async def _report_share(self) -> None:
        assert self._store is not None
        assert self._share_key is not None
        await record_share(self._store, self._share_key, self.sends_per_second())

    def sends_per_second(self) -> float:
        """This process's sends over the last :data:`RATE_WINDOW_SECONDS`."""
        now = self._now()
        while self._sent and now - self._sent[0] > RATE_WINDOW_SECONDS:
            self._sent.popleft()
        return len(self._sent) / RATE_WINDOW_SECONDS

    async def global_429(self, retry_after: float) -> None:
        """Discord said the token's global limit is hit: pause here now, tell the others.

        The slots already reserved are dropped (they fall inside the pause); a failure to
        write the pause to the database is logged, the local pause holds regardless.
        """
        self.rate_limited["global"] += 1
        metrics.record_rate_limited("global")
        self._paused_until = max(self._paused_until, self._now() + max(0.0, retry_after))
        self._slots.clear()
        try:
            await self._source.global_429(retry_after)
        except Exception as exc:
            log.warning("send budget: could not share a global 429: %r", exc)

    def other_429(self, scope: str) -> None:
        """Count a 429 of another scope (``user``, ``shared``): discord.py's buckets handle it."""
        self.rate_limited[scope or "unknown"] += 1
        metrics.record_rate_limited(scope)

    async def status(self) -> BudgetStatus:
        """What ``/spacecast status`` shows: rates, every sending process's share, 429s."""
        mine = self.sends_per_second()
        shares: dict[int, float] = {}
        shared_429s: int | None = None
        paused_for = max(0.0, self._paused_until - self._now())
        if self._store is not None:
            shares = await load_shares(self._store)
            state, db_now = await load_budget(self._store)
            shared_429s = state.global_429s
            paused_for = max(paused_for, state.tat - db_now - 1.0)  # beyond normal queueing
        if self._share_key is not None:
            shares[self._share_key] = mine
        return BudgetStatus(
            rate=self.rate,
            mine=mine,
            shares=shares,
            rate_limited=dict(self.rate_limited),
            shared_global_429s=shared_429s,
            paused_for=paused_for,
        )


@dataclass(frozen=True)
class BudgetStatus:
    """The send budget as ``/spacecast status`` shows it."""

    rate: float  # the deployment's configured requests per second
    mine: float  # this process's sends per second (last few seconds)
    shares: dict[int, float]  # sends per second of each process sending lately, by owner key
    rate_limited: dict[str, int]  # 429s this process got since start, by scope
    shared_global_429s: int | None  # global 429s every process recorded (PostgreSQL only)
    paused_for: float  # seconds until sending resumes after a global 429 (0: not paused)

    def describe(self) -> str:
        """One short paragraph for the status embed."""
        total = sum(self.shares.values()) if self.shares else self.mine
        parts = [f"{total:.1f}/s of {self.rate:g}/s now; this process {self.mine:.1f}/s"]
        if len(self.shares) > 1:
            others = ", ".join(f"{v:.1f}" for _, v in sorted(self.shares.items()))
            parts.append(f"{len(self.shares)} processes sending ({others}/s)")
        scopes = ", ".join(
            f"{scope} {self.rate_limited.get(scope, 0)}" for scope in ("global", "user", "shared")
        )
        parts.append(f"429s since start: {scopes}")
        if self.shared_global_429s is not None:
            parts.append(f"global 429s of all processes: {self.shared_global_429s}")
        if self.paused_for > 0:
            parts.append(f"paused for {self.paused_for:.0f}s after a global 429")
        return " · ".join(parts)


def _ignore_result(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("send budget: share report failed: %r", task.exception())


def budget_for(store: Store, rate: float, *, share_key: int | None = None) -> SendBudget:
    """The budget suited to the store: shared on PostgreSQL, this process's own on SQLite."""
    if store.dialect_name == "postgresql":
        return SendBudget(SharedSlots(store, rate), share_key=share_key, store=store)
    return SendBudget(LocalSlots(rate))
