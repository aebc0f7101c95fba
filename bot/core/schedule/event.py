"""What one LL2 item looks like as a Discord scheduled event (EXTERNAL entity type).

Discord's rules (docs, "Guild Scheduled Event Object" and "Field Requirements By Entity
Type"): an EXTERNAL event has ``channel_id`` null, ``entity_metadata.location`` of 1-100
characters and a ``scheduled_end_time``; ``name`` is 1-100 characters and ``description`` at
most 1000. Everything here stays within those limits, and LL2 text is made inert first.

Every description ends with a marker line naming the item (``spacecast:launch:<id>``), so the
bot recognises its own events in ``GET /guilds/{id}/scheduled-events`` after a crash and adopts
them instead of creating a second one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.render.sanitize import clean_plain, one_line, safe_url
from bot.core.snapshot import Snapshot, Source, best_webcasts

NAME_MAX = 100
DESCRIPTION_MAX = 1000
LOCATION_MAX = 100

MARKER_PREFIX = "spacecast:"
_MARKER = re.compile(r"spacecast:(event|launch):([A-Za-z0-9-]{1,64})\s*$")

# How long an event stays on the calendar after T-0 when LL2 gives no window end (see the
# README, "Server calendar"): a launch's webcast usually runs through payload deployment, about
# an hour for most missions; a docking or berthing webcast covers the final approach and hard
# capture (about two hours); a spacewalk lasts six to eight hours; a press event, static fire or
# landing about an hour. Unknown event types get two hours.
LAUNCH_DURATION = timedelta(hours=1)
EVENT_DURATIONS: dict[int, timedelta] = {
    2: timedelta(hours=2),  # Docking
    3: timedelta(hours=7),  # EVA
    4: timedelta(hours=2),  # Berthing
    5: timedelta(hours=1),  # Static Fire
    8: timedelta(hours=1),  # Undocking
    9: timedelta(hours=1),  # Landing
    20: timedelta(hours=1),  # Press Event
}
DEFAULT_EVENT_DURATION = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class EventFields:
    """The fields of a Discord scheduled event the bot controls.

    ``cover`` is the source URL of the cover image Discord shows (None: none; see
    :mod:`bot.core.schedule.cover`): Discord only says that an event has an image, so the bot
    remembers where the one it uploaded came from.
    """

    name: str
    description: str
    location: str
    start: datetime
    end: datetime
    cover: str | None = None


def marker_for(item_ref: str) -> str:
    """The marker line that ends the description of the bot's event for ``item_ref``."""
    return f"{MARKER_PREFIX}{item_ref}"


def item_ref_of(description: str | None) -> str | None:
    """The item ref in a description's marker line, or None if it is not one of ours."""
    if not description:
        return None
    match = _MARKER.search(description)
    return None if match is None else f"{match.group(1)}:{match.group(2)}"


def duration_for(item: Snapshot) -> timedelta:
    """How long after T-0 the event ends when LL2 gives no later window end."""
    if item.source is Source.LAUNCH:
        return LAUNCH_DURATION
    return EVENT_DURATIONS.get(item.type_id or -1, DEFAULT_EVENT_DURATION)


def end_for(item: Snapshot, start: datetime) -> datetime:
    """The later of LL2's window end and ``start`` plus :func:`duration_for`: an instantaneous
    window (end = T-0) still gets the webcast's usual length, a long window its own end."""
    floor = start + duration_for(item)
    window_end = item.window_end
    return window_end if window_end is not None and window_end > floor else floor


def location_for(item: Snapshot) -> str:
    """The best webcast URL, else the item's info page, else LL2's page (at most 100 chars)."""
    for webcast in best_webcasts(item.webcasts):
        url = safe_url(webcast.url, LOCATION_MAX)
        if url is not None:
            return url
    info = safe_url(item.display.info_url, LOCATION_MAX)
    if info is not None:
        return info
    collection = "launches" if item.source is Source.LAUNCH else "events"
    fallback = f"https://ll.thespacedevs.com/2.3.0/{collection}/{item.id}/"
    return fallback if len(fallback) <= LOCATION_MAX else "Launch Library 2"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def name_for(item: Snapshot) -> str:
    """The item's name on one line, mention-proof, 1-100 characters."""
    name = clean_plain(one_line(item.name)) or "Unnamed"
    return _clip(name, NAME_MAX)


def description_for(item: Snapshot) -> str:
    """Status, provider or type, location and LL2's description, then the marker line."""
    marker = marker_for(item.ref)
    facts: list[str] = []
    if item.source is Source.LAUNCH:
        if item.status_name:
            facts.append(f"Status: {item.status_name}")
        if item.provider_name:
            facts.append(f"Provider: {item.provider_name}")
    elif item.type_name:
        facts.append(f"Type: {item.type_name}")
    if item.display.location:
        facts.append(f"Where: {item.display.location}")
    head = clean_plain(" · ".join(one_line(f) for f in facts))
    body = clean_plain(item.display.description)
    tail = f"Data: Launch Library 2 (The Space Devs) · {marker}"
    room = DESCRIPTION_MAX - len(tail) - 2
    text = "\n\n".join(part for part in (head, body) if part)
    text = _clip(text, room) if text else ""
    return f"{text}\n\n{tail}" if text else tail


def fields_for(item: Snapshot, start: datetime) -> EventFields:
    """Every field of the item's event but its cover, starting at ``start`` (the item's date,
    or a start the planner moved; see :mod:`bot.core.schedule.plan`, which chooses the cover)."""
    return EventFields(
        name=name_for(item),
        description=description_for(item),
        location=location_for(item),
        start=start,
        end=end_for(item, start),
    )
