"""Schema migrations: a small, linear, versioned scheme run at start-up.

Why not Alembic? Spacecast has a single linear schema owned by a single application, applied
automatically when the bot starts, that must behave identically on SQLite and PostgreSQL. Alembic
would add a CLI, an ``env.py``, a versions folder and a second place that knows the database URL,
and its SQLite support needs batch mode to emulate ``ALTER TABLE``. What we need fits in this
module: an ordered list of steps, a one-row ``schema_version`` table, one transaction and a lock.

How it works:

* :data:`MIGRATIONS` is a list of ``(version, step)``; a step is a callable run with a synchronous
  :class:`~sqlalchemy.engine.Connection` (through ``run_sync``), so it may use Core DDL
  constructs, ``op``-free ``ALTER TABLE`` text, or data fixes. Versions are 1, 2, 3, ... in order.
* Version 1 is the *baseline*: it creates every table of :data:`bot.store.schema.metadata`. A
  fresh database therefore runs only the baseline (which creates today's schema) and is stamped
  with :data:`LATEST_VERSION`; the later steps exist to bring *older* databases forward. This is
  the "create_all, then stamp head" pattern Alembic's documentation recommends too. When you add
  step N, change ``schema.py`` to the new shape *and* write step N so that a version N-1
  database ends up with exactly that shape; a test comparing both paths is the safety net.
* :func:`migrate` runs in one transaction (PostgreSQL and SQLite both have transactional DDL;
  the engine from :func:`bot.store.database.create_engine` makes SQLite's ``BEGIN`` explicit and
  ``IMMEDIATE``, which also serialises two processes migrating the same file). On PostgreSQL it
  first takes ``pg_advisory_xact_lock``, so two processes starting at once migrate one after the
  other; the second finds nothing to do.
* A database whose version is newer than this code knows is refused with
  :class:`SchemaTooNewError` rather than used with a schema the code does not understand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Column, Connection, delete, func, insert, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store import schema
from bot.store.database import writer

log = logging.getLogger(__name__)

MigrationStep = Callable[[Connection], None]

# Any constant works; it only has to be the same for every Spacecast process ("SPCCAST1").
ADVISORY_LOCK_KEY = 0x5350_4343_4153_5431 & 0x7FFF_FFFF_FFFF_FFFF


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer Spacecast than this one."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(
            f"database schema version {found} is newer than this Spacecast (knows {known}); "
            "upgrade Spacecast"
        )
        self.found = found
        self.known = known


def _baseline(conn: Connection) -> None:
    """Version 1: create every table and index of the current schema."""
    schema.metadata.create_all(conn, checkfirst=True)


def _add_column(conn: Connection, table: str, column: Column[Any]) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for a nullable column, typed for this backend."""
    if column.name in {c["name"] for c in inspect(conn).get_columns(table)}:
        return  # the baseline of a fresh database already made it
    ddl_type = column.type.compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column.name} {ddl_type}"))


def _outbox_claims_and_deadlines(conn: Connection) -> None:
    """Version 2: outbox rows say who holds their claim and when they stop being worth sending.

    Both columns are nullable: existing rows have no claim owner (a leased row simply waits for
    its lease, as before) and no deadline (they never expire).
    """
    _add_column(conn, "outbox", schema.outbox.c.claim_owner)
    _add_column(conn, "outbox", schema.outbox.c.deadline)


def _subscription_reminders(conn: Connection) -> None:
    """Version 3: subscriptions may ask for T-minus reminders.

    Nullable, and NULL means none: existing subscriptions send exactly what they sent before.
    """
    _add_column(conn, "subscriptions", schema.subscriptions.c.reminders)


def _calendar(conn: Connection) -> None:
    """Version 4: the server calendar's settings and the bot's scheduled events (new tables)."""
    for table in (schema.calendar_settings, schema.calendar_events):
        table.create(conn, checkfirst=True)


def _subscription_style_and_cards(conn: Connection) -> None:
    """Version 5 (issue 16): subscriptions choose a style; live cards get their table.

    ``style`` is nullable and NULL reads as ``feed``, so existing subscriptions post exactly
    what they posted before, and there are no cards yet.
    """
    _add_column(conn, "subscriptions", schema.subscriptions.c.style)
    schema.cards.create(conn, checkfirst=True)


def _calendar_covers(conn: Connection) -> None:
    """Version 6 (issue 15): the bot's scheduled events remember their cover's source URL.

    Nullable, and NULL means "no cover": existing events get their cover at the next run, once.
    """
    _add_column(conn, "calendar_events", schema.calendar_events.c.cover_url)


MIGRATIONS: list[tuple[int, MigrationStep]] = [
    (1, _baseline),
    (2, _outbox_claims_and_deadlines),
    (3, _subscription_reminders),
    (4, _calendar),
    (5, _subscription_style_and_cards),
    (6, _calendar_covers),
]

LATEST_VERSION = MIGRATIONS[-1][0]


def _check_order(migrations: Sequence[tuple[int, MigrationStep]]) -> None:
    versions = [v for v, _ in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migration versions must be 1..n in order, got {versions}")


_check_order(MIGRATIONS)


def current_version(conn: Connection) -> int:
    """The database's schema version; 0 when it has never been migrated."""
    if not inspect(conn).has_table(schema.schema_version.name):
        return 0
    found = conn.execute(select(func.max(schema.schema_version.c.version))).scalar()
    return int(found) if found is not None else 0


def _set_version(conn: Connection, version: int) -> None:
    conn.execute(delete(schema.schema_version))
    conn.execute(insert(schema.schema_version).values(version=version))


def _apply(conn: Connection, migrations: Sequence[tuple[int, MigrationStep]]) -> tuple[int, int]:
    """Bring the database to the last version of ``migrations``; return (before, after)."""
    latest = migrations[-1][0]
    before = current_version(conn)
    if before > latest:
        raise SchemaTooNewError(before, latest)
    if before == latest:
        return before, latest
    if before == 0:
        # Fresh database: the baseline creates the current schema, which *is* the latest.
        migrations[0][1](conn)
    else:
        for version, step in migrations:
            if version > before:
                log.info("applying schema migration %d", version)
                step(conn)
    _set_version(conn, latest)
    return before, latest


async def migrate(
    engine: AsyncEngine, migrations: Sequence[tuple[int, MigrationStep]] = MIGRATIONS
) -> int:
    """Apply pending migrations in one transaction and return the resulting version.

    Raises :class:`SchemaTooNewError` if the database is newer than ``migrations`` know. Safe to
    call from several processes at once.
    """
    _check_order(migrations)
    async with writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            await conn.execute(lock, {"key": ADVISORY_LOCK_KEY})
        before, after = await conn.run_sync(_apply, migrations)
    if before != after:
        log.info("database schema migrated from version %d to %d", before, after)
    return after
