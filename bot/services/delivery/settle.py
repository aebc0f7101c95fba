"""Settling a delivery attempt: record a send, reschedule, fail, or disable a dead channel.

Everything that happens *after* Discord answered (or refused) one outbox row lives here, so the
worker reads as claim -> send -> settle. Every store write is guarded: a failed write is logged
and leaves the row leased, so it comes back when the lease ends instead of being lost.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from bot.config import DeliverySettings
from bot.core.admin_notice import disabled_reason
from bot.discord_ui.sender import ChannelGone, TransientSendError
from bot.store import OutboxRow, Store

log = logging.getLogger("bot.delivery")

BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 900.0
# A channel's task waits for its hook, and the batch for every task: bound the wait.
HOOK_TIMEOUT_SECONDS = 15.0


def backoff_delay(
    attempts: int,
    rng: random.Random,
    *,
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = BACKOFF_CAP_SECONDS,
) -> timedelta:
    """Exponential backoff with jitter: ``base * 2**(attempts-1)``, capped, times [0.5, 1).

    The jitter keeps rows that failed together (a Discord outage) from all coming back in the
    same second.
    """
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=ceiling * (0.5 + rng.random() / 2))


@dataclass(frozen=True)
class DeliveryReport:
    """What one :meth:`DeliveryWorker.run_once` did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0  # rescheduled: transient error, deferred behind one, or handed back on stop
    failed: int = 0
    cancelled: int = 0  # pending rows of channels found dead
    disabled_channels: tuple[int, ...] = ()
    expired: int = 0  # pending rows past their deadline, marked expired instead of sent


class Outcome(Enum):
    """What a channel's run does after one row was settled."""

    SENT = "sent"
    NEXT = "next"  # settled (failed); the channel's next row may go
    STOP_CHANNEL = "stop"  # leave the channel's remaining rows to their own fate


@dataclass
class Tally:
    """Counts of one batch, added to by every channel's run."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    disabled: list[int] = field(default_factory=list)
    expired: int = 0

    def report(self) -> DeliveryReport:
        """The counts as an immutable report."""
        return DeliveryReport(
            self.claimed,
            self.sent,
            self.retried,
            self.failed,
            self.cancelled,
            tuple(self.disabled),
            self.expired,
        )


Context = dict[str, object]


@dataclass(frozen=True)
class ChannelDisabled:
    """A channel whose subscriptions :meth:`Settler.channel_gone` has just disabled."""

    guild_id: int
    channel_id: int
    reason: str  # as stored in the subscriptions' ``disabled_reason``
    subscriptions: int  # how many were disabled by this failure (at least one)
    at: datetime


ChannelDisabledHook = Callable[[ChannelDisabled], Awaitable[None]]


class Settler:
    """Records the result of each attempt in the store (see the module docstring).

    ``on_channel_disabled`` is awaited after a dead channel's subscriptions were disabled (not
    when they already were), at most ``hook_timeout`` seconds; whatever it raises is logged and
    delivery carries on. It is a public attribute so the composition root can set it on a
    settler it did not build.
    """

    def __init__(
        self,
        store: Store,
        settings: DeliverySettings,
        now: Callable[[], datetime],
        backoff: Callable[[int], timedelta],
        *,
        on_channel_disabled: ChannelDisabledHook | None = None,
        hook_timeout: float = HOOK_TIMEOUT_SECONDS,
    ) -> None:
        self._store = store
        self._settings = settings
        self._now = now
        self._backoff = backoff
        self.on_channel_disabled = on_channel_disabled
        self._hook_timeout = hook_timeout

    async def sent(self, row: OutboxRow, message_id: int, tally: Tally, ctx: Context) -> Outcome:
        """Mark ``row`` sent as ``message_id``."""
        assert row.id is not None
        try:
            marked = await self._store.mark_sent(
                row.id, message_id, self._now(), dedup_key=row.dedup_key
            )
        except Exception:
            # Discord has the message but we could not record it: the lease will end, the row
            # will be resent with the same nonce, and Discord will hand back this message.
            log.exception(
                "could not record a sent message", extra={**ctx, "message_id": message_id}
            )
            return Outcome.STOP_CHANNEL
        tally.sent += 1
        if marked:
            log.info("delivered", extra={**ctx, "message_id": message_id})
        else:
            # The poller merged newer news into the row while it was in flight: the row stays
            # pending under its new key and goes out when its lease ends.
            log.info(
                "delivered, but the row changed meanwhile", extra={**ctx, "message_id": message_id}
            )
        return Outcome.SENT

    async def channel_gone(
        self, row: OutboxRow, exc: ChannelGone, tally: Tally, ctx: Context
    ) -> None:
        """Disable the channel's subscriptions, cancel its pending rows (one 403/404 is enough)."""
        reason = disabled_reason(exc.reason)
        log.warning("channel gone; disabling it", extra={**ctx, "error": exc.reason})
        try:
            async with self._store.transaction() as tx:
                disabled = await tx.disable_channel(row.channel_id, reason, now=self._now())
                cancelled = await tx.cancel_channel(row.channel_id, reason)
        except Exception:
            log.exception("could not disable a dead channel", extra=ctx)
            return
        tally.cancelled += cancelled
        tally.disabled.append(row.channel_id)
        log.info(
            "channel disabled",
            extra={**ctx, "subscriptions": disabled, "cancelled_rows": cancelled},
        )
        if disabled:  # the first time only: a channel already disabled was announced then
            event = ChannelDisabled(row.guild_id, row.channel_id, reason, disabled, self._now())
            await self._announce(event, ctx)

    async def _announce(self, event: ChannelDisabled, ctx: Context) -> None:
        hook = self.on_channel_disabled
        if hook is None:
            return
        # Telling the server is a courtesy on top of delivery: it must never fail a row, and
        # holds this channel's task (so the batch's end) for hook_timeout at most.
        try:
            async with asyncio.timeout(self._hook_timeout):
                await hook(event)
        except Exception:
            log.exception("could not tell the server about a disabled channel", extra=ctx)

    async def transient(
        self, row: OutboxRow, exc: TransientSendError, tally: Tally, ctx: Context
    ) -> tuple[Outcome, datetime | None]:
        """Reschedule ``row`` with backoff, or fail it once it has had its tries and time."""
        assert row.id is not None
        retry_for = timedelta(minutes=self._settings.retry_for_minutes)
        if (
            row.attempts >= self._settings.max_attempts
            and self._now() - row.created_at >= retry_for
        ):
            log.error("delivery gave up after repeated errors", extra={**ctx, "error": exc.reason})
            outcome, _ = await self.failed(row, f"gave up: {exc.reason}", tally, ctx)
            return outcome, None
        retry_at = self._now() + self._backoff(row.attempts)
        log.warning(
            "delivery will be retried",
            extra={**ctx, "error": exc.reason, "retry_at": retry_at.isoformat()},
        )
        try:
            await self._store.mark_retry(row.id, exc.reason, retry_at)
        except Exception:
            log.exception("could not reschedule a row", extra=ctx)
            return Outcome.STOP_CHANNEL, None
        tally.retried += 1
        return Outcome.STOP_CHANNEL, retry_at

    async def failed(
        self, row: OutboxRow, error: str, tally: Tally, ctx: Context
    ) -> tuple[Outcome, datetime | None]:
        """Mark ``row`` failed for good; the channel's next row may go."""
        assert row.id is not None
        try:
            await self._store.mark_failed(row.id, error[:1000])
        except Exception:
            log.exception("could not mark a row failed", extra=ctx)
            return Outcome.STOP_CHANNEL, None
        tally.failed += 1
        return Outcome.NEXT, None

    async def release(
        self, rows: Sequence[OutboxRow], at: datetime, reason: str, tally: Tally
    ) -> None:
        """Hand claimed-but-unsent rows back, due at ``at`` (nothing of them was sent)."""
        for row in rows:
            assert row.id is not None
            try:
                if await self._store.mark_retry(row.id, reason, at):
                    tally.retried += 1
            except Exception:
                log.exception("could not release a row", extra={"outbox_id": row.id})
                return
