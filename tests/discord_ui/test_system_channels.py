"""The admin notice's system-channel fallback on discord.py's real guild cache (SimCord)."""

from __future__ import annotations

import discord

from bot.core.admin_notice import disabled_reason
from bot.discord_ui.sender import DiscordSender
from bot.services.delivery.notices import AdminNotifier, CachedSystemChannels
from bot.services.delivery.settle import ChannelDisabled
from tests.discord_ui.conftest import World

FORBIDDEN = disabled_reason("403 50013: Missing Permissions")


async def make_system_channel(world: World, **overwrite: bool | None) -> int:
    """A new channel made the server's system channel (with the bot's overwrite, if any)."""
    overwrites = {world.bot_member(): discord.PermissionOverwrite(**overwrite)} if overwrite else {}
    channel = world.guild.create_text_channel("welcome", overwrites=overwrites)
    world.env.backend.edit_guild(world.guild.id, {"system_channel_id": channel.id})
    await world.env.settle()
    return channel.id


async def test_a_system_channel_the_bot_can_post_in_is_usable(world: World) -> None:
    """View, Send and Embed Links granted: the system channel is offered."""
    system = await make_system_channel(world)
    assert CachedSystemChannels(world.bot).usable_system_channel(world.guild.id) == system


async def test_a_system_channel_without_embed_links_is_not_usable(world: World) -> None:
    """The notice is an embed: without Embed Links the system channel is skipped."""
    await make_system_channel(world, embed_links=False)
    assert CachedSystemChannels(world.bot).usable_system_channel(world.guild.id) is None


async def test_a_server_without_system_channel_has_none(world: World) -> None:
    """No system channel set: nothing to fall back on."""
    assert CachedSystemChannels(world.bot).usable_system_channel(world.guild.id) is None


async def test_a_server_not_in_the_cache_is_skipped(world: World) -> None:
    """An unknown (uncached) server is not fetched: no fallback."""
    assert CachedSystemChannels(world.bot).usable_system_channel(424242424242424242) is None


async def test_the_notice_posts_in_the_system_channel_pinging_nobody(world: World) -> None:
    """End to end on SimCord's Discord: the notice is a valid embed in the system channel."""
    system = await make_system_channel(world)
    sub = await world.store.add_subscription(world.guild.id, world.channel.id)
    await world.store.set_subscription_enabled(sub.id, False, FORBIDDEN)
    notifier = AdminNotifier(world.store, DiscordSender(world.bot), CachedSystemChannels(world.bot))
    await notifier.channel_disabled(
        ChannelDisabled(world.guild.id, world.channel.id, FORBIDDEN, 1, world.env.now())
    )
    [notice] = world.guild.channels["welcome"].history()
    assert notice.channel.id == system
    assert notice.embeds[0].title == "⚠️ Spacecast stopped posting alerts in a channel"
    assert f"`/spacecast resume {sub.id}`" in (notice.embeds[0].description or "")
    assert (notice.mention_everyone, notice.role_mentions, notice.mentions) == (False, [], [])
