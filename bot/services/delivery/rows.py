"""Routed deliveries in and out of the outbox: rows, payloads, date-slip coalescing, rendering.

The poller calls :func:`enqueue_deliveries` inside its poll transaction::

    async with store.transaction() as tx:
        ...
        await enqueue_deliveries(tx, route(fresh, subs), now, quiet_period)

The worker calls :func:`row_to_delivery` on each claimed row. A row's payload is the JSON of the
delivery's changes (each with its item snapshot), so rendering needs nothing but the row: the
message reflects the item as it was when the change was seen, even if the snapshot moved on.

**Holding date slips.** A delivery made only of date changes is held for the quiet period
(anchored at its first slip) before it becomes due: a date that slips again meanwhile is merged
into it (:func:`~bot.core.routing.coalesce_date_slip`), so readers see "A → C" once instead of
"A → B" then "B → C". Anything else (a webcast going live, a new update) is due at once, and
merging such a change into a held row makes the row due at once too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.core.changes import Change, ChangeKind
from bot.core.deadlines import deadline_for
from bot.core.reminders import Reminder, grace_for
from bot.core.render import CONTENT_MAX, MessageData, render_message, render_reminder, truncate
from bot.core.routing import Delivery, coalesce_date_slip, nonce_for
from bot.core.snapshot import Snapshot
from bot.store import OutboxRow, Store
from bot.store.delivery_queries import bring_forward, cancel_pending

log = logging.getLogger(__name__)

# Bump when the payload shape changes; row_to_delivery refuses shapes it does not know.
PAYLOAD_VERSION = 1


class PayloadError(ValueError):
    """An outbox row whose payload cannot be turned back into a delivery."""


def is_date_only(changes: Iterable[Change]) -> bool:
    """Whether every change is a date change (such a delivery may wait to be coalesced)."""
    kinds = {c.kind for c in changes}
    return kinds == {ChangeKind.DATE_CHANGED}


def due_at(delivery: Delivery, now: datetime, hold: timedelta) -> datetime:
    """When a new row for ``delivery`` should first be tried.

    Date-only deliveries wait until ``hold`` after their earliest slip was detected (never
    before ``now``); everything else is due ``now``.
    """
    if hold <= timedelta(0) or not is_date_only(delivery.changes):
        return now
    first_seen = min(c.detected_at for c in delivery.changes)
    return max(now, first_seen + hold)


def delivery_payload(delivery: Delivery) -> dict[str, Any]:
    """The JSON payload stored in the outbox row for ``delivery``."""
    return {
        "v": PAYLOAD_VERSION,
        # Kept in the payload too: the row's column turns NULL if the subscription is deleted,
        # but Delivery needs an attribution.
        "subscription_id": delivery.subscription_id,
        "role_ids": list(delivery.role_ids),
        "changes": [c.model_dump(mode="json") for c in delivery.changes],
    }


def delivery_to_row(
    delivery: Delivery,
    now: datetime,
    hold: timedelta = timedelta(0),
    deadlines: Mapping[ChangeKind, int] | None = None,
) -> OutboxRow:
    """One pending outbox row for ``delivery`` (see :func:`due_at` for ``hold``).

    ``deadlines`` (minutes per kind, see :func:`~bot.core.deadlines.deadline_for`) sets when
    the row stops being worth sending; without it the row never expires.
    """
    kinds = frozenset(c.kind for c in delivery.changes)
    return OutboxRow(
        dedup_key=delivery.dedup_key,
        guild_id=delivery.guild_id,
        channel_id=delivery.channel_id,
        # 0 is a feed post's (bot.core.feed): no subscription row, so the column stays NULL.
        subscription_id=delivery.subscription_id or None,
        item_ref=delivery.item_ref,
        kinds=kinds,
        payload=delivery_payload(delivery),
        # The column holds one role (for queries and logs); the payload holds them all.
        role_id=delivery.role_ids[0] if delivery.role_ids else None,
        next_attempt_at=due_at(delivery, now, hold),
        deadline=None if deadlines is None else deadline_for(kinds, now, deadlines),
        created_at=now,
    )


def deliveries_to_rows(
    deliveries: Iterable[Delivery],
    now: datetime,
    hold: timedelta = timedelta(0),
    deadlines: Mapping[ChangeKind, int] | None = None,
) -> list[OutboxRow]:
    """Outbox rows for ``deliveries``, in order (``hold`` delays date-only rows)."""
    return [delivery_to_row(d, now, hold, deadlines) for d in deliveries]


def row_to_delivery(row: OutboxRow) -> Delivery:
    """The delivery stored in ``row``; raises :class:`PayloadError` if the payload is unusable."""
    payload = row.payload
    if payload.get("v") != PAYLOAD_VERSION:
        raise PayloadError(f"outbox row {row.id}: unknown payload version {payload.get('v')!r}")
    try:
        changes = tuple(Change.model_validate(c) for c in payload["changes"])
        subscription_id = row.subscription_id
        if subscription_id is None:
            subscription_id = int(payload["subscription_id"])
        return Delivery(
            guild_id=row.guild_id,
            channel_id=row.channel_id,
            subscription_id=subscription_id,
            role_ids=tuple(int(r) for r in payload.get("role_ids", ())),
            item_ref=row.item_ref,
            changes=changes,
            dedup_key=row.dedup_key,
        )
    except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise PayloadError(f"outbox row {row.id}: unreadable payload: {exc}") from exc


def reminder_payload(reminder: Reminder) -> dict[str, Any]:
    """The JSON payload of a reminder row: the item as it was when the reminder was queued."""
    return {
        "v": PAYLOAD_VERSION,
        "reminder": {
            "offset_minutes": reminder.key.offset_minutes,
            "target": reminder.key.target.isoformat(),
            "item": reminder.item.model_dump(mode="json"),
        },
        "subscription_id": reminder.subscription_id,
        "role_ids": list(reminder.role_ids),
    }


def reminder_to_row(reminder: Reminder, now: datetime) -> OutboxRow:
    """One pending outbox row for ``reminder``, due now.

    Its deadline is the end of the reminder's grace, and never after T-0: a "T-10 min" that
    could only arrive after the launch is noise, so it expires instead.
    """
    deadline = min(reminder.moment + grace_for(reminder.key.offset_minutes), reminder.key.target)
    return OutboxRow(
        dedup_key=reminder.dedup_key,
        guild_id=reminder.guild_id,
        channel_id=reminder.key.channel_id,
        subscription_id=reminder.subscription_id,
        item_ref=reminder.item.ref,
        kinds=frozenset(),  # a reminder is not a change of the item
        payload=reminder_payload(reminder),
        role_id=reminder.role_ids[0] if reminder.role_ids else None,
        next_attempt_at=now,
        deadline=max(deadline, now),
        created_at=now,
    )


def is_reminder(row: OutboxRow) -> bool:
    """Whether ``row`` holds a reminder rather than change alerts."""
    return "reminder" in row.payload


def render_reminder_row(row: OutboxRow) -> list[MessageData]:
    """The message of a reminder row; raises :class:`PayloadError` if the payload is unusable."""
    payload = row.payload
    if payload.get("v") != PAYLOAD_VERSION:
        raise PayloadError(f"outbox row {row.id}: unknown payload version {payload.get('v')!r}")
    try:
        reminder = payload["reminder"]
        item = Snapshot.model_validate(reminder["item"])
        offset = int(reminder["offset_minutes"])
        roles = tuple(int(r) for r in payload.get("role_ids", ()))
        return [render_reminder(item, offset, roles)]
    except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise PayloadError(f"outbox row {row.id}: unreadable reminder: {exc}") from exc


def part_nonce(dedup_key: str, index: int) -> str:
    """The nonce of part ``index`` of a row: the delivery's own nonce for the first part."""
    return nonce_for(dedup_key if index == 0 else f"{dedup_key}#{index}")


def render_delivery(delivery: Delivery, now: datetime) -> list[MessageData]:
    """The messages for ``delivery``, mentioning every role it carries in the first one.

    :func:`~bot.core.render.compose.render_message` takes one role; a delivery matched by several
    subscriptions of a channel carries several, so their mentions are put in front here.
    """
    roles = delivery.role_ids
    if len(roles) <= 1:
        return render_message(delivery.changes, roles[0] if roles else None, now)
    messages = render_message(delivery.changes, None, now)
    if not messages:
        return messages
    mentions = " ".join(f"<@&{r}>" for r in roles)
    first = messages[0]
    content = truncate(f"{mentions} {first.content or ''}".rstrip(), CONTENT_MAX)
    return [MessageData(content, first.embeds, first.buttons), *messages[1:]]


async def enqueue_deliveries(
    tx: Store,
    deliveries: Sequence[Delivery],
    now: datetime,
    quiet_period: timedelta,
    deadlines: Mapping[ChangeKind, int] | None = None,
) -> int:
    """Write one poll's deliveries to the outbox, merging date slips into held rows.

    Call it with the poll's transaction. For each delivery carrying a date change, the newest
    pending row of the same channel and item with a date change is looked up and, if it holds
    only date changes (so it is still held back) and is inside its quiet period, merged with
    :func:`~bot.core.routing.coalesce_date_slip`:

    - merged into nothing (the date came back): the pending row is cancelled;
    - merged: the pending row takes the merged content (and is made due now if the merge
      holds anything but date changes);
    - not mergeable, or the merged key already exists: the delivery gets a row of its own.

    Everything else is enqueued as is, with its deadline from ``deadlines`` (a merged row keeps
    the deadline of the row it merged into); replayed deliveries (same dedup key) are ignored.
    Returns how many deliveries were written: new rows plus merges into held rows.
    """
    fresh: list[Delivery] = []
    coalesced = withdrawn = 0
    for delivery in deliveries:
        outcome = await _coalesce(tx, delivery, now, quiet_period)
        if outcome == "merged":
            coalesced += 1
        elif outcome == "withdrawn":
            withdrawn += 1
        else:
            fresh.append(delivery)
    enqueued = await tx.enqueue(deliveries_to_rows(fresh, now, quiet_period, deadlines))
    if coalesced or withdrawn:
        log.info(
            "date slips coalesced",
            extra={"enqueued": enqueued, "coalesced": coalesced, "withdrawn": withdrawn},
        )
    return enqueued + coalesced


async def _coalesce(tx: Store, new: Delivery, now: datetime, quiet_period: timedelta) -> str | None:
    if not any(c.kind is ChangeKind.DATE_CHANGED for c in new.changes):
        return None
    row = await tx.find_pending_for_item(new.channel_id, new.item_ref, ChangeKind.DATE_CHANGED)
    if row is None or row.id is None or row.dedup_key == new.dedup_key:
        return None
    if row.kinds != {ChangeKind.DATE_CHANGED}:
        # A row with more than date changes was due at once: it is being sent or about to be,
        # and rewriting it now would only make the worker send it twice.
        return None
    try:
        pending = row_to_delivery(row)
    except PayloadError:
        return None  # an unreadable row is the worker's problem; do not build on it
    merged = coalesce_date_slip(pending, new, now, quiet_period)
    if merged is None:
        return None
    if not merged.changes:
        cancelled = await cancel_pending(tx, row.id, f"withdrawn: date restored by {new.dedup_key}")
        return "withdrawn" if cancelled else None
    updated = await tx.update_payload(
        row.id,
        delivery_payload(merged),
        merged.dedup_key,
        role_id=merged.role_ids[0] if merged.role_ids else None,
        kinds={c.kind for c in merged.changes},
    )
    if not updated:
        return None
    if not is_date_only(merged.changes):
        await bring_forward(tx, row.id, now)
    return "merged"
