"""Command-line entry point.

argparse (standard library) rather than click or typer: the CLI is a handful of subcommands,
and argparse needs no dependency, is fully typed, and lets us own every error line and exit code
(2 for usage and configuration errors) instead of fighting a framework's formatting.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from bot import __version__
from bot.config import ConfigError, Settings, load_settings
from bot.logging_setup import setup_logging

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """An operator-facing failure: printed as one line, exit code attached."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _config_option(default: object) -> argparse.ArgumentParser:
    """A parent parser holding ``--config``, so every level of the command line accepts it."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="YAML config file (default: $SPACECAST_CONFIG, else ./config.yaml if present)",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by tests and the README's CLI reference)."""
    parser = argparse.ArgumentParser(
        prog="spacecast",
        description="Spacecast: spaceflight webcast, date, update and status alerts from LL2.",
        parents=[_config_option(None)],
    )
    # Below the top level the default is SUPPRESS: a subparser writes its defaults over the
    # namespace its parent filled, so a None there would erase a --config given further left
    # (``subscriptions --config X list``).
    common = [_config_option(argparse.SUPPRESS)]
    parser.add_argument("--version", action="version", version=f"spacecast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser(
        "run", parents=common, help="run the Discord bot (poller, delivery, slash commands)"
    )

    watch = sub.add_parser(
        "watch", parents=common, help="poll LL2 and print alerts to the terminal"
    )
    watch.add_argument("--once", action="store_true", help="run exactly one poll cycle, then exit")
    watch.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    watch.add_argument(
        "--reminders",
        default=None,
        metavar="OFFSETS",
        help="also print T-minus reminders at these offsets, e.g. 10m,1m (none without it)",
    )

    sub.add_parser(
        "check-config", parents=common, help="validate the config and print effective settings"
    )

    sync = sub.add_parser(
        "sync-commands", parents=common, help="register slash commands with Discord"
    )
    sync.add_argument("--guild", metavar="ID", help="sync to one guild only (instant; for testing)")

    sub.add_parser("health", parents=common, help="exit 0 if the running bot's heartbeat is fresh")

    subs = sub.add_parser(
        "subscriptions", parents=common, help="manage channel subscriptions from the terminal"
    )
    _add_subscriptions_arguments(subs, common)

    calendar = sub.add_parser(
        "schedule", parents=common, help="the server calendar (Discord scheduled events)"
    )
    _add_schedule_arguments(calendar, common)
    return parser


def _add_schedule_arguments(
    parser: argparse.ArgumentParser, parents: Sequence[argparse.ArgumentParser]
) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    enable = actions.add_parser("enable", parents=parents, help="mirror LL2 into a server's Events")
    enable.add_argument("--guild", required=True, metavar="ID")
    enable.add_argument("--sources", default="events,launches")
    enable.add_argument("--types", default="all", help="all, or event type ids: 2,3")
    enable.add_argument("--providers", default="all", help="all, or agency ids: 121,...")
    enable.add_argument("--horizon-days", default="7", metavar="N", help="days ahead, 1-30")
    enable.add_argument("--max", default="10", metavar="N", help="events at once, 1-50")
    disable = actions.add_parser("disable", parents=parents, help="stop a server's calendar")
    disable.add_argument("--guild", required=True, metavar="ID")
    lst = actions.add_parser("list", parents=parents, help="list server calendars")
    lst.add_argument("--guild", metavar="ID")
    lst.add_argument("--format", choices=("text", "json"), default="text")


def _add_subscriptions_arguments(
    parser: argparse.ArgumentParser, parents: Sequence[argparse.ArgumentParser]
) -> None:
    # Defined here, not in subscriptions_cmd, so building the parser imports no store code.
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=parents, help="subscribe a channel")
    add.add_argument("--guild", required=True, metavar="ID")
    add.add_argument(
        "--channel",
        required=True,
        action="append",
        metavar="ID[,ID...]",
        help="channel to subscribe; repeat it or give a comma list for several",
    )
    add.add_argument("--sources", default="events,launches")
    add.add_argument("--types", default="all", help="all, or event type ids: 2,3")
    add.add_argument("--providers", default="all", help="all, or agency ids: 121,...")
    add.add_argument("--kinds", default="all", help="all, or webcast_live,date_changed,...")
    add.add_argument("--role", metavar="ID", help="role to mention")
    add.add_argument("--reminders", metavar="OFFSETS", help="T-minus reminders: 24h,1h,10m")
    add.add_argument(
        "--style", metavar="STYLE", help="feed (default: a message per alert) or card (live card)"
    )
    lst = actions.add_parser("list", parents=parents, help="list subscriptions")
    lst.add_argument("--guild", metavar="ID")
    lst.add_argument("--format", choices=("text", "json"), default="text")
    edit = actions.add_parser(
        "edit", parents=parents, help="change a subscription's reminders or style"
    )
    edit.add_argument("id", metavar="ID")
    edit.add_argument("--reminders", metavar="OFFSETS", help="24h,1h,10m, or none to clear")
    edit.add_argument("--style", metavar="STYLE", help="feed or card")
    rm = actions.add_parser("remove", parents=parents, help="remove a subscription")
    rm.add_argument("id", metavar="ID")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    secrets = [s.get_secret_value() for s in (settings.discord.token, settings.ll2.api_key) if s]
    setup_logging(settings.logging.level, settings.logging.format, secrets=secrets)
    return settings


def _dispatch(args: argparse.Namespace) -> int:
    settings = _settings(args)
    # Each command imports only its own module: discord.py, the poller (httpx, prometheus) and
    # the store (SQLAlchemy) each cost a good part of a second, and a script running
    # `subscriptions add` forty times should not load the Discord bot forty times.
    command: str = args.command
    if command == "check-config":
        from bot.cli.check_config_cmd import check_config

        return check_config(args, settings)
    if command == "health":
        from bot.cli.health_cmd import health

        return health(args, settings)
    import asyncio  # only the commands below need an event loop

    job: Coroutine[Any, Any, int]
    if command == "subscriptions":
        from bot.cli.subscriptions_cmd import subscriptions

        job = subscriptions(args, settings)
    elif command == "schedule":
        from bot.cli.schedule_cmd import schedule

        job = schedule(args, settings)
    elif command == "watch":
        from bot.cli.watch_cmd import watch

        job = watch(args, settings)
    else:
        from bot.cli.run_cmd import run, sync_commands

        job = (run if command == "run" else sync_commands)(args, settings)
    try:
        return asyncio.run(job)
    except KeyboardInterrupt:
        return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run one subcommand, turn operator errors into one line and an exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
