"""Hypothesis fuzzing: whatever text LL2 sends, rendering stays sendable, inert and one-line."""

from __future__ import annotations

import json
from typing import Any

import discord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simcord.components import validate_components, validate_embeds

from bot.core.changes import ChangeKind
from bot.core.render.compose import render_item, render_message, render_upcoming
from bot.core.render.fit import embed_problems, message_problems, truncate
from bot.core.render.sanitize import safe_url
from bot.core.render.text import change_to_json, change_to_text
from bot.core.snapshot import Display, Snapshot, Source, UpdateRef, WebcastRef
from tests.core.render.support import (
    NOW,
    RAW_MENTION,
    assert_no_raw_mentions,
    event_1201,
    make_change,
)

# Text that mixes the nasty parts on purpose: mentions, markdown, controls, emoji, long runs.
NASTY = st.sampled_from(
    [
        "@everyone",
        "@here",
        "<@&123>",
        "<@!1>",
        "<#9>",
        "**",
        "||",
        "~~",
        "`",
        "\\",
        "[",
        "](",
        "\n",
        "\r",
        "\x1b[2J",
        "\u200d",
        "👩\u200d🚀",
        "https://example.com/a_b",
        " ",
        "x" * 300,
    ]
)
TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(NASTY, st.text(max_size=20)), max_size=40).map("".join),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=5), st.integers(0, 3000)),
)
MAYBE_TEXT = st.none() | TEXT
URL = st.one_of(
    TEXT,
    st.builds(lambda s: "https://example.com/" + s, TEXT),
    st.sampled_from(["javascript:alert(1)", "https://x.com/@everyone", "http://[::1", ""]),
)
PRECISION = st.tuples(st.none() | st.integers(-1, 20), MAYBE_TEXT)


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    """Event 1201's snapshot with every LL2 text field replaced by fuzz."""
    source = draw(st.sampled_from(Source))
    precision_id, precision_name = draw(PRECISION)
    webcasts = draw(
        st.lists(
            st.builds(
                WebcastRef,
                url=URL,
                live=st.booleans(),
                priority=st.none() | st.integers(0, 99),
                publisher=MAYBE_TEXT,
                title=MAYBE_TEXT,
                language=MAYBE_TEXT,
            ),
            max_size=8,
        )
    )
    updates = draw(
        st.lists(
            st.builds(
                UpdateRef,
                id=st.integers(0, 10**6),
                comment=MAYBE_TEXT,
                created_by=MAYBE_TEXT,
                info_url=st.none() | URL,
                created_on=st.none() | st.just(NOW),
            ),
            max_size=5,
        )
    )
    return event_1201().model_copy(
        update={
            "source": source,
            "id": draw(st.text(min_size=1, max_size=50)),
            "name": draw(TEXT),
            "type_name": draw(MAYBE_TEXT),
            "provider_name": draw(MAYBE_TEXT),
            "status_name": draw(MAYBE_TEXT),
            "status_id": draw(st.none() | st.integers(0, 12)),
            "precision_id": precision_id,
            "precision_name": precision_name,
            "webcast_live": draw(st.booleans()),
            "webcasts": tuple(webcasts),
            "updates": tuple(updates),
            "display": Display(
                location=draw(MAYBE_TEXT),
                thumbnail_url=draw(st.none() | URL),
                info_url=draw(st.none() | URL),
                description=draw(MAYBE_TEXT),
                mission=draw(MAYBE_TEXT),
            ),
        }
    )


@st.composite
def changes(draw: st.DrawFn) -> Any:
    """A change of any kind to a fuzzed item, with fuzzed kind-specific text."""
    item = draw(snapshots())
    kind = draw(st.sampled_from(ChangeKind))
    fields: dict[str, Any] = {"name": draw(TEXT)}
    if kind is ChangeKind.DATE_CHANGED:
        fields |= {"old_precision": draw(MAYBE_TEXT), "new_precision": draw(MAYBE_TEXT)}
    if kind is ChangeKind.NEW_UPDATE:
        fields["update"] = draw(
            st.none()
            | st.builds(
                UpdateRef,
                id=st.integers(0, 10),
                comment=MAYBE_TEXT,
                created_by=MAYBE_TEXT,
                info_url=st.none() | URL,
            )
        )
    if kind is ChangeKind.STATUS_CHANGED:
        fields |= {
            "old_status": draw(MAYBE_TEXT),
            "new_status": draw(MAYBE_TEXT),
            "old_status_id": draw(st.none() | st.integers(0, 12)),
        }
    if kind in (ChangeKind.WEBCAST_LIVE, ChangeKind.WEBCAST_ENDED):
        fields["urls"] = item.webcasts
    change = make_change(kind, item)
    return change.model_copy(update=fields)


FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.lists(changes(), min_size=1, max_size=6), st.none() | st.integers(1, 2**63))
def test_fuzzed_changes_render_into_sendable_inert_messages(
    batch: list[Any], role: int | None
) -> None:
    """Any LL2 text: every limit holds, no mention survives, Discord accepts the payload."""
    first = batch[0]
    same_item = [
        c.model_copy(update={"source": first.source, "item_id": first.item_id}) for c in batch
    ]
    messages = render_message(same_item, role, NOW)
    assert sum(len(m.embeds) for m in messages) == len(batch)
    for message in messages:
        assert message_problems(message) == []
        assert_no_raw_mentions(message, role)
        validate_embeds([e.to_dict() for e in message.embeds])
        validate_components(message.components())
        for embed in message.embeds:
            discord.Embed.from_dict(embed.to_dict())


@FUZZ
@given(changes())
def test_fuzzed_changes_give_one_terminal_line_and_valid_json(change: Any) -> None:
    """Console output is a single line without control characters; JSON serialises."""
    line = change_to_text(change, NOW)
    assert "\n" not in line
    assert "\r" not in line
    assert "\x1b" not in line
    data = change_to_json(change)
    assert json.loads(json.dumps(data)) == data


@FUZZ
@given(snapshots(), st.lists(snapshots(), max_size=12), TEXT)
def test_fuzzed_items_render_cards_and_lists_within_limits(
    item: Snapshot, items: list[Snapshot], title: str
) -> None:
    """/event and /next stay within every limit and never carry a raw mention."""
    for embed in (render_item(item, NOW), render_upcoming(items, NOW, title or "Next")):
        assert embed_problems(embed) == []
        validate_embeds([embed.to_dict()])
        ll2_texts = [
            embed.description or "",
            *(f.name + f.value for f in embed.fields),
            embed.footer or "",
            embed.author_name or "",
        ]
        for text in ll2_texts:
            assert not RAW_MENTION.search(text), text


@given(st.text(), st.integers(0, 5000))
def test_truncate_always_fits(text: str, limit: int) -> None:
    """truncate never exceeds the limit and never changes text that already fits."""
    result = truncate(text, limit)
    assert len(result) <= limit
    if len(text) <= limit:
        assert result == text


@given(URL)
def test_safe_url_only_lets_http_urls_through(url: str) -> None:
    """Whatever comes in, what comes out is an ASCII http(s) URL without spaces, or None."""
    result = safe_url(url)
    if result is not None:
        assert result.lower().startswith(("http://", "https://"))
        assert result.isascii()
        assert not any(c.isspace() for c in result)
        assert not RAW_MENTION.search(result)
