"""Live cards through the outbox: queue card edits and pointers, and send them exactly once.

**Queueing** (the poller, in its poll transaction): :func:`enqueue_card_deliveries` takes the
deliveries routed to card subscriptions, folds each into its card with
:func:`~bot.core.cards.plan_card`, stores the new state, and writes

- one *card row* (dedup key ``channel:item:card:generation:version``), which supersedes any
  card row of the same card still waiting (unclaimed): the new row keeps the earlier due time,
  so a date change held for the quiet period still goes out when its hold ends, merged;
- one *pointer row* per moment that pings (webcast live, outcome), after the card row, so a
  channel's worker posts or edits the card first and the pointer can reply to it.

**Sending** (the worker): :class:`CardSender` renders the card's *current* state (not the
row's), so whatever changed meanwhile is in the edit, and

- posts it when the card's current generation has no message yet, with a nonce derived from
  (channel, item, generation, reposts): a crash between Discord's answer and the write posts
  again with the same nonce and Discord hands back the same message;
- else PATCHes it (idempotent: a crash between Discord's answer and the write repeats the
  same PATCH), unless the message already shows this version;
- on 404 Unknown Message (deleted by a moderator) posts it afresh once; a second deletion
  freezes the card instead of posting it in a loop;
- on 30046 (Discord's cap on edits of messages older than an hour) posts a fresh card and
  carries on editing that one.

Every request goes through the worker's pacing (``paced``), so edits count towards the same
per-channel and global limits as posts.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bot.core.cards import (
    OVER_AFTER,
    CardEdit,
    CardState,
    FreezeReason,
    Pointer,
    PointerKind,
    jump_url,
    plan_card,
    plan_retirement,
    render_card,
    render_pointer,
)
from bot.core.changes import Change, ChangeKind
from bot.core.deadlines import deadline_for
from bot.core.routing import Delivery, nonce_for
from bot.discord_ui.sender import (
    EditLimitReached,
    MessageEditor,
    MessageSender,
    PermanentSendError,
    TransientSendError,
    UnknownMessage,
)
from bot.services.delivery.rows import is_reminder, part_nonce, render_reminder_row
from bot.store import OutboxRow, Store
from bot.store.cards import StoredCard
from bot.store.delivery_queries import cancel_pending

log = logging.getLogger("bot.delivery")

PAYLOAD_VERSION = 1
CARD_KEY = "card"
POINTER_KEY = "card_pointer"

T = TypeVar("T")
Paced = Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]


def is_card_row(row: OutboxRow) -> bool:
    """Whether ``row`` is a card edit or a card pointer (sent by :class:`CardSender`)."""
    return CARD_KEY in row.payload or POINTER_KEY in row.payload


def card_row(
    state: CardState, subscription_id: int | None, edit: CardEdit, due: datetime, now: datetime
) -> OutboxRow:
    """The outbox row that brings the card up to ``edit.version``. Cards never expire."""
    return OutboxRow(
        dedup_key=edit.dedup_key,
        guild_id=state.guild_id,
        channel_id=state.channel_id,
        subscription_id=subscription_id,
        item_ref=state.item_ref,
        kinds=edit.kinds,
        payload={
            "v": PAYLOAD_VERSION,
            CARD_KEY: {"version": edit.version, "generation": edit.generation},
            "subscription_id": subscription_id,
        },
        next_attempt_at=due,
        created_at=now,
    )


def pointer_row(
    delivery: Delivery,
    pointer: Pointer,
    now: datetime,
    deadlines: Mapping[ChangeKind, int] | None,
) -> OutboxRow:
    """The outbox row of one pointer message, due now, with the kind's deadline."""
    kinds = frozenset({pointer.change.kind})
    return OutboxRow(
        dedup_key=pointer.dedup_key,
        guild_id=delivery.guild_id,
        channel_id=delivery.channel_id,
        subscription_id=delivery.subscription_id,
        item_ref=delivery.item_ref,
        kinds=kinds,
        payload={
            "v": PAYLOAD_VERSION,
            POINTER_KEY: {
                "kind": pointer.kind.value,
                "change": pointer.change.model_dump(mode="json"),
            },
            "subscription_id": delivery.subscription_id,
            "role_ids": list(delivery.role_ids),
        },
        role_id=delivery.role_ids[0] if delivery.role_ids else None,
        next_attempt_at=now,
        deadline=None if deadlines is None else deadline_for(kinds, now, deadlines),
        created_at=now,
    )


async def _queue_edit(
    tx: Store, state: CardState, subscription_id: int | None, edit: CardEdit, now: datetime
) -> int:
    due = edit.due_at
    kinds = set(edit.kinds)
    for row in await tx.waiting_card_rows(state.channel_id, state.item_ref):
        assert row.id is not None
        if row.claim_owner is not None and row.next_attempt_at > now:
            continue  # being sent right now: it will render the newest state anyway
        if await cancel_pending(tx, row.id, f"superseded by card version {edit.version}"):
            due = min(due, max(row.next_attempt_at, now))
            kinds |= row.kinds
    row = card_row(state, subscription_id, edit, due, now)
    return await tx.enqueue([row.model_copy(update={"kinds": frozenset(kinds)})])


async def enqueue_card_deliveries(
    tx: Store,
    deliveries: Sequence[Delivery],
    now: datetime,
    quiet_period: timedelta,
    deadlines: Mapping[ChangeKind, int] | None = None,
) -> int:
    """Fold card subscriptions' deliveries into their cards and queue edits and pointers.

    Call it with the poll's transaction (see the module docstring). Returns how many rows were
    written.
    """
    written = 0
    for delivery in deliveries:
        stored = await tx.get_card(delivery.channel_id, delivery.item_ref)
        plan = plan_card(
            stored.state if stored is not None else None,
            guild_id=delivery.guild_id,
            channel_id=delivery.channel_id,
            changes=delivery.changes,
            now=now,
            quiet_period=quiet_period,
        )
        if plan.ignored:
            log.info(
                "card is final; changes not shown",
                extra={"channel_id": delivery.channel_id, "item_ref": delivery.item_ref},
            )
        if plan.edit is None or plan.state is None:
            continue
        await tx.save_card_state(plan.state, now)
        written += await _queue_edit(tx, plan.state, delivery.subscription_id, plan.edit, now)
        rows = [pointer_row(delivery, p, now, deadlines) for p in plan.pointers]
        written += await tx.enqueue(rows)
    return written


async def retire_cards(store: Store, now: datetime, over_after: timedelta = OVER_AFTER) -> int:
    """Give every live card whose item's date is ``over_after`` past, or whose item LL2's last
    complete upcoming read no longer listed, its final edit.

    Run by housekeeping: events never get an outcome, and a launch whose outcome LL2 never
    posted must not stay "live" for ever. Returns how many cards were retired.
    """
    retired = 0
    states = await store.live_cards()
    listed_since = await store.last_full_reads()
    seen = await store.last_seen_times(s.item.key for s in states)
    for state in states:
        last_seen, full_read = seen.get(state.item.key), listed_since.get(state.item.source)
        listed = last_seen is None or full_read is None or last_seen >= full_read
        plan = plan_retirement(state, now, over_after, listed=listed)
        if plan.edit is None or plan.state is None:
            continue
        async with store.transaction() as tx:
            await tx.save_card_state(plan.state, now)
            await _queue_edit(tx, plan.state, None, plan.edit, now)
        retired += 1
    if retired:
        log.info("cards retired", extra={"cards": retired})
    return retired


class CardSender:
    """Sends card rows and pointer rows (see the module docstring)."""

    def __init__(self, store: Store, sender: MessageSender, now: Callable[[], datetime]) -> None:
        self._store = store
        self._sender = sender
        self._now = now

    def handles(self, row: OutboxRow) -> bool:
        """Whether ``row`` is a card or pointer row (see :func:`is_card_row`), or a reminder
        (which replies to the item's card when its channel has one)."""
        return is_card_row(row) or is_reminder(row)

    def _editor(self) -> MessageEditor:
        if not isinstance(self._sender, MessageEditor):
            raise PermanentSendError("this sender cannot edit messages; cards need one that can")
        return self._sender

    async def send(self, row: OutboxRow, paced: Paced[Any]) -> int:
        """Send one card or pointer row; return the Discord message id it leaves in place."""
        if POINTER_KEY in row.payload:
            return await self._pointer(row, paced)
        if is_reminder(row):
            return await self._reminder(row, paced)
        return await self._card(row, paced)

    async def _reminder(self, row: OutboxRow, paced: Paced[Any]) -> int:
        # The reminder message as a feed channel gets it; where the channel has a live card for
        # the item it is sent as a reply to the card, so the ping leads readers to the card.
        (message,) = render_reminder_row(row)
        roles = tuple(int(r) for r in row.payload.get("role_ids", ()))
        stored = await self._store.get_card(row.channel_id, row.item_ref)
        reply_to = stored.current_message if stored is not None else None
        nonce = part_nonce(row.dedup_key, 0)
        if reply_to is None or not isinstance(self._sender, MessageEditor):
            return int(
                await paced(
                    lambda: self._sender.send(
                        row.channel_id, message, nonce=nonce, allowed_role_ids=roles
                    )
                )
            )
        editor = self._sender
        return int(
            await paced(
                lambda: editor.reply(
                    row.channel_id,
                    message,
                    reply_to=reply_to,
                    nonce=nonce,
                    allowed_role_ids=roles,
                )
            )
        )

    async def _card(self, row: OutboxRow, paced: Paced[Any]) -> int:
        stored = await self._store.get_card(row.channel_id, row.item_ref)
        if stored is None:
            raise PermanentSendError(f"no card for {row.item_ref} in channel {row.channel_id}")
        state = stored.state
        current = stored.current_message
        if current is not None and stored.sent_version >= state.version:
            return current  # a newer row (or a resend) already brought the message up to date
        if state.frozen_reason is FreezeReason.DELETED:
            raise PermanentSendError("card deleted twice by moderators; not posted again")
        message = render_card(state)
        if current is None:
            return await self._post(row, stored, paced)
        editor = self._editor()
        try:
            await paced(lambda: editor.edit(row.channel_id, current, message))
        except UnknownMessage:
            if stored.deleted_reposts >= 1:
                await self._store.freeze_card(row.channel_id, row.item_ref, FreezeReason.DELETED)
                log.warning("card deleted again; frozen", extra=_ctx(row, current))
                raise
            log.warning("card deleted; posting it afresh once", extra=_ctx(row, current))
            await self._store.forget_card_message(row.channel_id, row.item_ref, deleted=True)
            return await self._repost(row, paced)
        except EditLimitReached:
            log.warning(
                "card no longer editable (30046); posting a fresh one", extra=_ctx(row, current)
            )
            await self._store.forget_card_message(row.channel_id, row.item_ref, deleted=False)
            return await self._repost(row, paced)
        async with _recording(row, current):
            await self._store.record_card_sent(
                row.channel_id, row.item_ref, message_id=current, version=state.version
            )
        return current

    async def _repost(self, row: OutboxRow, paced: Paced[Any]) -> int:
        stored = await self._store.get_card(row.channel_id, row.item_ref)
        assert stored is not None  # it was there a moment ago; cards are never deleted
        return await self._post(row, stored, paced)

    async def _post(self, row: OutboxRow, stored: StoredCard, paced: Paced[Any]) -> int:
        state = stored.state
        message = render_card(state)
        # The same nonce until the post is recorded (a resend after a crash returns the same
        # message); a repost after a 404 or 30046 counts up, so it is a new message.
        nonce = nonce_for(
            f"{row.channel_id}:{row.item_ref}:card-post:{state.generation}:{stored.reposts}"
        )
        message_id: int = await paced(
            lambda: self._sender.send(row.channel_id, message, nonce=nonce, allowed_role_ids=())
        )
        async with _recording(row, message_id):
            await self._store.record_card_message(
                row.channel_id,
                row.item_ref,
                message_id=message_id,
                generation=state.generation,
                version=state.version,
                at=self._now(),
            )
        return message_id

    async def _pointer(self, row: OutboxRow, paced: Paced[Any]) -> int:
        body = row.payload[POINTER_KEY]
        try:
            kind = PointerKind(body["kind"])
            change = Change.model_validate(body["change"])
            roles = tuple(int(r) for r in row.payload.get("role_ids", ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentSendError(f"outbox row {row.id}: unreadable pointer: {exc}") from exc
        stored = await self._store.get_card(row.channel_id, row.item_ref)
        reply_to = stored.current_message if stored is not None else None
        url = None if reply_to is None else jump_url(row.guild_id, row.channel_id, reply_to)
        message = render_pointer(kind, change, roles, url)
        editor = self._editor()
        message_id: int = await paced(
            lambda: editor.reply(
                row.channel_id,
                message,
                reply_to=reply_to,
                nonce=nonce_for(row.dedup_key),
                allowed_role_ids=roles,
            )
        )
        return message_id


@asynccontextmanager
async def _recording(row: OutboxRow, message_id: int) -> AsyncIterator[None]:
    """Discord has the post or edit but the write failed: retry the row, never fail it.

    The retry repeats the same PATCH, or the same post with the same nonce (Discord hands back
    the message it made), so repeating is harmless and failing would leave the card stale.
    """
    try:
        yield
    except Exception as exc:
        log.exception("could not record a card message", extra=_ctx(row, message_id))
        raise TransientSendError(f"card sent but not recorded: {exc!r}") from exc


def _ctx(row: OutboxRow, message_id: int) -> dict[str, object]:
    return {
        "outbox_id": row.id,
        "channel_id": row.channel_id,
        "item_ref": row.item_ref,
        "message_id": message_id,
    }
