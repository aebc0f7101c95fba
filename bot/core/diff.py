"""The diff engine: which alert-worthy changes separate two snapshots of the same item.

Pure: no I/O, no clock reads (``now`` is a parameter and becomes ``detected_at``). Only the
tracked fields of a :class:`~bot.core.snapshot.Snapshot` are compared (status, date and
precision, webcast liveness, update ids); names, ``display`` data, ``last_updated`` and the
launch window never create a change, so an image swap or a description edit is not news.

Every change carries a deterministic ``version`` so that the same underlying change, seen by two
polls or two processes, has the same identity and the outbox sends it once:

* ``date_changed``: ``"{old_iso}>{new_iso}/{old_precision_id}>{new_precision_id}"``, plus
  ``"@{last_updated_iso}"`` when LL2 sent ``last_updated`` (so a date that goes A → B → A → B
  alerts on the second A → B too, instead of colliding with the first one's identity)
* ``new_update``: the update id
* ``webcast_live`` / ``webcast_ended``: the new date's ISO (``"nodate"`` without one), so a
  webcast flapping on the same date alerts once while a re-scheduled attempt alerts again
* ``status_changed``: ``"{old_status_id}>{new_status_id}"``, with the same ``@`` suffix
* ``new_item``: ``"new"``

A missing value is written ``none`` in versions. ISO times are UTC with a ``Z`` suffix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from bot.core.changes import Change, ChangeKind
from bot.core.snapshot import (
    Snapshot,
    Source,
    UpdateRef,
    WebcastRef,
    as_utc_iso,
    best_webcasts,
    carry_details,
)

ItemKey = tuple[Source, str]

DEFAULT_DATE_THRESHOLD = timedelta(minutes=1)

# The order changes of one item are reported in: what happened to the item first (it exists, its
# status, its date), then its webcast, then the updates, which often just narrate the above.
KIND_ORDER: tuple[ChangeKind, ...] = (
    ChangeKind.NEW_ITEM,
    ChangeKind.STATUS_CHANGED,
    ChangeKind.DATE_CHANGED,
    ChangeKind.WEBCAST_LIVE,
    ChangeKind.WEBCAST_ENDED,
    ChangeKind.NEW_UPDATE,
)

_NONE = "none"


def diff(
    old: Snapshot | None,
    new: Snapshot,
    now: datetime,
    *,
    baseline: bool = False,
    date_threshold: timedelta = DEFAULT_DATE_THRESHOLD,
) -> list[Change]:
    """The changes from ``old`` to ``new`` (same item), in :data:`KIND_ORDER`.

    ``old is None`` means the item was never seen: one ``new_item`` change, or nothing when
    ``baseline`` is set (the first poll of a feed must not flood channels). ``date_threshold`` is
    the smallest date move that counts; precision changes and a date appearing or disappearing
    count whatever the threshold. ``now`` must be timezone-aware; it becomes ``detected_at``.
    """
    _check_args(now, date_threshold)
    if old is None:
        if baseline:
            return []
        first = [_change(ChangeKind.NEW_ITEM, new, now, version="new")]
        # Met already live: a channel that follows only webcasts must still hear of it.
        if new.webcast_live or any(w.live for w in new.webcasts):
            first.extend(_webcast_changes(_not_live(new), new, now))
        return first
    if old.key != new.key:
        raise ValueError(f"cannot diff two different items: {old.ref} and {new.ref}")

    changes: list[Change] = []
    changes.extend(_status_changes(old, new, now))
    changes.extend(_date_changes(old, new, now, date_threshold))
    changes.extend(_webcast_changes(old, new, now))
    changes.extend(_update_changes(old, new, now))
    return changes


def diff_all(
    old_by_key: Mapping[ItemKey, Snapshot],
    new: Iterable[Snapshot],
    now: datetime,
    *,
    baseline: bool = False,
    date_threshold: timedelta = DEFAULT_DATE_THRESHOLD,
) -> tuple[list[Snapshot], list[Change]]:
    """Diff one poll's answer against the stored snapshots.

    Returns the snapshots to store (one per item, with :func:`carry_details` applied, in the
    order items first appear in ``new``) and every change, grouped by item in that same order and
    by :data:`KIND_ORDER` within an item. An item that appears twice in ``new`` (pagination can
    shift under a multi-page read) is diffed once, using the better copy (see
    :func:`_better_copy`). Items stored but absent from ``new`` are ignored: a missing item is
    "no data", never "deleted".
    """
    _check_args(now, date_threshold)
    chosen: dict[ItemKey, Snapshot] = {}
    for snapshot in new:
        previous = chosen.get(snapshot.key)
        chosen[snapshot.key] = snapshot if previous is None else _better_copy(previous, snapshot)

    to_store: list[Snapshot] = []
    changes: list[Change] = []
    for key, snapshot in chosen.items():  # dicts keep first-insertion order
        old = old_by_key.get(key)
        merged = carry_details(old, snapshot)
        to_store.append(merged)
        changes.extend(diff(old, merged, now, baseline=baseline, date_threshold=date_threshold))
    return to_store, changes


def _check_args(now: datetime, date_threshold: timedelta) -> None:
    # Fail loudly here rather than as a pydantic error deep inside a Change, and never let a naive
    # time be interpreted in the host's zone.
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    if date_threshold < timedelta(0):
        raise ValueError("date_threshold must not be negative")


def _better_copy(first: Snapshot, second: Snapshot) -> Snapshot:
    """Of two copies of one item from one poll: the one with details, then the fresher one."""
    if first.has_details != second.has_details:
        return first if first.has_details else second
    if (
        first.last_updated is not None
        and second.last_updated is not None
        and first.last_updated > second.last_updated
    ):
        return first
    # Otherwise the later copy, which was read later.
    return second


def _change(
    kind: ChangeKind, new: Snapshot, now: datetime, *, version: str, **fields: object
) -> Change:
    return Change.model_validate(
        {
            "kind": kind,
            "source": new.source,
            "item_id": new.id,
            "name": new.name,
            "version": version,
            "detected_at": now,
            "item": new,
            **fields,
        }
    )


def _status_changes(old: Snapshot, new: Snapshot, now: datetime) -> list[Change]:
    # A status that disappears is missing data, not news; one that appears (None -> Go) is.
    if new.status_id is None or new.status_id == old.status_id:
        return []
    return [
        _change(
            ChangeKind.STATUS_CHANGED,
            new,
            now,
            version=f"{_text(old.status_id)}>{new.status_id}{_edit_suffix(new)}",
            old_status=old.status_name,
            new_status=new.status_name,
            old_status_id=old.status_id,
            new_status_id=new.status_id,
        )
    ]


def _edit_suffix(new: Snapshot) -> str:
    """``@last_updated`` for versions of changes that can repeat (A → B → A → B)."""
    return f"@{as_utc_iso(new.last_updated)}" if new.last_updated is not None else ""


def _not_live(snapshot: Snapshot) -> Snapshot:
    """The same item with nothing live: the 'before' of an item first met mid-webcast."""
    return snapshot.model_copy(
        update={
            "webcast_live": False,
            "webcasts": tuple(dataclasses.replace(w, live=False) for w in snapshot.webcasts),
        }
    )


def _date_changes(
    old: Snapshot, new: Snapshot, now: datetime, threshold: timedelta
) -> list[Change]:
    if old.date is None or new.date is None:
        # Appeared or disappeared; both None is no change.
        moved = (old.date is None) != (new.date is None)
    else:
        # Compare the instants, not the representations: equal times in different zones are
        # the same date, and a zero threshold must still need an actual move.
        delta = abs(new.date - old.date)
        moved = delta > timedelta(0) and delta >= threshold
    # A precision that LL2 leaves out (null) is unknown, not changed: only compare known ones,
    # so a flapping null cannot alert. Month -> Day is news even when the instant stays.
    refined = (
        old.precision_id is not None
        and new.precision_id is not None
        and old.precision_id != new.precision_id
    )
    if not (moved or refined):
        return []
    version = (
        f"{_text(as_utc_iso(old.date))}>{_text(as_utc_iso(new.date))}"
        f"/{_text(old.precision_id)}>{_text(new.precision_id)}{_edit_suffix(new)}"
    )
    return [
        _change(
            ChangeKind.DATE_CHANGED,
            new,
            now,
            version=version,
            old_date=old.date,
            new_date=new.date,
            old_precision=old.precision_name,
            new_precision=new.precision_name,
        )
    ]


def _live_by_url(webcasts: tuple[WebcastRef, ...]) -> dict[str, bool]:
    # LL2 can list one URL twice (two languages, a re-added link): live if any copy is.
    live: dict[str, bool] = {}
    for webcast in webcasts:
        live[webcast.url] = live.get(webcast.url, False) or webcast.live
    return live


def _any_live(snapshot: Snapshot) -> bool:
    return snapshot.webcast_live or any(w.live for w in snapshot.webcasts)


def _webcast_changes(old: Snapshot, new: Snapshot, now: datetime) -> list[Change]:
    went_live = not old.webcast_live and new.webcast_live
    # Link-level flags only mean something when both answers carried the links; otherwise a
    # detailed read after a normal one would make every already-live link look "new".
    if not went_live and old.has_details and new.has_details:
        old_links = _live_by_url(old.webcasts)
        went_live = any(
            live and not old_links.get(url, False)
            for url, live in _live_by_url(new.webcasts).items()
        )
    # Live and ended share one version (the attempt's date): a stream that flaps on the same
    # date is reported once; a re-scheduled attempt is a new one.
    version = _text(as_utc_iso(new.date), default="nodate")
    if went_live:
        urls = tuple(best_webcasts(new.webcasts))
        return [_change(ChangeKind.WEBCAST_LIVE, new, now, version=version, urls=urls)]
    if _any_live(old) and not _any_live(new):
        # Recorded, not alerted. Keep the old links when the new answer has none (a replay).
        urls = tuple(best_webcasts(new.webcasts or old.webcasts))
        return [_change(ChangeKind.WEBCAST_ENDED, new, now, version=version, urls=urls)]
    return []


def _update_changes(old: Snapshot, new: Snapshot, now: datetime) -> list[Change]:
    # Without details on both sides an empty or stale list means "not told": comparing it would
    # turn every update into a "new" one (or hide real ones). carry_details normally prevents
    # this upstream; stay safe if a caller forgets.
    if not (old.has_details and new.has_details):
        return []
    known = {u.id for u in old.updates}
    fresh: dict[int, UpdateRef] = {}
    for update in new.updates:
        if update.id not in known and update.id not in fresh:
            fresh[update.id] = update
    # Snapshots keep updates oldest first, but sort anyway: alert order must not depend on it.
    ordered = sorted(fresh.values(), key=lambda u: (u.created_on is None, u.created_on, u.id))
    return [_change(ChangeKind.NEW_UPDATE, new, now, version=str(u.id), update=u) for u in ordered]


def _text(value: object, *, default: str = _NONE) -> str:
    return default if value is None else str(value)
