"""The Launch Library 2 client: queries, pagination, auth, budget, throttling and retries.

One long-lived ``httpx.AsyncClient`` carries every request. Every counted request first takes a
slot from the shared :class:`RequestBudget`; ``/api-throttle/`` is free and read at start and
after every 429. Failures surface as :class:`LL2Error` subclasses, never as crashes, and a fetch
that fails after its first page returns what it has with ``complete=False``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from bot import __version__
from bot.capped_body import BodyTooLarge, read_capped
from bot.config import LL2Settings
from bot.core.models import Event, EventType, Launch, ThrottleInfo
from bot.ll2.budget import Clock, RequestBudget, SendLog
from bot.ll2.errors import LL2BadResponse, LL2Error, LL2Throttled, LL2Unavailable
from bot.ll2.http import body_start, iso_z, item_id, retry_after_seconds, validation_reason
from bot.ll2.result import FetchResult

log = logging.getLogger("bot.ll2")

USER_AGENT = f"Spacecast/{__version__} (+https://github.com/spacecast)"
PAGE_LIMIT = 100  # LL2's maximum page size: fewer pages, fewer budgeted requests
IDS_PER_REQUEST = 50  # keeps ``id=a,b,...`` URLs well under common 8 KB limits (UUIDs: 37 chars)
DEFAULT_THROTTLE_WAIT = 60.0  # a 429 that gives no hint at all
EVENT_MODE = "normal"  # list mode lacks updates and last_updated
LAUNCH_MODE = "detailed"  # updates and vid_urls only exist in detailed mode

M = TypeVar("M", bound=BaseModel)
# Headers that describe the wire form of a body, not the decoded bytes a read response holds.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class _Failed(Exception):
    """One attempt got no complete answer (transport error, deadline, oversized body)."""


@dataclass
class _Tally:
    requests: int = 0


def _edited_later(candidate: BaseModel, kept: BaseModel) -> bool:
    """Whether ``candidate`` has a newer ``last_updated`` than ``kept`` (a tie keeps ``kept``;
    a copy without ``last_updated`` never wins over one with it)."""
    new = getattr(candidate, "last_updated", None)
    old = getattr(kept, "last_updated", None)
    return new is not None and (old is None or new > old)


class LL2Client:
    """Typed access to the LL2 endpoints Spacecast polls."""

    def __init__(
        self,
        settings: LL2Settings,
        http: httpx.AsyncClient,
        budget: RequestBudget,
        *,
        rng: Callable[[], float] = random.random,
        max_wait_seconds: float | None = 300.0,
        backoff_base_seconds: float = 2.0,
        backoff_cap_seconds: float = 60.0,
        owns_http: bool = False,
    ) -> None:
        """Wrap ``http``; ``max_wait_seconds`` bounds how long one request waits for a slot."""
        self._settings = settings
        self._http = http
        self._budget = budget
        self._clock: Clock = budget.clock
        self._rng = rng
        self._max_wait = max_wait_seconds
        self._backoff_base = backoff_base_seconds
        self._backoff_cap = backoff_cap_seconds
        self._owns_http = owns_http
        self._base = httpx.URL(settings.base_url.rstrip("/") + "/")
        self._timeout = httpx.Timeout(settings.timeout_seconds)
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if settings.api_key is not None:
            self._headers["Authorization"] = f"Token {settings.api_key.get_secret_value()}"

    @classmethod
    def create(
        cls,
        settings: LL2Settings,
        *,
        send_log: SendLog | None = None,
        clock: Clock | None = None,
        budget: RequestBudget | None = None,
        **kwargs: Any,
    ) -> LL2Client:
        """Build a client with its own ``httpx.AsyncClient`` (closed by :meth:`aclose`)."""
        if budget is None:
            budget = RequestBudget(settings.requests_per_hour, send_log=send_log, clock=clock)
        http = httpx.AsyncClient(timeout=httpx.Timeout(settings.timeout_seconds))
        return cls(settings, http, budget, owns_http=True, **kwargs)

    @property
    def budget(self) -> RequestBudget:
        """The shared request budget."""
        return self._budget

    async def start(self) -> ThrottleInfo | None:
        """Load the persisted budget and align it with the server's view; never raises LL2Error."""
        await self._budget.load()
        try:
            info = await self.throttle()
        except LL2Error:
            return None  # already logged; our own count still protects the limit
        self._budget.apply_server_view(info, self._clock.now())
        return info

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> LL2Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- queries ---------------------------------------------------------------------------

    async def upcoming_events(self) -> FetchResult[Event]:
        """Events from ``/events/upcoming/`` (including those of the last 24 h)."""
        return await self._collect([("events/upcoming/", {"mode": EVENT_MODE})], Event)

    async def upcoming_launches(self) -> FetchResult[Launch]:
        """Launches from ``/launches/upcoming/`` (including those of the last 24 h)."""
        return await self._collect([("launches/upcoming/", {"mode": LAUNCH_MODE})], Launch)

    async def events_in_window(self, start: datetime, end: datetime) -> FetchResult[Event]:
        """Events whose ``date`` lies in ``[start, end]``, oldest first."""
        params = {
            "mode": EVENT_MODE,
            "date__gte": iso_z(start),
            "date__lte": iso_z(end, round_up=True),
            "ordering": "date",
        }
        return await self._collect([("events/", params)], Event)

    async def launches_in_window(self, start: datetime, end: datetime) -> FetchResult[Launch]:
        """Launches whose ``net`` lies in ``[start, end]``, oldest first."""
        params = {
            "mode": LAUNCH_MODE,
            "net__gte": iso_z(start),
            "net__lte": iso_z(end, round_up=True),
            "ordering": "net",
        }
        return await self._collect([("launches/", params)], Launch)

    async def events_updated_since(self, since: datetime) -> FetchResult[Event]:
        """Events edited at or after ``since`` (minus the configured overlap)."""
        params = {"mode": EVENT_MODE, **self._updated_since(since)}
        return await self._collect([("events/", params)], Event)

    async def launches_updated_since(self, since: datetime) -> FetchResult[Launch]:
        """Launches edited at or after ``since`` (minus the configured overlap)."""
        params = {"mode": LAUNCH_MODE, **self._updated_since(since)}
        return await self._collect([("launches/", params)], Launch)

    async def events_by_ids(self, ids: Iterable[int]) -> FetchResult[Event]:
        """The events with these ids (missing ones are simply absent). No ids, no request."""
        return await self._collect(self._by_ids("events/", EVENT_MODE, ids), Event)

    async def launches_by_ids(self, ids: Iterable[str]) -> FetchResult[Launch]:
        """The launches with these UUIDs (missing ones are simply absent). No ids, no request."""
        return await self._collect(self._by_ids("launches/", LAUNCH_MODE, ids), Launch)

    async def event_types(self) -> FetchResult[EventType]:
        """Every event type from ``/config/event_types/``."""
        return await self._collect([("config/event_types/", {})], EventType)

    async def throttle(self) -> ThrottleInfo:
        """The server's view of our budget from ``/api-throttle/`` (not counted, not retried)."""
        url = self._url("api-throttle/")
        try:
            response = await self._send(url, None)
        except _Failed as exc:
            reason = str(exc)
            log.warning("ll2 throttle check failed", extra={"ll2_url": url, "ll2_reason": reason})
            raise LL2Unavailable(reason, url=url, attempts=1) from exc
        data = self._json(response, url)
        # Seen both as an object and as a one-element array.
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        try:
            return ThrottleInfo.model_validate(data)
        except ValidationError as exc:
            raise self._bad(
                f"unexpected /api-throttle/ shape: {validation_reason(exc)}", url, response
            ) from exc

    # -- machinery -------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return str(self._base.join(path))

    def _updated_since(self, since: datetime) -> dict[str, str]:
        overlap = timedelta(seconds=self._settings.updated_overlap_seconds)
        return {"last_updated__gte": iso_z(since - overlap), "ordering": "last_updated"}

    @staticmethod
    def _by_ids(path: str, mode: str, ids: Iterable[object]) -> list[tuple[str, dict[str, str]]]:
        unique = sorted({str(i).strip() for i in ids} - {""})
        return [
            (path, {"mode": mode, "id": ",".join(unique[i : i + IDS_PER_REQUEST])})
            for i in range(0, len(unique), IDS_PER_REQUEST)
        ]

    def _follow(self, next_url: str) -> str:
        # Keep only path and query: the key must never travel to another host, and a proxy
        # that rewrites https to http in ``next`` must not downgrade us.
        target = httpx.URL(next_url)
        return str(self._base.join(target.raw_path.decode("ascii")))

    async def _collect(
        self, queries: list[tuple[str, dict[str, str]]], model: type[M]
    ) -> FetchResult[M]:
        """Run the queries, following ``next`` to the end; see :class:`FetchResult`."""
        tally = _Tally()
        found: dict[str, M] = {}
        duplicated: set[str] = set()
        skipped: list[tuple[str, str]] = []
        first_page = True
        visited: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for path, params in queries:
            url: str | None = self._url(path)
            query: dict[str, str | int] | None = {**params, "limit": PAGE_LIMIT}
            while url is not None:
                try:
                    data = await self._get_counted(url, query, tally)
                    raw_items, next_url = self._page(data, url)
                except LL2Error as exc:
                    if first_page:
                        exc.requests = tally.requests
                        raise
                    log.warning(
                        "ll2 fetch incomplete",
                        extra={"ll2_url": url, "ll2_items": len(found), "ll2_error": str(exc)},
                    )
                    return FetchResult(list(found.values()), False, skipped, tally.requests, exc)
                first_page = False
                for raw in raw_items:
                    try:
                        item = model.model_validate(raw)
                    except ValidationError as exc:
                        skipped.append((item_id(raw), validation_reason(exc)))
                        log.warning(
                            "ll2 item skipped",
                            extra={
                                "ll2_model": model.__name__,
                                "ll2_item_id": skipped[-1][0],
                                "ll2_reason": skipped[-1][1],
                            },
                        )
                        continue
                    key = str(getattr(item, "id", len(found)))
                    kept = found.get(key)
                    if kept is None:
                        found[key] = item
                        continue
                    # Offset pages shift under a multi-page read and LL2 has listed an item
                    # twice on one page. Keeping the last copy let the order decide, and
                    # alerts flapped between the copies' dates; the newest edit is the truth.
                    if _edited_later(item, kept):
                        found[key] = item
                    if key not in duplicated:
                        duplicated.add(key)
                        log.info(
                            "ll2 duplicate item",
                            extra={"ll2_model": model.__name__, "ll2_item_id": key, "ll2_url": url},
                        )
                visited.add(self._page_key(url, query))
                url = self._follow(next_url) if next_url else None
                query = None  # ``next`` carries the query
                if url is not None and self._page_key(url, None) in visited:
                    # A ``next`` that points back would burn the whole budget in a loop.
                    error = self._bad("next link loops back to a page already read", url)
                    return FetchResult(list(found.values()), False, skipped, tally.requests, error)
        return FetchResult(list(found.values()), True, skipped, tally.requests)

    @staticmethod
    def _page_key(
        url: str, query: dict[str, str | int] | None
    ) -> tuple[str, tuple[tuple[str, str], ...]]:
        """A page's identity regardless of parameter order (``params=None`` would drop the
        query, hence the branch)."""
        full = httpx.URL(url) if query is None else httpx.URL(url, params=query)
        return full.path, tuple(sorted(full.params.multi_items()))

    def _page(self, data: Any, url: str) -> tuple[list[Any], str | None]:
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise self._bad("page without a results list", url)
        next_url = data.get("next")
        if next_url is not None and not isinstance(next_url, str):
            raise self._bad("page with a non-string next link", url)
        return data["results"], next_url or None

    async def _get_counted(
        self, url: str, params: dict[str, str | int] | None, tally: _Tally
    ) -> Any:
        """One logical GET: budgeted, retried on 5xx/timeouts, waiting out 429s."""
        attempt = 0
        while True:
            await self._budget.acquire(max_wait=self._max_wait)
            tally.requests += 1
            started = time.monotonic()
            try:
                response = await self._send(url, params)
            except _Failed as exc:
                failure = str(exc)
            else:
                log.info(
                    "ll2 request",
                    extra={
                        "ll2_url": str(response.request.url),
                        "ll2_status": response.status_code,
                        "ll2_ms": round((time.monotonic() - started) * 1000),
                        "ll2_attempt": attempt + 1,
                    },
                )
                if response.status_code == 429:
                    wait = await self._on_throttled(response, url)
                    if attempt >= self._settings.max_retries or (
                        self._max_wait is not None and wait > self._max_wait
                    ):
                        raise LL2Throttled(wait, url=url)
                    attempt += 1
                    continue  # the budget now holds us back for ``wait`` seconds
                if response.status_code < 500:
                    return self._json(response, url)
                failure = f"HTTP {response.status_code}"
            if attempt >= self._settings.max_retries:
                log.warning(
                    "ll2 unavailable",
                    extra={"ll2_url": url, "ll2_reason": failure, "ll2_attempts": attempt + 1},
                )
                raise LL2Unavailable(
                    f"{failure} after {attempt + 1} attempts", url=url, attempts=attempt + 1
                )
            delay = self._backoff(attempt)
            log.info(
                "ll2 retry",
                extra={"ll2_url": url, "ll2_reason": failure, "ll2_delay": round(delay, 3)},
            )
            await self._clock.sleep(delay)
            attempt += 1

    async def _send(self, url: str, params: dict[str, str | int] | None) -> httpx.Response:
        """One GET, read whole within the request deadline and the body cap; else :class:`_Failed`.

        httpx's timeout bounds each read, so a server trickling a byte at a time would hold us
        indefinitely; the deadline bounds the whole exchange. The body is streamed so that an
        oversized one is dropped at the cap instead of being held in memory.
        """
        deadline = self._settings.request_deadline_seconds
        try:
            async with (
                asyncio.timeout(deadline),
                self._http.stream(
                    "GET", url, params=params, headers=self._headers, timeout=self._timeout
                ) as streamed,
            ):
                body = await self._read_capped(streamed)
        except TimeoutError as exc:
            raise _Failed(f"deadline of {deadline:g} s exceeded") from exc
        except httpx.RequestError as exc:
            raise _Failed(self._transport_reason(exc)) from exc
        # A plain response holding the decoded body, so .json() and .text work as usual.
        headers = [
            (k, v) for k, v in streamed.headers.multi_items() if k.lower() not in _WIRE_HEADERS
        ]
        return httpx.Response(
            streamed.status_code, headers=headers, content=body, request=streamed.request
        )

    async def _read_capped(self, response: httpx.Response) -> bytes:
        try:
            return await read_capped(response, self._settings.max_body_bytes)
        except BodyTooLarge as exc:
            size = "body" if exc.declared is None else f"body of {exc.declared} bytes"
            raise _Failed(f"{size} exceeds the {exc.cap} byte cap") from None

    def _backoff(self, attempt: int) -> float:
        # Equal jitter: at least half the exponential step, so retries never bunch up at zero.
        step = min(self._backoff_cap, self._backoff_base * 2.0**attempt)
        return step / 2 + step / 2 * self._rng()

    async def _on_throttled(self, response: httpx.Response, url: str) -> float:
        """Honour a 429: block the budget, align it with ``/api-throttle/``; return the wait."""
        now = self._clock.now()
        wait = retry_after_seconds(response, now)
        info: ThrottleInfo | None = None
        # A failed check is logged by throttle(); the 429's own hint or the default still applies.
        with contextlib.suppress(LL2Error):
            info = await self.throttle()
        if info is not None:
            self._budget.apply_server_view(info, self._clock.now())
        if wait is None and info is not None and info.next_use_secs > 0:
            wait = float(info.next_use_secs)
        if wait is None:
            wait = DEFAULT_THROTTLE_WAIT
        # Persisted: a restart, or another process on the same store, must honour it too.
        await self._budget.record_block(now + timedelta(seconds=wait))
        effective = (self._budget.next_slot(now) - now).total_seconds()
        log.warning("ll2 throttled", extra={"ll2_url": url, "ll2_wait": round(effective, 3)})
        return effective

    def _json(self, response: httpx.Response, url: str) -> Any:
        if not 200 <= response.status_code < 300:
            raise self._bad(f"HTTP {response.status_code}", url, response)
        try:
            return response.json()
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise self._bad("body is not JSON", url, response) from exc

    @staticmethod
    def _bad(message: str, url: str, response: httpx.Response | None = None) -> LL2BadResponse:
        """Log a bad response once, here, and build the exception for the caller."""
        status = response.status_code if response is not None else None
        extra: dict[str, Any] = {"ll2_url": url, "ll2_status": status, "ll2_reason": message}
        if response is not None:
            extra["ll2_body_start"] = body_start(response)
        log.warning("ll2 bad response", extra=extra)
        return LL2BadResponse(message, url=url, status=status)

    @staticmethod
    def _transport_reason(exc: httpx.RequestError) -> str:
        kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection error"
        return f"{kind} ({type(exc).__name__})"
