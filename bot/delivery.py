"""The outbox worker: claim due rows, render, send, settle; retry, give up, drop dead channels.

::

    worker = DeliveryWorker(store, DiscordSender(bot), settings.delivery, shards=spec)
    task = asyncio.create_task(worker.run_forever())
    ...                      # after each poll commits: worker.notify()
    await worker.stop()      # on shutdown: in-flight sends finish within the grace period

Guarantees and policies:

- **One in-flight send per channel**, at most ``concurrency`` overall: a channel's rows go out
  one after another in claim order (oldest due first), which keeps them in order and lets
  discord.py's per-channel bucket pace them, while different channels proceed in parallel.
- **Pacing.** Sends are spaced to ``rate_per_second`` (default 45): Discord's global limit is
  about 50 requests/s and every 429 counts towards its invalid-request ban.
- **Exactly once, as far as Discord allows.** Each part of a row is sent with a nonce derived
  from the row's dedup key; after a crash between Discord's answer and ``mark_sent``, the row
  becomes due when its lease ends and the resend returns the message Discord already holds.
  A row that renders to several messages is all-or-nothing: the store has no place for
  per-part progress, so a retry resends every part and relies on the nonces (a few minutes of
  memory at Discord) to keep the parts already posted from doubling.
- **Errors.** A dead channel (403, 404 Unknown Channel) disables the channel's subscriptions and
  cancels its pending rows after the first failure; its other rows in the batch are not tried.
  A transient error reschedules the row with jittered exponential backoff and defers the
  channel's later rows behind it (order), until it has had ``max_attempts`` tries and is
  ``retry_for_minutes`` old, then the row fails (so an outage delays alerts rather than
  dropping them after a minute of fast retries). A permanent error fails the row and the
  channel carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum

from bot import metrics
from bot.config import DeliverySettings
from bot.discord_sender import (
    ChannelGone,
    DiscordSender,
    MessageSender,
    Pacer,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from bot.outbox_rows import PayloadError, part_nonce, render_delivery, row_to_delivery
from bot.store import OutboxRow, ShardSpec, Store
from bot.store.outbox import DEFAULT_LEASE

__all__ = [
    "ChannelGone",
    "DeliveryReport",
    "DeliveryWorker",
    "DiscordSender",
    "MessageSender",
    "PermanentSendError",
    "SendError",
    "TransientSendError",
    "backoff_delay",
]

log = logging.getLogger(__name__)

DEFAULT_RATE_PER_SECOND = 45.0
DEFAULT_IDLE_SECONDS = 5.0
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 900.0


def utc_now() -> datetime:
    """The wall clock, aware UTC (the default clock of :class:`DeliveryWorker`)."""
    return datetime.now(UTC)


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


class _Outcome(Enum):
    SENT = "sent"
    NEXT = "next"  # settled (failed); the channel's next row may go
    STOP_CHANNEL = "stop"  # leave the channel's remaining rows to their own fate


@dataclass
class _Tally:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    disabled: list[int] = field(default_factory=list)

    def report(self) -> DeliveryReport:
        return DeliveryReport(
            self.claimed, self.sent, self.retried, self.failed, self.cancelled, tuple(self.disabled)
        )


class DeliveryWorker:
    """Delivers due outbox rows through a :class:`MessageSender` (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        sender: MessageSender,
        settings: DeliverySettings,
        *,
        shards: ShardSpec | None = None,
        now: Callable[[], datetime] = utc_now,
        batch_size: int | None = None,
        lease: timedelta = DEFAULT_LEASE,
        rate_per_second: float | None = DEFAULT_RATE_PER_SECOND,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        backoff_base: float = BACKOFF_BASE_SECONDS,
        backoff_cap: float = BACKOFF_CAP_SECONDS,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._sender = sender
        self._settings = settings
        self._shards = shards
        self._now = now
        # Enough rows to keep every slot busy for a few rounds, few enough that the lease
        # outlives the batch even when a channel holds several of them.
        self._batch_size = batch_size or max(32, settings.concurrency * 8)
        self._lease = lease
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._pacer = Pacer(rate_per_second)
        self._idle_seconds = idle_seconds
        self._backoff = (backoff_base, backoff_cap)
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._batch_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._loop_done: asyncio.Event | None = None

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopping

    def notify(self) -> None:
        """Wake :meth:`run_forever` now (call it after a poll committed new rows)."""
        self._wake.set()

    async def run_once(self, now: datetime | None = None) -> DeliveryReport:
        """Claim one batch of due rows and deliver it; return what happened.

        Batches never overlap (a second caller waits), so the one-send-per-channel rule holds
        across calls too.
        """
        async with self._batch_lock:
            if self._stopping:
                return DeliveryReport()
            at = now if now is not None else self._now()
            rows = await self._store.claim_due(
                at, self._batch_size, shards=self._shards, lease=self._lease
            )
            tally = _Tally(claimed=len(rows))
            if not rows:
                return tally.report()
            if self._stopping:  # stop() arrived during the claim: hand the rows back
                await self._release(rows, at, "not sent: worker stopping", tally)
                metrics.record_delivery(tally.report())
                return tally.report()
            by_channel: dict[int, list[OutboxRow]] = {}
            for row in rows:
                by_channel.setdefault(row.channel_id, []).append(row)
            tasks = [
                asyncio.create_task(self._run_channel(channel_rows, tally))
                for channel_rows in by_channel.values()
            ]
            self._tasks.update(tasks)
            try:
                await asyncio.wait(tasks)
            finally:
                for task in tasks:
                    task.cancel()  # only matters if run_once itself was cancelled
                self._tasks.difference_update(tasks)
            report = tally.report()
        metrics.record_delivery(report)
        log.info(
            "delivery batch",
            extra={
                "claimed": report.claimed,
                "sent": report.sent,
                "retried": report.retried,
                "failed": report.failed,
                "cancelled": report.cancelled,
            },
        )
        return report

    async def run_forever(self) -> None:
        """Deliver until :meth:`stop`: a batch, then wait for :meth:`notify` or the idle interval.

        A full batch means more rows are probably due, so the next one starts at once. A batch
        that fails (database unreachable, say) is logged and retried after the idle interval.
        """
        self._loop_done = asyncio.Event()
        try:
            while not self._stopping:
                self._wake.clear()  # before the batch, so a notify() during it is not lost
                try:
                    report = await self.run_once()
                except Exception:
                    log.exception("delivery batch failed")
                    report = None
                if self._stopping:
                    break
                if report is not None and report.claimed >= self._batch_size:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._idle_seconds)
        finally:
            self._loop_done.set()

    async def stop(self, grace: float | None = None) -> None:
        """Stop claiming; let in-flight sends finish within ``grace`` seconds, cancel the rest.

        Rows not started yet are handed back (due now, for the next process). Rows cancelled
        mid-send stay leased and are retried when the lease ends, with the same nonce.
        """
        if grace is None:
            grace = self._settings.shutdown_grace_seconds
        self._stopping = True
        self._wake.set()
        pending = {t for t in self._tasks if not t.done()}
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                log.warning("delivery stop: cancelled in-flight sends", extra={"tasks": len(late)})
                await asyncio.wait(late)
        if self._loop_done is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._loop_done.wait(), timeout=max(grace, 1.0))

    async def _run_channel(self, rows: Sequence[OutboxRow], tally: _Tally) -> None:
        # One channel's rows of this batch, strictly one after another.
        for index, row in enumerate(rows):
            if self._stopping:
                await self._release(rows[index:], self._now(), "not sent: worker stopping", tally)
                return
            outcome, retry_at = await self._deliver(row, tally)
            if outcome is _Outcome.STOP_CHANNEL:
                if retry_at is not None:  # keep the channel's order behind the retried row
                    reason = f"deferred behind outbox row {row.id}"
                    await self._release(rows[index + 1 :], retry_at, reason, tally)
                return

    async def _deliver(self, row: OutboxRow, tally: _Tally) -> tuple[_Outcome, datetime | None]:
        assert row.id is not None
        ctx = {
            "outbox_id": row.id,
            "item_ref": row.item_ref,
            "channel_id": row.channel_id,
            "attempt": row.attempts,
        }
        try:
            message_id = await self._send_row(row)
        except ChannelGone as exc:
            await self._channel_gone(row, exc, tally, ctx)
            return _Outcome.STOP_CHANNEL, None
        except TransientSendError as exc:
            return await self._transient(row, exc, tally, ctx)
        except (PermanentSendError, PayloadError) as exc:
            log.error("delivery failed permanently", extra={**ctx, "error": str(exc)})
            return await self._settle_failed(row, str(exc), tally, ctx)
        except Exception as exc:
            # A bug (rendering, an unexpected library error): fail this row, keep the worker.
            log.exception("delivery crashed", extra=ctx)
            return await self._settle_failed(row, f"internal error: {exc!r}", tally, ctx)
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
            return _Outcome.STOP_CHANNEL, None
        tally.sent += 1
        if marked:
            log.info("delivered", extra={**ctx, "message_id": message_id})
        else:
            # The poller merged newer news into the row while it was in flight: the row stays
            # pending under its new key and goes out when its lease ends.
            log.info(
                "delivered, but the row changed meanwhile", extra={**ctx, "message_id": message_id}
            )
        return _Outcome.SENT, None

    async def _send_row(self, row: OutboxRow) -> int:
        delivery = row_to_delivery(row)
        messages = render_delivery(delivery, self._now())
        if not messages:
            raise PermanentSendError("nothing to send: the row holds no changes")
        first_id: int | None = None
        for index, message in enumerate(messages):
            async with self._slots:
                await self._pacer.wait()
                message_id = await self._sender.send(
                    row.channel_id,
                    message,
                    nonce=part_nonce(row.dedup_key, index),
                    allowed_role_ids=delivery.role_ids,
                )
            first_id = message_id if first_id is None else first_id
        assert first_id is not None
        return first_id

    async def _channel_gone(
        self, row: OutboxRow, exc: ChannelGone, tally: _Tally, ctx: dict[str, object]
    ) -> None:
        reason = f"channel unusable: {exc.reason}"[:500]
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

    async def _transient(
        self, row: OutboxRow, exc: TransientSendError, tally: _Tally, ctx: dict[str, object]
    ) -> tuple[_Outcome, datetime | None]:
        assert row.id is not None
        retry_for = timedelta(minutes=self._settings.retry_for_minutes)
        if (
            row.attempts >= self._settings.max_attempts
            and self._now() - row.created_at >= retry_for
        ):
            log.error("delivery gave up after repeated errors", extra={**ctx, "error": exc.reason})
            outcome, _ = await self._settle_failed(row, f"gave up: {exc.reason}", tally, ctx)
            return outcome, None
        retry_at = self._now() + self.backoff(row.attempts)
        log.warning(
            "delivery will be retried",
            extra={**ctx, "error": exc.reason, "retry_at": retry_at.isoformat()},
        )
        try:
            await self._store.mark_retry(row.id, exc.reason, retry_at)
        except Exception:
            log.exception("could not reschedule a row", extra=ctx)
            return _Outcome.STOP_CHANNEL, None
        tally.retried += 1
        return _Outcome.STOP_CHANNEL, retry_at

    def backoff(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th attempt (see :func:`backoff_delay`)."""
        base, cap = self._backoff
        return backoff_delay(attempts, self._rng, base=base, cap=cap)

    async def _settle_failed(
        self, row: OutboxRow, error: str, tally: _Tally, ctx: dict[str, object]
    ) -> tuple[_Outcome, datetime | None]:
        assert row.id is not None
        try:
            await self._store.mark_failed(row.id, error[:1000])
        except Exception:
            log.exception("could not mark a row failed", extra=ctx)
            return _Outcome.STOP_CHANNEL, None
        tally.failed += 1
        return _Outcome.NEXT, None

    async def _release(
        self, rows: Sequence[OutboxRow], at: datetime, reason: str, tally: _Tally
    ) -> None:
        # Hand claimed-but-unsent rows back before their lease ends (nothing was sent).
        for row in rows:
            assert row.id is not None
            try:
                if await self._store.mark_retry(row.id, reason, at):
                    tally.retried += 1
            except Exception:
                log.exception("could not release a row", extra={"outbox_id": row.id})
                return
