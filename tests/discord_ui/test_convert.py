"""convert.py: rendered messages become discord.py objects that Discord (SimCord) accepts."""

from __future__ import annotations

from datetime import timedelta

import discord
import pytest

from bot.core.changes import ALERT_KINDS, ChangeKind
from bot.core.render.compose import render_message
from bot.core.render.message import EmbedData, EmbedField, LinkButton, MessageData
from bot.core.snapshot import Snapshot, UpdateRef
from bot.discord_ui.convert import send_kwargs, to_discord_embed, to_view
from tests.core.render.support import make_change
from tests.discord_ui.conftest import World, upcoming_event, upcoming_launch

ROLE_NAME = "launch-pings"


def test_embed_keeps_every_part() -> None:
    """The discord.Embed serialises back to exactly the rendered JSON."""
    at = upcoming_event(discord.utils.utcnow()).date
    data = EmbedData(
        title="T",
        description="D",
        url="https://example.com/a",
        colour=0x123456,
        fields=[EmbedField("n", "v", True)],
        footer="F",
        thumbnail_url="https://example.com/t.png",
        author_name="A",
        timestamp=at,
    )
    converted = to_discord_embed(data).to_dict()
    expected = data.to_dict()
    assert {k: converted.get(k) for k in expected if k != "timestamp"} == {
        k: v for k, v in expected.items() if k != "timestamp"
    }
    assert to_discord_embed(data).timestamp == at


async def test_view_holds_link_buttons_in_order() -> None:
    """Link buttons keep label, URL and order; no buttons means no view."""
    message = MessageData(
        content="x",
        buttons=[LinkButton("Watch", "https://w.example"), LinkButton("Details", "https://d.ex")],
    )
    view = to_view(message)
    assert view is not None
    assert view.timeout is None
    buttons = [item for item in view.children if isinstance(item, discord.ui.Button)]
    assert [(b.label, b.url, b.style) for b in buttons] == [
        ("Watch", "https://w.example", discord.ButtonStyle.link),
        ("Details", "https://d.ex", discord.ButtonStyle.link),
    ]
    assert to_view(MessageData(content="x")) is None
    assert "view" not in send_kwargs(MessageData(content="x"))


def _items(world: World) -> list[Snapshot]:
    return [upcoming_event(world.now + timedelta(hours=3)), upcoming_launch(world.now)]


async def _deliver(world: World, messages: list[MessageData], role: discord.Role | None) -> None:
    channel = world.bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    mentions = discord.AllowedMentions(everyone=False, users=False, roles=[role] if role else False)
    for message in messages:
        await channel.send(**send_kwargs(message), allowed_mentions=mentions)


@pytest.mark.parametrize("kind", ALERT_KINDS, ids=lambda k: k.value)
async def test_every_alert_kind_is_accepted_by_discord(world: World, kind: ChangeKind) -> None:
    """Each kind, for an event and a launch, posts with its embed, buttons and role ping."""
    role_handle = world.guild.create_role(ROLE_NAME, mentionable=True)
    guild = world.bot.get_guild(world.guild.id)
    role = guild.get_role(role_handle.id) if guild else None
    assert role is not None
    for item in _items(world):
        messages = render_message([make_change(kind, item)], role.id, world.now)
        await _deliver(world, messages, role)
    history = world.channel.history()
    assert len(history) == 2
    for posted in history:
        [embed] = posted.embeds
        assert embed.title
        assert embed.title.split(":")[0] in (posted.content or "")
        assert posted.role_mentions == [role]
        assert not posted.mention_everyone
        assert posted.components, "Watch/Details buttons"


async def test_a_burst_of_changes_fits_discords_limits(world: World) -> None:
    """Ten long updates, a slip and a live webcast: split as needed, every part accepted."""
    item = upcoming_event(world.now + timedelta(hours=1))
    long_comment = "Crew reports all systems nominal. " * 60
    updates = [UpdateRef(id=9000 + i, comment=long_comment) for i in range(10)]
    changes = [make_change(ChangeKind.NEW_UPDATE, item, update=u) for u in updates]
    changes += [
        make_change(ChangeKind.DATE_CHANGED, item),
        make_change(ChangeKind.WEBCAST_LIVE, item),
    ]
    messages = render_message(changes, None, world.now)
    assert len(messages) > 1
    await _deliver(world, messages, None)
    history = world.channel.history()
    assert sum(len(m.embeds) for m in history) == len(changes)
    assert history[0].content
    assert history[0].embeds[0].title
    assert history[0].embeds[0].title.startswith("🔴 Webcast live")
