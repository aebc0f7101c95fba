"""``run`` and ``sync-commands``: the Discord bot."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import signal
from collections.abc import Callable
from typing import Any, cast

import discord

from bot.cli import EXIT_FAILURE, EXIT_OK, CliError
from bot.config import Settings
from bot.discord_ui.client import (
    BotServices,
    NoServices,
    SpacecastBot,
    apply_endpoints,
    check_shards,
    sync_tree,
)
from bot.store import Store, open_store

log = logging.getLogger("bot.run")

BAD_TOKEN = "discord.token: Discord rejected the token"


def _unreachable(exc: OSError) -> CliError:
    return CliError(f"discord: cannot reach {discord.http.Route.BASE}: {exc}", EXIT_FAILURE)


def _require_token(settings: Settings) -> str:
    if settings.discord.token is None or not settings.discord.token.get_secret_value().strip():
        raise CliError(
            "discord.token: is required to run the bot "
            "(set it in the config file or SPACECAST_DISCORD__TOKEN)"
        )
    return settings.discord.token.get_secret_value()


def _check_settings(settings: Settings) -> None:
    try:
        check_shards(settings)
    except ValueError as exc:
        raise CliError(str(exc)) from None


async def build_services(settings: Settings, store: Store) -> BotServices:
    """The poller, delivery and scheduler from :mod:`bot.services.app`, or nothing if absent.

    Imported lazily: ``bot.services.app`` imports the whole application, and ``sync-commands``
    needs none of it.
    """
    try:
        app = importlib.import_module("bot.services.app")
    except ModuleNotFoundError as exc:
        if exc.name != "bot.services.app":
            raise
        log.warning("poller not wired yet (no bot.services.app): running slash commands only")
        return NoServices()
    factory = cast(Callable[[Settings, Store], Any], app.build_services)
    services = factory(settings, store)
    if inspect.isawaitable(services):
        services = await services
    return cast(BotServices, services)


def _install_signal_handlers(bot: SpacecastBot) -> Callable[[], None]:
    """Close the bot on SIGTERM (docker stop) and SIGINT (Ctrl-C); returns the undo."""
    loop = asyncio.get_running_loop()
    closing: set[asyncio.Task[None]] = set()  # keep a reference until the task finishes

    def stop(signame: str) -> None:
        log.info("%s received: shutting down", signame)
        task = loop.create_task(bot.close())
        closing.add(task)
        task.add_done_callback(closing.discard)

    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop, sig.name)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            pass

    def undo() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return undo


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the bot until SIGTERM/SIGINT."""
    token = _require_token(settings)
    _check_settings(settings)
    apply_endpoints(settings)
    store = await open_store(settings.database.url)
    try:
        services = await build_services(settings, store)
        bot = SpacecastBot(settings, store, services)
        undo_signals = _install_signal_handlers(bot)
        try:
            async with bot:
                await bot.start(token)
        except discord.LoginFailure:
            raise CliError(BAD_TOKEN) from None
        except discord.PrivilegedIntentsRequired as exc:  # not expected: only the guilds intent
            raise CliError(f"discord: privileged intents required: {exc}") from None
        except OSError as exc:
            raise _unreachable(exc) from None
        finally:
            undo_signals()
    finally:
        await store.close()
    log.info("stopped")
    return EXIT_OK


async def sync_commands(args: argparse.Namespace, settings: Settings) -> int:
    """Register the slash command tree globally or to one guild."""
    token = _require_token(settings)
    _check_settings(settings)
    guild_id = settings.discord.test_guild_id
    if getattr(args, "guild", None):
        try:
            guild_id = int(args.guild)
        except ValueError:
            raise CliError(f"--guild: {args.guild!r} is not a Discord id") from None
        if guild_id <= 0:
            raise CliError(f"--guild: {guild_id} is not a Discord id")
    apply_endpoints(settings)
    # The tree needs no database and no gateway: log in over REST, sync, log out.
    bot = SpacecastBot(settings, store=None)
    try:
        async with bot:
            await bot.login(token)
            synced = await sync_tree(bot, guild_id)
    except discord.LoginFailure:
        raise CliError(BAD_TOKEN) from None
    except discord.Forbidden as exc:
        where = f"guild {guild_id}" if guild_id else "globally"
        raise CliError(f"sync-commands: Discord refused to sync {where}: {exc.text}") from None
    except OSError as exc:
        raise _unreachable(exc) from None
    where = f"to guild {guild_id} (available at once)" if guild_id else "globally"
    names = ", ".join(sorted(c.name for c in synced))
    print(f"synced {len(synced)} commands {where}: {names}")
    if not guild_id:
        print("global commands can take up to an hour to appear in every server")
    return EXIT_OK
