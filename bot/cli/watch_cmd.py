"""``watch``: poll LL2 and print alerts to the terminal (no Discord needed).

Alerts go to stdout (one line each, text or JSON); logs and progress go to stderr, so
``spacecast watch --format json | jq`` sees alerts only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Iterable
from datetime import datetime, timedelta

from bot.cli import EXIT_FAILURE, EXIT_OK, CliError
from bot.config import Settings
from bot.core.changes import Change
from bot.core.planner import Lookout
from bot.core.reminders import OffsetError, ReminderKey, parse_offsets, plan_reminders
from bot.core.render import change_to_json, change_to_text
from bot.core.render.reminder_text import reminder_to_json, reminder_to_text
from bot.core.subscriptions import Subscription
from bot.ll2 import LL2Client
from bot.services.poller import Poller, PollReport, utc_now
from bot.services.reminders import log_dropped, reminder_items
from bot.store import Store, open_store

log = logging.getLogger("bot.watch")


def print_alerts(changes: Iterable[Change], fmt: str) -> None:
    """Write one line per alert to stdout and flush, so pipes see alerts as they happen."""
    now = utc_now()
    for change in changes:
        if not change.alertable:
            continue
        if fmt == "json":
            print(json.dumps(change_to_json(change), ensure_ascii=False))
        else:
            print(change_to_text(change, now))
    sys.stdout.flush()


def _summarise(report: PollReport) -> None:
    if (note := report.baseline_note()) is not None:
        log.info(note)
    log.info(
        "poll done: %d items, %d alerts, %d requests%s",
        report.items_seen,
        len(report.alerts),
        report.requests,
        f", failed: {', '.join(report.failed_queries)}" if report.failed_queries else "",
    )


# How often the terminal's reminders are checked, as the bot's scheduler tick does.
REMINDER_TICK_SECONDS = 10.0


def reminder_offsets(text: str | None) -> tuple[int, ...]:
    """``--reminders`` as offsets in minutes (none without the flag); a bad value is a CliError."""
    if text is None:
        return ()
    try:
        return parse_offsets(text)
    except OffsetError as exc:
        raise CliError(f"--reminders: {exc}") from None


class TerminalReminders:
    """Reminders for the terminal: one subscription to everything, sent keys kept in memory."""

    def __init__(self, store: Store, offsets: tuple[int, ...], fmt: str, quiet: timedelta) -> None:
        # A stand-in subscription: watch follows every item, like a subscription to "all".
        self._subscription = Subscription(id=0, guild_id=0, channel_id=0, reminders=offsets)
        self._store = store
        self._fmt = fmt
        self._quiet = quiet
        self._sent: set[ReminderKey] = set()
        self._since: datetime | None = None
        self._lookouts: tuple[Lookout, ...] = ()

    def lookouts(self) -> tuple[Lookout, ...]:
        """The last tick's armed moments, for the poll planner (see ``ReminderJob.lookouts``)."""
        return self._lookouts

    async def tick(self, now: datetime) -> None:
        """Print the reminders due at ``now``; log the ones dropped."""
        items = await reminder_items(self._store, now)
        plan = plan_reminders(
            items, [self._subscription], self._sent, now, since=self._since,
            quiet_period=self._quiet,
        )  # fmt: skip
        self._since = now
        self._lookouts = plan.lookouts()
        for reminder in plan.due:
            self._sent.add(reminder.key)
            if self._fmt == "json":
                print(json.dumps(reminder_to_json(reminder, now), ensure_ascii=False))
            else:
                print(reminder_to_text(reminder, now))
        log_dropped(plan)
        sys.stdout.flush()

    async def run_forever(self) -> None:
        """Tick every :data:`REMINDER_TICK_SECONDS` until cancelled; a failed tick is logged."""
        while True:
            try:
                await self.tick(utc_now())
            except Exception:
                log.exception("reminder check failed")
            await asyncio.sleep(REMINDER_TICK_SECONDS)


async def watch(args: argparse.Namespace, settings: Settings) -> int:
    """Run poll cycles and print every alert; ``--once`` runs exactly one full poll."""
    offsets = reminder_offsets(args.reminders)
    store = await open_store(settings.database.url)
    client = LL2Client.create(settings.ll2, send_log=store)
    try:
        await client.start()  # loads the persisted budget, then reads /api-throttle/
        poller = Poller(store, client, settings)
        if args.once:
            report = await poller.poll_upcoming()
            print_alerts(report.changes, args.format)
            if offsets:  # the reminders due right now (within their grace), once
                quiet = timedelta(minutes=settings.delivery.quiet_period_minutes)
                await TerminalReminders(store, offsets, args.format, quiet).tick(utc_now())
            _summarise(report)
            # Every query failing means we learned nothing: say so with the exit code.
            return EXIT_FAILURE if report.failed_queries and not report.items_seen else EXIT_OK
        from bot.services.scheduler import PollLoop

        ticker: asyncio.Task[None] | None = None
        quiet = timedelta(minutes=settings.delivery.quiet_period_minutes)
        reminders = TerminalReminders(store, offsets, args.format, quiet)
        loop = PollLoop(store, client, poller, settings, lookouts=reminders.lookouts)
        if offsets:
            ticker = asyncio.create_task(reminders.run_forever(), name="reminders")
        try:
            async for report in loop.reports():
                print_alerts(report.changes, args.format)
                _summarise(report)
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
        return EXIT_OK
    finally:
        await client.aclose()
        await store.close()
