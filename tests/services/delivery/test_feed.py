"""The followable feed through real discord.py, a real database and a loopback Discord with
announcement channels and crossposting (:mod:`tests.services.delivery.fake_feed`)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import discord
import pytest

from bot.config import Settings
from bot.core.changes import ChangeKind
from bot.core.feed import feed_deliveries
from bot.core.routing import route
from bot.discord_ui.publishing import DiscordPublisher
from bot.discord_ui.sender import DiscordSender
from bot.services.delivery.feed import PUBLISHED_KEY
from bot.services.delivery.rows import enqueue_deliveries
from bot.store import OutboxStatus, Store
from tests.core.change_factory import T0, change, event
from tests.services.delivery.fake_discord import logged_in_client
from tests.services.delivery.fake_feed import FeedDiscord
from tests.services.delivery.support import QUIET, Clock, rows_of, subscribe, worker

FEED = 3_000_000_000_000_000_001
PLAIN = 3_000_000_000_000_000_002  # a text channel someone put in feed.channels
SUBSCRIBER = 3_000_000_000_000_000_003


@pytest.fixture
async def feed_fake() -> AsyncIterator[FeedDiscord]:
    async with FeedDiscord(announcement={FEED}) as server:
        yield server


@pytest.fixture
async def feed_client(feed_fake: FeedDiscord) -> AsyncIterator[discord.Client]:
    async with logged_in_client(feed_fake.base_url) as client:
        yield client


async def _alert(store: Store, channels: dict[str, int], item: int = 1201) -> None:
    """A webcast going live on ``item``, routed to a subscriber and to the feed channels."""
    sub = await subscribe(store, SUBSCRIBER)
    live = [change(ChangeKind.WEBCAST_LIVE, event(item))]
    async with store.transaction() as tx:
        deliveries = route(live, [sub]) + feed_deliveries(live, channels)
        await enqueue_deliveries(tx, deliveries, T0, QUIET)


async def _until(predicate: object, limit: float = 10.0) -> None:
    started = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - started < limit, "timed out"
        await asyncio.sleep(0.02)


async def test_a_webcast_alert_is_posted_once_and_published_once(
    store: Store, feed_fake: FeedDiscord, feed_client: discord.Client
) -> None:
    clock = Clock()
    w = worker(store, DiscordSender(feed_client), clock, publisher=DiscordPublisher(feed_client))
    await _alert(store, {"webcast_live": FEED})
    report = await w.run_once()
    assert report.sent == 2  # the subscriber's message and the feed post
    await _until(lambda: feed_fake.published)
    assert len(feed_fake.messages_in(FEED)) == 1
    assert len(feed_fake.messages_in(SUBSCRIBER)) == 1
    assert [m for _, m, _ in feed_fake.published] == [feed_fake.messages_in(FEED)[0].id]
    # Replaying the same poll adds nothing; a second run posts and publishes nothing more.
    await _alert(store, {"webcast_live": FEED})
    assert (await w.run_once()).claimed == 0
    await w.stop(1.0)
    assert len(feed_fake.published) == 1
    (row,) = [r for r in await rows_of(store, FEED)]
    assert row.status is OutboxStatus.SENT
    assert row.subscription_id is None  # no subscription row behind a feed post


async def test_a_publish_429_is_honoured_without_holding_up_deliveries(
    store: Store, feed_fake: FeedDiscord, feed_client: discord.Client
) -> None:
    clock = Clock()
    w = worker(store, DiscordSender(feed_client), clock, publisher=DiscordPublisher(feed_client))
    feed_fake.fail_publish(1, retry_after=1.5)
    await _alert(store, {"all": FEED})
    started = time.monotonic()
    await w.run_once()
    batch = time.monotonic() - started
    assert batch < 1.0  # the batch did not wait for the publish's 429
    assert len(feed_fake.messages_in(SUBSCRIBER)) == 1
    await _until(lambda: feed_fake.published, limit=10)
    first, second = feed_fake.publish_attempts
    assert second - first >= 1.5  # discord.py waited out retry_after before trying again
    assert len(feed_fake.published) == 1
    await w.stop(1.0)


async def test_a_channel_that_is_not_an_announcement_channel_is_logged_once_and_skipped(
    store: Store,
    feed_fake: FeedDiscord,
    feed_client: discord.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    w = worker(store, DiscordSender(feed_client), clock, publisher=DiscordPublisher(feed_client))
    caplog.set_level(logging.INFO, logger="bot.delivery")
    await _alert(store, {"webcast_live": PLAIN}, item=1201)
    await w.run_once()
    await _alert(store, {"webcast_live": PLAIN}, item=1202)
    await w.run_once()
    lines = [r for r in caplog.records if "is not an announcement channel" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].levelno == logging.ERROR
    assert str(PLAIN) in lines[0].getMessage()
    assert feed_fake.messages_in(PLAIN) == []
    assert feed_fake.publish_attempts == []
    statuses = {r.status for r in await rows_of(store, PLAIN)}
    assert statuses == {OutboxStatus.FAILED}
    assert len(feed_fake.messages_in(SUBSCRIBER)) == 2  # the subscriber got both, unhindered


async def test_over_the_publish_limit_the_posts_wait_and_go_out_as_one(
    store: Store, feed_fake: FeedDiscord, feed_client: discord.Client
) -> None:
    clock = Clock()
    w = worker(store, DiscordSender(feed_client), clock, publisher=DiscordPublisher(feed_client))
    # Ten publishes in the last hour, the oldest 50 minutes ago: the next fits in 10 minutes.
    used = [T0 - timedelta(minutes=50) + timedelta(minutes=m) for m in range(10)]
    await store.set_state(
        PUBLISHED_KEY.format(channel=FEED), json.dumps([t.isoformat() for t in used])
    )
    await _alert(store, {"all": FEED}, item=1201)
    await _alert(store, {"all": FEED}, item=1202)
    await w.run_once()
    assert feed_fake.messages_in(FEED) == []  # held: the hour is full
    assert len(feed_fake.messages_in(SUBSCRIBER)) == 2  # the subscribers are not held
    clock.advance(timedelta(minutes=10, seconds=1))
    await w.run_once()
    await _until(lambda: feed_fake.published)
    (post,) = feed_fake.messages_in(FEED)
    assert len(post.embeds) == 2  # both alerts in one message, one publish
    assert len(feed_fake.published) == 1
    assert {r.status for r in await rows_of(store, FEED)} == {OutboxStatus.SENT}
    await w.stop(1.0)


def test_feed_channels_from_yaml_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(feed={"channels": {"webcast_live": FEED}})
    assert settings.feed.channels == {"webcast_live": FEED}
    with pytest.raises(ValueError, match="unknown alert kind 'launches'"):
        Settings(feed={"channels": {"launches": FEED}})
    with pytest.raises(ValueError, match="must be a Discord channel id"):
        Settings(feed={"channels": {"all": -5}})
    monkeypatch.setenv("SPACECAST_FEED__CHANNELS", json.dumps({"all": FEED}))
    assert Settings().feed.channels == {"all": FEED}


async def test_every_part_of_a_two_message_alert_is_published_in_order(
    store: Store, feed_fake: FeedDiscord, feed_client: discord.Client
) -> None:
    """Twelve new updates at once make two messages (10 embeds each at most): both are posted
    and both published, first part first, and both count against the hour's publishes."""
    clock = Clock()
    w = worker(store, DiscordSender(feed_client), clock, publisher=DiscordPublisher(feed_client))
    updates = [change(ChangeKind.NEW_UPDATE, event(), version=str(9100 + n)) for n in range(12)]
    async with store.transaction() as tx:
        await enqueue_deliveries(tx, feed_deliveries(updates, {"all": FEED}), T0, QUIET)
    await w.run_once()
    await _until(lambda: len(feed_fake.published) == 2)
    posts = feed_fake.messages_in(FEED)
    assert len(posts) == 2
    assert [m for _, m, _ in feed_fake.published] == [posts[0].id, posts[1].id]
    used = json.loads(await store.get_state(PUBLISHED_KEY.format(channel=FEED)) or "[]")
    assert len(used) == 2
    await w.stop(1.0)


async def test_a_two_message_alert_waits_until_the_hour_has_room_for_both_publishes(
    store: Store, feed_fake: FeedDiscord, feed_client: discord.Client
) -> None:
    """Nine publishes in the last hour leave room for one: a two-part alert waits for two."""
    clock = Clock()
    w = worker(store, DiscordSender(feed_client), clock, publisher=DiscordPublisher(feed_client))
    used = [T0 - timedelta(minutes=50) + timedelta(minutes=m) for m in range(9)]
    await store.set_state(
        PUBLISHED_KEY.format(channel=FEED), json.dumps([t.isoformat() for t in used])
    )
    updates = [change(ChangeKind.NEW_UPDATE, event(), version=str(9100 + n)) for n in range(12)]
    async with store.transaction() as tx:
        await enqueue_deliveries(tx, feed_deliveries(updates, {"all": FEED}), T0, QUIET)
    await w.run_once()
    assert feed_fake.messages_in(FEED) == []  # one slot free, two needed
    clock.advance(timedelta(minutes=10, seconds=1))  # the oldest publish leaves the hour
    await w.run_once()
    await _until(lambda: len(feed_fake.published) == 2)
    assert len(feed_fake.messages_in(FEED)) == 2
    await w.stop(1.0)
