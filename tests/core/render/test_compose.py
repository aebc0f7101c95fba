"""Alert messages: grouping one item's changes, role mention, buttons, and no stray pings."""

from __future__ import annotations

import discord
import pytest
from simcord.components import validate_components

from bot.core.changes import ChangeKind
from bot.core.render.compose import render_message, sample_change
from bot.core.render.fit import fits_message, message_problems
from bot.core.snapshot import Display, UpdateRef
from tests.core.render.support import (
    NOW,
    RAW_MENTION,
    assert_no_raw_mentions,
    event_1201,
    make_change,
    synthetic_launch,
)

ROLE = 987_654_321_098_765_432


def test_several_changes_to_one_item_become_one_message() -> None:
    """One poll's changes to one item: one message, an embed per change, most urgent first."""
    item = event_1201()
    changes = [
        make_change(ChangeKind.NEW_UPDATE, item),
        make_change(ChangeKind.DATE_CHANGED, item),
        make_change(ChangeKind.WEBCAST_LIVE, item),
    ]
    [message] = render_message(changes, ROLE, NOW)
    titles = [e.title or "" for e in message.embeds]
    assert [t.split(":")[0] for t in titles] == [
        "🔴 Webcast live",
        "🗓️ Date changed",
        "📰 New update",
    ]
    assert message.content == (
        f"<@&{ROLE}> 🔴 **SpaceX AX-4 Crew Dragon Docking**: "
        "webcast live · date changed · new update"
    )
    assert message_problems(message) == []


def test_a_single_change_has_a_plain_summary_and_no_mention_without_a_role() -> None:
    """Without a role there is no mention, only the summary."""
    [message] = render_message([make_change(ChangeKind.DATE_CHANGED, event_1201())], None, NOW)
    assert message.content == "🗓️ Date changed: **SpaceX AX-4 Crew Dragon Docking**"
    assert "<@" not in message.content


def test_repeated_kinds_are_counted_in_the_summary() -> None:
    """Two new updates read "2× new update"."""
    item = event_1201()
    changes = [make_change(ChangeKind.NEW_UPDATE, item, update=u) for u in item.updates[-2:]]
    [message] = render_message(changes, None, NOW)
    assert message.content == "📰 **SpaceX AX-4 Crew Dragon Docking**: 2× new update"


def test_watch_and_details_buttons() -> None:
    """Watch links the best webcast (the live one), Details the info URL."""
    launch = synthetic_launch()
    change = make_change(ChangeKind.WEBCAST_LIVE, launch)
    [message] = render_message([change], None, NOW)
    assert [(b.label, b.url) for b in message.buttons] == [
        ("Watch", "https://x.com/i/broadcasts/1abcdefghijkl"),
        ("Details", "https://www.spacex.com/launches/sl-10-99"),
    ]
    validate_components(message.components())
    assert message.to_dict()["components"] == [
        {
            "type": 1,
            "components": [
                {
                    "type": 2,
                    "style": 5,
                    "label": "Watch",
                    "url": "https://x.com/i/broadcasts/1abcdefghijkl",
                },
                {
                    "type": 2,
                    "style": 5,
                    "label": "Details",
                    "url": "https://www.spacex.com/launches/sl-10-99",
                },
            ],
        }
    ]


def test_no_details_button_without_an_info_url() -> None:
    """Event 1201 has no info URL: only Watch."""
    [message] = render_message([make_change(ChangeKind.WEBCAST_LIVE, event_1201())], None, NOW)
    assert [b.label for b in message.buttons] == ["Watch"]
    assert message.buttons[0].url == "https://www.youtube.com/watch?v=OZcfHni6L5M"


def test_no_buttons_when_nothing_is_linkable() -> None:
    """No webcasts and no info URL: no buttons at all."""
    item = event_1201().model_copy(update={"webcasts": (), "display": Display()})
    [message] = render_message([make_change(ChangeKind.NEW_ITEM, item)], None, NOW)
    assert message.buttons == ()
    assert message.components() == []


def test_more_than_ten_changes_split_and_only_the_first_message_pings() -> None:
    """Twelve changes need two messages; the mention and buttons come once."""
    item = event_1201()
    changes = [
        make_change(ChangeKind.NEW_UPDATE, item, update=UpdateRef(id=i, comment=f"Update {i}"))
        for i in range(12)
    ]
    messages = render_message(changes, ROLE, NOW)
    assert [len(m.embeds) for m in messages] == [10, 2]
    assert messages[0].content is not None
    assert messages[0].content.startswith(f"<@&{ROLE}> ")
    assert messages[1].content is None
    assert messages[1].buttons == ()
    assert all(fits_message(m.embeds) for m in messages)


def test_changes_of_different_items_are_refused() -> None:
    """A message is about one item."""
    changes = [
        make_change(ChangeKind.NEW_ITEM, event_1201()),
        make_change(ChangeKind.NEW_ITEM, synthetic_launch()),
    ]
    with pytest.raises(ValueError, match="one item"):
        render_message(changes, None, NOW)


def test_no_changes_no_messages() -> None:
    """Nothing to say, nothing to send."""
    assert render_message([], ROLE, NOW) == []


def test_bad_role_id_is_refused() -> None:
    """Role ids are positive snowflakes."""
    with pytest.raises(ValueError, match="role_id"):
        render_message([make_change(ChangeKind.NEW_ITEM, event_1201())], 0, NOW)


PINGS = "@everyone @here <@123456789012345678> <@!42> <@&123> <#456> ＠everyone"


def test_mentions_in_ll2_text_never_ping() -> None:
    """@everyone, @here and user/role/channel mentions in LL2 text are neutralised everywhere."""
    item = event_1201().model_copy(
        update={
            "name": f"Docking {PINGS}",
            "type_name": PINGS,
            "display": Display(location=PINGS, description=PINGS, mission=PINGS),
        }
    )
    update = UpdateRef(id=1, comment=f"Hi {PINGS}", created_by=PINGS, info_url=None)
    changes = [make_change(kind, item) for kind in ChangeKind if kind is not ChangeKind.NEW_UPDATE]
    changes.append(make_change(ChangeKind.NEW_UPDATE, item, update=update))
    messages = render_message(changes, ROLE, NOW)
    for message in messages:
        assert_no_raw_mentions(message, ROLE)
        assert message_problems(message) == []
    content = messages[0].content or ""
    assert content.count("<@&") == 1  # only the subscription's role
    assert "everyone" in content  # the text is still readable, just inert


def test_launch_status_names_cannot_ping() -> None:
    """Status names are LL2 text too."""
    change = make_change(
        ChangeKind.STATUS_CHANGED, synthetic_launch(), old_status="@everyone", new_status="<@&1>"
    )
    for message in render_message([change], None, NOW):
        assert_no_raw_mentions(message)


def test_messages_convert_to_discord_objects() -> None:
    """Every embed of a message converts with discord.Embed.from_dict."""
    [message] = render_message([sample_change(NOW)], ROLE, NOW)
    embeds = [discord.Embed.from_dict(e.to_dict()) for e in message.embeds]
    assert sum(len(e) for e in embeds) <= 6000
    assert message.to_dict()["content"] == message.content


def test_sample_change_renders_a_clearly_labelled_webcast_alert() -> None:
    """/test's sample is a live webcast on an obviously fake item, sendable as is."""
    change = sample_change(NOW)
    assert change.kind is ChangeKind.WEBCAST_LIVE
    assert change.detected_at == NOW
    assert change.item.date is not None
    assert change.item.date > NOW
    assert change == sample_change(NOW)  # deterministic: no clock, no randomness
    [message] = render_message([change], None, NOW)
    assert message.content == (
        "🔴 Webcast live: **Spacecast test alert: sample Crew Dragon docking**"
    )
    assert [b.label for b in message.buttons] == ["Watch", "Details"]
    assert message_problems(message) == []
    assert not RAW_MENTION.search(str(message.to_dict()))
