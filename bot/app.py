"""Composition root for ``run``: LL2 client, poller, delivery worker and scheduler.

Everything is created in :meth:`AppServices.start` (called from the bot's ``setup_hook``), so a
failed Discord login leaves nothing open, and stopped in reverse order on close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.config import Settings
from bot.delivery import DeliveryWorker
from bot.discord_sender import DiscordSender
from bot.discord_ui.client import SpacecastBot
from bot.ll2 import LL2Client
from bot.poller import Poller, PollReport
from bot.scheduler import BotScheduler, PollLoop
from bot.store import ShardSpec, Store

log = logging.getLogger("bot.app")


class AppServices:
    """The background machinery of a running bot (implements ``BotServices``)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self._settings = settings
        self._store = store
        self._client: LL2Client | None = None
        self._worker: DeliveryWorker | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._scheduler: BotScheduler | None = None

    async def start(self, bot: SpacecastBot) -> None:
        """Start polling (planner-driven), delivery and housekeeping."""
        settings, store = self._settings, self._store
        client = LL2Client.create(settings.ll2, send_log=store)
        self._client = client
        await client.budget.load()  # resume the hour's budget: a restart spends nothing extra
        await client.start()
        poller = Poller(store, client, settings)
        shards = None
        if settings.discord.shard_count and settings.discord.shard_ids is not None:
            shards = ShardSpec(
                shard_ids=frozenset(settings.discord.shard_ids),
                shard_count=settings.discord.shard_count,
            )
        worker = DeliveryWorker(store, DiscordSender(bot), settings.delivery, shards=shards)
        self._worker = worker
        self._worker_task = asyncio.create_task(worker.run_forever(), name="delivery")

        async def after_poll(report: PollReport) -> None:
            if report.queued:
                worker.notify()  # deliver right away instead of at the next idle tick

        async def sweep() -> object:
            worker.notify()
            return None

        self._scheduler = BotScheduler(
            PollLoop(store, client, poller, settings), store, settings,
            on_report=after_poll, sweep=sweep,
        )  # fmt: skip
        self._scheduler.start()
        log.info("services started")

    async def stop(self) -> None:
        """Stop scheduling, let in-flight sends finish (bounded), close the LL2 client."""
        if self._scheduler is not None:
            self._scheduler.shutdown()
        if self._worker is not None:
            await self._worker.stop(self._settings.delivery.shutdown_grace_seconds)
        if self._worker_task is not None:
            self._worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker_task
        if self._client is not None:
            await self._client.aclose()
        log.info("services stopped")


def build_services(settings: Settings, store: Store) -> AppServices:
    """The services ``run`` hands to the bot."""
    return AppServices(settings, store)
