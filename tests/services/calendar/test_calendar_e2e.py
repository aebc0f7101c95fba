"""The calendar job against a loopback Discord that validates scheduled events as Discord does.

Real discord.py, a real database (SQLite and PostgreSQL), one virtual clock for the job and the
fake Discord (its automatic starts and ends, its "no start in the past"), no sleeps.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import discord
import pytest

from bot.config import Settings
from bot.core.schedule import CalendarSettings, Status
from bot.core.snapshot import Snapshot, WebcastRef
from bot.discord_ui.scheduled_events import DiscordScheduledEvents
from bot.discord_ui.traffic import budget_trace
from bot.ll2 import LL2Client
from bot.services.calendar import CalendarJob
from bot.services.delivery.budget import LocalSlots, SendBudget
from bot.services.poller import Poller
from bot.store import ShardSpec, Store, shard_of
from tests.core.reminders.support import launch_at
from tests.e2e.fake_ll2 import FakeLL2, load_fixture, serve
from tests.services.calendar.fake_events import ACTIVE, COMPLETED, FakeDiscordEvents
from tests.services.delivery.fake_discord import TOKEN, logged_in_client, routed_to
from tests.services.delivery.support import Clock

GUILD = 1_200_000_000_000_000_001
QUIET = timedelta(minutes=10)
WATCH = "https://www.youtube.com/watch?v=OZcfHni6L5M"
T = TypeVar("T")


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


def ll2_launch(item_id: str, net: datetime) -> dict[str, Any]:
    """The recorded synthetic launch as LL2 serves it, with its own id and T-0."""
    launch = load_fixture("launch-synthetic-detailed.json")
    stamp = net.strftime("%Y-%m-%dT%H:%M:%SZ")
    launch.update(
        {"id": item_id, "net": stamp, "window_start": stamp, "window_end": stamp, "vid_urls": []}
    )
    launch["webcast_live"] = False
    return launch


async def test_an_item_ll2_no_longer_lists_loses_its_event_and_comes_back_if_relisted(
    store: Store, client: discord.Client, fake: FakeDiscordEvents, clock: Clock
) -> None:
    """A complete read of LL2's upcoming list (real poller, loopback LL2 over TCP) without an
    item deletes its event; an incomplete picture (no complete read yet) deletes nothing; an
    item listed again gets its event back."""
    kept_id, dropped_id = "6a1f0c3e-0000-4000-8000-000000000001", "6a1f0c3e-0000-4000-8000-2"
    launches = [
        ll2_launch(kept_id, clock.now() + timedelta(hours=5)),
        ll2_launch(dropped_id, clock.now() + timedelta(hours=3)),
    ]
    async with serve(FakeLL2(launches=list(launches))) as ll2:
        settings = Settings.model_validate({"ll2": {"base_url": ll2.base_url}})
        ll2_client = LL2Client.create(settings.ll2, send_log=store)
        poller = Poller(store, ll2_client, settings, clock=clock.now)
        try:
            await poller.poll_upcoming()
            await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
            calendar = job(store, client, clock)
            await calendar.run()
            assert len(fake.in_guild(GUILD)) == 2

            ll2.launches = [launches[0]]  # LL2 removed the other launch
            clock.advance(timedelta(minutes=5))
            await poller.poll_upcoming()
            await calendar.run()
            [left] = fake.in_guild(GUILD)
            assert left.description is not None
            assert left.description.endswith(f"spacecast:launch:{kept_id}")
            assert fake.event_requests["DELETE"] == 1
            assert (await calendar.run()).requests == 0

            ll2.launches = list(launches)  # listed again (an LL2 editor undid the removal)
            clock.advance(timedelta(minutes=5))
            await poller.poll_upcoming()
            await calendar.run()
            assert len(fake.in_guild(GUILD)) == 2
            assert fake.stats.invalid == 0
        finally:
            await ll2_client.aclose()


async def test_an_event_a_moderator_deleted_stays_deleted_until_the_calendar_is_enabled_again(
    store: Store, client: discord.Client, fake: FakeDiscordEvents, clock: Clock
) -> None:
    """Seen by the periodic listing or by a 404 on an edit: the bot records the removal and
    creates nothing for that item; another item is unaffected; `schedule enable` brings it
    back."""
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
    await put(store, clock, falcon(clock, 180), falcon(clock, 240, "launch-2"))
    calendar = job(store, client, clock)
    await calendar.run()
    first, second = sorted(fake.in_guild(GUILD), key=lambda e: e.start)

    # A moderator deletes the first event; the bot sees it at its next listing.
    del fake.events[first.id]
    calendar.forget_sync(GUILD)
    report = await calendar.run()
    assert report.dismissed == 1
    assert fake.event_requests["POST"] == 2  # nothing recreated
    # ... and the second one is deleted while a slip edit for it is on its way: a 404.
    del fake.events[second.id]
    clock.advance(timedelta(minutes=1))
    await put(store, clock, falcon(clock, 179 + 30), falcon(clock, 239 + 60, "launch-2"))
    await calendar.run()  # the slip is seen and held for the quiet period
    clock.advance(QUIET)
    report = await calendar.run()
    assert report.dismissed == 1
    assert fake.in_guild(GUILD) == []
    for _ in range(3):
        calendar.forget_sync(GUILD)
        await calendar.run()
    assert fake.event_requests["POST"] == 2
    assert {e.status for e in (await store.calendar_entries([GUILD]))[GUILD]} == {Status.CANCELED}

    # The admin enables the calendar again: both come back.
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
    await calendar.run()
    assert len(fake.in_guild(GUILD)) == 2


class InFlight:
    """The real routes, counting the requests in flight, overall and per guild (the job's
    own concurrency)."""

    def __init__(self, client: discord.Client) -> None:
        self.inner = DiscordScheduledEvents(client, rate=None)
        self.now = 0
        self.most = 0
        self.per_guild: dict[int, int] = {}
        self.most_in_one_guild = 0

    @property
    def bot_user_id(self) -> int | None:
        return self.inner.bot_user_id

    async def _counted(self, guild_id: int, call: Awaitable[T]) -> T:
        self.now += 1
        self.per_guild[guild_id] = self.per_guild.get(guild_id, 0) + 1
        self.most = max(self.most, self.now)
        self.most_in_one_guild = max(self.most_in_one_guild, self.per_guild[guild_id])
        try:
            return await call
        finally:
            self.now -= 1
            self.per_guild[guild_id] -= 1

    async def list_events(self, guild_id: int) -> list[dict[str, Any]]:
        return await self._counted(guild_id, self.inner.list_events(guild_id))

    async def create_event(self, guild_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._counted(guild_id, self.inner.create_event(guild_id, payload))

    async def edit_event(
        self, guild_id: int, event_id: int, payload: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._counted(guild_id, self.inner.edit_event(guild_id, event_id, payload))

    async def delete_event(self, guild_id: int, event_id: int) -> None:
        await self._counted(guild_id, self.inner.delete_event(guild_id, event_id))


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_guilds_are_served_concurrently_and_each_guild_in_order(
    store: Store, clock: Clock, concurrency: int
) -> None:
    """Six guilds, two items each, over a loopback with a 30 ms round trip: up to
    ``concurrency`` requests in flight, never two for one guild, every event created once."""
    guilds = [GUILD + (n << 22) for n in range(6)]
    for guild in guilds:
        await store.save_calendar(CalendarSettings(guild_id=guild), now=clock.now())
    await put(store, clock, falcon(clock, 180), falcon(clock, 240, "launch-2"))
    async with (
        FakeDiscordEvents(clock=clock.now, latency=0.03) as slow,
        logged_in_client(slow.base_url) as slow_client,
    ):
        events = InFlight(slow_client)
        calendar = CalendarJob(
            store, events, clock=clock.now, quiet_period=QUIET, concurrency=concurrency
        )
        report = await calendar.run()
        assert report.applied == {"create": 12}
        assert slow.event_requests == {"GET": 6, "POST": 12}
        assert events.most_in_one_guild == 1
        assert events.most == concurrency
        assert all(len(slow.in_guild(g)) == 2 for g in guilds)


async def test_due_edits_left_over_by_the_request_budget_go_out_next_run(
    store: Store, client: discord.Client, fake: FakeDiscordEvents, clock: Clock
) -> None:
    """Three slips held for the quiet period, a job allowed two requests a run: the first run
    after the quiet period sends two edits, the next the third (no new quiet period)."""
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
    ids = ("launch-1", "launch-2", "launch-3")
    await put(store, clock, *(falcon(clock, 600 + 60 * n, i) for n, i in enumerate(ids)))
    calendar = job(store, client, clock, max_actions=3)
    await calendar.run()  # lists the guild and creates the three (3 requests + 1 listing)
    await calendar.run()
    assert fake.event_requests["POST"] == 3
    calendar = job(store, client, clock, max_actions=2)
    await calendar.run()  # a fresh process: lists the guild, one request left, nothing to do
    await put(store, clock, *(falcon(clock, 630 + 60 * n, i) for n, i in enumerate(ids)))
    await calendar.run()  # the slips are seen and held
    clock.advance(QUIET)
    first = await calendar.run()
    assert (first.applied, first.left) == ({"update": 2}, 1)
    clock.advance(timedelta(seconds=10))
    second = await calendar.run()
    assert second.applied == {"update": 1}
    starts = sorted(e.start for e in fake.in_guild(GUILD))
    assert starts == [clock.now() - QUIET - timedelta(seconds=10) + timedelta(minutes=630 + 60 * n)
                      for n in range(3)]  # fmt: skip


async def test_an_event_discord_started_ends_when_its_late_webcast_ends(
    store: Store, client: discord.Client, fake: FakeDiscordEvents, clock: Clock
) -> None:
    """Discord starts the event by itself at T-0; the webcast goes live only then: the job
    records that without a request, and ends the event when the webcast is over."""
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
    await put(store, clock, falcon(clock, 180))
    calendar = job(store, client, clock)
    await calendar.run()
    [event] = fake.in_guild(GUILD)
    clock.current = event.start + timedelta(minutes=2)  # Discord has started it
    await put(store, clock, falcon(clock, -2, live=True))
    await calendar.run()
    assert event.status == ACTIVE
    assert fake.event_requests["PATCH"] == 1  # the location now links the webcast; no status
    clock.advance(timedelta(minutes=20))
    await put(store, clock, falcon(clock, -22))  # the webcast is over
    await calendar.run()
    assert event.history == [ACTIVE, COMPLETED]
    assert fake.stats.invalid == 0


class RecordingBudget(SendBudget):
    """The real budget, noting for each request it paces whether it came as background."""

    def __init__(self) -> None:
        super().__init__(LocalSlots(1000.0))
        self.kinds: list[bool] = []

    async def wait(self, *, background: bool = False) -> None:
        self.kinds.append(background)
        await super().wait(background=background)


async def test_calendar_requests_reach_the_token_budget_as_background(
    store: Store, fake: FakeDiscordEvents, clock: Clock
) -> None:
    """Through discord.py's HTTP trace: the calendar's list and create take budget slots
    marked background (alerts go first); a message send from the same client does not."""
    budget = RecordingBudget()
    with routed_to(fake.base_url):
        traced = discord.Client(intents=discord.Intents.none(), http_trace=budget_trace(budget))
        await traced.login(TOKEN)
        try:
            budget.kinds.clear()  # the login's own requests
            await store.save_calendar(CalendarSettings(guild_id=GUILD), now=clock.now())
            await put(store, clock, falcon(clock, 180))
            await job(store, traced, clock).run()
            assert budget.kinds == [True, True]  # GET the guild's events, POST the new one
            await traced.get_partial_messageable(42).send("an alert")
            assert budget.kinds == [True, True, False]
        finally:
            await traced.close()
