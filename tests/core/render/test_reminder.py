"""The T-minus reminder message: title, when, status, buttons, mentions, Discord's limits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.reminders import MAX_OFFSET_MINUTES, offset_label
from bot.core.render import message_problems, render_reminder
from bot.core.render.reminder import countdown_label, countdown_words
from tests.core.render.support import event_1201, synthetic_launch


def test_title_names_the_countdown_and_the_item() -> None:
    """'⏰ T-10 min: <name>', linked to the item's page."""
    [embed] = render_reminder(synthetic_launch(), 10).embeds
    assert embed.title == "⏰ T-10 min: Falcon 9 Block 5 | Starlink Group 10-99"
    assert embed.url == "https://www.spacex.com/launches/sl-10-99"


def test_description_gives_the_time_in_words_and_as_discord_timestamps() -> None:
    """'Launches in 24 hours:' then <t:…:F> and <t:…:R> of T-0."""
    item = synthetic_launch()
    assert item.date is not None
    [embed] = render_reminder(item, 1440).embeds
    stamp = int(item.date.timestamp())
    assert embed.description == f"Launches **in 24 hours**: <t:{stamp}:F> (<t:{stamp}:R>)"


def test_event_starts_rather_than_launches() -> None:
    """An event reads 'Starts in …'."""
    [embed] = render_reminder(event_1201(), 60).embeds
    assert embed.description is not None
    assert embed.description.startswith("Starts **in 1 hour**: <t:")


def test_hour_precision_says_so() -> None:
    """A date known to the hour is marked as such."""
    item = synthetic_launch(net_precision={"id": 2, "name": "Hour", "abbrev": "HR"})
    [embed] = render_reminder(item, 120).embeds
    assert embed.description is not None
    assert embed.description.endswith(" · to the hour")


def test_launch_status_is_the_first_field() -> None:
    """The reader sees at once whether the launch is still Go."""
    [embed] = render_reminder(synthetic_launch(), 10).embeds
    assert (embed.fields[0].name, embed.fields[0].value) == ("Status", "🟢 Go for Launch")


def test_buttons_are_the_best_webcast_and_the_details_page() -> None:
    """Watch (the best webcast) and Details, as on alerts."""
    message = render_reminder(synthetic_launch(), 10)
    assert [(b.label, b.url) for b in message.buttons] == [
        ("Watch", "https://x.com/i/broadcasts/1abcdefghijkl"),
        ("Details", "https://www.spacex.com/launches/sl-10-99"),
    ]


def test_content_mentions_every_role_then_summarises() -> None:
    """Each asking subscription's role is mentioned once, before the summary."""
    message = render_reminder(synthetic_launch(), 10, role_ids=[20, 10, 20])
    assert message.content == (
        "<@&10> <@&20> ⏰ T-10 min: **Falcon 9 Block 5 | Starlink Group 10-99**"
    )


def test_ll2_text_cannot_ping_through_the_name() -> None:
    """An item named '@everyone' is shown inert."""
    message = render_reminder(synthetic_launch(name="@everyone launch"), 10)
    assert message.content is not None
    assert "@everyone" not in message.content
    assert "@everyone" not in (message.embeds[0].title or "")


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=3000), st.integers(1, MAX_OFFSET_MINUTES))
def test_any_name_fits_discords_limits(name: str, offset: int) -> None:
    """Whatever LL2 calls the item, the message is sendable."""
    assert message_problems(render_reminder(synthetic_launch(name=name), offset)) == []


@given(st.integers(1, MAX_OFFSET_MINUTES))
def test_title_label_matches_the_listing_label(minutes: int) -> None:
    """The message says 'T-…' exactly as /spacecast list and the CLI do."""
    assert countdown_label(minutes) == offset_label(minutes)


def test_countdown_words_are_plural_only_when_needed() -> None:
    """1 minute, 1 hour 30 minutes, 2 days."""
    assert [countdown_words(m) for m in (1, 10, 90, 1440, 2880)] == [
        "1 minute",
        "10 minutes",
        "1 hour 30 minutes",
        "24 hours",
        "2 days",
    ]
