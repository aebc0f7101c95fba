"""A fake clock and a real loopback LL2 server (aiohttp) that serves recorded JSON; real
databases (SQLite, PostgreSQL) for the budget's persistence."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.config import LL2Settings
from bot.ll2 import InMemorySendLog, LL2Client, RequestBudget, SendLog
from tests.store.dbutil import db_backend, db_target, store

__all__ = ["db_backend", "db_target", "store"]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
START = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)


def load_fixture(name: str) -> Any:
    """A recorded (or clearly named synthetic) JSON fixture."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def synthetic_event(event_id: int, **changes: Any) -> dict[str, Any]:
    """The real event 1201, re-numbered and edited: a synthetic normal-mode event."""
    event = copy.deepcopy(load_fixture("event-1201-detailed.json"))
    event.update({"id": event_id, "response_mode": "normal", "slug": f"event-{event_id}"})
    event.update(changes)
    return event


class FakeClock:
    """Virtual time: ``sleep`` advances ``now`` instantly and remembers how long it slept."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._now += timedelta(seconds=max(0.0, seconds))
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def set(self, moment: datetime) -> None:
        self._now = moment


@dataclass
class Reply:
    """One canned answer: JSON (default), a raw body, or a chunked body streamed in parts
    (``stream_delay`` seconds before each); optional headers and a delay."""

    json: Any = None
    status: int = 200
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    stream: list[bytes] | None = None
    stream_delay: float = 0.0


Responder = Reply | Callable[[web.Request], Reply]


@dataclass
class Seen:
    """A request the fake server received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: datetime | None


class FakeLL2:
    """Routes by path under ``/2.3.0/``; each route answers its responders in turn, then
    repeats the last one. ``/api-throttle/`` answers the real recorded throttle by default."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Responder]] = {}
        self.seen: list[Seen] = []
        self.streamed_bytes = 0  # bytes of streamed bodies written before the client hung up
        self.base_url = ""
        self.clock: FakeClock | None = None
        self.route("api-throttle/", Reply(load_fixture("api-throttle.json")))

    def route(self, path: str, *responders: Responder) -> None:
        self.routes["/2.3.0/" + path] = list(responders)

    def hits(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == "/2.3.0/" + path]

    def counted_hits(self) -> list[Seen]:
        return [s for s in self.seen if s.path != "/2.3.0/api-throttle/"]

    def paged(self, path: str, items: list[Any], page_size: int) -> Callable[[web.Request], Reply]:
        """A responder serving ``items`` in DRF-style offset pages with absolute next links."""

        def respond(request: web.Request) -> Reply:
            offset = int(request.query.get("offset", "0"))
            query = {k: v for k, v in request.query.items() if k != "offset"}
            nxt = None
            if offset + page_size < len(items):
                params = httpx.QueryParams({**query, "offset": str(offset + page_size)})
                nxt = f"{self.base_url}/{path}?{params}"
            page = items[offset : offset + page_size]
            return Reply({"count": len(items), "next": nxt, "previous": None, "results": page})

        return respond

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(
            Seen(
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                at=self.clock.now() if self.clock else None,
            )
        )
        queue = self.routes.get(request.path)
        if not queue:
            return web.json_response({"detail": "Not found."}, status=404)
        responder = queue.pop(0) if len(queue) > 1 else queue[0]
        reply = responder(request) if callable(responder) else responder
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.stream is not None:
            return await self._stream(request, reply, reply.stream)
        if reply.body is not None:
            return web.Response(
                status=reply.status,
                text=reply.body,
                headers=reply.headers,
                content_type="text/html",
            )
        return web.json_response(reply.json, status=reply.status, headers=reply.headers)

    async def _stream(
        self, request: web.Request, reply: Reply, parts: list[bytes]
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=reply.status, headers=reply.headers)
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for part in parts:
                if reply.stream_delay:
                    await asyncio.sleep(reply.stream_delay)
                await response.write(part)
                self.streamed_bytes += len(part)
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up, as it should when it gives up on a body
        return response


@pytest.fixture
async def ll2_server() -> AsyncIterator[FakeLL2]:
    """A real HTTP server on 127.0.0.1, random port, for the duration of one test."""
    fake = FakeLL2()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.base_url = f"http://{host}:{port}/2.3.0"
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@dataclass
class Harness:
    """A client wired to the loopback server, with its budget and send log exposed."""

    client: LL2Client
    budget: RequestBudget
    send_log: SendLog
    server: FakeLL2
    clock: FakeClock


@pytest.fixture
def make_client(
    ll2_server: FakeLL2, clock: FakeClock, http: httpx.AsyncClient
) -> Callable[..., Harness]:
    """Build a client against the loopback server; keyword arguments tune settings and client."""

    def build(
        *,
        api_key: str | None = None,
        limit: int = 1000,
        max_retries: int = 2,
        timeout: float = 5.0,
        deadline: float = 60.0,
        max_body: int = 8 * 1024 * 1024,
        overlap: int = 120,
        base_url: str | None = None,
        send_log: SendLog | None = None,
        **client_kwargs: Any,
    ) -> Harness:
        settings = LL2Settings(
            base_url=base_url or ll2_server.base_url,
            api_key=SecretStr(api_key) if api_key else None,
            requests_per_hour=limit,
            timeout_seconds=timeout,
            request_deadline_seconds=deadline,
            max_body_bytes=max_body,
            max_retries=max_retries,
            updated_overlap_seconds=overlap,
        )
        if send_log is None:
            send_log = InMemorySendLog()
        budget = RequestBudget(limit, send_log=send_log, clock=clock)
        client_kwargs.setdefault("rng", lambda: 0.5)
        client = LL2Client(settings, http, budget, **client_kwargs)
        ll2_server.clock = clock
        return Harness(client, budget, send_log, ll2_server, clock)

    return build
