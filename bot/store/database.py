"""Engine construction: SQLite (``sqlite+aiosqlite``) and PostgreSQL (``postgresql+asyncpg``).

SQLite needs three things the driver does not do by itself:

* **Pragmas on every connection**: ``journal_mode=WAL`` (readers do not block the writer),
  ``foreign_keys=ON`` (``ON DELETE SET NULL`` on the outbox) and ``busy_timeout=5000`` (wait
  for a lock instead of failing at once).
* **Real transactions.** Python's ``sqlite3`` (and so ``aiosqlite``) does not emit ``BEGIN``
  before ``SELECT`` or DDL, which breaks transactional DDL, savepoints and repeatable reads. We
  switch its transaction handling off and emit ``BEGIN`` ourselves, as SQLAlchemy documents.
* **Write transactions that cannot deadlock.** A deferred transaction that reads, then writes,
  fails with ``SQLITE_BUSY`` (no waiting) if another connection wrote in between. Connections
  carrying the execution option ``spacecast_write=True`` (see :func:`writer`) therefore start
  with ``BEGIN IMMEDIATE``, which takes the write lock up front and waits ``busy_timeout`` for it.
  Read-only work uses a plain ``BEGIN`` and runs concurrently with the writer under WAL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from bot.store.repository import Store

WRITE_OPTION = "spacecast_write"

# busy_timeout comes first: switching a new database to WAL needs a lock, and without the
# timeout a second process opening it at the same moment fails at once with "database is locked".
SQLITE_PRAGMAS = (
    "PRAGMA busy_timeout=5000",
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
)


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Take BEGIN away from the driver; _sqlite_on_begin emits it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine for ``url``, configured for Spacecast.

    Extra keyword arguments go to :func:`~sqlalchemy.ext.asyncio.create_async_engine` (tests use
    ``connect_args`` to pick a PostgreSQL schema, for instance). Use a file for SQLite: an
    in-memory database shares one connection, so a read during an open transaction would collide
    with it.
    """
    backend = make_url(url).get_backend_name()
    if backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    return engine


def writer(engine: AsyncEngine) -> AsyncEngine:
    """A view of ``engine`` (same pool) whose transactions are write transactions.

    On SQLite they start with ``BEGIN IMMEDIATE``; on PostgreSQL the option changes nothing.
    """
    return engine.execution_options(**{WRITE_OPTION: True})


async def open_store(url: str, **kwargs: Any) -> Store:
    """Create the engine for ``url``, migrate the schema, and return a ready :class:`Store`.

    Raises :class:`~bot.store.migrations.SchemaTooNewError` if a newer Spacecast migrated the
    database. Close the store with ``await store.close()``.
    """
    # Imported here: both modules import this one.
    from bot.store.migrations import migrate
    from bot.store.repository import Store

    engine = create_engine(url, **kwargs)
    try:
        await migrate(engine)
    except BaseException:
        await engine.dispose()
        raise
    return Store(engine)
