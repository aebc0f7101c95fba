"""Embeds for alerts (:func:`render_change`), ``/event`` (:func:`render_item`) and ``/next``.

Every LL2 string goes through :mod:`bot.core.render.sanitize` before it reaches markup, is
clipped to a sensible length before it is composed (so limits rarely have to cut our own
markup), and every embed passes :func:`bot.core.render.fit.enforce_limits` last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.changes import Change, ChangeKind
from bot.core.render.fit import enforce_limits, truncate
from bot.core.render.limits import FIELDS_MAX, TITLE_MAX, URL_MAX
from bot.core.render.message import EmbedData, EmbedField
from bot.core.render.sanitize import clean, clean_plain, host, link, safe_url
from bot.core.render.when import Grain, classify, discord_time, shift_words, when_discord
from bot.core.snapshot import Snapshot, Source, UpdateRef, WebcastRef, best_webcasts

# A human-browsable LL2 page for items without an info URL (the API's HTML view).
ATTRIBUTION = "Data: Launch Library 2 (The Space Devs)"

# Budgets for LL2 text inside our markup: small enough that a few changes to one item fit in
# one message (6000 characters across all embeds), large enough to be useful.
NAME_MAX = 200
COMMENT_MAX = 900
DESCRIPTION_SNIPPET_MAX = 400
LABEL_MAX = 80
LIST_BUDGET = 1500
SHORT_MAX = 200
UPCOMING_BUDGET = 5500


@dataclass(frozen=True)
class Style:
    """How one kind of change looks: title prefix, colour and a short phrase for summaries."""

    prefix: str
    colour: int
    phrase: str


STYLES: dict[ChangeKind, Style] = {
    ChangeKind.WEBCAST_LIVE: Style("🔴 Webcast live", 0xE53935, "webcast live"),
    ChangeKind.DATE_CHANGED: Style("🗓️ Date changed", 0xFFB300, "date changed"),
    ChangeKind.NEW_UPDATE: Style("📰 New update", 0x1E88E5, "new update"),
    ChangeKind.STATUS_CHANGED: Style("🚦 Status changed", 0x8E24AA, "status changed"),
    ChangeKind.NEW_ITEM: Style("✨ New", 0x43A047, "new"),
    ChangeKind.WEBCAST_ENDED: Style("⚫ Webcast ended", 0x757575, "webcast ended"),
}
ITEM_COLOUR = 0x5865F2
UPCOMING_COLOUR = 0x5865F2

# Launch status ids from the LL2 guide; unknown ids simply get no emoji.
STATUS_EMOJI: dict[int, str] = {
    1: "🟢",
    2: "⚪",
    3: "✅",
    4: "❌",
    5: "⏸️",
    6: "🚀",
    7: "⚠️",
    8: "🟡",
    9: "🛰️",
}


def style_for(change: Change) -> Style:
    """The style of ``change``; new items say whether they are an event or a launch."""
    style = STYLES[change.kind]
    if change.kind is ChangeKind.NEW_ITEM:
        noun = "event" if change.source is Source.EVENT else "launch"
        return Style(f"{style.prefix} {noun}", style.colour, f"new {noun}")
    return style


def item_page(item: Snapshot) -> str | None:
    """A page a person can read about the item: its info URL, else a webcast page, else None.

    LL2's own item URL is an API answer (JSON), not a page for readers, so an item with neither
    links nowhere rather than there.
    """
    return safe_url(item.display.info_url) or watch_url(item)


def watch_url(
    item: Snapshot, urls: Sequence[WebcastRef] = (), max_length: int = URL_MAX
) -> str | None:
    """The best safe watch URL: from ``urls`` (a change's links) first, else the item's."""
    for webcast in [*best_webcasts(tuple(urls)), *best_webcasts(item.webcasts)]:
        url = safe_url(webcast.url, max_length)
        if url is not None:
            return url
    return None


def item_name(name: str, limit: int = NAME_MAX) -> str:
    """An LL2 name cleaned for markdown and clipped (before escaping, so no escape is cut)."""
    return clean(truncate(name, limit)) or "Unnamed"


def when_text(item: Snapshot) -> str:
    """The item's current date in Discord markup and precision words."""
    return when_discord(item.date, item.precision_id, item.precision_name)


def footer_text(item: Snapshot) -> str:
    """Attribution plus LL2's last edit time, in plain UTC (footers cannot hold ``<t:…>``)."""
    if item.last_updated is None:
        return ATTRIBUTION
    return f"{ATTRIBUTION} · updated {item.last_updated.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def author_text(item: Snapshot) -> str:
    """``Event · Docking`` or ``Launch · SpaceX``: what kind of item this is."""
    if item.source is Source.EVENT:
        detail = item.type_name
        noun = "Event"
    else:
        detail = item.provider_name
        noun = "Launch"
    return f"{noun} · {clean_plain(truncate(detail, SHORT_MAX))}" if detail else noun


def status_text(name: str | None, status_id: int | None) -> str:
    """A launch status with its emoji, e.g. ``🟢 Go``."""
    label = clean(truncate(name, SHORT_MAX)) if name else "Unknown"
    emoji = STATUS_EMOJI.get(status_id) if status_id is not None else None
    return f"{emoji} {label}" if emoji else label


def webcast_label(webcast: WebcastRef) -> str:
    """``NASA — Axiom Mission 4 Arrival`` or the link's host when LL2 names nothing."""
    parts = [p for p in (webcast.publisher, webcast.title) if p and p.strip()]
    text = " — ".join(p.strip() for p in parts) or host(webcast.url)
    return clean(truncate(" ".join(text.split()), LABEL_MAX))


def webcast_lines(webcasts: Sequence[WebcastRef], budget: int = LIST_BUDGET) -> str:
    """Watch links, best (live) first, one per line, within ``budget`` characters."""
    lines: list[str] = []
    ordered = [w for w in best_webcasts(tuple(webcasts)) if safe_url(w.url)]
    for index, webcast in enumerate(ordered):
        marker = "🔴 " if webcast.live else "▫️ "
        language = f" · {clean(truncate(webcast.language, 10)).upper()}" if webcast.language else ""
        line = f"{marker}{link(webcast_label(webcast), webcast.url)}{language}"
        rest = len(ordered) - index - 1
        reserve = len(f"\n…and {rest} more") if rest else 0
        if sum(len(x) + 1 for x in lines) + len(line) + reserve > budget:
            lines.append(f"…and {len(ordered) - index} more")
            break
        lines.append(line)
    return "\n".join(lines)


def quote_block(text: str) -> str:
    """Already-cleaned text as a Discord block quote, line by line."""
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.split("\n"))


def update_text(update: UpdateRef, limit: int = COMMENT_MAX) -> str:
    """An update: the comment quoted, then author, time and source link."""
    comment = clean(truncate(update.comment, limit)) if update.comment else "(no comment)"
    byline = [f"— {clean(truncate(update.created_by, LABEL_MAX))}" if update.created_by else "—"]
    if update.created_on is not None:
        byline.append(discord_time(update.created_on, "R"))
    source = safe_url(update.info_url)
    if source is not None:
        byline.append(link(f"source: {clean(host(source))}", source))
    return f"{quote_block(comment)}\n{' · '.join(byline)}"


def detail_fields(item: Snapshot, *, status: bool = True, when: bool = True) -> list[EmbedField]:
    """The fields every item card shares: when, type or status, provider, mission, location."""
    fields: list[EmbedField] = []
    if when:
        fields.append(EmbedField("When", when_text(item), False))
    if item.source is Source.EVENT and item.type_name:
        fields.append(EmbedField("Type", clean(truncate(item.type_name, SHORT_MAX)), True))
    if item.source is Source.LAUNCH:
        if status and (item.status_name or item.status_id is not None):
            fields.append(EmbedField("Status", status_text(item.status_name, item.status_id), True))
        if item.provider_name:
            provider = clean(truncate(item.provider_name, SHORT_MAX))
            fields.append(EmbedField("Provider", provider, True))
        if item.display.mission:
            mission = clean(truncate(item.display.mission, SHORT_MAX))
            fields.append(EmbedField("Mission", mission, True))
        if item.window_start and item.window_end and item.window_start != item.window_end:
            # A window within a day shows its end as a bare time; a longer one needs the date.
            short = item.window_end - item.window_start < timedelta(days=1)
            start = discord_time(item.window_start, "f")
            end = discord_time(item.window_end, "t" if short else "f")
            fields.append(EmbedField("Window", f"{start} – {end}", True))
    if item.display.location:
        location = clean(truncate(item.display.location, SHORT_MAX))
        fields.append(EmbedField("Location", location, True))
    return fields


def new_precision_id(change: Change) -> int | None:
    """The new precision's id: ``Change`` names it only, so take the snapshot's if names agree."""
    item = change.item
    return item.precision_id if change.new_precision == item.precision_name else None


def _date_change_text(change: Change) -> str:
    old = when_discord(change.old_date, None, change.old_precision)
    new_id = new_precision_id(change)
    new = when_discord(change.new_date, new_id, change.new_precision)
    text = f"**Was:** {old}\n**Now:** {new}"
    old_grain = classify(None, change.old_precision).grain
    new_grain = classify(new_id, change.new_precision).grain
    clock = {Grain.UNSPECIFIED, Grain.SECOND, Grain.MINUTE, Grain.HOUR}
    if change.old_date and change.new_date and old_grain in clock and new_grain in clock:
        text += f"\nMoved **{shift_words(change.old_date, change.new_date)}**."
    return text


def _status_change_text(change: Change) -> str:
    old = status_text(change.old_status, change.old_status_id)
    new = status_text(change.new_status, change.new_status_id)
    return f"**{old}** → **{new}**"


def _snippet(item: Snapshot) -> str:
    description = item.display.description
    return clean(truncate(description, DESCRIPTION_SNIPPET_MAX)) if description else ""


def _change_body(change: Change) -> tuple[str, list[EmbedField]]:
    """The description and fields that say what changed."""
    item = change.item
    kind = change.kind
    if kind is ChangeKind.WEBCAST_LIVE:
        links = webcast_lines(change.urls or item.webcasts)
        text = f"**Watch now:**\n{links}" if links else "The webcast is live."
        return text, detail_fields(item)
    if kind is ChangeKind.WEBCAST_ENDED:
        return "The webcast has ended.", detail_fields(item)
    if kind is ChangeKind.DATE_CHANGED:
        return _date_change_text(change), detail_fields(item, when=False)
    if kind is ChangeKind.STATUS_CHANGED:
        return _status_change_text(change), detail_fields(item, status=False)
    if kind is ChangeKind.NEW_UPDATE:
        text = update_text(change.update) if change.update else "A new update was posted."
        return text, detail_fields(item)
    # New item: introduce it.
    fields = detail_fields(item)
    links = webcast_lines(item.webcasts, budget=600)
    if links:
        fields.append(EmbedField("Webcasts", links, False))
    return _snippet(item), fields


def render_change(change: Change, now: datetime) -> EmbedData:
    """One alert embed for ``change``: kind-styled title, what changed, the item's details.

    ``now`` is accepted for symmetry with the text renderer; Discord's ``<t:…:R>`` markup
    counts down on the reader's side, so the embed itself does not depend on it.
    """
    del now
    style = style_for(change)
    item = change.item
    if change.kind is ChangeKind.WEBCAST_LIVE:
        url = watch_url(item, change.urls) or item_page(item)
    elif change.kind is ChangeKind.NEW_UPDATE and change.update and not item.display.info_url:
        url = safe_url(change.update.info_url) or item_page(item)
    else:
        url = item_page(item)
    description, fields = _change_body(change)
    embed = EmbedData(
        title=f"{style.prefix}: {item_name(change.name or item.name)}",
        description=description or None,
        url=url,
        colour=style.colour,
        fields=fields,
        footer=footer_text(item),
        thumbnail_url=safe_url(item.display.thumbnail_url),
        author_name=author_text(item),
        timestamp=change.detected_at,
    )
    return enforce_limits(embed)


def render_item(snapshot: Snapshot, now: datetime) -> EmbedData:
    """The ``/event`` card: details, watch links and the latest three updates."""
    del now  # relative times are Discord markup, rendered by the reader's client
    fields = detail_fields(snapshot)
    links = webcast_lines(snapshot.webcasts, budget=1000)
    if links:
        name = "Webcasts (live now)" if snapshot.webcast_live else "Webcasts"
        fields.append(EmbedField(name, links, False))
    latest = sorted(
        snapshot.updates, key=lambda u: (u.created_on is not None, u.created_on, u.id), reverse=True
    )[:3]
    for update in latest:
        name = "Update"
        if update.created_on is not None:
            name += f" {update.created_on.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        fields.append(EmbedField(name, update_text(update, limit=600), False))
    embed = EmbedData(
        title=("🔴 " if snapshot.webcast_live else "") + item_name(snapshot.name),
        description=_snippet(snapshot) or None,
        url=item_page(snapshot),
        colour=STYLES[ChangeKind.WEBCAST_LIVE].colour if snapshot.webcast_live else ITEM_COLOUR,
        fields=fields,
        footer=footer_text(snapshot),
        thumbnail_url=safe_url(snapshot.display.thumbnail_url),
        author_name=author_text(snapshot),
    )
    return enforce_limits(embed)


def upcoming_line(item: Snapshot) -> str:
    """One ``/next`` entry: when, then type or status, provider and a live marker."""
    details: list[str] = []
    if item.source is Source.EVENT and item.type_name:
        details.append(clean(truncate(item.type_name, SHORT_MAX)))
    if item.source is Source.LAUNCH:
        if item.status_name:
            details.append(status_text(item.status_name, item.status_id))
        if item.provider_name:
            details.append(clean(truncate(item.provider_name, SHORT_MAX)))
    if item.webcast_live:
        details.append("🔴 live now")
    line = when_text(item)
    return f"{line}\n{' · '.join(details)}" if details else line


def _with_links(line: str, item: Snapshot) -> str:
    # "details" for an info page, "watch" when a webcast page is all there is, else no link.
    info = safe_url(item.display.info_url)
    if info is not None:
        return f"{line}\n{link('details', info)}"
    watch = watch_url(item)
    return line if watch is None else f"{line}\n{link('watch', watch)}"


def _with_event(value: str, url: str | None) -> str:
    return value if url is None else f"{value} · [in Events]({url})"


def render_upcoming(
    snapshots: Sequence[Snapshot],
    now: datetime,
    title: str,
    event_links: Mapping[str, str] | None = None,
) -> EmbedData:
    """The ``/next`` list: one field per item, in the order given, as many as fit.

    ``event_links`` maps item refs to the server's Discord scheduled event for the item (the
    server calendar), linked as "in Events".
    """
    del now  # relative times are Discord markup, rendered by the reader's client
    links = event_links or {}
    title = truncate(title, TITLE_MAX)
    fields: list[EmbedField] = []
    used = len(title) + len(ATTRIBUTION) + 100  # room for the "more not shown" note
    for index, item in enumerate(snapshots, start=1):
        candidate = EmbedField(
            f"{index}. {item_name(item.name, 150)}",
            _with_event(_with_links(upcoming_line(item), item), links.get(item.ref)),
            False,
        )
        size = len(candidate.name) + len(candidate.value)
        if len(fields) == FIELDS_MAX or used + size > UPCOMING_BUDGET:
            break
        fields.append(candidate)
        used += size
    hidden = len(snapshots) - len(fields)
    if not snapshots:
        description: str | None = "Nothing upcoming in what Spacecast has seen so far."
    elif hidden:
        description = f"Showing the first {len(fields)}; {hidden} more not shown."
    else:
        description = None
    embed = EmbedData(
        title=title,
        description=description,
        colour=UPCOMING_COLOUR,
        fields=fields,
        footer=ATTRIBUTION,
    )
    return enforce_limits(embed)
