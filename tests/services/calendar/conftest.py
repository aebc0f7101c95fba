"""Calendar tests: real databases, real discord.py, and the loopback Discord with scheduled
events (:mod:`tests.services.calendar.fake_events`) on one virtual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest

from tests.services.calendar.fake_events import FakeDiscordEvents
from tests.services.delivery.fake_discord import logged_in_client
from tests.services.delivery.support import Clock
from tests.store.dbutil import db_backend, db_target, store

__all__ = ["client", "clock", "db_backend", "db_target", "fake", "store"]


@pytest.fixture
def clock() -> Clock:
    """The virtual clock shared by the job and the fake Discord."""
    return Clock()


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeDiscordEvents]:
    """A fake Discord with scheduled events, on the virtual clock."""
    async with FakeDiscordEvents(clock=clock.now) as server:
        yield server


@pytest.fixture
async def client(fake: FakeDiscordEvents) -> AsyncIterator[discord.Client]:
    """A real discord.py client logged in against the fake."""
    async with logged_in_client(fake.base_url) as logged_in:
        yield logged_in
