"""Poller tests: real databases (SQLite, PostgreSQL) and a loopback LL2 server."""

from tests.store.dbutil import db_backend, db_target, store

__all__ = ["db_backend", "db_target", "store"]
