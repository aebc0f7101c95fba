"""Subscriptions: which channel wants which alerts about which items (pure data)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, field_validator

from bot.core.changes import ALERT_KINDS, ChangeKind
from bot.core.snapshot import Source


class AlertStyle(StrEnum):
    """How a subscription shows its alerts in its channel.

    ``feed`` posts one message per alert (the behaviour before live cards); ``card`` keeps one
    message per item that is edited in place (see :mod:`bot.core.cards`).
    """

    FEED = "feed"
    CARD = "card"


class Subscription(BaseModel):
    """One channel's standing order for alerts.

    ``event_types`` and ``providers`` are ``None`` for "all"; an empty set would match nothing,
    so validation (see :func:`bot.core.subscription_options`) refuses it. ``reminders`` are the
    T-minus offsets in minutes, largest first; empty (the default) sends no reminders.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    guild_id: int
    channel_id: int
    sources: frozenset[Source] = frozenset(Source)
    event_types: frozenset[int] | None = None
    providers: frozenset[int] | None = None
    kinds: frozenset[ChangeKind] = frozenset(ALERT_KINDS)
    role_id: int | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    reminders: tuple[int, ...] = ()
    style: AlertStyle = AlertStyle.FEED

    @field_validator("reminders")
    @classmethod
    def _largest_first(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        # One stored and compared form, however the offsets were typed or loaded.
        return tuple(sorted(set(value), reverse=True))


def same_filters(a: Subscription, b: Subscription) -> bool:
    """Whether two subscriptions of one channel would send exactly the same alerts."""
    return (a.sources, a.event_types, a.providers, a.kinds, a.role_id) == (
        b.sources,
        b.event_types,
        b.providers,
        b.kinds,
        b.role_id,
    )


def duplicate_of(draft: Subscription, existing: list[Subscription]) -> Subscription | None:
    """The subscription of ``draft``'s channel that already sends exactly its alerts, if any:
    a second one would post every alert twice."""
    for sub in existing:
        if sub.channel_id == draft.channel_id and same_filters(sub, draft):
            return sub
    return None
