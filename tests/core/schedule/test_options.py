"""The one-line description of a guild's calendar (`schedule list`, `/spacecast schedule show`)."""

from __future__ import annotations

from bot.core.schedule.options import describe_calendar
from bot.core.schedule.settings import CalendarSettings
from bot.core.snapshot import Source


def test_the_line_names_sources_as_the_option_takes_them() -> None:
    both = describe_calendar(CalendarSettings(guild_id=1, horizon_days=3, max_events=5), 2)
    assert both == (
        "calendar enabled: events,launches; types all; providers all; 3 days ahead, "
        "at most 5 events; 2 managed now"
    )
    launches = CalendarSettings(guild_id=1, sources=frozenset({Source.LAUNCH}), providers={121})
    assert describe_calendar(launches, 0).startswith("calendar enabled: launches; types all; ")
    assert "providers 121;" in describe_calendar(launches, 0)


def test_a_calendar_discord_refused_says_why() -> None:
    refused = CalendarSettings(guild_id=1, disabled_reason="Missing Permissions")
    assert describe_calendar(refused, 0).startswith(
        "calendar disabled by Discord (Missing Permissions):"
    )
