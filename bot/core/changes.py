"""What the diff reports: one :class:`Change` per alert-worthy difference between two snapshots."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict

from bot.core.snapshot import Snapshot, Source, UpdateRef, WebcastRef


class ChangeKind(StrEnum):
    """Kinds of change. ``webcast_ended`` is recorded in the change log but never alerted."""

    DATE_CHANGED = "date_changed"
    NEW_UPDATE = "new_update"
    WEBCAST_LIVE = "webcast_live"
    STATUS_CHANGED = "status_changed"
    NEW_ITEM = "new_item"
    WEBCAST_ENDED = "webcast_ended"


# The kinds a subscription can ask for (everything but bookkeeping-only kinds).
ALERT_KINDS: tuple[ChangeKind, ...] = (
    ChangeKind.WEBCAST_LIVE,
    ChangeKind.DATE_CHANGED,
    ChangeKind.NEW_UPDATE,
    ChangeKind.STATUS_CHANGED,
    ChangeKind.NEW_ITEM,
)


class Change(BaseModel):
    """One change to one item.

    ``version`` makes the change's identity deterministic: the same underlying change seen by
    two polls (or two processes) gets the same ``(source, item_id, kind, version)``, which is what
    the outbox's dedup key is built from.
    """

    model_config = ConfigDict(frozen=True)

    kind: ChangeKind
    source: Source
    item_id: str
    name: str
    version: str
    detected_at: AwareDatetime
    item: Snapshot  # the new snapshot, for routing and rendering
    # date_changed
    old_date: AwareDatetime | None = None
    new_date: AwareDatetime | None = None
    old_precision: str | None = None
    new_precision: str | None = None
    # new_update
    update: UpdateRef | None = None
    # webcast_live / webcast_ended: watch links, best first
    urls: tuple[WebcastRef, ...] = ()
    # status_changed
    old_status: str | None = None
    new_status: str | None = None
    old_status_id: int | None = None
    new_status_id: int | None = None

    @property
    def identity(self) -> str:
        """``source:item:kind:version``: the channel-independent part of the dedup key."""
        return f"{self.source.value}:{self.item_id}:{self.kind.value}:{self.version}"

    @property
    def alertable(self) -> bool:
        """Whether subscriptions may receive this change."""
        return self.kind in ALERT_KINDS
