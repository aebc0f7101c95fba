"""The outbox worker driving real discord.py against a loopback server that answers like Discord."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import discord
import pytest

from bot.core.changes import ChangeKind
from bot.core.render.message import MessageData
from bot.core.routing import nonce_for
from bot.core.snapshot import UpdateRef
from bot.discord_ui.sender import DiscordSender, TransientSendError
from bot.services.delivery.rows import part_nonce, render_delivery, row_to_delivery
from bot.store import OutboxStatus, ShardSpec, Store
from tests.core.change_factory import change, event
from tests.services.delivery.fake_discord import FakeDiscord, _role_mentions, logged_in_client
from tests.services.delivery.support import (
    LEASE,
    Clock,
    queue,
    queue_alerts,
    rows_of,
    subscribe,
    update_change,
    worker,
)
from tests.store.samples import guild_on_shard

CH = 810_000_000_000_000_001
CH2 = 810_000_000_000_000_002
CH3 = 810_000_000_000_000_003
ROLE = 910_000_000_000_000_001
AFTER_LEASE = LEASE + timedelta(seconds=1)


async def test_sends_one_message_and_records_its_id(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """A due row becomes one Discord message, sent with its nonce; the row records the id."""
    await queue_alerts(store, CH, role_id=ROLE)
    report = await worker(store, sender, clock).run_once()
    assert (report.claimed, report.sent) == (1, 1)
    (message,) = fake.messages_in(CH)
    (row,) = await rows_of(store)
    assert row.status is OutboxStatus.SENT
    assert row.message_id == message.id
    assert message.nonce == nonce_for(row.dedup_key)
    assert fake.posts_to(CH)[0]["enforce_nonce"] is True


async def test_crash_after_discord_accepted_resends_same_nonce_once(
    store: Store,
    fake: FakeDiscord,
    sender: DiscordSender,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Discord took the message but mark_sent failed: the resend after the lease dedups."""
    await queue_alerts(store, CH)

    async def database_gone(*args: object, **kwargs: object) -> bool:
        raise ConnectionError("database went away")

    with monkeypatch.context() as patch:
        patch.setattr(store, "mark_sent", database_gone)
        first = await worker(store, sender, clock).run_once()
    assert first.sent == 0
    assert len(fake.messages) == 1
    (row,) = await rows_of(store)
    assert row.status is OutboxStatus.PENDING  # leased, not lost

    clock.advance(AFTER_LEASE)
    second = await worker(store, sender, clock).run_once()
    assert second.sent == 1
    assert len(fake.messages) == 1
    assert fake.stats.deduplicated == 1
    (row,) = await rows_of(store)
    assert (row.status, row.message_id) == (OutboxStatus.SENT, fake.messages[0].id)


class _HangAfterSend:
    """Sends for real, then never returns: the process 'dies' before it can record the send."""

    def __init__(self, inner: DiscordSender) -> None:
        self.inner = inner
        self.sent = asyncio.Event()

    async def send(
        self, channel_id: int, message: MessageData, *, nonce: str, allowed_role_ids: Sequence[int]
    ) -> int:
        await self.inner.send(channel_id, message, nonce=nonce, allowed_role_ids=allowed_role_ids)
        self.sent.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_cancelled_worker_then_restart_posts_exactly_once(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """A worker killed between Discord's answer and mark_sent; a new process resends: one post."""
    await queue_alerts(store, CH)
    hanging = _HangAfterSend(sender)
    task = asyncio.create_task(worker(store, hanging, clock).run_once())
    await asyncio.wait_for(hanging.sent.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    clock.advance(AFTER_LEASE)
    async with logged_in_client(fake.base_url) as restarted:
        report = await worker(store, DiscordSender(restarted), clock).run_once()
    assert report.sent == 1
    assert len(fake.messages) == 1
    assert len(fake.posts_to(CH)) == 2  # the resend reached Discord and was deduplicated


@pytest.mark.parametrize(("status", "code"), [(403, 50013), (403, 50001), (404, 10003)])
async def test_dead_channel_disabled_after_one_attempt(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock, status: int, code: int
) -> None:
    """One 403/404 disables the channel and cancels its rows; none of them is tried again."""
    await queue_alerts(store, CH, 3)
    await queue_alerts(store, CH2, 2, first_item=50)
    fake.fail(CH, status, code)
    report = await worker(store, sender, clock).run_once()
    assert len(fake.posts_to(CH)) == 1
    assert report.disabled_channels == (CH,)
    assert report.cancelled == 3
    assert {r.status for r in await rows_of(store, CH)} == {OutboxStatus.CANCELLED}
    assert not any(s.enabled for s in await store.list_subscriptions(channel_id=CH))
    assert len(fake.messages_in(CH2)) == 2  # other channels are unaffected

    clock.advance(timedelta(hours=1))
    assert (await worker(store, sender, clock).run_once()).claimed == 0
    assert len(fake.posts_to(CH)) == 1


async def test_transient_errors_retry_with_backoff_then_succeed(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """Two 503s, then success: rescheduled with growing backoff, one message in the end."""
    await queue_alerts(store, CH)
    fake.fail(CH, 503, times=2)
    w = worker(store, sender, clock)
    delays = []
    for _ in range(2):
        assert (await w.run_once()).retried == 1
        (row,) = await rows_of(store)
        delays.append(row.next_attempt_at - clock.now())
        assert (await w.run_once()).claimed == 0  # not due before the backoff ends
        clock.advance(delays[-1])
    assert (await w.run_once()).sent == 1
    assert len(fake.messages) == 1
    assert timedelta(seconds=2.5) <= delays[0] < timedelta(seconds=5) <= delays[1]


async def test_server_error_retried_inside_discord_py_posts_once(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """A 500 is retried by discord.py itself (same nonce): one message, no worker retry."""
    await queue_alerts(store, CH)
    fake.fail(CH, 500, times=1)
    report = await worker(store, sender, clock).run_once()
    assert (report.sent, report.retried) == (1, 0)
    assert len(fake.messages) == 1
    assert len(fake.posts_to(CH)) == 2


async def test_transient_errors_give_up_after_max_attempts(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """A channel answering 503 for ever: the row fails after max_attempts sends."""
    await queue_alerts(store, CH)
    fake.fail(CH, 503)
    w = worker(store, sender, clock, max_attempts=3)
    for _ in range(3):
        await w.run_once()
        clock.advance(timedelta(hours=1))
    (row,) = await rows_of(store)
    assert row.status is OutboxStatus.FAILED
    assert str(row.last_error).startswith("gave up: 503")
    assert len(fake.posts_to(CH)) == 3


async def test_an_outage_delays_alerts_instead_of_dropping_them(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """503s for longer than max_attempts fast retries take: the row keeps retrying (backoff)
    until it is retry_for old, so an outage that ends in time still delivers it, once."""
    await queue_alerts(store, CH)
    fake.fail(CH, 503, times=6)
    w = worker(store, sender, clock, max_attempts=3, retry_for=120)
    for _ in range(6):
        await w.run_once()
        (row,) = await rows_of(store)
        assert row.status is OutboxStatus.PENDING
        clock.advance(timedelta(minutes=15))
    report = await w.run_once()
    assert report.sent == 1
    assert len(fake.messages_in(CH)) == 1
    assert len(fake.posts_to(CH)) == 7


async def test_an_outage_longer_than_retry_for_fails_the_row(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """Once it has had max_attempts tries and is retry_for old, the row fails."""
    await queue_alerts(store, CH)
    fake.fail(CH, 503)
    w = worker(store, sender, clock, max_attempts=3, retry_for=60)
    for _ in range(3):  # tries at 0, 20 and 40 min: max_attempts reached, not yet 60 min old
        await w.run_once()
        clock.advance(timedelta(minutes=20))
    (row,) = await rows_of(store)
    assert row.status is OutboxStatus.PENDING
    await w.run_once()  # the fourth try, 60 min after the row was queued
    (row,) = await rows_of(store)
    assert row.status is OutboxStatus.FAILED
    assert str(row.last_error).startswith("gave up: 503")


async def test_transient_error_defers_the_channels_later_rows(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """After a 503 the channel's next rows wait behind the failed one, keeping their order."""
    await queue_alerts(store, CH, 3)
    fake.fail(CH, 503, times=1)
    report = await worker(store, sender, clock).run_once()
    assert (report.retried, len(fake.posts_to(CH))) == (3, 1)
    clock.advance(timedelta(minutes=5))
    assert (await worker(store, sender, clock).run_once()).sent == 3
    assert [m.nonce for m in fake.messages_in(CH)] == [
        nonce_for(r.dedup_key) for r in await rows_of(store, CH)
    ]


async def test_permanent_error_fails_row_and_channel_carries_on(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """A 400 Invalid Form Body fails that row only; the next row of the channel is sent."""
    await queue_alerts(store, CH, 2)
    fake.fail(CH, 400, 50035, times=1)
    report = await worker(store, sender, clock).run_once()
    assert (report.failed, report.sent) == (1, 1)
    first, second = await rows_of(store, CH)
    assert (first.status, second.status) == (OutboxStatus.FAILED, OutboxStatus.SENT)


async def test_ll2_text_cannot_ping_anyone(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """@everyone and a role mention in LL2's name and comment stay text; only our role pings."""
    hostile = event().model_copy(update={"name": "@everyone <@&123> Crew-11 @here"})
    comment = "@everyone look <@&123> <@456>"
    sub = await subscribe(store, CH, role_id=ROLE)
    bad = change(ChangeKind.NEW_UPDATE, hostile, update=UpdateRef(id=1, comment=comment))
    await queue(store, [bad], [sub])
    await worker(store, sender, clock).run_once()
    (post,) = fake.posts_to(CH)
    assert post["allowed_mentions"] == {"parse": [], "roles": [ROLE]}
    assert _role_mentions(post["content"]) == [str(ROLE)]
    (message,) = fake.messages
    assert (message.mention_everyone, message.mention_roles) == (False, [ROLE])


async def test_one_send_per_channel_at_a_time(
    store: Store, fake: FakeDiscord, client: discord.Client, clock: Clock
) -> None:
    """Many rows over three channels: at most one in flight per channel, in claim order."""
    fake.latency = 0.02
    for n, channel in enumerate((CH, CH2, CH3)):
        await queue_alerts(store, channel, 4, first_item=100 * (n + 1))
    probe = _ConcurrencyProbe(DiscordSender(client))
    report = await worker(store, probe, clock, concurrency=8).run_once()
    assert report.sent == 12
    assert probe.max_per_channel == 1
    assert probe.max_total == 3
    for channel in (CH, CH2, CH3):
        rows = await rows_of(store, channel)
        assert [m.id for m in fake.messages_in(channel)] == [r.message_id for r in rows]


class _ConcurrencyProbe:
    def __init__(self, inner: DiscordSender) -> None:
        self.inner = inner
        self.active: dict[int, int] = {}
        self.max_per_channel = 0
        self.max_total = 0

    async def send(
        self, channel_id: int, message: MessageData, *, nonce: str, allowed_role_ids: Sequence[int]
    ) -> int:
        self.active[channel_id] = self.active.get(channel_id, 0) + 1
        self.max_per_channel = max(self.max_per_channel, self.active[channel_id])
        self.max_total = max(self.max_total, sum(self.active.values()))
        try:
            return await self.inner.send(
                channel_id, message, nonce=nonce, allowed_role_ids=allowed_role_ids
            )
        finally:
            self.active[channel_id] -= 1


async def test_split_message_retry_does_not_double_the_sent_part(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """A row split into several messages whose second part failed: the retry doubles nothing."""
    sub = await subscribe(store, CH)
    updates = [update_change(update_id=9000 + i, comment="Docking. " * 100) for i in range(12)]
    await queue(store, updates, [sub])
    (row,) = await rows_of(store)
    parts = len(render_delivery(row_to_delivery(row), clock.now()))
    assert parts >= 2
    flaky = _FailNonceOnce(sender, part_nonce(row.dedup_key, 1))
    assert (await worker(store, flaky, clock).run_once()).retried == 1
    clock.advance(timedelta(minutes=1))
    assert (await worker(store, flaky, clock).run_once()).sent == 1
    messages = fake.messages_in(CH)
    assert [m.nonce for m in messages] == [part_nonce(row.dedup_key, i) for i in range(parts)]
    assert fake.stats.deduplicated == 1  # part 0, resent with its nonce, was not doubled
    (row,) = await rows_of(store)
    assert row.message_id == messages[0].id


class _FailNonceOnce:
    def __init__(self, inner: DiscordSender, nonce: str) -> None:
        self.inner = inner
        self.nonce = nonce
        self.failed = False

    async def send(
        self, channel_id: int, message: MessageData, *, nonce: str, allowed_role_ids: Sequence[int]
    ) -> int:
        if nonce == self.nonce and not self.failed:
            self.failed = True
            raise TransientSendError("connection reset")
        return await self.inner.send(
            channel_id, message, nonce=nonce, allowed_role_ids=allowed_role_ids
        )


async def test_shard_filter_claims_only_own_guilds(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """A worker serving shard 0 of 2 leaves shard 1's rows pending."""
    mine = await store.add_subscription(guild_on_shard(0, 2), CH, now=clock.now())
    theirs = await store.add_subscription(guild_on_shard(1, 2), CH2, now=clock.now())
    await queue(store, [update_change()], [mine, theirs])
    report = await worker(store, sender, clock, shards=ShardSpec.of([0], 2)).run_once()
    assert report.sent == 1
    assert (len(fake.messages_in(CH)), len(fake.messages_in(CH2))) == (1, 0)
    (other,) = await rows_of(store, CH2)
    assert other.status is OutboxStatus.PENDING
