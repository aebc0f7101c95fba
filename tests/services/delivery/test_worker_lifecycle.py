"""The worker's life: woken by notify(), stopped gracefully, never leaving rows behind for good."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from bot.discord_ui.sender import DiscordSender
from bot.store import OutboxStatus, Store, open_store
from tests.services.delivery.fake_discord import FakeDiscord
from tests.services.delivery.support import LEASE, Clock, queue_alerts, rows_of, worker

CH = 820_000_000_000_000_001


async def test_notify_wakes_the_idle_loop(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """run_forever idles for a long interval, yet a notify() after a poll sends at once."""
    w = worker(store, sender, clock, idle_seconds=60.0)
    loop = asyncio.create_task(w.run_forever())
    await asyncio.sleep(0.05)  # the loop found nothing and went idle
    await queue_alerts(store, CH)
    w.notify()
    async with asyncio.timeout(3):
        await fake.wait_until(lambda: len(fake.messages) == 1)
    await w.stop(grace=1)
    await asyncio.wait_for(loop, 2)


async def test_stop_lets_in_flight_send_finish_and_hands_back_the_rest(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """Stopping mid-batch: the send under way completes and is recorded; later rows stay due."""
    await queue_alerts(store, CH, 4)
    fake.latency = 0.2
    w = worker(store, sender, clock)
    batch = asyncio.create_task(w.run_once())
    async with asyncio.timeout(5):
        await fake.wait_until(lambda: len(fake.posts_to(CH)) == 1)
    await w.stop(grace=5)
    report = await batch
    assert (report.sent, report.retried) == (1, 3)
    assert len(fake.messages) == 1
    statuses = [r.status for r in await rows_of(store, CH)]
    assert statuses == [OutboxStatus.SENT] + [OutboxStatus.PENDING] * 3
    assert all(r.next_attempt_at == clock.now() for r in (await rows_of(store, CH))[1:])
    assert (await w.run_once()).claimed == 0  # a stopped worker claims nothing


async def test_stop_after_grace_cancels_send_and_row_stays_leased(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """A send outliving the grace period is cancelled; its row is retried after the lease."""
    await queue_alerts(store, CH)
    fake.latency = 0.5
    w = worker(store, sender, clock)
    batch = asyncio.create_task(w.run_once())
    async with asyncio.timeout(5):
        await fake.wait_until(lambda: len(fake.posts_to(CH)) == 1)
    await w.stop(grace=0.05)
    report = await batch
    assert report.sent == 0
    (row,) = await rows_of(store)
    assert row.status is OutboxStatus.PENDING
    assert row.next_attempt_at == clock.now() + LEASE

    fake.latency = 0
    clock.advance(LEASE + timedelta(seconds=1))
    assert (await worker(store, sender, clock).run_once()).sent == 1
    assert len(fake.messages) == 1


async def test_a_locked_sqlite_database_is_one_log_line_and_a_retry(
    tmp_path: Path,
    fake: FakeDiscord,
    sender: DiscordSender,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SQLite "database is locked": the worker logs it once, keeps running, delivers after."""
    path = tmp_path / "locked.db"
    store = await open_store(f"sqlite+aiosqlite:///{path}")
    try:
        await queue_alerts(store, CH)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # another program holds the file
        w = worker(store, sender, clock, idle_seconds=0.2)
        caplog.set_level(logging.DEBUG, logger="bot.database")
        loop = asyncio.create_task(w.run_forever())
        await asyncio.sleep(12)  # two tries at SQLite's 5 s busy timeout, and their backoff
        assert not loop.done()
        assert fake.messages == []
        errors = [
            r for r in caplog.records if r.name == "bot.database" and r.levelno >= logging.ERROR
        ]
        assert len(errors) == 1
        assert "database is locked" in errors[0].getMessage()
        blocker.execute("COMMIT")
        blocker.close()
        async with asyncio.timeout(20):
            await fake.wait_until(lambda: len(fake.messages) == 1)
        await w.stop(grace=5)
        await asyncio.wait_for(loop, 5)  # the batch that sent it is over, and logged
        assert any("reachable again" in r.getMessage() for r in caplog.records)
    finally:
        await store.close()
