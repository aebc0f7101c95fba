"""``subscriptions add|list|edit|remove``: manage subscriptions from the terminal.

The same parser and rules as the slash commands (:mod:`bot.core.subscription_options`), so an
option the terminal accepts, Discord accepts too. Output is meant for scripts as much as for
people: ``add`` prints only the new ids (one a line, in ``--channel`` order), ``list --format
json`` prints one JSON array (Discord ids as strings, as Discord's own API writes them, so no
JSON reader rounds them).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bot.cli import EXIT_FAILURE, EXIT_OK, CliError
from bot.cli.store_actions import run_action
from bot.config import Settings
from bot.core.reminders import describe_offsets
from bot.core.subscription_options import (
    describe_subscription,
    parse_reminders,
    parse_snowflake,
    parse_style,
    parse_subscription_options,
)
from bot.core.subscriptions import Subscription, duplicate_of
from bot.store import Store


async def subscriptions(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch ``add``, ``list``, ``edit`` or ``remove``."""
    actions = {"add": _add, "list": _list, "edit": _edit, "remove": _remove}
    return await run_action(args, settings, actions)


async def _add(store: Store, args: argparse.Namespace) -> int:
    known = dict(await store.list_event_types())
    # Every channel is checked before any is stored: one bad or repeated id refuses the call.
    options = [
        parse_subscription_options(
            guild=args.guild,
            channel=channel,
            sources=args.sources,
            types=args.types,
            providers=args.providers,
            kinds=args.kinds,
            role=args.role,
            reminders=args.reminders,
            style=args.style,
            # Before the first poll the cache is empty: accept the ids rather than refuse them all.
            known_types=known or None,
        )
        for channel in _channels(args.channel)
    ]
    seen: set[int] = set()
    for option in options:
        if option.channel_id in seen:
            raise CliError(f"--channel: {option.channel_id} is given twice")
        seen.add(option.channel_id)
    if not known and options[0].event_types is not None:
        print(
            "warning: event types are not loaded yet (the bot has not polled); "
            "--types ids were not checked",
            file=sys.stderr,
        )
    drafts = [option.to_subscription(0) for option in options]
    nothing_added = "; nothing added" if len(drafts) > 1 else ""
    async with store.transaction() as tx:
        existing = await tx.list_subscriptions(options[0].guild_id)
        for draft in drafts:
            if (twin := duplicate_of(draft, existing)) is not None:
                raise CliError(
                    f"channel {draft.channel_id} already has this subscription (#{twin.id})"
                    + nothing_added,
                    EXIT_FAILURE,
                )
        added = [await tx.insert_subscription(draft) for draft in drafts]
    for sub in added:
        print(sub.id)
    return EXIT_OK


def _channels(values: list[str]) -> list[str]:
    """The channel ids of every ``--channel`` (repeatable, each one id or a comma list)."""
    channels = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not channels:
        raise CliError("--channel: empty; give a channel id (several: 1,2 or --channel again)")
    return channels


async def _list(store: Store, args: argparse.Namespace) -> int:
    guild_id = None if args.guild is None else parse_snowflake(args.guild, "--guild")
    subs = await store.list_subscriptions(guild_id)
    if args.format == "json":
        print(json.dumps([_as_json(s) for s in subs], indent=2))
        return EXIT_OK
    if not subs:
        print("no subscriptions", file=sys.stderr)
        return EXIT_OK
    names = dict(await store.list_event_types())
    for sub in subs:
        line = describe_subscription(sub, names)
        # Without --guild the listing spans servers: say which one each line belongs to.
        print(line if guild_id is not None else f"{line}; guild {sub.guild_id}")
    return EXIT_OK


async def _edit(store: Store, args: argparse.Namespace) -> int:
    sub_id = _subscription_id(args.id)
    if args.reminders is None and args.style is None:
        raise CliError("edit: give --reminders and/or --style")
    changes: dict[str, Any] = {}
    if args.reminders is not None:
        changes["reminders"] = parse_reminders(args.reminders, "--reminders")
    if args.style is not None:
        changes["style"] = parse_style(args.style, "--style")
    updated = await store.update_subscription(sub_id, **changes)
    if updated is None:
        raise CliError(f"no subscription #{sub_id}", EXIT_FAILURE)
    if "reminders" in changes:
        print(f"subscription #{sub_id} reminders: {describe_offsets(updated.reminders)}")
    if "style" in changes:
        print(f"subscription #{sub_id} style: {updated.style.value}")
    return EXIT_OK


def _subscription_id(raw: str) -> int:
    text = str(raw).strip().lstrip("#")
    if not (text.isascii() and text.isdigit()) or int(text) == 0 or int(text) >= 2**31:
        raise CliError(f"ID: {raw!r} is not a subscription id (see 'subscriptions list')")
    return int(text)


async def _remove(store: Store, args: argparse.Namespace) -> int:
    text = str(args.id).strip().lstrip("#")
    if not (text.isascii() and text.isdigit()) or int(text) == 0 or int(text) >= 2**31:
        raise CliError(f"ID: {args.id!r} is not a subscription id (see 'subscriptions list')")
    sub_id = int(text)
    if not await store.remove_subscription(sub_id):
        raise CliError(f"no subscription #{sub_id}", EXIT_FAILURE)
    print(f"removed subscription #{sub_id}")
    return EXIT_OK


def _as_json(sub: Subscription) -> dict[str, Any]:
    def ids(values: frozenset[int] | None) -> list[int] | None:
        return None if values is None else sorted(values)

    return {
        "id": sub.id,
        "guild_id": str(sub.guild_id),
        "channel_id": str(sub.channel_id),
        "sources": sorted(s.value for s in sub.sources),
        "event_types": ids(sub.event_types),
        "providers": ids(sub.providers),
        "kinds": sorted(k.value for k in sub.kinds),
        "role_id": None if sub.role_id is None else str(sub.role_id),
        "enabled": sub.enabled,
        "disabled_reason": sub.disabled_reason,
        "reminders": list(sub.reminders),  # minutes before T-0, largest first
        "style": sub.style.value,  # feed | card
    }
