"""``/spacecast test`` and ``/spacecast status``."""

from __future__ import annotations

from datetime import timedelta

import discord
from simcord import assert_responded

from bot import __version__
from bot.core.admin_notice import disabled_reason
from tests.discord_ui.conftest import World
from tests.store.samples import outbox_row


async def test_test_posts_a_sample_alert_to_a_subscribed_channel(world: World) -> None:
    """The sample alert arrives as a real alert would: embed, link buttons, no ping."""
    role = world.guild.create_role("pings", mentionable=True)
    await world.store.add_subscription(world.guild.id, world.channel.id, role_id=role.id)
    result = await world.admin.slash(world.channel, "spacecast test")
    assert_responded(result, content=f"📨 Sent a test alert to <#{world.channel.id}>.")
    assert result.response is not None
    assert result.response.ephemeral
    alert = world.channel.history()[-1]
    assert world.bot.user is not None
    assert alert.author.id == world.bot.user.id
    [embed] = alert.embeds
    assert embed.title == "🔴 Webcast live: Spacecast test alert: sample Crew Dragon docking"
    assert alert.content == "🔴 Webcast live: **Spacecast test alert: sample Crew Dragon docking**"
    assert alert.role_mentions == []
    assert not alert.mention_everyone
    labels = [child.label for row in alert.components for child in row.children]  # type: ignore[union-attr]
    assert labels == ["Watch", "Details"]


async def test_test_to_another_channel(world: World) -> None:
    """The ``channel`` option sends there instead."""
    other = world.guild.create_text_channel("alerts-2")
    await world.store.add_subscription(world.guild.id, other.id)
    await world.admin.slash(world.channel, "spacecast test", channel=other)
    assert len(other.history()) == 1
    assert world.channel.history() == []


async def test_test_refuses_a_channel_without_subscription(world: World) -> None:
    """Testing only makes sense where alerts will go; nothing is posted."""
    result = await world.admin.slash(world.channel, "spacecast test")
    assert_responded(result, contains="has no Spacecast subscription", ephemeral=True)
    assert world.channel.history() == []


async def test_test_reports_discord_refusing_the_message(world: World) -> None:
    """A 403 from Discord is explained, not shown as a crash."""
    await world.store.add_subscription(world.guild.id, world.channel.id)
    world.env.inject_error(
        "POST", "/channels/*/messages", status=403, code=50013, message="Missing Permissions"
    )
    result = await world.admin.slash(world.channel, "spacecast test")
    assert_responded(result, contains="Discord refused the test alert", ephemeral=True)


async def test_status_reports_polls_budget_and_deliveries(world: World) -> None:
    """Poll times as Discord timestamps, the hour's LL2 requests, the outbox backlog."""
    last, nxt = world.now - timedelta(minutes=3), world.now + timedelta(minutes=1)
    await world.store.set_datetime("poll:last_at", last)
    await world.store.set_datetime("poll:next_at", nxt)
    for minutes in (90, 30, 10, 2):  # the first is outside the hour
        await world.store.record_request(world.now - timedelta(minutes=minutes))
    await world.store.enqueue(
        [outbox_row(f"k{i}", guild_id=world.guild.id, due=world.now) for i in range(3)]
    )
    result = await world.admin.slash(world.channel, "spacecast status")
    assert result.response is not None
    assert result.response.ephemeral
    [embed] = result.response.embeds
    fields = {f.name: f.value for f in embed.fields}
    stamp = int(last.timestamp())
    assert fields["Last poll"] == f"<t:{stamp}:F> (<t:{stamp}:R>)"
    assert fields["Next poll"] == discord.utils.format_dt(nxt, "F") + (
        f" ({discord.utils.format_dt(nxt, 'R')})"
    )
    assert fields["LL2 requests (last hour)"] == "3 of 15"
    assert fields["Deliveries"] == "3 pending · 0 failed"
    assert fields["Shards"] is not None
    assert fields["Shards"].startswith("shard 0 of 1")
    assert embed.footer.text is not None
    assert f"Spacecast {__version__}" in embed.footer.text


async def test_status_before_the_first_poll(world: World) -> None:
    """A fresh install says "never" rather than failing."""
    result = await world.admin.slash(world.channel, "spacecast status")
    assert result.response is not None
    fields = {f.name: f.value for f in result.response.embeds[0].fields}
    assert fields["Last poll"] == fields["Next poll"] == "never"


async def test_status_refuses_a_member_without_manage_server(world: World) -> None:
    """A member granted the command still needs Manage Server to see the bot's status."""
    world.guild.set_command_permissions(world.command_ids["spacecast"], {world.member: True})
    result = await world.member.slash(world.channel, "spacecast status")
    assert_responded(result, contains="need the **Manage Server** permission", ephemeral=True)
    assert result.response is not None
    assert result.response.embeds == []


async def test_status_counts_only_this_servers_deliveries(world: World) -> None:
    """Another server's backlog is not this server's business (nor its number to show)."""
    mine = [outbox_row(f"mine{i}", guild_id=world.guild.id, due=world.now) for i in range(2)]
    theirs = [outbox_row(f"theirs{i}", due=world.now) for i in range(5)]
    await world.store.enqueue([*mine, *theirs])
    result = await world.admin.slash(world.channel, "spacecast status")
    assert result.response is not None
    fields = {f.name: f.value for f in result.response.embeds[0].fields}
    assert fields["Deliveries"] == "2 pending · 0 failed"


async def test_status_shows_disabled_subscriptions_and_the_fix(world: World) -> None:
    """Subscriptions Discord's refusal turned off are listed with its words and the fix."""
    dead = world.guild.create_text_channel("dead")
    sub = await world.store.add_subscription(world.guild.id, dead.id)
    paused = await world.store.add_subscription(world.guild.id, world.channel.id)
    await world.store.set_subscription_enabled(paused.id, False, "launch week")
    await world.store.disable_channel(dead.id, disabled_reason("403 50013: Missing Permissions"))
    result = await world.admin.slash(world.channel, "spacecast status")
    assert result.response is not None
    fields = {f.name: f.value for f in result.response.embeds[0].fields}
    assert fields["⚠️ Disabled subscriptions"] == (
        f"#{sub.id} in <#{dead.id}>: 403 50013: Missing Permissions\n"
        "Give me **View Channel**, **Send Messages** and **Embed Links** there, "
        "then run `/spacecast resume <id>`."
    )


async def test_status_without_disabled_subscriptions_has_no_such_field(world: World) -> None:
    """A healthy server's status does not carry an empty warning."""
    await world.store.add_subscription(world.guild.id, world.channel.id)
    result = await world.admin.slash(world.channel, "spacecast status")
    assert result.response is not None
    names = [f.name for f in result.response.embeds[0].fields]
    assert "⚠️ Disabled subscriptions" not in names


async def test_test_previews_a_reminder_with_the_channels_offset(world: World) -> None:
    """kind=reminder posts a sample T-minus reminder, using the channel's smallest offset."""
    role = world.guild.create_role("pings", mentionable=True)
    await world.store.add_subscription(
        world.guild.id, world.channel.id, role_id=role.id, reminders=(60, 5)
    )
    result = await world.admin.slash(world.channel, "spacecast test", kind="reminder")
    assert_responded(result, content=f"📨 Sent a test reminder to <#{world.channel.id}>.")
    message = world.channel.history()[-1]
    [embed] = message.embeds
    assert embed.title is not None
    assert "T-5 min" in embed.title
    assert "sample Crew Dragon docking" in embed.title
    assert message.role_mentions == []
    assert not message.mention_everyone


async def test_status_shows_the_send_budget(world: World) -> None:
    """With the services' send budget: the rate now, this process's share, 429s by scope."""
    from bot.services.delivery.budget import LocalSlots, SendBudget

    budget = SendBudget(LocalSlots(45.0))
    await budget.wait()
    budget.other_429("user")
    world.bot.services.budget = budget  # type: ignore[attr-defined]
    result = await world.admin.slash(world.channel, "spacecast status")
    assert result.response is not None
    fields = {f.name: f.value for f in result.response.embeds[0].fields}
    assert fields["Discord sends"] is not None
    assert "of 45/s now" in fields["Discord sends"]
    assert "429s since start: global 0, user 1, shared 0" in fields["Discord sends"]


async def test_status_without_a_send_budget_has_no_sends_field(world: World) -> None:
    result = await world.admin.slash(world.channel, "spacecast status")
    assert result.response is not None
    assert "Discord sends" not in {f.name for f in result.response.embeds[0].fields}
