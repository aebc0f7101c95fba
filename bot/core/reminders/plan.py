"""The reminder planner: which T-minus reminders go out now, which wait, which are dropped.

Pure: the caller passes the snapshots, the subscriptions, the keys of reminders already sent,
``now`` and ``since`` (when it last planned), and gets a :class:`ReminderPlan` back.

A reminder is one (channel, item, offset, target date): "T-10 min" before a launch set for
12:00 is a different reminder from "T-10 min" before the same launch once it slipped to 13:00.
Its *moment* is the target minus the offset. The rules, in the order :func:`plan_reminders`
applies them:

1. Only items with a date count; a launch counts only while Go (1) or TBC (8): Hold, TBD and
   every finished state get none. Events have no status and always count.
2. Precision gates the offsets: Second and Minute allow every offset, Hour only offsets of 2 h
   or more, anything coarser (or an unstated or unknown precision) none, since a reminder must
   never claim more precision than LL2 has.
3. A reminder whose key was sent never goes out again.
4. A reminder sent for an *earlier* target date of the same (channel, item, offset) is repeated
   for the new date only when its new moment is more than the quiet period after the old one;
   a date that jiggles by a few minutes does not say "T-10 min" twice.
5. A moment still ahead is *armed* (for the caller's scheduling). A moment reached counts once,
   in the run whose window ``(since, now]`` it falls in; moments before ``since`` were either
   handled by that earlier run or skipped over when the date moved earlier, and are never sent
   late.
6. A reached moment fires when it is at most :func:`grace_for` its offset
   (min(5 min, offset / 2)) past and T-0 is still ahead; otherwise it is *dropped* as late
   (the bot was down, or the date moved earlier past it inside this window).
7. Of several reminders of one (channel, item) that could fire at once, only the one nearest
   T-0 (the smallest offset) does; the others are dropped as superseded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bot.core.planner.types import Lookout
from bot.core.render.when import Grain, classify
from bot.core.routing import DEFAULT_QUIET_PERIOD, follows, nonce_for
from bot.core.snapshot import Snapshot, Source, as_utc_iso
from bot.core.subscriptions import Subscription

# Launch statuses that still lead to a T-0 worth counting down to: Go and To Be Confirmed.
COUNTING_STATUSES = frozenset({1, 8})
# Precisions whose time is exact enough for every offset, and the least offset an hour allows.
_EXACT_GRAINS = frozenset({Grain.SECOND, Grain.MINUTE})
HOUR_PRECISION_MIN_OFFSET = 120
MAX_GRACE = timedelta(minutes=5)

_KEY_PREFIX = "reminder"


@dataclass(frozen=True, slots=True)
class ReminderKey:
    """The identity of one reminder: channel, item, offset (minutes) and the target date."""

    channel_id: int
    item_ref: str
    offset_minutes: int
    target: datetime

    @property
    def moment(self) -> datetime:
        """When the reminder is due: ``offset_minutes`` before the target."""
        return self.target - timedelta(minutes=self.offset_minutes)

    @property
    def dedup_key(self) -> str:
        """``reminder:<channel>:<item ref>:<offset>m:<target, UTC ISO>``: deterministic.

        The ``reminder:`` prefix keeps it apart from routing's ``<channel>:…`` outbox keys.
        """
        target = as_utc_iso(self.target)
        return f"{_KEY_PREFIX}:{self.channel_id}:{self.item_ref}:{self.offset_minutes}m:{target}"

    @classmethod
    def from_dedup_key(cls, key: str) -> ReminderKey:
        """Read a :attr:`dedup_key` back (the adapter stores keys, the planner wants fields).

        Raises ValueError for a key that is not a reminder's.
        """
        parts = key.split(":", 5)
        if len(parts) != 6 or parts[0] != _KEY_PREFIX or not parts[4].endswith("m"):
            raise ValueError(f"not a reminder key: {key!r}")
        _, channel, source, item_id, offset, target = parts
        parsed = datetime.fromisoformat(target.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError(f"reminder key without a time zone: {key!r}")
        return cls(
            channel_id=int(channel),
            item_ref=f"{Source(source).value}:{item_id}",
            offset_minutes=int(offset[:-1]),
            target=parsed.astimezone(UTC),
        )


@dataclass(frozen=True, slots=True)
class Reminder:
    """One reminder for one channel, with what the sender needs.

    ``subscription_id`` is the lowest id among the channel's subscriptions that asked for this
    offset, and ``role_ids`` are their roles: overlapping subscriptions send one reminder.
    """

    key: ReminderKey
    guild_id: int
    subscription_id: int
    role_ids: tuple[int, ...]
    item: Snapshot

    @property
    def moment(self) -> datetime:
        """When the reminder is due."""
        return self.key.moment

    @property
    def dedup_key(self) -> str:
        """The outbox dedup key (see :attr:`ReminderKey.dedup_key`)."""
        return self.key.dedup_key

    @property
    def nonce(self) -> str:
        """The Discord message nonce, derived from the dedup key like routing's."""
        return nonce_for(self.dedup_key)


class DropReason(StrEnum):
    """Why a reached reminder is not sent."""

    LATE = "late"  # its moment is more than the grace past (downtime, or an earlier date)
    SUPERSEDED = "superseded"  # a reminder nearer T-0 fires for the same channel and item
    REPEAT = "repeat"  # sent for a date only a quiet period earlier (rule 4)


@dataclass(frozen=True, slots=True)
class DroppedReminder:
    """A reminder whose moment was reached in this window but that will not be sent."""

    reminder: Reminder
    reason: DropReason


@dataclass(frozen=True, slots=True)
class ReminderPlan:
    """The planner's answer for one run.

    ``due``: send now (one per channel and item at most), soonest moment first.
    ``armed``: moments still ahead, soonest first; plan again at :attr:`next_moment`.
    ``dropped``: reached in this window but not sent, for the adapter to log.
    """

    due: tuple[Reminder, ...] = ()
    armed: tuple[Reminder, ...] = ()
    dropped: tuple[DroppedReminder, ...] = ()

    @property
    def next_moment(self) -> datetime | None:
        """The earliest armed moment: when planning again can next make something due."""
        return self.armed[0].moment if self.armed else None

    def lookouts(self) -> tuple[Lookout, ...]:
        """One poll-planner :class:`~bot.core.planner.types.Lookout` per armed moment of an
        item (channels and subscriptions sharing it share the read), soonest first: the
        planner then reads the item's source shortly before, so a slip published a few
        minutes ahead moves the reminder instead of making a wrong one."""
        seen: dict[tuple[str, datetime], Lookout] = {}
        for reminder in self.armed:
            key = (reminder.item.ref, reminder.moment)
            if key not in seen:
                seen[key] = Lookout(reminder.item.source, reminder.moment, reminder.key.target)
        return tuple(seen.values())


def grace_for(offset_minutes: int) -> timedelta:
    """How late a reminder may still go out: min(5 min, half its offset).

    Half the offset keeps "T-2 min" from arriving at T-0; five minutes keeps "T-24 h" honest.
    """
    return min(MAX_GRACE, timedelta(minutes=offset_minutes) / 2)


def allowed_offsets(item: Snapshot, offsets: Iterable[int]) -> tuple[int, ...]:
    """The offsets ``item`` may get reminders for, by its status and precision (rules 1 and 2)."""
    if item.date is None:
        return ()
    if item.source is Source.LAUNCH and item.status_id not in COUNTING_STATUSES:
        return ()
    grain = classify(item.precision_id, item.precision_name).grain
    if grain in _EXACT_GRAINS:
        return tuple(offsets)
    if grain is Grain.HOUR:
        return tuple(o for o in offsets if o >= HOUR_PRECISION_MIN_OFFSET)
    return ()


def plan_reminders(
    snapshots: Iterable[Snapshot],
    subscriptions: Sequence[Subscription],
    sent: Iterable[ReminderKey],
    now: datetime,
    *,
    since: datetime | None = None,
    quiet_period: timedelta = DEFAULT_QUIET_PERIOD,
) -> ReminderPlan:
    """Plan reminders at ``now`` (see the module docstring for the rules).

    ``sent``: keys of reminders already sent (any target date; older ones feed rule 4).
    ``since``: the ``now`` of the previous run, stored by the caller together with what that
    run sent; a moment counts in exactly one run's window ``(since, now]``. ``None`` (nothing
    recorded yet) opens the window :data:`MAX_GRACE` back, the furthest any reminder may be late.
    One snapshot per item: a repeated item keeps its first snapshot.
    """
    start = now - MAX_GRACE if since is None else min(since, now)
    sent_keys = set(sent)
    last_sent = _last_sent_moments(sent_keys)
    with_reminders = [s for s in subscriptions if s.enabled and s.reminders]

    due: list[Reminder] = []
    armed: list[Reminder] = []
    dropped: list[DroppedReminder] = []
    seen: set[str] = set()
    for item in snapshots:
        if item.ref in seen or item.date is None or item.date <= start:
            continue  # nothing of a T-0 before the window can be due, armed or dropped
        seen.add(item.ref)
        for reminders in _channel_reminders(item, item.date.astimezone(UTC), with_reminders):
            fire: list[Reminder] = []
            for reminder in reminders:
                key = reminder.key
                if key in sent_keys:
                    continue
                if key.moment > now:
                    if not _is_repeat(key, last_sent, quiet_period):
                        armed.append(reminder)
                    continue
                if key.moment <= start:
                    continue  # handled by an earlier run, or skipped over by a date move
                if _is_repeat(key, last_sent, quiet_period):
                    dropped.append(DroppedReminder(reminder, DropReason.REPEAT))
                elif now - key.moment <= grace_for(key.offset_minutes) and key.target > now:
                    fire.append(reminder)
                else:
                    dropped.append(DroppedReminder(reminder, DropReason.LATE))
            if fire:
                nearest = min(fire, key=lambda r: r.key.offset_minutes)
                due.append(nearest)
                dropped.extend(
                    DroppedReminder(r, DropReason.SUPERSEDED) for r in fire if r is not nearest
                )
    return ReminderPlan(
        due=tuple(sorted(due, key=_order)),
        armed=tuple(sorted(armed, key=_order)),
        dropped=tuple(sorted(dropped, key=lambda d: _order(d.reminder))),
    )


def _channel_reminders(
    item: Snapshot, target: datetime, subs: Sequence[Subscription]
) -> list[list[Reminder]]:
    """Per channel following ``item``, one reminder per allowed offset, all for ``target``."""
    # channel -> offset -> the subscriptions asking for it
    wanted: dict[int, dict[int, list[Subscription]]] = {}
    for sub in subs:
        if not follows(sub, item):
            continue
        for offset in allowed_offsets(item, sub.reminders):
            wanted.setdefault(sub.channel_id, {}).setdefault(offset, []).append(sub)
    out = []
    for channel_id in sorted(wanted):
        reminders = []
        for offset, asking in sorted(wanted[channel_id].items()):
            first = min(asking, key=lambda s: s.id)
            reminders.append(
                Reminder(
                    key=ReminderKey(channel_id, item.ref, offset, target),
                    guild_id=first.guild_id,
                    subscription_id=first.id,
                    role_ids=tuple(sorted({s.role_id for s in asking if s.role_id is not None})),
                    item=item,
                )
            )
        out.append(reminders)
    return out


def _last_sent_moments(sent: Iterable[ReminderKey]) -> dict[tuple[int, str, int], datetime]:
    """(channel, item, offset) -> the latest moment a reminder of theirs was sent for."""
    latest: dict[tuple[int, str, int], datetime] = {}
    for key in sent:
        triple = (key.channel_id, key.item_ref, key.offset_minutes)
        if triple not in latest or key.moment > latest[triple]:
            latest[triple] = key.moment
    return latest


def _is_repeat(
    key: ReminderKey, last_sent: dict[tuple[int, str, int], datetime], quiet: timedelta
) -> bool:
    # Compared with the old *moment*, not with now: the answer must not change as time passes,
    # or a re-armed reminder would be withheld once its moment came within the quiet period.
    previous = last_sent.get((key.channel_id, key.item_ref, key.offset_minutes))
    return previous is not None and key.moment <= previous + quiet


def _order(reminder: Reminder) -> tuple[datetime, int, str, int]:
    key = reminder.key
    return (key.moment, key.channel_id, key.item_ref, key.offset_minutes)
