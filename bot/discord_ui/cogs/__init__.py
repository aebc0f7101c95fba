"""The slash commands.

``/spacecast …`` (subscribe, unsubscribe, list, pause, resume, test, status) is one group for
server managers: Discord applies ``default_member_permissions`` to a top-level command as a
whole, so the settings commands live together, hidden from members without **Manage Server**.
``/next`` and ``/event`` are top level and open to everyone: a member asking what launches
next should not need a permission. The group is one cog assembled from two mixins, so each
module stays one feature (subscriptions, admin).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord import app_commands
from discord.ext import commands

from bot.discord_ui.cogs.admin import AdminCommands
from bot.discord_ui.cogs.calendar import CalendarCommands
from bot.discord_ui.cogs.info import InfoCog
from bot.discord_ui.cogs.subscriptions import SubscriptionCommands

if TYPE_CHECKING:
    from bot.discord_ui.client import SpacecastBot


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class SpacecastCog(
    SubscriptionCommands,
    AdminCommands,
    CalendarCommands,
    commands.GroupCog,
    name="Spacecast",
    group_name="spacecast",
    group_description="Spaceflight alerts for this server (needs Manage Server)",
):
    """``/spacecast``: subscriptions and operations."""


async def add_cogs(bot: SpacecastBot) -> None:
    """Add every cog (and so every slash command) to ``bot``."""
    await bot.add_cog(SpacecastCog(bot))
    await bot.add_cog(InfoCog(bot))


__all__ = ["InfoCog", "SpacecastCog", "add_cogs"]
