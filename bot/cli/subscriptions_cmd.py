"""``subscriptions add|list|remove``: manage subscriptions from the terminal."""

from __future__ import annotations

import argparse

from bot.cli import CliError
from bot.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Attach the ``add``/``list``/``remove`` subcommands."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="subscribe a channel")
    add.add_argument("--guild", required=True, metavar="ID")
    add.add_argument("--channel", required=True, metavar="ID")
    add.add_argument("--sources", default="events,launches")
    add.add_argument("--types", default="all", help="all, or event type ids: 2,3")
    add.add_argument("--providers", default="all", help="all, or agency ids: 121,...")
    add.add_argument("--kinds", default="all", help="all, or webcast_live,date_changed,...")
    add.add_argument("--role", metavar="ID", help="role to mention")
    lst = actions.add_parser("list", help="list subscriptions")
    lst.add_argument("--guild", metavar="ID")
    lst.add_argument("--format", choices=("text", "json"), default="text")
    rm = actions.add_parser("remove", help="remove a subscription")
    rm.add_argument("id", metavar="ID")


async def subscriptions(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch ``add``, ``list`` or ``remove``."""
    raise CliError("subscriptions: not implemented yet")
