"""Delivery tests: a real database (SQLite, and PostgreSQL when reachable), real discord.py, and
a loopback server that answers like Discord (:mod:`tests.services.delivery.fake_discord`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest

from bot.discord_ui.sender import DiscordSender
from tests.services.delivery.fake_discord import FakeDiscord, logged_in_client
from tests.services.delivery.support import Clock
from tests.store.dbutil import db_backend, db_target, store

__all__ = ["client", "clock", "db_backend", "db_target", "fake", "sender", "store"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A fake Discord on a free loopback port (global 50 req/s, 5 messages/5 s per channel)."""
    async with FakeDiscord() as server:
        yield server


@pytest.fixture
async def client(fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    """A real discord.py client logged in against the fake."""
    async with logged_in_client(fake.base_url) as logged_in:
        yield logged_in


@pytest.fixture
def sender(client: discord.Client) -> DiscordSender:
    """The production sender on the test client."""
    return DiscordSender(client)


@pytest.fixture
def clock() -> Clock:
    """Virtual wall time for the worker and the store (leases, backoff)."""
    return Clock()
