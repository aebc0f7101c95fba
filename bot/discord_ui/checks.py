"""Run-time checks for commands: who may change settings, and whether the bot can post.

``default_permissions(manage_guild=True)`` only hides commands by default: a server can grant
them to anyone through Integrations settings. So state-changing commands check the invoking
member's **Manage Server** permission again when they run.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.discord_ui.errors import UserError

# What posting an alert needs, in the order Discord's settings page lists them.
ALERT_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
)


def require_guild(interaction: discord.Interaction[Any]) -> discord.Guild:
    """The server the command was used in (commands registered guild-only still check)."""
    if interaction.guild is None:
        raise UserError("This command only works in a server where I am a member.")
    return interaction.guild


def is_manager(interaction: discord.Interaction[Any]) -> bool:
    """Whether the invoking member has **Manage Server** (or Administrator) here."""
    permissions = interaction.permissions
    return bool(permissions.manage_guild or permissions.administrator)


def require_manager(interaction: discord.Interaction[Any]) -> discord.Guild:
    """The server, if the invoking member has **Manage Server** there."""
    guild = require_guild(interaction)
    if not is_manager(interaction):
        raise UserError(
            "You need the **Manage Server** permission to change Spacecast's settings here."
        )
    return guild


def missing_alert_permissions(
    channel: discord.abc.GuildChannel, member: discord.Member
) -> list[str]:
    """Names of the permissions ``member`` lacks in ``channel`` to post alerts.

    Only the first missing one of the chain is named: like Discord, ``permissions_for`` drops
    every later permission when View Channel or Send Messages is denied, so naming those too
    would send the admin after settings that are fine.
    """
    granted = channel.permissions_for(member)
    for flag, label in ALERT_PERMISSIONS:
        if not getattr(granted, flag):
            return [label]
    return []


def require_bot_can_post(guild: discord.Guild, channel: discord.abc.GuildChannel) -> None:
    """Refuse, naming what is missing, if the bot could not post alerts in ``channel``."""
    me = guild.me
    if me is None:  # not cached yet (just joined): Discord will tell us when we send
        return
    missing = missing_alert_permissions(channel, me)
    if missing:
        names = ", ".join(f"**{name}**" for name in missing)
        raise UserError(f"I can't send messages in {channel.mention}: missing {names}.")


def text_channel(
    interaction: discord.Interaction[Any], given: discord.TextChannel | None
) -> discord.TextChannel:
    """The channel option, or the channel the command was used in if that is a text channel."""
    if given is not None:
        return given
    if isinstance(interaction.channel, discord.TextChannel):
        return interaction.channel
    raise UserError("Pick a text channel with the `channel` option (threads can't get alerts).")
