"""The poller lease on a real PostgreSQL server: one holder, hand-over, dead and wedged holders.

Each test uses its own freshly created database, so the advisory lock cannot meet another test's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest

from bot.services.leader import AdvisoryLockLease, AlwaysLeader, lease_for
from bot.store import Store, open_store
from tests.scaleout.support import fresh_database
from tests.store.dbutil import _asyncpg_dsn

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_store() -> AsyncIterator[Store]:
    async with fresh_database() as url:
        store = await open_store(url)
        try:
            yield store
        finally:
            await store.close()


def lease(store: Store, **kwargs: float) -> AdvisoryLockLease:
    made = lease_for(store, retry_seconds=kwargs.pop("retry_seconds", 0.0), **kwargs)  # type: ignore[arg-type]
    assert isinstance(made, AdvisoryLockLease)
    return made


async def lease_backend_pids(store: Store) -> list[int]:
    url = store.engine.url.render_as_string(hide_password=False)
    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'spacecast-poller-lease'"
            " AND datname = current_database()"
        )
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


async def terminate(store: Store, pids: list[int]) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        for pid in pids:
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


async def test_sqlite_is_always_leader(tmp_path: object) -> None:
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path}/lease.db")
    try:
        only = lease_for(store)
        assert isinstance(only, AlwaysLeader)
        assert await only.acquire_or_check()
        assert await only.acquire_or_check()
        await only.release()
    finally:
        await store.close()


async def test_one_holder_then_hand_over_on_release(pg_store: Store) -> None:
    first, second = lease(pg_store), lease(pg_store)
    try:
        assert await first.acquire_or_check()
        assert not await second.acquire_or_check()
        assert await first.acquire_or_check()  # still leader: SELECT 1 on its connection
        assert not await second.acquire_or_check()
        await first.release()
        assert not first.is_leader
        assert await second.acquire_or_check()
        assert not await first.acquire_or_check()  # a released lease stays released
    finally:
        await first.release()
        await second.release()


async def test_follower_waits_for_its_retry_interval(pg_store: Store) -> None:
    first, second = lease(pg_store), lease(pg_store, retry_seconds=60.0)
    try:
        assert await first.acquire_or_check()
        assert not await second.acquire_or_check()  # tried now: next try in 60 s
        await first.release()
        assert not await second.acquire_or_check()  # not due yet, no query made
    finally:
        await first.release()
        await second.release()


async def test_holder_whose_session_dies_drops_leadership(pg_store: Store) -> None:
    """The server ending the leader's session (a crash, a restart) frees the lock; the old
    leader notices at its next check and the other process takes over."""
    first, second = lease(pg_store), lease(pg_store)
    try:
        assert await first.acquire_or_check()
        assert not await second.acquire_or_check()
        pids = await lease_backend_pids(pg_store)
        assert len(pids) == 2
        holder = [p for p in pids if p != await _pid_of(second)]
        await terminate(pg_store, holder)
        await asyncio.sleep(0.2)
        assert not await first.acquire_or_check()  # SELECT 1 fails: leadership dropped
        assert not first.is_leader
        assert await second.acquire_or_check()
    finally:
        await first.release()
        await second.release()


async def test_wedged_holder_is_cut_off_by_idle_session_timeout(pg_store: Store) -> None:
    """A leader that stops heartbeating (a wedged event loop) loses its session, and so the
    lock, after ``idle_session_timeout``; the other process takes over."""
    wedged = lease(pg_store, heartbeat_seconds=1.0, idle_timeout_seconds=2)
    other = lease(pg_store)
    try:
        assert await wedged.acquire_or_check()
        # Wedge it: no more heartbeats, no more checks.
        assert wedged._heartbeat is not None
        wedged._heartbeat.cancel()
        assert not await other.acquire_or_check()
        taken = False
        for _ in range(60):
            await asyncio.sleep(0.1)
            if await other.acquire_or_check():
                taken = True
                break
        assert taken, "the idle session timeout should have freed the lock within 6 s"
        assert not await wedged.acquire_or_check()  # it wakes up: its check fails
    finally:
        await wedged.release()
        await other.release()


async def test_heartbeat_keeps_a_quiet_leader(pg_store: Store) -> None:
    """A leader that is busy (no acquire_or_check for longer than the idle timeout) keeps its
    session alive through the heartbeat task."""
    busy = lease(pg_store, heartbeat_seconds=0.5, idle_timeout_seconds=1)
    other = lease(pg_store)
    try:
        assert await busy.acquire_or_check()
        await asyncio.sleep(2.5)
        assert not await other.acquire_or_check()
        assert await busy.acquire_or_check()
    finally:
        await busy.release()
        await other.release()


async def _pid_of(lease_obj: AdvisoryLockLease) -> int:
    from sqlalchemy import text

    conn = lease_obj._session._conn
    assert conn is not None
    return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_lease_session_detects_dead_peers(pg_store: Store) -> None:
    """The leader's session carries TCP keepalives, a user timeout and an idle timeout."""
    from sqlalchemy import text

    from bot.services import leader

    holder = lease(pg_store)
    try:
        assert await holder.acquire_or_check()
        conn = holder._session._conn
        assert conn is not None

        async def show(name: str) -> str:
            return str((await conn.execute(text(f"SHOW {name}"))).scalar_one())

        assert await show("tcp_keepalives_idle") == str(leader.KEEPALIVE_IDLE_SECONDS)
        assert await show("tcp_keepalives_count") == str(leader.KEEPALIVE_COUNT)
        assert await show("idle_session_timeout") == f"{leader.IDLE_TIMEOUT_SECONDS}s"
    finally:
        await holder.release()
