"""Launch Library 2 (2.3.0) wire models: just the fields Spacecast uses, tolerant of the rest.

Unknown fields are ignored (LL2 adds fields without a version bump) and everything LL2 has been
seen to send as null, or that the OpenAPI schema marks nullable, is optional. Values of the wrong
JSON type are refused, not coerced: the client then skips that one item.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, Strict

# The start of an ISO 8601 date-time; the rest is checked by pydantic's own parser.
_ISO_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_text(value: object) -> object:
    """Pass only ISO 8601 text (or an already parsed datetime) on to datetime parsing.

    Lax parsing reads numbers and numeric strings as Unix timestamps, so ``"net": 5`` would be
    1970-01-01T00:00:05Z and a false date alert; strict parsing of Python input refuses the
    strings LL2 does send. Hence lax parsing behind this gate.
    """
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE_START.match(value):
        return value
    raise ValueError("expected an ISO 8601 date-time string")


WireDateTime = Annotated[AwareDatetime, Strict(False), BeforeValidator(_iso_text)]
"""An aware datetime that LL2 sends as ISO 8601 text."""


class WireModel(BaseModel):
    """Base for LL2 objects: ignore unknown fields, refuse wrong types, keep instances immutable.

    ``strict`` because coercion turns LL2 glitches into alerts (``"webcast_live": "yes"`` would
    be True). The client validates the decoded JSON as Python objects, where strict mode takes
    each JSON type as exactly its Python counterpart; datetimes are :data:`WireDateTime`.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class NamedRef(WireModel):
    """An ``{id, name}`` object (event type, webcast type, agency type...)."""

    id: int
    name: str = ""


class Precision(WireModel):
    """A date precision (``NetPrecision`` in the schema): 0 Second ... 16 Decade."""

    id: int
    name: str = ""
    abbrev: str | None = None
    description: str | None = None


class LaunchStatus(WireModel):
    """Launch status: 1 Go, 2 TBD, 3 Success, 4 Failure, 5 Hold, 6 In Flight, ..."""

    id: int
    name: str = ""
    abbrev: str | None = None


class Language(WireModel):
    """A webcast language."""

    id: int | None = None
    name: str | None = None
    code: str | None = None


class VidURL(WireModel):
    """One webcast link."""

    priority: int | None = None
    source: str | None = None
    publisher: str | None = None
    title: str | None = None
    url: str
    type: NamedRef | None = None
    language: Language | None = None
    start_time: WireDateTime | None = None
    end_time: WireDateTime | None = None
    live: bool | None = None


class InfoURL(WireModel):
    """One information link."""

    priority: int | None = None
    source: str | None = None
    title: str | None = None
    url: str


class Update(WireModel):
    """One entry of an item's ``updates[]`` (LL2 lists them newest first)."""

    id: int
    comment: str | None = None
    info_url: str | None = None
    created_by: str | None = None
    created_on: WireDateTime | None = None


class Image(WireModel):
    """An item's image."""

    image_url: str | None = None
    thumbnail_url: str | None = None
    credit: str | None = None


class AgencyRef(WireModel):
    """An agency, in whatever mode LL2 embedded it."""

    id: int
    name: str = ""
    abbrev: str | None = None


class ProgramRef(WireModel):
    """A programme an item belongs to."""

    id: int
    name: str = ""


class Mission(WireModel):
    """A launch's mission."""

    id: int | None = None
    name: str | None = None
    description: str | None = None
    type: str | None = None


class PadLocation(WireModel):
    """The location (site) a pad belongs to."""

    id: int | None = None
    name: str | None = None


class Pad(WireModel):
    """A launch pad."""

    id: int | None = None
    name: str | None = None
    location: PadLocation | None = None


class LaunchRef(WireModel):
    """A launch embedded in an event."""

    id: str
    name: str = ""


class Event(WireModel):
    """An LL2 event in ``normal`` or ``detailed`` mode (list mode lacks updates, last_updated)."""

    id: int
    response_mode: str | None = None
    name: str
    slug: str | None = None
    type: NamedRef | None = None
    date: WireDateTime | None = None
    date_precision: Precision | None = None
    webcast_live: bool = False
    vid_urls: list[VidURL] = Field(default_factory=list)
    info_urls: list[InfoURL] = Field(default_factory=list)
    updates: list[Update] = Field(default_factory=list)
    image: Image | None = None
    location: str | None = None
    description: str | None = None
    last_updated: WireDateTime | None = None
    program: list[ProgramRef] | None = Field(default_factory=list)
    agencies: list[AgencyRef] = Field(default_factory=list)
    launches: list[LaunchRef] = Field(default_factory=list)


class Launch(WireModel):
    """An LL2 launch in ``normal`` or ``detailed`` mode (updates and vid_urls only in detailed)."""

    id: str
    response_mode: str | None = None
    name: str = ""
    slug: str | None = None
    net: WireDateTime | None = None
    net_precision: Precision | None = None
    window_start: WireDateTime | None = None
    window_end: WireDateTime | None = None
    status: LaunchStatus | None = None
    webcast_live: bool = False
    vid_urls: list[VidURL] = Field(default_factory=list)
    info_urls: list[InfoURL] = Field(default_factory=list)
    updates: list[Update] = Field(default_factory=list)
    image: Image | None = None
    launch_service_provider: AgencyRef | None = None
    mission: Mission | None = None
    pad: Pad | None = None
    last_updated: WireDateTime | None = None


class EventType(WireModel):
    """An entry of ``/config/event_types/``."""

    id: int
    name: str = ""


class ThrottleInfo(WireModel):
    """The ``/api-throttle/`` answer (uncounted): the server's view of our budget."""

    your_request_limit: int
    limit_frequency_secs: int
    current_use: int
    next_use_secs: int
    ident: str | None = None
