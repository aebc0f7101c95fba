"""``schedule enable|disable|list``: the server calendar from the terminal.

The same parser and bounds as ``/spacecast schedule`` (:mod:`bot.core.schedule.options`). The
running bot picks changes up on its next tick: enabling mirrors the items, disabling deletes the
bot's events that have not started (running ones end by themselves). ``list --format json``
prints one array with an object per guild; Discord ids are strings, as Discord writes them.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from bot.cli import EXIT_FAILURE, EXIT_OK, CliError
from bot.cli.store_actions import run_action
from bot.config import Settings
from bot.core.schedule import CalendarSettings
from bot.core.schedule.options import describe_calendar, parse_calendar_options
from bot.core.subscription_options import parse_snowflake
from bot.store import Store


async def schedule(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch ``enable``, ``disable`` or ``list``."""
    actions = {"enable": _enable, "disable": _disable, "list": _list}
    return await run_action(args, settings, actions)


async def _enable(store: Store, args: argparse.Namespace) -> int:
    calendar = parse_calendar_options(
        guild=args.guild,
        sources=args.sources,
        types=args.types,
        providers=args.providers,
        horizon_days=args.horizon_days,
        max_events=args.max,
        known_types=dict(await store.list_event_types()) or None,
    )
    await store.save_calendar(calendar)
    managed = (await store.managed_counts(datetime.now(UTC))).get(calendar.guild_id, 0)
    print(describe_calendar(calendar, managed))
    return EXIT_OK


async def _disable(store: Store, args: argparse.Namespace) -> int:
    guild_id = parse_snowflake(args.guild, "--guild")
    if not await store.disable_calendar(guild_id):
        raise CliError(f"guild {guild_id} has no calendar", EXIT_FAILURE)
    print(
        f"calendar of guild {guild_id} disabled; the bot deletes its events that have not started"
    )
    return EXIT_OK


async def _list(store: Store, args: argparse.Namespace) -> int:
    guild_id = None if args.guild is None else parse_snowflake(args.guild, "--guild")
    calendars = await store.list_calendars(guild_id)
    managed = await store.managed_counts(datetime.now(UTC))
    if args.format == "json":
        rows = [_as_json(c, managed.get(c.guild_id, 0)) for c in calendars]
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not calendars:
        print("no calendars", file=sys.stderr)
        return EXIT_OK
    removed = await store.dismissed_counts()
    for calendar in calendars:
        guild = calendar.guild_id
        line = describe_calendar(calendar, managed.get(guild, 0), removed.get(guild, 0))
        print(f"guild {calendar.guild_id}: {line}")
    return EXIT_OK


def _as_json(calendar: CalendarSettings, managed: int) -> dict[str, Any]:
    def ids(values: frozenset[int] | None) -> list[int] | None:
        return None if values is None else sorted(values)

    return {
        "guild_id": str(calendar.guild_id),
        "enabled": calendar.enabled,
        "sources": sorted(s.value for s in calendar.sources),
        "event_types": ids(calendar.event_types),
        "providers": ids(calendar.providers),
        "horizon_days": calendar.horizon_days,
        "max": calendar.max_events,
        "disabled_reason": calendar.disabled_reason,
        "managed": managed,
    }
