"""Dates in words that never claim more precision than LL2 has.

LL2 pairs every date with a precision (0 Second ... 16 Decade). A launch "NET June 2026" carries
a full timestamp such as ``2026-06-30T00:00:00Z``, but showing that as a Discord timestamp would
tell readers a time that nobody announced, so coarse dates are written in plain words.

The precision id decides when it is one we know; otherwise its name does (``Change`` carries
only names for the old and new precision, and LL2 may add precisions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum


class Grain(Enum):
    """How finely a date is known."""

    UNSPECIFIED = "unspecified"  # LL2 sent no precision: show the date as given
    SECOND = "second"
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    HALF = "half"
    YEAR = "year"
    FISCAL_YEAR = "fiscal year"
    DECADE = "decade"
    OTHER = "other"  # a precision we do not know: shown by its name


# Grains whose timestamp means a real clock time, shown as a live Discord timestamp.
CLOCK_GRAINS = frozenset({Grain.UNSPECIFIED, Grain.SECOND, Grain.MINUTE, Grain.HOUR})


@dataclass(frozen=True)
class Precision:
    """A classified LL2 precision. ``part`` is the quarter (1-4) or half (1-2), if known."""

    grain: Grain
    name: str | None = None
    part: int | None = None


_BY_ID: dict[int, Precision] = {
    0: Precision(Grain.SECOND),
    1: Precision(Grain.MINUTE),
    2: Precision(Grain.HOUR),
    5: Precision(Grain.DAY),
    7: Precision(Grain.MONTH),
    8: Precision(Grain.QUARTER, part=1),
    9: Precision(Grain.QUARTER, part=2),
    10: Precision(Grain.QUARTER, part=3),
    11: Precision(Grain.QUARTER, part=4),
    12: Precision(Grain.HALF, part=1),
    13: Precision(Grain.HALF, part=2),
    14: Precision(Grain.YEAR),
    15: Precision(Grain.FISCAL_YEAR),
    16: Precision(Grain.DECADE),
}

# Checked in order, coarsest first: "Half Year" is a half, not a year, and "Second Half" is a
# half, not a second.
_BY_NAME: tuple[tuple[re.Pattern[str], Grain], ...] = (
    (re.compile(r"\b(quarter|q[1-4])\b"), Grain.QUARTER),
    (re.compile(r"\b(half|h[12])\b"), Grain.HALF),
    (re.compile(r"\b(fiscal|fy)\b"), Grain.FISCAL_YEAR),
    (re.compile(r"\bdecade\b"), Grain.DECADE),
    (re.compile(r"\byear\b"), Grain.YEAR),
    (re.compile(r"\bmonth\b"), Grain.MONTH),
    (re.compile(r"\bweek\b"), Grain.WEEK),
    (re.compile(r"\bday\b"), Grain.DAY),
    (re.compile(r"\b(hour|hr)s?\b"), Grain.HOUR),
    (re.compile(r"\bmin(ute)?s?\b"), Grain.MINUTE),
    (re.compile(r"\bsec(ond)?s?\b"), Grain.SECOND),
)
_PART = re.compile(r"([1-4])")


def classify(precision_id: int | None, name: str | None) -> Precision:
    """Classify an LL2 precision by id when known, else by name; None and None is unspecified."""
    if precision_id is not None and precision_id in _BY_ID:
        return _BY_ID[precision_id]
    if not name or not name.strip():
        return Precision(Grain.UNSPECIFIED)
    lowered = name.strip().lower()
    for pattern, grain in _BY_NAME:
        if pattern.search(lowered):
            part = None
            if grain in (Grain.QUARTER, Grain.HALF) and (digit := _PART.search(lowered)):
                part = int(digit.group(1))
            return Precision(grain, name=name.strip(), part=part)
    return Precision(Grain.OTHER, name=name.strip())


def unix(value: datetime) -> int:
    """Seconds since the epoch, for Discord's ``<t:…>`` markup."""
    return int(value.timestamp())


def discord_time(value: datetime, style: str = "F") -> str:
    """Discord timestamp markup: every reader sees it in their own time zone."""
    return f"<t:{unix(value)}:{style}>"


def coarse_words(value: datetime, precision: Precision) -> str | None:
    """Plain words for a date coarser than a clock time ("NET Q3 2026"), else None.

    Coarse dates are shown in UTC words on purpose: a day-precision date stored as midnight
    UTC would show as the day before to readers west of Greenwich in a Discord timestamp.
    """
    day = value.astimezone(UTC)
    grain = precision.grain
    if grain in CLOCK_GRAINS:
        return None
    if grain is Grain.DAY:
        return f"NET {_day(day)} (UTC; day precision)"
    if grain is Grain.WEEK:
        return f"NET week of {_day(day)} (UTC)"
    if grain is Grain.MONTH:
        return f"NET {day:%B} {_year(day)} (month precision)"
    if grain is Grain.QUARTER:
        return f"NET Q{precision.part or (day.month - 1) // 3 + 1} {day.year}"
    if grain is Grain.HALF:
        return f"NET H{precision.part or (day.month - 1) // 6 + 1} {day.year}"
    if grain is Grain.YEAR:
        return f"NET {day.year}"
    if grain is Grain.FISCAL_YEAR:
        return f"NET fiscal year {day.year}"
    if grain is Grain.DECADE:
        return f"NET {day.year // 10 * 10}s"
    # Unknown precision: the UTC day is the most we dare state, with LL2's own name for it.
    return f"NET {_day(day)} (UTC; {_safe_name(precision.name)} precision)"


def _safe_name(name: str | None) -> str:
    # Shown in markdown and in terminals alike, so keep only letters, digits, spaces, hyphens.
    kept = "".join(c for c in (name or "") if c.isalnum() or c in " -")
    return " ".join(kept.split())[:40].lower() or "unknown"


def _year(value: datetime) -> str:
    # strftime's %Y does not zero-pad years before 1000 on every platform ("1-01-01").
    return f"{value.year:04d}"


def _day(value: datetime) -> str:
    return f"{value:%a} {value.day} {value:%B} {_year(value)}"


def when_discord(
    value: datetime | None, precision_id: int | None = None, precision_name: str | None = None
) -> str:
    """A date for an embed: live ``<t:…:F>`` and ``<t:…:R>`` when precise, plain words otherwise."""
    if value is None:
        return "Date not set (TBD)"
    precision = classify(precision_id, precision_name)
    words = coarse_words(value, precision)
    if words is not None:
        return words
    text = f"{discord_time(value, 'F')} ({discord_time(value, 'R')})"
    if precision.grain is Grain.HOUR:
        text += " · to the hour"
    return text


def when_plain(
    value: datetime | None,
    now: datetime,
    precision_id: int | None = None,
    precision_name: str | None = None,
) -> str:
    """A date for the terminal: UTC, plus the time from ``now`` when it is a clock time."""
    if value is None:
        return "date not set (TBD)"
    precision = classify(precision_id, precision_name)
    words = coarse_words(value, precision)
    if words is not None:
        return words
    utc = value.astimezone(UTC)
    clock = f"{utc:%H:%M:%S}" if utc.second else f"{utc:%H:%M}"
    stamp = f"{_year(utc)}-{utc:%m-%d} {clock}"
    suffix = ", to the hour" if precision.grain is Grain.HOUR else ""
    return f"{stamp} UTC ({relative(value - now)}{suffix})"


def duration(delta: timedelta) -> str:
    """A length of time in its two largest units: ``3h 12m``, ``2d 4h``, ``45s``."""
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    units = (("d", 86_400), ("h", 3_600), ("m", 60))
    parts: list[str] = []
    for suffix, size in units:
        amount, seconds = divmod(seconds, size)
        if amount or parts:
            parts.append(f"{amount}{suffix}")
    shown = [p for p in parts[:2] if not p.startswith("0")]
    return " ".join(shown)


def relative(delta: timedelta) -> str:
    """``in 3h 12m``, ``3h 12m ago`` or ``now`` for a time ``delta`` away from now."""
    if abs(delta.total_seconds()) < 1:
        return "now"
    if delta.total_seconds() > 0:
        return f"in {duration(delta)}"
    return f"{duration(delta)} ago"


def shift_words(old: datetime, new: datetime) -> str:
    """How far a date moved: ``30m later``, ``2d 1h earlier``."""
    delta = new - old
    if delta == timedelta(0):
        return "same time"
    return f"{duration(delta)} {'later' if delta > timedelta(0) else 'earlier'}"
