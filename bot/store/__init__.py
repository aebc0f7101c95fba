"""Persistence: SQLAlchemy Core (async) on SQLite or PostgreSQL.

Entry points: :func:`open_store` and :class:`Store`. See :mod:`bot.store.repository` for how
transactions work and :mod:`bot.store.migrations` for schema versions.
"""

from bot.store.database import create_engine, open_store
from bot.store.migrations import LATEST_VERSION, SchemaTooNewError, migrate
from bot.store.models import OutboxRow, OutboxStatus, ShardSpec, shard_of
from bot.store.repository import Store, StoreTx

__all__ = [
    "LATEST_VERSION",
    "OutboxRow",
    "OutboxStatus",
    "SchemaTooNewError",
    "ShardSpec",
    "Store",
    "StoreTx",
    "create_engine",
    "migrate",
    "open_store",
    "shard_of",
]
