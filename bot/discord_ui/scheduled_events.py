"""Discord's guild scheduled-event routes, with errors the calendar job can act on.

:class:`ScheduledEvents` is the seam between the calendar job (:mod:`bot.services.calendar`)
and Discord: list, create, edit, delete, and four error types. :class:`DiscordScheduledEvents`
implements it on a logged-in discord.py client's HTTP layer (``client.http``, the REST client
that also sends the bot's messages), paced by a :class:`~bot.discord_ui.sender.Pacer`; discord.py
itself waits out per-route buckets and 429s.

Routes (Discord docs, "Guild Scheduled Event"): ``GET/POST /guilds/{guild}/scheduled-events``,
``PATCH/DELETE /guilds/{guild}/scheduled-events/{event}``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
import discord

from bot.core.schedule import EventFields
from bot.discord_ui.sender import Pacer
from bot.discord_ui.traffic import background

# Discord JSON error codes the calendar treats specially.
UNKNOWN_SCHEDULED_EVENT = 10070
MAX_SCHEDULED_EVENTS = 30038  # "Maximum number of uncompleted guild scheduled events reached (100)"
EXTERNAL = 3  # entity type
GUILD_ONLY = 2  # privacy level: the only one Discord still accepts


class CalendarError(Exception):
    """A scheduled-event request failed. ``code`` is Discord's JSON error code (0 if none)."""

    def __init__(self, reason: str, code: int = 0, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.status = status


class CalendarForbidden(CalendarError):
    """403: the bot lacks Create Events (or Manage Events) in the guild. Every 403 counts
    towards Discord's invalid-request ban, so one is enough to stop."""


class EventGone(CalendarError):
    """404 Unknown Guild Scheduled Event: someone deleted it; forget it."""


class CalendarRejected(CalendarError):
    """Another 4xx (invalid form body, a status Discord no longer allows, guild full): this
    request will not succeed as it is."""


class TransientCalendarError(CalendarError):
    """5xx, timeouts, connection errors, 401: the outcome is unknown; look before retrying."""


class ScheduledEvents(Protocol):
    """Discord's scheduled-event routes for one bot (JSON objects as Discord sends them)."""

    @property
    def bot_user_id(self) -> int | None:
        """The bot's user id, to recognise events it created (None if unknown)."""
        ...

    async def list_events(self, guild_id: int) -> list[dict[str, Any]]:
        """``GET /guilds/{guild}/scheduled-events``."""
        ...

    async def create_event(self, guild_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        """``POST /guilds/{guild}/scheduled-events``; returns the new event."""
        ...

    async def edit_event(
        self, guild_id: int, event_id: int, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """``PATCH /guilds/{guild}/scheduled-events/{event}``; returns the event."""
        ...

    async def delete_event(self, guild_id: int, event_id: int) -> None:
        """``DELETE /guilds/{guild}/scheduled-events/{event}``."""
        ...


def iso(value: datetime) -> str:
    """An aware datetime as Discord's ISO 8601 (UTC, ``+00:00``)."""
    return value.astimezone(UTC).isoformat()


def create_payload(fields: EventFields, image: str | None = None) -> dict[str, Any]:
    """The JSON body that creates an EXTERNAL event: ``channel_id`` null, the location in
    ``entity_metadata`` and a ``scheduled_end_time``, as Discord requires for that type; with
    ``image`` (Discord's image data, a ``data:image/...;base64,...`` URI) as its cover."""
    payload: dict[str, Any] = {
        "name": fields.name,
        "description": fields.description,
        "privacy_level": GUILD_ONLY,
        "entity_type": EXTERNAL,
        "channel_id": None,
        "entity_metadata": {"location": fields.location},
        "scheduled_start_time": iso(fields.start),
        "scheduled_end_time": iso(fields.end),
    }
    if image is not None:
        payload["image"] = image
    return payload


def edit_payload(
    fields: EventFields, changed: tuple[str, ...], image: str | None = None
) -> dict[str, Any]:
    """The JSON body of a PATCH that sets only the ``changed`` fields; a changed ``cover`` is
    sent as ``image`` when there is image data for it, else left out."""
    full = create_payload(fields, image)
    names = {
        "name": "name",
        "description": "description",
        "location": "entity_metadata",
        "start": "scheduled_start_time",
        "end": "scheduled_end_time",
        "cover": "image",
    }
    return {names[c]: full[names[c]] for c in changed if names[c] in full}


def classify(exc: Exception) -> CalendarError | None:
    """The :class:`CalendarError` for a discord.py or network exception (None: neither)."""
    if isinstance(exc, discord.Forbidden):
        return CalendarForbidden(f"403 {exc.code}: {exc.text}", exc.code, 403)
    if isinstance(exc, discord.NotFound):
        if exc.code == UNKNOWN_SCHEDULED_EVENT:
            return EventGone(f"404 {exc.code}: {exc.text}", exc.code, 404)
        return CalendarRejected(f"404 {exc.code}: {exc.text}", exc.code, 404)
    if isinstance(exc, discord.RateLimited):
        return TransientCalendarError(f"rate limited for {exc.retry_after:.1f}s", 0, 429)
    if isinstance(exc, discord.HTTPException):
        text = f"{exc.status} {exc.code}: {exc.text}"
        if exc.status >= 500 or exc.status in (401, 408, 429):
            return TransientCalendarError(text, exc.code, exc.status)
        return CalendarRejected(text, exc.code, exc.status)
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ClientError, OSError)):
        return TransientCalendarError(f"{type(exc).__name__}: {exc}".rstrip(": "))
    return None


class DiscordScheduledEvents:
    """:class:`ScheduledEvents` on a logged-in :class:`discord.Client`, ``rate`` requests a
    second at most (None: unpaced)."""

    def __init__(self, client: discord.Client, rate: float | None = 5.0) -> None:
        self._client = client
        self._pacer = Pacer(rate)

    @property
    def bot_user_id(self) -> int | None:
        """The logged-in bot's id."""
        user = self._client.user
        return None if user is None else user.id

    async def _call(self, request: Any) -> Any:
        await self._pacer.wait()
        try:
            with background():  # alerts first: the token's budget serves them before these
                return await request()
        except Exception as exc:
            error = classify(exc)
            if error is None:
                raise
            raise error from exc

    async def list_events(self, guild_id: int) -> list[dict[str, Any]]:
        """See :meth:`ScheduledEvents.list_events`."""
        http = self._client.http
        found = await self._call(lambda: http.get_scheduled_events(guild_id, False))
        return list(found)

    async def create_event(self, guild_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        """See :meth:`ScheduledEvents.create_event`."""
        http = self._client.http
        created = await self._call(lambda: http.create_guild_scheduled_event(guild_id, **payload))
        return dict(created)

    async def edit_event(
        self, guild_id: int, event_id: int, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """See :meth:`ScheduledEvents.edit_event`."""
        http = self._client.http
        edited = await self._call(lambda: http.edit_scheduled_event(guild_id, event_id, **payload))
        return dict(edited)

    async def delete_event(self, guild_id: int, event_id: int) -> None:
        """See :meth:`ScheduledEvents.delete_event`."""
        http = self._client.http
        await self._call(lambda: http.delete_scheduled_event(guild_id, event_id))
