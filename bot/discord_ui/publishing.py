"""Publishing (crossposting) a message of an announcement channel to the channels that follow it.

Discord's "Crosspost Message" (``POST /channels/{channel.id}/messages/{message.id}/crosspost``)
works only in an announcement channel (type 5, ``GUILD_ANNOUNCEMENT``) and needs Send Messages
for the bot's own messages. :class:`DiscordPublisher` wraps it and the channel-type check the
feed makes before its first post (one ``GET /channels/{id}``).
"""

from __future__ import annotations

from typing import Protocol

import discord

from bot.discord_ui.sender import SendError, classify


class Publisher(Protocol):
    """What the feed needs of Discord beyond sending messages."""

    async def channel_type(self, channel_id: int) -> str:
        """The channel's type name (``news`` for an announcement channel, ``text``, ...)."""
        ...

    async def publish(self, channel_id: int, message_id: int) -> None:
        """Crosspost ``message_id`` to the followers; raises a :class:`SendError` on failure."""
        ...


class DiscordPublisher:
    """:class:`Publisher` on a logged-in :class:`discord.Client`."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def channel_type(self, channel_id: int) -> str:
        """``GET /channels/{id}``: discord.py names type 5 ``news``."""
        try:
            channel = await self._client.fetch_channel(channel_id)
        except Exception as exc:
            raise _translated(exc) from exc
        return str(getattr(channel, "type", "unknown"))

    async def publish(self, channel_id: int, message_id: int) -> None:
        """Crosspost; discord.py waits out a 429's ``retry_after`` itself and tries again."""
        message = self._client.get_partial_messageable(channel_id).get_partial_message(message_id)
        try:
            await message.publish()
        except Exception as exc:
            raise _translated(exc) from exc


def _translated(exc: Exception) -> Exception:
    error = classify(exc)
    return error if error is not None else exc


__all__ = ["DiscordPublisher", "Publisher", "SendError"]
