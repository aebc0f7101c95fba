"""What every query module shares: the connection a call runs on, and dialect-specific inserts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert

from bot.store.database import writer

T = TypeVar("T")

# Keep IN lists well under SQLite's bound-parameter limit.
CHUNK = 500


class StoreBase:
    """Holds the engine and, inside a transaction, the connection every method must use.

    Methods call :meth:`_read` or :meth:`_write`. Outside a transaction each call is its own short
    transaction (reads concurrent with the writer; writes ``BEGIN IMMEDIATE`` on SQLite). Inside
    :meth:`bot.store.repository.Store.transaction` both return the transaction's connection, so
    everything commits or rolls back together.
    """

    def __init__(self, engine: AsyncEngine, conn: AsyncConnection | None = None) -> None:
        self._engine = engine
        self._conn = conn

    @property
    def engine(self) -> AsyncEngine:
        """The underlying async engine."""
        return self._engine

    @property
    def dialect_name(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    @property
    def in_transaction(self) -> bool:
        """Whether this object is bound to an open :meth:`transaction`."""
        return self._conn is not None

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        if self._conn is not None:
            yield self._conn
            return
        async with self._engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self._conn is not None:
            yield self._conn
            return
        async with writer(self._engine).begin() as conn:
            yield conn

    def _insert(self, table: Table) -> Any:
        """A dialect-specific INSERT supporting ``on_conflict_do_update``/``_do_nothing``.

        Typed ``Any`` because the SQLite and PostgreSQL Insert classes share no declared base
        with those methods.
        """
        if self.dialect_name == "postgresql":
            return postgresql.insert(table)
        if self.dialect_name == "sqlite":
            return sqlite.insert(table)
        raise NotImplementedError(f"unsupported database dialect {self.dialect_name!r}")

    def _upsert(
        self, table: Table, index_elements: list[str], update_columns: Iterable[str]
    ) -> Insert:
        """``INSERT ... ON CONFLICT (index_elements) DO UPDATE SET col = excluded.col``."""
        stmt = self._insert(table)
        set_ = {name: stmt.excluded[name] for name in update_columns}
        result: Insert = stmt.on_conflict_do_update(index_elements=index_elements, set_=set_)
        return result

    def _insert_ignore(self, table: Table, index_elements: list[str]) -> Insert:
        """``INSERT ... ON CONFLICT (index_elements) DO NOTHING``."""
        result: Insert = self._insert(table).on_conflict_do_nothing(index_elements=index_elements)
        return result


def dump_json(value: Any) -> str:
    """Compact, key-sorted JSON."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def dump_set(values: Iterable[Any] | None) -> str | None:
    """A set as a sorted JSON list (``None`` stays NULL, meaning "all")."""
    if values is None:
        return None
    return dump_json(sorted(values))


def load_json(text: str | None) -> Any:
    """Parse JSON text; NULL stays None."""
    return None if text is None else json.loads(text)


def chunks(items: list[T], size: int = CHUNK) -> Iterable[list[T]]:
    """Split ``items`` into lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def require_aware(value: datetime, name: str) -> datetime:
    """Reject naive datetimes early, with the parameter's name in the message."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value
