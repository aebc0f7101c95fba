"""``watch``: poll LL2 and print alerts to the terminal."""

from __future__ import annotations

import argparse

from bot.cli import CliError
from bot.config import Settings


async def watch(args: argparse.Namespace, settings: Settings) -> int:
    """Run poll cycles and print every change."""
    raise CliError("watch: not implemented yet")
