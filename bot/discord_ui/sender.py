"""Sending one rendered message to a Discord channel, with errors the worker can act on.

:class:`MessageSender` is the seam between the outbox worker and Discord: the worker knows only
``send`` and three error types. :class:`DiscordSender` implements it on discord.py; tests and
benchmarks drive it against a loopback server that answers like Discord.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import aiohttp
import discord

from bot.core.render import MessageData

# Discord JSON error codes that mean "this channel will never take our messages".
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
UNKNOWN_CHANNEL = 10003
NOT_A_TEXT_CHANNEL = 50008
# Card edits (issue 16): the card was deleted; Discord's unpublished cap on edits of messages
# older than an hour ("Maximum number of edits to messages older than 1 hour reached").
UNKNOWN_MESSAGE = 10008
MAX_OLD_MESSAGE_EDITS = 30046


class SendError(Exception):
    """A message was not delivered. ``code`` is Discord's JSON error code (0 if none)."""

    def __init__(self, reason: str, code: int = 0, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.status = status


class ChannelGone(SendError):
    """The channel is deleted or forbids us (403, 404 Unknown Channel): stop sending to it.

    Every 403 counts towards Discord's invalid-request ban (10,000 per 10 minutes), so one is
    enough to give up on the channel.
    """

    def __init__(self, code: int, reason: str, status: int | None = None) -> None:
        super().__init__(reason, code, status)


class TransientSendError(SendError):
    """Worth retrying later: 5xx, timeouts, connection errors, rate limits we gave up on."""


class PermanentSendError(SendError):
    """This message will never be accepted (e.g. 400 Invalid Form Body): do not retry it."""


class UnknownMessage(PermanentSendError):
    """The message to edit is gone (404, 10008): a moderator deleted it."""


class EditLimitReached(PermanentSendError):
    """Discord refuses more edits of this old message (30046): post a fresh one instead."""


class MessageSender(Protocol):
    """Sends one message; returns Discord's message id or raises a :class:`SendError`."""

    async def send(
        self,
        channel_id: int,
        message: MessageData,
        *,
        nonce: str,
        allowed_role_ids: Sequence[int],
    ) -> int:
        """Post ``message`` to ``channel_id``.

        ``nonce`` is enforced: a retry with the same nonce within Discord's window returns the
        message already created instead of posting another. Only ``allowed_role_ids`` may be
        pinged; never ``@everyone``, ``@here`` or users.
        """
        ...


@runtime_checkable
class MessageEditor(Protocol):
    """Edits a message and posts replies: what live cards need on top of :class:`MessageSender`."""

    async def edit(self, channel_id: int, message_id: int, message: MessageData) -> None:
        """Replace ``message_id``'s content, embeds and buttons with ``message``, pinging nobody.

        Raises :class:`UnknownMessage` when the message is gone and :class:`EditLimitReached`
        on Discord's 30046, besides the other :class:`SendError` subclasses.
        """
        ...

    async def reply(
        self,
        channel_id: int,
        message: MessageData,
        *,
        reply_to: int | None,
        nonce: str,
        allowed_role_ids: Sequence[int],
    ) -> int:
        """Post ``message`` as a reply to ``reply_to`` (a plain post when None or deleted)."""
        ...


def allowed_mentions(role_ids: Sequence[int]) -> discord.AllowedMentions:
    """Mentions that may ping: exactly ``role_ids``, nothing else (``parse`` stays empty)."""
    return discord.AllowedMentions(
        everyone=False,
        users=False,
        roles=[discord.Object(r) for r in role_ids],
        replied_user=False,
    )


def link_view(message: MessageData) -> discord.ui.View | None:
    """The message's link buttons as a view (None when there are none).

    Link buttons need no interaction handling, so the view never times out and discord.py does
    not keep it around after sending.
    """
    if not message.buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in message.buttons:
        view.add_item(discord.ui.Button(label=button.label, url=button.url))
    return view


def classify(exc: Exception) -> SendError | None:
    """The :class:`SendError` for a discord.py or network exception, or None if it is neither."""
    if isinstance(exc, discord.Forbidden):
        # Any 403 on a channel send is about access (50013, 50001, ...) and costs an invalid
        # request each time: treat every one as a dead channel.
        return ChannelGone(exc.code, f"403 {exc.code}: {exc.text}", 403)
    if isinstance(exc, discord.NotFound):
        if exc.code == UNKNOWN_CHANNEL:
            return ChannelGone(exc.code, f"404 {exc.code}: {exc.text}", 404)
        # e.g. 10008: the nonce's message was deleted by a moderator; do not post it again.
        return PermanentSendError(f"404 {exc.code}: {exc.text}", exc.code, 404)
    if isinstance(exc, discord.RateLimited):
        return TransientSendError(f"rate limited for {exc.retry_after:.1f}s", 0, 429)
    if isinstance(exc, discord.HTTPException):
        status, code = exc.status, exc.code
        text = f"{status} {code}: {exc.text}"
        if status >= 500 or status in (401, 408, 429):
            # 401: a revoked token; the process will notice on the gateway, rows wait meanwhile.
            return TransientSendError(text, code, status)
        if code == NOT_A_TEXT_CHANNEL:
            return ChannelGone(code, text, status)
        return PermanentSendError(text, code, status)
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ClientError, OSError)):
        return TransientSendError(f"{type(exc).__name__}: {exc}".rstrip(": "))
    return None


def classify_edit(exc: Exception) -> SendError | None:
    """:func:`classify` for an edit: a deleted message and Discord's edit cap are their own."""
    if isinstance(exc, discord.NotFound) and exc.code == UNKNOWN_MESSAGE:
        return UnknownMessage(f"404 {exc.code}: {exc.text}", exc.code, 404)
    if isinstance(exc, discord.HTTPException) and exc.code == MAX_OLD_MESSAGE_EDITS:
        return EditLimitReached(f"{exc.status} {exc.code}: {exc.text}", exc.code, exc.status)
    return classify(exc)


class Pacer:
    """Spaces calls at least ``1 / rate`` seconds apart (monotonic time, not a test clock).

    Discord's global limit is about 50 requests/s and each 429 counts towards the
    invalid-request ban, so staying just under it beats bursting and being told to wait.
    """

    def __init__(self, rate: float | None) -> None:
        self._interval = 0.0 if not rate else 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        """Sleep until this caller's slot."""
        if not self._interval:
            return
        loop = asyncio.get_running_loop()
        slot = max(loop.time(), self._next)
        self._next = slot + self._interval
        delay = slot - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)


class DiscordSender:
    """:class:`MessageSender` on a logged-in :class:`discord.Client` (or bot)."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    def _channel(self, channel_id: int) -> discord.abc.Messageable:
        cached = self._client.get_channel(channel_id)
        if isinstance(cached, discord.abc.Messageable):
            return cached
        # Not cached (no guild intent, or not ready yet): a partial channel sends with one
        # request, where fetch_channel would spend a second one of the 50/s global budget on
        # every alert. A dead channel still shows up, as the send's own 403/404.
        return self._client.get_partial_messageable(channel_id)

    async def send(
        self,
        channel_id: int,
        message: MessageData,
        *,
        nonce: str,
        allowed_role_ids: Sequence[int],
    ) -> int:
        """Post ``message``; see :meth:`MessageSender.send`."""
        return await self.reply(
            channel_id, message, reply_to=None, nonce=nonce, allowed_role_ids=allowed_role_ids
        )

    async def reply(
        self,
        channel_id: int,
        message: MessageData,
        *,
        reply_to: int | None,
        nonce: str,
        allowed_role_ids: Sequence[int],
    ) -> int:
        """Post ``message``, as a reply to ``reply_to`` if given; see :class:`MessageEditor`."""
        channel = self._channel(channel_id)
        embeds = [discord.Embed.from_dict(e.to_dict()) for e in message.embeds]
        extra: dict[str, Any] = {}
        if reply_to is not None:
            # fail_if_not_exists=False: a card deleted meanwhile must not lose the ping.
            extra["reference"] = discord.MessageReference(
                message_id=reply_to, channel_id=channel_id, fail_if_not_exists=False
            )
        try:
            sent = await channel.send(
                content=message.content,
                embeds=embeds,
                view=link_view(message),  # type: ignore[arg-type]  # None means "no components"
                nonce=nonce,
                allowed_mentions=allowed_mentions(allowed_role_ids),
                **extra,
            )
        except Exception as exc:
            error = classify(exc)
            if error is None:
                raise
            raise error from exc
        return sent.id

    async def edit(self, channel_id: int, message_id: int, message: MessageData) -> None:
        """Edit ``message_id`` to ``message``; see :meth:`MessageEditor.edit`.

        Discord forgets a message's ``allowed_mentions`` on PATCH (discord-api-docs issue
        3378), so every edit sends "none" again: an edit never pings.
        """
        channel = self._channel(channel_id)
        partial = channel.get_partial_message(message_id)  # type: ignore[attr-defined]
        embeds = [discord.Embed.from_dict(e.to_dict()) for e in message.embeds]
        try:
            await partial.edit(
                content=message.content,
                embeds=embeds,
                view=link_view(message),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except Exception as exc:
            error = classify_edit(exc)
            if error is None:
                raise
            raise error from exc
