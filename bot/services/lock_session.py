"""A dedicated PostgreSQL session that holds advisory locks and dies with its holder.

A session-level advisory lock belongs to the server-side session, so it goes away with it:

- a *killed* holder: the kernel closes its socket, the backend reads EOF at once, ends the
  session and the lock is free (seconds);
- a *vanished* host or a cut network: no FIN ever arrives. The session carries TCP keepalives
  (``tcp_keepalives_idle``/``interval``/``count``) and ``tcp_user_timeout``, so the server
  drops it within about :data:`KEEPALIVE_DEADLINE_SECONDS`;
- a *wedged* holder (a blocked event loop, a stopped process: the kernel still answers
  keepalives): once it holds a lock the session runs with ``idle_session_timeout``, so a holder
  that stops using it (see the lease's heartbeat) is disconnected by the server.

:class:`LockSession` is the connection side of that: open it with those settings, try a lock
(never the blocking form), check it is alive, unlock, and throw it away (invalidated, never
pooled: a pooled connection would keep the session, and its locks, alive under another user).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger("bot.leader")

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


class LockSession:
    """One dedicated connection for session advisory locks (see the module docstring).

    Not safe for concurrent use: callers serialise their statements (the lease holds a lock).
    Every statement is bounded by :data:`CHECK_TIMEOUT_SECONDS`.
    """

    def __init__(
        self, engine: AsyncEngine, *, idle_timeout_seconds: int | None = IDLE_TIMEOUT_SECONDS
    ) -> None:
        self._engine = engine
        self._idle_timeout = idle_timeout_seconds
        self._conn: AsyncConnection | None = None

    @property
    def connected(self) -> bool:
        """Whether a connection is open (it may still have died on the server)."""
        return self._conn is not None

    async def try_lock(self, key: int, *, class_id: int | None = None) -> bool:
        """``pg_try_advisory_lock(key)`` on the session, connecting first when needed.

        With ``class_id`` the two-key form ``pg_try_advisory_lock(class_id, key)`` (both int4)
        is used instead. On success the session starts running with ``idle_session_timeout``
        (unless the session was made with ``idle_timeout_seconds=None``): only a holder's
        session must die when it stops being used; a follower's idle connection may sit for a
        retry interval between tries.
        """
        conn = await self._connection()
        if class_id is None:
            query, params = "SELECT pg_try_advisory_lock(:key)", {"key": key}
        else:
            query = "SELECT pg_try_advisory_lock(CAST(:cls AS integer), CAST(:key AS integer))"
            params = {"cls": class_id, "key": key}
        result = await asyncio.wait_for(conn.execute(text(query), params), CHECK_TIMEOUT_SECONDS)
        if not bool(result.scalar()):
            return False
        if self._idle_timeout is not None:
            await conn.execute(text(f"SET idle_session_timeout = {self._idle_timeout * 1000}"))
        return True

    async def alive(self) -> bool:
        """``SELECT 1`` on the session; False when there is none or it fails."""
        if self._conn is None:
            return False
        try:
            await asyncio.wait_for(self._conn.execute(text("SELECT 1")), CHECK_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("lock session: check failed: %r", exc)
            return False
        return True

    async def unlock(self, key: int) -> None:
        """``pg_advisory_unlock(key)``, best effort (closing the session frees it anyway)."""
        if self._conn is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key}),
                CHECK_TIMEOUT_SECONDS,
            )

    async def close(self) -> None:
        """Drop the connection (invalidated: its session and every lock it holds end)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await _discard(conn)

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            self._conn = await asyncio.wait_for(self._connect(), CHECK_TIMEOUT_SECONDS)
        return self._conn

    async def _connect(self) -> AsyncConnection:
        conn = await self._engine.connect()
        try:
            # Autocommit: a session idle *outside* a transaction is what idle_session_timeout
            # watches, and the locks are session-level anyway.
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in _SESSION_SETTINGS:
                await conn.execute(text(statement))
        except BaseException:
            await _discard(conn)
            raise
        return conn


async def _discard(conn: AsyncConnection) -> None:
    # Invalidate, never return to the pool: a pooled connection would keep the session (and a
    # lock it holds) alive under another user.
    with contextlib.suppress(Exception):
        await conn.invalidate()
    with contextlib.suppress(Exception):
        await conn.close()
