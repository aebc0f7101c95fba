"""Discord's limits: truncation, counting, and absurd LL2 data rendered within every limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from simcord.components import validate_components, validate_embeds

from bot.core.changes import Change, ChangeKind
from bot.core.render.compose import render_item, render_message, render_upcoming
from bot.core.render.embeds import render_change
from bot.core.render.fit import (
    embed_problems,
    embed_size,
    enforce_limits,
    fits_message,
    message_problems,
    message_size,
    truncate,
)
from bot.core.render.limits import (
    AUTHOR_NAME_MAX,
    BUTTON_LABEL_MAX,
    DESCRIPTION_MAX,
    EMBED_TOTAL_MAX,
    FIELD_NAME_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    FOOTER_MAX,
    TITLE_MAX,
)
from bot.core.render.message import EmbedData, EmbedField, LinkButton, MessageData
from bot.core.snapshot import Display, Snapshot, UpdateRef, WebcastRef
from tests.core.render.support import NOW, event_1201, make_change, synthetic_launch

HUGE = ("Lorem ipsum dolor sit amet " * 400)[:10_000]  # 10k characters with word boundaries
BLOB = "x" * 10_000  # 10k characters without a single word boundary
LONG_URL = "https://example.com/" + "a" * 3000


def test_truncate_leaves_short_text_alone() -> None:
    """Text within the limit is returned unchanged."""
    assert truncate("Crew Dragon", 11) == "Crew Dragon"


def test_truncate_cuts_at_a_word_boundary_with_an_ellipsis() -> None:
    """A cut prefers the last word boundary and ends with an ellipsis."""
    assert truncate("SpaceX AX-4 Crew Dragon Docking", 20) == "SpaceX AX-4 Crew…"


def test_truncate_cuts_mid_word_when_no_boundary_is_near() -> None:
    """Without a nearby word boundary the cut is exact."""
    assert truncate(BLOB, 10) == "xxxxxxxxx…"


@pytest.mark.parametrize("limit", [0, 1, 2, 5, 256, 1024])
def test_truncate_never_exceeds_the_limit(limit: int) -> None:
    """Whatever the limit, the result fits."""
    assert len(truncate(HUGE, limit)) <= limit
    assert len(truncate(BLOB, limit)) <= limit


def test_truncate_does_not_leave_half_an_emoji_or_a_dangling_escape() -> None:
    """Zero-width joiners, variation selectors and backslashes are not left at the cut."""
    family = "👩\u200d👩\u200d👧"
    assert not truncate("ab" + family * 3, 5).removesuffix("…").endswith("\u200d")
    assert truncate("abcd\\*efgh", 6) == "abcd…"


def test_embed_size_counts_what_discord_counts() -> None:
    """Title, description, field names and values, footer and author count; URLs do not."""
    embed = EmbedData(
        title="t" * 3,
        description="d" * 5,
        url=LONG_URL,
        fields=[EmbedField("n" * 7, "v" * 11)],
        footer="f" * 13,
        thumbnail_url=LONG_URL,
        author_name="a" * 17,
        timestamp=NOW,
    )
    assert embed_size(embed) == 3 + 5 + 7 + 11 + 13 + 17
    assert message_size([embed, embed]) == 2 * 56


def test_fits_message_checks_count_and_total() -> None:
    """At most 10 embeds and 6000 characters in one message."""
    small = EmbedData(description="x" * 100)
    assert fits_message([small] * 10)
    assert not fits_message([small] * 11)
    big = EmbedData(description="x" * 3001)
    assert fits_message([big])
    assert not fits_message([big, big])


def test_enforce_limits_cuts_every_part_and_the_total() -> None:
    """An embed over every limit comes back within all of them."""
    embed = EmbedData(
        title=HUGE,
        description=HUGE,
        fields=[EmbedField(HUGE, HUGE, True) for _ in range(40)],
        footer=HUGE,
        author_name=HUGE,
    )
    result = enforce_limits(embed)
    assert embed_problems(result) == []
    assert len(result.title or "") <= TITLE_MAX
    assert len(result.description or "") <= DESCRIPTION_MAX
    assert len(result.fields) <= FIELDS_MAX
    assert all(
        len(f.name) <= FIELD_NAME_MAX and len(f.value) <= FIELD_VALUE_MAX for f in result.fields
    )
    assert len(result.footer or "") <= FOOTER_MAX
    assert len(result.author_name or "") <= AUTHOR_NAME_MAX
    assert embed_size(result) <= EMBED_TOTAL_MAX


def test_enforce_limits_notes_hidden_fields() -> None:
    """More than 25 fields: the 25th says how many are not shown."""
    embed = EmbedData(fields=[EmbedField(str(i), "v") for i in range(30)])
    result = enforce_limits(embed)
    assert len(result.fields) == FIELDS_MAX
    assert result.fields[-1].value == "6 more not shown"


def test_enforce_limits_fills_empty_fields() -> None:
    """Discord rejects empty field names and values; they get a zero-width space."""
    result = enforce_limits(EmbedData(fields=[EmbedField("", "  ")]))
    assert embed_problems(result) == []


def test_enforce_limits_keeps_small_embeds_unchanged() -> None:
    """A small embed passes through untouched."""
    embed = EmbedData(title="Hi", description="There", fields=[EmbedField("a", "b", True)])
    assert enforce_limits(embed) == embed


def test_enforce_limits_can_target_a_smaller_total() -> None:
    """A custom budget is honoured, shortening the description last of the parts it keeps."""
    embed = EmbedData(title="T", description=HUGE[:3000], fields=[EmbedField("n", "v")])
    assert embed_size(enforce_limits(embed, max_total=500)) <= 500


def test_button_rejects_bad_urls_and_labels() -> None:
    """Link buttons take only http(s) URLs up to 512 characters and labels up to 80."""
    LinkButton("Watch", "https://www.youtube.com/watch?v=7eCWkePf9sk")
    for url in ("javascript:alert(1)", "ftp://example.com/x", "https://" + "a" * 600, "not a url"):
        with pytest.raises(ValueError, match="URL"):
            LinkButton("Watch", url)
    with pytest.raises(ValueError, match="label"):
        LinkButton("x" * (BUTTON_LABEL_MAX + 1), "https://example.com/")
    with pytest.raises(ValueError, match="label"):
        LinkButton("", "https://example.com/")


def test_naive_timestamps_are_refused() -> None:
    """Embeds take aware datetimes only."""
    with pytest.raises(ValueError, match="aware"):
        EmbedData(timestamp=NOW.replace(tzinfo=None))


def _absurd_event() -> Snapshot:
    webcasts = tuple(
        WebcastRef(
            url=f"https://www.youtube.com/watch?v={i:04d}" if i % 3 else LONG_URL,
            live=i % 2 == 0,
            priority=i,
            publisher=HUGE,
            title=BLOB,
            language="en" * 500,
        )
        for i in range(50)
    )
    updates = tuple(
        UpdateRef(
            id=i,
            created_on=NOW - timedelta(minutes=i),
            comment=HUGE,
            created_by=BLOB,
            info_url=LONG_URL if i % 2 else "https://x.com/" + "b" * 1500,
        )
        for i in range(30)
    )
    return event_1201().model_copy(
        update={
            "name": BLOB,
            "type_name": HUGE,
            "webcasts": webcasts,
            "updates": updates,
            "display": Display(
                location=HUGE,
                thumbnail_url=LONG_URL,
                info_url=LONG_URL,
                description=HUGE,
                mission=HUGE,
            ),
        }
    )


def _absurd_launch() -> Snapshot:
    return _absurd_event().model_copy(
        update={
            "source": synthetic_launch().source,
            "id": "x" * 2000,
            "status_name": HUGE,
            "status_id": 5,
            "provider_name": HUGE,
            "window_start": NOW,
            "window_end": NOW + timedelta(hours=2),
        }
    )


def _absurd_changes(item: Snapshot) -> list[Change]:
    return [
        make_change(ChangeKind.WEBCAST_LIVE, item, urls=item.webcasts),
        make_change(ChangeKind.DATE_CHANGED, item, old_precision=HUGE, new_precision=BLOB),
        make_change(ChangeKind.NEW_UPDATE, item, update=item.updates[0]),
        make_change(ChangeKind.STATUS_CHANGED, item, old_status=HUGE, new_status=BLOB),
        make_change(ChangeKind.NEW_ITEM, item),
        make_change(ChangeKind.WEBCAST_ENDED, item, urls=item.webcasts),
    ]


@pytest.mark.parametrize("item", [_absurd_event(), _absurd_launch()], ids=["event", "launch"])
def test_absurd_data_renders_within_every_limit(item: Snapshot) -> None:
    """10k-character texts, 50 webcasts and huge URLs still give sendable embeds and messages."""
    changes = _absurd_changes(item)
    for change in changes:
        embed = render_change(change, NOW)
        assert embed_problems(embed) == [], change.kind
        validate_embeds([embed.to_dict()])
    messages = render_message(changes, 1234, NOW)
    assert len(messages) >= 1
    for message in messages:
        assert message_problems(message) == []
        validate_embeds([e.to_dict() for e in message.embeds])
        validate_components(message.components())
    assert sum(len(m.embeds) for m in messages) == len(changes)
    card = render_item(item, NOW)
    assert embed_problems(card) == []
    listing = render_upcoming([item] * 40, NOW, HUGE)
    assert embed_problems(listing) == []
    assert listing.fields  # a huge title does not crowd out every item
    validate_embeds([card.to_dict()])
    validate_embeds([listing.to_dict()])


def test_many_changes_to_one_item_split_into_several_messages() -> None:
    """30 changes make several messages, none over 10 embeds or 6000 characters."""
    item = _absurd_event()
    changes = [make_change(ChangeKind.NEW_UPDATE, item, update=u) for u in item.updates]
    messages = render_message(changes, None, NOW)
    assert len(messages) > 3
    for message in messages:
        assert message_problems(message) == []
        assert fits_message(message.embeds)


def test_message_problems_reports_every_broken_limit() -> None:
    """The checker itself notices oversized messages."""
    big = EmbedData(description="x" * 4000)
    message = MessageData(content="c" * 2001, embeds=[big] * 11)
    problems = message_problems(message)
    assert any("content" in p for p in problems)
    assert any("10 embeds" in p for p in problems)
    assert any("6000" in p for p in problems)
    assert message_problems(MessageData()) == ["empty message"]
