"""Subscriptions: which channel gets which alerts (the model is :mod:`bot.core.subscriptions`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from bot.core.changes import ALERT_KINDS, ChangeKind
from bot.core.snapshot import Source
from bot.core.subscriptions import AlertStyle, Subscription
from bot.store import schema
from bot.store.base import StoreBase, dump_json, dump_set, load_json, require_aware

_T = schema.subscriptions

# Fields update_subscription() may change (id and guild_id are fixed for life).
UPDATABLE_FIELDS = frozenset(
    {
        "channel_id",
        "sources",
        "event_types",
        "providers",
        "kinds",
        "role_id",
        "enabled",
        "disabled_reason",
        "reminders",
        "style",
    }
)


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else require_aware(now, "now")


def _subscription(row: Row[Any]) -> Subscription:
    event_types = load_json(row.event_types)
    providers = load_json(row.providers)
    return Subscription(
        id=row.id,
        guild_id=row.guild_id,
        channel_id=row.channel_id,
        sources=frozenset(Source(s) for s in load_json(row.sources)),
        event_types=None if event_types is None else frozenset(event_types),
        providers=None if providers is None else frozenset(providers),
        kinds=frozenset(ChangeKind(k) for k in load_json(row.kinds)),
        role_id=row.role_id,
        enabled=bool(row.enabled),
        disabled_reason=row.disabled_reason,
        reminders=tuple(load_json(row.reminders) or ()),
        style=AlertStyle(row.style) if row.style else AlertStyle.FEED,
    )


def _columns(sub: Subscription) -> dict[str, Any]:
    """The stored form of a subscription's mutable fields."""
    return {
        "channel_id": sub.channel_id,
        "sources": dump_set(s.value for s in sub.sources),
        "event_types": dump_set(sub.event_types),
        "providers": dump_set(sub.providers),
        "kinds": dump_set(k.value for k in sub.kinds),
        "role_id": sub.role_id,
        "enabled": sub.enabled,
        "disabled_reason": sub.disabled_reason,
        # NULL, not "[]", for none: the same as a subscription made before reminders existed.
        "reminders": dump_json(list(sub.reminders)) if sub.reminders else None,
        "style": sub.style.value,
    }


class SubscriptionQueries(StoreBase):
    """Subscription CRUD."""

    async def add_subscription(
        self,
        guild_id: int,
        channel_id: int,
        *,
        sources: Iterable[Source] = tuple(Source),
        event_types: Iterable[int] | None = None,
        providers: Iterable[int] | None = None,
        kinds: Iterable[ChangeKind] = ALERT_KINDS,
        role_id: int | None = None,
        reminders: Iterable[int] = (),
        style: AlertStyle = AlertStyle.FEED,
        now: datetime | None = None,
    ) -> Subscription:
        """Create an enabled subscription and return it with its new id.

        ``event_types``/``providers`` None means "all"; ``reminders`` are offsets in minutes.
        Validation of the choices (non-empty sets, known kinds, offset bounds) belongs to the
        command layer; the store keeps what it is given.
        """
        draft = Subscription(
            id=0,
            guild_id=guild_id,
            channel_id=channel_id,
            sources=frozenset(sources),
            event_types=None if event_types is None else frozenset(event_types),
            providers=None if providers is None else frozenset(providers),
            kinds=frozenset(kinds),
            role_id=role_id,
            reminders=tuple(reminders),
            style=style,
        )
        return await self.insert_subscription(draft, now=now)

    async def insert_subscription(
        self, draft: Subscription, *, now: datetime | None = None
    ) -> Subscription:
        """Store ``draft`` (its ``id`` is ignored) as a new subscription; return it with its id."""
        at = _now(now)
        stmt = (
            insert(_T)
            .values(guild_id=draft.guild_id, created_at=at, updated_at=at, **_columns(draft))
            .returning(_T.c.id)
        )
        async with self._write() as conn:
            new_id = (await conn.execute(stmt)).scalar_one()
        return draft.model_copy(update={"id": int(new_id)})

    async def get_subscription(self, subscription_id: int) -> Subscription | None:
        """One subscription, or None."""
        async with self._read() as conn:
            row = (await conn.execute(select(_T).where(_T.c.id == subscription_id))).first()
        return None if row is None else _subscription(row)

    async def list_subscriptions(
        self,
        guild_id: int | None = None,
        enabled_only: bool = False,
        *,
        channel_id: int | None = None,
    ) -> list[Subscription]:
        """Subscriptions by id, optionally of one guild or channel, optionally only enabled."""
        stmt = select(_T)
        if guild_id is not None:
            stmt = stmt.where(_T.c.guild_id == guild_id)
        if channel_id is not None:
            stmt = stmt.where(_T.c.channel_id == channel_id)
        if enabled_only:
            stmt = stmt.where(_T.c.enabled.is_(True))
        stmt = stmt.order_by(_T.c.id)
        async with self._read() as conn:
            rows = await conn.execute(stmt)
            return [_subscription(row) for row in rows]

    async def remove_subscription(self, subscription_id: int, guild_id: int | None = None) -> bool:
        """Delete a subscription (only within ``guild_id`` if given); True if one was deleted.

        Its outbox rows stay (``subscription_id`` becomes NULL) so pending alerts still go out.
        """
        stmt = delete(_T).where(_T.c.id == subscription_id)
        if guild_id is not None:
            stmt = stmt.where(_T.c.guild_id == guild_id)
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount) > 0

    async def update_subscription(
        self, subscription_id: int, /, *, now: datetime | None = None, **changes: Any
    ) -> Subscription | None:
        """Change some fields (see :data:`UPDATABLE_FIELDS`); return the result, or None if absent.

        Values are validated through :class:`~bot.core.subscriptions.Subscription`, so
        ``kinds=["webcast_live"]`` or ``event_types=None`` both work.
        """
        unknown = set(changes) - UPDATABLE_FIELDS
        if unknown:
            raise TypeError(f"cannot update subscription fields {sorted(unknown)}")
        at = _now(now)
        async with self._write() as conn:
            row = (await conn.execute(select(_T).where(_T.c.id == subscription_id))).first()
            if row is None:
                return None
            current = _subscription(row)
            merged = Subscription.model_validate(current.model_dump() | changes)
            await conn.execute(
                update(_T)
                .where(_T.c.id == subscription_id)
                .values(updated_at=at, **_columns(merged))
            )
        return merged

    async def set_subscription_enabled(
        self,
        subscription_id: int,
        enabled: bool,
        reason: str | None = None,
        *,
        now: datetime | None = None,
    ) -> bool:
        """Enable (clearing the reason) or disable (recording ``reason``); True if found."""
        stmt = (
            update(_T)
            .where(_T.c.id == subscription_id)
            .values(
                enabled=enabled,
                disabled_reason=None if enabled else reason,
                updated_at=_now(now),
            )
        )
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount) > 0

    async def disable_channel(
        self, channel_id: int, reason: str, *, now: datetime | None = None
    ) -> int:
        """Disable every enabled subscription of a channel (it is gone or forbids us).

        Returns how many were disabled. Pair with :meth:`cancel_channel` on the outbox.
        """
        stmt = (
            update(_T)
            .where(_T.c.channel_id == channel_id, _T.c.enabled.is_(True))
            .values(enabled=False, disabled_reason=reason, updated_at=_now(now))
        )
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount)
