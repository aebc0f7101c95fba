"""A loopback Discord REST server (aiohttp) for the CLI: login, application info, command sync.

Just the routes ``sync-commands`` and a bot's login use, answering like Discord's API v10; a
token other than :data:`GOOD_TOKEN` gets Discord's 401. Every request is recorded.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

GOOD_TOKEN = "fake-bot-token-0123456789"
APPLICATION_ID = 1_300_000_000_000_000_001
BOT_USER = {
    "id": str(APPLICATION_ID),
    "username": "Spacecast",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
    "verified": True,
    "mfa_enabled": False,
    "flags": 0,
}


@dataclass
class Request:
    """One request the fake Discord received."""

    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class FakeDiscord:
    """The server's URL (use as ``discord.api_base_url``) and what it received."""

    url: str
    requests: list[Request] = field(default_factory=list)

    def paths(self, method: str) -> list[str]:
        """Paths of the requests made with ``method``."""
        return [r.path for r in self.requests if r.method == method]


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only for exactly "application/json" (no charset).
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _app(state: FakeDiscord) -> web.Application:
    @web.middleware
    async def record_and_authorise(request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        auth = request.headers.get("Authorization")
        state.requests.append(Request(request.method, request.path, auth, body))
        if auth != f"Bot {GOOD_TOKEN}":
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    async def me(request: web.Request) -> web.Response:
        return _json(BOT_USER)

    async def application(request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(APPLICATION_ID),
                "name": "Spacecast",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": BOT_USER,
                "verify_key": "0" * 64,
                "flags": 0,
            }
        )

    async def put_commands(request: web.Request) -> web.Response:
        guild_id = request.match_info.get("guild_id")
        commands = await request.json()
        answer = []
        for index, command in enumerate(commands, start=1):
            registered = {
                "id": str(APPLICATION_ID + index),
                "application_id": str(APPLICATION_ID),
                "version": "1",
                "type": 1,
                "default_member_permissions": None,
                **command,
            }
            if guild_id is not None:
                registered["guild_id"] = guild_id
            answer.append(registered)
        return _json(answer)

    app = web.Application(middlewares=[record_and_authorise])
    app.router.add_get("/api/v10/users/@me", me)
    app.router.add_get("/api/v10/oauth2/applications/@me", application)
    app.router.add_put("/api/v10/applications/{app_id}/commands", put_commands)
    app.router.add_put("/api/v10/applications/{app_id}/guilds/{guild_id}/commands", put_commands)
    return app


@asynccontextmanager
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """Serve the fake Discord on a free loopback port for the duration of the block."""
    state = FakeDiscord(url="")
    runner = web.AppRunner(_app(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}/api/v10"
    try:
        yield state
    finally:
        await runner.cleanup()
