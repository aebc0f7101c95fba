"""Shared by the scale-out tests: a throw-away PostgreSQL database and a hot LL2 event."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from tests.e2e.fake_ll2 import load_fixture
from tests.store.dbutil import _asyncpg_dsn, pg_url, require_pg


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A uniquely named PostgreSQL database (its own advisory-lock space), dropped afterwards."""
    await require_pg()
    name = f"spacecast_scaleout_{uuid.uuid4().hex[:12]}"
    admin_dsn = _asyncpg_dsn(pg_url(), "postgres")
    admin = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(pg_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(admin_dsn, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def hot_event(now: datetime) -> dict[str, Any]:
    """Event 1201, an hour from now (hot: the planner polls it at its fastest)."""
    event = load_fixture("event-1201-detailed.json")
    event["response_mode"] = "normal"
    event["date"] = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    event["webcast_live"] = False
    for video in event["vid_urls"]:
        video["live"] = False
    return event
