"""The database goes away for a while: the bot stays up, says so once, and catches up after.

A real harness process runs on a fresh PostgreSQL database. Mid-run the database refuses every
connection (``ALLOW_CONNECTIONS false``) and every session of it is terminated, which is what a
restart or an outage looks like from the bot; meanwhile the webcast goes live in LL2. After
about eight seconds the database comes back. The process must not exit, must log the outage
once (not once per attempt) and its end once, must stop touching its heartbeat while it cannot
reach the database (so ``health`` fails once the threshold passes), and within 30 s of the
database's return must poll, see the change and deliver it to every channel exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from bot.store import open_store
from tests.scaleout.fakes import CountingLL2, MultiTokenDiscord, serve_ll2
from tests.scaleout.support import (
    fresh_database,
    harness_env,
    hot_event,
    spawn_harness,
    stop,
    until,
    wait_ready,
)
from tests.store.dbutil import _asyncpg_dsn, pg_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TOKEN = "outage-token"
GUILD = 1_600_000_000_000_000_000
CHANNELS = [1_610_000_000_000_000_000 + i for i in range(5)]
OUTAGE_SECONDS = 8.0
RESUME_LIMIT = 30.0


async def set_reachable(database: str, reachable: bool) -> None:
    """Let the database accept connections again, or refuse them and cut every session."""
    admin = await asyncpg.connect(_asyncpg_dsn(pg_url(), "postgres"), timeout=5)
    try:
        await admin.execute(
            f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {"true" if reachable else "false"}'
        )
        if not reachable:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
    finally:
        await admin.close()


async def test_database_outage_is_survived_logged_once_and_caught_up(tmp_path: Path) -> None:
    """No exit, one outage line, stale heartbeat meanwhile, every alert once within 30 s after."""
    event = hot_event(datetime.now(UTC))
    async with contextlib.AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(fresh_database())
        database = make_url(db_url).database
        assert database is not None
        stack.push_async_callback(set_reachable, database, True)  # whatever happens below
        store = await open_store(db_url)
        for channel in CHANNELS:
            await store.add_subscription(GUILD, channel)
        await store.close()
        ll2 = await stack.enter_async_context(serve_ll2(CountingLL2(events=[event])))
        fake = await stack.enter_async_context(
            MultiTokenDiscord([TOKEN], global_limit=None, channel_limit=None)
        )
        heartbeat = tmp_path / "heartbeat"
        proc = await spawn_harness(
            0,
            harness_env(
                db_url,
                ll2.base_url("p0"),
                fake.base_url,
                token=TOKEN,
                heartbeat=heartbeat,
                requests_per_hour=ll2.request_limit,
            ),
            tmp_path / "bot.log",
        )
        stack.push_async_callback(stop, proc)
        await wait_ready(proc)
        await until(lambda: ll2.polls_by("p0") >= 2, 40, "the baseline and a second poll")
        await until(heartbeat.exists, 10, "the first heartbeat")

        await set_reachable(database, False)
        live = copy.deepcopy(event)
        live["webcast_live"] = True
        live["vid_urls"][0]["live"] = True
        ll2.events = [live]
        await asyncio.sleep(2)  # a tick in flight may still touch the heartbeat
        stale_since = heartbeat.stat().st_mtime
        await asyncio.sleep(OUTAGE_SECONDS - 2)
        assert heartbeat.stat().st_mtime == stale_since, "heartbeat touched without a database"
        assert proc.process.returncode is None, f"the bot exited:\n{proc.logs()}"
        assert fake.messages == []

        await set_reachable(database, True)
        back_at = time.monotonic()
        took = await until(
            lambda: {m.channel_id for m in fake.messages} >= set(CHANNELS),
            RESUME_LIMIT,
            "every alert after the database came back",
        )
        await asyncio.sleep(1.5)  # room for a duplicate
        assert {c: len(fake.messages_in(c)) for c in CHANNELS} == dict.fromkeys(CHANNELS, 1)
        assert heartbeat.stat().st_mtime > stale_since
        assert proc.process.returncode is None
        logs = proc.logs()
        assert logs.count("database unreachable") == 1, logs
        assert logs.count("database reachable again") == 1, logs
        print(
            f"\ndelivered to every channel {took:.1f}s after the database came back "
            f"({time.monotonic() - back_at:.1f}s incl. the duplicate check)"
        )
