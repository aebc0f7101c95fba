"""A loopback LL2 server for end-to-end tests: serves editable JSON like the real API."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load_fixture(name: str) -> Any:
    """A recorded (or clearly named synthetic) JSON fixture."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class FakeLL2:
    """Mutable LL2 state; edit ``events``/``launches`` between polls to script changes."""

    events: list[dict[str, Any]] = field(default_factory=list)
    launches: list[dict[str, Any]] = field(default_factory=list)
    counted_requests: int = 0
    paths: list[str] = field(default_factory=list)
    base_url: str = ""
    retry_after: int | None = None  # set: every list answers 429 with this Retry-After

    def _page(self, items: list[dict[str, Any]]) -> web.Response:
        self.counted_requests += 1
        if self.retry_after is not None:
            detail = f"Request was throttled. Expected available in {self.retry_after} seconds."
            return web.json_response(
                {"detail": detail}, status=429, headers={"Retry-After": str(self.retry_after)}
            )
        body = {"count": len(items), "next": None, "previous": None, "results": items}
        return web.json_response(copy.deepcopy(body))

    async def upcoming_events(self, request: web.Request) -> web.Response:
        self.paths.append(request.path_qs)
        return self._page(self.events)

    async def upcoming_launches(self, request: web.Request) -> web.Response:
        self.paths.append(request.path_qs)
        return self._page(self.launches)

    async def throttle(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "your_request_limit": 15,
                "limit_frequency_secs": 3600,
                "current_use": self.counted_requests,
                "next_use_secs": 0,
                "ident": "127.0.0.1",
            }
        )


@asynccontextmanager
async def serve(fake: FakeLL2) -> AsyncIterator[FakeLL2]:
    """Run ``fake`` on 127.0.0.1 (random port) under ``/2.3.0``; sets ``fake.base_url``."""
    app = web.Application()
    app.router.add_get("/2.3.0/events/upcoming/", fake.upcoming_events)
    app.router.add_get("/2.3.0/launches/upcoming/", fake.upcoming_launches)
    app.router.add_get("/2.3.0/api-throttle/", fake.throttle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base_url = f"http://127.0.0.1:{port}/2.3.0"
    try:
        yield fake
    finally:
        await runner.cleanup()
