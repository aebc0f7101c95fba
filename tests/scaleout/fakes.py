"""Loopback peers for the scale-out test, with per-process accounting.

- :class:`CountingLL2`: LL2's endpoints under ``/{proc}/2.3.0/``. Each process gets its own
  base URL (``.../p0/2.3.0``, ``.../p1/2.3.0``), so every request is attributed to the process
  that made it without touching the client's headers.
- :class:`MultiTokenDiscord`: :class:`~tests.services.delivery.fake_discord.FakeDiscord`
  accepting one bot token per process and remembering which token created each message.
"""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.services.delivery.fake_discord import TOKEN, FakeDiscord, StoredMessage


@dataclass
class CountingLL2:
    """Mutable LL2 data; ``requests[proc]`` counts every request a process made."""

    events: list[dict[str, Any]] = field(default_factory=list)
    launches: list[dict[str, Any]] = field(default_factory=list)
    request_limit: int = 3600
    requests: Counter[str] = field(default_factory=Counter)
    first_request_at: dict[str, float] = field(default_factory=dict)  # monotonic
    log: list[tuple[float, str, str]] = field(default_factory=list)  # (monotonic, proc, path)
    root: str = ""  # http://127.0.0.1:port

    def base_url(self, proc: str) -> str:
        """The ``ll2.base_url`` for process ``proc``."""
        return f"{self.root}/{proc}/2.3.0"

    def polls_by(self, proc: str) -> int:
        """Counted (list) requests of ``proc``: everything but ``/api-throttle/``."""
        return sum(1 for _, p, path in self.log if p == proc and "api-throttle" not in path)

    async def handle(self, request: web.Request) -> web.Response:
        proc, tail = request.match_info["proc"], request.match_info["tail"]
        now = time.monotonic()
        self.requests[proc] += 1
        self.first_request_at.setdefault(proc, now)
        self.log.append((now, proc, request.path_qs))
        if tail == "api-throttle/":
            return web.json_response(
                {
                    "your_request_limit": self.request_limit,
                    "limit_frequency_secs": 3600,
                    "current_use": 0,
                    "next_use_secs": 0,
                    "ident": "127.0.0.1",
                }
            )
        if tail in ("events/upcoming/", "events/"):
            return self._page(self.events)
        if tail in ("launches/upcoming/", "launches/"):
            return self._page(self.launches)
        if tail == "config/event_types/":
            return self._page([{"id": 26, "name": "Spacewalk"}, {"id": 4, "name": "Docking"}])
        return web.json_response({"detail": "Not found."}, status=404)

    @staticmethod
    def _page(items: list[dict[str, Any]]) -> web.Response:
        body = {"count": len(items), "next": None, "previous": None, "results": items}
        return web.json_response(copy.deepcopy(body))


@asynccontextmanager
async def serve_ll2(fake: CountingLL2) -> AsyncIterator[CountingLL2]:
    """Run ``fake`` on a free loopback port; sets ``fake.root``."""
    app = web.Application()
    app.router.add_get("/{proc}/2.3.0/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.root = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


class MultiTokenDiscord(FakeDiscord):
    """A fake Discord where each process logs in with its own token (``Bot <token>``)."""

    def __init__(self, tokens: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tokens = set(tokens)
        self.created_by: dict[int, str] = {}  # message id -> token that created it
        self.posts_by: Counter[str] = Counter()  # message POSTs per token (dedup included)

    async def _precheck(self, request: web.Request, channel_id: int | None) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bot ")
        if token not in self.tokens:
            return await super()._precheck(request, channel_id)  # answers 401
        # Let the parent's checks (latency, global bucket, injected failures) run as for the
        # one token it knows.
        return await super()._precheck(_Rebadged(request), channel_id)  # type: ignore[arg-type]

    async def _post_message(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bot ")
        self.posts_by[token] += 1
        response = await super()._post_message(request)
        if response.status == 200 and isinstance(response.body, bytes):
            message_id = int(json.loads(response.body)["id"])
            self.created_by.setdefault(message_id, token)
        return response

    def sender_of(self, message: StoredMessage) -> str:
        """The token of the process that created ``message``."""
        return self.created_by[message.id]


class _Rebadged:
    """A request whose Authorization header reads as the parent fake's single token."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self.headers = {**request.headers, "Authorization": f"Bot {TOKEN}"}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


class OneTokenDiscord(FakeDiscord):
    """One bot token shared by every process, with Discord's global limit per token.

    The parent's global bucket (``global_limit`` requests in any sliding second, 429 with
    ``X-RateLimit-Global: true`` and ``X-RateLimit-Scope: global`` beyond it) is one per server,
    and the server accepts one token: so it is one limit per token across every connection of
    every process, as Discord counts it ("All bots can make up to 50 requests per second to our
    API", docs.discord.com/developers/topics/rate-limits#global-rate-limit). This subclass only
    counts the 429s by scope, so a test can tell the global ones from per-channel ones.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate_limited_by_scope: Counter[str] = Counter()

    def _rate_limited(
        self, retry_after: float, *, scope: str, channel_id: int | None = None
    ) -> web.Response:
        self.rate_limited_by_scope[scope] += 1
        return super()._rate_limited(retry_after, scope=scope, channel_id=channel_id)

    def max_in_any_second(self) -> int:
        """The most messages created within any one-second window (the global limit's view)."""
        times = sorted(m.created for m in self.messages)
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best
