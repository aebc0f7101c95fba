"""Routing: which channel gets which changes, as one :class:`Delivery` per channel and item.

Pure: the poller calls :func:`route` with one poll's changes and the current subscriptions, and
writes the resulting deliveries to the outbox in the same transaction as the new snapshot. The
outbox worker uses :func:`nonce_for` when sending and :func:`coalesce_date_slip` to merge a date
that slips again before the earlier slip went out.

Grouping rules:

- A channel gets one delivery per item per poll, however many of its subscriptions match and
  however many changes the item had: overlapping subscriptions must not double-post, and three
  changes to one item read better as one message (the renderer splits it only if Discord's
  limits force it).
- A delivery mentions the role of every subscription of that channel that matched at least one
  of its changes, so a "webcast pings @Watchers" subscription and a "date changes ping
  @Planners" subscription both get what they asked for when one message carries both.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, model_validator

from bot.core.changes import ALERT_KINDS, Change, ChangeKind
from bot.core.snapshot import Snapshot, Source
from bot.core.subscriptions import Subscription

# How long an unsent date change waits for another slip of the same item to merge with.
DEFAULT_QUIET_PERIOD = timedelta(minutes=10)

# Discord keeps a message nonce of at most 25 characters.
NONCE_MAX_LENGTH = 25

# Order of changes inside one delivery: what a reader most needs first. Kinds outside
# ALERT_KINDS never reach a delivery, but rank them last rather than fail.
_KIND_RANK: dict[ChangeKind, int] = {kind: rank for rank, kind in enumerate(ALERT_KINDS)}


class Delivery(BaseModel):
    """One future Discord message: some changes to one item, for one channel.

    ``dedup_key`` is deterministic (channel, item and the sorted identities of the changes), so
    a poll that is replayed after a crash produces the same key and the outbox ignores it.
    ``subscription_id`` is the lowest id among the matching subscriptions of the channel: the
    one the delivery is attributed to (logs, "disable after 403").
    """

    model_config = ConfigDict(frozen=True)

    guild_id: int
    channel_id: int
    subscription_id: int
    role_ids: tuple[int, ...]
    item_ref: str
    changes: tuple[Change, ...]
    dedup_key: str

    @model_validator(mode="after")
    def _one_item(self) -> Delivery:
        # A delivery renders as a message about one item; mixing items would garble it.
        strays = [c.identity for c in self.changes if _item_ref(c) != self.item_ref]
        if strays:
            raise ValueError(f"changes {strays} do not belong to {self.item_ref}")
        return self

    @property
    def nonce(self) -> str:
        """The Discord message nonce for this delivery (see :func:`nonce_for`)."""
        return nonce_for(self.dedup_key)


def matches(sub: Subscription, change: Change) -> bool:
    """Whether ``sub`` asks for ``change``.

    A paused subscription matches nothing, and neither does a bookkeeping-only change such as
    ``webcast_ended``. Event subscriptions filter on the event type, launch subscriptions on the
    launch service provider; ``None`` means "all", and an item whose type or provider LL2 left
    null passes only the "all" filter.
    """
    if not change.alertable or change.kind not in sub.kinds:
        return False
    return follows(sub, change.item)


def follows(sub: Subscription, item: Snapshot) -> bool:
    """Whether ``sub`` is about ``item`` at all, whatever the alert kind.

    The filter half of :func:`matches`, shared with the reminder planner so both agree on which
    items a subscription covers: a paused subscription follows nothing; events are filtered by
    type, launches by provider; ``None`` means "all", and an item whose type or provider LL2 left
    null passes only the "all" filter.
    """
    if not sub.enabled or item.source not in sub.sources:
        return False
    if item.source is Source.EVENT:
        wanted, actual = sub.event_types, item.type_id
    else:
        wanted, actual = sub.providers, item.provider_id
    return wanted is None or (actual is not None and actual in wanted)


def route(changes: Sequence[Change], subs: Sequence[Subscription]) -> list[Delivery]:
    """Turn one poll's changes into deliveries: one per (channel, item) with a matching change.

    The same change listed twice (same identity) is routed once. Deliveries come out in the
    order their items first appear in ``changes``, then by channel id; the order of changes
    inside a delivery does not depend on the input order.
    """
    unique = _unique(changes)
    # (channel, item) -> matched changes and the subscriptions that matched any of them.
    groups: dict[tuple[int, str], tuple[dict[str, Change], dict[int, Subscription]]] = {}
    item_order: dict[str, int] = {}
    for change in unique:
        ref = _item_ref(change)
        item_order.setdefault(ref, len(item_order))
        for sub in subs:
            if not matches(sub, change):
                continue
            found, matched = groups.setdefault((sub.channel_id, ref), ({}, {}))
            found[change.identity] = change
            matched[sub.id] = sub
    deliveries = []
    for (channel_id, ref), (found, matched) in groups.items():
        first = matched[min(matched)]
        deliveries.append(
            _make_delivery(
                guild_id=first.guild_id,
                channel_id=channel_id,
                subscription_id=first.id,
                role_ids=(s.role_id for s in matched.values()),
                item_ref=ref,
                changes=found.values(),
            )
        )
    deliveries.sort(key=lambda d: (item_order[d.item_ref], d.channel_id))
    return deliveries


def dedup_key_for(channel_id: int, item_ref: str, changes: Iterable[Change]) -> str:
    """``channel:item:hash``, where the hash covers the sorted, distinct change identities."""
    identities = sorted({c.identity for c in changes})
    digest = hashlib.blake2b("\n".join(identities).encode(), digest_size=8).hexdigest()
    return f"{channel_id}:{item_ref}:{digest}"


def nonce_for(dedup_key: str) -> str:
    """A Discord nonce for ``dedup_key``: 24 lowercase base32 characters, the same everywhere.

    Derived with BLAKE2b (not Python's salted ``hash()``), so a process restarted after a crash
    sends the same nonce and Discord returns the message it already created. 120 bits keep
    accidental collisions out of reach while staying under Discord's 25-character limit.
    """
    digest = hashlib.blake2b(dedup_key.encode(), digest_size=15, person=b"spacecast-nonce").digest()
    return base64.b32encode(digest).decode("ascii").lower()


def coalesce_date_slip(
    pending: Delivery,
    new: Delivery,
    now: datetime,
    quiet_period: timedelta = DEFAULT_QUIET_PERIOD,
) -> Delivery | None:
    """Merge a new date slip into a still-unsent one for the same channel and item.

    Readers should see "A → C" once, not "A → B" and then "B → C" a few minutes apart.

    Returns ``None`` (send both as they are) unless all of these hold:

    - both deliveries are for the same channel and item;
    - both carry a ``date_changed`` change;
    - ``now`` is at most ``quiet_period`` after the pending slip was detected. The window is
      anchored at the *first* slip and the merged change keeps that detection time, so a date
      that keeps slipping is still announced within one quiet period of its first move instead
      of being postponed for ever.

    Otherwise returns the merged delivery, to replace ``pending`` in the outbox:

    - its ``date_changed`` change is the new one (newest date, precision and item snapshot) with
      the pending one's original old date, old precision and detection time, and the version
      ``"{pending version}+{new version}"`` (unique, deterministic, and distinct from any
      single slip's version);
    - if the newest date and precision equal the original ones, the date change disappears:
      the item slipped and came back, which is no news;
    - every other change of both deliveries is kept once per identity (the newer copy wins);
    - the roles are the union of both, the subscription id the lower, the dedup key recomputed.

    The merged delivery may have no changes at all (a slip that reverted, with nothing else
    pending): the caller then drops the pending row and sends nothing. Whether a delivery is
    held back long enough to be coalesced is the worker's policy; holding only deliveries made
    of date changes keeps webcast alerts instant.
    """
    if (pending.channel_id, pending.item_ref) != (new.channel_id, new.item_ref):
        return None
    earlier = [c for c in pending.changes if c.kind is ChangeKind.DATE_CHANGED]
    later = [c for c in new.changes if c.kind is ChangeKind.DATE_CHANGED]
    if not earlier or not later:
        return None
    first = min(earlier, key=lambda c: c.detected_at)
    if now - first.detected_at > quiet_period:
        return None
    last = max(later, key=lambda c: c.detected_at)

    kept: dict[str, Change] = {}
    for change in (*pending.changes, *new.changes):
        if change.kind is not ChangeKind.DATE_CHANGED:
            kept[change.identity] = change
    reverted = first.old_date == last.new_date and first.old_precision == last.new_precision
    if not reverted:
        merged = last.model_copy(
            update={
                "old_date": first.old_date,
                "old_precision": first.old_precision,
                "detected_at": first.detected_at,
                # Both versions, not the newest alone: "B>C" would claim an identity that a
                # later genuine B -> C slip also has, and the outbox would drop that one.
                "version": f"{first.version}+{last.version}",
            }
        )
        kept[merged.identity] = merged
    return _make_delivery(
        guild_id=pending.guild_id,
        channel_id=pending.channel_id,
        subscription_id=min(pending.subscription_id, new.subscription_id),
        role_ids=(*pending.role_ids, *new.role_ids),
        item_ref=pending.item_ref,
        changes=kept.values(),
    )


def _make_delivery(
    *,
    guild_id: int,
    channel_id: int,
    subscription_id: int,
    role_ids: Iterable[int | None],
    item_ref: str,
    changes: Iterable[Change],
) -> Delivery:
    ordered = tuple(sorted(changes, key=_change_order))
    return Delivery(
        guild_id=guild_id,
        channel_id=channel_id,
        subscription_id=subscription_id,
        role_ids=tuple(sorted({r for r in role_ids if r is not None})),
        item_ref=item_ref,
        changes=ordered,
        dedup_key=dedup_key_for(channel_id, item_ref, ordered),
    )


def _change_order(change: Change) -> tuple[int, int, str]:
    # Most urgent kind first; updates oldest first (LL2 update ids grow over time); identity
    # breaks the remaining ties so the order never depends on the input order.
    update_id = change.update.id if change.update is not None else -1
    return (_KIND_RANK.get(change.kind, len(_KIND_RANK)), update_id, change.identity)


def _item_ref(change: Change) -> str:
    return f"{change.source.value}:{change.item_id}"


def _unique(changes: Iterable[Change]) -> list[Change]:
    seen: dict[str, Change] = {}
    for change in changes:
        seen.setdefault(change.identity, change)
    return list(seen.values())
