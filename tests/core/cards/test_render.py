"""The card and pointer renderers: Discord's limits, sanitised text, history newest first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import discord
from hypothesis import given
from hypothesis import strategies as st
from simcord.components import validate_components, validate_embeds

from bot.core.cards import (
    CardState,
    FreezeReason,
    HistoryEntry,
    PointerKind,
    plan_card,
    render_card,
    render_pointer,
)
from bot.core.changes import ChangeKind
from bot.core.render.fit import message_problems
from bot.core.snapshot import UpdateRef
from tests.core.change_factory import T0, change, event, launch, slip
from tests.core.render.support import RAW_MENTION, assert_no_raw_mentions
from tests.core.render.test_properties import FUZZ, changes

CH = 800_000_000_000_000_001
GUILD = 700_000_000_000_000_001
QUIET = timedelta(minutes=10)


def update_entry(n: int, comment: str) -> HistoryEntry:
    """A history entry for update ``n``."""
    return HistoryEntry.of(
        change(
            ChangeKind.NEW_UPDATE,
            event(),
            update=UpdateRef(id=n, comment=comment),
            detected_at=T0 + timedelta(minutes=n),
        )
    )


def description(state: CardState) -> str:
    (embed,) = render_card(state).embeds
    return embed.description or ""


def test_fifty_changes_keep_the_newest_and_cut_the_oldest() -> None:
    """A history of 50 long changes fits Discord's limits, newest first, oldest cut."""
    history = tuple(update_entry(n, f"update number {n:02d} " + "x" * 150) for n in range(50))
    state = CardState(guild_id=GUILD, channel_id=CH, item=event(), history=tuple(reversed(history)))
    message = render_card(state)
    assert message_problems(message) == []
    validate_embeds([e.to_dict() for e in message.embeds])
    text = description(state)
    assert "update number 49" in text  # the newest is shown
    assert "update number 00" not in text  # the oldest is cut first
    assert text.index("update number 49") < text.index("update number 48")
    assert "older" in text.splitlines()[-1]  # says how many were left out


def test_card_shows_date_status_precision_and_latest_update() -> None:
    """Name, <t:F>/<t:R>, 'at 14:32 UTC', status and the latest update are on the card."""
    item = launch()
    state = CardState(guild_id=GUILD, channel_id=CH, item=item)
    (embed,) = render_card(state).embeds
    assert embed.title == "Falcon 9 Block 5 | Starlink Group 10-25"
    text = embed.description or ""
    stamp = int(item.date.timestamp()) if item.date else 0
    assert f"<t:{stamp}:F>" in text
    assert f"<t:{stamp}:R>" in text
    assert "at 04:26 UTC" in text
    assert "Go for Launch" in text


def test_coarse_dates_are_words() -> None:
    """A month-precision date says NET July, not a made-up clock time."""
    item = launch().model_copy(update={"precision_id": 7, "precision_name": "Month"})
    text = description(CardState(guild_id=GUILD, channel_id=CH, item=item))
    assert "NET June 2025 (month precision)" in text
    assert "<t:" not in text.splitlines()[0]


def test_history_lines_for_each_kind() -> None:
    """Date, status, update and webcast lines read as the issue words them."""
    item = launch()
    batch = [
        slip(item, item.date - timedelta(hours=1), item.date),  # type: ignore[operator]
        change(
            ChangeKind.STATUS_CHANGED,
            item,
            old_status="Go for Launch",
            new_status="Launch in Flight",
            old_status_id=1,
            new_status_id=6,
        ),
        change(ChangeKind.WEBCAST_LIVE, item),
    ]
    plan = plan_card(None, guild_id=GUILD, channel_id=CH, changes=batch, now=T0, quiet_period=QUIET)
    assert plan.state is not None
    text = description(plan.state)
    assert "NET moved from <t:" in text
    assert "Status Go for Launch -> Launch in Flight" in text
    assert "Webcast live" in text


def test_outcome_and_moved_lines() -> None:
    """A final card says its outcome; a far-slipped one says where it moved."""
    base = CardState(guild_id=GUILD, channel_id=CH, item=launch())
    final = base.model_copy(
        update={
            "outcome": "Success",
            "final": True,
            "frozen": True,
            "frozen_reason": FreezeReason.OVER,
        }
    )
    assert "Outcome: Success" in description(final)
    moved = base.model_copy(
        update={
            "frozen": True,
            "frozen_reason": FreezeReason.MOVED,
            "moved_to": T0 + timedelta(days=9),
        }
    )
    assert "Moved to <t:" in description(moved)


def test_webcasts_become_buttons_live_first() -> None:
    """The best webcasts are Watch buttons, live first, then Details."""
    item = event()
    message = render_card(CardState(guild_id=GUILD, channel_id=CH, item=item))
    labels = [b.label for b in message.buttons]
    assert labels
    assert labels[0].startswith(("🔴 Watch", "Watch"))
    validate_components(message.components())


def test_pointer_mentions_the_role_and_links_the_card() -> None:
    """The pointer carries the role mention and the card's jump link."""
    live = change(ChangeKind.WEBCAST_LIVE, event())
    url = "https://discord.com/channels/1/2/3"
    message = render_pointer(PointerKind.WEBCAST_LIVE, live, [42], url)
    assert message.content is not None
    assert message.content.startswith("<@&42> 🔴 Webcast live: **")
    assert url in message.content
    assert message_problems(message) == []
    outcome = change(
        ChangeKind.STATUS_CHANGED, launch(), new_status="Launch Successful", new_status_id=3
    )
    text = render_pointer(PointerKind.OUTCOME, outcome, []).content or ""
    assert "Launch outcome: **Launch Successful**" in text


@FUZZ
@given(st.lists(changes(), min_size=1, max_size=8), st.integers(0, 60))
def test_fuzzed_cards_are_sendable_and_inert(batch: list[Any], extra: int) -> None:
    """Any LL2 text, any history length: the card fits, pings nobody, Discord accepts it."""
    first = batch[0]
    same = [
        c.model_copy(
            update={
                "source": first.source,
                "item_id": first.item_id,
                "item": c.item.model_copy(update={"source": first.source, "id": first.item_id}),
                "version": f"{c.version}-{i}",
            }
        )
        for i, c in enumerate(batch)
    ]
    plan = plan_card(None, guild_id=GUILD, channel_id=CH, changes=same, now=T0, quiet_period=QUIET)
    assert plan.state is not None
    state = plan.state.model_copy(
        update={"history": plan.state.history + plan.state.history[:1] * extra}
    )
    message = render_card(state)
    assert message_problems(message) == []
    assert_no_raw_mentions(message, None)
    assert message.content is None
    validate_embeds([e.to_dict() for e in message.embeds])
    validate_components(message.components())
    discord.Embed.from_dict(message.embeds[0].to_dict())
    for pointer in plan.pointers:
        rendered = render_pointer(pointer.kind, pointer.change, [7])
        assert message_problems(rendered) == []
        assert not RAW_MENTION.search((rendered.content or "").replace("<@&7>", ""))
