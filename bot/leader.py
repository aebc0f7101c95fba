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
try again every ``retry_seconds`` (default 10, one scheduler tick). The lock belongs to the
server-side session, so it goes away with it:

- a *killed* leader: the kernel closes its socket, the backend reads EOF at once, ends the
  session and the lock is free for the next try (seconds);
- a *vanished* host or a cut network: no FIN ever arrives. The session carries TCP keepalives
  (``tcp_keepalives_idle``/``interval``/``count``) and ``tcp_user_timeout``, so the server
  drops it within about :data:`KEEPALIVE_DEADLINE_SECONDS`;
- a *wedged* leader (a blocked event loop, a stopped process: the kernel still answers
  keepalives): the session runs with ``idle_session_timeout`` (:data:`IDLE_TIMEOUT_SECONDS`),
  and while leading a heartbeat task runs ``SELECT 1`` on it every ``heartbeat_seconds``. A
  leader that stops heartbeating is disconnected by the server and its lock released.

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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot import metrics
from bot.store import Store

log = logging.getLogger("bot.leader")

# pg advisory locks are per database: every Spacecast process of one database competes for this.
LOCK_KEY = 0x5350_4341_5354  # "SPCAST"
DEFAULT_RETRY_SECONDS = 10.0
DEFAULT_HEARTBEAT_SECONDS = 10.0
IDLE_TIMEOUT_SECONDS = 30
KEEPALIVE_IDLE_SECONDS = 10
KEEPALIVE_INTERVAL_SECONDS = 5
KEEPALIVE_COUNT = 3
KEEPALIVE_DEADLINE_SECONDS = KEEPALIVE_IDLE_SECONDS + KEEPALIVE_INTERVAL_SECONDS * KEEPALIVE_COUNT
CHECK_TIMEOUT_SECONDS = 5.0

# Session settings of the lease connection (server side of *this* connection only).
_SESSION_SETTINGS = (
    f"SET tcp_keepalives_idle = {KEEPALIVE_IDLE_SECONDS}",
    f"SET tcp_keepalives_interval = {KEEPALIVE_INTERVAL_SECONDS}",
    f"SET tcp_keepalives_count = {KEEPALIVE_COUNT}",
    f"SET tcp_user_timeout = {KEEPALIVE_DEADLINE_SECONDS * 1000}",
    "SET application_name = 'spacecast-poller-lease'",
)


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
    """Leadership through a PostgreSQL session advisory lock (see the module docstring)."""

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
        self._engine = engine
        self._key = key
        self._retry = retry_seconds
        self._heartbeat_every = heartbeat_seconds
        self._idle_timeout = idle_timeout_seconds
        self._monotonic = monotonic
        self._on_change = on_change
        self._conn: AsyncConnection | None = None
        self._leader = False
        self._next_try = 0.0
        self._lock = asyncio.Lock()  # one statement at a time on the lease connection
        self._heartbeat: asyncio.Task[None] | None = None
        self._released = False

    @property
    def is_leader(self) -> bool:
        """Whether the last check found this process holding the lock."""
        return self._leader

    async def acquire_or_check(self) -> bool:
        """Leader: verify the lease connection (``SELECT 1``). Follower: try the lock when due."""
        if self._released:
            return False
        async with self._lock:
            if self._leader:
                if await self._alive():
                    return True
                await self._lose("lease connection failed its check")
                return False
            now = self._monotonic()
            if now < self._next_try:
                return False
            self._next_try = now + self._retry
            try:
                won = await asyncio.wait_for(self._try_lock(), CHECK_TIMEOUT_SECONDS)
            except Exception as exc:
                log.warning("poller lease: cannot try the lock: %r", exc)
                await self._drop_connection()
                return False
            if won:
                self._become_leader()
            return won

    async def release(self) -> None:
        """Unlock and close the lease connection; this object stays released."""
        self._released = True
        await self._stop_heartbeat()
        async with self._lock:
            was_leader = self._leader
            if self._conn is not None and was_leader:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        self._conn.execute(
                            text("SELECT pg_advisory_unlock(:key)"), {"key": self._key}
                        ),
                        CHECK_TIMEOUT_SECONDS,
                    )
            await self._drop_connection()
            if was_leader:
                self._set_leader(False)
                log.info("poller leadership released", extra={"leader": False})

    # -- internals --------------------------------------------------------------------------

    async def _connect(self) -> AsyncConnection:
        conn = await self._engine.connect()
        try:
            # Autocommit: a session idle *outside* a transaction is what idle_session_timeout
            # watches, and the lock is session-level anyway.
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in _SESSION_SETTINGS:
                await conn.execute(text(statement))
        except BaseException:
            await _discard(conn)
            raise
        return conn

    async def _try_lock(self) -> bool:
        if self._conn is None:
            self._conn = await self._connect()
        result = await self._conn.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
        )
        if not bool(result.scalar()):
            return False
        # Only the leader's session must die when it stops heartbeating; a follower's idle
        # connection may sit for a retry interval between tries.
        await self._conn.execute(text(f"SET idle_session_timeout = {self._idle_timeout * 1000}"))
        return True

    async def _alive(self) -> bool:
        if self._conn is None:
            return False
        try:
            await asyncio.wait_for(self._conn.execute(text("SELECT 1")), CHECK_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("poller lease: heartbeat failed: %r", exc)
            return False
        return True

    def _become_leader(self) -> None:
        self._set_leader(True)
        log.info("poller leadership acquired", extra={"leader": True, "lock_key": self._key})
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="poller-lease-heartbeat")

    async def _lose(self, reason: str) -> None:
        # Called with self._lock held.
        self._set_leader(False)
        self._next_try = self._monotonic() + self._retry
        log.warning("poller leadership lost: %s", reason, extra={"leader": False})
        await self._drop_connection()
        task, self._heartbeat = self._heartbeat, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _set_leader(self, leader: bool) -> None:
        self._leader = leader
        metrics.set_leader(leader)
        if self._on_change is not None:
            self._on_change(leader)

    async def _heartbeat_loop(self) -> None:
        # Keeps the leader's session from idling out during long polls, and notices a dead
        # connection between poll ticks.
        while True:
            await asyncio.sleep(self._heartbeat_every)
            async with self._lock:
                if not self._leader:
                    return
                if not await self._alive():
                    self._heartbeat = None
                    await self._lose("lease connection failed its heartbeat")
                    return

    async def _stop_heartbeat(self) -> None:
        task, self._heartbeat = self._heartbeat, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await _discard(conn)


async def _discard(conn: AsyncConnection) -> None:
    # Invalidate, never return to the pool: a pooled connection would keep the session (and a
    # lock it holds) alive under another user.
    with contextlib.suppress(Exception):
        await conn.invalidate()
    with contextlib.suppress(Exception):
        await conn.close()


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
