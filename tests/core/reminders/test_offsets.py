"""Reminder offsets: parsing what users type, refusing what cannot be used, words back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.reminders import (
    MAX_OFFSET_MINUTES,
    OffsetError,
    describe_offsets,
    offset_label,
    offsets_text,
    parse_offsets,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h,1h,10m", (1440, 60, 10)),
        ("10m,1h,24h", (1440, 60, 10)),
        ("10", (10,)),
        ("1d", (1440,)),
        ("7d", (MAX_OFFSET_MINUTES,)),
        ("1h30m", (90,)),
        ("45min", (45,)),
        (" 1H, 10M ", (60, 10)),
        ("1h 10m", (60, 10)),
        ("1m", (1,)),
    ],
)
def test_parse_offsets_reads_days_hours_minutes_and_bare_minutes(
    text: str, expected: tuple[int, ...]
) -> None:
    """Units d/h/m (combinable), bare minutes, any order and case, largest first."""
    assert parse_offsets(text) == expected


def test_duplicate_offsets_are_stored_once() -> None:
    """Two spellings of one offset ("1h,60") give it once."""
    assert parse_offsets("1h,60,60m") == (60,)


@pytest.mark.parametrize("text", ["none", "None", " off "])
def test_none_clears_the_reminders(text: str) -> None:
    """'none' (or 'off') means no reminders at all."""
    assert parse_offsets(text) == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5x", "'5x' is not an offset; use minutes, hours or days such as 24h, 1h, 10m"),
        ("0m", "'0m' is too short; the least is 1 minute"),
        ("8d", "'8d' is too far ahead; the most is 7 days"),
        ("7d1m", "'7d1m' is too far ahead; the most is 7 days"),
        ("1,2,3,4,5,6,7,8,9", "9 offsets is too many (at most 8)"),
        ("", "empty; give offsets such as 24h,1h,10m, or 'none'"),
        (" , ", "empty; give offsets such as 24h,1h,10m, or 'none'"),
        ("none,10m", "'none' clears the reminders; do not combine it with offsets"),
        ("h", "'h' is not an offset; use minutes, hours or days such as 24h, 1h, 10m"),
        ("-5m", "'-5m' is not an offset; use minutes, hours or days such as 24h, 1h, 10m"),
        ("١٠m", "'١٠m' is not an offset; use minutes, hours or days such as 24h, 1h, 10m"),
    ],
)
def test_bad_offsets_raise_one_clear_line(text: str, message: str) -> None:
    """Each unusable text names its culprit in one line."""
    with pytest.raises(OffsetError) as info:
        parse_offsets(text)
    assert str(info.value) == message


def test_long_bad_input_is_shortened_in_the_message() -> None:
    """A pasted paragraph does not become a paragraph-long error."""
    with pytest.raises(OffsetError) as info:
        parse_offsets("x" * 500)
    assert len(str(info.value)) < 120


def test_an_offset_error_is_a_value_error() -> None:
    """Callers that catch ValueError catch bad offsets too."""
    assert issubclass(OffsetError, ValueError)


@pytest.mark.parametrize(
    ("minutes", "label"),
    [(10, "T-10 min"), (60, "T-1 h"), (90, "T-1 h 30 min"), (1440, "T-24 h"), (2880, "T-2 d")],
)
def test_offset_label_reads_like_a_countdown(minutes: int, label: str) -> None:
    """Minutes, hours, hours and minutes, and whole days from two days up."""
    assert offset_label(minutes) == label


def test_describe_offsets_lists_largest_first() -> None:
    """The listing shows 'T-1 h, T-10 min' however the offsets were ordered."""
    assert describe_offsets([10, 60]) == "T-1 h, T-10 min"
    assert describe_offsets([]) == "none"


@given(st.sets(st.integers(1, MAX_OFFSET_MINUTES), max_size=8))
def test_offsets_text_reads_back_to_the_same_offsets(offsets: set[int]) -> None:
    """What offsets_text writes, parse_offsets reads back unchanged."""
    assert parse_offsets(offsets_text(offsets)) == tuple(sorted(offsets, reverse=True))
