"""Real databases for tests: a temp SQLite file, or a throw-away schema on PostgreSQL.

Reuse from any test folder by importing the fixtures into a ``conftest.py``::

    from tests.store.dbutil import db_backend, db_target, store  # noqa: F401

PostgreSQL comes from ``SPACECAST_TEST_PG_URL`` (default :data:`DEFAULT_PG_URL`); the database is
created if missing. Each test gets its own schema (``CREATE SCHEMA``, then ``DROP SCHEMA ...
CASCADE``), selected through ``search_path``: a fresh set of tables per test, and test runs in
parallel processes cannot trample each other. If the server is unreachable the PostgreSQL half is
skipped, unless the ``CI`` environment variable is set: then it fails.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store import Store, create_engine, open_store

PG_URL_ENV = "SPACECAST_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/spacecast_test"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

# None: not checked yet; "": reachable; otherwise why it is not.
_pg_problem: str | None = None


@dataclass(frozen=True)
class DbTarget:
    """An empty database: the URL plus engine keyword arguments that select it."""

    backend: str
    url: str
    engine_kwargs: dict[str, Any] = field(default_factory=dict)

    def engine(self) -> AsyncEngine:
        """A Spacecast engine on this database (dispose it when done)."""
        return create_engine(self.url, **self.engine_kwargs)

    async def open_store(self) -> Store:
        """A migrated store on this database (close it when done)."""
        return await open_store(self.url, **self.engine_kwargs)


def pg_url() -> str:
    """The SQLAlchemy URL of the PostgreSQL test database."""
    return os.environ.get(PG_URL_ENV, DEFAULT_PG_URL)


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def ensure_pg_database(url: str) -> None:
    """Create the database named in ``url`` if it does not exist."""
    name = make_url(url).database
    assert name, f"no database name in {url}"
    admin = await asyncpg.connect(_asyncpg_dsn(url, "postgres"), timeout=5)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Another test process may win the race to create it.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def pg_problem() -> str:
    """Why PostgreSQL cannot be used ("" when it can); checked once per test session."""
    global _pg_problem
    if _pg_problem is None:
        try:
            await ensure_pg_database(pg_url())
            conn = await asyncpg.connect(_asyncpg_dsn(pg_url()), timeout=5)
            await conn.close()
            _pg_problem = ""
        except (OSError, TimeoutError, asyncpg.CannotConnectNowError) as exc:
            # Only "cannot reach the server" is a skip; bad credentials and the like are errors.
            _pg_problem = f"PostgreSQL at {pg_url()} unreachable: {exc!r}"
    return _pg_problem


async def require_pg() -> None:
    """Skip (or, under CI, fail) the current test when PostgreSQL is unreachable."""
    problem = await pg_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (CI is set, so this is an error, not a skip)")
        pytest.skip(problem)


async def _pg_execute(sql: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(pg_url()), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def make_target(backend: str, tmp_path: Path) -> AsyncIterator[DbTarget]:
    """Yield an empty database of ``backend``; drop it afterwards."""
    if backend == "sqlite":
        yield DbTarget("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'spacecast.db'}")
        return
    assert backend == "postgres", backend
    await require_pg()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    await _pg_execute(f'CREATE SCHEMA "{schema}"')
    try:
        kwargs = {"connect_args": {"server_settings": {"search_path": schema}}}
        yield DbTarget("postgres", pg_url(), kwargs)
    finally:
        await _pg_execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: every test using a database runs on both."""
    return str(request.param)


@pytest.fixture
async def db_target(db_backend: str, tmp_path: Path) -> AsyncIterator[DbTarget]:
    """An empty database (no tables yet) on the parametrised backend."""
    async for target in make_target(db_backend, tmp_path):
        yield target


@pytest.fixture
async def store(db_target: DbTarget) -> AsyncIterator[Store]:
    """A migrated, empty :class:`~bot.store.Store` on the parametrised backend."""
    opened = await db_target.open_store()
    try:
        yield opened
    finally:
        await opened.close()
