"""The cover fetcher against a loopback HTTPS image host (real TCP, real TLS, real httpx)."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.services.covers import RETRY_PERMANENT, RETRY_TRANSIENT, CoverFetcher
from tests.services.calendar.image_server import GIF_1X1, ImageServer, fetcher_for, png
from tests.services.delivery.support import Clock

CAP = 16 * 1024


@pytest.fixture
async def images() -> AsyncIterator[ImageServer]:
    """The image host."""
    async with ImageServer(slow_seconds=3.0) as server:
        yield server


@pytest.fixture
async def fetcher(images: ImageServer, clock: Clock) -> AsyncIterator[CoverFetcher]:
    """A fetcher allowed on the image host only, 16 KiB cap, 0.5 s deadline."""
    async with fetcher_for(images, clock.now, CAP) as covers:
        yield covers


def decoded(uri: str) -> tuple[str, bytes]:
    """(type, bytes) of a data URI."""
    head, data = uri.split(",", 1)
    return head, base64.b64decode(data, validate=True)


async def test_a_png_becomes_image_data_and_is_downloaded_once(
    images: ImageServer, fetcher: CoverFetcher
) -> None:
    """The real PNG comes back as Discord's data URI, byte for byte; asking again (as every
    guild does) costs no second download."""
    body = png(32, 20)
    url = images.serve("/a.png", body)
    for _ in range(5):
        uri = await fetcher.data_uri(url)
        assert uri is not None
        assert decoded(uri) == ("data:image/png;base64", body)
    assert images.hits["/a.png"] == 1
    assert fetcher.downloads == 1
    gif = images.serve("/b.gif", GIF_1X1, "image/gif")
    assert await fetcher.image([gif]) == (gif, "data:image/gif;base64," + _b64(GIF_1X1))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("too_large", "over the 16384 byte cap"),
        ("too_large_chunked", "over the 16384 byte cap"),
        ("webp", "type 'image/webp' is not PNG, JPEG or GIF"),
        ("liar", "declared image/png but the bytes are no image"),
        ("jpeg_header_gif_bytes", "declared image/jpeg but the bytes are image/gif"),
        ("missing", "HTTP 404"),
        ("slow", "no answer within 0.5 s"),
        ("redirect_away", "redirected to localhost, not an allowed host"),
        ("redirect_loop", "more than 3 redirects"),
    ],
)
async def test_an_unusable_image_is_none_logged_once_and_not_retried_at_once(
    images: ImageServer,
    fetcher: CoverFetcher,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    setup: str,
    reason: str,
) -> None:
    """Each way an image host fails gives None (never an exception), one warning naming the
    reason, and the URL is unavailable (no new request) until its retry time."""
    big = png(120, 120)
    assert len(big) > CAP
    if setup == "too_large":
        url = images.serve("/big.png", big)
    elif setup == "too_large_chunked":
        url = images.serve("/big.png", big)
        images.chunked.add("/big.png")
    elif setup == "webp":
        url = images.serve("/a.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp")
    elif setup == "liar":
        url = images.serve("/liar.png", b"<html>not an image</html>")
    elif setup == "jpeg_header_gif_bytes":
        url = images.serve("/x.jpg", GIF_1X1, "image/jpeg")
    elif setup == "missing":
        url = images.url("/missing.png")
    elif setup == "slow":
        images.serve("/slow.png", png(4, 4))
        url = images.url("/slow.png")
    elif setup == "redirect_away":
        port = images.host.split(":")[1]
        url = images.url(f"/redirect/1?to=https://localhost:{port}/a.png")
    else:
        url = images.url("/loop")
    path = url.split(images.host, 1)[1].split("?")[0]
    with caplog.at_level(logging.WARNING, logger="bot.calendar.covers"):
        for _ in range(3):
            assert await fetcher.data_uri(url) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert reason in warnings[0].getMessage()
    assert getattr(warnings[0], "cover_url", None) == url
    assert fetcher.downloads == 1
    assert url in fetcher.policy().unavailable
    # One GET each (a redirect loop: the first GET and its 3 redirects).
    assert images.hits[path] == (4 if setup == "redirect_loop" else 1)

    transient = setup == "slow"
    clock.advance((RETRY_TRANSIENT if transient else RETRY_PERMANENT) + timedelta(seconds=1))
    assert url not in fetcher.policy().unavailable
    assert await fetcher.data_uri(url) is None  # tried again, once
    assert fetcher.downloads == 2


async def test_a_transient_failure_is_retried_sooner_than_a_permanent_one(
    images: ImageServer, fetcher: CoverFetcher, clock: Clock
) -> None:
    """A 404 waits the long retry; an image that was slow is tried again after the short one,
    and then works."""
    missing = images.url("/later.png")
    assert await fetcher.data_uri(missing) is None
    clock.advance(RETRY_TRANSIENT + timedelta(seconds=1))
    assert missing in fetcher.policy().unavailable
    images.serve("/slow.png", png(4, 4))
    slow = images.url("/slow.png")
    assert await fetcher.data_uri(slow) is None
    images.slow_seconds = 0
    clock.advance(RETRY_TRANSIENT + timedelta(seconds=1))
    assert await fetcher.data_uri(slow) is not None


async def test_allowed_redirects_are_followed_and_disallowed_urls_never_fetched(
    images: ImageServer, fetcher: CoverFetcher
) -> None:
    """A redirect to the same allowed host is followed; a URL that is not https on an allowed
    host is refused without a request; image() falls back to the next source."""
    body = png(8, 8)
    images.serve("/a.png", body)
    uri = await fetcher.data_uri(images.url("/redirect/1?to=/a.png"))
    assert uri is not None
    assert decoded(uri)[1] == body
    plain = f"http://{images.host}/a.png"
    other = images.url("/a.png").replace("127.0.0.1", "localhost")
    before = images.hits.total()
    assert await fetcher.data_uri(plain) is None
    assert await fetcher.data_uri(other) is None
    assert images.hits.total() == before
    found = await fetcher.image([other, images.url("/a.png")])
    assert found is not None
    assert found[0] == images.url("/a.png")


async def test_the_cache_is_bounded_by_bytes(images: ImageServer, clock: Clock) -> None:
    """With room for two images, a third evicts the least recently used one, which is then
    downloaded again when asked for."""
    bodies = [png(10, 10, seed) for seed in range(3)]
    size = len("data:image/png;base64,") + len(_b64(bodies[0]))
    covers = CoverFetcher(
        [images.host], cache_bytes=2 * size + 10, clock=clock.now, verify=images.client_context()
    )
    try:
        urls = [images.serve(f"/{i}.png", body) for i, body in enumerate(bodies)]
        for url in (urls[0], urls[1], urls[0], urls[2], urls[0], urls[1]):
            assert await covers.data_uri(url) is not None
        assert [images.hits[f"/{i}.png"] for i in range(3)] == [1, 2, 1]
    finally:
        await covers.aclose()
