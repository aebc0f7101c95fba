"""``/spacecast subscribe | unsubscribe | list | pause | resume`` through SimCord."""

from __future__ import annotations

import discord
import pytest
from simcord import SetupError, assert_responded

from bot.core.admin_notice import disabled_reason
from bot.core.changes import ChangeKind
from bot.core.snapshot import Source
from tests.discord_ui.conftest import World

FORBIDDEN = "403 50013: Missing Permissions"


async def subscribe(world: World, **options: object) -> str:
    """Run ``/spacecast subscribe`` as the admin; return the (ephemeral) answer."""
    result = await world.admin.slash(world.channel, "spacecast subscribe", **options)
    assert result.response is not None, result
    assert result.response.ephemeral
    return result.response.content


async def test_subscribe_saves_and_describes_the_subscription(world: World) -> None:
    """Filters chosen by name end up in the store, and the answer reads like the CLI's."""
    role = world.guild.create_role("Launch pings", mentionable=True)
    answer = await subscribe(
        world, types="2,3", kinds="webcast_live,date_changed", launches=False, role=role
    )
    [sub] = await world.store.list_subscriptions(world.guild.id)
    assert (sub.channel_id, sub.sources) == (world.channel.id, frozenset({Source.EVENT}))
    assert sub.event_types == frozenset({2, 3})
    assert sub.kinds == frozenset({ChangeKind.WEBCAST_LIVE, ChangeKind.DATE_CHANGED})
    assert sub.role_id == role.id
    assert answer.startswith("✅ Subscribed. #1 in <#")
    assert "events (Docking, EVA); alerts: webcast live, date changes" in answer
    assert f"pings <@&{role.id}>" in answer


async def test_subscribe_to_another_channel_uses_that_channel(world: World) -> None:
    """The ``channel`` option wins over the channel the command is used in."""
    other = world.guild.create_text_channel("events")
    await subscribe(world, channel=other)
    [sub] = await world.store.list_subscriptions(world.guild.id)
    assert sub.channel_id == other.id


async def test_subscribe_names_the_permission_the_bot_lacks(world: World) -> None:
    """Without Embed Links in the channel the answer says so, and nothing is saved."""
    locked = world.guild.create_text_channel(
        "no-embeds", overwrites={world.bot_member(): discord.PermissionOverwrite(embed_links=False)}
    )
    answer = await subscribe(world, channel=locked)
    assert answer == f"❌ I can't send messages in <#{locked.id}>: missing **Embed Links**."
    assert await world.store.list_subscriptions() == []


async def test_subscribe_names_the_root_permission(world: World) -> None:
    """A channel the bot cannot see is reported as View Channel, not as everything after it."""
    hidden = world.guild.create_text_channel(
        "hidden",
        overwrites={
            world.bot_member(): discord.PermissionOverwrite(view_channel=False, send_messages=False)
        },
    )
    answer = await subscribe(world, channel=hidden)
    assert answer == f"❌ I can't send messages in <#{hidden.id}>: missing **View Channel**."


async def test_subscribe_refuses_an_unknown_event_type(world: World) -> None:
    """Type ids are checked against LL2's cached event types, with examples."""
    answer = await subscribe(world, types="2,999")
    assert answer.startswith("❌ types: unknown id 999; known: 2 Docking, 3 EVA")
    assert await world.store.list_subscriptions() == []


async def test_subscribe_refuses_everyone_as_the_ping_role(world: World) -> None:
    """@everyone is never a subscription's role."""
    answer = await subscribe(world, role=world.guild.default_role)
    assert "never ping @everyone" in answer
    assert await world.store.list_subscriptions() == []


async def test_subscribe_refuses_filters_that_would_do_nothing(world: World) -> None:
    """A provider filter with launches off, or no source at all, is a mistake."""
    assert "`providers` filters launches" in await subscribe(world, providers="121", launches=False)
    assert "at least one of" in await subscribe(world, events=False, launches=False)
    assert "unknown kind 'webcast_ended'" in await subscribe(world, kinds="webcast_ended")


async def test_subscribe_refuses_a_duplicate(world: World) -> None:
    """The same filters twice in one channel would double every alert."""
    await subscribe(world)
    answer = await subscribe(world)
    assert answer == f"❌ <#{world.channel.id}> already has this subscription (#1)."
    assert len(await world.store.list_subscriptions()) == 1


async def test_settings_commands_are_hidden_from_members_without_manage_server(
    world: World,
) -> None:
    """``default_permissions`` hides /spacecast from ordinary members (Discord enforces it)."""
    with pytest.raises(SetupError, match="default-member-permissions"):
        await world.member.slash(world.channel, "spacecast subscribe")


async def test_run_time_check_refuses_a_member_granted_the_command(world: World) -> None:
    """A server can grant /spacecast to anyone; changing settings still needs Manage Server."""
    world.guild.set_command_permissions(world.command_ids["spacecast"], {world.member: True})
    result = await world.member.slash(world.channel, "spacecast subscribe")
    assert_responded(result, contains="need the **Manage Server** permission", ephemeral=True)
    assert await world.store.list_subscriptions() == []


async def test_unsubscribe_removes_a_subscription_of_this_server(world: World) -> None:
    """The id from /spacecast list removes it."""
    await subscribe(world)
    result = await world.admin.slash(world.channel, "spacecast unsubscribe", id=1)
    assert_responded(result, content=f"🗑️ Removed subscription #1 (<#{world.channel.id}>).")
    assert await world.store.list_subscriptions() == []


async def test_unsubscribe_cannot_touch_another_servers_subscription(world: World) -> None:
    """Another server's id is answered like an unknown id, and stays."""
    other = await world.store.add_subscription(424242424242424242, 535353535353535353)
    result = await world.admin.slash(world.channel, "spacecast unsubscribe", id=other.id)
    assert_responded(
        result, contains=f"There is no subscription #{other.id} in this server", ephemeral=True
    )
    assert await world.store.get_subscription(other.id) == other


async def test_list_shows_this_servers_subscriptions_only(world: World) -> None:
    """One readable line per subscription, with ids; other servers' are not shown."""
    await world.store.add_subscription(424242424242424242, 535353535353535353)
    await subscribe(world, types="2")
    await subscribe(world, launches=False, events=True, kinds="webcast_live")
    result = await world.admin.slash(world.channel, "spacecast list")
    assert result.response is not None
    assert result.response.ephemeral
    [embed] = result.response.embeds
    assert embed.title == "Spacecast subscriptions (2)"
    assert embed.description is not None
    lines = embed.description.splitlines()
    assert lines[0].startswith(f"#2 in <#{world.channel.id}>: events (Docking), launches")
    assert lines[1] == f"#3 in <#{world.channel.id}>: events (all types); alerts: webcast live"


async def test_list_without_subscriptions_says_how_to_add_one(world: World) -> None:
    """An empty server gets a hint instead of an empty embed."""
    result = await world.admin.slash(world.channel, "spacecast list")
    assert_responded(result, contains="`/spacecast subscribe`", ephemeral=True)


async def test_pause_and_resume(world: World) -> None:
    """Pausing records the reason shown in the list; resuming clears it."""
    await subscribe(world)
    result = await world.admin.slash(world.channel, "spacecast pause", id=1, reason="launch week")
    assert_responded(result, contains="⏸️ Paused subscription #1", ephemeral=True)
    sub = await world.store.get_subscription(1)
    assert sub is not None
    assert (sub.enabled, sub.disabled_reason) == (False, "launch week")
    again = await world.admin.slash(world.channel, "spacecast pause", id=1)
    assert_responded(again, content="❌ Subscription #1 is already paused.")
    result = await world.admin.slash(world.channel, "spacecast resume", id=1)
    assert_responded(result, contains="▶️ Resumed subscription #1", ephemeral=True)
    sub = await world.store.get_subscription(1)
    assert sub is not None
    assert (sub.enabled, sub.disabled_reason) == (True, None)


async def test_resume_refuses_while_the_bot_still_cannot_post(world: World) -> None:
    """A subscription paused for lost permissions stays paused until they are back."""
    locked = world.guild.create_text_channel(
        "locked", overwrites={world.bot_member(): discord.PermissionOverwrite(send_messages=False)}
    )
    sub = await world.store.add_subscription(world.guild.id, locked.id)
    await world.store.set_subscription_enabled(sub.id, False, "missing permissions")
    result = await world.admin.slash(world.channel, "spacecast resume", id=sub.id)
    assert_responded(
        result, content=f"❌ I can't send messages in <#{locked.id}>: missing **Send Messages**."
    )
    stored = await world.store.get_subscription(sub.id)
    assert stored is not None
    assert not stored.enabled


async def test_id_autocomplete_offers_this_servers_subscriptions(world: World) -> None:
    """Only this server's subscriptions are suggested, labelled with their channel."""
    await world.store.add_subscription(424242424242424242, 535353535353535353)
    await subscribe(world)
    choices = await world.admin.autocomplete(world.channel, "spacecast unsubscribe", "id", "")
    assert choices == [{"name": "#2 · #launch-alerts · events and launches", "value": 2}]


async def test_types_autocomplete_completes_a_comma_list_by_name(world: World) -> None:
    """Typing "2,ev" suggests "2,3" (EVA, a prefix match) before "2,20" (Press Event)."""
    choices = await world.admin.autocomplete(world.channel, "spacecast subscribe", "types", "2,ev")
    assert choices == [
        {"name": "Docking (2), EVA (3)", "value": "2,3"},
        {"name": "Docking (2), Press Event (20)", "value": "2,20"},
    ]
    first = await world.admin.autocomplete(world.channel, "spacecast subscribe", "types", "")
    assert first[0] == {"name": "All event types", "value": "all"}
    assert len(first) == 6


async def test_subscribe_warns_when_the_role_ping_would_not_notify(world: World) -> None:
    """A role that is not mentionable needs the bot's Mention All Roles permission there."""
    quiet = world.guild.create_role("quiet", mentionable=False)
    channel = world.guild.create_text_channel(
        "no-pings",
        overwrites={world.bot_member(): discord.PermissionOverwrite(mention_everyone=False)},
    )
    answer = await subscribe(world, channel=channel, role=quiet)
    assert answer.startswith("✅ Subscribed.")
    assert f"⚠️ <@&{quiet.id}> is not mentionable" in answer


async def test_subscribe_with_reminders_saves_them(world: World) -> None:
    """The ``reminders`` option is stored as minutes and named in the answer."""
    answer = await subscribe(world, reminders="10m,1h")
    [sub] = await world.store.list_subscriptions(world.guild.id)
    assert sub.reminders == (60, 10)
    assert "; reminders: T-1 h, T-10 min" in answer


async def test_subscribe_refuses_bad_reminders(world: World) -> None:
    """A bad offset is an ephemeral one-line error, and nothing is saved."""
    answer = await subscribe(world, reminders="5x")
    assert answer == (
        "❌ reminders: '5x' is not an offset; use minutes, hours or days such as 24h, 1h, 10m"
    )
    assert await world.store.list_subscriptions() == []


async def test_reminders_command_sets_and_clears_offsets(world: World) -> None:
    """/spacecast reminders replaces the offsets; 'none' turns them off."""
    await subscribe(world)
    result = await world.admin.slash(
        world.channel, "spacecast reminders", subscription=1, offsets="24h,10m"
    )
    assert_responded(
        result,
        content=f"⏰ Subscription #1 (<#{world.channel.id}>) reminders: T-24 h, T-10 min.",
        ephemeral=True,
    )
    sub = await world.store.get_subscription(1)
    assert sub is not None
    assert sub.reminders == (1440, 10)
    await world.admin.slash(world.channel, "spacecast reminders", subscription=1, offsets="none")
    cleared = await world.store.get_subscription(1)
    assert cleared is not None
    assert cleared.reminders == ()


async def test_reminders_command_refuses_bad_offsets(world: World) -> None:
    """Too many offsets get an ephemeral error and the subscription is unchanged."""
    await subscribe(world, reminders="1h")
    result = await world.admin.slash(
        world.channel, "spacecast reminders", subscription=1, offsets="1,2,3,4,5,6,7,8,9"
    )
    assert_responded(
        result, content="❌ offsets: 9 offsets is too many (at most 8)", ephemeral=True
    )
    sub = await world.store.get_subscription(1)
    assert sub is not None
    assert sub.reminders == (60,)


async def test_reminders_command_cannot_touch_another_servers_subscription(world: World) -> None:
    """Another server's id is answered like an unknown id, and keeps its reminders."""
    other = await world.store.add_subscription(424242424242424242, 535353535353535353)
    result = await world.admin.slash(
        world.channel, "spacecast reminders", subscription=other.id, offsets="1h"
    )
    assert_responded(
        result, contains=f"There is no subscription #{other.id} in this server", ephemeral=True
    )
    assert await world.store.get_subscription(other.id) == other


async def test_reminders_command_needs_manage_server(world: World) -> None:
    """A member granted the command still cannot change reminders."""
    await subscribe(world)
    world.guild.set_command_permissions(world.command_ids["spacecast"], {world.member: True})
    result = await world.member.slash(
        world.channel, "spacecast reminders", subscription=1, offsets="1h"
    )
    assert_responded(result, contains="need the **Manage Server** permission", ephemeral=True)
    sub = await world.store.get_subscription(1)
    assert sub is not None
    assert sub.reminders == ()


async def test_list_shows_reminders(world: World) -> None:
    """/spacecast list names each subscription's reminders."""
    await subscribe(world, reminders="1h,10m")
    result = await world.admin.slash(world.channel, "spacecast list")
    assert result.response is not None
    [embed] = result.response.embeds
    assert embed.description is not None
    assert embed.description.endswith("; reminders: T-1 h, T-10 min")


async def test_id_autocomplete_offers_nothing_to_a_member_without_manage_server(
    world: World,
) -> None:
    """A member granted the command must not learn the server's subscriptions from suggestions."""
    await subscribe(world)
    world.guild.set_command_permissions(world.command_ids["spacecast"], {world.member: True})
    choices = await world.member.autocomplete(world.channel, "spacecast unsubscribe", "id", "")
    assert choices == []


async def disabled_by_discord(world: World, channel_id: int | None = None) -> int:
    """A subscription the delivery worker disabled after Discord's 403; returns its id."""
    sub = await world.store.add_subscription(world.guild.id, channel_id or world.channel.id)
    await world.store.disable_channel(sub.channel_id, disabled_reason(FORBIDDEN))
    return sub.id


async def test_list_shows_a_disabled_subscription_with_reason_and_fix(world: World) -> None:
    """A subscription Discord's refusal turned off says so, what Discord said, and the fix."""
    sub_id = await disabled_by_discord(world)
    result = await world.admin.slash(world.channel, "spacecast list")
    assert result.response is not None
    [embed] = result.response.embeds
    assert embed.description is not None
    first, fix = embed.description.splitlines()
    assert first.endswith(f"; disabled: channel unusable: {FORBIDDEN}")
    assert fix == (
        "↳ Give me **View Channel**, **Send Messages** and **Embed Links** in "
        f"<#{world.channel.id}>, then run `/spacecast resume {sub_id}`."
    )


async def test_resume_of_a_disabled_subscription_sends_a_test_message_first(
    world: World,
) -> None:
    """Discord takes the test message (pinging nobody), then the subscription is enabled."""
    sub_id = await disabled_by_discord(world)
    result = await world.admin.slash(world.channel, "spacecast resume", id=sub_id)
    assert_responded(
        result,
        content=f"▶️ Resumed subscription #{sub_id} (<#{world.channel.id}>). "
        "My test message got through.",
        ephemeral=True,
    )
    [test] = world.channel.history()
    assert test.content.startswith("✅ Spacecast can post here again")
    assert (test.mention_everyone, test.role_mentions, test.mentions) == (False, [], [])
    stored = await world.store.get_subscription(sub_id)
    assert stored is not None
    assert (stored.enabled, stored.disabled_reason) == (True, None)


@pytest.mark.parametrize(
    ("code", "message", "advice"),
    [
        (50013, "Missing Permissions", "Check that I have **View Channel**, **Send Messages**"),
        (50001, "Missing Access", "I'm missing **View Channel** there."),
    ],
)
async def test_resume_keeps_a_disabled_subscription_off_when_the_test_message_fails(
    world: World, code: int, message: str, advice: str
) -> None:
    """Discord refuses the test message: the answer says what to grant; nothing is enabled."""
    sub_id = await disabled_by_discord(world)
    world.env.inject_error("POST", "/channels/*/messages", status=403, code=code, message=message)
    result = await world.admin.slash(world.channel, "spacecast resume", id=sub_id)
    assert_responded(
        result,
        contains=f"Discord refused my test message in <#{world.channel.id}> (403 {code}: "
        f"{message}), so subscription #{sub_id} stays disabled. {advice}",
        ephemeral=True,
    )
    stored = await world.store.get_subscription(sub_id)
    assert stored is not None
    assert (stored.enabled, stored.disabled_reason) == (False, disabled_reason(FORBIDDEN))


async def test_resume_of_a_paused_subscription_posts_nothing(world: World) -> None:
    """An admin's pause is lifted without a test message: the channel was never refused."""
    sub = await world.store.add_subscription(world.guild.id, world.channel.id)
    await world.store.set_subscription_enabled(sub.id, False, "launch week")
    result = await world.admin.slash(world.channel, "spacecast resume", id=sub.id)
    assert_responded(result, content=f"▶️ Resumed subscription #{sub.id} (<#{world.channel.id}>).")
    assert world.channel.history() == []


async def test_id_autocomplete_marks_a_disabled_subscription(world: World) -> None:
    """Suggestions tell a subscription Discord refused ("disabled") from a paused one."""
    sub_id = await disabled_by_discord(world)
    choices = await world.admin.autocomplete(world.channel, "spacecast resume", "id", "")
    assert choices == [
        {"name": f"#{sub_id} · #launch-alerts · events and launches · disabled", "value": sub_id}
    ]


async def test_subscribe_with_style_card_and_switch_back(world: World) -> None:
    """style:card on subscribe stores a card subscription, /spacecast list shows it, and
    /spacecast style switches it back to feed (issue 16)."""
    answer = await subscribe(world, style="card")
    assert "; style: card" in answer
    sub = await world.store.get_subscription(1)
    assert sub is not None
    assert sub.style.value == "card"
    listed = await world.admin.slash(world.channel, "spacecast list")
    assert listed.response is not None
    [embed] = listed.response.embeds
    assert embed.description is not None
    assert embed.description.endswith("; style: card")
    result = await world.admin.slash(world.channel, "spacecast style", subscription=1, style="feed")
    assert_responded(
        result,
        content=f"🗂️ Subscription #1 (<#{world.channel.id}>) style: feed: a message per alert.",
        ephemeral=True,
    )
    switched = await world.store.get_subscription(1)
    assert switched is not None
    assert switched.style.value == "feed"


async def test_style_command_refuses_a_style_discord_would_not_offer(world: World) -> None:
    """A value outside the choices (SimCord checks them as Discord does) changes nothing."""
    await subscribe(world)
    with pytest.raises(SetupError):
        await world.admin.slash(world.channel, "spacecast style", subscription=1, style="cards")
    sub = await world.store.get_subscription(1)
    assert sub is not None
    assert sub.style.value == "feed"
