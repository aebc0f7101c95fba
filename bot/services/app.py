"""Composition root for ``run``: LL2 client, poller, delivery worker (and its admin notices),
scheduler, lease, metrics.

Everything is created in :meth:`AppServices.start` (called from the bot's ``setup_hook``), so a
failed Discord login leaves nothing open, and stopped in reverse order on close.

Scale-out: several processes may share one PostgreSQL database, each serving some Discord shards
(``discord.shard_ids`` of ``discord.shard_count``). Each delivers only its shards' guilds (the
outbox claim filters on Discord's ``(guild_id >> 22) % shard_count``); exactly one of them polls
LL2, the holder of the poller lease (:mod:`bot.services.leader`). The others keep trying to take the
lease over, and a process that wins it reloads the shared request budget before its first poll.

A few timings are tunable through the environment rather than the config file, for tests and
drills; production should leave them alone:

- ``SPACECAST_POLL_TICK_SECONDS`` (10): how often the scheduler re-asks the planner;
- ``SPACECAST_LEADER_RETRY_SECONDS`` (10): how often a follower tries to take the lease;
- ``SPACECAST_LEADER_HEARTBEAT_SECONDS`` (10): the leader's heartbeat on its lease connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import discord

from bot.config import Settings
from bot.discord_ui.publishing import DiscordPublisher
from bot.discord_ui.scheduled_events import DiscordScheduledEvents
from bot.discord_ui.sender import DiscordSender
from bot.discord_ui.traffic import budget_trace
from bot.ll2 import LL2Client
from bot.services import metrics
from bot.services.calendar import CalendarJob
from bot.services.covers import CoverFetcher
from bot.services.delivery.budget import SendBudget, budget_for
from bot.services.delivery.notices import AdminNotifier, CachedSystemChannels
from bot.services.delivery.owner import owner_for
from bot.services.delivery.worker import DeliveryWorker
from bot.services.leader import (
    DEFAULT_HEARTBEAT_SECONDS,
    DEFAULT_RETRY_SECONDS,
    PollerLease,
    lease_for,
)
from bot.services.outage import Outage
from bot.services.poller import Poller, PollReport, utc_now
from bot.services.reminders import ReminderJob
from bot.services.scheduler import POLL_TICK_SECONDS, BotScheduler, PollLoop
from bot.store import OutboxStatus, ShardSpec, Store

log = logging.getLogger("bot.app")

POLL_TICK_ENV = "SPACECAST_POLL_TICK_SECONDS"
LEADER_RETRY_ENV = "SPACECAST_LEADER_RETRY_SECONDS"
LEADER_HEARTBEAT_ENV = "SPACECAST_LEADER_HEARTBEAT_SECONDS"


@dataclass(frozen=True)
class Timings:
    """Intervals of the background machinery (see the module docstring)."""

    poll_tick_seconds: float = POLL_TICK_SECONDS
    leader_retry_seconds: float = DEFAULT_RETRY_SECONDS
    leader_heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Timings:
        """Defaults, overridden by the ``SPACECAST_*_SECONDS`` variables that are set."""
        env = os.environ if environ is None else environ
        base = cls()

        def read(name: str, default: float) -> float:
            raw = env.get(name)
            if raw is None or not raw.strip():
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"environment {name}: must be a number") from None
            if value <= 0:
                raise ValueError(f"environment {name}: must be positive")
            return value

        return cls(
            poll_tick_seconds=read(POLL_TICK_ENV, base.poll_tick_seconds),
            leader_retry_seconds=read(LEADER_RETRY_ENV, base.leader_retry_seconds),
            leader_heartbeat_seconds=read(LEADER_HEARTBEAT_ENV, base.leader_heartbeat_seconds),
        )


def shard_spec(settings: Settings) -> ShardSpec | None:
    """The shards this process delivers for, or None (all guilds) when sharding is not set.

    ``shard_count`` without ``shard_ids`` means one process running every shard: no filter.
    """
    count, ids = settings.discord.shard_count, settings.discord.shard_ids
    if not count or ids is None:
        return None
    return ShardSpec.of(ids, count)


class AppServices:
    """The background machinery of a running bot (implements ``BotServices``)."""

    def __init__(self, settings: Settings, store: Store, timings: Timings | None = None) -> None:
        self._settings = settings
        self._store = store
        self._timings = timings if timings is not None else Timings.from_env()
        self._client: LL2Client | None = None
        self._worker: DeliveryWorker | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._scheduler: BotScheduler | None = None
        self._lease: PollerLease | None = None
        self._metrics: metrics.MetricsServer | None = None
        self._covers: CoverFetcher | None = None
        self._leading = False
        # The claim owner and the send budget exist before the Discord client does: the
        # client's HTTP trace (``http_trace``) paces every request through the budget.
        self._owner = owner_for(store)
        self.budget: SendBudget = budget_for(
            store, settings.delivery.global_rate_per_second, share_key=self._owner.key
        )
        self.http_trace = budget_trace(self.budget)

    @property
    def lease(self) -> PollerLease | None:
        """The poller lease (None before :meth:`start`)."""
        return self._lease

    @property
    def covers(self) -> CoverFetcher | None:
        """The calendar's cover fetcher (None before :meth:`start`, or with covers off)."""
        return self._covers

    @property
    def metrics_server(self) -> metrics.MetricsServer | None:
        """The ``/metrics`` endpoint, when ``metrics.listen`` is set."""
        return self._metrics

    async def start(self, bot: discord.Client) -> None:
        """Start polling (planner-driven, leader only), delivery and housekeeping.

        ``bot`` is any logged-in :class:`discord.Client` (``SpacecastBot`` in production); only
        its REST side is used here, to send alerts.
        """
        settings, store, timings = self._settings, self._store, self._timings
        if settings.metrics.listen:
            self._metrics = metrics.start_metrics_server(settings.metrics.listen)
        client = LL2Client.create(settings.ll2, send_log=store)
        self._client = client
        poller = Poller(store, client, settings)
        shards = shard_spec(settings)
        outage = Outage()  # one log line per database outage, shared by every job
        sender = DiscordSender(bot)
        worker = DeliveryWorker(
            store,
            sender,
            settings.delivery,
            shards=shards,
            owner=self._owner,
            outage=outage,
            budget=self.budget,
            publisher=DiscordPublisher(bot),
            on_channel_disabled=AdminNotifier(
                store, sender, CachedSystemChannels(bot)
            ).channel_disabled,
        )
        self._worker = worker
        self._worker_task = asyncio.create_task(worker.run_forever(), name="delivery")
        lease = lease_for(
            store,
            retry_seconds=timings.leader_retry_seconds,
            heartbeat_seconds=timings.leader_heartbeat_seconds,
        )
        self._lease = lease

        async def may_poll() -> bool:
            leader = await lease.acquire_or_check()
            if leader and not self._leading:
                # Another process may have spent budget since we started (or last led): resume
                # the shared hour from the request log and align it with LL2's own view.
                await client.start()
                self._leading = True
            elif not leader:
                self._leading = False
            return leader

        reminder_job = ReminderJob(
            store, timedelta(minutes=settings.delivery.quiet_period_minutes), utc_now
        )

        async def after_poll(report: PollReport) -> None:
            if (note := report.baseline_note()) is not None:
                log.info(note)
            metrics.set_budget_used(client.budget.used_in_last_hour(utc_now()))
            if report.queued:
                worker.notify()  # deliver right away instead of at the next idle tick

        async def reminders() -> object:
            if await reminder_job.run():
                worker.notify()  # hand them to Discord now, not at the next idle tick
            return None

        calendar_rate = settings.calendar.requests_per_second
        if settings.calendar.covers:
            self._covers = CoverFetcher(
                settings.calendar.cover_hosts,
                max_bytes=settings.calendar.cover_max_bytes,
                timeout_seconds=settings.calendar.cover_timeout_seconds,
                clock=utc_now,
            )
        calendar_job = CalendarJob(
            store,
            DiscordScheduledEvents(bot, rate=calendar_rate),
            clock=utc_now,
            quiet_period=timedelta(minutes=settings.delivery.quiet_period_minutes),
            shards=shards,
            # A run sends what the pacer allows in one tick, so it ends before the next tick.
            max_actions=max(1, int(calendar_rate * timings.poll_tick_seconds)),
            covers=self._covers,
        )

        async def calendar() -> object:
            return await calendar_job.run()

        async def sweep() -> object:
            worker.notify()
            # Sends move the rate gauge; the sweep brings it back down when sending stops.
            budget = self.budget
            metrics.set_send_rate(budget.sends_per_second(), budget.rate)
            counts = await store.outbox_counts()
            metrics.set_outbox_pending(counts.get(OutboxStatus.PENDING, 0))
            return None

        self._scheduler = BotScheduler(
            PollLoop(store, client, poller, settings, lookouts=reminder_job.lookouts),
            store, settings,
            on_report=after_poll, sweep=sweep, may_poll=may_poll,
            poll_seconds=timings.poll_tick_seconds, outage=outage, reminders=reminders,
            calendar=calendar,
        )  # fmt: skip
        self._scheduler.start()
        log.info(
            "services started",
            extra={
                "shards": None if shards is None else sorted(shards.shard_ids),
                "shard_count": None if shards is None else shards.shard_count,
                "database": store.dialect_name,
            },
        )

    async def stop(self) -> None:
        """Stop scheduling, hand the poller lease on, let in-flight sends finish (bounded),
        close the LL2 client, the cover fetcher and the metrics endpoint."""
        if self._scheduler is not None:
            self._scheduler.shutdown()
        if self._lease is not None:
            try:
                await self._lease.release()
            except Exception:
                log.exception("releasing the poller lease failed")
        if self._worker is not None:
            await self._worker.stop(self._settings.delivery.shutdown_grace_seconds)
            await self._worker.close_owner()
        if self._worker_task is not None:
            self._worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker_task
        if self._client is not None:
            await self._client.aclose()
        if self._covers is not None:
            await self._covers.aclose()
            self._covers = None
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        log.info("services stopped")


def build_services(settings: Settings, store: Store) -> AppServices:
    """The services ``run`` hands to the bot."""
    return AppServices(settings, store)
