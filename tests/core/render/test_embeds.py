"""Alert embeds, the /event card and the /next list, from real and synthetic LL2 data."""

from __future__ import annotations

import ast
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
import pytest

from bot.core.changes import ChangeKind
from bot.core.render.compose import render_item, render_upcoming
from bot.core.render.embeds import STYLES, render_change
from bot.core.render.fit import embed_problems, embed_size
from bot.core.render.message import EmbedData, EmbedField
from bot.core.snapshot import Display, Snapshot, UpdateRef, WebcastRef
from tests.core.render.support import NOW, event_1201, make_change, synthetic_launch

DOCKING = int(datetime(2025, 6, 26, 10, 30, tzinfo=UTC).timestamp())
THUMBNAIL = (
    "https://thespacedevs-prod.nyc3.digitaloceanspaces.com/media/images/"
    "255bauto255d__image_thumbnail_20240305191923.jpeg"
)


def field(embed: EmbedData, name: str) -> str:
    """The value of the field called ``name``."""
    return next(f.value for f in embed.fields if f.name == name)


def test_every_kind_has_its_own_colour_and_prefix() -> None:
    """Kinds are told apart at a glance."""
    assert len({s.colour for s in STYLES.values()}) == len(STYLES)
    assert len({s.prefix for s in STYLES.values()}) == len(STYLES)


@pytest.mark.parametrize("kind", list(ChangeKind))
def test_every_kind_renders_the_shared_parts(kind: ChangeKind) -> None:
    """Title prefix and name, link, colour, thumbnail, author, footer and timestamp."""
    change = make_change(kind, event_1201())
    embed = render_change(change, NOW)
    style = STYLES[kind]
    assert embed.title is not None
    assert embed.title.startswith(style.prefix)
    assert embed.title.endswith("SpaceX AX-4 Crew Dragon Docking")
    assert embed.colour == style.colour
    assert embed.url is not None
    assert embed.url.startswith("https://")
    assert embed.thumbnail_url == THUMBNAIL
    assert embed.author_name == "Event · Docking"
    assert embed.footer == "Data: Launch Library 2 (The Space Devs) · updated 2025-06-26 13:55 UTC"
    assert embed.timestamp == NOW
    assert field(embed, "Location") == "International Space Station"
    assert embed_problems(embed) == []


def test_webcast_live_lists_live_links_first_with_publisher_and_language() -> None:
    """The live webcast leads, titles link to it, and the language is shown."""
    change = make_change(ChangeKind.WEBCAST_LIVE, event_1201())  # the ESA stream is live
    embed = render_change(change, NOW)
    assert embed.url == "https://www.youtube.com/watch?v=OZcfHni6L5M"
    assert embed.description is not None
    lines = embed.description.splitlines()
    assert lines[0] == "**Watch now:**"
    assert lines[1].startswith("🔴 [European Space Agency, ESA — Docking of Axiom Mission 4")
    assert lines[1].endswith("](https://www.youtube.com/watch?v=OZcfHni6L5M) · EN")
    assert lines[2] == (
        "▫️ [NASA — Axiom Mission 4 Arrival and Welcome Remarks]"
        "(https://www.youtube.com/watch?v=7eCWkePf9sk) · EN"
    )
    assert len(lines) == 4
    assert field(embed, "When") == f"<t:{DOCKING}:F> (<t:{DOCKING}:R>)"
    assert field(embed, "Type") == "Docking"


def test_date_changed_shows_old_and_new_with_the_shift() -> None:
    """Old → new, each in precision words, and how far it moved."""
    embed = render_change(make_change(ChangeKind.DATE_CHANGED, event_1201()), NOW)
    new = DOCKING + 1800
    assert embed.description == (
        f"**Was:** <t:{DOCKING}:F> (<t:{DOCKING}:R>)\n"
        f"**Now:** <t:{new}:F> (<t:{new}:R>)\n"
        "Moved **30m later**."
    )
    assert "When" not in [f.name for f in embed.fields]
    # Event 1201 has no info URL: the title links its best webcast page, not LL2's API JSON.
    assert embed.url == "https://www.youtube.com/watch?v=7eCWkePf9sk"


def test_an_item_without_any_readable_page_links_nowhere() -> None:
    """No info URL and no webcast: the title has no link (never LL2's API URL)."""
    item = synthetic_launch()
    bare = item.model_copy(
        update={"display": dataclasses.replace(item.display, info_url=None), "webcasts": ()}
    )
    embed = render_change(make_change(ChangeKind.STATUS_CHANGED, bare), NOW)
    assert embed.url is None
    listing = render_upcoming([bare], NOW, "Next")
    assert "thespacedevs.com/2.3.0" not in str(listing.to_dict())


def test_date_changed_from_month_to_minute_precision_uses_words_for_the_old_date() -> None:
    """A coarse old date is not shown as a timestamp, and no shift is claimed."""
    item = event_1201()
    change = make_change(
        ChangeKind.DATE_CHANGED,
        item,
        old_date=datetime(2025, 6, 30, tzinfo=UTC),
        old_precision="Month",
    )
    embed = render_change(change, NOW)
    assert embed.description is not None
    assert embed.description.startswith("**Was:** NET June 2025 (month precision)\n**Now:** <t:")
    assert "Moved" not in embed.description


def test_new_update_quotes_the_comment_with_author_and_source() -> None:
    """The comment is quoted; author, time and a source link follow."""
    update = UpdateRef(
        id=11403,
        comment="New docking time.\nHatch opening follows.",
        created_by="Cosmic_Penguin",
        created_on=datetime(2025, 6, 26, 10, 10, tzinfo=UTC),
        info_url="https://x.com/spacex/status/1938176993239183779",
    )
    embed = render_change(make_change(ChangeKind.NEW_UPDATE, event_1201(), update=update), NOW)
    assert embed.description == (
        "> New docking time.\n"
        "> Hatch opening follows.\n"
        "— Cosmic\\_Penguin · <t:1750932600:R> · "
        "[source: x.com](https://x.com/spacex/status/1938176993239183779)"
    )
    assert embed.url == "https://x.com/spacex/status/1938176993239183779"


def test_status_changed_shows_old_and_new_status() -> None:
    """A launch's status change reads old → new, with the launch's details around it."""
    launch = synthetic_launch()
    embed = render_change(make_change(ChangeKind.STATUS_CHANGED, launch), NOW)
    assert embed.description == "**🟡 To Be Confirmed** → **🟢 Go for Launch**"
    assert embed.title == "🚦 Status changed: Falcon 9 Block 5 | Starlink Group 10-99"
    assert embed.url == "https://www.spacex.com/launches/sl-10-99"
    assert embed.author_name == "Launch · SpaceX"
    assert field(embed, "Provider") == "SpaceX"
    assert field(embed, "Mission") == "Starlink Group 10-99"
    assert field(embed, "Location") == "Space Launch Complex 40, Cape Canaveral SFS, FL, USA"
    assert field(embed, "Window") == "<t:1751433030:f> – <t:1751449260:t>"
    assert "Status" not in [f.name for f in embed.fields]


def test_launch_cards_show_the_status_field() -> None:
    """Other launch alerts carry the current status as a field."""
    embed = render_change(make_change(ChangeKind.NEW_ITEM, synthetic_launch()), NOW)
    assert embed.title == "✨ New launch: Falcon 9 Block 5 | Starlink Group 10-99"
    assert field(embed, "Status") == "🟢 Go for Launch"
    assert embed.description == "A batch of Starlink V2 Mini satellites."


def test_new_event_introduces_the_item_with_its_webcasts() -> None:
    """A new event shows its description, details and watch links."""
    embed = render_change(make_change(ChangeKind.NEW_ITEM, event_1201()), NOW)
    assert embed.title == "✨ New event: SpaceX AX-4 Crew Dragon Docking"
    assert embed.description == (
        "The AX-4 Crew Dragon will dock autonomously to the International Space Station."
    )
    assert field(embed, "Webcasts").count("\n") == 2


def test_items_without_info_url_link_to_a_webcast_page() -> None:
    """No info URL: the title links the best webcast page (LL2's item URL is API JSON)."""
    embed = render_change(make_change(ChangeKind.NEW_ITEM, event_1201()), NOW)
    assert embed.url == "https://www.youtube.com/watch?v=7eCWkePf9sk"


def test_unsafe_urls_are_never_linked() -> None:
    """javascript:, non-http and mention-bearing URLs are dropped everywhere."""
    item = event_1201().model_copy(
        update={
            "webcasts": (
                WebcastRef(url="javascript:alert(1)", live=True, publisher="Evil"),
                WebcastRef(url="https://x.com/@everyone", live=True, publisher="Ping"),
            ),
            "display": Display(
                thumbnail_url="ftp://example.com/x.png", info_url="data:text/html,x"
            ),
        }
    )
    embed = render_change(make_change(ChangeKind.WEBCAST_LIVE, item, urls=item.webcasts), NOW)
    text = str(embed.to_dict())
    assert "javascript:" not in text
    assert "ftp:" not in text
    assert "data:" not in text
    assert "@everyone" not in text
    assert embed.thumbnail_url is None
    assert embed.url is None  # no safe page to link: no link at all


def test_markdown_in_ll2_text_is_escaped_but_bare_urls_stay_intact() -> None:
    """Stars and underscores render literally; a URL in a comment keeps working."""
    item = event_1201().model_copy(update={"name": "**Big** _launch_ [x](https://evil.example)"})
    update = UpdateRef(id=1, comment="See https://example.com/a_b*c for `details`")
    embed = render_change(make_change(ChangeKind.NEW_UPDATE, item, update=update), NOW)
    assert (
        embed.title == "📰 New update: \\*\\*Big\\*\\* \\_launch\\_ \\[x\\](https://evil.example)"
    )
    assert embed.description is not None
    assert embed.description.startswith("> See https://example.com/a_b*c for \\`details\\`")


def test_embed_converts_to_discord_and_back() -> None:
    """discord.Embed.from_dict accepts to_dict, keeps every part and counts the same length."""
    for kind in ChangeKind:
        embed = render_change(make_change(kind, event_1201()), NOW)
        converted = discord.Embed.from_dict(embed.to_dict())
        assert converted.title == embed.title
        assert converted.description == embed.description
        assert converted.url == embed.url
        assert converted.colour is not None
        assert converted.colour.value == embed.colour
        assert [(f.name, f.value, f.inline) for f in converted.fields] == [
            tuple(f) for f in embed.fields
        ]
        assert converted.footer.text == embed.footer
        assert converted.thumbnail.url == embed.thumbnail_url
        assert converted.author.name == embed.author_name
        assert converted.timestamp == embed.timestamp
        assert len(converted) == embed_size(embed)
        assert {k: v for k, v in converted.to_dict().items() if k != "flags"} == embed.to_dict()


def test_fields_accept_plain_tuples_and_are_stored_immutably() -> None:
    """Fields may be given as (name, value, inline) tuples; the embed keeps a tuple."""
    embed = EmbedData(fields=[("a", "b", True)])  # type: ignore[list-item]
    assert embed.fields == (EmbedField("a", "b", True),)
    assert isinstance(embed.fields, tuple)


def test_event_card_shows_details_webcasts_and_latest_three_updates() -> None:
    """/event shows the item, its webcasts and the three newest updates, newest first."""
    card = render_item(event_1201(), NOW)
    assert card.title == "SpaceX AX-4 Crew Dragon Docking"
    assert card.description == (
        "The AX-4 Crew Dragon will dock autonomously to the International Space Station."
    )
    names = [f.name for f in card.fields]
    assert names == [
        "When",
        "Type",
        "Location",
        "Webcasts",
        "Update 2025-06-26 10:10 UTC",
        "Update 2025-06-26 08:39 UTC",
        "Update 2025-06-26 08:35 UTC",
    ]
    assert field(card, "Update 2025-06-26 10:10 UTC").startswith("> New docking time.\n— Cosmic")
    assert embed_problems(card) == []


def test_event_card_marks_live_webcasts() -> None:
    """A live item's card says so in its title and colour."""
    item = event_1201().model_copy(update={"webcast_live": True})
    card = render_item(item, NOW)
    assert card.title == "🔴 SpaceX AX-4 Crew Dragon Docking"
    assert card.colour == STYLES[ChangeKind.WEBCAST_LIVE].colour
    assert "Webcasts (live now)" in [f.name for f in card.fields]


def _coarse_launch() -> Snapshot:
    return synthetic_launch(
        name="Starship | Flight 12",
        net="2026-09-30T00:00:00Z",
        net_precision={"id": 10, "name": "Quarter 3", "abbrev": "Q3"},
        status={"id": 2, "name": "To Be Determined", "abbrev": "TBD"},
        info_urls=[],
    )


def test_upcoming_lists_one_field_per_item_with_precision_words() -> None:
    """/next: name, when (timestamp or words) and type or status per item."""
    listing = render_upcoming([event_1201(), _coarse_launch()], NOW, "Next up")
    assert listing.title == "Next up"
    assert [f.name for f in listing.fields] == [
        "1. SpaceX AX-4 Crew Dragon Docking",
        "2. Starship | Flight 12",
    ]
    assert listing.fields[0].value == (
        f"<t:{DOCKING}:F> (<t:{DOCKING}:R>)\nDocking\n"
        "[watch](https://www.youtube.com/watch?v=7eCWkePf9sk)"
    )
    assert listing.fields[1].value == (
        "NET Q3 2026\n⚪ To Be Determined · SpaceX\n"
        "[watch](https://x.com/i/broadcasts/1abcdefghijkl)"
    )
    assert listing.description is None


def test_upcoming_caps_at_25_items_and_says_so() -> None:
    """More items than fit: the first ones are shown and the rest counted."""
    items = [
        event_1201().model_copy(update={"id": str(i), "date": NOW + timedelta(days=i)})
        for i in range(30)
    ]
    listing = render_upcoming(items, NOW, "Next 30")
    assert len(listing.fields) == 25
    assert listing.description == "Showing the first 25; 5 more not shown."


def test_upcoming_with_nothing_says_so() -> None:
    """An empty list is a friendly sentence, not an empty embed."""
    listing = render_upcoming([], NOW, "Next up")
    assert listing.description == "Nothing upcoming in what Spacecast has seen so far."
    assert listing.fields == ()


RENDER_MODULES = [
    "__init__",
    "compose",
    "embeds",
    "text",
    "limits",
    "fit",
    "message",
    "sanitize",
    "when",
]
IMPURE = {"discord", "httpx", "sqlalchemy", "os", "socket", "time", "random", "requests", "io"}


@pytest.mark.parametrize("module", RENDER_MODULES)
def test_render_modules_are_pure(module: str) -> None:
    """No discord, no I/O libraries and no clock reads in the rendering core."""
    path = Path(__file__).resolve().parents[3] / "bot" / "core" / "render" / f"{module}.py"
    source = path.read_text(encoding="utf-8")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & IMPURE
    for clock in ("datetime.now", ".now(", "utcnow", "today(", "open("):
        assert clock not in source
