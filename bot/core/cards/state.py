"""What a live card knows: the item as last seen, its history, and where it is in its life.

A card is one Discord message per (channel, item) that a ``card``-style subscription keeps
edited. :class:`CardState` is pure data; the store keeps one per (channel, item) and the
delivery worker renders whatever state is current when it sends (so several changes waiting
for one edit come out as one edit of the newest state).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict

from bot.core.changes import Change, ChangeKind
from bot.core.snapshot import Snapshot, UpdateRef

# History entries kept in the state (the renderer shows as many of the newest as fit).
HISTORY_KEEP = 50

# LL2 launch status ids that mean the launch is over, with how a card says so.
OUTCOME_STATUSES: dict[int, str] = {3: "Success", 4: "Failure", 7: "Partial Failure"}


class FreezeReason(StrEnum):
    """Why a card is no longer edited."""

    OVER = "over"  # outcome known, or the item's date is long past: the final edit went out
    MOVED = "moved"  # slipped far out: a new card starts with the item's next alert
    DELETED = "deleted"  # moderators deleted it twice: we stop re-posting it
    REMOVED = "removed"  # LL2's upcoming list no longer has the item: the final edit went out


class HistoryEntry(BaseModel):
    """One change as the card's history shows it (the change without its item snapshot)."""

    model_config = ConfigDict(frozen=True)

    kind: ChangeKind
    at: AwareDatetime
    identity: str
    old_date: AwareDatetime | None = None
    new_date: AwareDatetime | None = None
    old_precision: str | None = None
    new_precision: str | None = None
    old_status: str | None = None
    new_status: str | None = None
    old_status_id: int | None = None
    new_status_id: int | None = None
    update: UpdateRef | None = None

    @classmethod
    def of(cls, change: Change) -> HistoryEntry:
        """The history entry for ``change``."""
        return cls(
            kind=change.kind,
            at=change.detected_at,
            identity=change.identity,
            old_date=change.old_date,
            new_date=change.new_date,
            old_precision=change.old_precision,
            new_precision=change.new_precision,
            old_status=change.old_status,
            new_status=change.new_status,
            old_status_id=change.old_status_id,
            new_status_id=change.new_status_id,
            update=change.update,
        )


class CardState(BaseModel):
    """One card: the item as last seen, what changed (newest first), and its life cycle.

    ``version`` counts the states the card has been through; each one is worth one edit, and
    the outbox dedup key of an edit names it. ``generation`` counts the Discord messages the
    card was posted as after a freeze (a far slip starts a new one). ``frozen`` means no edit
    will ever be made to the current message again; ``final`` that the item is over for good.
    """

    model_config = ConfigDict(frozen=True)

    guild_id: int
    channel_id: int
    item: Snapshot
    history: tuple[HistoryEntry, ...] = ()  # newest first
    version: int = 1
    generation: int = 0
    final: bool = False
    frozen: bool = False
    frozen_reason: FreezeReason | None = None
    # A far slip's new date, for the "moved to …" line.
    moved_to: AwareDatetime | None = None
    outcome: str | None = None  # "Success", "Failure", "Partial Failure" once known

    @property
    def item_ref(self) -> str:
        """``event:1201`` or ``launch:<uuid>``."""
        return self.item.ref

    @property
    def webcast_live(self) -> bool:
        """Whether the item's webcast is live as far as the card knows."""
        return self.item.webcast_live and not self.final
