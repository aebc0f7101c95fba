"""Poller election: of several processes sharing one database, exactly one polls LL2.

Every process of a sharded deployment delivers its own shards' outbox rows, but LL2's budget
(15 requests an hour without a key) is one per IP and the snapshots are shared, so only one of
them may poll. :class:`PollerLease` decides which::

    lease = PollerLease.for_store(store)
    scheduler = BotScheduler(..., may_poll=lease.acquire_or_check)
    ...
    await lease.release()

**PostgreSQL.** The leader is the process whose dedicated connection holds the session-level
advisory lock :data:`LOCK_KEY` (``pg_try_advisory_lock``, never the blocking form). The others
try again every ``retry_seconds`` (default 10, one scheduler tick). The lock lives on a
:class:`~bot.services.lock_session.LockSession`, which dies with the process (a kill frees it in
seconds, a vanished host within the keepalive deadline); while leading, a heartbeat task runs
``SELECT 1`` on it every ``heartbeat_seconds``, so a *wedged* leader (a blocked event loop) goes
quiet, the server's ``idle_session_timeout`` (:data:`IDLE_TIMEOUT_SECONDS`) disconnects it and
its lock is released.

So a dead leader is replaced within ``IDLE_TIMEOUT_SECONDS + retry_seconds`` (30 s + 10 s) in the
worst case, and within one retry interval in the common one (a crash or a kill). Followers try
on the scheduler's poll tick, so a retry interval that is not a multiple of the tick rounds up
to one (15 s on a 10 s tick means every 20 s). The new leader's first poll then waits for the
planner, which sees the old leader's sends in the shared request log (at least its 15 s floor).

Each :meth:`PollerLease.acquire_or_check` by the leader runs ``SELECT 1`` on the lease
connection first: if that fails the session (and with it the lock) may be gone, so the process
drops leadership and polls nothing until it wins the lock again. A leader wedged *during* a poll
that outlives its session may finish that one poll after a successor started: harmless, since
changes and outbox rows are deduplicated by the store (each change is recorded once, each outbox
row has a unique key).

**SQLite.** One process owns the file: it is always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services import metrics
from bot.services.lock_session import (
    CHECK_TIMEOUT_SECONDS,
    IDLE_TIMEOUT_SECONDS,
    KEEPALIVE_COUNT,
    KEEPALIVE_DEADLINE_SECONDS,
    KEEPALIVE_IDLE_SECONDS,
    KEEPALIVE_INTERVAL_SECONDS,
    LockSession,
)
from bot.store import Store

__all__ = [
    "CHECK_TIMEOUT_SECONDS",
    "IDLE_TIMEOUT_SECONDS",
    "KEEPALIVE_COUNT",
    "KEEPALIVE_DEADLINE_SECONDS",
    "KEEPALIVE_IDLE_SECONDS",
    "KEEPALIVE_INTERVAL_SECONDS",
    "LOCK_KEY",
    "AdvisoryLockLease",
    "AlwaysLeader",
    "PollerLease",
    "lease_for",
]

log = logging.getLogger("bot.leader")

# pg advisory locks are per database: every Spacecast process of one database competes for this.
LOCK_KEY = 0x5350_4341_5354  # "SPCAST"
DEFAULT_RETRY_SECONDS = 10.0
DEFAULT_HEARTBEAT_SECONDS = 10.0


class PollerLease(Protocol):
    """Whether this process may poll LL2 now."""

    async def acquire_or_check(self) -> bool:
        """True if this process is (still, or newly) the poller; never raises."""
        ...

    async def release(self) -> None:
        """Give leadership up (on shutdown) so another process takes over at its next try."""
        ...

    @property
    def is_leader(self) -> bool:
        """The answer of the last :meth:`acquire_or_check`."""
        ...


class AlwaysLeader:
    """The lease of a single-process deployment (SQLite): always the poller."""

    def __init__(self) -> None:
        self._announced = False

    @property
    def is_leader(self) -> bool:
        """Always true."""
        return True

    async def acquire_or_check(self) -> bool:
        """Always true."""
        if not self._announced:
            self._announced = True
            metrics.set_leader(True)
            log.info("poller leadership: single process (SQLite), always the poller")
        return True

    async def release(self) -> None:
        """Nothing to give up."""
        metrics.set_leader(False)


class AdvisoryLockLease:
    """Leadership through a PostgreSQL session advisory lock (see the module docstring).

    Three parts: :meth:`acquire_or_check` (a follower tries the lock when due, the leader checks
    its session), the heartbeat task while leading, and :meth:`release`.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        key: int = LOCK_KEY,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
        idle_timeout_seconds: int = IDLE_TIMEOUT_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        if heartbeat_seconds * 2 > idle_timeout_seconds:
            raise ValueError("heartbeat_seconds must be at most half of idle_timeout_seconds")
        self._session = LockSession(engine, idle_timeout_seconds=idle_timeout_seconds)
        self._key = key
        self._retry = retry_seconds
        self._heartbeat_every = heartbeat_seconds
        self._monotonic = monotonic
        self._on_change = on_change
        self._leader = False
        self._next_try = 0.0
        self._lock = asyncio.Lock()  # one statement at a time on the lease session
        self._heartbeat: asyncio.Task[None] | None = None
        self._released = False

    @property
    def is_leader(self) -> bool:
        """Whether the last check found this process holding the lock."""
        return self._leader

    # -- acquire ----------------------------------------------------------------------------

    async def acquire_or_check(self) -> bool:
        """Leader: verify the lease session (``SELECT 1``). Follower: try the lock when due."""
        if self._released:
            return False
        async with self._lock:
            if self._leader:
                if await self._session.alive():
                    return True
                await self._lose("lease connection failed its check")
                return False
            now = self._monotonic()
            if now < self._next_try:
                return False
            self._next_try = now + self._retry
            try:
                won = await self._session.try_lock(self._key)
            except Exception as exc:
                log.warning("poller lease: cannot try the lock: %r", exc)
                await self._session.close()
                return False
            if won:
                self._become_leader()
            return won

    def _become_leader(self) -> None:
        self._set_leader(True)
        log.info("poller leadership acquired", extra={"leader": True, "lock_key": self._key})
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="poller-lease-heartbeat")

    def _set_leader(self, leader: bool) -> None:
        self._leader = leader
        metrics.set_leader(leader)
        if self._on_change is not None:
            self._on_change(leader)

    # -- heartbeat --------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        # Keeps the leader's session from idling out during long polls, and notices a dead
        # connection between poll ticks.
        while True:
            await asyncio.sleep(self._heartbeat_every)
            async with self._lock:
                if not self._leader:
                    return
                if not await self._session.alive():
                    self._heartbeat = None
                    await self._lose("lease connection failed its heartbeat")
                    return

    async def _lose(self, reason: str) -> None:
        # Called with self._lock held.
        self._set_leader(False)
        self._next_try = self._monotonic() + self._retry
        log.warning("poller leadership lost: %s", reason, extra={"leader": False})
        await self._session.close()
        task, self._heartbeat = self._heartbeat, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    # -- release ----------------------------------------------------------------------------

    async def release(self) -> None:
        """Unlock and close the lease session; this object stays released."""
        self._released = True
        task, self._heartbeat = self._heartbeat, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._lock:
            was_leader = self._leader
            if was_leader:
                await self._session.unlock(self._key)
            await self._session.close()
            if was_leader:
                self._set_leader(False)
                log.info("poller leadership released", extra={"leader": False})


def lease_for(
    store: Store,
    *,
    retry_seconds: float = DEFAULT_RETRY_SECONDS,
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
    idle_timeout_seconds: int = IDLE_TIMEOUT_SECONDS,
) -> PollerLease:
    """The lease suited to the store's database: advisory lock on PostgreSQL, else always."""
    if store.dialect_name == "postgresql":
        return AdvisoryLockLease(
            store.engine,
            retry_seconds=retry_seconds,
            heartbeat_seconds=heartbeat_seconds,
            idle_timeout_seconds=idle_timeout_seconds,
        )
    return AlwaysLeader()
