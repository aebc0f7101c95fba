"""Telling a server that a channel's alerts stopped: the I/O around :mod:`bot.core.admin_notice`.

::

    notifier = AdminNotifier(store, DiscordSender(bot), CachedSystemChannels(bot))
    worker = DeliveryWorker(..., on_channel_disabled=notifier.channel_disabled)
    # the worker's settler calls it after disabling a channel

:meth:`AdminNotifier.channel_disabled` reads the server's subscriptions, its system channel and
when it was last told; :func:`~bot.core.admin_notice.plan_notice` decides; the notice goes out
through the same :class:`~bot.discord_ui.sender.MessageSender` as alerts, pinging nobody; the
time is kept in ``poll_state`` so the once-an-hour rule survives restarts.

One process delivers a given server's rows (the outbox claim is sharded by guild), so a lock
per server in this process is enough to keep two channels dying in one batch from both
announcing themselves.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Protocol

import discord

from bot.core.admin_notice import plan_notice
from bot.discord_ui.sender import (
    ChannelGone,
    MessageSender,
    PermanentSendError,
    TransientSendError,
)
from bot.services.delivery.settle import ChannelDisabled
from bot.store import Store

log = logging.getLogger("bot.delivery")


def last_notice_key(guild_id: int) -> str:
    """The ``poll_state`` key holding when ``guild_id`` was last told about a dead channel."""
    return f"admin_notice:last_at:{guild_id}"


class SystemChannels(Protocol):
    """Where a server's system channel is, if the bot may post there."""

    def usable_system_channel(self, guild_id: int) -> int | None:
        """The system channel's id, or None (none set, not cached, or the bot cannot post)."""
        ...


class CachedSystemChannels:
    """:class:`SystemChannels` from discord.py's guild cache (the gateway keeps it fresh)."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    def usable_system_channel(self, guild_id: int) -> int | None:
        """The system channel if the bot can view it, send and embed there; else None.

        A server the client has not cached is skipped rather than fetched: that would spend
        REST requests, and permissions cannot be worked out without the cached roles anyway.
        """
        guild = self._client.get_guild(guild_id)
        if guild is None or guild.me is None or guild.system_channel is None:
            return None
        channel = guild.system_channel
        granted = channel.permissions_for(guild.me)
        if granted.view_channel and granted.send_messages and granted.embed_links:
            return channel.id
        return None


class AdminNotifier:
    """Posts one notice per server and hour when a channel's subscriptions were disabled."""

    def __init__(
        self, store: Store, sender: MessageSender, system_channels: SystemChannels
    ) -> None:
        self._store = store
        self._sender = sender
        self._system_channels = system_channels
        self._locks: dict[int, asyncio.Lock] = {}

    async def channel_disabled(self, event: ChannelDisabled) -> None:
        """Tell ``event``'s server, unless it was told within the hour or has nowhere to hear it.

        Send errors are logged here; store errors propagate (the settler logs them).
        """
        lock = self._locks.setdefault(event.guild_id, asyncio.Lock())
        async with lock:
            await self._notify(event)

    async def _notify(self, event: ChannelDisabled) -> None:
        ctx = {"guild_id": event.guild_id, "channel_id": event.channel_id}
        key = last_notice_key(event.guild_id)
        last = await self._store.get_datetime(key)
        notice = plan_notice(
            await self._store.list_subscriptions(event.guild_id),
            guild_id=event.guild_id,
            dead_channel_id=event.channel_id,
            system_channel_id=self._system_channels.usable_system_channel(event.guild_id),
            last_notice_at=last,
            now=event.at,
        )
        if notice is None:
            log.info("no admin notice: told within the hour, or no channel to tell", extra=ctx)
            return
        # Recorded before sending: a crash or timeout mid-send must not lead to a second
        # notice within the hour.
        await self._store.set_datetime(key, event.at)
        ctx["notice_channel_id"] = notice.channel_id
        try:
            message_id = await self._sender.send(
                notice.channel_id, notice.message, nonce=notice.nonce, allowed_role_ids=()
            )
        except (ChannelGone, PermanentSendError) as exc:
            # Certainly not posted: give the hour back, so the next failure may still tell them.
            await self._restore(key, last)
            log.warning("admin notice refused", extra={**ctx, "error": exc.reason})
            return
        except TransientSendError as exc:
            # Perhaps posted (a timeout after Discord took it): keep the hour, do not resend.
            log.warning("admin notice may not have been sent", extra={**ctx, "error": exc.reason})
            return
        log.info("admin notice sent", extra={**ctx, "message_id": message_id})

    async def _restore(self, key: str, last: datetime | None) -> None:
        if last is None:
            await self._store.delete_state(key)
        else:
            await self._store.set_datetime(key, last)
