"""What every Spacecast cog shares: the bot, the store, the clock and name lookups."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.core.snapshot import Source
from bot.store import Store

if TYPE_CHECKING:
    from bot.discord_ui.client import SpacecastBot

# Providers are offered from upcoming launches (there is no provider table); this many is plenty.
PROVIDER_SCAN_LIMIT = 300


class CogBase(commands.Cog):
    """Base of the Spacecast cogs (and of the mixins the ``/spacecast`` group is built from)."""

    def __init__(self, bot: SpacecastBot) -> None:
        self.bot = bot

    @property
    def store(self) -> Store:
        """The bot's store."""
        return self.bot.store

    def now(self) -> datetime:
        """The current aware UTC time (discord.py's clock, which test doubles control)."""
        return discord.utils.utcnow()

    async def type_names(self) -> dict[int, str]:
        """Cached LL2 event types, id to name (empty before the first poll fetched them)."""
        return dict(await self.store.list_event_types())

    async def provider_names(self) -> dict[int, str]:
        """Launch providers seen among upcoming launches, id to name."""
        launches = await self.store.upcoming(self.now(), PROVIDER_SCAN_LIMIT, source=Source.LAUNCH)
        return {
            item.provider_id: item.provider_name or f"provider {item.provider_id}"
            for item in launches
            if item.provider_id is not None
        }
