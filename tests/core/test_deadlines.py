"""Deadlines: a row stays worth sending for the longest allowance of the kinds it holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.core.changes import ALERT_KINDS, ChangeKind
from bot.core.deadlines import DEFAULT_DEADLINE_MINUTES, deadline_for

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_webcast_live_expires_after_an_hour_by_default() -> None:
    """The default: a webcast-live alert is worth sending for an hour."""
    assert deadline_for({ChangeKind.WEBCAST_LIVE}, T0, DEFAULT_DEADLINE_MINUTES) == T0 + timedelta(
        hours=1
    )


def test_a_row_lives_as_long_as_its_longest_lived_kind() -> None:
    """Webcast live + new update: the update's twelve hours, not the webcast's hour."""
    kinds = {ChangeKind.WEBCAST_LIVE, ChangeKind.NEW_UPDATE}
    assert deadline_for(kinds, T0, DEFAULT_DEADLINE_MINUTES) == T0 + timedelta(hours=12)


def test_zero_or_missing_means_never() -> None:
    """A kind with 0 minutes, or none configured, never expires (and neither does its row)."""
    minutes = {ChangeKind.WEBCAST_LIVE: 60, ChangeKind.DATE_CHANGED: 0}
    assert deadline_for({ChangeKind.DATE_CHANGED}, T0, minutes) is None
    assert deadline_for({ChangeKind.WEBCAST_LIVE, ChangeKind.DATE_CHANGED}, T0, minutes) is None
    assert deadline_for({ChangeKind.NEW_ITEM}, T0, minutes) is None
    assert deadline_for(set(), T0, minutes) is None


@given(
    st.sets(st.sampled_from(ALERT_KINDS), min_size=1),
    st.dictionaries(st.sampled_from(ALERT_KINDS), st.integers(min_value=1, max_value=10_000)),
)
def test_deadline_is_never_before_any_kinds_own(
    kinds: set[ChangeKind], minutes: dict[ChangeKind, int]
) -> None:
    """Whatever the allowances, a row never expires before any of its kinds would alone."""
    deadline = deadline_for(kinds, T0, minutes)
    if any(minutes.get(k, 0) <= 0 for k in kinds):
        assert deadline is None
        return
    assert deadline is not None
    for kind in kinds:
        own = deadline_for({kind}, T0, minutes)
        assert own is not None
        assert own <= deadline
    assert deadline == T0 + timedelta(minutes=max(minutes[k] for k in kinds))
