"""The calendar's options as the terminal and the slash command take them, checked together.

Sources, types and providers use the subscription parsers (one rule set for both features);
``horizon`` and ``max`` are whole numbers within their bounds. Errors name the option, with
``prefix`` ``"--"`` on the terminal and ``""`` in Discord.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.schedule.settings import (
    DEFAULT_HORIZON_DAYS,
    DEFAULT_MAX_EVENTS,
    MAX_HORIZON_DAYS,
    MAX_MAX_EVENTS,
    MIN_HORIZON_DAYS,
    MIN_MAX_EVENTS,
    CalendarSettings,
)
from bot.core.snapshot import Source
from bot.core.subscription_options import (
    OptionError,
    parse_id_list,
    parse_snowflake,
    parse_sources,
)


def parse_bounded(value: str | int, what: str, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` (a string from the terminal, an int from Discord)."""
    text = str(value).strip()
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise OptionError(f"{what}: {text[:20]!r} is not a whole number ({low}-{high})")
    number = int(text)
    if not low <= number <= high:
        raise OptionError(f"{what}: {number} is out of range ({low}-{high})")
    return number


def parse_calendar_options(
    *,
    guild: str,
    sources: str = "events,launches",
    types: str = "all",
    providers: str = "all",
    horizon_days: str | int = DEFAULT_HORIZON_DAYS,
    max_events: str | int = DEFAULT_MAX_EVENTS,
    known_types: Mapping[int, str] | None = None,
    prefix: str = "--",
    horizon_name: str = "horizon-days",
) -> CalendarSettings:
    """Parse ``schedule enable`` (or ``/spacecast schedule enable``) into enabled settings."""
    guild_id = parse_snowflake(guild, f"{prefix}guild")
    parsed_sources = parse_sources(sources)
    event_types = parse_id_list(types, f"{prefix}types", known_types)
    provider_ids = parse_id_list(providers, f"{prefix}providers")
    if event_types is not None and Source.EVENT not in parsed_sources:
        raise OptionError(f"{prefix}types filters events, but {prefix}sources leaves them out")
    if provider_ids is not None and Source.LAUNCH not in parsed_sources:
        raise OptionError(
            f"{prefix}providers filters launches, but {prefix}sources leaves them out"
        )
    return CalendarSettings(
        guild_id=guild_id,
        sources=parsed_sources,
        event_types=event_types,
        providers=provider_ids,
        horizon_days=parse_bounded(
            horizon_days, f"{prefix}{horizon_name}", MIN_HORIZON_DAYS, MAX_HORIZON_DAYS
        ),
        max_events=parse_bounded(max_events, f"{prefix}max", MIN_MAX_EVENTS, MAX_MAX_EVENTS),
    )


_PLURAL = {Source.EVENT: "events", Source.LAUNCH: "launches"}


def describe_calendar(settings: CalendarSettings, managed: int, removed: int = 0) -> str:
    """One line about a guild's calendar, for ``schedule list`` and ``/spacecast schedule show``.

    ``removed``: items whose event a moderator deleted, which the bot leaves off the calendar
    until it is enabled again (said, so an admin knows why an item is missing).
    """

    def ids(values: frozenset[int] | None) -> str:
        return "all" if values is None else ",".join(str(v) for v in sorted(values))

    if settings.disabled_reason is not None:
        state = f"disabled by Discord ({settings.disabled_reason})"
    else:
        state = "enabled" if settings.enabled else "disabled"
    # The plural words the --sources option takes: "events", "launches".
    sources = ",".join(sorted(_PLURAL[s] for s in settings.sources))
    return (
        f"calendar {state}: {sources}; types {ids(settings.event_types)}; providers "
        f"{ids(settings.providers)}; {settings.horizon_days} days ahead, at most "
        f"{settings.max_events} events; {managed} managed now"
        + (
            f"; {removed} removed by a moderator (enabling the calendar again restores them)"
            if removed
            else ""
        )
    )
