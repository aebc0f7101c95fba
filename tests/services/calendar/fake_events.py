"""Discord's guild scheduled-event routes on our loopback Discord, with Discord's validation.

SimCord (the in-memory Discord of tests/discord_ui) has these routes but checks only that an
EXTERNAL event has a location and an end: no status transitions, no past starts, no limits. So
this extends :class:`~tests.services.delivery.fake_discord.FakeDiscord` (real HTTP, real
discord.py, the same global rate limit and invalid-request counting) with:

- ``GET/POST /guilds/{guild}/scheduled-events``, ``PATCH/DELETE .../{event}``;
- Discord's rules, from its API docs (discord-api-docs, ``docs/resources/guild-scheduled-event``):
  * "Field Requirements By Entity Type": EXTERNAL needs ``channel_id`` null,
    ``entity_metadata.location`` and ``scheduled_end_time``; location is 1-100 characters
    ("Guild Scheduled Event Entity Metadata"); name 1-100, description 1-1000 ("Guild
    Scheduled Event Structure"); 400 code 50035 otherwise;
  * "Valid Guild Scheduled Event Status Transitions": SCHEDULED -> ACTIVE -> COMPLETED and
    SCHEDULED -> CANCELED; "Once status is set to COMPLETED or CANCELED, the status can no
    longer be updated"; an ACTIVE event's start cannot change (400 50035);
  * "Guild Scheduled Event Status Update Automation": an EXTERNAL event becomes ACTIVE at its
    start time and COMPLETED at its end time by itself (applied on every request, by ``clock``);
  * "Create Guild Scheduled Event": "A guild can have a maximum of 100 events with SCHEDULED or
    ACTIVE status at any time" -> 400 code 30038 ("Maximum number of uncompleted guild
    scheduled events reached (100)", Discord's JSON error codes);
  * a start in the past is refused (400 50035, "Cannot schedule event in the past", the error
    Discord's client and libraries report);
  * ``image`` (the cover, on create and modify) is image data (Reference, "Image Data"): "a Data
    URI scheme that supports JPG, GIF, and PNG formats", ``data:image/jpeg;base64,...``, with
    "the proper content type (image/jpeg, image/png, image/gif) that matches the image data";
    anything else (another type, broken base64, bytes of another format) is 400 50035. Like
    Discord, the event then holds a hash of the image and returns it as ``image``;
  * "Permissions for events with entity_type: EXTERNAL": creating needs CREATE_EVENTS,
    editing or deleting the bot's own event CREATE_EVENTS or MANAGE_EVENTS; listing needs none.
    ``forbid(guild)`` takes them away: 403 code 50013.
- 404 code 10070 (Unknown Guild Scheduled Event) for an unknown event.

The crash window of a create, for real processes: ``hold_next_create()`` makes the next create
*apply* (the event is stored, as Discord stores it) and then leaves the HTTP response unsent
until ``release()``, so the caller has Discord's event and never learns its id. ``copies=2``
applies it twice, as a create Discord received twice would (two events with the same marker).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.services.delivery.fake_discord import API_PREFIX, BOT_ID, ERROR_MESSAGES, FakeDiscord

ERROR_MESSAGES.setdefault(10070, "Unknown Guild Scheduled Event")
ERROR_MESSAGES.setdefault(
    30038, "Maximum number of uncompleted guild scheduled events reached (100)"
)

SCHEDULED, ACTIVE, COMPLETED, CANCELED = 1, 2, 3, 4
EXTERNAL = 3
GUILD_LIMIT = 100
_TRANSITIONS = {(SCHEDULED, ACTIVE), (ACTIVE, COMPLETED), (SCHEDULED, CANCELED)}
_IMAGE_DATA = re.compile(r"data:(image/(?:png|jpeg|gif));base64,([A-Za-z0-9+/=]+)")
_SIGNATURES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


def image_hash(value: Any) -> str | None:
    """The hash Discord keeps for valid image data ``value``, or None if it is not valid."""
    match = _IMAGE_DATA.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        data = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not data.startswith(_SIGNATURES[match.group(1)]):
        return None
    return hashlib.md5(data).hexdigest()


@dataclass
class StoredEvent:
    """A scheduled event as the fake Discord holds it."""

    id: int
    guild_id: int
    name: str
    description: str | None
    location: str
    start: datetime
    end: datetime
    status: int = SCHEDULED
    creator_id: int = BOT_ID
    history: list[int] = field(default_factory=list)  # statuses it went through
    image: str | None = None  # the cover's hash, as Discord returns it

    def json(self) -> dict[str, Any]:
        """Discord's guild scheduled event object."""
        return {
            "id": str(self.id),
            "guild_id": str(self.guild_id),
            "channel_id": None,
            "creator_id": str(self.creator_id),
            "name": self.name,
            "description": self.description,
            "scheduled_start_time": self.start.isoformat(),
            "scheduled_end_time": self.end.isoformat(),
            "privacy_level": 2,
            "status": self.status,
            "entity_type": EXTERNAL,
            "entity_id": None,
            "entity_metadata": {"location": self.location},
            "image": self.image,
            "recurrence_rule": None,
        }


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class FakeDiscordEvents(FakeDiscord):
    """:class:`FakeDiscord` plus scheduled events (see the module docstring)."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.events: dict[int, StoredEvent] = {}
        self.forbidden: set[int] = set()
        self.event_requests: Counter[str] = Counter()  # "POST", "PATCH", ... on these routes
        self.on_event_created: Callable[[StoredEvent], None] | None = None
        self.held: list[StoredEvent] = []  # creates applied whose answer is being held
        self._hold_copies: int | None = None  # the next create: applied this often, then held
        self._released = asyncio.Event()

    def hold_next_create(self, *, copies: int = 1) -> None:
        """Apply the next valid create ``copies`` times (each a separate event), then hold its
        HTTP response until :meth:`release`: the crash window between Discord's answer and
        the caller's record of it."""
        if copies < 1:
            raise ValueError("copies must be at least 1")
        self._hold_copies = copies
        self._released.clear()

    def release(self) -> None:
        """Answer the held creates (to whoever still listens) and hold nothing more."""
        self._hold_copies = None
        self._released.set()

    async def close(self) -> None:
        """Answer held creates first: the server's shutdown waits for running handlers."""
        self.release()
        await super().close()

    def forbid(self, guild_id: int) -> None:
        """Take Create Events and Manage Events away from the bot in ``guild_id``."""
        self.forbidden.add(guild_id)

    def image_patches(self) -> list[dict[str, Any]]:
        """The bodies of every scheduled-event PATCH that carried an ``image``."""
        return [
            body
            for method, path, body in self.requests
            if method == "PATCH" and "/scheduled-events/" in path and body and "image" in body
        ]

    def in_guild(self, guild_id: int, *, live_only: bool = True) -> list[StoredEvent]:
        """The guild's events (SCHEDULED or ACTIVE ones only, unless ``live_only`` is False)."""
        self._automate()
        return [
            e
            for e in self.events.values()
            if e.guild_id == guild_id and (not live_only or e.status in (SCHEDULED, ACTIVE))
        ]

    def add_routes(self, app: web.Application) -> None:
        """Register the scheduled-event routes."""
        base = f"{API_PREFIX}/guilds/{{guild_id}}/scheduled-events"
        app.router.add_get(base, self._list)
        app.router.add_post(base, self._create)
        app.router.add_patch(base + "/{event_id}", self._edit)
        app.router.add_delete(base + "/{event_id}", self._delete)

    # --- Discord's automation and rules -------------------------------------------------------

    def _automate(self) -> None:
        now = self.clock()
        for event in self.events.values():
            if event.status == SCHEDULED and event.start <= now:
                self._set_status(event, ACTIVE)
            if event.status == ACTIVE and event.end <= now:
                self._set_status(event, COMPLETED)

    @staticmethod
    def _set_status(event: StoredEvent, status: int) -> None:
        event.status = status
        event.history.append(status)

    def _invalid(self, problem: str) -> web.Response:
        return self._error(400, 50035, extra={"errors": {"_errors": [problem]}})

    def _field_problem(self, body: dict[str, Any], *, creating: bool) -> str | None:
        if creating or "name" in body:
            name = body.get("name")
            if not isinstance(name, str) or not 1 <= len(name) <= 100:
                return "name: Must be between 1 and 100 in length."
        description = body.get("description")
        if description is not None and (
            not isinstance(description, str) or len(description) > 1000
        ):
            return "description: Must be 1000 or fewer in length."
        if creating:
            if body.get("entity_type") != EXTERNAL:
                return "entity_type: only EXTERNAL is modelled here"
            if body.get("channel_id") is not None:
                return "channel_id: Must be null for EXTERNAL events."
            if body.get("privacy_level") != 2:
                return "privacy_level: Value must be one of (2,)."
        if creating or "entity_metadata" in body:
            location = (body.get("entity_metadata") or {}).get("location")
            if not isinstance(location, str) or not 1 <= len(location) <= 100:
                return "entity_metadata.location: Must be between 1 and 100 in length."
        if creating and _time(body.get("scheduled_end_time")) is None:
            return "scheduled_end_time: Required for EXTERNAL events."
        image = body.get("image")
        if image is not None and image_hash(image) is None:
            return "image: Invalid image data (a data:image/png|jpeg|gif;base64 URI)."
        return None

    async def _begin(
        self, request: web.Request, *, needs_permission: bool
    ) -> tuple[int, dict[str, Any], web.Response | None]:
        guild_id = int(request.match_info["guild_id"])
        body: dict[str, Any] = {}
        if request.can_read_body:
            data = await request.json()
            body = data if isinstance(data, dict) else {}
        self.requests.append((request.method, request.path, body or None))
        self.event_requests[request.method] += 1
        early = await self._precheck(request, None)
        if early is None and needs_permission and guild_id in self.forbidden:
            early = self._error(403, 50013)
        self._automate()
        return guild_id, body, early

    # --- handlers -----------------------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.Response:
        guild_id, _, early = await self._begin(request, needs_permission=False)
        if early is not None:
            return early
        return self._ok([e.json() for e in self.in_guild(guild_id)])

    async def _create(self, request: web.Request) -> web.Response:
        guild_id, body, early = await self._begin(request, needs_permission=True)
        if early is not None:
            return early
        problem = self._field_problem(body, creating=True)
        start, end = _time(body.get("scheduled_start_time")), _time(body.get("scheduled_end_time"))
        if problem is None and start is None:
            problem = "scheduled_start_time: Invalid ISO8601 timestamp."
        if problem is not None or start is None or end is None:
            return self._invalid(problem or "invalid times")
        if start <= self.clock():
            return self._invalid("scheduled_start_time: Cannot schedule event in the past.")
        if end <= start:
            return self._invalid("scheduled_end_time: Must be after the start time.")
        if len(self.in_guild(guild_id)) >= GUILD_LIMIT:
            return self._error(400, 30038)
        hold, self._hold_copies = self._hold_copies, None
        copies = 1 if hold is None else hold
        created = [
            StoredEvent(
                id=self._snowflake(),
                guild_id=guild_id,
                name=body["name"],
                description=body.get("description"),
                location=body["entity_metadata"]["location"],
                start=start,
                end=end,
                image=image_hash(body.get("image")),
            )
            for _ in range(copies)
        ]
        for event in created:
            self.events[event.id] = event
            if self.on_event_created is not None:
                self.on_event_created(event)
        event = created[0]  # the answer names the first
        if hold is not None:
            self.held.extend(created)
            self._poke()
            # aiohttp (handler_cancellation off, its default) does not cancel a handler whose
            # client went away: after a SIGKILL this waits for release() (close() calls it).
            await self._released.wait()
        return self._ok(event.json())

    async def _edit(self, request: web.Request) -> web.Response:
        guild_id, body, early = await self._begin(request, needs_permission=True)
        if early is not None:
            return early
        event = self.events.get(int(request.match_info["event_id"]))
        if event is None or event.guild_id != guild_id:
            return self._error(404, 10070)
        problem = self._field_problem(body, creating=False)
        if problem is not None:
            return self._invalid(problem)
        start = _time(body["scheduled_start_time"]) if "scheduled_start_time" in body else None
        end = _time(body["scheduled_end_time"]) if "scheduled_end_time" in body else None
        if event.status in (COMPLETED, CANCELED):
            return self._invalid("status: Cannot modify a finished event.")
        if start is not None and start != event.start:
            if event.status == ACTIVE:
                return self._invalid("scheduled_start_time: Cannot change an active event's start.")
            if start <= self.clock():
                return self._invalid("scheduled_start_time: Cannot schedule event in the past.")
        if (end or event.end) <= (start or event.start):
            return self._invalid("scheduled_end_time: Must be after the start time.")
        status = body.get("status")
        if status is not None and (event.status, status) not in _TRANSITIONS:
            return self._invalid(f"status: Cannot go from {event.status} to {status}.")
        if "name" in body:
            event.name = body["name"]
        if "description" in body:
            event.description = body["description"]
        if "entity_metadata" in body:
            event.location = body["entity_metadata"]["location"]
        if "image" in body:
            event.image = image_hash(body["image"])
        event.start = start or event.start
        event.end = end or event.end
        if status is not None:
            self._set_status(event, int(status))
        return self._ok(event.json())

    async def _delete(self, request: web.Request) -> web.Response:
        guild_id, _, early = await self._begin(request, needs_permission=True)
        if early is not None:
            return early
        event = self.events.get(int(request.match_info["event_id"]))
        if event is None or event.guild_id != guild_id:
            return self._error(404, 10070)
        del self.events[event.id]
        self.stats.statuses[204] += 1
        return web.Response(status=204)
