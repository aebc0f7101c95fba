"""One Spacecast process for the scale-out test: the real composition root, REST-only Discord.

Run as ``python -m tests.scaleout.harness``. Settings come from the environment exactly as
``run`` reads them (``SPACECAST_DATABASE__URL``, ``SPACECAST_LL2__BASE_URL``,
``SPACECAST_DISCORD__API_BASE_URL``, ``SPACECAST_DISCORD__TOKEN``,
``SPACECAST_DISCORD__SHARD_COUNT``, ``SPACECAST_DISCORD__SHARD_IDS`` ...). The harness logs a
:class:`discord.Client` in over REST (no gateway: the fake Discord has none), then runs
:class:`bot.services.app.AppServices` (poller lease, poll loop, shard-filtered delivery) until
SIGTERM.
It prints ``READY`` on stdout once the services are started.

``SPACECAST_TEST_MIN_GAP_SECONDS`` (test-only, not a setting) lowers the planner's 15 s floor
between polls, so process-level tests wait seconds, not quarter-minutes, for each poll; the
budget rules are unchanged (the fake LL2 grants 3,600 requests an hour).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from datetime import timedelta

import discord

from bot.config import PollingSettings, Settings
from bot.discord_ui.client import apply_endpoints, check_shards
from bot.logging_setup import setup_logging
from bot.services.app import AppServices
from bot.store import open_store


def _shorten_min_gap() -> None:
    seconds = os.environ.get("SPACECAST_TEST_MIN_GAP_SECONDS")
    if not seconds:
        return
    original = PollingSettings.planner_config

    def planner_config(self: PollingSettings) -> object:
        return dataclasses.replace(original(self), min_gap=timedelta(seconds=float(seconds)))

    PollingSettings.planner_config = planner_config  # type: ignore[method-assign,assignment]


async def main() -> int:
    _shorten_min_gap()
    settings = Settings()
    check_shards(settings)
    assert settings.discord.token is not None, "SPACECAST_DISCORD__TOKEN is required"
    token = settings.discord.token.get_secret_value()
    setup_logging(settings.logging.level, "json", secrets=[token])
    apply_endpoints(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    store = await open_store(settings.database.url)
    services = AppServices(settings, store)
    client = discord.Client(intents=discord.Intents.none(), http_trace=services.http_trace)
    try:
        await client.login(token)
        await services.start(client)
        print("READY", flush=True)
        try:
            await stop.wait()
        finally:
            await services.stop()
    finally:
        await client.close()
        await store.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
