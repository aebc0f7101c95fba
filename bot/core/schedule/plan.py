"""The calendar planner: what to do to one guild's Discord Events list so it mirrors LL2.

Pure: the caller passes the upcoming snapshots, the guild's :class:`CalendarSettings`, the
bot's events there as last recorded (:class:`Entry`), ``now`` and how many events the guild
has room for, and gets a :class:`CalendarPlan` back: create / update / start / end / delete
actions, and the date edits held back by the quiet period.

Discord's rules that shape it (docs, "Guild Scheduled Event Status Update Automation" and
"Valid Guild Scheduled Event Status Transitions"): an EXTERNAL event turns ACTIVE by itself at
its start time and COMPLETED by itself at its end time; statuses go SCHEDULED -> ACTIVE ->
COMPLETED or SCHEDULED -> CANCELED and the last two are final; an ACTIVE event's start can no
longer change; a start in the past is refused. So the planner first works out each event's
*effective* status at ``now`` (what Discord has made of it since it was recorded), then:

1. An item is mirrored when the settings follow it, its date is precise enough (Second,
   Minute or Hour), it has no outcome yet (launch Success, Failure, Partial Failure, Payload
   Deployed), its date is within the horizon, and it is among the ``max`` nearest. A new event
   is only created more than :data:`MIN_LEAD` ahead (as LiveLaunch does), so a create never
   races Discord's clock.
2. ACTIVE events come first and are kept (they are happening); then SCHEDULED events whose
   start is within :data:`MIN_LEAD` (Discord is about to start them; their start is left alone);
   then the nearest other items, until ``min(max, room)`` events. Anything beyond is deleted
   (or, if ACTIVE, ended).
3. A mirrored item's event is updated when its fields differ. A date edit alone waits until
   the new date has been stable for the quiet period (five slips in ten minutes are one edit),
   unless the old or new start is near (then it goes at once, before Discord starts the event
   at a stale time). A date that moved to within :data:`MIN_LEAD` (or into the past) becomes
   ``now + MIN_LEAD``: Discord then starts the event a moment later.
4. Webcast live -> START (SCHEDULED -> ACTIVE; an item already live when first mirrored is
   created and started). ACTIVE ends (COMPLETED) when the launch has an outcome and no live
   webcast, when a webcast the bot started it for (or saw live while Discord had started it)
   is no longer live after T-0, or when the item is gone from the upcoming list.
5. The hard case: a launch that holds or scrubs after the event went ACTIVE (its new date more
   than :data:`SCRUB_THRESHOLD` away, no live webcast). The ACTIVE event cannot be moved, so it
   is ended, and the item gets a fresh SCHEDULED event for its new date (when it still
   qualifies): members see the attempt end and the next attempt appear.
6. Items that stop qualifying before their event started (removed, cancelled, out of the
   horizon or of the ``max`` nearest, filters changed, calendar disabled) lose their event by
   DELETE, not CANCELED: a slip out of the horizon is not a cancellation, and "Cancelled" would
   tell members that; a deleted event frees its slot at once and can be recreated later.
7. Someone else's deletion is respected: an event that vanished from Discord before its end
   (a moderator deleted or cancelled it) is recorded as a CANCELED tombstone, and the planner
   never recreates an event for that item in that guild while the tombstone lasts (the bot's
   own END leaves a COMPLETED tombstone instead, which does not block a next attempt's event).
   Enabling the calendar again clears the tombstones (:mod:`bot.store.calendar`).
8. Covers (when the caller passes a :class:`~bot.core.schedule.cover.CoverPolicy`): a create
   carries the item's chosen cover; an event whose chosen cover differs from the one it shows
   is updated (``"cover"`` in ``changed``), once per LL2 image change; no usable cover leaves
   the current one in place (see :mod:`bot.core.schedule.cover`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from bot.core.render.when import Grain, classify
from bot.core.routing import DEFAULT_QUIET_PERIOD
from bot.core.schedule.cover import ADOPTED_COVER, CoverPolicy, choose_cover, fallbacks
from bot.core.schedule.event import EventFields, fields_for
from bot.core.schedule.settings import CalendarSettings
from bot.core.snapshot import Snapshot, Source

# Discord's cap on SCHEDULED + ACTIVE events per guild (error 30038 beyond it).
GUILD_EVENT_LIMIT = 100
# Creates and start edits stay this far ahead of ``now``: LiveLaunch only creates events more
# than 2 minutes ahead, and a request in flight must not reach Discord with a start in the past.
MIN_LEAD = timedelta(minutes=2)
# An ACTIVE event whose item moved more than this far ahead (hold, scrub) is ended.
SCRUB_THRESHOLD = timedelta(minutes=30)
# Launch statuses that mean "it happened": Success, Failure, Partial Failure, Payload Deployed.
OUTCOME_STATUSES = frozenset({3, 4, 7, 9})
_PRECISE = frozenset({Grain.SECOND, Grain.MINUTE, Grain.HOUR})


class Status(IntEnum):
    """Discord's scheduled-event statuses."""

    SCHEDULED = 1
    ACTIVE = 2
    COMPLETED = 3
    CANCELED = 4


LIVE_STATUSES = frozenset({Status.SCHEDULED, Status.ACTIVE})


@dataclass(frozen=True, slots=True)
class Entry:
    """One of the bot's scheduled events in a guild, as last recorded.

    ``fields`` are what Discord holds (as last applied or read back); ``pending_start`` and
    ``pending_since`` remember a held date edit: the start LL2 now says, and when it was
    first seen.
    """

    item_ref: str
    event_id: int
    status: Status
    fields: EventFields
    pending_start: datetime | None = None
    pending_since: datetime | None = None


class ActionKind(StrEnum):
    """What to ask Discord for."""

    CREATE = "create"
    UPDATE = "update"
    START = "start"
    END = "end"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Action:
    """One request to Discord about one item's event.

    ``fields`` are the event's full desired fields (CREATE, UPDATE); ``changed`` names the
    ones an UPDATE changes. A CREATE with ``start_now`` is started right after it is created
    (the webcast is already live). When the action sets a cover (``fields.cover`` on a CREATE,
    ``"cover"`` in ``changed``), ``cover_fallbacks`` are the sources to try in turn if that one
    cannot be fetched; the adapter records the one it uploaded.
    """

    kind: ActionKind
    item_ref: str
    event_id: int | None = None
    fields: EventFields | None = None
    changed: tuple[str, ...] = ()
    start_now: bool = False
    cover_fallbacks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hold:
    """A date edit waiting for the quiet period, or due and not yet applied: ``start`` first
    seen at ``since``. The adapter records it; applying the edit clears it."""

    item_ref: str
    start: datetime
    since: datetime

    def due(self, quiet_period: timedelta) -> datetime:
        """When the edit goes out if the date stays put."""
        return self.since + quiet_period


@dataclass(frozen=True, slots=True)
class CalendarPlan:
    """The planner's answer for one guild.

    ``adopted_covers`` are ``(item_ref, url)``: entries recorded with
    :data:`~bot.core.schedule.cover.ADOPTED_COVER` that the planner took to show ``url`` (the
    item's current choice); the adapter records them, no request involved.
    """

    actions: tuple[Action, ...]
    holds: tuple[Hold, ...]
    # Events Discord started by itself whose item's webcast is now live: recorded as ACTIVE
    # (no request), so the event ends when that webcast does after T-0, as if the bot had
    # started it (rule 4).
    seen_live: tuple[str, ...] = ()
    adopted_covers: tuple[tuple[str, str], ...] = ()


_FIELD_NAMES = ("name", "description", "location", "start", "end", "cover")


def effective_status(entry: Entry, now: datetime) -> Status:
    """What Discord has made of ``entry`` by ``now``: an EXTERNAL event starts at its start
    time and completes at its end time by itself."""
    status = entry.status
    if status is Status.SCHEDULED and entry.fields.start <= now:
        status = Status.ACTIVE
    if status is Status.ACTIVE and entry.fields.end <= now:
        status = Status.COMPLETED
    return status


def precise_enough(item: Snapshot) -> bool:
    """Whether LL2 knows the item's time to the hour or better."""
    return classify(item.precision_id, item.precision_name).grain in _PRECISE


def has_outcome(item: Snapshot) -> bool:
    """Whether a launch already happened (or failed); events have no outcome status."""
    return item.source is Source.LAUNCH and item.status_id in OUTCOME_STATUSES


def qualifies(item: Snapshot, settings: CalendarSettings, now: datetime) -> bool:
    """Everything but the ``max`` nearest rule: followed, dated precisely, no outcome yet,
    within the horizon."""
    if item.date is None or not settings.follows(item) or not precise_enough(item):
        return False
    if has_outcome(item):
        return False
    return item.date <= now + timedelta(days=settings.horizon_days)


def _changed(old: EventFields, new: EventFields) -> tuple[str, ...]:
    return tuple(n for n in _FIELD_NAMES if getattr(old, n) != getattr(new, n))


def _with_cover(
    wanted: EventFields, item: Snapshot, covers: CoverPolicy | None, applied: str | None
) -> EventFields:
    """``wanted`` with the item's chosen cover, else the one the event shows (never removed)."""
    chosen = choose_cover(item, covers)
    return replace(wanted, cover=applied if chosen is None else chosen)


def _update(
    entry: Entry, item: Snapshot, wanted: EventFields, covers: CoverPolicy | None
) -> Action | None:
    """The UPDATE that turns ``entry``'s fields into ``wanted``, or None if they match."""
    changed = _changed(entry.fields, wanted)
    if not changed:
        return None
    spare = fallbacks(item, covers, entry.fields.cover) if "cover" in changed else ()
    return Action(
        ActionKind.UPDATE,
        entry.item_ref,
        entry.event_id,
        wanted,
        changed,
        cover_fallbacks=spare,
    )


def _resolve_adopted(
    entries: Sequence[Entry], by_ref: Mapping[str, Snapshot], covers: CoverPolicy | None
) -> tuple[list[Entry], list[tuple[str, str]]]:
    """``entries`` with each :data:`ADOPTED_COVER` taken to be the item's chosen cover."""
    resolved: list[Entry] = []
    adopted: list[tuple[str, str]] = []
    for entry in entries:
        item = by_ref.get(entry.item_ref)
        if entry.fields.cover == ADOPTED_COVER and item is not None:
            chosen = choose_cover(item, covers)
            if chosen is not None:
                entry = replace(entry, fields=replace(entry.fields, cover=chosen))
                adopted.append((entry.item_ref, chosen))
        resolved.append(entry)
    return resolved, adopted


def _should_end(entry: Entry, item: Snapshot | None, now: datetime) -> bool:
    """Whether an effectively ACTIVE entry is over (see rules 4 and 5)."""
    if item is None or item.date is None:
        return True
    if item.webcast_live:
        return False
    if has_outcome(item):
        return True
    if item.date > now + SCRUB_THRESHOLD:
        return True  # held or scrubbed after Discord started it: a new event follows
    # Recorded ACTIVE: the bot started it for a live webcast, or saw its webcast live once
    # Discord had started it (seen_live). After T-0, the webcast over means the event is.
    return entry.status is Status.ACTIVE and item.date <= now


@dataclass(frozen=True, slots=True)
class ItemIndex:
    """The upcoming items, indexed once for every guild's plan of one run: by ref, and the
    dated ones by (date, ref). Built by :func:`index_items`."""

    by_ref: Mapping[str, Snapshot]
    by_date: tuple[Snapshot, ...]


def index_items(items: Iterable[Snapshot]) -> ItemIndex:
    """Index ``items`` for :func:`plan_calendar` (the last copy of a ref wins)."""
    by_ref = {item.ref: item for item in items}
    dated = sorted(
        ((item.date, ref, item) for ref, item in by_ref.items() if item.date is not None),
        key=lambda row: (row[0], row[1]),
    )
    return ItemIndex(by_ref, tuple(item for _, _, item in dated))


def plan_calendar(
    items: Iterable[Snapshot] | ItemIndex,
    settings: CalendarSettings,
    entries: Sequence[Entry],
    now: datetime,
    *,
    quiet_period: timedelta = DEFAULT_QUIET_PERIOD,
    room: int = GUILD_EVENT_LIMIT,
    covers: CoverPolicy | None = None,
) -> CalendarPlan:
    """Plan one guild's calendar at ``now`` (see the module docstring).

    ``room`` is how many SCHEDULED or ACTIVE events the bot may hold in the guild without
    crowding out the server's own (Discord's 100 minus the events others made). ``covers``
    None leaves covers alone (none on new events, the current ones kept). ``items`` may come
    as an :class:`ItemIndex`, built once for many guilds (what the calendar job does).
    """
    index = items if isinstance(items, ItemIndex) else index_items(items)
    by_ref = index.by_ref
    entries, adopted_covers = _resolve_adopted(entries, by_ref, covers)
    active = settings.active
    cap = max(0, min(settings.max_events, room)) if active else 0
    actions: list[Action] = []
    holds: list[Hold] = []

    # Items whose event someone else removed (rule 7): never recreated here.
    dismissed = {e.item_ref for e in entries if e.status is Status.CANCELED}
    running: list[Entry] = []  # effectively ACTIVE, kept
    seen_live: list[str] = []  # of those, started by Discord, webcast live now
    frozen: list[Entry] = []  # SCHEDULED, start within MIN_LEAD: Discord starts it soon
    scheduled: dict[str, Entry] = {}  # other SCHEDULED
    for entry in entries:
        status = effective_status(entry, now)
        item = by_ref.get(entry.item_ref)
        if status is Status.ACTIVE:
            if item is None or (active and _should_end(entry, item, now)):
                actions.append(Action(ActionKind.END, entry.item_ref, entry.event_id))
            else:
                running.append(entry)
                if entry.status is Status.SCHEDULED and item.webcast_live:
                    seen_live.append(entry.item_ref)
        elif status is Status.SCHEDULED:
            if item is None or not active or not qualifies(item, settings, now):
                actions.append(Action(ActionKind.DELETE, entry.item_ref, entry.event_id))
            elif entry.fields.start <= now + MIN_LEAD:
                frozen.append(entry)
            else:
                scheduled[entry.item_ref] = entry
        # COMPLETED: the bot's own END; the item may get a new event below. CANCELED: rule 7.

    taken = {e.item_ref for e in running} | {e.item_ref for e in frozen} | dismissed
    # Nearest first; the dated items are in (date, ref) order, so the walk stops at the
    # horizon, or once it has the ``cap`` nearest and every item that has an event here (those
    # beyond the cap lose theirs below), instead of judging every upcoming item per guild.
    candidates: list[Snapshot] = []
    horizon_end = now + timedelta(days=settings.horizon_days)
    unseen = set(scheduled)
    for item in index.by_date if active else ():
        assert item.date is not None  # by_date holds dated items only
        if item.date > horizon_end or (len(candidates) >= cap and not unseen):
            break
        ref = item.ref
        if ref in taken or not qualifies(item, settings, now):
            continue
        if ref in scheduled or item.date > now + MIN_LEAD:
            candidates.append(item)
            unseen.discard(ref)

    slots = cap
    for entry in sorted(running, key=lambda e: (e.fields.start, e.item_ref)):
        if active and slots <= 0:
            actions.append(Action(ActionKind.END, entry.item_ref, entry.event_id))
            continue
        slots -= 1
        item = by_ref.get(entry.item_ref)
        if item is not None and active:
            # Start and end of a running event stay: the start is immutable, and Discord ends
            # it at the end it was given. Name, description, location and cover follow LL2.
            fresh = replace(fields_for(item, entry.fields.start), end=entry.fields.end)
            fresh = _with_cover(fresh, item, covers, entry.fields.cover)
            if (update := _update(entry, item, fresh, covers)) is not None:
                actions.append(update)
    for entry in sorted(frozen, key=lambda e: (e.fields.start, e.item_ref)):
        if slots <= 0:
            actions.append(Action(ActionKind.DELETE, entry.item_ref, entry.event_id))
            continue
        slots -= 1
        item = by_ref[entry.item_ref]
        fresh = replace(
            fields_for(item, entry.fields.start), start=entry.fields.start, end=entry.fields.end
        )
        fresh = _with_cover(fresh, item, covers, entry.fields.cover)
        if (update := _update(entry, item, fresh, covers)) is not None:
            actions.append(update)
        if item.webcast_live:
            actions.append(Action(ActionKind.START, entry.item_ref, entry.event_id))

    for item in candidates:
        mirrored = scheduled.pop(item.ref, None)
        if slots <= 0:
            if mirrored is not None:
                actions.append(Action(ActionKind.DELETE, mirrored.item_ref, mirrored.event_id))
            continue
        slots -= 1
        assert item.date is not None  # qualifies() checked it
        start = max(item.date, now + MIN_LEAD)
        wanted = fields_for(item, start)
        if mirrored is None:
            wanted = _with_cover(wanted, item, covers, None)
            actions.append(
                Action(
                    ActionKind.CREATE,
                    item.ref,
                    None,
                    wanted,
                    start_now=item.webcast_live,
                    cover_fallbacks=fallbacks(item, covers, None),
                )
            )
            continue
        applied = mirrored.fields
        wanted = _with_cover(wanted, item, covers, applied.cover)
        if wanted.start != applied.start:
            urgent = item.webcast_live or min(applied.start, wanted.start) <= (
                now + quiet_period + MIN_LEAD
            )
            since = mirrored.pending_since if mirrored.pending_start == wanted.start else None
            since = now if since is None else since
            # The hold is returned while due too: an edit planned but not sent this run (the
            # run's request budget ran out) keeps its ``since``, not a fresh quiet period.
            holds.append(Hold(item.ref, wanted.start, since))
            if not urgent and now - since < quiet_period:
                wanted = replace(wanted, start=applied.start, end=applied.end)
        if (update := _update(mirrored, item, wanted, covers)) is not None:
            actions.append(update)
        if item.webcast_live:
            actions.append(Action(ActionKind.START, item.ref, mirrored.event_id))
    # Every qualifying SCHEDULED entry was a candidate; none is left, but stay total.
    for entry in scheduled.values():
        actions.append(Action(ActionKind.DELETE, entry.item_ref, entry.event_id))
    return CalendarPlan(
        tuple(actions), tuple(holds), tuple(seen_live), adopted_covers=tuple(adopted_covers)
    )


def apply_plan(
    entries: Sequence[Entry], plan: CalendarPlan, new_ids: Iterable[int] = ()
) -> list[Entry]:
    """``entries`` as they are once Discord accepted every action of ``plan``.

    The adapter records the same outcome action by action; tests use this to check that a
    plan converges. ``new_ids`` supplies event ids for creates (else 1, 2, ... past the
    largest id present).
    """
    state: dict[str, Entry] = {e.item_ref: e for e in entries}
    for ref, url in plan.adopted_covers:
        if ref in state:
            state[ref] = replace(state[ref], fields=replace(state[ref].fields, cover=url))
    # Recorded before any action is sent, as the adapter does: an END in the same plan wins.
    for ref in plan.seen_live:
        if ref in state:
            state[ref] = replace(state[ref], status=Status.ACTIVE)
    ids = iter(new_ids)
    next_id = max((e.event_id for e in entries), default=0)
    for action in plan.actions:
        ref = action.item_ref
        if action.kind is ActionKind.CREATE and action.fields is not None:
            next_id += 1
            status = Status.ACTIVE if action.start_now else Status.SCHEDULED
            state[ref] = Entry(ref, next(ids, next_id), status, action.fields)
        elif action.kind is ActionKind.UPDATE and action.fields is not None:
            state[ref] = replace(
                state[ref], fields=action.fields, pending_start=None, pending_since=None
            )
        elif action.kind is ActionKind.START:
            state[ref] = replace(state[ref], status=Status.ACTIVE)
        elif action.kind is ActionKind.END:
            state[ref] = replace(state[ref], status=Status.COMPLETED)
        elif action.kind is ActionKind.DELETE:
            state.pop(ref, None)
    # A hold whose edit this plan sends is spent.
    sent = {
        a.item_ref for a in plan.actions if a.kind is ActionKind.UPDATE and "start" in a.changed
    }
    held = {h.item_ref: h for h in plan.holds if h.item_ref not in sent}
    result: list[Entry] = []
    for entry in state.values():
        hold = held.get(entry.item_ref)
        if hold is not None:
            entry = replace(entry, pending_start=hold.start, pending_since=hold.since)
        elif entry.pending_start is not None:
            entry = replace(entry, pending_start=None, pending_since=None)
        result.append(entry)
    return result
