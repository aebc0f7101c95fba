"""SpacecastBot: intents, services lifecycle, endpoints, shards and the last-resort handler."""

from __future__ import annotations

import logging
from typing import Any

import discord
import pytest
import yarl
from simcord import assert_error, assert_responded

from bot.config import Settings
from bot.discord_ui import SpacecastBot, apply_endpoints
from bot.discord_ui.client import check_shards
from bot.discord_ui.errors import GENERIC_FAILURE
from bot.store import Store
from tests.discord_ui.conftest import RecordingServices, World


@pytest.fixture
def restore_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """apply_endpoints changes discord.py class attributes: put them back afterwards."""
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    gateway = discord.gateway.DiscordWebSocket
    monkeypatch.setattr(gateway, "DEFAULT_GATEWAY", gateway.DEFAULT_GATEWAY)


def test_intents_are_minimal(simcord_bot: SpacecastBot) -> None:
    """Guilds only: no message content, no members, no presences (nothing privileged)."""
    assert simcord_bot.intents == discord.Intents(guilds=True)
    assert not simcord_bot.intents.message_content


async def test_setup_hook_starts_the_services_once(world: World) -> None:
    """Logging in (SimCord runs the real login) started the services with the bot itself."""
    services = world.bot.services
    assert isinstance(services, RecordingServices)
    assert services.started == [world.bot]


async def test_close_stops_services_before_disconnecting(settings: Settings, store: Store) -> None:
    """Services stop while the client is still open (delivery may be mid-send), exactly once."""
    services = RecordingServices()
    bot = SpacecastBot(settings, store, services)
    async with bot:  # leaving the block closes the bot a second time
        await bot.setup_hook()
        await bot.close()
    assert services.stopped_while_open == [True]
    assert bot.is_closed()


@pytest.mark.usefixtures("restore_endpoints")
def test_apply_endpoints_sets_rest_and_gateway_urls() -> None:
    """Both URLs reach discord.py (REST for API calls and interaction webhooks alike)."""
    settings = Settings(
        discord={"api_base_url": "http://127.0.0.1:9/api/v10/", "gateway_url": "ws://127.0.0.1:9/"}
    )
    apply_endpoints(settings)
    assert discord.http.Route.BASE == "http://127.0.0.1:9/api/v10"
    assert yarl.URL("ws://127.0.0.1:9/") == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


@pytest.mark.usefixtures("restore_endpoints")
async def test_configured_gateway_beats_discords_answer(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without shard_count, Discord's shard count is used but not its gateway URL."""
    settings = Settings(discord={"gateway_url": "ws://127.0.0.1:9/"})
    apply_endpoints(settings)
    bot = SpacecastBot(settings, store)
    launched: list[tuple[yarl.URL, int]] = []

    async def get_bot_gateway(*_: Any, **__: Any) -> tuple[int, str, dict[str, Any]]:
        return 2, "wss://gateway.discord.gg", {}

    async def launch_shard(gateway: yarl.URL, shard_id: int, *, initial: bool = False) -> None:
        launched.append((gateway, shard_id))

    monkeypatch.setattr(bot.http, "get_bot_gateway", get_bot_gateway)
    monkeypatch.setattr(bot, "launch_shard", launch_shard)
    await bot.launch_shards()
    assert bot.shard_count == 2
    assert launched == [(yarl.URL("ws://127.0.0.1:9/"), 0), (yarl.URL("ws://127.0.0.1:9/"), 1)]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"shard_ids": [0]}, "needs discord.shard_count"),
        ({"shard_count": 2, "shard_ids": [2]}, "from 0 to 1"),
        ({"shard_count": 2, "shard_ids": [1, 1]}, "distinct"),
    ],
)
def test_bad_shard_settings_name_the_key(keys: dict[str, Any], message: str) -> None:
    """Shard settings that cannot work are refused before discord.py sees them."""
    with pytest.raises(ValueError, match=rf"discord\.shard_ids: .*{message}"):
        check_shards(Settings(discord=keys))


async def test_unexpected_failure_is_logged_not_shown(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash becomes a generic ephemeral answer; the traceback goes to the log only."""

    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("database file is corrupt at page 7")

    monkeypatch.setattr(world.store, "upcoming", broken)
    with caplog.at_level(logging.ERROR, logger="bot.discord"):
        result = await world.member.slash(world.channel, "next")
    assert_responded(result, content="❌ " + GENERIC_FAILURE, ephemeral=True)
    assert_error(world.env, RuntimeError, contains="corrupt at page 7")
    [record] = [r for r in caplog.records if r.name == "bot.discord"]
    assert record.getMessage() == "command /next failed"
    assert record.exc_info is not None


async def test_failure_after_deferring_still_gets_an_answer(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the command had already deferred, the generic answer replaces "thinking"."""

    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("connection reset")

    monkeypatch.setattr(world.store, "list_subscriptions", broken)
    result = await world.admin.slash(world.channel, "spacecast list")
    callbacks = [r.json for r in world.env.http_requests if r.path.endswith("/callback")]
    assert callbacks == [{"type": 5, "data": {"flags": 64}}]  # deferred, ephemeral
    assert_responded(result, content="❌ " + GENERIC_FAILURE, ephemeral=True)
    assert_error(world.env, RuntimeError, contains="connection reset")
