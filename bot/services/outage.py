"""One log line per database outage, not one per attempt, and the backoff between attempts.

The poll job, the delivery worker and the heartbeat all touch the database; when it goes away
(PostgreSQL restarted, the network cut, SQLite "database is locked" or a full disk) each of
them fails on every try. They share one :class:`Outage` so the log says once that the database
is unreachable, and once that it is back with how long it was gone; the attempts in between
are DEBUG lines. Errors that are not the database's (a bug) are not swallowed here: the caller
still logs them with their traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import sqlalchemy.exc

log = logging.getLogger("bot.database")

# Backoff between attempts while the database is unreachable: short enough that polling and
# delivery resume within seconds of its return (the issue asks for 30 s), long enough not to
# hammer a restarting server.
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 15.0


def is_database_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is unreachable or unusable, rather than a bug.

    SQLAlchemy wraps driver errors (asyncpg, sqlite3) in ``DBAPIError``; a refused or reset
    connection can also surface as ``OSError`` (``ConnectionError``) or a timeout before
    SQLAlchemy sees it.
    """
    if isinstance(exc, sqlalchemy.exc.DBAPIError | sqlalchemy.exc.TimeoutError):
        return True
    if isinstance(exc, OSError | TimeoutError):
        return True
    # asyncpg's own connection errors, when raised outside SQLAlchemy's wrapping.
    return type(exc).__module__.startswith("asyncpg") and "Connection" in type(exc).__name__


class Outage:
    """Tracks whether the database is reachable, for logs, health and backoff."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._since: float | None = None
        self._failures = 0

    @property
    def down(self) -> bool:
        """Whether the last attempt failed."""
        return self._since is not None

    def failed(self, what: str, exc: BaseException) -> None:
        """Record a failed attempt by ``what``; logs the first of an outage at ERROR."""
        self._failures += 1
        if self._since is None:
            self._since = self._monotonic()
            log.error(
                "database unreachable (%s: %s); retrying with backoff until it is back",
                what,
                _short(exc),
            )
        else:
            log.debug("database still unreachable (%s: %s)", what, _short(exc))

    def succeeded(self) -> None:
        """Record a successful attempt; logs the end of an outage."""
        if self._since is not None:
            gone = self._monotonic() - self._since
            log.warning(
                "database reachable again after %.0f s (%d failed attempts)", gone, self._failures
            )
        self._since = None
        self._failures = 0

    def backoff_seconds(self) -> float:
        """How long to wait before the next attempt: doubling from 1 s, at most 15 s."""
        if self._failures == 0:
            return 0.0
        return float(min(BACKOFF_CAP_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (self._failures - 1)))


def _short(exc: BaseException) -> str:
    # The first line of the driver's message is enough to say what happened; SQLAlchemy's own
    # text adds the statement and a link.
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
