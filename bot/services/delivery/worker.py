"""The outbox worker: claim due rows, send them, settle; retry, give up, drop dead channels.

The three steps live in three modules: this one claims and orchestrates, :mod:`.sending`
renders and posts a row, :mod:`.settle` records what happened.

::

    worker = DeliveryWorker(store, DiscordSender(bot), settings.delivery, shards=spec)
    task = asyncio.create_task(worker.run_forever())
    ...                      # after each poll commits: worker.notify()
    await worker.stop()      # on shutdown: in-flight sends finish within the grace period

Guarantees and policies:

- **One in-flight send per channel**, at most ``concurrency`` overall: a channel's rows go out
  one after another in claim order (oldest due first), which keeps them in order and lets
  discord.py's per-channel bucket pace them, while different channels proceed in parallel.
- **Pacing.** Each send waits for a slot of ``budget``, the bot token's send budget shared by
  every process of the deployment (:mod:`bot.services.delivery.budget`, at
  ``delivery.global_rate_per_second``, default 45); without one, sends are spaced to
  ``rate_per_second``. Discord's global limit is about 50 requests/s per token and every 429
  counts towards its invalid-request ban.
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
from datetime import UTC, datetime, timedelta

from bot.config import DeliverySettings
from bot.core.feed import is_feed_key
from bot.discord_ui.publishing import Publisher
from bot.discord_ui.sender import (
    ChannelGone,
    MessageSender,
    PermanentSendError,
    TransientSendError,
)
from bot.services import metrics
from bot.services.delivery.cards import CardSender
from bot.services.delivery.feed import FeedRunner
from bot.services.delivery.owner import ClaimOwner
from bot.services.delivery.rows import PayloadError
from bot.services.delivery.sending import RowSender, SendPacer
from bot.services.delivery.settle import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    ChannelDisabledHook,
    DeliveryReport,
    Outcome,
    Settler,
    Tally,
    backoff_delay,
)
from bot.services.outage import Outage, is_database_error
from bot.store import OutboxRow, ShardSpec, Store
from bot.store.outbox import DEFAULT_LEASE

log = logging.getLogger("bot.delivery")

DEFAULT_RATE_PER_SECOND = 45.0
DEFAULT_IDLE_SECONDS = 5.0
_STOPPING = "not sent: worker stopping"


def utc_now() -> datetime:
    """The wall clock, aware UTC (the default clock of :class:`DeliveryWorker`)."""
    return datetime.now(UTC)


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
        owner: ClaimOwner | None = None,
        outage: Outage | None = None,
        on_channel_disabled: ChannelDisabledHook | None = None,
        budget: SendPacer | None = None,
        publisher: Publisher | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._shards = shards
        self._now = now
        # Enough rows to keep every slot busy for a few rounds, few enough that the lease
        # outlives the batch even when a channel holds several of them.
        self._batch_size = batch_size or max(32, settings.concurrency * 8)
        self._lease = lease
        # A channel's rows go out one after another, and Discord lets one channel post about 5
        # messages per 5 s (its per-route bucket), so a batch takes at most as many of one
        # channel's rows as go out in a quarter of the lease: the claims never outlive it.
        self._per_channel = max(1, int(lease.total_seconds() / 4))
        self._owner = owner
        self._owner_started = False
        self._outage = outage if outage is not None else Outage()
        # ``budget`` (the token's shared send budget) replaces the local pacer when given.
        self._sending = RowSender(
            sender,
            concurrency=settings.concurrency,
            rate_per_second=rate_per_second,
            now=now,
            cards=CardSender(store, sender, now),
            pacer=budget,
        )
        self._settle = Settler(
            store, settings, now, self.backoff, on_channel_disabled=on_channel_disabled
        )
        # Feed rows (bot.core.feed) go through the feed runner, which publishes them; without a
        # publisher they are sent like any other row.
        self._feed = (
            None
            if publisher is None
            else FeedRunner(store, self._sending, self._settle, publisher, now)
        )
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
            owner = await self._owner_key(at)
            expired = await self._store.expire_overdue(at, shards=self._shards)
            for row in expired:
                log.warning(
                    "delivery expired: still pending past its deadline, not sent",
                    extra={
                        "outbox_id": row.id,
                        "item_ref": row.item_ref,
                        "channel_id": row.channel_id,
                        "kinds": ",".join(sorted(row.kinds)),
                        "deadline": row.deadline.isoformat() if row.deadline else None,
                    },
                )
            rows = await self._store.claim_due(
                at,
                self._batch_size,
                shards=self._shards,
                lease=self._lease,
                owner=owner,
                per_channel=self._per_channel,
            )
            tally = Tally(claimed=len(rows), expired=len(expired))
            if not rows:
                if expired:
                    metrics.record_delivery(tally.report())
                return tally.report()
            if self._stopping:  # stop() arrived during the claim: hand the rows back
                await self._settle.release(rows, at, _STOPPING, tally)
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
                except Exception as exc:
                    if is_database_error(exc):
                        self._outage.failed("delivery", exc)
                    else:
                        log.exception("delivery batch failed")
                    report = None
                else:
                    self._outage.succeeded()
                if self._stopping:
                    break
                if report is not None and report.claimed >= self._batch_size:
                    continue
                wait = self._outage.backoff_seconds() if report is None else self._idle_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait or self._idle_seconds)
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
        if self._feed is not None:
            await self._feed.close(grace)

    async def _run_channel(self, rows: Sequence[OutboxRow], tally: Tally) -> None:
        # One channel's rows of this batch, strictly one after another.
        if self._feed is not None and any(is_feed_key(r.dedup_key) for r in rows):
            await self._feed.run([r for r in rows if is_feed_key(r.dedup_key)], tally)
            rows = [r for r in rows if not is_feed_key(r.dedup_key)]
        for index, row in enumerate(rows):
            if self._stopping:
                await self._settle.release(
                    rows[index:], self._now(), "not sent: worker stopping", tally
                )
                return
            outcome, retry_at = await self._deliver(row, tally)
            if outcome is Outcome.STOP_CHANNEL:
                if retry_at is not None:  # keep the channel's order behind the retried row
                    reason = f"deferred behind outbox row {row.id}"
                    await self._settle.release(rows[index + 1 :], retry_at, reason, tally)
                return

    async def _deliver(self, row: OutboxRow, tally: Tally) -> tuple[Outcome, datetime | None]:
        assert row.id is not None
        ctx = {
            "outbox_id": row.id,
            "item_ref": row.item_ref,
            "channel_id": row.channel_id,
            "attempt": row.attempts,
        }
        try:
            message_id = await self._sending.send(row)
        except ChannelGone as exc:
            await self._settle.channel_gone(row, exc, tally, ctx)
            return Outcome.STOP_CHANNEL, None
        except TransientSendError as exc:
            return await self._settle.transient(row, exc, tally, ctx)
        except (PermanentSendError, PayloadError) as exc:
            log.error("delivery failed permanently", extra={**ctx, "error": str(exc)})
            return await self._settle.failed(row, str(exc), tally, ctx)
        except Exception as exc:
            # A bug (rendering, an unexpected library error): fail this row, keep the worker.
            log.exception("delivery crashed", extra=ctx)
            return await self._settle.failed(row, f"internal error: {exc!r}", tally, ctx)
        return await self._settle.sent(row, message_id, tally, ctx), None

    async def _owner_key(self, at: datetime) -> int | None:
        # The first batch registers the owner (and, on SQLite, takes back a crashed start's
        # claims); later ones re-register if the registration was lost. Raises while the
        # database is unreachable, so nothing is claimed under a dead identity.
        if self._owner is None:
            return None
        if not self._owner_started:
            await self._owner.start(at)
            self._owner_started = True
        return await self._owner.ensure()

    async def close_owner(self) -> None:
        """Give up the claim owner's registration (after :meth:`stop`)."""
        if self._owner is not None and self._owner_started:
            with contextlib.suppress(Exception):
                await self._owner.close()

    def backoff(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th attempt (see :func:`backoff_delay`)."""
        base, cap = self._backoff
        return backoff_delay(attempts, self._rng, base=base, cap=cap)
