"""Run one store-backed CLI action: the shared frame of ``subscriptions`` and ``schedule``.

Opening the store and reading the options fail in the same few ways for every such command;
this module turns them into the CLI's one-line errors (exit 2 for a bad option or a database
from a newer Spacecast, exit 1 when the database cannot be opened) and always closes the store.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Mapping

from bot.cli import EXIT_FAILURE, CliError
from bot.config import Settings
from bot.core.subscription_options import OptionError
from bot.store import SchemaTooNewError, Store, open_store

Action = Callable[[Store, argparse.Namespace], Awaitable[int]]


async def run_action(
    args: argparse.Namespace, settings: Settings, actions: Mapping[str, Action]
) -> int:
    """Open the store, run ``actions[args.action]`` on it, close it; return the exit code."""
    try:
        store = await open_store(settings.database.url)
    except SchemaTooNewError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot open the database: {exc}", EXIT_FAILURE) from None
    try:
        return await actions[args.action](store, args)
    except OptionError as exc:
        raise CliError(str(exc)) from None
    finally:
        await store.close()
