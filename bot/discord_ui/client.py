"""The Discord client: :class:`SpacecastBot`, its command tree, endpoints and command sync.

The bot answers slash commands and hands itself to :class:`BotServices` (poller, delivery,
scheduler: built by :mod:`bot.services.app`) once logged in. Commands are registered with
Discord only by ``spacecast sync-commands`` (:func:`sync_tree`), never on start: syncing is
rate limited and a restart must not depend on it.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.discord_ui.errors import NO_MENTIONS, report_failure
from bot.store import Store

log = logging.getLogger("bot.discord")


class BotServices(Protocol):
    """Background work that runs while the bot is logged in (see :mod:`bot.services.app`)."""

    async def start(self, bot: SpacecastBot) -> None:
        """Start the poller, delivery and scheduler; called once, from ``setup_hook``."""

    async def stop(self) -> None:
        """Stop them; called once, before the bot disconnects."""


class NoServices:
    """Services that do nothing: for ``sync-commands`` and tests."""

    async def start(self, bot: SpacecastBot) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""


class SpacecastTree(app_commands.CommandTree[Any]):
    """The command tree, with one last-resort error handler for every command."""

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        """Log unexpected failures with their traceback; tell the user only that it failed."""
        await report_failure(interaction, error)


def apply_endpoints(settings: Settings) -> None:
    """Point discord.py at ``discord.api_base_url`` and, if set, ``discord.gateway_url``.

    discord.py keeps both as class attributes (``Route.BASE`` serves REST and interaction
    webhooks alike; ``DiscordWebSocket.DEFAULT_GATEWAY``), so this is process-wide: call it once,
    before the bot connects. The gateway URL Discord returns from ``GET /gateway/bot`` would
    otherwise win whenever ``shard_count`` is unset: :meth:`SpacecastBot.launch_shards` handles
    that case.
    """
    discord.http.Route.BASE = settings.discord.api_base_url.rstrip("/")
    if settings.discord.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord.gateway_url)


def check_shards(settings: Settings) -> None:
    """Raise ``ValueError`` naming the key if the shard settings cannot work together."""
    count, ids = settings.discord.shard_count, settings.discord.shard_ids
    if ids is None:
        return
    if count is None:
        raise ValueError("discord.shard_ids: needs discord.shard_count as well")
    if not ids or len(set(ids)) != len(ids) or any(not 0 <= i < count for i in ids):
        raise ValueError(
            f"discord.shard_ids: must be distinct ids from 0 to {count - 1} (shard_count - 1)"
        )


def shard_options(settings: Settings) -> dict[str, Any]:
    """``shard_count``/``shard_ids`` keywords for discord.py, left out when not configured."""
    options: dict[str, Any] = {}
    if settings.discord.shard_count is not None:
        options["shard_count"] = settings.discord.shard_count
    if settings.discord.shard_ids is not None:
        options["shard_ids"] = list(settings.discord.shard_ids)
    return options


def minimal_intents() -> discord.Intents:
    """Guilds only: channels, roles and permissions. No messages, members or message content."""
    intents = discord.Intents.none()
    intents.guilds = True
    return intents


def _trace_option(services: BotServices | None) -> dict[str, Any]:
    """``http_trace`` for discord.py when the services bring one: their send budget then paces
    every REST request (see :mod:`bot.discord_ui.traffic`)."""
    trace = getattr(services, "http_trace", None)
    return {} if trace is None else {"http_trace": trace}


class SpacecastBot(commands.AutoShardedBot):
    """Spacecast's Discord client: slash commands plus whatever :class:`BotServices` runs."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None,
        services: BotServices | None = None,
    ) -> None:
        check_shards(settings)
        super().__init__(
            # Without the message content intent prefix commands cannot work; a mention prefix
            # is the harmless placeholder discord.ext.commands requires.
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=minimal_intents(),
            tree_cls=SpacecastTree,
            # Safe default for every send; alert delivery passes the subscription's role itself.
            allowed_mentions=NO_MENTIONS,
            chunk_guilds_at_startup=False,
            **shard_options(settings),
            **_trace_option(services),
        )
        self.settings = settings
        self._store = store
        self.services: BotServices = services or NoServices()
        self._services_started = False
        self._closing = False

    @property
    def store(self) -> Store:
        """The store commands read and write."""
        if self._store is None:
            raise RuntimeError("this SpacecastBot was built without a store (sync-commands only)")
        return self._store

    async def setup_hook(self) -> None:
        """Add the cogs, then start the services (once: reconnects rerun on_ready, not this)."""
        from bot.discord_ui.cogs import add_cogs

        await add_cogs(self)
        if not self._services_started:
            self._services_started = True
            await self.services.start(self)

    async def launch_shards(self) -> None:
        """Connect the shards; a configured ``discord.gateway_url`` beats Discord's answer.

        discord.py takes the gateway URL from ``GET /gateway/bot`` when ``shard_count`` is unset
        and ``DEFAULT_GATEWAY`` otherwise, so ask only for the recommended shard count here and
        let the parent connect to ``DEFAULT_GATEWAY`` (set by :func:`apply_endpoints`).
        """
        if self.settings.discord.gateway_url and self.shard_count is None:
            self.shard_count, _url, _limits = await self.http.get_bot_gateway()
        await super().launch_shards()

    async def close(self) -> None:
        """Stop the services first (they may still be sending), then disconnect."""
        if not self._closing:
            self._closing = True
            if self._services_started:
                try:
                    await self.services.stop()
                except Exception:
                    log.exception("stopping background services failed")
        await super().close()


async def sync_tree(
    bot: commands.Bot | commands.AutoShardedBot, guild_id: int | None = None
) -> list[app_commands.AppCommand]:
    """Register the command tree with Discord: globally, or to one guild for instant testing.

    A guild sync copies the global commands into that guild first (they show up at once, where
    global commands can take a while to propagate).
    """
    if guild_id is None:
        return await bot.tree.sync()
    guild = discord.Object(id=guild_id)
    bot.tree.copy_global_to(guild=guild)
    return await bot.tree.sync(guild=guild)
