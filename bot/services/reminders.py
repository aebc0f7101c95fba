"""The reminder job: the I/O around :func:`bot.core.reminders.plan_reminders`.

Every scheduler tick (10 s) on the poller process it reads the upcoming snapshots, the
subscriptions that want reminders, the reminder keys already queued and the previous run's
``now``; the pure planner decides; the reminders due go into the outbox, together with this
run's ``now``, in one transaction. So a crash before the commit repeats the run (same keys,
the outbox stores each once) and a crash after it loses nothing: the delivery worker sends the
rows with nonces derived from their keys, exactly once as far as Discord allows. Reminders the
planner drops (late after downtime, superseded by a nearer one, a repeat after a small slip) are
logged, never sent.

Each run also keeps the plan's armed moments as poll-planner lookouts
(:attr:`ReminderJob.lookouts`): the poll loop passes them to the planner, which reads the
item's source shortly before each, so the run at the moment plans from a fresh snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.core.planner import Lookout
from bot.core.reminders import (
    MAX_GRACE,
    MAX_OFFSET_MINUTES,
    ReminderKey,
    ReminderPlan,
    plan_reminders,
)
from bot.core.snapshot import Snapshot
from bot.services.delivery.rows import reminder_to_row
from bot.store import Store
from bot.store.delivery_queries import reminder_keys

log = logging.getLogger("bot.reminders")

SINCE_KEY = "reminders:since"
# Items further ahead than the longest offset cannot have a reminder due or close.
HORIZON = timedelta(minutes=MAX_OFFSET_MINUTES) + MAX_GRACE
# Reminders queued this far back still matter: the repeat rule compares with the last one sent.
HISTORY = HORIZON + timedelta(days=1)
ITEM_LIMIT = 500


class ReminderJob:
    """Queues the reminders that are due (see the module docstring)."""

    def __init__(self, store: Store, quiet_period: timedelta, now: Callable[[], datetime]) -> None:
        self._store = store
        self._quiet_period = quiet_period
        self._now = now
        self._lookouts: tuple[Lookout, ...] = ()

    def lookouts(self) -> tuple[Lookout, ...]:
        """The last run's armed moments, for the poll planner (empty before the first run)."""
        return self._lookouts

    async def run(self, now: datetime | None = None) -> int:
        """Plan at ``now`` and queue what is due; return how many reminders were queued."""
        at = now if now is not None else self._now()
        subscriptions = [
            s for s in await self._store.list_subscriptions(enabled_only=True) if s.reminders
        ]
        if not subscriptions:
            self._lookouts = ()
            return 0
        items = await reminder_items(self._store, at)
        sent = [
            ReminderKey.from_dedup_key(k) for k in await reminder_keys(self._store, at - HISTORY)
        ]
        since = await self._store.get_datetime(SINCE_KEY)
        plan = plan_reminders(
            items, subscriptions, sent, at, since=since, quiet_period=self._quiet_period
        )
        async with self._store.transaction() as tx:
            queued = await tx.enqueue([reminder_to_row(r, at) for r in plan.due])
            await tx.set_datetime(SINCE_KEY, at)
        self._lookouts = plan.lookouts()
        for reminder in plan.due:
            log.info(
                "reminder queued",
                extra={
                    "item": reminder.item.ref,
                    "channel_id": reminder.key.channel_id,
                    "offset_minutes": reminder.key.offset_minutes,
                    "target": reminder.key.target.isoformat(),
                },
            )
        log_dropped(plan)
        return queued


async def reminder_items(store: Store, at: datetime) -> list[Snapshot]:
    """The items a reminder may be due or close for at ``at``: T-0 still ahead (or within the
    longest grace behind), no further ahead than the longest offset, and still in LL2's
    upcoming list (a withdrawn launch gets no "T-10 min")."""
    listed = await store.last_full_reads()
    return [
        item
        for item in await store.upcoming(at - MAX_GRACE, ITEM_LIMIT, listed_since=listed)
        if item.date is not None and item.date <= at + HORIZON
    ]


def log_dropped(plan: ReminderPlan) -> None:
    """One INFO line per reminder the planner dropped (late, superseded, or a repeat)."""
    for dropped in plan.dropped:
        log.info(
            "reminder not sent: %s",
            dropped.reason.value,
            extra={
                "item": dropped.reminder.item.ref,
                "channel_id": dropped.reminder.key.channel_id,
                "offset_minutes": dropped.reminder.key.offset_minutes,
                "target": dropped.reminder.key.target.isoformat(),
            },
        )
