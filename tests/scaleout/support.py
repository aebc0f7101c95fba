"""Shared by the scale-out tests: a throw-away database, a hot LL2 event, the harness's
environment and its process life cycle."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from bot.core.snapshot import Source
from bot.services.poller import BASELINE_KEY
from bot.store import Store
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


ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database URL of ``backend`` (``sqlite`` in ``tmp_path``, or ``postgres``)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'spacecast.db'}"
    else:
        async with fresh_database() as url:
            yield url


def harness_env(
    db_url: str,
    ll2_url: str,
    discord_url: str,
    *,
    token: str,
    heartbeat: Path,
    requests_per_hour: int | None = None,
    shard: tuple[int, int] | None = None,
    **overrides: str,
) -> dict[str, str]:
    """The ``SPACECAST_*`` settings of one harness process, for :func:`spawn_harness`.

    ``requests_per_hour`` (LL2's budget; None: the setting's default), ``shard`` as
    ``(shard_id, shard_count)`` (None: every shard), and any other variable by its full name in
    ``overrides`` (``SPACECAST_DELIVERY__CONCURRENCY="2"``).
    """
    env = {
        "SPACECAST_DATABASE__URL": db_url,
        "SPACECAST_LL2__BASE_URL": ll2_url,
        "SPACECAST_DISCORD__API_BASE_URL": discord_url,
        "SPACECAST_DISCORD__TOKEN": token,
        "SPACECAST_HEALTH__HEARTBEAT_FILE": str(heartbeat),
    }
    if requests_per_hour is not None:
        env["SPACECAST_LL2__REQUESTS_PER_HOUR"] = str(requests_per_hour)
    if shard is not None:
        shard_id, shard_count = shard
        env["SPACECAST_DISCORD__SHARD_COUNT"] = str(shard_count)
        env["SPACECAST_DISCORD__SHARD_IDS"] = f"[{shard_id}]"
    unknown = [k for k in overrides if not k.startswith("SPACECAST_")]
    if unknown:
        raise ValueError(f"not SPACECAST_ variables: {unknown}")
    return {**env, **overrides}


@dataclass
class Proc:
    """One harness process (``python -m tests.scaleout.harness``)."""

    shard: int
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def label(self) -> str:
        return f"p{self.shard}"

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


async def spawn_harness(shard: int, settings: dict[str, str], log_path: Path) -> Proc:
    """Start a harness process with ``settings`` (SPACECAST_* variables) over short timings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACECAST_")}
    env.update(
        {
            "SPACECAST_LL2__TIMEOUT_SECONDS": "5",
            "SPACECAST_DELIVERY__QUIET_PERIOD_MINUTES": "0",
            "SPACECAST_LOGGING__LEVEL": "INFO",
            "SPACECAST_POLL_TICK_SECONDS": "1",
            "SPACECAST_LEADER_RETRY_SECONDS": "2",
            "SPACECAST_LEADER_HEARTBEAT_SECONDS": "1",
            "SPACECAST_TEST_MIN_GAP_SECONDS": "3",
            "PYTHONPATH": str(ROOT),
            **settings,
        }
    )
    with log_path.open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.scaleout.harness",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=log_file,
        )  # fmt: skip
    return Proc(shard, process, log_path)


async def wait_ready(proc: Proc) -> None:
    assert proc.process.stdout is not None
    async with asyncio.timeout(30):
        line = await proc.process.stdout.readline()
    assert line.strip() == b"READY", f"shard {proc.shard} did not start:\n{proc.logs()}"


async def start_harness(
    stack: contextlib.AsyncExitStack, shard: int, settings: dict[str, str], log_path: Path
) -> Proc:
    """Spawn a harness process, have ``stack`` stop it at the end, and wait until it is ready."""
    proc = await spawn_harness(shard, settings, log_path)
    stack.push_async_callback(stop, proc)
    await wait_ready(proc)
    return proc


async def stop(proc: Proc) -> None:
    if proc.process.returncode is None:
        proc.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(15):
                await proc.process.wait()
        except TimeoutError:
            proc.process.kill()
            await proc.process.wait()


async def until(predicate: Callable[[], bool], limit: float, what: str) -> float:
    """Check ``predicate`` every 0.1 s; return the seconds it took to hold."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > limit:
            pytest.fail(f"timed out after {limit:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


async def baseline_done(store: Store) -> bool:
    """Whether every source's silent baseline is done (the poller's flags)."""
    return all([await store.get_flag(BASELINE_KEY.format(source=s.value)) for s in Source])
