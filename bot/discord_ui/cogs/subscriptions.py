"""``/spacecast subscribe | unsubscribe | list | pause | resume | reminders | style``: which
channel gets which alerts, which T-minus reminders, and as a feed or as live cards.

A subscription is *paused* by an admin, or *disabled* by the delivery worker when Discord
refused its channel; ``list`` shows the fix for the latter and ``resume`` proves it worked.

Validation and wording are shared with the terminal's ``spacecast subscriptions`` through
:mod:`bot.core.subscription_options`; every answer here is ephemeral (configuration chatter is
for the admin who asked, not for the alert channel).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands

from bot.core.admin_notice import POST_PERMISSIONS, how_to_fix, is_disabled_by_delivery
from bot.core.changes import ALERT_KINDS
from bot.core.reminders import describe_offsets
from bot.core.subscription_options import (
    describe_subscription,
    parse_reminders,
    parse_style,
    parse_subscription_options,
)
from bot.core.subscriptions import Subscription, duplicate_of
from bot.discord_ui import autocomplete as ac
from bot.discord_ui.checks import (
    is_manager,
    missing_alert_permissions,
    require_bot_can_post,
    require_manager,
    text_channel,
)
from bot.discord_ui.cogs.base import CogBase
from bot.discord_ui.errors import NO_MENTIONS, UserError, answering, defer, reply
from bot.discord_ui.sender import MISSING_ACCESS

if TYPE_CHECKING:
    from bot.discord_ui.client import SpacecastBot

    Interaction = discord.Interaction[SpacecastBot]

log = logging.getLogger("bot.discord")

# Posted by /spacecast resume before re-enabling a subscription Discord's refusal disabled.
CAN_POST_AGAIN = "✅ Spacecast can post here again: alerts of subscription #{id} resume."

# Discord integer options stop at 2**53; subscription ids are small positive integers.
SubscriptionId = app_commands.Range[int, 1, 2**53 - 1]
ListText = app_commands.Range[str, 1, 1000]
Reason = app_commands.Range[str, 1, 200]
OffsetsText = app_commands.Range[str, 1, 100]

# Bounds one server's footprint (and keeps /spacecast list readable).
MAX_SUBSCRIPTIONS_PER_GUILD = 50
LIST_LINE_MAX = 400
LIST_BUDGET = 3900  # of an embed description's 4096

KIND_LABELS = {
    "webcast_live": "webcast live",
    "date_changed": "date changed",
    "new_update": "new update",
    "status_changed": "status changed",
    "new_item": "new item",
}
KIND_OPTIONS = [(kind.value, f"{KIND_LABELS[kind.value]} ({kind.value})") for kind in ALERT_KINDS]


def sources_text(events: bool, launches: bool, types: str | None, providers: str | None) -> str:
    """The ``sources`` text for the shared parser, refusing filters that would do nothing."""
    if not (events or launches):
        raise UserError("Turn on at least one of `events` or `launches`.")
    if types and not events and types.strip().lower() != "all":
        raise UserError("`types` filters events, but `events` is off.")
    if providers and not launches and providers.strip().lower() != "all":
        raise UserError("`providers` filters launches, but `launches` is off.")
    return ",".join(word for word, on in (("events", events), ("launches", launches)) if on)


def role_warning(role: discord.Role, channel: discord.TextChannel) -> str | None:
    """A note when pinging ``role`` in ``channel`` would not notify anyone."""
    me = channel.guild.me
    if role.mentionable or me is None or channel.permissions_for(me).mention_everyone:
        return None
    return (
        f"⚠️ {role.mention} is not mentionable and I lack **Mention @everyone, @here and All "
        f"Roles** in {channel.mention}: alerts will name the role without notifying it."
    )


def listing(lines: list[str]) -> str:
    """Subscription entries joined within an embed description, noting any left out.

    An entry may span lines (a disabled subscription's fix goes under it); each line is clipped.
    """
    shown: list[str] = []
    used = 0
    for index, entry in enumerate(lines):
        line = "\n".join(ac.clip(part, LIST_LINE_MAX) for part in entry.split("\n"))
        if used + len(line) + 1 > LIST_BUDGET:
            shown.append(f"…and {len(lines) - index} more.")
            break
        shown.append(line)
        used += len(line) + 1
    return "\n".join(shown)


def list_entry(
    sub: Subscription, type_names: Mapping[int, str], provider_names: Mapping[int, str]
) -> str:
    """One subscription for ``/spacecast list``; one Discord refused gets how to fix it below."""
    line = describe_subscription(sub, type_names, provider_names, markdown=True)
    if is_disabled_by_delivery(sub):
        line += "\n↳ " + how_to_fix(sub.channel_id, [sub.id])
    return line


def refused_text(
    channel: discord.abc.GuildChannel, me: discord.Member | None, exc: discord.HTTPException
) -> str:
    """What to grant after Discord refused the test message in ``channel``.

    The cache names the missing permission when it knows; else Discord's code points at one
    (50001 Missing Access: the channel is hidden), or all three are worth checking.
    """
    missing = missing_alert_permissions(channel, me) if me is not None else []
    if not missing and exc.code == MISSING_ACCESS:
        missing = ["View Channel"]
    if missing:
        return f"I'm missing {', '.join(f'**{name}**' for name in missing)} there."
    names = [f"**{name}**" for name in POST_PERMISSIONS]
    return f"Check that I have {', '.join(names[:-1])} and {names[-1]} there."


class SubscriptionCommands(CogBase):
    """Subscription management (mixed into the ``/spacecast`` group)."""

    async def _own_subscription(self, guild: discord.Guild, subscription_id: int) -> Subscription:
        sub = await self.store.get_subscription(subscription_id)
        if sub is None or sub.guild_id != guild.id:
            # Another server's id gets the same answer: ids must not reveal other servers.
            raise UserError(
                f"There is no subscription #{subscription_id} in this server; "
                "`/spacecast list` shows them."
            )
        return sub

    async def _complete_subscription(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        guild = interaction.guild
        # Suggestions would list the server's subscriptions to anyone the command is granted
        # to; the commands themselves refuse members without Manage Server, so offer them none.
        if guild is None or not is_manager(interaction):
            return []
        subs = await self.store.list_subscriptions(guild.id)
        labelled = []
        for sub in subs:
            channel = guild.get_channel(sub.channel_id)
            labelled.append((sub, ac.subscription_label(sub, channel.name if channel else None)))
        return ac.subscription_choices(current, labelled)

    async def _complete_types(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        options = ac.type_options(await self.store.list_event_types())
        return ac.list_choices(current, options, every_label="All event types")

    async def _complete_providers(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = await self.provider_names()
        options = [(str(i), f"{name} ({i})") for i, name in sorted(names.items())]
        return ac.list_choices(current, options, every_label="All launch providers")

    async def _complete_kinds(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return ac.list_choices(current, KIND_OPTIONS, every_label="All alert kinds")

    @app_commands.command(name="subscribe", description="Post spaceflight alerts in a channel")
    @app_commands.describe(
        channel="Channel for the alerts (default: this one)",
        events="Alert about LL2 events: dockings, spacewalks, landings... (default: on)",
        launches="Alert about launches (default: on)",
        types="Event types, comma-separated; type a name to search (default: all)",
        providers="Launch provider ids, comma-separated, e.g. 121 for SpaceX (default: all)",
        kinds="Which alerts, comma-separated: webcast_live, date_changed... (default: all)",
        role="Role to ping with each alert (default: none)",
        reminders="T-minus reminders, comma-separated: 24h,1h,10m (default: none)",
        style="feed: a message per alert (default); card: one live message per item, edited",
    )
    @app_commands.autocomplete(
        types=_complete_types, providers=_complete_providers, kinds=_complete_kinds
    )
    async def subscribe(
        self,
        interaction: Interaction,
        channel: discord.TextChannel | None = None,
        events: bool = True,
        launches: bool = True,
        types: ListText | None = None,
        providers: ListText | None = None,
        kinds: ListText | None = None,
        role: discord.Role | None = None,
        reminders: OffsetsText | None = None,
        style: Literal["feed", "card"] | None = None,
    ) -> None:
        """Create a subscription after checking the bot can post in the channel."""
        async with answering(interaction):
            guild = require_manager(interaction)
            target = text_channel(interaction, channel)
            require_bot_can_post(guild, target)
            if role is not None and role.is_default():
                raise UserError("Alerts never ping @everyone; pick a real role or leave it empty.")
            sources = sources_text(events, launches, types, providers)
            await defer(interaction)
            type_names = await self.type_names()
            options = parse_subscription_options(
                guild=str(guild.id),
                channel=str(target.id),
                sources=sources,
                types=types or "all",
                providers=providers or "all",
                kinds=kinds or "all",
                role=str(role.id) if role is not None else None,
                reminders=reminders,
                style=style,
                known_types=type_names or None,  # before the first poll, any id is accepted
                prefix="",
            )
            existing = await self.store.list_subscriptions(guild.id)
            if len(existing) >= MAX_SUBSCRIPTIONS_PER_GUILD:
                raise UserError(
                    f"This server has {len(existing)} subscriptions, the most I keep; "
                    "remove one with `/spacecast unsubscribe` first."
                )
            draft = options.to_subscription(0)
            if (twin := duplicate_of(draft, existing)) is not None:
                raise UserError(f"{target.mention} already has this subscription (#{twin.id}).")
            sub = await self.store.insert_subscription(draft, now=self.now())
            providers_named = await self.provider_names() if sub.providers else {}
            lines = [f"✅ Subscribed. {describe_subscription(sub, type_names, providers_named)}"]
            if role is not None and (warning := role_warning(role, target)) is not None:
                lines.append(warning)
            lines.append(f"Try it: `/spacecast test` in {target.mention}.")
            await reply(interaction, "\n".join(lines))

    @app_commands.command(name="unsubscribe", description="Stop a subscription for good")
    @app_commands.describe(subscription_id="The subscription to remove (see /spacecast list)")
    @app_commands.rename(subscription_id="id")
    @app_commands.autocomplete(subscription_id=_complete_subscription)
    async def unsubscribe(self, interaction: Interaction, subscription_id: SubscriptionId) -> None:
        """Delete one of this server's subscriptions."""
        async with answering(interaction):
            guild = require_manager(interaction)
            await defer(interaction)
            sub = await self._own_subscription(guild, subscription_id)
            if not await self.store.remove_subscription(sub.id, guild_id=guild.id):
                raise UserError(f"Subscription #{sub.id} was already removed.")
            await reply(interaction, f"🗑️ Removed subscription #{sub.id} (<#{sub.channel_id}>).")

    @app_commands.command(name="list", description="Show this server's subscriptions")
    async def list_(self, interaction: Interaction) -> None:
        """Every subscription of this server, one readable line each."""
        async with answering(interaction):
            guild = require_manager(interaction)
            await defer(interaction)
            subs = await self.store.list_subscriptions(guild.id)
            if not subs:
                await reply(
                    interaction, "No subscriptions here yet. Add one with `/spacecast subscribe`."
                )
                return
            type_names = await self.type_names()
            provider_names = await self.provider_names() if any(s.providers for s in subs) else {}
            lines = [list_entry(s, type_names, provider_names) for s in subs]
            embed = discord.Embed(
                title=f"Spacecast subscriptions ({len(subs)})",
                description=listing(lines),
                colour=0x5865F2,
            )
            await reply(interaction, embed=embed)

    @app_commands.command(name="pause", description="Pause a subscription's alerts")
    @app_commands.describe(
        subscription_id="The subscription to pause (see /spacecast list)",
        reason="Why, shown in /spacecast list (optional)",
    )
    @app_commands.rename(subscription_id="id")
    @app_commands.autocomplete(subscription_id=_complete_subscription)
    async def pause(
        self,
        interaction: Interaction,
        subscription_id: SubscriptionId,
        reason: Reason | None = None,
    ) -> None:
        """Disable a subscription, keeping its settings."""
        async with answering(interaction):
            guild = require_manager(interaction)
            await defer(interaction)
            sub = await self._own_subscription(guild, subscription_id)
            if not sub.enabled:
                raise UserError(f"Subscription #{sub.id} is already paused.")
            why = " ".join((reason or f"paused by {interaction.user.name}").split())
            await self.store.set_subscription_enabled(sub.id, False, why, now=self.now())
            await reply(interaction, f"⏸️ Paused subscription #{sub.id} (<#{sub.channel_id}>).")

    @app_commands.command(name="resume", description="Resume a paused or disabled subscription")
    @app_commands.describe(subscription_id="The subscription to resume (see /spacecast list)")
    @app_commands.rename(subscription_id="id")
    @app_commands.autocomplete(subscription_id=_complete_subscription)
    async def resume(self, interaction: Interaction, subscription_id: SubscriptionId) -> None:
        """Enable a subscription again, once the bot can post in its channel.

        One that Discord's refusal disabled must first get a test message through: the cached
        permissions can look right while Discord still refuses, and every refused alert counts
        towards Discord's invalid-request ban.
        """
        async with answering(interaction):
            guild = require_manager(interaction)
            await defer(interaction)
            sub = await self._own_subscription(guild, subscription_id)
            if sub.enabled:
                raise UserError(f"Subscription #{sub.id} is already active.")
            channel = guild.get_channel(sub.channel_id)
            if channel is None:
                raise UserError(
                    f"The channel of subscription #{sub.id} no longer exists; "
                    "remove it with `/spacecast unsubscribe`."
                )
            # A subscription paused for missing permissions would fail again at once.
            require_bot_can_post(guild, channel)
            proven = ""
            if is_disabled_by_delivery(sub):
                await self._test_message(guild, channel, sub)
                proven = " My test message got through."
            await self.store.set_subscription_enabled(sub.id, True, now=self.now())
            await reply(
                interaction, f"▶️ Resumed subscription #{sub.id} ({channel.mention}).{proven}"
            )

    async def _test_message(
        self, guild: discord.Guild, channel: discord.abc.GuildChannel, sub: Subscription
    ) -> None:
        """Post the "can post here again" message, or refuse, saying what to grant."""
        if not isinstance(channel, discord.abc.Messageable):
            raise UserError(f"{channel.mention} is not a channel I can post alerts in.")
        try:
            await channel.send(CAN_POST_AGAIN.format(id=sub.id), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.info("resume test message refused in channel %s: %s", channel.id, exc)
            said = f"{exc.status} {exc.code}: {exc.text}" if exc.code else str(exc.status)
            head = (
                f"Discord refused my test message in {channel.mention} ({said}), "
                f"so subscription #{sub.id} stays disabled."
            )
            if isinstance(exc, discord.Forbidden):
                raise UserError(f"{head} {refused_text(channel, guild.me, exc)}") from None
            raise UserError(f"{head} Please try again in a minute.") from None

    @app_commands.command(name="reminders", description="Set a subscription's T-minus reminders")
    @app_commands.describe(
        subscription_id="The subscription to change (see /spacecast list)",
        offsets="Comma-separated, e.g. 24h,1h,10m; 'none' turns reminders off",
    )
    @app_commands.rename(subscription_id="subscription")
    @app_commands.autocomplete(subscription_id=_complete_subscription)
    async def reminders(
        self, interaction: Interaction, subscription_id: SubscriptionId, offsets: OffsetsText
    ) -> None:
        """Replace the reminder offsets of one of this server's subscriptions."""
        async with answering(interaction):
            guild = require_manager(interaction)
            parsed = parse_reminders(offsets, "offsets")  # a bad text never reaches the store
            await defer(interaction)
            sub = await self._own_subscription(guild, subscription_id)
            updated = await self.store.update_subscription(sub.id, reminders=parsed, now=self.now())
            if updated is None:
                raise UserError(f"Subscription #{sub.id} was just removed.")
            await reply(
                interaction,
                f"⏰ Subscription #{sub.id} (<#{sub.channel_id}>) reminders: "
                f"{describe_offsets(updated.reminders)}.",
            )

    @app_commands.command(name="style", description="Show a subscription as a feed or live cards")
    @app_commands.describe(
        subscription_id="The subscription to change (see /spacecast list)",
        style="feed: a message per alert; card: one live message per item, edited in place",
    )
    @app_commands.rename(subscription_id="subscription")
    @app_commands.autocomplete(subscription_id=_complete_subscription)
    async def style(
        self,
        interaction: Interaction,
        subscription_id: SubscriptionId,
        style: Literal["feed", "card"],
    ) -> None:
        """Switch one of this server's subscriptions between feed and live cards (issue 16)."""
        async with answering(interaction):
            guild = require_manager(interaction)
            parsed = parse_style(style, "style")
            await defer(interaction)
            sub = await self._own_subscription(guild, subscription_id)
            updated = await self.store.update_subscription(sub.id, style=parsed, now=self.now())
            if updated is None:
                raise UserError(f"Subscription #{sub.id} was just removed.")
            what = (
                "one live card per item, edited in place (webcast live and outcomes still ping)"
                if updated.style.value == "card"
                else "a message per alert"
            )
            await reply(
                interaction,
                f"🗂️ Subscription #{sub.id} (<#{sub.channel_id}>) style: "
                f"{updated.style.value}: {what}.",
            )
