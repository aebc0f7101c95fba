"""``/spacecast schedule enable | disable | show``: the server calendar.

With the calendar on, the bot keeps the server's Events list (Discord's scheduled events, which
every member sees with "Interested" and Discord's own reminder) in step with LL2: see
:mod:`bot.services.calendar`. Validation and wording are shared with the terminal's
``spacecast schedule`` through :mod:`bot.core.schedule.options`; answers are ephemeral.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.core.schedule import (
    DEFAULT_HORIZON_DAYS,
    DEFAULT_MAX_EVENTS,
    MAX_HORIZON_DAYS,
    MAX_MAX_EVENTS,
    MIN_HORIZON_DAYS,
    MIN_MAX_EVENTS,
)
from bot.core.schedule.options import describe_calendar, parse_calendar_options
from bot.core.subscription_options import OptionError
from bot.discord_ui import autocomplete as ac
from bot.discord_ui.checks import require_manager
from bot.discord_ui.cogs.base import CogBase
from bot.discord_ui.cogs.subscriptions import sources_text
from bot.discord_ui.errors import UserError, answering, reply
from bot.store.calendar import event_url

if TYPE_CHECKING:
    from bot.discord_ui.client import SpacecastBot

    Interaction = discord.Interaction[SpacecastBot]

Horizon = app_commands.Range[int, MIN_HORIZON_DAYS, MAX_HORIZON_DAYS]
MaxEvents = app_commands.Range[int, MIN_MAX_EVENTS, MAX_MAX_EVENTS]
ListText = app_commands.Range[str, 1, 1000]

NEEDS_EVENTS = (
    "I need the **Create Events** permission in this server to put launches in its Events "
    "(Server Settings → Roles → Spacecast → Create Events), then run this again."
)


def require_bot_can_create_events(guild: discord.Guild) -> None:
    """Refuse, naming the permission, when the bot can neither create nor manage events."""
    me = guild.me
    if me is None:  # not cached yet: Discord's first 403 will disable the calendar instead
        return
    permissions = me.guild_permissions
    if not (permissions.create_events or permissions.manage_events or permissions.administrator):
        raise UserError(NEEDS_EVENTS)


class CalendarCommands(CogBase):
    """The server calendar (mixed into the ``/spacecast`` group as ``schedule``)."""

    schedule = app_commands.Group(
        name="schedule", description="Put upcoming launches and events in this server's Events"
    )

    async def _complete_calendar_types(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        options = ac.type_options(await self.store.list_event_types())
        return ac.list_choices(current, options, every_label="All event types")

    @schedule.command(name="enable", description="Mirror upcoming launches and events in Events")
    @app_commands.describe(
        events="Include LL2 events: dockings, spacewalks, landings... (default: on)",
        launches="Include launches (default: on)",
        types="Event types, comma-separated; type a name to search (default: all)",
        providers="Launch provider ids, comma-separated, e.g. 121 for SpaceX (default: all)",
        horizon=f"How many days ahead, {MIN_HORIZON_DAYS}-{MAX_HORIZON_DAYS} (default: 7)",
        max_events=f"Most events kept at once, {MIN_MAX_EVENTS}-{MAX_MAX_EVENTS} (default: 10)",
    )
    @app_commands.rename(max_events="max")
    @app_commands.autocomplete(types=_complete_calendar_types)
    async def schedule_enable(
        self,
        interaction: Interaction,
        events: bool = True,
        launches: bool = True,
        types: ListText | None = None,
        providers: ListText | None = None,
        horizon: Horizon = DEFAULT_HORIZON_DAYS,
        max_events: MaxEvents = DEFAULT_MAX_EVENTS,
    ) -> None:
        """Turn the calendar on (or change its filters)."""
        async with answering(interaction):
            guild = require_manager(interaction)
            require_bot_can_create_events(guild)
            try:
                settings = parse_calendar_options(
                    guild=str(guild.id),
                    sources=sources_text(events, launches, types, providers),
                    types=types or "all",
                    providers=providers or "all",
                    horizon_days=horizon,
                    max_events=max_events,
                    known_types=dict(await self.store.list_event_types()) or None,
                    prefix="",
                    horizon_name="horizon",
                )
            except OptionError as exc:
                raise UserError(str(exc)) from None
            await self.store.save_calendar(settings, now=self.now())
            managed = (await self.store.managed_counts(self.now())).get(guild.id, 0)
            await reply(
                interaction,
                "📅 " + describe_calendar(settings, managed) + ". Events appear within a minute.",
                ephemeral=True,
            )

    @schedule.command(name="disable", description="Stop the calendar; remove events not started")
    async def schedule_disable(self, interaction: Interaction) -> None:
        """Turn the calendar off; the bot deletes its events that have not started."""
        async with answering(interaction):
            guild = require_manager(interaction)
            if not await self.store.disable_calendar(guild.id, now=self.now()):
                raise UserError("The calendar is not on here; `/spacecast schedule enable`.")
            await reply(
                interaction,
                "Calendar off: I'm removing my events that have not started; any running now "
                "end by themselves.",
                ephemeral=True,
            )

    @schedule.command(name="show", description="Show the calendar's settings and its events")
    async def schedule_show(self, interaction: Interaction) -> None:
        """The settings, and links to the events the bot keeps here now."""
        async with answering(interaction):
            guild = require_manager(interaction)
            settings = await self.store.get_calendar(guild.id)
            if settings is None:
                raise UserError("No calendar here yet; `/spacecast schedule enable` starts one.")
            now = self.now()
            links = await self.store.event_links(guild.id, now)
            removed = (await self.store.dismissed_counts()).get(guild.id, 0)
            lines = [describe_calendar(settings, len(links), removed) + "."]
            if settings.disabled_reason is not None:
                lines.append(NEEDS_EVENTS)
            lines += [f"• <{url}>" for url in sorted(links.values())[:20]]
            await reply(interaction, ac.clip("\n".join(lines), 2000), ephemeral=True)


__all__ = ["CalendarCommands", "event_url"]
