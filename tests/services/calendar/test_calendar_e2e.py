"""The calendar job against a loopback Discord that validates scheduled events as Discord does.

Real discord.py, a real database (SQLite and PostgreSQL), one virtual clock for the job and the
fake Discord (its automatic starts and ends, its "no start in the past"), no sleeps.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import discord
import pytest

from bot.core.schedule import CalendarSettings, Status
from bot.core.snapshot import Snapshot, WebcastRef
from bot.discord_ui.scheduled_events import DiscordScheduledEvents
from bot.services.calendar import CalendarJob
from bot.store import ShardSpec, Store, shard_of
from tests.core.reminders.support import launch_at
from tests.services.calendar.fake_events import ACTIVE, COMPLETED, FakeDiscordEvents
from tests.services.delivery.support import Clock

GUILD = 1_200_000_000_000_000_001
QUIET = timedelta(minutes=10)
WATCH = "https://www.youtube.com/watch?v=OZcfHni6L5M"


def job(store: Store, client: discord.Client, clock: Clock, **kwargs: Any) -> CalendarJob:
    """A calendar job on the virtual clock, unpaced."""
    events = DiscordScheduledEvents(client, rate=None)
    return CalendarJob(store, events, clock=clock.now, quiet_period=QUIET, **kwargs)


async def put(store: Store, clock: Clock, *items: Snapshot) -> None:
    """Store ``items`` as the latest poll's snapshots."""
    await store.save_snapshots(list(items), seen_at=clock.now())


def falcon(clock: Clock, minutes: float, item_id: str = "launch-1", live: bool = False) -> Snapshot:
    """A Go launch ``minutes`` from now on the virtual clock."""
    item = launch_at(clock.now() + timedelta(minutes=minutes), item_id=item_id)
    if live:
        webcasts = (WebcastRef(url=WATCH, live=True),)
        item = item.model_copy(update={"webcast_live": True, "webcasts": webcasts})
    return item


async def test_enable_slip_live_end_and_slip_out_of_the_horizon(
    store: Store, client: discord.Client, fake: FakeDiscordEvents, clock: Clock
) -> None:
    """Create, one held edit for a slip, START on a live webcast, END after it, DELETE when an
    item slips out of the horizon."""
    await store.save_calendar(CalendarSettings(guild_id=GUILD, horizon_days=2), now=clock.now())
    calendar = job(store, client, clock)
    await put(store, clock, falcon(clock, 180), falcon(clock, 600, "launch-2"))
    await calendar.run()
    first, second = sorted(fake.in_guild(GUILD), key=lambda e: e.start)
    assert first.start == clock.now() + timedelta(minutes=180)
    assert first.end == first.start + timedelta(hours=1)
    assert first.description is not None
    assert first.description.endswith("spacecast:launch:launch-1")

    # Slips twice in five minutes: nothing until the quiet period after the last one.
    date = clock.now() + timedelta(minutes=240)
    for extra in (0, 30):
        clock.advance(timedelta(minutes=2))
        await put(store, clock, launch_at(date + timedelta(minutes=extra), item_id="launch-1"))
        await calendar.run()
    assert fake.event_requests["PATCH"] == 0
    clock.advance(QUIET)
    await calendar.run()
    assert fake.event_requests["PATCH"] == 1
    assert first.start == date + timedelta(minutes=30)

    # The webcast goes live 20 minutes before T-0: the event starts.
    clock.current = first.start - timedelta(minutes=20)
    await put(store, clock, falcon(clock, 20, live=True))
    await calendar.run()
    assert first.status == ACTIVE
    # T-0 passed and the webcast is over: the event completes.
    clock.advance(timedelta(minutes=50))
    await put(store, clock, falcon(clock, -30))
    await calendar.run()
    assert first.history == [ACTIVE, COMPLETED]

    # launch-2 slips beyond the 2-day horizon before it started: its event is deleted.
    await put(store, clock, falcon(clock, 3 * 24 * 60, "launch-2"))
    await calendar.run()
    assert second.id not in fake.events
    assert fake.in_guild(GUILD) == []
    assert fake.stats.invalid == 0
    assert (await calendar.run()).requests == 0  # converged: nothing left to do


class CrashAfterCreate(DiscordScheduledEvents):
    """Dies (like a SIGKILL) right after Discord answered a create, before anything is written."""

    async def create_event(self, guild_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        await super().create_event(guild_id, payload)
        raise SystemExit("killed between Discord's answer and the database write")


async def test_a_crash_between_create_and_record_leaves_one_event_after_restart(
    store: Store, client: discord.Client, fake: FakeDiscordEvents, clock: Clock
) -> None:
    """The restarted job lists the guild, adopts the event by its marker, creates nothing."""
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
    await put(store, clock, falcon(clock, 180))
    dying = CalendarJob(
        store, CrashAfterCreate(client, rate=None), clock=clock.now, quiet_period=QUIET
    )
    with pytest.raises(SystemExit):
        await dying.run()
    assert len(fake.in_guild(GUILD)) == 1
    assert await store.calendar_entries([GUILD]) == {}  # the write never happened

    restarted = job(store, client, clock)
    report = await restarted.run()
    assert report.adopted == 1
    assert len(fake.in_guild(GUILD)) == 1
    assert fake.event_requests["POST"] == 1
    [entry] = (await store.calendar_entries([GUILD]))[GUILD]
    assert (entry.event_id, entry.status) == (fake.in_guild(GUILD)[0].id, Status.SCHEDULED)


async def test_a_403_on_create_disables_the_calendar_after_one_request(
    store: Store, client: discord.Client, fake: FakeDiscordEvents, clock: Clock
) -> None:
    """No Create Events permission: one POST, the reason recorded, then silence."""
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
    await put(store, clock, falcon(clock, 180), falcon(clock, 240, "launch-2"))
    fake.forbid(GUILD)
    calendar = job(store, client, clock)
    report = await calendar.run()
    await calendar.run()
    assert fake.event_requests["POST"] == 1
    assert report.disabled == [GUILD]
    settings = await store.get_calendar(GUILD)
    assert settings is not None
    assert settings.disabled_reason is not None
    assert "50013" in settings.disabled_reason
    assert fake.stats.invalid == 1


async def test_a_guild_of_another_shard_is_left_to_its_process(
    store: Store, client: discord.Client, fake: FakeDiscordEvents, clock: Clock
) -> None:
    """With two shards, the process of the other shard sends nothing for this guild."""
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
    await put(store, clock, falcon(clock, 180))
    other = 1 - shard_of(GUILD, 2)
    await job(store, client, clock, shards=ShardSpec.of([other], 2)).run()
    assert fake.event_requests.total() == 0
    await job(store, client, clock, shards=ShardSpec.of([shard_of(GUILD, 2)], 2)).run()
    assert len(fake.in_guild(GUILD)) == 1
