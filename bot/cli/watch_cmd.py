"""``watch``: poll LL2 and print alerts to the terminal (no Discord needed).

Alerts go to stdout (one line each, text or JSON); logs and progress go to stderr, so
``spacecast watch --format json | jq`` sees alerts only.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable

from bot.cli import EXIT_FAILURE, EXIT_OK
from bot.config import Settings
from bot.core.changes import Change
from bot.core.render import change_to_json, change_to_text
from bot.ll2 import LL2Client
from bot.services.poller import Poller, PollReport, utc_now
from bot.store import open_store

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


async def watch(args: argparse.Namespace, settings: Settings) -> int:
    """Run poll cycles and print every alert; ``--once`` runs exactly one full poll."""
    store = await open_store(settings.database.url)
    client = LL2Client.create(settings.ll2, send_log=store)
    try:
        await client.start()  # loads the persisted budget, then reads /api-throttle/
        poller = Poller(store, client, settings)
        if args.once:
            report = await poller.poll_upcoming()
            print_alerts(report.changes, args.format)
            _summarise(report)
            # Every query failing means we learned nothing: say so with the exit code.
            return EXIT_FAILURE if report.failed_queries and not report.items_seen else EXIT_OK
        from bot.services.scheduler import PollLoop

        loop = PollLoop(store, client, poller, settings)
        async for report in loop.reports():
            print_alerts(report.changes, args.format)
            _summarise(report)
        return EXIT_OK
    finally:
        await client.aclose()
        await store.close()
