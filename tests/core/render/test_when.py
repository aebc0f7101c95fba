"""Dates in words: LL2 precision ids and names, Discord markup and terminal text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.render.when import (
    Grain,
    classify,
    coarse_words,
    duration,
    relative,
    shift_words,
    when_discord,
    when_plain,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PRECISE = datetime(2026, 6, 1, 15, 12, tzinfo=UTC)
UNIX = int(PRECISE.timestamp())
COARSE = datetime(2026, 8, 31, 0, 0, tzinfo=UTC)  # LL2 stores coarse NETs as full timestamps


@pytest.mark.parametrize(
    ("precision_id", "name", "value", "expected"),
    [
        (0, "Second", PRECISE, f"<t:{UNIX}:F> (<t:{UNIX}:R>)"),
        (1, "Minute", PRECISE, f"<t:{UNIX}:F> (<t:{UNIX}:R>)"),
        (2, "Hour", PRECISE, f"<t:{UNIX}:F> (<t:{UNIX}:R>) · to the hour"),
        (None, None, PRECISE, f"<t:{UNIX}:F> (<t:{UNIX}:R>)"),
        (5, "Day", COARSE, "NET Mon 31 August 2026 (UTC; day precision)"),
        (7, "Month", COARSE, "NET August 2026 (month precision)"),
        (8, "Quarter 1", datetime(2026, 3, 31, tzinfo=UTC), "NET Q1 2026"),
        (10, "Quarter 3", COARSE, "NET Q3 2026"),
        (11, "Quarter 4", datetime(2026, 12, 31, tzinfo=UTC), "NET Q4 2026"),
        (12, "Half 1", datetime(2026, 6, 30, tzinfo=UTC), "NET H1 2026"),
        (13, "Half 2", COARSE, "NET H2 2026"),
        (14, "Year", COARSE, "NET 2026"),
        (15, "Fiscal Year", COARSE, "NET fiscal year 2026"),
        (16, "Decade", COARSE, "NET 2020s"),
    ],
)
def test_precision_wording_table(
    precision_id: int | None, name: str | None, value: datetime, expected: str
) -> None:
    """Each LL2 precision is shown as precisely as it is known, and no more."""
    assert when_discord(value, precision_id, name) == expected


@pytest.mark.parametrize(
    ("name", "grain", "part"),
    [
        ("Second", Grain.SECOND, None),
        ("Minute", Grain.MINUTE, None),
        ("Hour", Grain.HOUR, None),
        ("Day", Grain.DAY, None),
        ("Week", Grain.WEEK, None),
        ("Month", Grain.MONTH, None),
        ("Quarter 3", Grain.QUARTER, 3),
        ("Q2", Grain.QUARTER, 2),
        ("Half Year", Grain.HALF, None),
        ("Second Half", Grain.HALF, None),
        ("H2", Grain.HALF, 2),
        ("Year", Grain.YEAR, None),
        ("Fiscal Year", Grain.FISCAL_YEAR, None),
        ("Decade", Grain.DECADE, None),
        ("Morning", Grain.OTHER, None),
        (None, Grain.UNSPECIFIED, None),
    ],
)
def test_unknown_ids_fall_back_to_the_name(
    name: str | None, grain: Grain, part: int | None
) -> None:
    """A precision id we do not know (or none) is classified by its name."""
    precision = classify(99 if name else None, name)
    assert (precision.grain, precision.part) == (grain, part)


def test_known_id_wins_over_the_name() -> None:
    """The id is authoritative when we know it."""
    assert classify(7, "Something else").grain is Grain.MONTH


def test_quarter_without_number_is_taken_from_the_date() -> None:
    """A quarter precision without a number falls back to the date's quarter."""
    assert when_discord(datetime(2026, 5, 15, tzinfo=UTC), None, "Quarter") == "NET Q2 2026"


def test_unknown_precision_names_the_precision_and_states_only_the_day() -> None:
    """An unknown precision shows the UTC day and LL2's name for it, never a clock time."""
    text = when_discord(COARSE, 3, "Morning")
    assert text == "NET Mon 31 August 2026 (UTC; morning precision)"
    assert "<t:" not in text


def test_unknown_precision_name_cannot_inject_markup() -> None:
    """The precision name is reduced to letters, digits, spaces and hyphens."""
    text = when_discord(COARSE, None, "**@everyone** <@&1>")
    assert "@" not in text
    assert "*" not in text


def test_missing_date_says_tbd() -> None:
    """No date at all is said plainly."""
    assert when_discord(None) == "Date not set (TBD)"
    assert when_plain(None, NOW) == "date not set (TBD)"


@pytest.mark.parametrize(
    ("precision_id", "name", "value", "expected"),
    [
        (1, "Minute", PRECISE, "2026-06-01 15:12 UTC (in 3h 12m)"),
        (0, "Second", PRECISE.replace(second=30), "2026-06-01 15:12:30 UTC (in 3h 12m)"),
        (2, "Hour", PRECISE.replace(minute=0), "2026-06-01 15:00 UTC (in 3h, to the hour)"),
        (1, "Minute", NOW - timedelta(days=2, hours=5), "2026-05-30 07:00 UTC (2d 5h ago)"),
        (7, "Month", COARSE, "NET August 2026 (month precision)"),
        (5, "Day", COARSE, "NET Mon 31 August 2026 (UTC; day precision)"),
    ],
)
def test_plain_wording(precision_id: int, name: str, value: datetime, expected: str) -> None:
    """Terminal dates are UTC and relative to the given now, with the same precision words."""
    assert when_plain(value, NOW, precision_id, name) == expected


def test_plain_wording_converts_other_zones_to_utc() -> None:
    """An aware time in another zone is shown in UTC."""
    from datetime import timezone

    eastern = PRECISE.astimezone(timezone(timedelta(hours=-4)))
    assert when_plain(eastern, NOW, 1, "Minute").startswith("2026-06-01 15:12 UTC")


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=3, minutes=12, seconds=59), "3h 12m"),
        (timedelta(hours=3), "3h"),
        (timedelta(days=2, hours=4, minutes=9), "2d 4h"),
        (timedelta(days=1, minutes=9), "1d"),
    ],
)
def test_duration(delta: timedelta, expected: str) -> None:
    """Durations use their two largest units."""
    assert duration(delta) == expected
    assert duration(-delta) == expected


def test_relative_and_shift_words() -> None:
    """Relative times read naturally in both directions."""
    assert relative(timedelta(minutes=10)) == "in 10m"
    assert relative(timedelta(minutes=-10)) == "10m ago"
    assert relative(timedelta(0)) == "now"
    assert shift_words(PRECISE, PRECISE + timedelta(minutes=30)) == "30m later"
    assert shift_words(PRECISE, PRECISE - timedelta(days=1)) == "1d earlier"
    assert shift_words(PRECISE, PRECISE) == "same time"


def test_year_one_is_printed_with_four_digits() -> None:
    """Year 1 is 0001-01-01, not 1-01-01 (strftime does not pad it everywhere)."""
    first = datetime(1, 1, 1, 0, 0, tzinfo=UTC)
    assert when_plain(first, first).startswith("0001-01-01 00:00 UTC")
    assert coarse_words(first, classify(7, "Month")) == "NET January 0001 (month precision)"
