"""Reminder offsets: ``24h,1h,10m`` in, minutes before T-0 out, and back to words.

Offsets are stored as whole minutes, distinct, largest first (``(1440, 60, 10)``), so two
spellings of one choice (``1h,10m`` and ``10,60``) store and compare the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MIN_OFFSET_MINUTES = 1
MAX_OFFSET_MINUTES = 7 * 24 * 60  # a reminder a week ahead is the most that stays a reminder
MAX_OFFSETS = 8  # more would be spam, and would not fit on one listing line

# One offset: days, hours and minutes in that order, each optional (``1h30m``, ``2d``, ``45m``,
# ``45min``); a bare number is minutes. ASCII digits only: ``int()`` would also take the digits
# of other scripts.
_OFFSET = re.compile(r"(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)(?:m|min)?)?")
_NONE_WORDS = frozenset({"none", "off"})
_SHOW_LIMIT = 40


class OffsetError(ValueError):
    """Reminder offsets that cannot be used; the message is one friendly line naming the culprit."""


def parse_offsets(text: str) -> tuple[int, ...]:
    """``"24h,1h,10m"`` to ``(1440, 60, 10)``; ``"none"`` to ``()``.

    Units are ``d``, ``h`` and ``m`` (combinable as ``1h30m``); a bare number is minutes. Each
    offset is between 1 minute and 7 days, at most 8 distinct ones; duplicates are forgiven.
    Raises :class:`OffsetError` with a one-line message otherwise.
    """
    words = [w for w in re.split(r"[,\s]+", text.strip().lower()) if w]
    if not words:
        raise OffsetError("empty; give offsets such as 24h,1h,10m, or 'none'")
    if any(w in _NONE_WORDS for w in words):
        if len(words) > 1:
            raise OffsetError("'none' clears the reminders; do not combine it with offsets")
        return ()
    offsets = {_parse_one(word) for word in words}
    if len(offsets) > MAX_OFFSETS:
        raise OffsetError(f"{len(offsets)} offsets is too many (at most {MAX_OFFSETS})")
    return tuple(sorted(offsets, reverse=True))


def _parse_one(word: str) -> int:
    match = _OFFSET.fullmatch(word)
    if match is None or not word:
        raise OffsetError(
            f"{_show(word)} is not an offset; use minutes, hours or days such as 24h, 1h, 10m"
        )
    days, hours, mins = (int(match.group(g) or 0) for g in ("d", "h", "m"))
    minutes = days * 1440 + hours * 60 + mins
    if minutes < MIN_OFFSET_MINUTES:
        raise OffsetError(f"{_show(word)} is too short; the least is 1 minute")
    if minutes > MAX_OFFSET_MINUTES:
        raise OffsetError(f"{_show(word)} is too far ahead; the most is 7 days")
    return minutes


def normalise_offsets(offsets: Iterable[int]) -> tuple[int, ...]:
    """Distinct offsets, largest first: the one stored and compared form."""
    return tuple(sorted(set(offsets), reverse=True))


def offset_label(minutes: int) -> str:
    """How a reader sees one offset: ``T-10 min``, ``T-1 h``, ``T-1 h 30 min``, ``T-2 d``."""
    return f"T-{_amount(minutes, ' d', ' h', ' min', ' ')}"


def offset_text(minutes: int) -> str:
    """One offset in the form :func:`parse_offsets` reads back: ``10m``, ``1h``, ``1h30m``."""
    return _amount(minutes, "d", "h", "m", "")


def describe_offsets(offsets: Iterable[int]) -> str:
    """``T-1 h, T-10 min`` (largest first), or ``none``."""
    ordered = normalise_offsets(offsets)
    return ", ".join(offset_label(m) for m in ordered) if ordered else "none"


def offsets_text(offsets: Iterable[int]) -> str:
    """``1h,10m`` (largest first), or ``none``: what a user would type to get these offsets."""
    ordered = normalise_offsets(offsets)
    return ",".join(offset_text(m) for m in ordered) if ordered else "none"


def _amount(minutes: int, day: str, hour: str, minute: str, gap: str) -> str:
    # Whole days from two days up (a day before reads better as 24 h), else hours and minutes.
    if minutes >= 2 * 1440 and minutes % 1440 == 0:
        return f"{minutes // 1440}{day}"
    hours, mins = divmod(minutes, 60)
    parts = [f"{hours}{hour}"] if hours else []
    if mins or not hours:
        parts.append(f"{mins}{minute}")
    return gap.join(parts)


def _show(word: str) -> str:
    flat = " ".join(word.split())
    if len(flat) > _SHOW_LIMIT:
        flat = flat[: _SHOW_LIMIT - 1] + "…"
    return f"'{flat}'"
