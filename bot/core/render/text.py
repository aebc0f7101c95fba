"""Changes as one terminal line (:func:`change_to_text`) or as JSON (:func:`change_to_json`).

For the ``watch`` command. Times are UTC and, in the text form, relative to the ``now`` passed
in; control characters from LL2 are dropped so a comment cannot drive the terminal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.core.changes import Change, ChangeKind
from bot.core.render.embeds import new_precision_id
from bot.core.render.sanitize import one_line
from bot.core.render.when import when_plain
from bot.core.snapshot import WebcastRef, as_utc_iso, best_webcasts

COMMENT_TEXT_MAX = 300
WEBCASTS_TEXT_MAX = 5


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _webcast_text(webcast: WebcastRef) -> str:
    about = ", ".join(one_line(p) for p in (webcast.publisher, webcast.language) if p)
    return f"{one_line(webcast.url)} ({about})" if about else one_line(webcast.url)


def _detail(change: Change, now: datetime) -> str:
    item = change.item
    kind = change.kind
    if kind is ChangeKind.DATE_CHANGED:
        old = when_plain(change.old_date, now, None, change.old_precision)
        new = when_plain(change.new_date, now, new_precision_id(change), change.new_precision)
        return f"{old} → {new}"
    if kind is ChangeKind.NEW_UPDATE:
        update = change.update
        if update is None:
            return "new update"
        parts = [f"“{_clip(one_line(update.comment), COMMENT_TEXT_MAX)}”"]
        if update.created_by:
            parts.append(f"— {one_line(update.created_by)}")
        if update.info_url:
            parts.append(f"({one_line(update.info_url)})")
        return " ".join(parts)
    if kind in (ChangeKind.WEBCAST_LIVE, ChangeKind.WEBCAST_ENDED):
        webcasts = best_webcasts(change.urls or item.webcasts)
        label = "webcast live" if kind is ChangeKind.WEBCAST_LIVE else "webcast ended"
        if not webcasts:
            return label
        shown = ", ".join(_webcast_text(w) for w in webcasts[:WEBCASTS_TEXT_MAX])
        more = len(webcasts) - WEBCASTS_TEXT_MAX
        return f"{label}: {shown}" + (f" (+{more} more)" if more > 0 else "")
    if kind is ChangeKind.STATUS_CHANGED:
        return f"{one_line(change.old_status) or '?'} → {one_line(change.new_status) or '?'}"
    when = when_plain(item.date, now, item.precision_id, item.precision_name)
    what = item.type_name or item.status_name
    return f"new {change.source.value}: {when}" + (f" · {one_line(what)}" if what else "")


def change_to_text(change: Change, now: datetime) -> str:
    """One line for people, e.g.
    ``[date_changed] event 1201 Name: 2025-06-26 10:30 UTC (in 3h 12m) → … (in 3h 42m)``.
    """
    name = one_line(change.name or change.item.name)
    return (
        f"[{change.kind.value}] {change.source.value} {one_line(change.item_id)} {name}: "
        f"{_detail(change, now)}"
    )


def change_to_json(change: Change) -> dict[str, Any]:
    """A JSON-ready dict for machines: stable keys, ISO 8601 UTC times with ``Z``.

    Every change has ``kind``, ``source``, ``id``, ``name``, ``detected_at`` and ``version``;
    the rest depends on the kind (see the module tests for the exact keys).
    """
    item = change.item
    data: dict[str, Any] = {
        "kind": change.kind.value,
        "source": change.source.value,
        "id": change.item_id,
        "name": change.name,
        "detected_at": as_utc_iso(change.detected_at),
        "version": change.version,
    }
    kind = change.kind
    if kind is ChangeKind.DATE_CHANGED:
        data |= {
            "old": as_utc_iso(change.old_date),
            "new": as_utc_iso(change.new_date),
            "old_precision": change.old_precision,
            "new_precision": change.new_precision,
        }
    elif kind is ChangeKind.NEW_UPDATE:
        update = change.update
        data |= {
            "update_id": update.id if update else None,
            "comment": update.comment if update else None,
            "author": update.created_by if update else None,
            "info_url": update.info_url if update else None,
            "created_on": as_utc_iso(update.created_on) if update else None,
        }
    elif kind in (ChangeKind.WEBCAST_LIVE, ChangeKind.WEBCAST_ENDED):
        webcasts = best_webcasts(change.urls or item.webcasts)
        data |= {
            "urls": [w.url for w in webcasts],
            "webcasts": [
                {
                    "url": w.url,
                    "live": w.live,
                    "publisher": w.publisher,
                    "title": w.title,
                    "language": w.language,
                }
                for w in webcasts
            ],
        }
    elif kind is ChangeKind.STATUS_CHANGED:
        data |= {
            "old": change.old_status,
            "new": change.new_status,
            "old_id": change.old_status_id,
            "new_id": change.new_status_id,
        }
    elif kind is ChangeKind.NEW_ITEM:
        data |= {
            "date": as_utc_iso(item.date),
            "precision": item.precision_name,
            "type": item.type_name,
            "status": item.status_name,
        }
    return data
