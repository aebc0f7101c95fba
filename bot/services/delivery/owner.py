"""Who holds an outbox claim: a key unique to this start of this process, that dies with it.

The worker stamps every row it claims with :attr:`ClaimOwner.key`; the store frees the claims of
an owner that is gone at once instead of after the lease (see :mod:`bot.store.outbox`):

- :class:`FileOwner` (SQLite): one process owns the file, so starting is proof that whoever
  claimed rows before is gone: :meth:`~FileOwner.start` takes every claim back.
- :class:`LockedOwner` (PostgreSQL): the process holds the session-level advisory lock
  ``(OWNER_LOCK_CLASS, key)`` on a dedicated :class:`~bot.services.lock_session.LockSession`.
  A killed process's session ends with its socket and the lock with it, so its claims are free
  the moment the server notices (milliseconds after a kill, within the keepalive deadline for a
  vanished host). This beats a heartbeat row: no write every few seconds, no clock skew between
  processes, and the database itself says who is alive. The session has no
  ``idle_session_timeout`` (a long batch must not cost the lock); a wedged process keeps its
  claims until their lease ends, as before.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from datetime import datetime
from typing import Protocol

from bot.services.lock_session import LockSession
from bot.store import Store
from bot.store.outbox import OWNER_LOCK_CLASS

log = logging.getLogger("bot.delivery")

_KEY_SPACE = 2**31 - 1  # the second key of a two-key advisory lock is an int4


def new_owner_key() -> int:
    """A fresh random owner key in 1 .. 2**31 - 1."""
    return secrets.randbelow(_KEY_SPACE - 1) + 1


class ClaimOwner(Protocol):
    """The identity this process claims outbox rows under."""

    @property
    def key(self) -> int:
        """The key written to ``claim_owner``."""
        ...

    async def start(self, now: datetime) -> None:
        """Register this process (and free what a crashed predecessor held)."""
        ...

    async def ensure(self) -> int:
        """The key to claim with now, registering again if the registration was lost.

        Raises when the database cannot be reached: the caller must not claim then.
        """
        ...

    async def close(self) -> None:
        """Give the registration up (on shutdown)."""
        ...


def _describe(key: int) -> dict[str, object]:
    return {"owner_key": key, "pid": os.getpid(), "host": socket.gethostname()}


class FileOwner:
    """The claim owner of a single-process (SQLite) deployment."""

    def __init__(self, store: Store, key: int | None = None) -> None:
        self._store = store
        self._key = key if key is not None else new_owner_key()

    @property
    def key(self) -> int:
        """This start's key."""
        return self._key

    async def start(self, now: datetime) -> None:
        """Take back every claim: on SQLite nobody else can hold one."""
        freed = await self._store.release_claims(now, owner_other_than=self._key)
        log.info("delivery claims owner ready", extra={**_describe(self._key), "freed": freed})

    async def ensure(self) -> int:
        """Always this start's key."""
        return self._key

    async def close(self) -> None:
        """Nothing to give up: unsettled claims are taken back by the next start."""


class LockedOwner:
    """The claim owner of a PostgreSQL process: an advisory lock that dies with its session."""

    def __init__(self, store: Store, key: int | None = None) -> None:
        self._session = LockSession(store.engine, idle_timeout_seconds=None)
        self._key = key if key is not None else new_owner_key()
        self._held = False

    @property
    def key(self) -> int:
        """This start's key (a new one only if another live process drew the same)."""
        return self._key

    async def start(self, now: datetime) -> None:
        """Take the owner lock (claims of dead owners need no release: they are due at once)."""
        await self.ensure()
        log.info("delivery claims owner ready", extra=_describe(self._key))

    async def ensure(self) -> int:
        """Check the lock's session; take the lock again (same key if free) when it was lost."""
        if self._held and await self._session.alive():
            return self._key
        if self._held:
            log.warning("delivery claims owner: lock session lost; taking it again")
        self._held = False
        await self._session.close()
        for _ in range(5):
            if await self._session.try_lock(self._key, class_id=OWNER_LOCK_CLASS):
                self._held = True
                return self._key
            # Another live process drew this key (1 in 2**31 per pair): draw again.
            self._key = new_owner_key()
        raise RuntimeError("could not register a delivery claims owner")

    async def close(self) -> None:
        """Close the lock's session (ending it frees the lock): this process's claims are free."""
        self._held = False
        await self._session.close()


def owner_for(store: Store) -> ClaimOwner:
    """The claim owner suited to the store's database."""
    if store.dialect_name == "postgresql":
        return LockedOwner(store)
    return FileOwner(store)
