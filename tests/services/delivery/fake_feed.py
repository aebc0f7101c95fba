"""The loopback Discord with announcement channels and "Crosspost Message".

Added to :class:`~tests.services.delivery.fake_discord.FakeDiscord`, with the rules Discord
documents or is known to apply:

- ``GET /channels/{id}`` answers type 5 (``GUILD_ANNOUNCEMENT``) for the channels in
  ``announcement``, type 0 (text) for the others (Discord's channel types table);
- ``POST /channels/{channel.id}/messages/{message.id}/crosspost`` ("Crosspost a message in an
  Announcement Channel to following channels", Discord's Message resource docs; returns the
  message): in a channel that is not an announcement channel, 400 with code 50024 "Cannot
  execute action on this channel type" (Discord's JSON error codes); an unknown message, 404
  code 10008; a message already crossposted, 400 code 40033 "This message has already been
  crossposted."; and at most ``publish_limit`` publishes per channel in any sliding hour. The
  API reference states no figure for that limit; Discord applies 10 an hour per channel
  (reported by bots that auto-publish, e.g. github.com/Vedinsoh/discord-auto-publisher: "The
  bot can only publish 10 messages per hour per channel (just as users), this is rate limited
  by Discord"), answered as a 429 with ``retry_after``;
- ``fail_publish(times, retry_after)`` answers the next publishes with a 429 first.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from aiohttp import web

from tests.services.delivery.fake_discord import API_PREFIX, FakeDiscord, _channel_json

CANNOT_EXECUTE_ON_CHANNEL_TYPE = 50024
UNKNOWN_MESSAGE = 10008
ALREADY_CROSSPOSTED = 40033


class FeedDiscord(FakeDiscord):
    """A fake Discord whose ``announcement`` channels can publish (see the module docstring)."""

    def __init__(
        self,
        *,
        announcement: set[int],
        publish_limit: int = 10,
        publish_window: float = 3600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.announcement = announcement
        self.publish_limit = publish_limit
        self.publish_window = publish_window
        self.published: list[tuple[int, int, float]] = []  # channel, message, monotonic time
        self.publish_attempts: list[float] = []
        self._publish_windows: dict[int, deque[float]] = {}
        self._forced_429s: list[float] = []

    def fail_publish(self, times: int, retry_after: float) -> None:
        """Answer the next ``times`` publishes with a 429 asking to wait ``retry_after`` s."""
        self._forced_429s.extend([retry_after] * times)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(
            f"{API_PREFIX}/channels/{{channel_id}}/messages/{{message_id}}/crosspost",
            self._crosspost,
        )

    async def _channel(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel_id"])

        def body() -> dict[str, Any]:
            data = _channel_json(channel_id)
            data["type"] = 5 if channel_id in self.announcement else 0
            return data

        return await self._guarded(request, channel_id, body)

    async def _crosspost(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel_id"])
        message_id = int(request.match_info["message_id"])
        self.requests.append(("POST", request.path, None))
        self.publish_attempts.append(time.monotonic())
        early = await self._precheck(request, channel_id)
        if early is not None:
            return early
        if self._forced_429s:
            return self._rate_limited(self._forced_429s.pop(0), scope="user")
        if channel_id not in self.announcement:
            return self._error(400, CANNOT_EXECUTE_ON_CHANNEL_TYPE)
        message = next(
            (m for m in self.messages if m.id == message_id and m.channel_id == channel_id), None
        )
        if message is None:
            return self._error(404, UNKNOWN_MESSAGE)
        if any(m == message_id for _, m, _ in self.published):
            return self._error(400, ALREADY_CROSSPOSTED)
        now = time.monotonic()
        window = self._publish_windows.setdefault(channel_id, deque())
        while window and now - window[0] >= self.publish_window:
            window.popleft()
        if len(window) >= self.publish_limit:
            return self._rate_limited(self.publish_window - (now - window[0]), scope="user")
        window.append(now)
        self.published.append((channel_id, message_id, now))
        return self._ok(self._message_json(message))
