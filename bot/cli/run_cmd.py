"""``run`` and ``sync-commands``: the Discord bot."""

from __future__ import annotations

import argparse

from bot.cli import CliError
from bot.config import Settings


def _require_token(settings: Settings) -> str:
    if settings.discord.token is None or not settings.discord.token.get_secret_value().strip():
        raise CliError(
            "discord.token: is required to run the bot "
            "(set it in the config file or SPACECAST_DISCORD__TOKEN)"
        )
    return settings.discord.token.get_secret_value()


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the bot until SIGTERM/SIGINT."""
    _require_token(settings)
    raise CliError("run: not implemented yet")


async def sync_commands(args: argparse.Namespace, settings: Settings) -> int:
    """Register the slash command tree globally or to one guild."""
    _require_token(settings)
    raise CliError("sync-commands: not implemented yet")
