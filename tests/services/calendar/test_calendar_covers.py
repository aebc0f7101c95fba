"""Covers end to end: the calendar job, a real database, real discord.py against the loopback
Discord (which validates ``image`` as Discord does) and a loopback HTTPS image host."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import discord
import pytest

from bot.core.schedule import CalendarSettings
from bot.core.snapshot import Snapshot
from bot.discord_ui.scheduled_events import DiscordScheduledEvents
from bot.services.calendar import CalendarJob
from bot.services.covers import RETRY_TRANSIENT, CoverFetcher
from bot.store import Store
from tests.core.reminders.support import launch_at
from tests.services.calendar.fake_events import FakeDiscordEvents
from tests.services.calendar.image_server import ImageServer, fetcher_for, png
from tests.services.delivery.support import Clock

GUILD = 1_200_000_000_000_000_001
QUIET = timedelta(minutes=10)
CAP = 16 * 1024
PICTURE = png(40, 24, seed=1)
OTHER = png(40, 24, seed=2)
THUMB = png(12, 8, seed=3)


def md5(data: bytes) -> str:
    """The hash the loopback Discord keeps for an image."""
    return hashlib.md5(data).hexdigest()


@pytest.fixture
async def images() -> AsyncIterator[ImageServer]:
    """The image host, serving the pictures above."""
    async with ImageServer(slow_seconds=2.0) as server:
        server.serve("/picture.png", PICTURE)
        server.serve("/other.png", OTHER)
        server.serve("/thumb.png", THUMB)
        server.serve("/big.png", png(120, 120))
        server.serve("/a.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp")
        server.serve("/slow.png", PICTURE)
        yield server


@pytest.fixture
async def covers(images: ImageServer, clock: Clock) -> AsyncIterator[CoverFetcher]:
    """The fetcher, allowed on the image host only (16 KiB cap, 0.5 s deadline)."""
    async with fetcher_for(images, clock.now, CAP) as fetcher:
        yield fetcher


def job(
    store: Store,
    client: discord.Client,
    clock: Clock,
    covers: CoverFetcher,
    events: type[DiscordScheduledEvents] = DiscordScheduledEvents,
) -> CalendarJob:
    """A calendar job with covers on the virtual clock, unpaced."""
    return CalendarJob(
        store, events(client, rate=None), clock=clock.now, quiet_period=QUIET, covers=covers
    )


def pictured(
    clock: Clock,
    minutes: float,
    image: str | None,
    thumbnail: str | None = None,
    item_id: str = "launch-1",
) -> Snapshot:
    """A Go launch ``minutes`` ahead with LL2 ``image`` (and ``thumbnail``) URLs."""
    item = launch_at(clock.now() + timedelta(minutes=minutes), item_id=item_id)
    display = replace(item.display, image_url=image, thumbnail_url=thumbnail)
    return item.model_copy(update={"display": display})


async def put(store: Store, clock: Clock, *items: Snapshot) -> None:
    """Store ``items`` as the latest poll's snapshots."""
    await store.save_snapshots(list(items), seen_at=clock.now())


async def recorded_cover(store: Store, guild: int = GUILD) -> str | None:
    """The cover source recorded for the guild's one event."""
    [entry] = (await store.calendar_entries([guild]))[guild]
    return entry.fields.cover


async def test_an_event_gets_its_cover_once(
    store: Store,
    client: discord.Client,
    fake: FakeDiscordEvents,
    clock: Clock,
    images: ImageServer,
    covers: CoverFetcher,
) -> None:
    """The create carries the LL2 image as image data; Discord holds its hash; the source is
    recorded; later runs (date slips, a restart) never send the image again."""
    url = images.url("/picture.png")
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
    await put(store, clock, pictured(clock, 180, url))
    calendar = job(store, client, clock, covers)
    await calendar.run()
    [event] = fake.in_guild(GUILD)
    assert event.image == md5(PICTURE)
    assert fake.stats.invalid == 0
    assert await recorded_cover(store) == url

    # The date slips (a PATCH of the start), then a restart lists and adopts by id.
    await put(store, clock, pictured(clock, 240, url))
    await calendar.run()  # held for the quiet period
    clock.advance(QUIET + timedelta(minutes=1))
    await calendar.run()
    assert fake.event_requests["PATCH"] == 1
    restarted = job(store, client, clock, covers)
    report = await restarted.run()
    assert report.requests == 1  # the listing only
    assert await recorded_cover(store) == url
    assert fake.image_patches() == []
    assert images.hits["/picture.png"] == 1


async def test_five_guilds_cost_one_download(
    store: Store,
    client: discord.Client,
    fake: FakeDiscordEvents,
    clock: Clock,
    images: ImageServer,
    covers: CoverFetcher,
) -> None:
    """Every guild's event gets the cover; the image host sees one request."""
    guilds = [GUILD + n for n in range(5)]
    for guild in guilds:
        await store.save_calendar(CalendarSettings(guild_id=guild), now=clock.now())
    await put(store, clock, pictured(clock, 180, images.url("/picture.png")))
    await job(store, client, clock, covers).run()
    assert [e.image for g in guilds for e in fake.in_guild(g)] == [md5(PICTURE)] * 5
    assert images.hits["/picture.png"] == 1
    assert covers.downloads == 1


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/big.png", "over the 16384 byte cap"),
        ("/a.webp", "is not PNG, JPEG or GIF"),
        ("/missing.png", "HTTP 404"),
        ("/slow.png", "no answer within 0.5 s"),
    ],
)
async def test_an_unusable_image_means_an_event_without_a_cover_and_one_log_line(
    store: Store,
    client: discord.Client,
    fake: FakeDiscordEvents,
    clock: Clock,
    images: ImageServer,
    covers: CoverFetcher,
    caplog: pytest.LogCaptureFixture,
    path: str,
    reason: str,
) -> None:
    """Too large, another type, 404, timeout: the create still goes, without ``image``; one
    warning; the next runs neither fetch again nor send anything."""
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
    await store.save_calendar(CalendarSettings(guild_id=GUILD + 1), now=clock.now())
    await put(store, clock, pictured(clock, 180, images.url(path)))
    calendar = job(store, client, clock, covers)
    with caplog.at_level(logging.WARNING, logger="bot.calendar.covers"):
        await calendar.run()
        clock.advance(timedelta(minutes=1))
        assert (await calendar.run()).requests == 0
    assert [e.image for g in (GUILD, GUILD + 1) for e in fake.in_guild(g)] == [None, None]
    posts = [body for method, _, body in fake.requests if method == "POST"]
    assert len(posts) == 2
    assert all(body is not None and "image" not in body for body in posts)
    assert fake.stats.invalid == 0
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert reason in warning.getMessage()
    assert images.hits[path] == 1
    assert await recorded_cover(store) is None


async def test_a_disallowed_host_or_plain_http_is_never_fetched(
    store: Store,
    client: discord.Client,
    fake: FakeDiscordEvents,
    clock: Clock,
    images: ImageServer,
    covers: CoverFetcher,
) -> None:
    """An image on a host not on the allow-list, or over plain http, is not a candidate: the
    event is created without a cover and the image host sees nothing."""
    other_host = images.url("/picture.png").replace("127.0.0.1", "localhost")
    plain = images.url("/picture.png").replace("https://", "http://")
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
    await put(store, clock, pictured(clock, 180, other_host, plain))
    await job(store, client, clock, covers).run()
    [event] = fake.in_guild(GUILD)
    assert event.image is None
    assert images.hits.total() == 0


async def test_a_too_large_image_falls_back_to_the_thumbnail_in_the_same_create(
    store: Store,
    client: discord.Client,
    fake: FakeDiscordEvents,
    clock: Clock,
    images: ImageServer,
    covers: CoverFetcher,
) -> None:
    """LL2's image is over the cap: the create carries the thumbnail instead (one POST, no
    follow-up PATCH), and the thumbnail is recorded as the source."""
    thumb = images.url("/thumb.png")
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
    await put(store, clock, pictured(clock, 180, images.url("/big.png"), thumb))
    calendar = job(store, client, clock, covers)
    await calendar.run()
    [event] = fake.in_guild(GUILD)
    assert event.image == md5(THUMB)
    assert await recorded_cover(store) == thumb
    assert (await calendar.run()).requests == 0
    assert fake.event_requests["PATCH"] == 0


async def test_an_ll2_image_change_updates_the_cover_once(
    store: Store,
    client: discord.Client,
    fake: FakeDiscordEvents,
    clock: Clock,
    images: ImageServer,
    covers: CoverFetcher,
) -> None:
    """LL2 swaps the image: one PATCH with the new image (and nothing else), then quiet."""
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
    await put(store, clock, pictured(clock, 180, images.url("/picture.png")))
    calendar = job(store, client, clock, covers)
    await calendar.run()
    clock.advance(timedelta(minutes=1))
    await put(store, clock, pictured(clock, 179, images.url("/other.png")))
    for _ in range(3):
        await calendar.run()
        clock.advance(timedelta(minutes=1))
    [patch] = fake.image_patches()
    assert set(patch) == {"image"}
    [event] = fake.in_guild(GUILD)
    assert event.image == md5(OTHER)
    assert await recorded_cover(store) == images.url("/other.png")
    assert images.hits["/other.png"] == 1


async def test_a_cover_that_timed_out_is_added_after_the_short_retry(
    store: Store,
    client: discord.Client,
    fake: FakeDiscordEvents,
    clock: Clock,
    images: ImageServer,
    covers: CoverFetcher,
) -> None:
    """The image host was slow at the create: the event goes without a cover; once the short
    retry time has passed and the host answers, one PATCH adds it."""
    url = images.url("/slow.png")
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
    await put(store, clock, pictured(clock, 600, url))
    calendar = job(store, client, clock, covers)
    await calendar.run()
    [event] = fake.in_guild(GUILD)
    assert event.image is None
    images.slow_seconds = 0
    clock.advance(timedelta(minutes=5))
    await calendar.run()
    assert fake.image_patches() == []  # not retried yet
    clock.advance(RETRY_TRANSIENT)
    await calendar.run()
    await calendar.run()
    assert len(fake.image_patches()) == 1
    assert event.image == md5(PICTURE)
    assert await recorded_cover(store) == url


class CrashAfterCreate(DiscordScheduledEvents):
    """Dies right after Discord answered a create, before anything is written."""

    async def create_event(self, guild_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        await super().create_event(guild_id, payload)
        raise SystemExit("killed between Discord's answer and the database write")


async def test_an_adopted_event_with_an_image_is_not_uploaded_again(
    store: Store,
    client: discord.Client,
    fake: FakeDiscordEvents,
    clock: Clock,
    images: ImageServer,
    covers: CoverFetcher,
) -> None:
    """A crash after the create: the restarted job adopts the event, which has an image hash,
    records the item's cover as its source without a PATCH, and a later LL2 image change
    still updates it once."""
    url = images.url("/picture.png")
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
    await put(store, clock, pictured(clock, 180, url))
    with pytest.raises(SystemExit):
        await job(store, client, clock, covers, CrashAfterCreate).run()
    [event] = fake.in_guild(GUILD)
    assert event.image == md5(PICTURE)

    restarted = job(store, client, clock, covers)
    report = await restarted.run()
    assert report.adopted == 1
    assert await recorded_cover(store) == url
    assert (await restarted.run()).requests == 0
    assert fake.event_requests["PATCH"] == 0

    await put(store, clock, pictured(clock, 180, images.url("/other.png")))
    await restarted.run()
    await restarted.run()
    assert len(fake.image_patches()) == 1
    assert event.image == md5(OTHER)
