"""The composition root: AppServices starts, polls, delivers, serves metrics and stops cleanly.

A real discord.py client logged in (REST only) against the loopback Discord, a loopback LL2, and
a SQLite file: one process, so it is always the poller.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from bot.cli.health_cmd import health
from bot.config import CalendarJobSettings, Settings
from bot.core.snapshot import Source
from bot.services.app import AppServices, Timings, shard_spec
from bot.services.leader import AlwaysLeader
from bot.services.poller import BASELINE_KEY
from bot.store import ShardSpec, Store, open_store
from tests.scaleout.fakes import CountingLL2, serve_ll2
from tests.scaleout.support import hot_event
from tests.services.delivery.fake_discord import FakeDiscord, logged_in_client
from tests.services.delivery.support import queue_alerts

CHANNEL = 1_500_000_000_000_000_001


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    try:
        yield opened
    finally:
        await opened.close()


def settings_for(tmp_path: Path, ll2: CountingLL2, store: Store) -> Settings:
    return Settings.model_validate(
        {
            "ll2": {"base_url": ll2.base_url("app"), "requests_per_hour": 3600},
            "database": {"url": str(store.engine.url)},
            "delivery": {"quiet_period_minutes": 0},
            "health": {"heartbeat_file": str(tmp_path / "heartbeat")},
            "metrics": {"listen": "127.0.0.1:0"},
        }
    )


async def eventually(check: object, limit: float = 15.0) -> None:
    async with asyncio.timeout(limit):
        while True:
            result = check() if callable(check) else check
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


async def test_start_poll_deliver_stop(tmp_path: Path, store: Store) -> None:
    polls_before = REGISTRY.get_sample_value("spacecast_polls_total", {"outcome": "ok"}) or 0.0
    await queue_alerts(store, CHANNEL)  # already in the outbox: the worker must send it
    ll2 = CountingLL2(events=[hot_event(datetime.now(UTC))])
    async with serve_ll2(ll2), FakeDiscord() as fake, logged_in_client(fake.base_url) as client:
        settings = settings_for(tmp_path, ll2, store)
        services = AppServices(settings, store, Timings(poll_tick_seconds=0.2))
        await services.start(client)
        try:
            assert isinstance(services.lease, AlwaysLeader)

            async def baseline() -> bool:
                flags = [await store.get_flag(BASELINE_KEY.format(source=s.value)) for s in Source]
                return all(flags)

            await eventually(baseline)
            await eventually(lambda: (tmp_path / "heartbeat").exists())
            assert (tmp_path / "heartbeat").read_text() == "poller\n"
            await eventually(lambda: len(fake.messages_in(CHANNEL)) == 1)
            assert ll2.polls_by("app") >= 2  # both sources' full refresh
            assert ll2.requests["app"] > ll2.polls_by("app")  # plus the throttle check
            server = services.metrics_server
            assert server is not None
            body = await asyncio.to_thread(scrape, server.url)
            assert "spacecast_poller_leader 1.0" in body
            polls_after = REGISTRY.get_sample_value("spacecast_polls_total", {"outcome": "ok"})
            assert (polls_after or 0.0) > polls_before
        finally:
            await services.stop()
        # Stopped: nothing polls any more, the metrics port is closed.
        requests = ll2.requests["app"]
        await asyncio.sleep(0.6)
        assert ll2.requests["app"] == requests
        with pytest.raises(urllib.error.URLError, match="refused"):
            await asyncio.to_thread(scrape, server.url)
    assert len(fake.messages) == 1  # baseline polls alert nobody


async def test_run_logs_the_baseline(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """run's first, silent poll says in the log what it stored, in one line."""
    ll2 = CountingLL2(events=[hot_event(datetime.now(UTC))])
    caplog.set_level(logging.INFO, logger="bot.app")

    def notes() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("baseline:")]

    async with serve_ll2(ll2), FakeDiscord() as fake, logged_in_client(fake.base_url) as client:
        services = AppServices(
            settings_for(tmp_path, ll2, store), store, Timings(poll_tick_seconds=0.2)
        )
        await services.start(client)
        try:
            await eventually(notes)
        finally:
            await services.stop()
    assert notes() == ["baseline: 1 event and 0 launches stored; alerts start with the next change"]


@pytest.mark.parametrize("enabled", [True, False])
async def test_the_calendar_gets_a_cover_fetcher_from_the_config(
    tmp_path: Path, store: Store, enabled: bool
) -> None:
    """calendar.covers on: the calendar job's fetcher has the configured hosts and is closed
    on stop; off: there is none."""
    ll2 = CountingLL2(events=[hot_event(datetime.now(UTC))])
    calendar = CalendarJobSettings(
        covers=enabled, cover_hosts=["images.example", "cdn.example:8443"]
    )
    async with serve_ll2(ll2), FakeDiscord() as fake, logged_in_client(fake.base_url) as client:
        settings = settings_for(tmp_path, ll2, store).model_copy(update={"calendar": calendar})
        services = AppServices(settings, store, Timings(poll_tick_seconds=0.2))
        await services.start(client)
        try:
            covers = services.covers
            if enabled:
                assert covers is not None
                assert covers.hosts == {"images.example", "cdn.example:8443"}
            else:
                assert covers is None
        finally:
            await services.stop()
    assert services.covers is None


async def test_stop_before_start_is_harmless(tmp_path: Path, store: Store) -> None:
    ll2 = CountingLL2(root="http://127.0.0.1:9")  # never contacted
    services = AppServices(settings_for(tmp_path, ll2, store), store, Timings())
    await services.stop()


def test_shard_spec_follows_settings() -> None:
    assert shard_spec(Settings()) is None
    assert shard_spec(Settings.model_validate({"discord": {"shard_count": 4}})) is None
    spec = shard_spec(Settings.model_validate({"discord": {"shard_count": 4, "shard_ids": [1, 3]}}))
    assert spec == ShardSpec.of([1, 3], 4)


def test_timings_from_env() -> None:
    timings = Timings.from_env(
        {"SPACECAST_POLL_TICK_SECONDS": "1.5", "SPACECAST_LEADER_RETRY_SECONDS": "2"}
    )
    assert timings == Timings(poll_tick_seconds=1.5, leader_retry_seconds=2.0)
    with pytest.raises(ValueError, match="SPACECAST_POLL_TICK_SECONDS"):
        Timings.from_env({"SPACECAST_POLL_TICK_SECONDS": "0"})


@pytest.mark.parametrize(("content", "shown"), [("standby\n", " (standby)"), ("", ""), ("?", "")])
def test_health_shows_the_role(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, shown: str
) -> None:
    heartbeat = tmp_path / "heartbeat"
    heartbeat.write_text(content)
    settings = Settings.model_validate({"health": {"heartbeat_file": str(heartbeat)}})
    assert health(argparse.Namespace(), settings) == 0
    assert capsys.readouterr().out == f"healthy: heartbeat 0s old{shown}\n"
