"""Store tests run against real databases: SQLite always, PostgreSQL when reachable."""

from tests.store.dbutil import db_backend, db_target, store

__all__ = ["db_backend", "db_target", "store"]
