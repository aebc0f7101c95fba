"""``spacecast run`` and ``spacecast sync-commands`` against a loopback Discord REST server."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import types
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.cli import EXIT_OK, CliError
from bot.cli.run_cmd import BAD_TOKEN, run, sync_commands
from bot.config import Settings
from bot.discord_ui import SpacecastBot
from tests.discord_ui.conftest import RecordingServices
from tests.discord_ui.fake_discord import APPLICATION_ID, GOOD_TOKEN, FakeDiscord, fake_discord

GUILD = 1_400_000_000_000_000_001


@pytest.fixture(autouse=True)
def restore_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """apply_endpoints changes discord.py class attributes: put them back after each test."""
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    gateway = discord.gateway.DiscordWebSocket
    monkeypatch.setattr(gateway, "DEFAULT_GATEWAY", gateway.DEFAULT_GATEWAY)


@pytest.fixture
async def server() -> AsyncIterator[FakeDiscord]:
    """A fresh fake Discord."""
    async with fake_discord() as state:
        yield state


def make_settings(server: FakeDiscord, tmp_path: Path, **discord_keys: Any) -> Settings:
    """Settings pointing at the fake Discord and a temporary database."""
    return Settings(
        discord={"token": GOOD_TOKEN, "api_base_url": server.url, **discord_keys},
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'spacecast.db'}"},
    )


def synced_names(server: FakeDiscord) -> list[str]:
    """Names of the commands in the last PUT."""
    [put] = [r for r in server.requests if r.method == "PUT"]
    return sorted(command["name"] for command in put.body)


async def test_sync_commands_registers_the_tree_globally(
    server: FakeDiscord, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a guild the tree goes to the global commands, and the count is printed."""
    settings = make_settings(server, tmp_path)
    assert await sync_commands(argparse.Namespace(guild=None), settings) == EXIT_OK
    assert server.paths("PUT") == [f"/api/v10/applications/{APPLICATION_ID}/commands"]
    assert synced_names(server) == ["event", "next", "spacecast"]
    assert capsys.readouterr().out.startswith("synced 3 commands globally")
    assert not (tmp_path / "spacecast.db").exists()  # syncing needs no database


async def test_sync_commands_to_one_guild(
    server: FakeDiscord, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--guild`` copies the global commands into that guild (instant, for testing)."""
    settings = make_settings(server, tmp_path, test_guild_id=999)
    assert await sync_commands(argparse.Namespace(guild=str(GUILD)), settings) == EXIT_OK
    path = f"/api/v10/applications/{APPLICATION_ID}/guilds/{GUILD}/commands"
    assert server.paths("PUT") == [path]
    assert synced_names(server) == ["event", "next", "spacecast"]
    assert f"synced 3 commands to guild {GUILD}" in capsys.readouterr().out


async def test_sync_commands_defaults_to_the_test_guild(
    server: FakeDiscord, tmp_path: Path
) -> None:
    """``discord.test_guild_id`` is the guild when ``--guild`` is not given."""
    settings = make_settings(server, tmp_path, test_guild_id=GUILD)
    await sync_commands(argparse.Namespace(guild=None), settings)
    assert server.paths("PUT") == [
        f"/api/v10/applications/{APPLICATION_ID}/guilds/{GUILD}/commands"
    ]


async def test_a_rejected_token_is_one_line_and_exit_2(server: FakeDiscord, tmp_path: Path) -> None:
    """Discord's 401 becomes the operator's one-line error, for both commands."""
    settings = make_settings(server, tmp_path, token="not-the-token")
    with pytest.raises(CliError) as synced:
        await sync_commands(argparse.Namespace(guild=None), settings)
    with pytest.raises(CliError) as ran:
        await run(argparse.Namespace(), settings)
    assert str(synced.value) == str(ran.value) == BAD_TOKEN
    assert synced.value.code == ran.value.code == 2


async def test_bad_guild_option_is_refused(server: FakeDiscord, tmp_path: Path) -> None:
    """``--guild`` must be a Discord id."""
    with pytest.raises(CliError, match="--guild: 'abc' is not a Discord id"):
        await sync_commands(argparse.Namespace(guild="abc"), make_settings(server, tmp_path))


async def test_shard_ids_without_a_count_are_refused(server: FakeDiscord, tmp_path: Path) -> None:
    """discord.shard_ids alone cannot work; the key is named."""
    settings = make_settings(server, tmp_path, shard_ids=[0])
    with pytest.raises(CliError, match=r"discord\.shard_ids: needs discord\.shard_count"):
        await run(argparse.Namespace(), settings)


async def test_run_starts_services_and_stops_cleanly_on_sigterm(
    server: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM closes the bot: services stop first, then the store closes and run returns 0."""
    services = RecordingServices()
    fake_app = types.ModuleType("bot.services.app")
    fake_app.build_services = lambda settings, store: services  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bot.services.app", fake_app)

    closed = asyncio.Event()
    close = SpacecastBot.close

    async def close_and_flag(self: SpacecastBot) -> None:
        await close(self)
        closed.set()

    async def start_without_gateway(self: SpacecastBot, token: str, **_: Any) -> None:
        await self.login(token)  # runs setup_hook, which starts the services
        os.kill(os.getpid(), signal.SIGTERM)
        await closed.wait()  # as connect() would return once the bot is closed

    monkeypatch.setattr(SpacecastBot, "close", close_and_flag)
    monkeypatch.setattr(SpacecastBot, "start", start_without_gateway)
    settings = make_settings(server, tmp_path)
    assert await asyncio.wait_for(run(argparse.Namespace(), settings), 10) == EXIT_OK
    assert len(services.started) == 1
    assert services.stopped_while_open == [True]
    assert server.paths("GET") == ["/api/v10/users/@me", "/api/v10/oauth2/applications/@me"]


async def test_run_without_bot_app_warns_and_serves_commands_only(
    server: FakeDiscord,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Until the composition root exists the bot still runs, and says what is missing."""
    monkeypatch.setitem(sys.modules, "bot.services.app", None)  # import of bot.services.app fails

    async def login_then_close(self: SpacecastBot, token: str, **_: Any) -> None:
        await self.login(token)
        await self.close()

    monkeypatch.setattr(SpacecastBot, "start", login_then_close)
    with caplog.at_level(logging.WARNING, logger="bot.run"):
        assert await run(argparse.Namespace(), make_settings(server, tmp_path)) == EXIT_OK
    assert "poller not wired yet" in caplog.text
