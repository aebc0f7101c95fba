"""Normalised, comparable snapshots of LL2 items: exactly what alerts depend on, plus display data.

The diff compares only the *tracked* fields. The ``display`` part (location, thumbnail, links,
description) feeds rendering and the ``/next``/``/event`` commands, and never creates an alert:
an image swap or a description edit is not news.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict

from bot.core.models import Event, Launch, Update, VidURL

# Keep stored descriptions short: they are display-only and every poll rewrites them.
_DESCRIPTION_LIMIT = 1000


class Source(StrEnum):
    """Which LL2 collection an item comes from."""

    EVENT = "event"
    LAUNCH = "launch"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


# The parts of a snapshot are plain frozen dataclasses, not pydantic models: a poll builds tens
# of thousands of them from already-validated wire models, and a dataclass costs a fraction of
# a model to create. Pydantic still validates them when a snapshot is loaded from the store.


@dataclass(frozen=True, slots=True)
class WebcastRef:
    """A webcast link as the diff and the renderer need it."""

    url: str
    live: bool = False
    priority: int | None = None
    publisher: str | None = None
    title: str | None = None
    source: str | None = None
    language: str | None = None  # ISO code such as "en"
    start_time: AwareDatetime | None = None


@dataclass(frozen=True, slots=True)
class UpdateRef:
    """An entry of ``updates[]``: its id identifies it; the rest is shown in the alert."""

    id: int
    created_on: AwareDatetime | None = None
    comment: str | None = None
    created_by: str | None = None
    info_url: str | None = None


@dataclass(frozen=True, slots=True)
class Display:
    """Untracked, display-only data."""

    slug: str | None = None
    location: str | None = None
    thumbnail_url: str | None = None
    image_url: str | None = None
    info_url: str | None = None
    description: str | None = None
    mission: str | None = None


class Snapshot(_Frozen):
    """What Spacecast knows about one item at one poll."""

    source: Source
    id: str
    name: str
    # Event type (events) and launch provider (launches): what subscriptions filter on.
    type_id: int | None = None
    type_name: str | None = None
    provider_id: int | None = None
    provider_name: str | None = None
    # Launch status (launches only).
    status_id: int | None = None
    status_name: str | None = None
    status_abbrev: str | None = None
    # Event ``date`` or launch ``net`` with its precision.
    date: AwareDatetime | None = None
    precision_id: int | None = None
    precision_name: str | None = None
    window_start: AwareDatetime | None = None
    window_end: AwareDatetime | None = None
    webcast_live: bool = False
    # False when the answer's mode carried no updates/vid_urls (launches in normal mode):
    # then an empty list means "not told", not "none".
    has_details: bool = True
    webcasts: tuple[WebcastRef, ...] = ()
    updates: tuple[UpdateRef, ...] = ()  # oldest first
    last_updated: AwareDatetime | None = None
    display: Display = Display()

    @property
    def key(self) -> tuple[Source, str]:
        """The item's identity across polls."""
        return (self.source, self.id)

    @property
    def ref(self) -> str:
        """A short stable reference such as ``event:1201``."""
        return f"{self.source.value}:{self.id}"


# The builders below use ``model_construct``: their input was validated by the wire models a
# moment ago, and validating it again would double a large poll's CPU.


def _webcast(vid: VidURL) -> WebcastRef:
    return WebcastRef(
        url=vid.url,
        live=bool(vid.live),
        priority=vid.priority,
        publisher=vid.publisher,
        title=vid.title,
        source=vid.source,
        language=vid.language.code if vid.language else None,
        start_time=vid.start_time,
    )


def _update(update: Update) -> UpdateRef:
    return UpdateRef(
        id=update.id,
        created_on=update.created_on,
        comment=update.comment,
        created_by=update.created_by,
        info_url=update.info_url,
    )


def _updates_oldest_first(updates: list[Update]) -> tuple[UpdateRef, ...]:
    # LL2 sends newest first, but sort explicitly: order is not part of the contract.
    refs = [_update(u) for u in updates]
    return tuple(sorted(refs, key=lambda u: (u.created_on is None, u.created_on, u.id)))


def _short(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= _DESCRIPTION_LIMIT else text[: _DESCRIPTION_LIMIT - 1] + "…"


def snapshot_from_event(event: Event) -> Snapshot:
    """Normalise an event (normal or detailed mode)."""
    return Snapshot.model_construct(
        source=Source.EVENT,
        id=str(event.id),
        name=event.name,
        type_id=event.type.id if event.type else None,
        type_name=event.type.name if event.type else None,
        date=event.date,
        precision_id=event.date_precision.id if event.date_precision else None,
        precision_name=event.date_precision.name if event.date_precision else None,
        webcast_live=event.webcast_live,
        has_details=event.response_mode != "list",
        webcasts=tuple(_webcast(v) for v in event.vid_urls),
        updates=_updates_oldest_first(event.updates),
        last_updated=event.last_updated,
        display=Display(
            slug=event.slug,
            location=event.location,
            thumbnail_url=event.image.thumbnail_url if event.image else None,
            image_url=event.image.image_url if event.image else None,
            info_url=event.info_urls[0].url if event.info_urls else None,
            description=_short(event.description),
        ),
    )


def snapshot_from_launch(launch: Launch) -> Snapshot:
    """Normalise a launch (webcasts and updates count only in detailed mode)."""
    detailed = launch.response_mode == "detailed" or bool(launch.updates or launch.vid_urls)
    provider = launch.launch_service_provider
    location = None
    if launch.pad is not None:
        parts = [launch.pad.name, launch.pad.location.name if launch.pad.location else None]
        location = ", ".join(p for p in parts if p) or None
    return Snapshot.model_construct(
        source=Source.LAUNCH,
        id=launch.id,
        name=launch.name,
        provider_id=provider.id if provider else None,
        provider_name=provider.name if provider else None,
        status_id=launch.status.id if launch.status else None,
        status_name=launch.status.name if launch.status else None,
        status_abbrev=launch.status.abbrev if launch.status else None,
        date=launch.net,
        precision_id=launch.net_precision.id if launch.net_precision else None,
        precision_name=launch.net_precision.name if launch.net_precision else None,
        window_start=launch.window_start,
        window_end=launch.window_end,
        webcast_live=launch.webcast_live,
        has_details=detailed,
        webcasts=tuple(_webcast(v) for v in launch.vid_urls),
        updates=_updates_oldest_first(launch.updates),
        last_updated=launch.last_updated,
        display=Display(
            slug=launch.slug,
            location=location,
            thumbnail_url=launch.image.thumbnail_url if launch.image else None,
            image_url=launch.image.image_url if launch.image else None,
            info_url=launch.info_urls[0].url if launch.info_urls else None,
            description=_short(launch.mission.description if launch.mission else None),
            mission=launch.mission.name if launch.mission else None,
        ),
    )


def carry_details(old: Snapshot | None, new: Snapshot) -> Snapshot:
    """Keep the old updates and webcasts when the new answer's mode did not include them."""
    if new.has_details or old is None or not old.has_details:
        return new
    return new.model_copy(
        update={"webcasts": old.webcasts, "updates": old.updates, "has_details": True}
    )


def best_webcasts(
    webcasts: tuple[WebcastRef, ...], preferred_language: str = "en"
) -> list[WebcastRef]:
    """Watch links, best first: live ones, then by LL2 priority (lower first), then language."""
    return sorted(
        webcasts,
        key=lambda w: (
            not w.live,
            w.priority if w.priority is not None else 1_000_000,
            w.language != preferred_language,
            w.url,
        ),
    )


def as_utc_iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
