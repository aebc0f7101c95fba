"""Schema migrations: fresh databases, idempotence, refusal of newer schemas, concurrency."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, Table, delete, insert, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.changes import ChangeKind
from bot.core.subscriptions import AlertStyle
from bot.store import LATEST_VERSION, SchemaTooNewError, Store, create_engine, migrate, schema
from bot.store.migrations import MIGRATIONS, MigrationStep, current_version
from tests.store.dbutil import DbTarget


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def _version_rows(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT version FROM schema_version"))
        return [int(r[0]) for r in rows]


async def test_fresh_database_gets_every_table(db_target: DbTarget) -> None:
    """Migrating an empty database creates all tables and stamps the latest version."""
    engine = db_target.engine()
    try:
        assert await migrate(engine) == LATEST_VERSION
        assert await _tables(engine) >= set(schema.metadata.tables)
        assert await _version_rows(engine) == [LATEST_VERSION]
    finally:
        await engine.dispose()


async def test_migrate_is_idempotent(db_target: DbTarget) -> None:
    """A second migrate changes nothing and keeps a single version row."""
    engine = db_target.engine()
    try:
        await migrate(engine)
        assert await migrate(engine) == LATEST_VERSION
        assert await _version_rows(engine) == [LATEST_VERSION]
    finally:
        await engine.dispose()


async def test_newer_schema_is_refused(db_target: DbTarget) -> None:
    """A database migrated by a newer Spacecast is refused with a clear message."""
    engine = db_target.engine()
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(delete(schema.schema_version))
            await conn.execute(insert(schema.schema_version).values(version=LATEST_VERSION + 1))
        with pytest.raises(SchemaTooNewError) as info:
            await migrate(engine)
        assert str(info.value) == (
            f"database schema version {LATEST_VERSION + 1} is newer than this Spacecast "
            f"(knows {LATEST_VERSION}); upgrade Spacecast"
        )
    finally:
        await engine.dispose()


async def test_open_store_refuses_newer_schema(db_target: DbTarget) -> None:
    """open_store surfaces SchemaTooNewError instead of running on an unknown schema."""
    store = await db_target.open_store()
    async with store.transaction() as tx:
        await tx.connection.execute(schema.schema_version.update().values(version=99))
    await store.close()
    with pytest.raises(SchemaTooNewError, match="version 99 is newer"):
        await db_target.open_store()


async def test_pending_steps_run_in_order_on_an_old_database(db_target: DbTarget) -> None:
    """An existing database runs only the steps after its version, and records the new one."""
    extra = MetaData()
    table = Table("migration_probe", extra, Column("id", Integer, primary_key=True))
    ran: list[int] = []

    def step(version: int) -> MigrationStep:
        def run(conn: Connection) -> None:
            ran.append(version)
            if version == LATEST_VERSION + 1:
                table.create(conn)
            else:
                conn.execute(insert(table).values(id=version))

        return run

    engine = db_target.engine()
    try:
        await migrate(engine)  # at the latest version
        one, two = LATEST_VERSION + 1, LATEST_VERSION + 2
        upgraded = [*MIGRATIONS, (one, step(one)), (two, step(two))]
        assert await migrate(engine, upgraded) == two
        assert ran == [one, two]
        assert await migrate(engine, upgraded) == two
        assert ran == [one, two]
        async with engine.connect() as conn:
            assert await conn.run_sync(current_version) == two
            assert (await conn.execute(text("SELECT id FROM migration_probe"))).scalar() == two
    finally:
        await engine.dispose()


async def test_failed_step_rolls_back_everything(db_target: DbTarget) -> None:
    """A step that raises leaves the version and the schema as they were."""
    extra = MetaData()
    table = Table("half_done", extra, Column("id", Integer, primary_key=True))

    def broken(conn: Connection) -> None:
        table.create(conn)
        raise RuntimeError("boom")

    engine = db_target.engine()
    try:
        await migrate(engine)
        with pytest.raises(RuntimeError, match="boom"):
            await migrate(engine, [*MIGRATIONS, (LATEST_VERSION + 1, broken)])
        assert "half_done" not in await _tables(engine)
        assert await _version_rows(engine) == [LATEST_VERSION]
    finally:
        await engine.dispose()


async def test_concurrent_migrations_do_not_collide(db_target: DbTarget) -> None:
    """Two processes migrating a fresh database at once both succeed, one version row."""
    engines = [db_target.engine(), db_target.engine()]
    try:
        results = await asyncio.gather(*(migrate(e) for e in engines))
        assert results == [LATEST_VERSION, LATEST_VERSION]
        assert await _version_rows(engines[0]) == [LATEST_VERSION]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_sqlite_pragmas_on_every_connection(tmp_path: Path) -> None:
    """SQLite connections run in WAL mode with foreign keys and a busy timeout."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/p.db")
    try:
        async with engine.connect() as a, engine.connect() as b:
            for conn in (a, b):
                assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
                assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
                assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 5000
    finally:
        await engine.dispose()


async def _columns(engine: AsyncEngine, table: str) -> dict[str, str]:
    def read(conn: Connection) -> dict[str, str]:
        return {c["name"]: str(c["type"]) for c in inspect(conn).get_columns(table)}

    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def test_version_1_outbox_upgrades_to_claims_and_deadlines(db_target: DbTarget) -> None:
    """A version-1 database gains claim_owner and deadline, keeps its rows, matches a fresh one."""
    engine = db_target.engine()
    try:
        await migrate(engine)
        fresh = await _columns(engine, "outbox")
        # Make it the version-1 shape: the outbox as it was before schema version 2.
        async with engine.begin() as conn:
            for column in ("claim_owner", "deadline"):
                await conn.execute(text(f"ALTER TABLE outbox DROP COLUMN {column}"))
            await conn.execute(text("UPDATE schema_version SET version = 1"))
            await conn.execute(
                text(
                    "INSERT INTO outbox (dedup_key, guild_id, channel_id, item_ref, kinds,"
                    " payload, status, attempts, next_attempt_at, created_at) VALUES"
                    " ('old-row', 1, 2, 'event:1', 'webcast_live', '{}', 'pending', 0,"
                    " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                )
            )
        assert "claim_owner" not in await _columns(engine, "outbox")

        assert await migrate(engine) == LATEST_VERSION
        assert await _columns(engine, "outbox") == fresh
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT dedup_key, claim_owner, deadline, status FROM outbox")
                )
            ).one()
        assert tuple(row) == ("old-row", None, None, "pending")
    finally:
        await engine.dispose()


async def test_version_2_subscriptions_upgrade_to_reminders(db_target: DbTarget) -> None:
    """A version-2 database gains subscriptions.reminders; its subscriptions get no reminders."""
    engine = db_target.engine()
    try:
        await migrate(engine)
        fresh = await _columns(engine, "subscriptions")
        # Make it the version-2 shape: subscriptions as they were before schema version 3.
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE subscriptions DROP COLUMN reminders"))
            await conn.execute(text("UPDATE schema_version SET version = 2"))
            await conn.execute(
                text(
                    "INSERT INTO subscriptions (guild_id, channel_id, sources, kinds, enabled,"
                    " created_at, updated_at) VALUES (1, 2, '[\"event\"]', '[\"webcast_live\"]',"
                    " true, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                )
            )
        assert "reminders" not in await _columns(engine, "subscriptions")

        assert await migrate(engine) == LATEST_VERSION
        assert await _columns(engine, "subscriptions") == fresh
        store = Store(engine)
        [sub] = await store.list_subscriptions()
        assert (sub.channel_id, sub.kinds, sub.reminders) == (
            2,
            frozenset({ChangeKind.WEBCAST_LIVE}),
            (),
        )
    finally:
        await engine.dispose()


async def test_version_3_database_gains_the_calendar_tables(db_target: DbTarget) -> None:
    """A version-3 database gets calendar_settings and calendar_events, shaped as a fresh one's,
    and keeps its subscriptions."""
    engine = db_target.engine()
    try:
        await migrate(engine)
        fresh = {t: await _columns(engine, t) for t in ("calendar_settings", "calendar_events")}
        # Make it the version-3 shape: no calendar tables yet.
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE calendar_events"))
            await conn.execute(text("DROP TABLE calendar_settings"))
            await conn.execute(text("DROP TABLE cards"))  # version 5's, too
            await conn.execute(text("ALTER TABLE subscriptions DROP COLUMN style"))
            await conn.execute(text("UPDATE schema_version SET version = 3"))
            await conn.execute(
                text(
                    "INSERT INTO subscriptions (guild_id, channel_id, sources, kinds, enabled,"
                    " created_at, updated_at) VALUES (1, 2, '[\"event\"]', '[\"webcast_live\"]',"
                    " true, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                )
            )
        assert "calendar_events" not in await _tables(engine)

        assert await migrate(engine) == LATEST_VERSION
        for table, columns in fresh.items():
            assert await _columns(engine, table) == columns
        store = Store(engine)
        assert [s.channel_id for s in await store.list_subscriptions()] == [2]
        assert await store.list_calendars() == []
    finally:
        await engine.dispose()


async def test_version_4_subscriptions_upgrade_to_styles_and_cards(db_target: DbTarget) -> None:
    """A version-4 database (calendar tables, no cards) gains subscriptions.style and the
    cards table (issue 16); its subscriptions are ``feed`` and there are no cards."""
    engine = db_target.engine()
    try:
        await migrate(engine)
        fresh_subs = await _columns(engine, "subscriptions")
        fresh_cards = await _columns(engine, "cards")
        # Make it the version-4 shape: no style column, no cards table.
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE cards"))
            await conn.execute(text("ALTER TABLE subscriptions DROP COLUMN style"))
            await conn.execute(text("UPDATE schema_version SET version = 4"))
            await conn.execute(
                text(
                    "INSERT INTO subscriptions (guild_id, channel_id, sources, kinds, enabled,"
                    " created_at, updated_at) VALUES (1, 2, '[\"event\"]', '[\"webcast_live\"]',"
                    " true, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                )
            )
        assert "cards" not in await _tables(engine)

        assert await migrate(engine) == LATEST_VERSION
        assert await _columns(engine, "subscriptions") == fresh_subs
        assert await _columns(engine, "cards") == fresh_cards
        store = Store(engine)
        [sub] = await store.list_subscriptions()
        assert sub.style == AlertStyle.FEED
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM cards"))).scalar() == 0
    finally:
        await engine.dispose()


async def test_version_5_calendar_events_upgrade_to_cover_urls(db_target: DbTarget) -> None:
    """A version-5 database gains calendar_events.cover_url (issue 15); its events keep every
    field and have no recorded cover, so they get theirs once at the next run."""
    engine = db_target.engine()
    try:
        await migrate(engine)
        fresh = await _columns(engine, "calendar_events")
        # Make it the version-5 shape: no cover_url column yet.
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE calendar_events DROP COLUMN cover_url"))
            await conn.execute(text("UPDATE schema_version SET version = 5"))
            await conn.execute(
                text(
                    "INSERT INTO calendar_events (guild_id, item_ref, event_id, status, name,"
                    " description, location, start_at, end_at, updated_at) VALUES"
                    " (7, 'launch:x', 99, 1, 'Falcon 9', 'd', 'https://example.org/',"
                    " '2026-01-01 00:00:00', '2026-01-01 01:00:00', '2026-01-01 00:00:00')"
                )
            )
        assert "cover_url" not in await _columns(engine, "calendar_events")

        assert await migrate(engine) == LATEST_VERSION
        assert await _columns(engine, "calendar_events") == fresh
        [entry] = (await Store(engine).calendar_entries([7]))[7]
        assert (entry.item_ref, entry.event_id, entry.fields.name) == ("launch:x", 99, "Falcon 9")
        assert entry.fields.cover is None
    finally:
        await engine.dispose()
