"""Cover images for the server calendar: fetch an LL2 picture once, hand it to every guild.

The calendar job (:mod:`bot.services.calendar`) asks :class:`CoverFetcher` for the image data
of a cover source the planner chose (:mod:`bot.core.schedule.cover`); the fetcher downloads
each URL once and keeps the encoded data URI in a bounded LRU cache, so 1,000 guilds creating
an event for the same launch cost one download, not 1,000 (Discord still needs the bytes in
each guild's request: an event's ``image`` is image data, never a URL).

What Discord accepts (docs, Reference, "Image Data"): "Image data is a Data URI scheme that
supports JPG, GIF, and PNG formats", e.g. ``data:image/jpeg;base64,BASE64_ENCODED_JPEG_IMAGE_DATA``,
with "the proper content type (image/jpeg, image/png, image/gif) that matches the image data".
So a fetched image must declare one of those types *and* start with that format's signature;
WebP and anything else is refused here rather than by a 400 from Discord.

Discord documents no size limit for image data or event covers (the documented limits are for
emoji, 256 KiB, and message attachments). :data:`DEFAULT_MAX_BYTES` is ours: 1 MiB, because
the bytes go out again in every guild's request (base64, a third larger), so the cap bounds
what each create costs; a 1 MiB JPEG is plenty for a cover Discord shows at card size, and an
LL2 image larger than that falls back to LL2's thumbnail of it.

Failures never fail a create: a source that cannot be used (disallowed redirect, HTTP error,
too large, wrong type, signature mismatch, timeout) is logged once and remembered as
unavailable for a while (:data:`RETRY_TRANSIENT` for timeouts, connection errors and 5xx/429,
:data:`RETRY_PERMANENT` otherwise), so the planner chooses the next candidate or none, and the
job does not try it again every tick. The whole fetch, redirects included, has one deadline
(:data:`DEFAULT_TIMEOUT_SECONDS`), so a slow image host holds the job's other guilds back by
seconds at most, once per source.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx

from bot.capped_body import BodyTooLarge, read_capped
from bot.core.schedule import CoverPolicy, allowed_cover_url
from bot.ll2.client import USER_AGENT

log = logging.getLogger("bot.calendar.covers")

DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 5.0
# Encoded data URIs kept in memory: dozens of covers at the default cap; an evicted one is
# fetched again only when an event still needs it.
DEFAULT_CACHE_BYTES = 32 * 1024 * 1024
MAX_REDIRECTS = 3
RETRY_TRANSIENT = timedelta(minutes=15)
RETRY_PERMANENT = timedelta(hours=6)
NEGATIVE_LIMIT = 1024  # unavailable sources remembered at once (oldest forgotten first)

# Discord's accepted image data types and each format's file signature.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


def sniff(data: bytes) -> str | None:
    """The accepted image type ``data`` starts like, or None."""
    for kind, signatures in SIGNATURES.items():
        if data.startswith(signatures):
            return kind
    return None


def data_uri(kind: str, data: bytes) -> str:
    """Discord's image data: ``data:<kind>;base64,<data>``."""
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


class CoverSource(Protocol):
    """What the calendar job needs for covers."""

    def policy(self) -> CoverPolicy:
        """The allowed hosts and the sources that cannot be used now, for the planner."""
        ...

    async def image(self, urls: Sequence[str]) -> tuple[str, str] | None:
        """The first of ``urls`` that can be used, as ``(url, data URI)``; None if none."""
        ...


class CoverUnusable(Exception):
    """A source cannot be used as a cover; ``transient`` ones are retried sooner."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class CoverFetcher:
    """:class:`CoverSource` over HTTPS with httpx (see the module docstring).

    ``verify`` is httpx's: True (system CAs) in production, a test CA's context in tests.
    """

    def __init__(
        self,
        hosts: Iterable[str],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._hosts = frozenset(hosts)
        self._max_bytes = max_bytes
        self._timeout = timeout_seconds
        self._cache_bytes = cache_bytes
        self._clock = clock
        self._http = httpx.AsyncClient(
            follow_redirects=False,  # followed by hand: every hop must be an allowed source
            timeout=httpx.Timeout(timeout_seconds),
            verify=verify,
            headers={"User-Agent": USER_AGENT, "Accept": ", ".join(SIGNATURES)},
        )
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._cached_bytes = 0
        self._unavailable: OrderedDict[str, datetime] = OrderedDict()
        # policy() runs once per guild per tick: its answer is kept until something changes.
        self._policy: CoverPolicy | None = None
        self._policy_until: datetime | None = None
        self._lock = asyncio.Lock()
        self.downloads = 0  # GETs that started (redirect hops not counted), for logs and tests

    @property
    def hosts(self) -> frozenset[str]:
        """The allowed hosts (canonical ``host`` or ``host:port``)."""
        return self._hosts

    def policy(self) -> CoverPolicy:
        """See :meth:`CoverSource.policy`."""
        now = self._clock()
        if self._policy is not None and (self._policy_until is None or now < self._policy_until):
            return self._policy
        for url in [u for u, until in self._unavailable.items() if until <= now]:
            del self._unavailable[url]
        self._policy = CoverPolicy(self._hosts, frozenset(self._unavailable))
        self._policy_until = min(self._unavailable.values(), default=None)
        return self._policy

    async def image(self, urls: Sequence[str]) -> tuple[str, str] | None:
        """See :meth:`CoverSource.image`."""
        for url in urls:
            found = await self.data_uri(url)
            if found is not None:
                return url, found
        return None

    async def data_uri(self, url: str) -> str | None:
        """The image data for ``url`` (cached, else fetched once), or None if it cannot be
        used now."""
        cached = self._cached(url)
        if cached is not None or self._is_unavailable(url):
            return cached
        async with self._lock:  # one download per source, however many guilds ask at once
            cached = self._cached(url)
            if cached is not None or self._is_unavailable(url):
                return cached
            try:
                kind, data = await self._fetch(url)
            except CoverUnusable as exc:
                self._mark_unavailable(url, exc)
                return None
            found = data_uri(kind, data)
            self._remember(url, found)
            return found

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    # --- the caches ---------------------------------------------------------------------------

    def _cached(self, url: str) -> str | None:
        found = self._cache.get(url)
        if found is not None:
            self._cache.move_to_end(url)
        return found

    def _remember(self, url: str, found: str) -> None:
        if len(found) > self._cache_bytes:
            return  # larger than the whole cache: used once, not kept
        self._cache[url] = found
        self._cached_bytes += len(found)
        while self._cached_bytes > self._cache_bytes:
            _, evicted = self._cache.popitem(last=False)
            self._cached_bytes -= len(evicted)

    def _is_unavailable(self, url: str) -> bool:
        until = self._unavailable.get(url)
        return until is not None and until > self._clock()

    def _mark_unavailable(self, url: str, exc: CoverUnusable) -> None:
        retry = RETRY_TRANSIENT if exc.transient else RETRY_PERMANENT
        self._unavailable[url] = self._clock() + retry
        self._unavailable.move_to_end(url)
        while len(self._unavailable) > NEGATIVE_LIMIT:
            self._unavailable.popitem(last=False)
        self._policy = None
        log.warning(
            "cover image not used (%s); events go without it, retried in %d min",
            exc.reason,
            retry // timedelta(minutes=1),
            extra={"cover_url": url},
        )

    # --- fetching -----------------------------------------------------------------------------

    async def _fetch(self, url: str) -> tuple[str, bytes]:
        """Download ``url`` within the deadline and the byte cap; return (type, bytes)."""
        if allowed_cover_url(url, self._hosts) != url:
            raise CoverUnusable("not an https URL on an allowed host")
        self.downloads += 1
        try:
            async with asyncio.timeout(self._timeout):
                return await self._follow(url)
        except TimeoutError as exc:
            raise CoverUnusable(f"no answer within {self._timeout:g} s", transient=True) from exc
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            raise CoverUnusable(reason, transient=True) from exc

    async def _follow(self, url: str) -> tuple[str, bytes]:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            async with self._http.stream("GET", current) as response:
                target = response.next_request
                if response.is_redirect and target is not None:
                    hop = allowed_cover_url(str(target.url), self._hosts)
                    if hop is None:
                        host = target.url.host or "?"
                        raise CoverUnusable(f"redirected to {host}, not an allowed host")
                    current = hop
                    continue
                return await self._read(response)
        raise CoverUnusable(f"more than {MAX_REDIRECTS} redirects")

    async def _read(self, response: httpx.Response) -> tuple[str, bytes]:
        status = response.status_code
        if status != 200:
            raise CoverUnusable(f"HTTP {status}", transient=status >= 500 or status in (408, 429))
        declared = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if declared not in SIGNATURES:
            raise CoverUnusable(f"type {declared or 'none'!r} is not PNG, JPEG or GIF")
        try:
            data = await read_capped(response, self._max_bytes)
        except BodyTooLarge as exc:
            size = "" if exc.declared is None else f"{exc.declared} bytes, "
            raise CoverUnusable(f"{size}over the {exc.cap} byte cap") from None
        found = sniff(data)
        if found != declared:
            raise CoverUnusable(f"declared {declared} but the bytes are {found or 'no image'}")
        return declared, data
