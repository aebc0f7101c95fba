"""``/spacecast schedule enable | disable | show``, ``/spacecast status`` and ``/next`` links."""

from __future__ import annotations

from datetime import timedelta

import discord

from bot.core.schedule import Entry, EventFields, Status
from bot.core.snapshot import Source
from bot.discord_ui.cogs.calendar import NEEDS_EVENTS
from tests.discord_ui.conftest import LAUNCH_ID, World


async def schedule(world: World, action: str, **options: object) -> str:
    """Run ``/spacecast schedule <action>`` as the admin; return the ephemeral answer."""
    result = await world.admin.slash(world.channel, f"spacecast schedule {action}", **options)
    assert result.response is not None, result
    assert result.response.ephemeral
    return result.response.content


async def test_enable_saves_the_filters_and_show_describes_them(world: World) -> None:
    """Launches only, 3 days, at most 4: stored so, and described the way the CLI does."""
    answer = await schedule(world, "enable", events=False, providers="121", horizon=3, max=4)
    settings = await world.store.get_calendar(world.guild.id)
    assert settings is not None
    assert (settings.sources, settings.providers) == (frozenset({Source.LAUNCH}), frozenset({121}))
    assert (settings.horizon_days, settings.max_events) == (3, 4)
    assert "3 days ahead, at most 4 events" in answer
    assert "calendar enabled" in await schedule(world, "show")
    assert "removing my events" in await schedule(world, "disable")
    off = await world.store.get_calendar(world.guild.id)
    assert off is not None
    assert not off.enabled


async def test_enable_names_the_permission_the_bot_lacks(world: World) -> None:
    """Without Create Events (or Manage Events) the answer names it and nothing is saved."""
    bot_role = world.guild.roles["TestBot"]
    allowed = discord.Permissions(send_messages=True, view_channel=True, embed_links=True)
    # SimCord has no public role editor: its backend op emits GUILD_ROLE_UPDATE as Discord does.
    world.env.backend.edit_role(world.guild.id, bot_role.id, {"permissions": allowed.value})
    await world.env.settle()
    answer = await schedule(world, "enable")
    assert answer == "❌ " + NEEDS_EVENTS
    assert await world.store.get_calendar(world.guild.id) is None


async def test_bad_options_answer_one_ephemeral_line(world: World) -> None:
    """A type filter with events off is refused with the option named."""
    answer = await schedule(world, "enable", events=False, types="2")
    assert answer == "❌ `types` filters events, but `events` is off."


async def test_status_counts_calendars_and_next_links_the_event(world: World) -> None:
    """Status shows this server's calendar and the totals; /next links the launch's event."""
    await schedule(world, "enable")
    launch = (await world.store.upcoming(world.now, 5, source=Source.LAUNCH))[0]
    assert launch.id == LAUNCH_ID
    assert launch.date is not None
    fields = EventFields("x", "x", "https://x.test/", launch.date, launch.date + timedelta(hours=1))
    await world.store.record_event(
        world.guild.id, Entry(launch.ref, 4242, Status.SCHEDULED, fields)
    )
    result = await world.admin.slash(world.channel, "spacecast status")
    assert result.response is not None
    status = {f.name: f.value for f in result.response.embeds[0].fields}
    assert status["Server calendar"] == "on, 1 events · 1 calendars, 1 events in all"
    result = await world.member.slash(world.channel, "next")
    assert result.response is not None
    values = [f.value for f in result.response.embeds[0].fields]
    link = f"[in Events](https://discord.com/events/{world.guild.id}/4242)"
    assert sum(link in v for v in values) == 1
