"""``/spacecast status`` (is the bot healthy?) and ``/spacecast test`` (do alerts get through?)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot import __version__
from bot.core.admin_notice import disabled_summary
from bot.core.render import render_message, render_reminder, sample_change
from bot.discord_ui.checks import require_bot_can_post, require_manager, text_channel
from bot.discord_ui.cogs.base import CogBase
from bot.discord_ui.convert import send_kwargs
from bot.discord_ui.errors import NO_MENTIONS, UserError, answering, defer, reply
from bot.store import OutboxStatus
from bot.store.delivery_queries import guild_outbox_counts

if TYPE_CHECKING:
    from bot.discord_ui.client import SpacecastBot

    Interaction = discord.Interaction[SpacecastBot]

log = logging.getLogger("bot.discord")

# Keys the poller writes after every cycle (see bot.services.poller).
LAST_POLL_KEY = "poll:last_at"
NEXT_POLL_KEY = "poll:next_at"
STATUS_COLOUR = 0x5865F2


def when(value: datetime | None) -> str:
    """``<t:…:F> (<t:…:R>)``, shown in each reader's own time zone, or ``never``."""
    if value is None:
        return "never"
    return f"{discord.utils.format_dt(value, 'F')} ({discord.utils.format_dt(value, 'R')})"


def shard_text(bot: discord.AutoShardedClient, guild: discord.Guild | None) -> str:
    """This server's shard, the shards this process runs, and their latency."""
    count = bot.shard_count or 1
    mine = f"shard {guild.shard_id} of {count}" if guild is not None else f"{count} shard(s)"
    running = sorted(bot.shards) or list(range(count))
    latency = bot.latency
    ms = f", {latency * 1000:.0f} ms heartbeat" if latency == latency and latency > 0 else ""
    return f"{mine}; this process runs {', '.join(map(str, running))}{ms}"


class AdminCommands(CogBase):
    """Operational commands (mixed into the ``/spacecast`` group)."""

    @app_commands.command(name="status", description="Show polling, API budget and delivery health")
    async def status(self, interaction: Interaction) -> None:
        """Polls, LL2 requests this hour, this server's backlog and disabled subscriptions."""
        async with answering(interaction):
            # The group is hidden from members without Manage Server, but a server can grant it
            # to anyone: the backlog and subscription problems are for its managers only.
            guild = require_manager(interaction)
            await defer(interaction)
            now = self.now()
            last_poll = await self.store.get_datetime(LAST_POLL_KEY)
            next_poll = await self.store.get_datetime(NEXT_POLL_KEY)
            used = len(await self.store.load_request_times(now - timedelta(hours=1)))
            budget = self.bot.settings.ll2.requests_per_hour
            counts = await guild_outbox_counts(self.store, guild.id)
            embed = discord.Embed(title="Spacecast status", colour=STATUS_COLOUR)
            embed.add_field(name="Last poll", value=when(last_poll), inline=False)
            embed.add_field(name="Next poll", value=when(next_poll), inline=False)
            embed.add_field(name="LL2 requests (last hour)", value=f"{used} of {budget}")
            embed.add_field(
                name="Deliveries",
                value=f"{counts[OutboxStatus.PENDING]} pending · "
                f"{counts[OutboxStatus.FAILED]} failed",
            )
            problems = disabled_summary(await self.store.list_subscriptions(guild.id))
            if problems is not None:
                embed.add_field(name="⚠️ Disabled subscriptions", value=problems, inline=False)
            embed.add_field(name="Server calendar", value=await self._calendar_text(guild.id))
            embed.add_field(name="Shards", value=shard_text(self.bot, guild), inline=False)
            sends = await self._sends_text()
            if sends is not None:
                embed.add_field(name="Discord sends", value=sends, inline=False)
            embed.set_footer(text=f"Spacecast {__version__} · discord.py {discord.__version__}")
            await reply(interaction, embed=embed)

    async def _sends_text(self) -> str | None:
        """The bot token's send budget: rate now, each process's share, 429s by scope."""
        budget = getattr(self.bot.services, "budget", None)
        if budget is None:
            return None
        status = await budget.status()
        return str(status.describe())

    async def _calendar_text(self, guild_id: int) -> str:
        """This server's calendar, and how many calendars and events the bot manages in all."""
        counts = await self.store.managed_counts(self.now())
        calendars = [c for c in await self.store.list_calendars() if c.active]
        here = next((c for c in calendars if c.guild_id == guild_id), None)
        mine = "off" if here is None else f"on, {counts.get(guild_id, 0)} events"
        return f"{mine} · {len(calendars)} calendars, {sum(counts.values())} events in all"

    @app_commands.command(name="test", description="Post a sample alert to a subscribed channel")
    @app_commands.describe(
        channel="A channel with a Spacecast subscription (default: this one)",
        kind="What to preview: an alert (default) or a T-minus reminder",
    )
    @app_commands.choices(
        kind=[
            app_commands.Choice(name="alert", value="alert"),
            app_commands.Choice(name="reminder", value="reminder"),
        ]
    )
    async def test(
        self,
        interaction: Interaction,
        channel: discord.TextChannel | None = None,
        kind: str = "alert",
    ) -> None:
        """Send a clearly labelled sample alert (or reminder), as real ones are sent, no ping."""
        async with answering(interaction):
            guild = require_manager(interaction)
            target = text_channel(interaction, channel)
            await defer(interaction)
            subs = await self.store.list_subscriptions(guild.id, channel_id=target.id)
            if not subs:
                raise UserError(
                    f"{target.mention} has no Spacecast subscription; "
                    "add one with `/spacecast subscribe` first."
                )
            require_bot_can_post(guild, target)
            now = self.now()
            sample = sample_change(now)
            if kind == "reminder":
                # The channel's own smallest offset, so the preview looks like its real ones.
                offsets = sorted(o for s in subs for o in s.reminders) or [10]
                messages = [render_reminder(sample.item, offsets[0])]
            else:
                messages = render_message([sample], role_id=None, now=now)
            try:
                for message in messages:
                    await target.send(**send_kwargs(message), allowed_mentions=NO_MENTIONS)
            except discord.Forbidden as exc:
                log.info("test alert refused in channel %s: %s", target.id, exc)
                raise UserError(
                    f"Discord refused the test alert in {target.mention} "
                    f"({exc.text or exc.status}); check my permissions there."
                ) from None
            note = "" if any(s.enabled for s in subs) else " Its subscriptions are paused, though."
            what = "reminder" if kind == "reminder" else "alert"
            await reply(interaction, f"📨 Sent a test {what} to {target.mention}.{note}")
