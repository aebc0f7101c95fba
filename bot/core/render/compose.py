"""Rendering, the public face: alert messages, command cards and console text.

Pure: no I/O, no clock reads (``now`` is a parameter), no ``discord`` import. The output is the
neutral model of :mod:`bot.core.render.message`, which the Discord adapter converts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.core.changes import Change, ChangeKind
from bot.core.render.embeds import (
    item_name,
    render_change,
    render_item,
    render_upcoming,
    style_for,
    watch_url,
)
from bot.core.render.fit import enforce_limits, fits_message, message_size, truncate
from bot.core.render.limits import BUTTON_URL_MAX, CONTENT_MAX
from bot.core.render.message import EmbedData, EmbedField, LinkButton, MessageData
from bot.core.render.sanitize import safe_url
from bot.core.render.text import change_to_json, change_to_text
from bot.core.snapshot import Display, Snapshot, Source, UpdateRef, WebcastRef

__all__ = [
    "EmbedData",
    "EmbedField",
    "LinkButton",
    "MessageData",
    "change_to_json",
    "change_to_text",
    "enforce_limits",
    "fits_message",
    "message_size",
    "render_change",
    "render_item",
    "render_message",
    "render_upcoming",
    "sample_change",
]

# Most urgent first: the embed order within a message and the summary's lead.
KIND_ORDER: tuple[ChangeKind, ...] = (
    ChangeKind.WEBCAST_LIVE,
    ChangeKind.STATUS_CHANGED,
    ChangeKind.DATE_CHANGED,
    ChangeKind.NEW_UPDATE,
    ChangeKind.NEW_ITEM,
    ChangeKind.WEBCAST_ENDED,
)
SUMMARY_NAME_MAX = 150


def _rank(change: Change) -> int:
    return KIND_ORDER.index(change.kind) if change.kind in KIND_ORDER else len(KIND_ORDER)


def pack_embeds(embeds: Sequence[EmbedData]) -> list[list[EmbedData]]:
    """Split embeds, in order, into as few messages as Discord's limits allow.

    A message holds at most 10 embeds and 6000 counted characters; each embed must already
    fit on its own (``enforce_limits`` guarantees that).
    """
    groups: list[list[EmbedData]] = []
    current: list[EmbedData] = []
    for embed in embeds:
        if current and not fits_message([*current, embed]):
            groups.append(current)
            current = []
        current.append(embed)
    if current:
        groups.append(current)
    return groups


def summary(changes: Sequence[Change]) -> str:
    """A short plain line for the message content (what notifications show), most urgent first.

    One change: ``🔴 Webcast live: **Name**``;
    several: ``🔴 **Name**: webcast live · 2× new update``.
    """
    ordered = sorted(changes, key=_rank)
    lead = style_for(ordered[0])
    name = item_name(ordered[0].name or ordered[0].item.name, SUMMARY_NAME_MAX)
    if len(ordered) == 1:
        return f"{lead.prefix}: **{name}**"
    counts = Counter(style_for(c).phrase for c in ordered)
    phrases = [f"{n}× {phrase}" if n > 1 else phrase for phrase, n in counts.items()]
    emoji = lead.prefix.split(" ", 1)[0]
    return f"{emoji} **{name}**: {' · '.join(phrases)}"


def buttons_for(item: Snapshot, changes: Sequence[Change] = ()) -> list[LinkButton]:
    """``Watch`` (best webcast) and ``Details`` (info URL) link buttons, where there are any."""
    live_links = [w for c in changes if c.kind is ChangeKind.WEBCAST_LIVE for w in c.urls]
    buttons: list[LinkButton] = []
    watch = watch_url(item, live_links, BUTTON_URL_MAX)
    if watch is not None:
        buttons.append(LinkButton("Watch", watch))
    details = safe_url(item.display.info_url, BUTTON_URL_MAX)
    if details is not None and details != watch:
        buttons.append(LinkButton("Details", details))
    return buttons


def render_message(
    changes_for_one_item: Sequence[Change], role_id: int | None, now: datetime
) -> list[MessageData]:
    """The messages announcing one poll's changes to one item: usually exactly one.

    An embed per change, most urgent first, split into further messages only when 10 embeds or
    6000 characters would be exceeded. The first message carries the content (the role mention
    ``<@&ID>`` when ``role_id`` is given, then a short summary) and the link buttons.
    """
    if not changes_for_one_item:
        return []
    if len({(c.source, c.item_id) for c in changes_for_one_item}) > 1:
        raise ValueError("render_message takes the changes of exactly one item")
    if role_id is not None and role_id <= 0:
        raise ValueError("role_id must be a positive Discord id")
    ordered = sorted(changes_for_one_item, key=_rank)
    freshest = max(changes_for_one_item, key=lambda c: c.detected_at).item
    groups = pack_embeds([render_change(c, now) for c in ordered])
    mention = f"<@&{role_id}> " if role_id is not None else ""
    content = truncate(mention + summary(ordered), CONTENT_MAX)
    buttons = buttons_for(freshest, ordered)
    return [
        MessageData(
            content=content if index == 0 else None,
            embeds=group,
            buttons=buttons if index == 0 else (),
        )
        for index, group in enumerate(groups)
    ]


SAMPLE_WATCH_URL = "https://www.youtube.com/@NASA/streams"
SAMPLE_INFO_URL = "https://thespacedevs.com/llapi"


def sample_change(now: datetime) -> Change:
    """A realistic ``webcast_live`` change on a clearly labelled sample event, for ``/test``."""
    start = (now + timedelta(minutes=15)).replace(second=0, microsecond=0)
    webcasts = (
        WebcastRef(
            url=SAMPLE_WATCH_URL,
            live=True,
            priority=10,
            publisher="NASA",
            title="Sample webcast (Spacecast test)",
            source="youtube.com",
            language="en",
            start_time=now,
        ),
    )
    item = Snapshot(
        source=Source.EVENT,
        id="sample",
        name="Spacecast test alert: sample Crew Dragon docking",
        type_id=2,
        type_name="Docking",
        date=start,
        precision_id=1,
        precision_name="Minute",
        webcast_live=True,
        webcasts=webcasts,
        updates=(
            UpdateRef(
                id=0,
                created_on=now,
                created_by="Spacecast",
                comment="This is a test alert: if you can read it, alerts reach this channel.",
            ),
        ),
        last_updated=now,
        display=Display(
            location="International Space Station",
            info_url=SAMPLE_INFO_URL,
            description="A sample event made up by Spacecast's /test command. Nothing is "
            "really docking.",
        ),
    )
    return Change(
        kind=ChangeKind.WEBCAST_LIVE,
        source=Source.EVENT,
        item_id=item.id,
        name=item.name,
        version=f"test-{int(now.timestamp())}",
        detected_at=now,
        item=item,
        urls=webcasts,
    )
