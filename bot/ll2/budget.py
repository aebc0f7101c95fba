"""The LL2 request budget: at most ``limit`` counted requests in any sliding hour.

LL2 allows 15 requests per hour per IP without a key and answers 429 beyond that. Every counted
call goes through one shared :class:`RequestBudget`; each send is recorded in a :class:`SendLog`
*before* the request leaves, so a crash or restart can only over-count, never under-count.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.core.models import ThrottleInfo
from bot.ll2.errors import BudgetExhausted

log = logging.getLogger("bot.ll2")

HOUR_SECONDS = 3600.0


class Clock(Protocol):
    """Where the budget and the client read time and sleep; tests pass a fake."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the caller for ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Sleep on the running event loop."""
        await asyncio.sleep(max(0.0, seconds))


class SendLog(Protocol):
    """Durable record of when counted requests were sent, and of the moment LL2 told us to wait
    for (a 429's ``Retry-After``); the store implements it."""

    async def load_request_times(self, since: datetime) -> list[datetime]:
        """Every recorded send at or after ``since``."""
        ...

    async def record_request(self, at: datetime) -> None:
        """Persist one send."""
        ...

    async def load_blocked_until(self) -> datetime | None:
        """The persisted "send nothing before" moment, or None if there never was one."""
        ...

    async def record_blocked_until(self, until: datetime) -> None:
        """Persist a "send nothing before" moment; never shortens a later one already stored."""
        ...


class InMemorySendLog:
    """A :class:`SendLog` that lives as long as the process (tests, ``watch`` without a store)."""

    def __init__(self, times: list[datetime] | None = None) -> None:
        self.times: list[datetime] = list(times or [])
        self.blocked_until: datetime | None = None

    async def load_request_times(self, since: datetime) -> list[datetime]:
        """Every recorded send at or after ``since``."""
        return [t for t in self.times if t >= since]

    async def record_request(self, at: datetime) -> None:
        """Remember one send."""
        self.times.append(at)

    async def load_blocked_until(self) -> datetime | None:
        """The remembered block, if any."""
        return self.blocked_until

    async def record_blocked_until(self, until: datetime) -> None:
        """Remember a block unless a later one is already remembered."""
        if self.blocked_until is None or until > self.blocked_until:
            self.blocked_until = until


class RequestBudget:
    """Sliding-window limiter shared by every counted LL2 request.

    A send at ``t`` occupies a slot until ``t + window + margin``. The margin absorbs the gap
    between our clock and the moment the server counted the request (latency, clock skew), so two
    sends one exact window apart cannot land in the same server-side window.
    """

    def __init__(
        self,
        limit: int,
        *,
        send_log: SendLog | None = None,
        clock: Clock | None = None,
        window_seconds: float = HOUR_SECONDS,
        margin_seconds: float = 2.0,
    ) -> None:
        if limit <= 0:
            raise ValueError("limit must be positive")
        self._configured_limit = limit
        self._server_limit: int | None = None
        self._window = timedelta(seconds=window_seconds)
        self._margin = timedelta(seconds=margin_seconds)
        self._log = send_log if send_log is not None else InMemorySendLog()
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._sends: list[datetime] = []  # sorted; our own recorded sends
        self._phantoms: list[datetime] = []  # sorted; sends the server saw and we did not make
        self._blocked_until: datetime | None = None
        self._lock = asyncio.Lock()

    @property
    def limit(self) -> int:
        """The effective hourly limit: ours, lowered by what the server reported."""
        if self._server_limit is None:
            return self._configured_limit
        return max(0, min(self._configured_limit, self._server_limit))

    @property
    def blocked_until(self) -> datetime | None:
        """No send before this moment (set by 429s and the server's ``next_use_secs``)."""
        return self._blocked_until

    @property
    def clock(self) -> Clock:
        """The clock this budget waits on; the client shares it."""
        return self._clock

    def _span(self) -> timedelta:
        return self._window + self._margin

    def _active(self, now: datetime) -> list[datetime]:
        """Sends (ours and phantom) still occupying a slot at ``now``, oldest first."""
        cutoff = now - self._span()
        return sorted(t for t in (*self._sends, *self._phantoms) if t > cutoff)

    def _prune(self, now: datetime) -> None:
        cutoff = now - self._span()
        self._sends = [t for t in self._sends if t > cutoff]
        self._phantoms = [t for t in self._phantoms if t > cutoff]

    async def load(self) -> int:
        """Replace the in-memory history with the persisted sends of the last window.

        Call once at start-up, before the first :meth:`acquire`. Returns how many were loaded.
        """
        now = self._clock.now()
        times = await self._log.load_request_times(now - self._span())
        self._sends = sorted(t.astimezone(UTC) for t in times)
        self._prune(now)
        await self._adopt_persisted_block()
        log.info(
            "ll2 budget loaded",
            extra={
                "ll2_used": self.used_in_last_hour(now),
                "ll2_limit": self.limit,
                "ll2_blocked_until": self._blocked_until,
            },
        )
        return len(self._sends)

    def send_times(self, now: datetime) -> list[datetime]:
        """Sends (ours and phantom) still occupying a slot at ``now``, oldest first."""
        return self._active(now)

    def used_in_last_hour(self, now: datetime) -> int:
        """Sends (including phantom ones) that still count against the limit at ``now``."""
        return len(self._active(now))

    def available(self, now: datetime) -> int:
        """How many requests may go out at ``now`` without waiting."""
        if self._blocked_until is not None and now < self._blocked_until:
            return 0
        return max(0, self.limit - self.used_in_last_hour(now))

    def next_slot(self, now: datetime) -> datetime:
        """The earliest moment (``>= now``) a request may go out."""
        candidates = [now]
        if self._blocked_until is not None:
            candidates.append(self._blocked_until)
        active = self._active(now)
        limit = self.limit
        if limit <= 0:
            # The server granted nothing: look again after a whole window.
            candidates.append(now + self._window)
        elif len(active) >= limit:
            # Once the oldest ``len - limit + 1`` sends expire, one slot is free.
            candidates.append(active[len(active) - limit] + self._span())
        return max(candidates)

    def block_until(self, until: datetime) -> None:
        """Send nothing before ``until`` in this process; never shortens an earlier block."""
        if self._blocked_until is None or until > self._blocked_until:
            self._blocked_until = until

    async def record_block(self, until: datetime) -> None:
        """Send nothing before ``until`` (a 429's Retry-After), here and, through the send log,
        in every process sharing it and after any restart."""
        self.block_until(until)
        await self._log.record_blocked_until(until)

    async def _adopt_persisted_block(self) -> None:
        stored = await self._log.load_blocked_until()
        if stored is not None:
            self.block_until(stored.astimezone(UTC))

    async def acquire(self, *, wait: bool = True, max_wait: float | None = None) -> datetime:
        """Take one slot, waiting for it if allowed; record the send before returning.

        Raises :class:`BudgetExhausted` when ``wait`` is false and no slot is free, or when the
        wait would exceed ``max_wait`` seconds. Returns the moment the send was recorded.
        """
        async with self._lock:
            while True:
                # Another process on the same store may have been throttled since we looked.
                await self._adopt_persisted_block()
                now = self._clock.now()
                slot = self.next_slot(now)
                if slot <= now:
                    break
                delay = (slot - now).total_seconds()
                if not wait or (max_wait is not None and delay > max_wait):
                    raise BudgetExhausted(delay)
                log.info("ll2 budget wait", extra={"ll2_wait_seconds": round(delay, 3)})
                await self._clock.sleep(delay)
            self._prune(now)
            # Count it in memory first: if persisting fails the request does not go out, and
            # over-counting one slot is harmless.
            bisect.insort(self._sends, now)
            await self._log.record_request(now)
            return now

    def apply_server_view(self, throttle: ThrottleInfo, now: datetime) -> None:
        """Tighten the budget to what ``/api-throttle/`` reports; never loosen it.

        Requests the server counted beyond ours (another process on our IP, a lost send log)
        become phantom sends at ``now``: their real times are unknown, and assuming they are
        recent is the safe side. Only when the server is full do we know one more time: its
        oldest request expires in ``next_use_secs``. A lower server limit lowers ours, and
        ``next_use_secs`` blocks until then.
        """
        self._server_limit = throttle.your_request_limit
        if throttle.limit_frequency_secs > self._window.total_seconds():
            self._window = timedelta(seconds=throttle.limit_frequency_secs)
        active = self._active(now)
        excess = throttle.current_use - len(active)
        if excess > 0:
            phantoms = [now] * excess
            if throttle.next_use_secs > 0 and throttle.current_use >= throttle.your_request_limit:
                # A full server window frees its oldest request in ``next_use_secs``: if none of
                # ours is that old, it is a phantom, and dating it so keeps the wait honest.
                oldest = now + timedelta(seconds=throttle.next_use_secs) - self._span()
                if not active or active[0] > oldest:
                    phantoms[0] = oldest
            self._phantoms = sorted(self._phantoms + phantoms)
        if throttle.next_use_secs > 0:
            self.block_until(now + timedelta(seconds=throttle.next_use_secs))
        log.info(
            "ll2 server throttle view applied",
            extra={
                "ll2_server_limit": throttle.your_request_limit,
                "ll2_server_use": throttle.current_use,
                "ll2_next_use_secs": throttle.next_use_secs,
                "ll2_phantoms_added": max(0, excess),
                "ll2_limit": self.limit,
            },
        )
