"""Value types the store hands out besides snapshots, changes and subscriptions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bot.core.changes import ChangeKind


class OutboxStatus(StrEnum):
    """Where an outbox row is in its life."""

    PENDING = "pending"  # to send (now or at next_attempt_at)
    SENT = "sent"  # delivered; message_id is set
    FAILED = "failed"  # gave up (permanent error or too many attempts)
    CANCELLED = "cancelled"  # not sent because the channel died or the alert was withdrawn
    EXPIRED = "expired"  # not sent: still pending when its deadline passed (no longer news)


class OutboxRow(BaseModel):
    """One message to deliver to one channel.

    ``dedup_key`` is deterministic (item, change kind, change version, channel): enqueueing the
    same key twice stores it once, and the delivery worker derives Discord's nonce from it.
    ``id`` is None until the row is stored.
    """

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    dedup_key: str = Field(min_length=1)
    guild_id: int
    channel_id: int
    subscription_id: int | None = None
    item_ref: str  # Snapshot.ref, e.g. "event:1201"
    kinds: frozenset[ChangeKind]
    payload: dict[str, Any]
    role_id: int | None = None
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    next_attempt_at: AwareDatetime
    claim_owner: int | None = None  # the process key holding the row's claim, if any
    deadline: AwareDatetime | None = None  # not worth sending after this (None: never expires)
    message_id: int | None = None
    last_error: str | None = None
    created_at: AwareDatetime
    sent_at: AwareDatetime | None = None


def shard_of(guild_id: int, shard_count: int) -> int:
    """Discord's rule: the shard that receives a guild's events."""
    return (guild_id >> 22) % shard_count


@dataclass(frozen=True)
class ShardSpec:
    """The shards one process serves: ``shard_ids`` out of ``shard_count``."""

    shard_ids: frozenset[int]
    shard_count: int

    def __post_init__(self) -> None:
        if self.shard_count < 1:
            raise ValueError("shard_count must be at least 1")
        bad = [s for s in self.shard_ids if not 0 <= s < self.shard_count]
        if bad:
            raise ValueError(f"shard ids {sorted(bad)} out of range for {self.shard_count} shards")

    @classmethod
    def of(cls, shard_ids: Iterable[int], shard_count: int) -> ShardSpec:
        """Build a spec from any iterable of shard ids."""
        return cls(frozenset(shard_ids), shard_count)

    def matches(self, guild_id: int) -> bool:
        """Whether this process serves ``guild_id``."""
        return shard_of(guild_id, self.shard_count) in self.shard_ids
