"""The poll loop: ask the planner what to fetch and when, run it, remember what ran.

Poll state lives in the store (``poll_state``), so a restart resumes where the last process
stopped instead of spending the budget on a fresh full refresh. :class:`PollLoop` is the engine;
:class:`BotScheduler` runs it and the housekeeping jobs on APScheduler for ``run``, while
``watch`` drives :meth:`PollLoop.reports` directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import Settings
from bot.core.planner import (
    BudgetState,
    Lookout,
    Plan,
    PollState,
    Query,
    QueryKind,
    plan_next_poll,
)
from bot.core.snapshot import Source
from bot.ll2 import LL2Client
from bot.services.delivery.cards import retire_cards
from bot.services.outage import Outage, is_database_error
from bot.services.poller import BASELINE_KEY, Poller, PollReport, utc_now
from bot.store import Store
from bot.store.poll_state import LAST_SUCCESS_KEY

log = logging.getLogger("bot.scheduler")

NEXT_POLL_KEY = "poll:next_at"
LAST_ATTEMPT_KEY = "poll:last_attempt:{stream}"
SNAPSHOT_RETENTION = timedelta(days=30)
OUTBOX_RETENTION = timedelta(days=7)
REQUEST_LOG_RETENTION = timedelta(hours=2)
POLL_TICK_SECONDS = 10.0
SWEEP_SECONDS = 30.0
HEARTBEAT_POLLER = "poller\n"
HEARTBEAT_STANDBY = "standby\n"


def _label(kind: QueryKind, source: Source | None) -> str:
    return kind.value if source is None else f"{kind.value}:{source.value}"


async def load_poll_state(store: Store) -> PollState:
    """Rebuild the planner's view of past polls from the store."""

    async def per_source(kind: QueryKind) -> dict[Source, datetime]:
        found: dict[Source, datetime] = {}
        for source in Source:
            value = await store.get_datetime(LAST_SUCCESS_KEY.format(stream=_label(kind, source)))
            if value is not None:
                found[source] = value
        return found

    attempts: dict[tuple[QueryKind, Source | None], datetime] = {}
    for kind in QueryKind:
        sources: tuple[Source | None, ...] = (
            (None,) if kind is QueryKind.EVENT_TYPES else tuple(Source)
        )
        for source in sources:
            value = await store.get_datetime(LAST_ATTEMPT_KEY.format(stream=_label(kind, source)))
            if value is not None:
                attempts[(kind, source)] = value
    baseline = all([await store.get_flag(BASELINE_KEY.format(source=s.value)) for s in Source])
    return PollState(
        baseline_done=baseline,
        last_full_refresh=await per_source(QueryKind.FULL_UPCOMING),
        last_incremental=await per_source(QueryKind.INCREMENTAL),
        last_hot=await per_source(QueryKind.HOT_WINDOW),
        last_event_types=await store.event_types_updated_at(),
        last_attempt=attempts,
    )


class PollLoop:
    """Plans and runs polls: decisions are the pure planner's, facts come from the store."""

    def __init__(
        self,
        store: Store,
        client: LL2Client,
        poller: Poller,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        lookouts: Callable[[], Sequence[Lookout]] = tuple,
    ) -> None:
        """``lookouts``: the moments that want a fresh read (the reminder job's armed ones)."""
        self._store = store
        self._lookouts = lookouts
        self._client = client
        self._poller = poller
        self._config = settings.polling.planner_config()
        self._clock = clock
        self._sleep = sleep

    async def plan(self) -> Plan:
        """The next poll according to the planner, from the stored snapshots and budget."""
        now = self._clock()
        budget = self._client.budget
        snapshots = (await self._store.load_all_snapshots()).values()
        state = await load_poll_state(self._store)
        view = BudgetState(
            limit=budget.limit,
            send_times=tuple(budget.send_times(now)),
            blocked_until=budget.blocked_until,
        )
        plan = plan_next_poll(snapshots, view, state, self._config, now, self._lookouts())
        await self._store.set_datetime(NEXT_POLL_KEY, max(plan.at, now))
        return plan

    async def execute(self, queries: tuple[Query, ...]) -> PollReport:
        """Run a plan's queries, recording each attempt so failures back off instead of looping."""
        now = self._clock()
        for query in queries:
            await self._store.set_datetime(LAST_ATTEMPT_KEY.format(stream=query.label), now)
        report = await self._poller.run(queries)
        if any(q.kind is QueryKind.EVENT_TYPES for q in queries) and not report.failed_queries:
            log.info("event types refreshed")
        return report

    async def tick(self) -> tuple[PollReport | None, Plan]:
        """Run the plan if it is due now; return the report (None if nothing ran) and the plan."""
        plan = await self.plan()
        if plan.at > self._clock() or not plan.queries:
            return None, plan
        report = await self.execute(plan.queries)
        log.info(
            "polled %s", ", ".join(q.label for q in plan.queries), extra={"reason": plan.reason}
        )
        return report, await self.plan()

    async def reports(self) -> AsyncIterator[PollReport]:
        """Poll forever at the planner's times, yielding each cycle's report."""
        while True:
            report, plan = await self.tick()
            if report is not None:
                yield report
            wait = (plan.at - self._clock()).total_seconds()
            if report is None or wait > 0:
                log.debug("next poll in %.0fs: %s", max(wait, 0), plan.reason)
                await self._sleep(min(max(wait, 1.0), 300.0))


class BotScheduler:
    """APScheduler jobs for ``run``: polling, outbox sweep, housekeeping, heartbeat.

    Every job has ``max_instances=1`` (never overlaps itself) and ``coalesce=True`` (a run missed
    while the loop was busy happens once, not as a burst).
    """

    def __init__(
        self,
        loop: PollLoop,
        store: Store,
        settings: Settings,
        *,
        on_report: Callable[[PollReport], Awaitable[None]] | None = None,
        sweep: Callable[[], Awaitable[object]] | None = None,
        may_poll: Callable[[], Awaitable[bool]] | None = None,
        clock: Callable[[], datetime] = utc_now,
        poll_seconds: float = POLL_TICK_SECONDS,
        sweep_seconds: float = SWEEP_SECONDS,
        outage: Outage | None = None,
        reminders: Callable[[], Awaitable[object]] | None = None,
        calendar: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        if poll_seconds <= 0 or sweep_seconds <= 0:
            raise ValueError("poll_seconds and sweep_seconds must be positive")
        self._loop = loop
        self._store = store
        self._settings = settings
        self._on_report = on_report
        self._sweep = sweep
        self._reminders = reminders
        self._calendar = calendar
        self._may_poll = may_poll
        self._clock = clock
        self._outage = outage if outage is not None else Outage()
        # Whether the last poll tick found this process the poller (see ``may_poll``).
        self.polling = may_poll is None
        self._poll_seconds = poll_seconds
        self._sweep_seconds = sweep_seconds
        self._heartbeat = Path(settings.health.heartbeat_file)
        self.scheduler = AsyncIOScheduler(
            timezone="UTC", job_defaults={"max_instances": 1, "coalesce": True}
        )

    def start(self) -> None:
        """Register the jobs and start the scheduler (inside the running event loop)."""
        add = self.scheduler.add_job
        # A short tick re-asks the planner; the planner, not this interval, decides when LL2 is
        # called. 10 s keeps the detection delay well under the planner's finest gap. The tick
        # is also when a follower process tries to take the poller lease over.
        add(
            self.poll_job, "interval", seconds=self._poll_seconds, id="poll",
            next_run_time=self._clock(),
        )  # fmt: skip
        add(self.sweep_job, "interval", seconds=self._sweep_seconds, id="outbox-sweep")
        add(self.housekeeping_job, "interval", hours=1, id="housekeeping")
        if self._reminders is not None:
            # Every tick: a reminder is handed to Discord within a tick (10 s) of its moment.
            add(self.reminders_job, "interval", seconds=self._poll_seconds, id="reminders")
        if self._calendar is not None:
            # Every process runs it for its own shards' guilds (not only the poller).
            add(self.calendar_job, "interval", seconds=self._poll_seconds, id="calendar")
        self.scheduler.start()

    def shutdown(self) -> None:
        """Stop scheduling; running jobs are not awaited (their work is transactional)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def poll_job(self) -> None:
        """Poll if this process is the poller and the plan is due; refresh the heartbeat."""
        try:
            self.polling = self._may_poll is None or await self._may_poll()
            if self.polling:
                report, _ = await self._loop.tick()
                if report is not None and self._on_report is not None:
                    await self._on_report(report)
            else:
                # A standby only proves it is healthy if it can still reach the database it
                # would deliver from; a failure here skips the heartbeat below.
                await self._store.get_state(NEXT_POLL_KEY)
        except Exception as exc:
            self._failed("poll job", exc)
            return
        # Only a tick that reached the database proves the process healthy: while it is
        # unreachable the heartbeat goes stale and ``health`` fails after its threshold.
        self._outage.succeeded()
        self._touch_heartbeat()

    def _failed(self, job: str, exc: Exception) -> None:
        # A database outage is one log line (see bot.services.outage); anything else is a bug
        # and keeps its traceback.
        if is_database_error(exc):
            self._outage.failed(job, exc)
        else:
            log.exception("%s failed", job)

    async def sweep_job(self) -> None:
        """Retry due outbox rows (failed sends wait for their backoff)."""
        if self._sweep is not None:
            try:
                await self._sweep()
            except Exception as exc:
                self._failed("outbox sweep", exc)

    async def reminders_job(self) -> None:
        """Queue the T-minus reminders that are due (the poller's job, like polling)."""
        if self._reminders is None or not self.polling:
            return
        try:
            await self._reminders()
        except Exception as exc:
            self._failed("reminders", exc)

    async def calendar_job(self) -> None:
        """Mirror LL2 into the Discord Events lists of this process's guilds."""
        if self._calendar is None:
            return
        try:
            await self._calendar()
        except Exception as exc:
            self._failed("calendar", exc)

    async def housekeeping_job(self) -> None:
        """Prune old snapshots, sent outbox rows, the request log and finished scheduled
        events (the poller's job: the other processes of a sharded deployment share its
        database)."""
        if not self.polling:
            return
        now = self._clock()
        try:
            snapshots = await self._store.prune_snapshots(now - SNAPSHOT_RETENTION)
            outbox = await self._store.prune_outbox(now - OUTBOX_RETENTION)
            await self._store.prune_request_log(now - REQUEST_LOG_RETENTION)
            await retire_cards(self._store, now)  # live cards of items long past: final edit
            # Finished scheduled events: Discord no longer lists them, nothing reads them.
            events = await self._store.prune_calendar_events(now - OUTBOX_RETENTION)
            cards = await self._store.prune_cards(now - SNAPSHOT_RETENTION)
            log.info(
                "housekeeping",
                extra={
                    "pruned_snapshots": snapshots,
                    "pruned_outbox": outbox,
                    "pruned_calendar_events": events,
                    "pruned_cards": cards,
                },
            )
        except Exception as exc:
            self._failed("housekeeping", exc)

    def _touch_heartbeat(self) -> None:
        # The content names the role, for ``health`` to show: "poller" or "standby".
        try:
            self._heartbeat.write_text(HEARTBEAT_POLLER if self.polling else HEARTBEAT_STANDBY)
        except OSError as exc:
            log.warning("cannot touch heartbeat %s: %s", self._heartbeat, exc)
