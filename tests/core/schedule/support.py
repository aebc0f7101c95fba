"""Items, settings and entries for calendar planner tests (built on tests/core/change_factory)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.schedule import CalendarSettings, Entry, Status, fields_for
from bot.core.snapshot import Snapshot, WebcastRef
from tests.core.change_factory import GUILD
from tests.core.reminders.support import event_at, launch_at

T0 = datetime(2025, 6, 28, 4, 0, tzinfo=UTC)
WATCH = "https://www.youtube.com/watch?v=OZcfHni6L5M"


def launch(
    date: datetime,
    item_id: str = "launch-1",
    *,
    status_id: int = 1,
    precision_id: int = 1,
    live: bool = False,
) -> Snapshot:
    """A Go launch at ``date`` (minute precision), optionally with a live webcast."""
    item = launch_at(date, status_id=status_id, precision_id=precision_id, item_id=item_id)
    if live:
        item = item.model_copy(
            update={"webcast_live": True, "webcasts": (WebcastRef(url=WATCH, live=True),)}
        )
    return item


def event(date: datetime, item_id: int = 1201, *, precision_id: int = 1) -> Snapshot:
    """The real docking event 1201 at ``date``."""
    return event_at(date, precision_id=precision_id, item_id=item_id)


def calendar(**changes: object) -> CalendarSettings:
    """Guild ``GUILD``'s calendar with everything followed, defaults otherwise."""
    return CalendarSettings.model_validate({"guild_id": GUILD} | changes)


def entry_for(
    item: Snapshot, event_id: int = 1, status: Status = Status.SCHEDULED, **start: datetime
) -> Entry:
    """An entry mirroring ``item`` exactly (at ``start=...`` instead of its date if given)."""
    assert item.date is not None
    return Entry(item.ref, event_id, status, fields_for(item, start.get("start", item.date)))
