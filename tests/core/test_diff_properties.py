"""Properties of the diff engine over generated snapshots (hypothesis)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.changes import ChangeKind
from bot.core.diff import KIND_ORDER, diff, diff_all
from bot.core.snapshot import Display, Snapshot, Source, UpdateRef, WebcastRef

# Modest, and per test rather than a global profile that would leak into other modules.
modest = settings(max_examples=200, deadline=None)

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2025, 6, 26, 14, 0, tzinfo=UTC)
ZONES = (UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30)))

# Small pools so that generated pairs often share urls, update ids and dates.
URLS = tuple(f"https://video.example/{n}" for n in range(4))

moments = st.builds(
    lambda seconds, zone: (EPOCH + timedelta(seconds=seconds)).astimezone(zone),
    st.integers(min_value=0, max_value=3 * 24 * 3600),
    st.sampled_from(ZONES),
)
maybe_moments = st.none() | moments
precisions = st.sampled_from([None, 0, 1, 2, 5, 7, 14])
statuses = st.sampled_from([None, 1, 2, 3, 4, 5, 6, 8])
# Display text is opaque to the diff: a few distinct values find as much as random text, faster.
texts = st.sampled_from([None, "", "Docking", "Ax-4 docking (replay)", "@everyone"])
names = st.sampled_from(["SpaceX AX-4 Crew Dragon Docking", "Axiom Mission 4 Docking", ""])

webcasts = st.builds(
    WebcastRef,
    url=st.sampled_from(URLS),
    live=st.booleans(),
    priority=st.none() | st.integers(min_value=0, max_value=30),
    language=st.sampled_from([None, "en", "fr"]),
)
updates = st.builds(
    UpdateRef,
    id=st.integers(min_value=1, max_value=12),
    created_on=maybe_moments,
    comment=texts,
    created_by=texts,
)
displays = st.builds(
    Display,
    location=texts,
    image_url=texts,
    description=texts,
    mission=texts,
)


def _snapshot(
    source: Source,
    item_id: str,
    status_id: int | None,
    precision_id: int | None,
    **fields: Any,
) -> Snapshot:
    return Snapshot(
        source=source,
        id=item_id,
        status_id=status_id,
        status_name=None if status_id is None else f"status {status_id}",
        precision_id=precision_id,
        precision_name=None if precision_id is None else f"precision {precision_id}",
        **fields,
    )


# Tracked fields vary; untracked ones are drawn only where they matter (``full_snapshots``):
# hypothesis spends its time drawing, and a pair of lean snapshots is much cheaper.
_tracked: dict[str, st.SearchStrategy[Any]] = {
    "source": st.sampled_from(Source),
    "item_id": st.just("42"),  # one item: pairs are always diffable
    "status_id": statuses,
    "precision_id": precisions,
    "date": maybe_moments,
    "webcast_live": st.booleans(),
    "has_details": st.booleans(),
    "webcasts": st.lists(webcasts, max_size=4).map(tuple),
    "updates": st.lists(updates, max_size=5, unique_by=lambda u: u.id).map(
        lambda us: tuple(sorted(us, key=lambda u: (u.created_on is None, u.created_on, u.id)))
    ),
}
snapshots = st.builds(_snapshot, name=st.just("Item"), **_tracked)
full_snapshots = st.builds(
    _snapshot,
    name=names,
    type_id=st.none() | st.integers(1, 30),
    provider_id=st.none() | st.integers(1, 200),
    window_start=maybe_moments,
    window_end=maybe_moments,
    last_updated=maybe_moments,
    display=displays,
    **_tracked,
)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[Snapshot, Snapshot]:
    """Two snapshots of one item, their dates often close."""
    old = draw(snapshots)
    new = draw(snapshots).model_copy(update={"source": old.source})
    if old.date is not None and draw(st.booleans()):
        # Often keep the date close to the old one, where the threshold matters.
        nudge = timedelta(seconds=draw(st.integers(min_value=-150, max_value=150)))
        new = new.model_copy(
            update={"date": (old.date + nudge).astimezone(draw(st.sampled_from(ZONES)))}
        )
    return old, new


@st.composite
def untracked_edits(draw: st.DrawFn) -> tuple[Snapshot, Snapshot]:
    """A snapshot and a copy that differs only in fields the diff must ignore."""
    old = draw(full_snapshots)
    edited_webcasts = tuple(
        dataclasses.replace(w, title=draw(texts), priority=draw(st.none() | st.integers(0, 9)))
        for w in old.webcasts
    )
    edited_updates = tuple(dataclasses.replace(u, comment=draw(texts)) for u in old.updates)
    new = old.model_copy(
        update={
            "name": draw(names),
            "type_name": draw(texts),
            "provider_name": draw(texts),
            "status_name": draw(texts),
            "precision_name": draw(texts),
            "window_start": draw(maybe_moments),
            "window_end": draw(maybe_moments),
            "last_updated": draw(maybe_moments),
            "display": draw(displays),
            "webcasts": edited_webcasts,
            "updates": edited_updates,
            # The same instant, written in another zone, is the same date.
            "date": None if old.date is None else old.date.astimezone(draw(st.sampled_from(ZONES))),
        }
    )
    return old, new


@modest
@given(full_snapshots)
def test_diff_of_snapshot_with_itself_is_empty(snap: Snapshot) -> None:
    """diff(a, a) is empty for every snapshot."""
    assert diff(snap, snap, NOW) == []


@modest
@given(untracked_edits())
def test_untracked_edits_yield_nothing(pair: tuple[Snapshot, Snapshot]) -> None:
    """Changing only untracked fields never yields a change."""
    old, new = pair
    assert diff(old, new, NOW) == []


@modest
@given(pairs())
def test_same_poll_twice_reports_each_change_once(pair: tuple[Snapshot, Snapshot]) -> None:
    """Applying one answer, then the same answer again, reports its changes once."""
    old, new = pair
    stored, first = diff_all({old.key: old}, [new], NOW)
    _, second = diff_all({s.key: s for s in stored}, [new], NOW + timedelta(minutes=1))
    assert second == []
    identities = [c.identity for c in first]
    assert len(identities) == len(set(identities))


@modest
@given(pairs())
def test_identities_are_unique_within_a_diff(pair: tuple[Snapshot, Snapshot]) -> None:
    """No two changes of one diff share an identity."""
    identities = [c.identity for c in diff(*pair, NOW)]
    assert len(identities) == len(set(identities))


@modest
@given(pairs())
def test_diff_is_deterministic(pair: tuple[Snapshot, Snapshot]) -> None:
    """The same inputs give the same changes, and identities do not depend on `now`."""
    first = diff(*pair, NOW)
    assert diff(*pair, NOW) == first
    later = diff(*pair, NOW + timedelta(days=3))
    assert [c.identity for c in later] == [c.identity for c in first]


@modest
@given(pairs())
def test_changes_follow_kind_order(pair: tuple[Snapshot, Snapshot]) -> None:
    """Changes come in KIND_ORDER."""
    positions = [KIND_ORDER.index(c.kind) for c in diff(*pair, NOW)]
    assert positions == sorted(positions)


@modest
@given(pairs())
def test_at_most_one_webcast_change(pair: tuple[Snapshot, Snapshot]) -> None:
    """A diff has at most one webcast_live or webcast_ended, never both."""
    webcast_kinds = {ChangeKind.WEBCAST_LIVE, ChangeKind.WEBCAST_ENDED}
    assert sum(c.kind in webcast_kinds for c in diff(*pair, NOW)) <= 1


@modest
@given(pairs())
def test_new_updates_are_exactly_the_unseen_ids(pair: tuple[Snapshot, Snapshot]) -> None:
    """With details on both sides, new_update changes are exactly the unseen update ids."""
    old, new = pair
    reported = [int(c.version) for c in diff(old, new, NOW) if c.kind is ChangeKind.NEW_UPDATE]
    if old.has_details and new.has_details:
        assert sorted(reported) == sorted({u.id for u in new.updates} - {u.id for u in old.updates})
    else:
        assert reported == []


@modest
@given(pairs())
def test_date_changes_respect_the_threshold(pair: tuple[Snapshot, Snapshot]) -> None:
    """Without a precision change, a date move under the threshold is never reported."""
    old, new = pair
    new = new.model_copy(update={"precision_id": old.precision_id})
    if old.date is not None and new.date is not None:
        under = abs(new.date - old.date) < timedelta(minutes=1)
        changed = any(c.kind is ChangeKind.DATE_CHANGED for c in diff(old, new, NOW))
        assert changed != under


@modest
@given(snapshots, st.booleans())
def test_never_seen_item_is_new_item_unless_baseline(snap: Snapshot, baseline: bool) -> None:
    """A never-seen item yields new_item (and webcast_live if live), or nothing at baseline."""
    changes = diff(None, snap, NOW, baseline=baseline)
    live = snap.webcast_live or (snap.has_details and any(w.live for w in snap.webcasts))
    expected = (
        [] if baseline else [ChangeKind.NEW_ITEM] + ([ChangeKind.WEBCAST_LIVE] if live else [])
    )
    assert [c.kind for c in changes] == expected
