"""The card planner: a card subscription's changes plus the card's state in, actions out.

Pure. The poller's adapter (``bot.services.delivery.cards``) calls :func:`plan_card` with the
changes routed to one (channel, item) of a card subscription in one poll, stores the returned
state, and turns the plan into outbox rows: one card row (post or edit, keyed by channel, item,
generation and version) and one short pointer row per moment that must notify somebody.

Rules:

- **What edits and what posts.** Every alert kind changes the card (one edit per poll however
  many changes). Edits notify nobody, so ``webcast_live`` and launch outcomes (status Success,
  Failure, Partial Failure) also post a short pointer message with the role mention. Reminders
  are queued by the reminder job as before (they are not changes); the worker sends them as a
  reply to the item's card where the channel has one.
- **Coalescing.** A plan whose changes are all date changes is due ``quiet_period`` after its
  first change was detected, as feed date alerts are; anything else is due now. The adapter
  keeps one pending card row per (channel, item), so a second plan before the first went out
  merges into one edit (the earlier due time wins).
- **End of life.** An outcome is the card's final edit: the card is then frozen and later
  changes are ignored. :func:`plan_retirement` does the same for an item whose date is more
  than :data:`OVER_AFTER` past (events have no outcome).
- **Far slips** (our choice): a date change that moves a card's item from within
  :data:`FAR_SLIP` of now to beyond it gives the card a last edit ("moved to …") and freezes
  it; the item's next alert starts a new card (a new message, the history carried over). A
  card's message therefore lives days, not months, and the long-dead message is not touched
  again (Discord caps edits to messages older than an hour; see 30046 in the adapter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.cards.state import (
    HISTORY_KEEP,
    OUTCOME_STATUSES,
    CardState,
    FreezeReason,
    HistoryEntry,
)
from bot.core.changes import Change, ChangeKind

FAR_SLIP = timedelta(days=3)
OVER_AFTER = timedelta(hours=6)


class PointerKind(StrEnum):
    """Why a short message that points at the card is posted."""

    WEBCAST_LIVE = "webcast_live"
    OUTCOME = "outcome"


@dataclass(frozen=True)
class CardEdit:
    """Bring the card's message up to ``version``: a post if its message does not exist yet."""

    version: int
    generation: int
    due_at: datetime
    dedup_key: str
    kinds: frozenset[ChangeKind]
    new_message: bool  # the first message of this generation (a POST, not a PATCH)


@dataclass(frozen=True)
class Pointer:
    """A short message with the role mentions that points at the card."""

    kind: PointerKind
    change: Change
    dedup_key: str


@dataclass(frozen=True)
class CardPlan:
    """What to do: the state to store, at most one edit, and the pointer messages."""

    state: CardState | None
    edit: CardEdit | None = None
    pointers: tuple[Pointer, ...] = ()
    ignored: tuple[str, ...] = ()  # identities of changes the card no longer takes

    @property
    def changed(self) -> bool:
        """Whether the state must be written back."""
        return self.edit is not None


def edit_dedup_key(channel_id: int, item_ref: str, generation: int, version: int) -> str:
    """``channel:item:card:generation:version``: one outbox row per card state."""
    return f"{channel_id}:{item_ref}:card:{generation}:{version}"


def pointer_dedup_key(channel_id: int, change: Change) -> str:
    """``channel:item:card-ping:identity``: one pointer per change and channel."""
    return f"{channel_id}:{change.source.value}:{change.item_id}:card-ping:{change.identity}"


def pointer_kind(change: Change) -> PointerKind | None:
    """Which pointer ``change`` posts, if any (the kinds that still ping)."""
    if change.kind is ChangeKind.WEBCAST_LIVE:
        return PointerKind.WEBCAST_LIVE
    if change.kind is ChangeKind.STATUS_CHANGED and change.new_status_id in OUTCOME_STATUSES:
        return PointerKind.OUTCOME
    return None


def edit_due(changes: Sequence[Change], now: datetime, quiet_period: timedelta) -> datetime:
    """When the edit for ``changes`` is due: date-only waits out the quiet period, else now."""
    if not changes or any(c.kind is not ChangeKind.DATE_CHANGED for c in changes):
        return now
    if quiet_period <= timedelta(0):
        return now
    return max(now, min(c.detected_at for c in changes) + quiet_period)


def _fold(history: tuple[HistoryEntry, ...], changes: Sequence[Change]) -> tuple[HistoryEntry, ...]:
    # Oldest first within the batch so the newest ends up on top; HISTORY_KEEP drops the oldest.
    ordered = sorted(changes, key=lambda c: (c.detected_at, c.identity))
    entries = list(history)
    for change in ordered:
        entries.insert(0, HistoryEntry.of(change))
    return tuple(entries[:HISTORY_KEEP])


def _slipped_far(changes: Sequence[Change], now: datetime, far: timedelta) -> datetime | None:
    # The new date of a date change that took the item from near (or undated) to far out.
    horizon = now + far
    for change in sorted(changes, key=lambda c: c.detected_at, reverse=True):
        if change.kind is not ChangeKind.DATE_CHANGED or change.new_date is None:
            continue
        if change.new_date > horizon and (change.old_date is None or change.old_date <= horizon):
            return change.new_date
        return None  # the newest date change decides
    return None


def plan_card(
    state: CardState | None,
    *,
    guild_id: int,
    channel_id: int,
    changes: Sequence[Change],
    now: datetime,
    quiet_period: timedelta,
    far_slip: timedelta = FAR_SLIP,
) -> CardPlan:
    """Fold one poll's changes for one (channel, item) into its card (see the module docstring).

    ``state`` is None before the card's first alert. Changes already in the card's history
    (a replayed poll) are skipped; changes for a card that is over (or deleted twice) are
    ignored and returned as ``ignored``.
    """
    if not changes:
        return CardPlan(state)
    refs = {f"{c.source.value}:{c.item_id}" for c in changes}
    if len(refs) != 1:
        raise ValueError(f"plan_card takes the changes of one item, got {sorted(refs)}")
    if state is not None and state.item_ref not in refs:
        raise ValueError(f"changes for {sorted(refs)} given the card of {state.item_ref}")
    known = {e.identity for e in state.history} if state is not None else set()
    unique = {c.identity: c for c in changes}  # the same change listed twice counts once
    fresh = [c for i, c in unique.items() if i not in known]
    if not fresh:
        return CardPlan(state)
    if state is not None and state.frozen and state.frozen_reason is not FreezeReason.MOVED:
        return CardPlan(state, ignored=tuple(c.identity for c in fresh))

    newest_item = max(fresh, key=lambda c: (c.detected_at, c.identity)).item
    if state is None:
        base = CardState(guild_id=guild_id, channel_id=channel_id, item=newest_item, version=0)
        new_message = True
    elif state.frozen:  # moved far out earlier: this alert starts a new card
        base = state.model_copy(
            update={
                "generation": state.generation + 1,
                "frozen": False,
                "frozen_reason": None,
                "moved_to": None,
            }
        )
        new_message = True
    else:
        base = state
        new_message = False

    update: dict[str, object] = {
        "item": newest_item,
        "history": _fold(base.history, fresh),
        "version": base.version + 1,
    }
    outcome = next(
        (
            OUTCOME_STATUSES[c.new_status_id]
            for c in sorted(fresh, key=lambda c: c.detected_at, reverse=True)
            if c.kind is ChangeKind.STATUS_CHANGED and c.new_status_id in OUTCOME_STATUSES
        ),
        None,
    )
    if outcome is not None:
        update |= {
            "outcome": outcome,
            "final": True,
            "frozen": True,
            "frozen_reason": FreezeReason.OVER,
        }
    elif (moved_to := _slipped_far(fresh, now, far_slip)) is not None:
        update |= {"frozen": True, "frozen_reason": FreezeReason.MOVED, "moved_to": moved_to}
    new_state = base.model_copy(update=update)

    pointers = tuple(
        Pointer(kind, c, pointer_dedup_key(channel_id, c))
        for c in sorted(fresh, key=lambda c: (c.detected_at, c.identity))
        if (kind := pointer_kind(c)) is not None
    )
    due = edit_due(fresh, now, quiet_period)
    edit = CardEdit(
        version=new_state.version,
        generation=new_state.generation,
        due_at=due,
        dedup_key=edit_dedup_key(
            channel_id, new_state.item_ref, new_state.generation, new_state.version
        ),
        kinds=frozenset(c.kind for c in fresh),
        new_message=new_message,
    )
    return CardPlan(new_state, edit, pointers)


def plan_retirement(
    state: CardState, now: datetime, over_after: timedelta = OVER_AFTER, *, listed: bool = True
) -> CardPlan:
    """The final edit of a card whose item's date is more than ``over_after`` past, or whose
    item LL2's upcoming list no longer has (``listed`` False: removed, or a day past).

    Events never get an outcome, and a launch whose outcome LL2 never posted should not stay
    "live" for ever; nor should a card for an item LL2 withdrew. Returns a plan without an
    edit when there is nothing to do.
    """
    date = state.item.date
    if state.frozen:
        return CardPlan(state)
    past = date is not None and now - date > over_after
    if listed and not past:
        return CardPlan(state)
    new_state = state.model_copy(
        update={
            "version": state.version + 1,
            "final": True,
            "frozen": True,
            "frozen_reason": FreezeReason.OVER if past else FreezeReason.REMOVED,
        }
    )
    edit = CardEdit(
        version=new_state.version,
        generation=new_state.generation,
        due_at=now,
        dedup_key=edit_dedup_key(
            state.channel_id, state.item_ref, new_state.generation, new_state.version
        ),
        kinds=frozenset(),
        new_message=False,
    )
    return CardPlan(new_state, edit)
