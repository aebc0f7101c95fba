"""A loopback HTTP server that answers like Discord's REST API, for real discord.py to talk to.

Enough of Discord for the outbox worker, the tests and the fan-out benchmark:

- ``GET /users/@me`` and ``GET /oauth2/applications/@me`` (what ``Client.login`` calls),
  ``GET /channels/{id}`` (a text channel), ``POST /channels/{id}/messages``;
- message nonces: with ``enforce_nonce`` a nonce seen in the same channel within
  ``nonce_window`` seconds returns the message it created, and nothing new is stored;
- mentions resolved as Discord does: ``mention_everyone`` and ``mention_roles`` only as far as
  ``allowed_mentions`` permits (so a test can ask "who would have been pinged?");
- Discord's message limits (content 2000, 10 embeds, 6000 embed characters): 400, code 50035;
- rate limits: a global ``global_limit`` requests per second (429 with ``global: true``,
  ``retry_after`` in the body and ``Retry-After``/``X-RateLimit-*`` headers, plus ``Via`` as
  Cloudflare adds it, without which discord.py takes a 429 for a ban) and a per-channel bucket
  of ``channel_limit`` messages per ``channel_window`` seconds with Discord's bucket headers;
- failures per channel: ``fail(channel, 403, 50013)`` for ever, ``fail(channel, 500, times=2)``;
- ``latency`` seconds added to every answer, as a real network would;
- ``PATCH /channels/{id}/messages/{id}`` (live cards, issue 16) with Discord's rules: only the
  fields sent change, the same limits as a post (400, 50035), an unknown or deleted message is
  404 with code 10008, and mentions are resolved again from the edit's own
  ``allowed_mentions`` (Discord does not keep the post's: discord-api-docs issue 3378), so a
  test sees whether an edit would have pinged; ``delete(message_id)`` plays a moderator and
  ``fail_edit(message_id, 400, 30046)`` injects Discord's cap on edits of old messages;
- replies: ``message_reference`` is stored, and one naming an unknown message is a 400 unless
  ``fail_if_not_exists`` is false (Discord's documented default is true).

Every request is recorded (``requests``) and counted (``stats``); 401, 403 and 429 answers are
counted as ``invalid`` like Discord's invalid-request limit does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord
from aiohttp import web

API_PREFIX = "/api/v10"
TOKEN = "fake-token"
BOT_ID = 1_100_000_000_000_000_001
GUILD_ID = 1_200_000_000_000_000_001
DISCORD_EPOCH_MS = 1_420_070_400_000
ERROR_MESSAGES = {
    10003: "Unknown Channel",
    10008: "Unknown Message",
    50001: "Missing Access",
    50013: "Missing Permissions",
    50035: "Invalid Form Body",
    0: "500: Internal Server Error",
}
_INVALID = {401, 403, 429}
_MENTION_EVERYONE = ("@everyone", "@here")


@dataclass
class Failure:
    """Answer ``status`` with JSON ``code`` (``times`` requests, or for ever when None)."""

    status: int
    code: int = 0
    times: int | None = None


@dataclass
class StoredMessage:
    """A message Discord accepted, with what it would have pinged."""

    id: int
    channel_id: int
    content: str
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    nonce: str | None
    mention_everyone: bool
    mention_roles: list[int]
    created: float
    reference: int | None = None  # the message this one replies to
    edits: int = 0


@dataclass
class FakeDiscordStats:
    """Counters over the server's life."""

    requests: int = 0
    created: int = 0
    deduplicated: int = 0
    rate_limited: int = 0  # 429 answers (global and per channel)
    invalid: int = 0  # 401, 403 and 429 answers
    statuses: Counter[int] = field(default_factory=Counter)


class FakeDiscord:
    """The server; start it with ``async with FakeDiscord() as fake`` (see :attr:`base_url`)."""

    def __init__(
        self,
        *,
        global_limit: int | None = 50,
        channel_limit: int | None = 5,
        channel_window: float = 5.0,
        nonce_window: float = 300.0,
        latency: float = 0.0,
    ) -> None:
        self.global_limit = global_limit
        self.channel_limit = channel_limit
        self.channel_window = channel_window
        self.nonce_window = nonce_window
        self.latency = latency
        self.messages: list[StoredMessage] = []
        self.requests: list[tuple[str, str, Any]] = []  # method, path, JSON body
        self.stats = FakeDiscordStats()
        self.on_message: Callable[[StoredMessage], Awaitable[None]] | None = None
        self._failures: dict[int, deque[Failure]] = {}
        self._edit_failures: dict[int, deque[Failure]] = {}
        self.deleted: set[int] = set()
        self._nonces: dict[tuple[int, str], StoredMessage] = {}
        self._global_window: deque[float] = deque()
        self._channel_windows: dict[int, deque[float]] = {}
        self._next_increment = 0
        self._runner: web.AppRunner | None = None
        self._activity = asyncio.Event()
        self.base_url = ""

    # --- configuration and inspection -------------------------------------------------------

    def fail(self, channel_id: int, status: int, code: int = 0, times: int | None = None) -> None:
        """Make requests about ``channel_id`` fail (queued after earlier failures)."""
        self._failures.setdefault(channel_id, deque()).append(Failure(status, code, times))

    def fail_edit(
        self, message_id: int, status: int, code: int = 0, times: int | None = None
    ) -> None:
        """Make edits of ``message_id`` fail (e.g. ``400, 30046``), after earlier failures."""
        self._edit_failures.setdefault(message_id, deque()).append(Failure(status, code, times))

    def delete(self, message_id: int) -> None:
        """A moderator deletes ``message_id``: it leaves the channel and edits of it are 404."""
        self.deleted.add(message_id)
        self.messages = [m for m in self.messages if m.id != message_id]

    def edits_to(self, channel_id: int) -> list[dict[str, Any]]:
        """The JSON bodies of every message PATCH in ``channel_id`` (accepted or not)."""
        prefix = f"{API_PREFIX}/channels/{channel_id}/messages/"
        return [b for m, p, b in self.requests if m == "PATCH" and p.startswith(prefix)]

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds, re-checking whenever a request arrives or a message
        is stored (wrap it in ``asyncio.timeout``)."""
        while not predicate():
            self._activity.clear()
            await self._activity.wait()

    def _poke(self) -> None:
        self._activity.set()

    def messages_in(self, channel_id: int) -> list[StoredMessage]:
        """Messages stored in one channel, oldest first."""
        return [m for m in self.messages if m.channel_id == channel_id]

    def posts_to(self, channel_id: int) -> list[dict[str, Any]]:
        """The JSON bodies of every message POST to ``channel_id`` (accepted or not)."""
        path = f"{API_PREFIX}/channels/{channel_id}/messages"
        return [body for method, p, body in self.requests if method == "POST" and p == path]

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> str:
        """Listen on a free loopback port; return the API base URL (``.../api/v10``)."""
        app = web.Application()
        app.router.add_get(f"{API_PREFIX}/users/@me", self._me)
        app.router.add_get(f"{API_PREFIX}/oauth2/applications/@me", self._application)
        app.router.add_get(f"{API_PREFIX}/channels/{{channel_id}}", self._channel)
        app.router.add_post(f"{API_PREFIX}/channels/{{channel_id}}/messages", self._post_message)
        app.router.add_patch(
            f"{API_PREFIX}/channels/{{channel_id}}/messages/{{message_id}}", self._patch_message
        )
        self.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}{API_PREFIX}"
        return self.base_url

    def add_routes(self, app: web.Application) -> None:
        """Extra routes of a subclass (e.g. scheduled events), added before the app starts."""

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- handlers -----------------------------------------------------------------------------

    async def _me(self, request: web.Request) -> web.Response:
        return await self._guarded(request, None, lambda: _user_json())

    async def _application(self, request: web.Request) -> web.Response:
        def body() -> dict[str, Any]:
            return {
                "id": str(BOT_ID),
                "name": "Spacecast",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": _user_json(),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
            }

        return await self._guarded(request, None, body)

    async def _channel(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel_id"])
        return await self._guarded(request, channel_id, lambda: _channel_json(channel_id))

    async def _post_message(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel_id"])
        body = await _json_body(request)
        self.requests.append(("POST", request.path, body))
        early = await self._precheck(request, channel_id)
        if early is not None:
            return early
        problem = _limit_problem(body)
        if problem:
            return self._error(400, 50035, extra={"errors": {"_errors": [problem]}})
        nonce = body.get("nonce")
        key = (channel_id, str(nonce))
        if nonce is not None and body.get("enforce_nonce"):
            known = self._nonces.get(key)
            if known is not None and time.monotonic() - known.created <= self.nonce_window:
                self.stats.deduplicated += 1
                return self._ok(self._message_json(known))
        reference = body.get("message_reference") or None
        replied: int | None = None
        if reference is not None:
            replied = int(reference["message_id"])
            if self._find(channel_id, replied) is None:
                if reference.get("fail_if_not_exists", True):
                    problem = "message_reference: Unknown message"
                    return self._error(400, 50035, extra={"errors": {"_errors": [problem]}})
                replied = None
        rate = self._channel_bucket(channel_id)
        if rate is not None:
            return rate
        message = self._store(channel_id, body)
        message.reference = replied
        if nonce is not None:
            self._nonces[key] = message
        if self.on_message is not None:
            await self.on_message(message)
        return self._ok(self._message_json(message), headers=self._bucket_headers(channel_id))

    async def _patch_message(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel_id"])
        message_id = int(request.match_info["message_id"])
        body = await _json_body(request)
        self.requests.append(("PATCH", request.path, body))
        early = await self._precheck(request, channel_id)
        if early is not None:
            return early
        message = self._find(channel_id, message_id)
        if message is None:
            return self._error(404, 10008)
        failed = self._injected(self._edit_failures.get(message_id))
        if failed is not None:
            return failed
        problem = _limit_problem(body)
        if problem:
            return self._error(400, 50035, extra={"errors": {"_errors": [problem]}})
        rate = self._channel_bucket(channel_id)
        if rate is not None:
            return rate
        # Only the fields sent change; null clears them (Discord's Edit Message).
        if "content" in body:
            message.content = body["content"] or ""
        if "embeds" in body:
            message.embeds = list(body["embeds"] or [])
        if "components" in body:
            message.components = list(body["components"] or [])
        everyone, roles = _mentions(message.content, body.get("allowed_mentions"))
        message.mention_everyone, message.mention_roles = everyone, roles
        message.edits += 1
        self._poke()
        return self._ok(self._message_json(message), headers=self._bucket_headers(channel_id))

    def _find(self, channel_id: int, message_id: int) -> StoredMessage | None:
        if message_id in self.deleted:
            return None
        return next(
            (m for m in self.messages if m.id == message_id and m.channel_id == channel_id), None
        )

    # --- the rules ----------------------------------------------------------------------------

    async def _guarded(
        self, request: web.Request, channel_id: int | None, body: Callable[[], Any]
    ) -> web.Response:
        self.requests.append((request.method, request.path, None))
        early = await self._precheck(request, channel_id)
        return early if early is not None else self._ok(body())

    async def _precheck(self, request: web.Request, channel_id: int | None) -> web.Response | None:
        # Latency, auth, the global limit and injected failures, in Discord's order.
        self.stats.requests += 1
        self._poke()
        if self.latency:
            await asyncio.sleep(self.latency)
        if request.headers.get("Authorization") != f"Bot {TOKEN}":
            return self._error(401, 0)
        limited = self._global_bucket()
        if limited is not None:
            return limited
        if channel_id is not None:
            return self._injected(self._failures.get(channel_id))
        return None

    def _injected(self, queue: deque[Failure] | None) -> web.Response | None:
        """The next injected failure of ``queue`` as Discord's error (one use spent), if any."""
        if not queue:
            return None
        failure = queue[0]
        if failure.times is not None:
            failure.times -= 1
            if failure.times <= 0:
                queue.popleft()
        return self._error(failure.status, failure.code)

    def _global_bucket(self) -> web.Response | None:
        if self.global_limit is None:
            return None
        now = time.monotonic()
        window = self._global_window
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) < self.global_limit:
            window.append(now)
            return None
        retry_after = round(1.0 - (now - window[0]), 3)
        return self._rate_limited(retry_after, scope="global")

    def _channel_bucket(self, channel_id: int) -> web.Response | None:
        if self.channel_limit is None:
            return None
        now = time.monotonic()
        window = self._channel_windows.setdefault(channel_id, deque())
        while window and now - window[0] >= self.channel_window:
            window.popleft()
        if len(window) < self.channel_limit:
            window.append(now)
            return None
        retry_after = round(self.channel_window - (now - window[0]), 3)
        return self._rate_limited(retry_after, scope="user", channel_id=channel_id)

    def _bucket_headers(self, channel_id: int) -> dict[str, str]:
        if self.channel_limit is None:
            return {}
        window = self._channel_windows.get(channel_id) or deque([time.monotonic()])
        reset_after = max(0.0, self.channel_window - (time.monotonic() - window[0]))
        return {
            "X-RateLimit-Limit": str(self.channel_limit),
            "X-RateLimit-Remaining": str(max(0, self.channel_limit - len(window))),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": "channel-messages",
        }

    def _rate_limited(
        self, retry_after: float, *, scope: str, channel_id: int | None = None
    ) -> web.Response:
        self.stats.rate_limited += 1
        is_global = scope == "global"
        headers = {
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Scope": scope,
            "Via": "1.1 google",  # discord.py reads a 429 without it as a Cloudflare ban
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        elif channel_id is not None:
            headers.update(self._bucket_headers(channel_id))
        body = {"message": "You are being rate limited.", "retry_after": retry_after}
        body |= {"global": is_global, "code": 0}
        return self._respond(429, body, headers)

    def _store(self, channel_id: int, body: dict[str, Any]) -> StoredMessage:
        content = body.get("content") or ""
        everyone, roles = _mentions(content, body.get("allowed_mentions"))
        message = StoredMessage(
            id=self._snowflake(),
            channel_id=channel_id,
            content=content,
            embeds=list(body.get("embeds") or []),
            components=list(body.get("components") or []),
            nonce=None if body.get("nonce") is None else str(body["nonce"]),
            mention_everyone=everyone,
            mention_roles=roles,
            created=time.monotonic(),
        )
        self.messages.append(message)
        self.stats.created += 1
        self._poke()
        return message

    def _snowflake(self) -> int:
        self._next_increment += 1
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (millis << 22) | (self._next_increment & 0x3FFFFF)

    def _message_json(self, message: StoredMessage) -> dict[str, Any]:
        created = datetime.fromtimestamp(
            ((message.id >> 22) + DISCORD_EPOCH_MS) / 1000, tz=UTC
        ).isoformat()
        return {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "author": _user_json(),
            "content": message.content,
            "timestamp": created,
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": message.mention_everyone,
            "mentions": [],
            "mention_roles": [str(r) for r in message.mention_roles],
            "attachments": [],
            "embeds": message.embeds,
            "components": message.components,
            "pinned": False,
            "type": 0,
            "flags": 0,
            "nonce": message.nonce,
        }

    def _ok(self, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        return self._respond(200, body, headers)

    def _error(self, status: int, code: int, extra: dict[str, Any] | None = None) -> web.Response:
        message = ERROR_MESSAGES.get(code, "401: Unauthorized" if status == 401 else "Error")
        return self._respond(status, {"message": message, "code": code, **(extra or {})})

    def _respond(
        self, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> web.Response:
        self.stats.statuses[status] += 1
        if status in _INVALID:
            self.stats.invalid += 1
        # discord.py parses JSON only when Content-Type is exactly "application/json", as
        # Discord sends it (no charset parameter, which aiohttp's json_response would add).
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        return web.Response(body=json.dumps(body).encode(), status=status, headers=all_headers)


# --- payload helpers --------------------------------------------------------------------------


async def _json_body(request: web.Request) -> dict[str, Any]:
    # discord.py sends JSON, or multipart with a payload_json part when files are attached.
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        data = json.loads(str(form["payload_json"]))
    else:
        data = await request.json()
    return data if isinstance(data, dict) else {}


def _mentions(content: str, allowed: dict[str, Any] | None) -> tuple[bool, list[int]]:
    # Without allowed_mentions Discord parses everything in the content.
    parse = set(allowed.get("parse", [])) if allowed else {"everyone", "roles", "users"}
    allowed_roles = {int(r) for r in allowed.get("roles", [])} if allowed else set()
    everyone = "everyone" in parse and any(m in content for m in _MENTION_EVERYONE)
    roles_in_text = [int(m) for m in _role_mentions(content)]
    return everyone, [r for r in roles_in_text if "roles" in parse or r in allowed_roles]


def _role_mentions(content: str) -> list[str]:
    found: list[str] = []
    start = 0
    while (index := content.find("<@&", start)) != -1:
        end = content.find(">", index)
        if end == -1:
            break
        ident = content[index + 3 : end]
        if ident.isdigit():
            found.append(ident)
        start = end
    return found


def _embed_chars(embed: dict[str, Any]) -> int:
    count = len(embed.get("title") or "") + len(embed.get("description") or "")
    count += len((embed.get("footer") or {}).get("text") or "")
    count += len((embed.get("author") or {}).get("name") or "")
    for item in embed.get("fields") or []:
        count += len(item.get("name") or "") + len(item.get("value") or "")
    return count


def _limit_problem(body: dict[str, Any]) -> str | None:
    embeds = body.get("embeds") or []
    if len(body.get("content") or "") > 2000:
        return "content: Must be 2000 or fewer in length."
    if len(embeds) > 10:
        return "embeds: Must be 10 or fewer in length."
    if sum(_embed_chars(e) for e in embeds) > 6000:
        return "embeds: Embed size exceeds maximum size of 6000"
    return None


def _user_json() -> dict[str, Any]:
    return {
        "id": str(BOT_ID),
        "username": "spacecast",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "bot": True,
        "flags": 0,
        "mfa_enabled": False,
        "verified": True,
    }


def _channel_json(channel_id: int) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(GUILD_ID),
        "name": f"alerts-{channel_id % 1000}",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
    }


# --- driving discord.py against the fake ------------------------------------------------------


@contextmanager
def routed_to(base_url: str) -> Iterator[None]:
    """Point discord.py's REST routes at ``base_url`` for the duration of the block."""
    previous = discord.http.Route.BASE
    discord.http.Route.BASE = base_url
    try:
        yield
    finally:
        discord.http.Route.BASE = previous


@asynccontextmanager
async def logged_in_client(base_url: str) -> AsyncIterator[discord.Client]:
    """A real :class:`discord.Client` logged in (REST only, no gateway) against the fake."""
    with routed_to(base_url):
        client = discord.Client(intents=discord.Intents.none())
        await client.login(TOKEN)
        try:
            yield client
        finally:
            await client.close()
