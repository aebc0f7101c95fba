"""A loopback HTTPS image host (aiohttp over real TCP and TLS, with a trustme test CA).

It stands in for LL2's image host: real PNG files (built here, decodable), and the ways an
image host goes wrong: too large (with and without Content-Length), another type, bytes that
are not what the header says, 404, an answer slower than the fetcher's deadline, redirects
(to itself, to a host not allowed, in a loop). Every request is counted by path.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import trustme
from aiohttp import web

from bot.services.covers import CoverFetcher

GIF_1X1 = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


def png(width: int, height: int, seed: int = 0) -> bytes:
    """A real RGB PNG of ``width`` x ``height`` (noisy pixels, so it does not compress away)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = bytearray()
    state = seed * 2654435761 % 2**32 or 1
    for _ in range(height):
        rows.append(0)  # filter: none
        for _ in range(width * 3):
            state = (state * 1103515245 + 12345) % 2**31
            rows.append(state >> 23)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


class ImageServer:
    """``async with ImageServer() as images``; ``images.url("/a.png")`` is an https URL."""

    def __init__(self, *, slow_seconds: float = 2.0) -> None:
        self.ca = trustme.CA()
        self._cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.files: dict[str, tuple[str, bytes]] = {}  # path -> (content type, body)
        self.chunked: set[str] = set()  # paths sent without Content-Length
        self.hits: Counter[str] = Counter()
        self.slow_seconds = slow_seconds
        self.host = ""  # "127.0.0.1:<port>", once started
        self._runner: web.AppRunner | None = None

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts this server's test CA (for the fetcher's ``verify``)."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def url(self, path: str) -> str:
        """The https URL of ``path`` on this server."""
        return f"https://{self.host}{path}"

    def serve(self, path: str, body: bytes, kind: str = "image/png") -> str:
        """Serve ``body`` as ``kind`` at ``path``; return its URL."""
        self.files[path] = (kind, body)
        return self.url(path)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] += 1
        if path == "/slow.png":
            await asyncio.sleep(self.slow_seconds)
        if path == "/loop":
            raise web.HTTPFound("/loop")
        if path.startswith("/redirect/"):
            target = request.query.get("to", "/a.png")
            raise web.HTTPFound(target)
        found = self.files.get(path)
        if found is None:
            raise web.HTTPNotFound()
        kind, body = found
        if path in self.chunked:
            response = web.StreamResponse(headers={"Content-Type": kind})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(body), 1024):
                await response.write(body[start : start + 1024])
            await response.write_eof()
            return response
        return web.Response(body=body, headers={"Content-Type": kind})

    async def __aenter__(self) -> ImageServer:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        # A slow answer the client gave up on must not hold the teardown for long.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.host = f"127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@contextlib.asynccontextmanager
async def fetcher_for(
    images: ImageServer, clock: Callable[[], datetime], cap: int
) -> AsyncIterator[CoverFetcher]:
    """A cover fetcher allowed on ``images`` only (``cap`` bytes, 0.5 s deadline), trusting
    its test CA; closed on exit."""
    fetcher = CoverFetcher(
        [images.host], max_bytes=cap, timeout_seconds=0.5, clock=clock,
        verify=images.client_context(),
    )  # fmt: skip
    try:
        yield fetcher
    finally:
        await fetcher.aclose()
