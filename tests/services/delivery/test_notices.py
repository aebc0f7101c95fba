"""Admin notices after a dead channel: the real worker, real discord.py, the loopback Discord."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from bot.config import DeliverySettings
from bot.core.admin_notice import disabled_reason
from bot.discord_ui.sender import ChannelGone, DiscordSender
from bot.services.delivery.notices import AdminNotifier, last_notice_key
from bot.services.delivery.settle import ChannelDisabled, ChannelDisabledHook, Settler, Tally
from bot.services.delivery.worker import DeliveryWorker
from bot.store import OutboxStatus, Store
from tests.services.delivery.fake_discord import FakeDiscord, StoredMessage
from tests.services.delivery.support import (
    GUILD,
    Clock,
    queue_alerts,
    rows_of,
    subscribe,
    worker,
)

DEAD = 820_000_000_000_000_001
WORKING = 820_000_000_000_000_002
DEAD_TOO = 820_000_000_000_000_003
SYSTEM = 820_000_000_000_000_009


class SystemChannelTable(dict[int, int]):
    """System channels by guild, standing in for discord.py's guild cache (no gateway here)."""

    def usable_system_channel(self, guild_id: int) -> int | None:
        """The guild's usable system channel, if the table has one."""
        return self.get(guild_id)


def noticing_worker(
    store: Store, sender: DiscordSender, clock: Clock, system: dict[int, int] | None = None
) -> DeliveryWorker:
    """A test worker whose dead channels are announced, as :mod:`bot.services.app` wires it."""
    notifier = AdminNotifier(store, sender, SystemChannelTable(system or {}))
    return worker(store, sender, clock, on_channel_disabled=notifier.channel_disabled)


def notice_text(message: StoredMessage) -> str:
    """The notice's content and embed description, for assertions."""
    [embed] = message.embeds
    return f"{message.content}\n{embed['description']}"


async def test_a_dead_channel_is_announced_once_in_another_subscribed_channel(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """One notice, in the working channel, naming the dead one and the fix, pinging nobody."""
    dead = await queue_alerts(store, DEAD)
    await subscribe(store, WORKING)
    fake.fail(DEAD, 403, 50013)
    report = await noticing_worker(store, sender, clock).run_once()
    assert report.disabled_channels == (DEAD,)
    [notice] = fake.messages
    assert notice.channel_id == WORKING
    text = notice_text(notice)
    assert f"<#{DEAD}>" in text
    assert "403 50013: Missing Permissions" in text
    assert f"then run `/spacecast resume {dead.id}`" in text
    assert (notice.mention_everyone, notice.mention_roles) == (False, [])
    [body] = fake.posts_to(WORKING)
    assert body["allowed_mentions"]["parse"] == []
    assert body["allowed_mentions"].get("roles", []) == []
    assert await store.get_datetime(last_notice_key(GUILD)) == clock.now()


async def test_a_second_dead_channel_within_the_hour_is_not_announced(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """Half an hour and a restart later, another dead channel is disabled without a notice."""
    await queue_alerts(store, DEAD)
    await subscribe(store, WORKING)
    fake.fail(DEAD, 403, 50013)
    await noticing_worker(store, sender, clock).run_once()
    await queue_alerts(store, DEAD_TOO, first_item=50)
    fake.fail(DEAD_TOO, 404, 10003)
    clock.advance(timedelta(minutes=30))
    report = await noticing_worker(store, sender, clock).run_once()  # a fresh notifier
    assert report.disabled_channels == (DEAD_TOO,)
    assert len(fake.messages_in(WORKING)) == 1


async def test_two_channels_dying_at_once_make_one_notice(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """Two of a server's channels announced side by side (one batch) still make one notice."""
    for channel in (DEAD, DEAD_TOO):
        sub = await subscribe(store, channel)
        await store.set_subscription_enabled(sub.id, False, disabled_reason("403 50013: x"))
    await subscribe(store, WORKING)
    notifier = AdminNotifier(store, sender, SystemChannelTable())
    events = [
        ChannelDisabled(GUILD, channel, disabled_reason("403 50013: x"), 1, clock.now())
        for channel in (DEAD, DEAD_TOO)
    ]
    await asyncio.gather(*(notifier.channel_disabled(event) for event in events))
    assert len(fake.messages_in(WORKING)) == 1


async def test_without_another_subscribed_channel_the_system_channel_is_told(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """The server's only subscription died: the notice goes to its system channel."""
    await queue_alerts(store, DEAD)
    fake.fail(DEAD, 403, 50013)
    await noticing_worker(store, sender, clock, system={GUILD: SYSTEM}).run_once()
    [notice] = fake.messages
    assert notice.channel_id == SYSTEM
    assert f"<#{DEAD}>" in notice_text(notice)


async def test_with_nowhere_to_tell_nothing_is_posted_and_no_hour_is_spent(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """No working channel, no usable system channel: the channel is disabled, nothing posted."""
    await queue_alerts(store, DEAD)
    fake.fail(DEAD, 403, 50013)
    report = await noticing_worker(store, sender, clock).run_once()
    assert (report.disabled_channels, report.cancelled) == ((DEAD,), 1)
    assert fake.messages == []
    assert await store.get_datetime(last_notice_key(GUILD)) is None


async def test_a_refused_notice_leaves_delivery_settled_and_the_hour_unspent(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """The notice's channel refuses too: logged, the dead channel still settled, hour given back."""
    await queue_alerts(store, DEAD)
    await subscribe(store, WORKING)
    fake.fail(DEAD, 403, 50013)
    fake.fail(WORKING, 403, 50013)
    report = await noticing_worker(store, sender, clock).run_once()
    assert (report.disabled_channels, report.cancelled) == ((DEAD,), 1)
    [row] = await rows_of(store, DEAD)
    assert row.status is OutboxStatus.CANCELLED
    assert fake.messages == []
    assert await store.get_datetime(last_notice_key(GUILD)) is None


async def test_an_already_disabled_channel_is_not_announced_again(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """Rows left over for a channel whose subscriptions are off already make no new notice."""
    sub = await queue_alerts(store, DEAD)
    await subscribe(store, WORKING)
    await store.set_subscription_enabled(sub.id, False, "paused by ada")
    fake.fail(DEAD, 403, 50013)
    report = await noticing_worker(store, sender, clock).run_once()
    assert report.cancelled == 1
    assert fake.messages == []


async def settle_dead_channel(store: Store, clock: Clock, hook: ChannelDisabledHook) -> Tally:
    """Queue an alert for :data:`DEAD` and settle it as Discord's 403, with ``hook`` set."""
    await queue_alerts(store, DEAD)
    [row] = await rows_of(store, DEAD)
    settler = Settler(
        store,
        DeliverySettings(),
        clock.now,
        lambda attempts: timedelta(0),
        on_channel_disabled=hook,
        hook_timeout=0.05,
    )
    tally = Tally()
    gone = ChannelGone(50013, "403 50013: Missing Permissions", 403)
    await asyncio.wait_for(settler.channel_gone(row, gone, tally, {}), 5)
    return tally


async def test_a_hook_that_hangs_is_cut_off(
    store: Store, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A notice stuck on a slow Discord holds the channel up for the hook timeout, no longer."""

    async def hang(event: ChannelDisabled) -> None:
        await asyncio.Event().wait()

    with caplog.at_level(logging.ERROR, logger="bot.delivery"):
        tally = await settle_dead_channel(store, clock, hang)
    assert (tally.disabled, tally.cancelled) == ([DEAD], 1)
    assert "could not tell the server about a disabled channel" in caplog.text


async def test_a_hook_that_raises_is_only_logged(
    store: Store, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A notifier failing (its database read, say) leaves the channel disabled and settled."""
    told: list[ChannelDisabled] = []

    async def crash(event: ChannelDisabled) -> None:
        told.append(event)
        raise ConnectionError("database went away")

    with caplog.at_level(logging.ERROR, logger="bot.delivery"):
        tally = await settle_dead_channel(store, clock, crash)
    assert (tally.disabled, tally.cancelled) == ([DEAD], 1)
    [event] = told
    assert (event.guild_id, event.channel_id, event.subscriptions) == (GUILD, DEAD, 1)
    assert event.reason == "channel unusable: 403 50013: Missing Permissions"
    assert "could not tell the server about a disabled channel" in caplog.text
