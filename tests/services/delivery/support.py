"""Builders for delivery tests: a virtual clock, subscriptions with queued alerts, workers."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.config import DeliverySettings
from bot.core.changes import Change, ChangeKind
from bot.core.routing import route
from bot.core.snapshot import UpdateRef
from bot.core.subscriptions import Subscription
from bot.discord_ui.sender import MessageSender
from bot.services.delivery.rows import enqueue_deliveries
from bot.services.delivery.worker import DeliveryWorker
from bot.store import OutboxRow, Store, schema
from tests.core.change_factory import T0, change, event

GUILD = 700_000_000_000_000_001
QUIET = timedelta(minutes=10)
LEASE = timedelta(seconds=60)


class Clock:
    """A wall clock that moves only when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


def update_change(item_id: int = 1201, update_id: int = 9001, comment: str = "Docked") -> Change:
    """A ``new_update`` change on a copy of the real event 1201."""
    return change(
        ChangeKind.NEW_UPDATE,
        event(item_id),
        update=UpdateRef(id=update_id, comment=comment, created_by="LL2"),
    )


async def subscribe(
    store: Store, channel_id: int, role_id: int | None = None, guild_id: int = GUILD
) -> Subscription:
    """An enabled all-alerts subscription."""
    return await store.add_subscription(guild_id, channel_id, role_id=role_id, now=T0)


async def queue(
    store: Store, changes: Sequence[Change], subs: Sequence[Subscription], now: datetime = T0
) -> int:
    """Route ``changes`` to ``subs`` and enqueue the deliveries, as the poller does."""
    async with store.transaction() as tx:
        return await enqueue_deliveries(tx, route(changes, subs), now, QUIET)


async def queue_alerts(
    store: Store,
    channel_id: int,
    count: int = 1,
    *,
    role_id: int | None = None,
    first_item: int = 1,
) -> Subscription:
    """Subscribe ``channel_id`` and queue ``count`` alerts about distinct items, in order."""
    sub = await subscribe(store, channel_id, role_id)
    for n in range(count):
        await queue(store, [update_change(first_item + n)], [sub])
    return sub


def worker(store: Store, sender: MessageSender, clock: Clock, **overrides: Any) -> DeliveryWorker:
    """A worker on the virtual clock, without pacing (tests send a handful of messages)."""
    settings = DeliverySettings(
        concurrency=overrides.pop("concurrency", 4),
        max_attempts=overrides.pop("max_attempts", 3),
        retry_for_minutes=overrides.pop("retry_for", 0),
        shutdown_grace_seconds=overrides.pop("grace", 5.0),
    )
    options: dict[str, Any] = {
        "now": clock.now,
        "rate_per_second": None,
        "lease": LEASE,
        "rng": random.Random(7),
    }
    options.update(overrides)
    return DeliveryWorker(store, sender, settings, **options)


async def rows_of(store: Store, channel_id: int | None = None) -> list[OutboxRow]:
    """Every outbox row (of one channel), by id."""
    stmt = select(schema.outbox.c.id).order_by(schema.outbox.c.id)
    if channel_id is not None:
        stmt = stmt.where(schema.outbox.c.channel_id == channel_id)
    async with store.engine.connect() as conn:
        ids = list((await conn.execute(stmt)).scalars())
    rows = [await store.get_outbox_row(i) for i in ids]
    return [r for r in rows if r is not None]
