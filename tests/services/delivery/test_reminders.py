"""Reminders end to end in one process: the reminder job queues, the real worker sends.

Real store (SQLite and PostgreSQL), real discord.py against the loopback Discord, the pure
planner in between; the clock is virtual, so a "two minutes before T-0" is a step of the clock,
not two minutes of waiting.
"""

from __future__ import annotations

from datetime import timedelta

from bot.core.planner import Lookout
from bot.core.snapshot import Source
from bot.discord_ui.sender import DiscordSender
from bot.services.reminders import ReminderJob
from bot.store import OutboxStatus, Store
from tests.core.reminders.support import event_at
from tests.services.delivery.fake_discord import FakeDiscord
from tests.services.delivery.support import T0, Clock, worker

GUILD = 1_700_000_000_000_000_000
CHANNEL = 1_710_000_000_000_000_001
ROLE = 1_720_000_000_000_000_001
QUIET = timedelta(minutes=10)


async def _setup(store: Store, offsets: tuple[int, ...] = (2,)) -> None:
    await store.add_subscription(GUILD, CHANNEL, role_id=ROLE, reminders=offsets)


async def test_a_reminder_is_sent_once_at_its_moment(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """T-2 min: one message titled for the countdown, pinging the role; not early, not twice."""
    await _setup(store)
    await store.save_snapshots([event_at(T0 + timedelta(minutes=3))], T0)
    job = ReminderJob(store, QUIET, clock.now)
    w = worker(store, sender, clock)

    assert await job.run(T0) == 0  # armed, not due: T-2 min is a minute away
    clock.advance(timedelta(minutes=1, seconds=5))
    assert await job.run(clock.now()) == 1
    assert (await w.run_once()).sent == 1
    assert await job.run(clock.now() + timedelta(seconds=10)) == 0  # the next tick: nothing new

    [message] = fake.messages_in(CHANNEL)
    assert message.mention_roles == [ROLE]
    assert "T-2 min" in message.embeds[0]["title"]
    assert message.nonce is not None


async def test_a_restarted_job_does_not_queue_a_reminder_again(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """A new process (a new job object) at the same moment finds the reminder already queued."""
    await _setup(store)
    await store.save_snapshots([event_at(T0 + timedelta(minutes=3))], T0)
    moment = T0 + timedelta(minutes=1, seconds=2)
    assert await ReminderJob(store, QUIET, clock.now).run(moment) == 1
    assert await ReminderJob(store, QUIET, clock.now).run(moment + timedelta(seconds=1)) == 0
    clock.advance(timedelta(minutes=1, seconds=3))
    await worker(store, sender, clock).run_once()
    assert len(fake.messages_in(CHANNEL)) == 1


async def test_a_slip_before_the_moment_moves_the_reminder(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """The date slips 10 min before T-2 min: nothing at the old moment, one at the new one."""
    await _setup(store)
    await store.save_snapshots([event_at(T0 + timedelta(minutes=3))], T0)
    job = ReminderJob(store, QUIET, clock.now)
    assert await job.run(T0) == 0
    await store.save_snapshots([event_at(T0 + timedelta(minutes=13))], T0 + timedelta(seconds=30))
    assert await job.run(T0 + timedelta(minutes=1, seconds=5)) == 0  # the old moment
    assert await job.run(T0 + timedelta(minutes=11, seconds=5)) == 1  # the new one
    clock.advance(timedelta(minutes=11, seconds=6))
    await worker(store, sender, clock).run_once()
    [message] = fake.messages_in(CHANNEL)
    new_t0 = int((T0 + timedelta(minutes=13)).timestamp())
    assert f"<t:{new_t0}:" in message.embeds[0]["description"]


async def test_a_reminder_left_in_the_outbox_past_t0_expires_unsent(
    store: Store, fake: FakeDiscord, sender: DiscordSender, clock: Clock
) -> None:
    """A reminder that could only arrive after its grace (a backlog, an outage) is not sent."""
    await _setup(store)
    await store.save_snapshots([event_at(T0 + timedelta(minutes=3))], T0)
    assert await ReminderJob(store, QUIET, clock.now).run(T0 + timedelta(minutes=1, seconds=1))
    clock.advance(timedelta(minutes=3))  # the worker only gets to it after T-0
    report = await worker(store, sender, clock).run_once()
    assert report.expired == 1
    assert fake.messages_in(CHANNEL) == []
    assert (await store.outbox_counts())[OutboxStatus.EXPIRED] == 1


async def test_the_job_hands_its_armed_moments_to_the_poll_planner(
    store: Store, clock: Clock
) -> None:
    """After a run, the armed reminders are lookouts (one per item and moment, however many
    channels share it); with no reminder subscriptions left, none."""
    await _setup(store, offsets=(60, 10))
    await store.add_subscription(GUILD, CHANNEL + 1, reminders=(10,))  # shares the T-10 moment
    date = T0 + timedelta(hours=2)
    await store.save_snapshots([event_at(date)], T0)
    job = ReminderJob(store, QUIET, clock.now)
    assert job.lookouts() == ()
    await job.run(T0)
    assert job.lookouts() == (
        Lookout(Source.EVENT, date - timedelta(minutes=60), date),
        Lookout(Source.EVENT, date - timedelta(minutes=10), date),
    )
    for sub in await store.list_subscriptions():
        await store.remove_subscription(sub.id)
    await job.run(T0 + timedelta(seconds=10))
    assert job.lookouts() == ()


async def test_an_item_ll2_withdrew_gets_no_reminder(store: Store, clock: Clock) -> None:
    """A complete read of LL2's upcoming events without the item (it was last seen before):
    its T-2 min moment passes with nothing queued."""
    await _setup(store)
    await store.save_snapshots([event_at(T0 + timedelta(minutes=3))], T0)
    await store.set_datetime("poll:last_success:full_upcoming:event", T0 + timedelta(seconds=30))
    job = ReminderJob(store, QUIET, clock.now)
    clock.advance(timedelta(minutes=1, seconds=5))
    assert await job.run(clock.now()) == 0
    assert sum((await store.outbox_counts()).values()) == 0
