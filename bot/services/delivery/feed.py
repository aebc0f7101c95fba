"""Feed rows: post to the operator's announcement channel when a publish fits, then publish.

The poller queues feed rows like any other (:func:`bot.core.feed.feed_deliveries`, dedup keys
``feed:...``); the worker hands a feed channel's claimed rows to :meth:`FeedRunner.run`
instead of sending them one by one:

1. The channel's type is read once per process (``GET /channels/{id}``). A channel that is not
   an announcement channel gets one clear ``ERROR`` line per process and its feed rows are
   failed with that reason: nothing is posted there (a plain channel cannot be followed).
2. Discord lets a channel publish about 10 messages an hour (:data:`bot.core.feed.
   PUBLISHES_PER_HOUR`). The times of this channel's publishes are kept in ``poll_state``
   (``feed:published:<channel>``), so a restart does not forget them. While the hour is full,
   the rows wait (handed back, due when the next publish fits); rows that waited together are
   then posted as one message (:func:`bot.core.feed.coalesce`), published once.
3. The publish itself runs in the background, never inside the delivery batch: Discord may
   answer it with a long 429, which discord.py waits out before trying again, and that must
   not hold up any other channel's alerts. A posted-but-unpublished message is remembered in
   ``poll_state`` (``feed:unpublished``) until its publish succeeds, so a restart publishes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.core.feed import PUBLISH_WINDOW, PUBLISHES_PER_HOUR, coalesce, publish_wait
from bot.core.render import MessageData
from bot.discord_ui.publishing import Publisher
from bot.discord_ui.sender import ChannelGone, PermanentSendError, SendError
from bot.services.delivery.rows import PayloadError
from bot.services.delivery.sending import RowSender
from bot.services.delivery.settle import Settler, Tally
from bot.store import OutboxRow, Store

log = logging.getLogger("bot.delivery")

ANNOUNCEMENT = "news"  # discord.py's name for channel type 5, GUILD_ANNOUNCEMENT
PUBLISHED_KEY = "feed:published:{channel}"
UNPUBLISHED_KEY = "feed:unpublished"
ALREADY_CROSSPOSTED = 40033  # "This message has already been crossposted."
PUBLISH_TRIES = 3
PUBLISH_RETRY_SECONDS = 60.0
CHANNEL_RETRY = timedelta(minutes=1)
NOT_ANNOUNCEMENT = "feed channel is not an announcement channel"
# The channel-type check runs inside a delivery batch: bound it, so a slow answer holds the
# other channels' batch for this long at most.
CHECK_TIMEOUT_SECONDS = 10.0


class FeedRunner:
    """Posts and publishes feed rows (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        sending: RowSender,
        settle: Settler,
        publisher: Publisher,
        now: Callable[[], datetime],
        *,
        publishes_per_hour: int = PUBLISHES_PER_HOUR,
        publish_retry_seconds: float = PUBLISH_RETRY_SECONDS,
    ) -> None:
        self._store = store
        self._sending = sending
        self._settle = settle
        self._publisher = publisher
        self._now = now
        self._limit = publishes_per_hour
        self._retry_seconds = publish_retry_seconds
        self._types: dict[int, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._resumed = False
        self._state_lock = asyncio.Lock()

    async def run(self, rows: Sequence[OutboxRow], tally: Tally) -> None:
        """Deliver one feed channel's claimed rows (in claim order)."""
        if not self._resumed:
            self._resumed = True
            await self._resume()
        channel = rows[0].channel_id
        ctx: dict[str, object] = {"channel_id": channel, "feed": True, "rows": len(rows)}
        try:
            kind = await self._channel_type(channel)
        except ChannelGone as exc:
            await self._settle.channel_gone(rows[0], exc, tally, {**ctx, "outbox_id": rows[0].id})
            return
        except Exception as exc:
            log.warning(
                "feed: could not read the channel; later", extra={**ctx, "error": repr(exc)}
            )
            await self._settle.release(rows, self._now() + CHANNEL_RETRY, repr(exc), tally)
            return
        if kind != ANNOUNCEMENT:
            for row in rows:
                await self._settle.failed(row, f"{NOT_ANNOUNCEMENT} ({kind})", tally, ctx)
            return
        group, messages, rest = self._one_message(rows, tally, ctx)
        if not group:
            return
        now = self._now()
        published = await self._published(channel, now)
        # Every part of the message is published (followers would miss the rest otherwise), so
        # the hour must have room for all of them.
        room = max(1, self._limit - (len(messages) - 1))
        wait = publish_wait(published, now, limit=room)
        if wait > timedelta(0):
            log.info(
                "feed: publish limit reached; holding the posts for the next slot",
                extra={**ctx, "retry_at": (now + wait).isoformat(), "parts": len(messages)},
            )
            reason = f"feed: waiting for a publish slot ({self._limit} an hour)"
            await self._settle.release(rows, now + wait, reason, tally)
            return
        try:
            message_ids = await self._sending.post_parts(
                channel, messages, nonce_key=group[0].dedup_key
            )
        except ChannelGone as exc:
            await self._settle.channel_gone(group[0], exc, tally, ctx)
            return
        except PermanentSendError as exc:
            for row in rows:
                await self._settle.failed(row, str(exc), tally, ctx)
            return
        except SendError as exc:
            await self._settle.release(rows, now + CHANNEL_RETRY, str(exc), tally)
            return
        await self._record_publish(channel, message_ids, now)
        for row in group:
            await self._settle.sent(row, message_ids[0], tally, {**ctx, "outbox_id": row.id})
        self._publish_later(channel, message_ids)
        if rest:
            spent = [*published, *(now for _ in message_ids)]
            later = now + publish_wait(spent, now, limit=self._limit)
            await self._settle.release(rest, later, "feed: next message", tally)

    def _one_message(
        self, rows: Sequence[OutboxRow], tally: Tally, ctx: dict[str, object]
    ) -> tuple[list[OutboxRow], list[MessageData], list[OutboxRow]]:
        # As many rows (oldest first) as fit one message: one publish reaches the followers.
        rendered: list[tuple[OutboxRow, list[MessageData]]] = []
        for row in rows:
            try:
                rendered.append((row, self._sending.render(row)[0]))
            except PayloadError as exc:
                log.error("feed: unreadable row", extra={**ctx, "error": str(exc)})
        if not rendered:
            return [], [], []
        take = 1
        while take < len(rendered) and len(coalesce([m for _, m in rendered[: take + 1]])) == 1:
            take += 1
        messages = coalesce([m for _, m in rendered[:take]])
        group = [row for row, _ in rendered[:take]]
        rest = [row for row, _ in rendered[take:]]
        if len(group) > 1:
            log.info("feed: coalesced into one message", extra={**ctx, "coalesced": len(group)})
        return group, messages, rest

    async def _channel_type(self, channel: int) -> str:
        found = self._types.get(channel)
        if found is None:
            found = await asyncio.wait_for(
                self._publisher.channel_type(channel), CHECK_TIMEOUT_SECONDS
            )
            self._types[channel] = found
            if found != ANNOUNCEMENT:
                # Once per process: the rows are failed with the same reason, quietly.
                log.error(
                    "feed channel %s is not an announcement channel (it is %s); its feed posts"
                    " are skipped. Set feed.channels to an announcement channel of your server"
                    " (channel settings -> Announcement Channel)",
                    channel,
                    found,
                    extra={"channel_id": channel, "channel_type": found},
                )
        return found

    # --- the publish ledger and the background publishes ---------------------------------------

    async def _published(self, channel: int, now: datetime) -> list[datetime]:
        raw = await self._store.get_state(PUBLISHED_KEY.format(channel=channel))
        try:
            times = [datetime.fromisoformat(t) for t in json.loads(raw)] if raw else []
        except (ValueError, TypeError):
            times = []
        return [t for t in times if now - t < PUBLISH_WINDOW]

    async def _record_publish(
        self, channel: int, message_ids: Sequence[int], now: datetime
    ) -> None:
        async with self._state_lock:
            times = [*await self._published(channel, now), *(now for _ in message_ids)]
            key = PUBLISHED_KEY.format(channel=channel)
            await self._store.set_state(key, json.dumps([t.isoformat() for t in times]))
            pending = await self._unpublished()
            pending.extend((channel, message_id) for message_id in message_ids)
            await self._store.set_state(UNPUBLISHED_KEY, json.dumps(pending))

    async def _unpublished(self) -> list[tuple[int, int]]:
        raw = await self._store.get_state(UNPUBLISHED_KEY)
        try:
            return [(int(c), int(m)) for c, m in json.loads(raw)] if raw else []
        except (ValueError, TypeError):
            return []

    async def _forget(self, channel: int, message_id: int) -> None:
        async with self._state_lock:
            pending = [p for p in await self._unpublished() if p != (channel, message_id)]
            await self._store.set_state(UNPUBLISHED_KEY, json.dumps(pending))

    async def _resume(self) -> None:
        # Messages a previous run posted but did not get published.
        for channel, message_id in await self._unpublished():
            self._publish_later(channel, [message_id])

    def _publish_later(self, channel: int, message_ids: Sequence[int]) -> None:
        async def in_order() -> None:  # followers get the parts in the order they were posted
            for message_id in message_ids:
                await self._publish(channel, message_id)

        task = asyncio.get_running_loop().create_task(in_order())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, channel: int, message_id: int) -> None:
        ctx = {"channel_id": channel, "message_id": message_id, "feed": True}
        for attempt in range(1, PUBLISH_TRIES + 1):
            try:
                await self._publisher.publish(channel, message_id)
            except SendError as exc:
                if exc.code == ALREADY_CROSSPOSTED:
                    break
                if isinstance(exc, (ChannelGone, PermanentSendError)):
                    log.error("feed: publish refused", extra={**ctx, "error": exc.reason})
                    break
                log.warning(
                    "feed: publish failed; will retry",
                    extra={**ctx, "error": exc.reason, "attempt": attempt},
                )
                await asyncio.sleep(self._retry_seconds * attempt)
                continue
            except Exception:
                log.exception("feed: publish crashed", extra=ctx)
                break
            log.info("feed message published", extra=ctx)
            break
        else:
            log.error("feed: publish gave up; it will be tried again after a restart", extra=ctx)
            return
        with contextlib.suppress(Exception):
            await self._forget(channel, message_id)

    async def close(self, grace: float) -> None:
        """Let background publishes finish within ``grace`` seconds; cancel the rest."""
        pending = {t for t in self._tasks if not t.done()}
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=grace)
        for task in late:
            task.cancel()
