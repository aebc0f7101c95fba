"""The calendar job: the I/O around :func:`bot.core.schedule.plan_calendar`.

Every scheduler tick it reads the calendars this process owns, the bot's recorded events and
the upcoming snapshots; the pure planner decides per guild; the actions go to Discord (paced)
and each answer is recorded at once. It is a reconcile loop, safe to repeat: whatever a run did
not finish, the next run plans again from what is recorded.

Restart safety: the first time a process handles a guild (and after any answer it could not
read: a timeout, a 5xx, a refused edit) it first lists the guild's scheduled events and
*adopts* the bot's own (the marker line in the description names the item; the creator must be
the bot), records what Discord holds, and deletes duplicates. So a crash between Discord's
answer to a create and the database write leaves one event, not two.

Several processes on PostgreSQL: each handles only the guilds of its own shards (Discord's
``(guild_id >> 22) % shard_count``, the rule the outbox claim uses), so one guild's calendar
is handled by exactly one process; on SQLite the one process handles all.

Errors: a 403 disables the guild's calendar with Discord's reason after that one request (every
403 counts towards Discord's invalid-request ban); 404 Unknown Scheduled Event forgets the
event; another 4xx holds that item back for an hour and re-lists the guild; a transient error
re-lists the guild before its next request.

Covers (with a :class:`~bot.services.covers.CoverSource`): a create, and an update whose cover
changed, carry the chosen source's image data; a source that cannot be fetched means no cover
for now (the create still goes; an edit of the cover alone is not sent), and the event records
the source it shows. Discord lists only an image hash, so adoption keeps the recorded source
when the event id matches and Discord still shows an image (see :func:`entry_from_discord`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from bot.core.schedule import (
    ADOPTED_COVER,
    GUILD_EVENT_LIMIT,
    LIVE_STATUSES,
    Action,
    ActionKind,
    CalendarPlan,
    CalendarSettings,
    Entry,
    EventFields,
    Status,
    effective_status,
    index_items,
    item_ref_of,
    plan_calendar,
)
from bot.discord_ui.scheduled_events import (
    CalendarError,
    CalendarForbidden,
    CalendarRejected,
    EventGone,
    ScheduledEvents,
    create_payload,
    edit_payload,
)
from bot.services.covers import CoverSource
from bot.store import ShardSpec, Store

log = logging.getLogger("bot.calendar")

# Items dated this far back are still read: an ACTIVE event's item must be seen to end it.
LOOKBACK = timedelta(days=1)
ITEM_LIMIT = 500
# A refused request for one item is not repeated for this long.
REJECT_BACKOFF = timedelta(hours=1)
# Every guild is listed again this often, to see what moderators and Discord did.
RESYNC_EVERY = timedelta(hours=6)
# A create or start edit is dropped (and planned again) if it would reach Discord this close
# to its start: Discord refuses a start in the past.
SEND_MARGIN = timedelta(seconds=30)
# Guilds served at once: enough requests in flight to reach the pacer's rate (20/s by default)
# over a Discord round trip of up to half a second.
DEFAULT_CONCURRENCY = 10
# Urgent kinds first: a live webcast, an end, then deletes (free slots) before edits.
_ORDER = {
    ActionKind.START: 0,
    ActionKind.END: 1,
    ActionKind.DELETE: 2,
    ActionKind.UPDATE: 3,
    ActionKind.CREATE: 4,
}


class Counter(dict[str, int]):
    """A tiny string counter (collections.Counter's typing is awkward in a dataclass)."""

    def add(self, key: str, n: int = 1) -> None:
        """Add ``n`` to ``key``."""
        self[key] = self.get(key, 0) + n


@dataclass
class CalendarReport:
    """What one run did (for logs, tests and the benchmark)."""

    guilds: int = 0
    requests: int = 0
    applied: Counter = field(default_factory=Counter)
    adopted: int = 0
    duplicates_deleted: int = 0
    dismissed: int = 0  # events someone else removed, now left alone
    disabled: list[int] = field(default_factory=list)
    failed: int = 0
    left: int = 0  # actions planned but left for the next run (budget)


def _parse_time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def entry_from_discord(item_ref: str, event: dict[str, Any]) -> Entry:
    """An :class:`Entry` holding what Discord says about one of the bot's events.

    Discord gives a cover only as an image hash, never its source: an event with one gets the
    cover :data:`~bot.core.schedule.ADOPTED_COVER` (it counts as showing the item's current
    choice, so adopting it uploads nothing), one without gets None. The adapter keeps the
    recorded source instead wherever it has one (same event id, image still there).
    """
    metadata = event.get("entity_metadata") or {}
    start = _parse_time(event["scheduled_start_time"])
    end_raw = event.get("scheduled_end_time")
    return Entry(
        item_ref=item_ref,
        event_id=int(event["id"]),
        status=Status(int(event.get("status", 1))),
        fields=EventFields(
            name=str(event.get("name") or ""),
            description=str(event.get("description") or ""),
            location=str(metadata.get("location") or ""),
            start=start,
            end=_parse_time(end_raw) if end_raw else start,
            cover=ADOPTED_COVER if event.get("image") else None,
        ),
    )


class CalendarJob:
    """Mirrors LL2 into each owned guild's Discord Events list (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        discord: ScheduledEvents,
        *,
        clock: Callable[[], datetime],
        quiet_period: timedelta,
        shards: ShardSpec | None = None,
        max_actions: int = 100,
        concurrency: int = DEFAULT_CONCURRENCY,
        covers: CoverSource | None = None,
    ) -> None:
        self._store = store
        self._covers = covers  # None: covers off (none uploaded, existing ones left alone)
        self._discord = discord
        self._clock = clock
        self._quiet = quiet_period
        self._shards = shards
        self._max_actions = max_actions
        self._concurrency = concurrency
        self._synced_at: dict[int, datetime] = {}  # guild -> last listing (this process)
        self._others: dict[int, int] = {}  # guild -> live events that are not the bot's
        self._rejected: dict[tuple[int, str], datetime] = {}  # (guild, item) -> retry after

    def owns(self, guild_id: int) -> bool:
        """Whether this process handles ``guild_id``'s calendar."""
        return self._shards is None or self._shards.matches(guild_id)

    def forget_sync(self, guild_id: int) -> None:
        """List the guild at Discord again before the next request there."""
        self._synced_at.pop(guild_id, None)

    async def run(self) -> CalendarReport:
        """One reconcile pass over every owned guild (at most ``max_actions`` requests, the
        listings included; the rest wait for the next run).

        Guilds are independent (Discord's rate-limit buckets for these routes are per guild),
        so up to ``concurrency`` guilds are served at once, the most urgent first; within a
        guild the actions stay in order (a DELETE frees a slot before a CREATE takes it). The
        pacer (and the deployment's send budget below it) caps the request rate, not the round
        trip.
        """
        report = CalendarReport()
        calendars = [c for c in await self._store.list_calendars() if self.owns(c.guild_id)]
        if not calendars:
            return report
        entries = await self._store.calendar_entries(c.guild_id for c in calendars)
        now = self._clock()
        served: list[CalendarSettings] = []
        for settings in calendars:
            mine = entries.get(settings.guild_id, [])
            if settings.disabled_reason is not None:
                continue  # Discord refused us; nothing works until an admin fixes it
            if not settings.enabled and not any(e.status in LIVE_STATUSES for e in mine):
                continue
            served.append(settings)
        report.guilds = len(served)

        # 1. List the guilds not listed lately (first contact: adopt before creating).
        stale = [s for s in served if self._needs_sync(s.guild_id, now)]
        stale.sort(key=lambda s: (s.guild_id in self._synced_at, s.guild_id))
        budget = self._max_actions
        listing, waiting = stale[:budget], {s.guild_id for s in stale[budget:]}
        budget -= len(listing)

        async def sync(settings: CalendarSettings) -> None:
            guild = settings.guild_id
            try:
                entries[guild] = await self._sync(settings, entries.get(guild, []), report)
            except CalendarError as exc:
                await self._failed(settings, None, exc, report)
                waiting.add(guild)

        await self._each([partial(sync, s) for s in listing])

        # 2. Plan every guild (pure), from the listing's fresh view where there was one.
        now = self._clock()
        # Items LL2's last complete upcoming read no longer listed are left out: to the planner
        # they are gone, so their events are deleted (or, if running, ended).
        listed = await self._store.last_full_reads()
        items = index_items(
            await self._store.upcoming(now - LOOKBACK, ITEM_LIMIT, listed_since=listed)
        )  # indexed once for every guild's plan
        queue: list[tuple[tuple[int, datetime, int], CalendarSettings, Action]] = []
        for settings in served:
            guild = settings.guild_id
            if guild in waiting:
                continue
            mine = entries.get(guild, [])
            plan = plan_calendar(
                items,
                settings,
                mine,
                now,
                quiet_period=self._quiet,
                room=GUILD_EVENT_LIMIT - self._others.get(guild, 0),
                covers=None if self._covers is None else self._covers.policy(),
            )
            await self._record_holds(guild, mine, plan)
            for entry in mine:
                if entry.item_ref in plan.seen_live:  # Discord started it; its webcast is on
                    live = replace(entry, status=Status.ACTIVE)
                    await self._store.record_event(guild, live, now=now)
            by_ref = {e.item_ref: e for e in mine}
            for action in plan.actions:
                if self._rejected.get((guild, action.item_ref), now) > now:
                    continue
                when = _action_time(action, by_ref.get(action.item_ref))
                queue.append(((_ORDER[action.kind], when, guild), settings, action))

        # 3. Apply: guilds in the order of their most urgent action, each guild's in order.
        queue.sort(key=lambda q: q[0])
        report.left = max(0, len(queue) - budget)
        per_guild: dict[int, tuple[CalendarSettings, list[Action]]] = {}
        for _, settings, action in queue[: max(0, budget)]:
            per_guild.setdefault(settings.guild_id, (settings, []))[1].append(action)

        async def apply(settings: CalendarSettings, actions: list[Action]) -> None:
            for action in actions:
                if not await self._apply(settings, action, report):
                    return  # stop this guild for this run (see _failed)

        await self._each([partial(apply, s, a) for s, a in per_guild.values()])
        return report

    def _needs_sync(self, guild_id: int, now: datetime) -> bool:
        synced = self._synced_at.get(guild_id)
        return synced is None or now - synced >= RESYNC_EVERY

    async def _each(self, jobs: Sequence[Callable[[], Awaitable[None]]]) -> None:
        """Run ``jobs`` with at most ``concurrency`` at once, in order of start; every job
        finishes (or fails) on its own, then the first unexpected error is raised."""
        if len(jobs) <= 1 or self._concurrency <= 1:
            for job in jobs:
                await job()
            return
        gate = asyncio.Semaphore(self._concurrency)

        async def gated(job: Callable[[], Awaitable[None]]) -> None:
            async with gate:
                await job()

        results = await asyncio.gather(*(gated(job) for job in jobs), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _record_holds(self, guild: int, mine: Sequence[Entry], plan: CalendarPlan) -> None:
        held = {h.item_ref: (h.start, h.since) for h in plan.holds}
        recorded = {
            e.item_ref: (e.pending_start, e.pending_since)
            for e in mine
            if e.pending_start is not None
        }
        if held != recorded:
            await self._store.set_holds(guild, plan.holds)
        if plan.adopted_covers:  # adopted events' covers, as the planner read them
            await self._store.set_covers(guild, plan.adopted_covers)

    async def _sync(
        self, settings: CalendarSettings, mine: list[Entry], report: CalendarReport
    ) -> list[Entry]:
        """List the guild at Discord, adopt the bot's events, delete duplicates; return the
        entries as Discord holds them (an event the bot recorded keeps its recorded cover
        source while Discord still shows an image, so a restart re-uploads nothing)."""
        guild = settings.guild_id
        events = await self._discord.list_events(guild)
        report.requests += 1
        bot_id = self._discord.bot_user_id
        ours: dict[str, list[dict[str, Any]]] = {}
        others = 0
        for event in events:
            ref = item_ref_of(event.get("description"))
            creator = event.get("creator_id")
            if ref is not None and (bot_id is None or creator is None or int(creator) == bot_id):
                ours.setdefault(ref, []).append(event)
            elif int(event.get("status", 1)) in LIVE_STATUSES:
                others += 1
        self._others[guild] = others
        recorded = {e.item_ref: e for e in mine}
        now = self._clock()
        result: list[Entry] = []
        for ref in sorted(set(ours) | set(recorded)):
            found = ours.get(ref, [])
            entry = recorded.get(ref)
            keep = next((e for e in found if entry and int(e["id"]) == entry.event_id), None)
            if keep is None and found:
                keep = min(found, key=lambda e: int(e["id"]))  # the first one created
                report.adopted += 1
                log.info("adopted scheduled event", extra={"guild_id": guild, "item": ref})
            for extra in found:
                if extra is not keep:
                    await self._discord.delete_event(guild, int(extra["id"]))
                    report.requests += 1
                    report.duplicates_deleted += 1
            if keep is not None:
                adopted = entry_from_discord(ref, keep)
                if entry is not None and entry.event_id == adopted.event_id:
                    cover = entry.fields.cover if adopted.fields.cover is not None else None
                    adopted = replace(
                        adopted,
                        fields=replace(adopted.fields, cover=cover),
                        pending_start=entry.pending_start,
                        pending_since=entry.pending_since,
                    )
                if adopted != entry:  # a restart that finds everything in step writes nothing
                    await self._store.record_event(guild, adopted, now=now)
                result.append(adopted)
            elif entry is not None and entry.status is Status.CANCELED:
                result.append(entry)  # a removal already recorded (plan rule 7)
            elif entry is not None and effective_status(entry, now) in LIVE_STATUSES:
                # Not listed before its end: a moderator deleted or cancelled it. Respect that.
                await self._store.dismiss_event(guild, ref, now=now)
                result.append(
                    replace(entry, status=Status.CANCELED, pending_start=None, pending_since=None)
                )
                report.dismissed += 1
                log.info("scheduled event removed by someone else; not recreating it",
                         extra={"guild_id": guild, "item": ref})  # fmt: skip
            elif entry is not None:
                # Not listed after its end: Discord completed it.
                await self._store.forget_event(guild, ref)
        self._synced_at[guild] = now
        return result

    async def _apply(
        self, settings: CalendarSettings, action: Action, report: CalendarReport
    ) -> bool:
        """Send one action and record Discord's answer; False stops the guild for this run."""
        guild = settings.guild_id
        now = self._clock()
        fields = action.fields
        try:
            if action.kind is ActionKind.CREATE and fields is not None:
                if fields.start <= now + SEND_MARGIN:
                    return True  # too late to create; the next run plans again
                image, source = await self._cover(action, fields)
                fields = replace(fields, cover=source)
                event = await self._discord.create_event(guild, create_payload(fields, image))
                report.requests += 1
                entry = Entry(action.item_ref, int(event["id"]), Status.SCHEDULED, fields)
                await self._store.record_event(guild, entry, now=now)
                if action.start_now:
                    await self._discord.edit_event(guild, entry.event_id, {"status": 2})
                    report.requests += 1
                    entry = replace(entry, status=Status.ACTIVE)
                    await self._store.record_event(guild, entry, now=now)
            elif action.kind is ActionKind.UPDATE and fields is not None and action.event_id:
                if "start" in action.changed and fields.start <= now + SEND_MARGIN:
                    return True
                image, source = await self._cover(action, fields)
                if image is None and action.changed == ("cover",):
                    return True  # no usable cover after all: nothing to send
                event = await self._discord.edit_event(
                    guild, action.event_id, edit_payload(fields, action.changed, image)
                )
                report.requests += 1
                edited = entry_from_discord(action.item_ref, event)
                edited = replace(edited, fields=replace(edited.fields, cover=source))
                await self._store.record_event(guild, edited, now=now, keep_cover=image is None)
            elif action.kind in (ActionKind.START, ActionKind.END) and action.event_id:
                status = Status.ACTIVE if action.kind is ActionKind.START else Status.COMPLETED
                event = await self._discord.edit_event(
                    guild, action.event_id, {"status": int(status)}
                )
                report.requests += 1
                await self._store.record_event(
                    guild, entry_from_discord(action.item_ref, event), now=now, keep_cover=True
                )
            elif action.kind is ActionKind.DELETE and action.event_id:
                await self._discord.delete_event(guild, action.event_id)
                report.requests += 1
                await self._store.forget_event(guild, action.item_ref)
        except CalendarError as exc:
            report.requests += 1
            return await self._failed(settings, action, exc, report)
        report.applied.add(action.kind.value)
        return True

    async def _cover(self, action: Action, fields: EventFields) -> tuple[str | None, str | None]:
        """``(image data, its source)`` when ``action`` sets a cover and one of its sources
        can be used; ``(None, None)`` otherwise (never an error: a cover is optional)."""
        if self._covers is None or fields.cover is None:
            return None, None
        if action.kind is ActionKind.UPDATE and "cover" not in action.changed:
            return None, None
        found = await self._covers.image((fields.cover, *action.cover_fallbacks))
        return (None, None) if found is None else (found[1], found[0])

    async def _failed(
        self,
        settings: CalendarSettings,
        action: Action | None,
        exc: CalendarError,
        report: CalendarReport,
    ) -> bool:
        guild = settings.guild_id
        report.failed += 1
        extra = {"guild_id": guild, "item": None if action is None else action.item_ref}
        if isinstance(exc, CalendarForbidden):
            await self._store.disable_calendar(guild, exc.reason)
            report.disabled.append(guild)
            log.warning("calendar disabled: Discord refused (%s)", exc.reason, extra=extra)
            return False
        if isinstance(exc, EventGone) and action is not None:
            if action.kind in (ActionKind.UPDATE, ActionKind.START):
                # Someone deleted the event the bot meant to change: respect that (rule 7).
                await self._store.dismiss_event(guild, action.item_ref, now=self._clock())
                report.dismissed += 1
            else:  # what a DELETE or END wanted, or close enough
                await self._store.forget_event(guild, action.item_ref)
            return True
        if isinstance(exc, CalendarRejected) and action is not None:
            self._rejected[(guild, action.item_ref)] = self._clock() + REJECT_BACKOFF
            log.warning("scheduled event refused: %s", exc.reason, extra=extra)
        else:
            log.info("scheduled event request failed: %s", exc.reason, extra=extra)
        # The outcome is unknown (or Discord's state differs from ours): look first next time.
        self.forget_sync(guild)
        return False


def _action_time(action: Action, entry: Entry | None) -> datetime:
    """How soon an action matters: the event's start (new or current)."""
    if action.fields is not None:
        return action.fields.start
    if entry is not None:
        return entry.fields.start
    return datetime.max.replace(tzinfo=UTC)
