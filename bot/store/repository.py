"""The :class:`Store`: every query Spacecast makes, on its own or inside one transaction.

::

    store = await open_store("sqlite+aiosqlite:///spacecast.db")
    subs = await store.list_subscriptions(enabled_only=True)  # its own short transaction

    async with store.transaction() as tx:  # one transaction for a whole poll
        old = await tx.load_snapshots(keys)
        await tx.save_snapshots(new, seen_at=now)
        fresh = await tx.record_changes(changes)
        await tx.enqueue(rows_for(fresh))
        await tx.set_datetime("poll:events:last", now)
    # committed here; an exception inside the block rolls all of it back

``tx`` has exactly the methods of ``store`` (it is a :class:`StoreTx`, a :class:`Store` bound to
the transaction's connection). On SQLite the transaction starts with ``BEGIN IMMEDIATE``: it
holds the write lock from the start, so a read-then-write poll cannot fail half-way with "database
is locked"; readers (commands) carry on under WAL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.calendar import CalendarQueries
from bot.store.cards import CardQueries
from bot.store.database import writer
from bot.store.outbox import OutboxQueries
from bot.store.poll_state import EventTypeQueries, PollStateQueries, RequestLogQueries
from bot.store.snapshots import ChangeLogQueries, SnapshotQueries
from bot.store.subscriptions import SubscriptionQueries


class Store(
    SnapshotQueries,
    ChangeLogQueries,
    SubscriptionQueries,
    OutboxQueries,
    PollStateQueries,
    RequestLogQueries,
    EventTypeQueries,
    CalendarQueries,
    CardQueries,
):
    """Spacecast's persistence. Build it with :func:`bot.store.open_store`.

    Every method works outside a transaction (each call commits on its own) and on the ``tx``
    from :meth:`transaction` (all calls commit together). All timestamps in and out are aware
    UTC datetimes; naive ones are refused with :class:`ValueError`.
    """

    def __init__(self, engine: AsyncEngine, conn: AsyncConnection | None = None) -> None:
        super().__init__(engine, conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[StoreTx]:
        """One database transaction: commit when the block ends, roll back if it raises.

        Nested use (``tx.transaction()``) opens a savepoint: an exception inside it undoes only
        the inner block, if caught.
        """
        if self._conn is not None:
            async with self._conn.begin_nested():
                yield StoreTx(self._engine, self._conn)
            return
        async with writer(self._engine).begin() as conn:
            yield StoreTx(self._engine, conn)

    async def close(self) -> None:
        """Close every pooled connection (only on the top-level store, not on a ``tx``)."""
        if self._conn is None:
            await self._engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class StoreTx(Store):
    """A :class:`Store` bound to one open transaction (what ``store.transaction()`` yields)."""

    def __init__(self, engine: AsyncEngine, conn: AsyncConnection) -> None:
        super().__init__(engine, conn)

    @property
    def connection(self) -> AsyncConnection:
        """The transaction's connection, for queries the store does not offer."""
        assert self._conn is not None
        return self._conn
