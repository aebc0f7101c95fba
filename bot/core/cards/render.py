"""Rendering a live card and its pointer messages, within Discord's limits.

The card is one embed: the item's name (linked), its date as ``<t:…:F>`` and ``<t:…:R>`` or in
words for coarse precision ("NET July 2026 (month precision)"), the clock time in UTC words
("at 14:32 UTC"), the launch status, the latest update, and what changed, newest first. The
history is cut from the oldest end when it does not fit. The best webcasts are link buttons.
Every LL2 string passes :mod:`bot.core.render.sanitize`; the embed passes ``enforce_limits``.

A pointer is a short message carrying the role mentions (edits ping nobody): "🔴 Webcast live:
**name**" or "✅ Launch outcome: Success — **name**", sent as a reply to the card.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.core.cards.plan import PointerKind
from bot.core.cards.state import CardState, FreezeReason, HistoryEntry
from bot.core.changes import Change, ChangeKind
from bot.core.render.compose import buttons_for
from bot.core.render.embeds import (
    ITEM_COLOUR,
    STATUS_EMOJI,
    STYLES,
    author_text,
    footer_text,
    item_name,
    item_page,
    status_text,
    update_text,
    webcast_label,
)
from bot.core.render.fit import enforce_limits, truncate
from bot.core.render.limits import BUTTON_LABEL_MAX, BUTTON_URL_MAX, CONTENT_MAX
from bot.core.render.message import EmbedData, EmbedField, LinkButton, MessageData
from bot.core.render.sanitize import clean, safe_url
from bot.core.render.when import Grain, classify, coarse_words, discord_time, when_discord
from bot.core.snapshot import Snapshot, Source, best_webcasts

# Room for the history inside the 4096-character description, after the header lines.
HISTORY_BUDGET = 2600
HISTORY_COMMENT_MAX = 90
WEBCAST_BUTTONS = 3
OUTCOME_COLOUR = {"Success": 0x43A047, "Failure": 0xE53935, "Partial Failure": 0xFB8C00}
OVER_COLOUR = 0x757575
OUTCOME_EMOJI = {"Success": "✅", "Failure": "❌", "Partial Failure": "⚠️"}
SUMMARY_NAME_MAX = 150


def clock_words(value: datetime | None, precision_id: int | None, name: str | None) -> str | None:
    """``at 14:32 UTC`` (``around 14:00 UTC`` to the hour) for clock dates, None for coarse ones."""
    if value is None:
        return None
    grain = classify(precision_id, name).grain
    utc = value.astimezone(UTC)
    if grain in (Grain.SECOND, Grain.MINUTE, Grain.UNSPECIFIED):
        return f"at {utc:%H:%M} UTC"
    if grain is Grain.HOUR:
        return f"around {utc:%H}:00 UTC"
    return None


def short_when(value: datetime | None, precision: str | None) -> str:
    """A date for one history line: ``<t:…:f>`` when it is a clock time, else words."""
    if value is None:
        return "TBD"
    words = coarse_words(value, classify(None, precision))
    return words if words is not None else discord_time(value, "f")


def history_line(entry: HistoryEntry) -> str:
    """One line of the card's history, e.g. ``<t:…:t> 🗓️ NET moved from … to …``."""
    stamp = discord_time(entry.at, "t")
    kind = entry.kind
    if kind is ChangeKind.DATE_CHANGED:
        old = short_when(entry.old_date, entry.old_precision)
        new = short_when(entry.new_date, entry.new_precision)
        text = f"🗓️ NET moved from {old} to {new}"
    elif kind is ChangeKind.STATUS_CHANGED:
        old_status = clean(truncate(entry.old_status, 60)) if entry.old_status else "Unknown"
        new_status = clean(truncate(entry.new_status, 60)) if entry.new_status else "Unknown"
        emoji = STATUS_EMOJI.get(entry.new_status_id or -1, "🚦")
        text = f"{emoji} Status {old_status} -> {new_status}"
    elif kind is ChangeKind.NEW_UPDATE:
        comment = entry.update.comment if entry.update is not None else None
        said = clean(truncate(" ".join((comment or "").split()), HISTORY_COMMENT_MAX))
        text = f"📰 Update: “{said}”" if said else "📰 New update"
    elif kind is ChangeKind.WEBCAST_LIVE:
        text = "🔴 Webcast live"
    elif kind is ChangeKind.WEBCAST_ENDED:
        text = "⚫ Webcast ended"
    else:
        text = "✨ First seen"
    return f"{stamp} {text}"


def history_text(history: Sequence[HistoryEntry], budget: int = HISTORY_BUDGET) -> str:
    """History lines newest first within ``budget`` characters; the oldest are cut first."""
    lines: list[str] = []
    used = 0
    for index, entry in enumerate(history):
        line = history_line(entry)
        rest = len(history) - index - 1
        reserve = len(f"\n…and {rest} older") if rest else 0
        if used + len(line) + 1 + reserve > budget:
            lines.append(f"…and {len(history) - index} older")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def _header(state: CardState) -> list[str]:
    item = state.item
    lines = [f"**When:** {when_discord(item.date, item.precision_id, item.precision_name)}"]
    clock = clock_words(item.date, item.precision_id, item.precision_name)
    if clock is not None:
        lines[0] += f" · {clock}"
    if item.source is Source.LAUNCH and (item.status_name or item.status_id is not None):
        lines.append(f"**Status:** {status_text(item.status_name, item.status_id)}")
    if state.webcast_live:
        lines.append("🔴 **Webcast live now**")
    if state.outcome is not None:
        emoji = OUTCOME_EMOJI.get(state.outcome, "")
        lines.append(f"{emoji} **Outcome: {state.outcome}.** This card is final.")
    elif state.frozen_reason is FreezeReason.OVER:
        lines.append("⚫ **Over.** This card is final.")
    elif state.frozen_reason is FreezeReason.REMOVED:
        lines.append("⚫ **No longer on Launch Library 2's schedule.** This card is final.")
    elif state.frozen_reason is FreezeReason.MOVED:
        moved = short_when(state.moved_to, item.precision_name)
        lines.append(f"➡️ **Moved to {moved}.** A new card will be posted when it changes again.")
    return lines


def _colour(state: CardState) -> int:
    if state.outcome is not None:
        return OUTCOME_COLOUR.get(state.outcome, OVER_COLOUR)
    if state.frozen:
        return OVER_COLOUR
    if state.webcast_live:
        return STYLES[ChangeKind.WEBCAST_LIVE].colour
    return ITEM_COLOUR


def card_buttons(item: Snapshot) -> list[LinkButton]:
    """The best webcasts (live first) as ``Watch`` buttons, then ``Details``."""
    buttons: list[LinkButton] = []
    seen: set[str] = set()
    for webcast in best_webcasts(item.webcasts):
        url = safe_url(webcast.url, BUTTON_URL_MAX)
        if url is None or url in seen:
            continue
        seen.add(url)
        # Button labels are plain text (no markdown), so the cleaned label's escapes come off.
        label = webcast_label(webcast).replace("\\", "")
        prefix = "🔴 Watch" if webcast.live else "Watch"
        buttons.append(LinkButton(truncate(f"{prefix}: {label}", BUTTON_LABEL_MAX), url))
        if len(buttons) == WEBCAST_BUTTONS:
            break
    details = safe_url(item.display.info_url, BUTTON_URL_MAX)
    if details is not None and details not in seen:
        buttons.append(LinkButton("Details", details))
    return buttons


def render_card(state: CardState) -> MessageData:
    """The card message for ``state``: one embed and link buttons, never a mention."""
    item = state.item
    description = "\n".join(_header(state))
    history = history_text(state.history)
    if history:
        description += f"\n\n**What changed** (newest first)\n{history}"
    fields: list[EmbedField] = []
    if item.updates:
        latest = max(item.updates, key=lambda u: (u.created_on is not None, u.created_on, u.id))
        fields.append(EmbedField("Latest update", update_text(latest, limit=500), False))
    if item.display.location:
        fields.append(EmbedField("Location", clean(truncate(item.display.location, 200)), False))
    live = "🔴 " if state.webcast_live else ""
    embed = EmbedData(
        title=f"{live}{item_name(item.name)}",
        description=description,
        url=item_page(item),
        colour=_colour(state),
        fields=fields,
        footer=f"{footer_text(item)} · live card, v{state.version}",
        thumbnail_url=safe_url(item.display.thumbnail_url),
        author_name=author_text(item),
    )
    return MessageData(content=None, embeds=[enforce_limits(embed)], buttons=card_buttons(item))


def render_pointer(
    kind: PointerKind, change: Change, role_ids: Sequence[int], card_url: str | None = None
) -> MessageData:
    """The short message that pings for ``change`` and points at the card.

    ``card_url`` is the card's jump link when the card exists; the adapter also sends the
    message as a reply to the card.
    """
    if any(r <= 0 for r in role_ids):
        raise ValueError("role ids must be positive Discord ids")
    name = item_name(change.name or change.item.name, SUMMARY_NAME_MAX)
    if kind is PointerKind.WEBCAST_LIVE:
        text = f"🔴 Webcast live: **{name}**"
    else:
        outcome = change.new_status or "Unknown"
        emoji = OUTCOME_EMOJI.get(outcome, "🚦")
        text = f"{emoji} Launch outcome: **{clean(truncate(outcome, 60))}** — **{name}**"
    if card_url is not None:
        text += f" · [live card]({card_url})"
    mentions = "".join(f"<@&{r}> " for r in sorted(set(role_ids)))
    buttons = buttons_for(change.item, [change]) if kind is PointerKind.WEBCAST_LIVE else []
    return MessageData(content=truncate(mentions + text, CONTENT_MAX), buttons=buttons)


def jump_url(guild_id: int, channel_id: int, message_id: int) -> str:
    """Discord's link to a message: ``https://discord.com/channels/guild/channel/message``."""
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"
