"""The real SpacecastBot on a real SQLite store, run against SimCord's in-memory Discord.

``simcord_bot`` is the fixture SimCord's pytest plugin asks for; ``world`` then syncs the command
tree exactly as ``spacecast sync-commands`` does, seeds the store from the recorded LL2 fixtures
(dates moved after SimCord's virtual clock) and builds a server with an admin and a member.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest
from simcord import ChannelHandle, Env, GuildHandle, MemberActor

from bot.config import Settings
from bot.core.models import Event, Launch
from bot.core.snapshot import Snapshot, as_utc_iso, snapshot_from_event, snapshot_from_launch
from bot.discord_ui import SpacecastBot, sync_tree
from bot.store import Store, open_store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EVENT_TYPES = [(2, "Docking"), (3, "EVA"), (8, "Undocking"), (9, "Landing"), (20, "Press Event")]
EVENT_NAME = "SpaceX AX-4 Crew Dragon Docking"
LAUNCH_NAME = "Falcon 9 Block 5 | Starlink Group 10-99"
LAUNCH_ID = "4f8e2b6d-1c3a-4e7b-9d25-6a0c8b3f5e91"


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def upcoming_event(date: datetime, **changes: Any) -> Snapshot:
    """Real event 1201 (Docking, 3 webcasts, 10 updates) with its date moved to ``date``."""
    raw = copy.deepcopy(_fixture("event-1201-detailed.json"))
    raw.update({"date": as_utc_iso(date), **changes})
    return snapshot_from_event(Event.model_validate(raw))


def upcoming_launch(net: datetime, **changes: Any) -> Snapshot:
    """The synthetic detailed launch (SpaceX, Go) with its NET and window moved to ``net``."""
    raw = copy.deepcopy(_fixture("launch-synthetic-detailed.json"))
    raw.update(
        {
            "net": as_utc_iso(net),
            "window_start": as_utc_iso(net),
            "window_end": as_utc_iso(net + timedelta(hours=2)),
            **changes,
        }
    )
    return snapshot_from_launch(Launch.model_validate(raw))


@dataclass
class RecordingServices:
    """BotServices that remember being started and stopped (and whether the bot was open)."""

    started: list[discord.Client] = field(default_factory=list)
    stopped_while_open: list[bool] = field(default_factory=list)
    bot: discord.Client | None = None

    async def start(self, bot: discord.Client) -> None:
        """Record the start."""
        self.bot = bot
        self.started.append(bot)

    async def stop(self) -> None:
        """Record the stop and whether the bot had not closed yet."""
        assert self.bot is not None
        self.stopped_while_open.append(not self.bot.is_closed())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for one shard (SimCord needs a shard count for an AutoShardedBot)."""
    return Settings(
        discord={"shard_count": 1},
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'spacecast.db'}"},
    )


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    """A migrated, empty SQLite store in ``tmp_path``."""
    opened = await open_store(settings.database.url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def services() -> RecordingServices:
    """Services that only record their lifecycle."""
    return RecordingServices()


@pytest.fixture
def simcord_bot(settings: Settings, store: Store, services: RecordingServices) -> SpacecastBot:
    """The production bot class, unmodified (SimCord logs it in and runs setup_hook)."""
    return SpacecastBot(settings, store, services)


@dataclass
class World:
    """A running bot, its store, and a server to use it in."""

    env: Env
    bot: SpacecastBot
    store: Store
    now: datetime
    guild: GuildHandle
    channel: ChannelHandle
    admin: MemberActor
    member: MemberActor
    command_ids: dict[str, int]

    def bot_member(self) -> discord.Member:
        """The bot's own member object in the guild (for permission overwrites)."""
        guild = self.bot.get_guild(self.guild.id)
        assert guild is not None
        assert guild.me is not None
        return guild.me


async def seed(store: Store, now: datetime) -> tuple[Snapshot, Snapshot]:
    """The fixture event in two days and the fixture launch tomorrow, plus event types."""
    event = upcoming_event(now + timedelta(days=2))
    launch = upcoming_launch(now + timedelta(days=1))
    await store.save_snapshots([event, launch], seen_at=now)
    await store.save_event_types(EVENT_TYPES, at=now)
    return event, launch


@pytest.fixture
async def world(simcord_env: Env, store: Store) -> World:
    """Commands synced (globally, as in production), store seeded, a server with two members."""
    bot = simcord_env.bot
    assert isinstance(bot, SpacecastBot)
    synced = await sync_tree(bot)
    now = simcord_env.now()
    await seed(store, now)
    guild = simcord_env.create_guild("Space Fans")
    channel = guild.create_text_channel("launch-alerts")
    mods = guild.create_role("Mods", permissions=discord.Permissions(manage_guild=True))
    admin = guild.add_member(simcord_env.create_user("ada"), roles=[mods])
    member = guild.add_member(simcord_env.create_user("bob"))
    await simcord_env.settle()
    return World(
        env=simcord_env,
        bot=bot,
        store=store,
        now=now,
        guild=guild,
        channel=channel,
        admin=admin,
        member=member,
        command_ids={c.name: c.id for c in synced},
    )
