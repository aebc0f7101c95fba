"""One poll cycle: fetch through the LL2 client, diff, and persist in one transaction.

For every query answer the poller writes, in **one** transaction, the new snapshots, the change
log and the outbox rows for the subscriptions the changes match. A crash before the commit loses
nothing (the next poll sees the same difference again); a crash after it loses nothing either (the
outbox holds the rows). The network call happens *before* the transaction opens, so the write
lock is held only for the short database part.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.core.changes import Change, ChangeKind
from bot.core.diff import ItemKey, diff_all
from bot.core.feed import feed_deliveries
from bot.core.models import Event, Launch
from bot.core.planner import Query, QueryKind
from bot.core.routing import route
from bot.core.snapshot import Snapshot, Source, snapshot_from_event, snapshot_from_launch
from bot.core.subscriptions import AlertStyle
from bot.ll2 import FetchResult, LL2Client, LL2Error
from bot.services import metrics
from bot.services.delivery.cards import enqueue_card_deliveries
from bot.services.delivery.rows import enqueue_deliveries
from bot.store import Store
from bot.store.poll_state import LAST_SUCCESS_KEY

log = logging.getLogger("bot.poller")

# An item first met long after its date (an incremental query returning an old, edited item)
# is history, not news: no new_item alert for it.
NEW_ITEM_MAX_AGE = timedelta(hours=24)

BASELINE_KEY = "baseline:{source}"
LAST_POLL_KEY = "poll:last_at"

_NOUNS = {Source.EVENT: ("event", "events"), Source.LAUNCH: ("launch", "launches")}


def utc_now() -> datetime:
    """The wall clock, aware UTC (the shell's only clock read)."""
    return datetime.now(UTC)


@dataclass
class PollReport:
    """What one poll cycle did."""

    changes: list[Change] = field(default_factory=list)  # newly recorded, in order
    items_seen: int = 0
    requests: int = 0
    queued: int = 0
    failed_queries: list[str] = field(default_factory=list)
    partial_queries: list[str] = field(default_factory=list)
    # Sources whose silent first read (the baseline) this cycle completed, with the items stored.
    baselines: dict[Source, int] = field(default_factory=dict)

    @property
    def alerts(self) -> list[Change]:
        """The changes subscribers can receive (bookkeeping kinds left out)."""
        return [c for c in self.changes if c.alertable]

    def baseline_note(self) -> str | None:
        """``baseline: 35 events and 12 launches stored; ...`` when this cycle ended a baseline.

        The baseline alerts nobody, so without this line a first run looks like it does nothing.
        """
        if not self.baselines:
            return None
        counts = [
            f"{n} {_NOUNS[source][n != 1]}"
            for source in Source
            if (n := self.baselines.get(source)) is not None
        ]
        return f"baseline: {' and '.join(counts)} stored; alerts start with the next change"


class Poller:
    """Runs queries against LL2 and applies their answers to the store."""

    def __init__(
        self,
        store: Store,
        client: LL2Client,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._client = client
        self._clock = clock
        self._date_threshold = timedelta(seconds=settings.polling.date_change_threshold_seconds)
        self._quiet_period = timedelta(minutes=settings.delivery.quiet_period_minutes)
        self._deadlines = settings.delivery.deadlines()
        self._feed_channels = dict(settings.feed.channels)  # the followable feed (issue 17)

    async def poll_upcoming(self) -> PollReport:
        """Read every upcoming event and launch (the full refresh; also the first baseline)."""
        return await self.run(
            [
                Query(QueryKind.FULL_UPCOMING, Source.EVENT),
                Query(QueryKind.FULL_UPCOMING, Source.LAUNCH),
            ]
        )

    async def run(self, queries: Sequence[Query]) -> PollReport:
        """Run ``queries`` in order; a failed query is logged and skipped, never fatal."""
        report = PollReport()
        for query in queries:
            try:
                await self._run_query(query, report)
            except LL2Error as exc:
                report.requests += exc.requests
                report.failed_queries.append(query.label)
                log.warning("query failed: %s", exc, extra={"query": query.label})
        metrics.record_poll(report, len(queries))
        return report

    async def _run_query(self, query: Query, report: PollReport) -> None:
        if query.kind is QueryKind.EVENT_TYPES:
            types = await self._client.event_types()
            report.requests += types.requests
            if types.items:
                await self._store.save_event_types(
                    [(t.id, t.name) for t in types.items], self._clock()
                )
            return
        result = await self._fetch(query)
        report.requests += result.requests
        if not result.complete:
            report.partial_queries.append(query.label)
        snapshots = _to_snapshots(result)
        assert query.source is not None  # guaranteed by Query's validation
        fresh, queued, baseline_done = await self.apply_snapshots(
            query, query.source, snapshots, complete=result.complete
        )
        if baseline_done:
            report.baselines[query.source] = len({snap.key for snap in snapshots})
        report.items_seen += len(snapshots)
        report.changes.extend(fresh)
        report.queued += queued

    async def _fetch(self, query: Query) -> FetchResult[Event] | FetchResult[Launch]:
        client = self._client
        events = query.source is Source.EVENT
        if query.kind is QueryKind.FULL_UPCOMING:
            return await (client.upcoming_events() if events else client.upcoming_launches())
        if query.kind is QueryKind.HOT_WINDOW:
            assert query.start is not None
            assert query.end is not None
            if events:
                return await client.events_in_window(query.start, query.end)
            return await client.launches_in_window(query.start, query.end)
        assert query.since is not None
        if events:
            return await client.events_updated_since(query.since)
        return await client.launches_updated_since(query.since)

    async def apply_snapshots(
        self, query: Query, source: Source, snapshots: list[Snapshot], *, complete: bool
    ) -> tuple[list[Change], int, bool]:
        """Diff one query's answer against the store and persist it all in one transaction.

        Returns the newly recorded changes, the number of outbox rows queued, and whether this
        answer completed the source's silent baseline.
        """
        now = self._clock()
        baseline_key = BASELINE_KEY.format(source=source.value)
        async with self._store.transaction() as tx:
            baseline = not await tx.get_flag(baseline_key)
            changed, unchanged, old = await _split_unchanged(tx, snapshots)
            stored, changes = diff_all(
                old, changed, now, baseline=baseline, date_threshold=self._date_threshold
            )
            changes = [c for c in changes if not _stale_new_item(c, now)]
            await tx.save_snapshots(stored, now)
            await tx.touch_snapshots(unchanged, now)
            fresh = await tx.record_changes(changes)
            subscriptions = await tx.list_subscriptions(enabled_only=True)
            alerts = [c for c in fresh if c.alertable]
            feeds = [s for s in subscriptions if s.style is AlertStyle.FEED]
            cards = [s for s in subscriptions if s.style is AlertStyle.CARD]
            # Feed subscriptions, plus the operator's followable feed channels (issue 17).
            deliveries = route(alerts, feeds) + feed_deliveries(alerts, self._feed_channels)
            queued = await enqueue_deliveries(
                tx, deliveries, now, self._quiet_period, self._deadlines
            )
            if cards:  # live cards (issue 16): one message per item, edited
                queued += await enqueue_card_deliveries(
                    tx, route(alerts, cards), now, self._quiet_period, self._deadlines
                )
            # Only a complete full read may end the silent baseline: a partial one would make
            # the items it missed look new on the next poll.
            baseline_done = baseline and complete and query.kind is QueryKind.FULL_UPCOMING
            if baseline_done:
                await tx.set_flag(baseline_key, True)
            if complete:
                await tx.set_datetime(LAST_SUCCESS_KEY.format(stream=query.label), now)
            await tx.set_datetime(LAST_POLL_KEY, now)
        metrics.record_changes(fresh)
        for change in fresh:
            log.info(
                "change %s", change.kind.value, extra={"item": change.item.ref, "kind": change.kind}
            )
        return fresh, queued, baseline_done


async def _split_unchanged(
    tx: Store, snapshots: list[Snapshot]
) -> tuple[list[Snapshot], set[ItemKey], dict[ItemKey, Snapshot]]:
    """Separate items identical to their stored copy from the rest.

    Identical JSON means an identical snapshot, and ``diff(x, x)`` is empty, so such items need
    no parsing, no diff and no rewrite (only a ``last_seen_at`` bump). Returns the changed
    snapshots, the unchanged keys, and the parsed stored copies of the changed ones.
    """
    encoded: dict[ItemKey, set[str]] = {}
    for snap in snapshots:
        encoded.setdefault(snap.key, set()).add(snap.model_dump_json())
    stored = await tx.load_snapshot_data(encoded)
    # An item listed twice in different states goes through the diff, which picks one copy.
    unchanged = {k for k, texts in encoded.items() if len(texts) == 1 and stored.get(k) in texts}
    changed = [s for s in snapshots if s.key not in unchanged]
    old = {
        key: Snapshot.model_validate_json(stored[key])
        for key in {s.key for s in changed}
        if key in stored
    }
    return changed, unchanged, old


def _to_snapshots(result: FetchResult[Event] | FetchResult[Launch]) -> list[Snapshot]:
    snapshots: list[Snapshot] = []
    for item in result.items:
        if isinstance(item, Event):
            snapshots.append(snapshot_from_event(item))
        else:
            snapshots.append(snapshot_from_launch(item))
    return snapshots


def _stale_new_item(change: Change, now: datetime) -> bool:
    if change.kind is not ChangeKind.NEW_ITEM or change.item.date is None:
        return False
    return change.item.date < now - NEW_ITEM_MAX_AGE
