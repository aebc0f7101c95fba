"""The calendar's store: settings, the bot's events per (guild, item), holds, counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.core.schedule import CalendarSettings, Entry, EventFields, Hold, Status
from bot.core.snapshot import Source
from bot.store import Store

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
GUILD = 1_200_000_000_000_000_001


def _entry(ref: str, event_id: int, start: datetime, status: Status = Status.SCHEDULED) -> Entry:
    fields = EventFields(
        "Launch", f"spacecast:{ref}", "https://x.test/", start, start + timedelta(hours=1)
    )
    return Entry(ref, event_id, status, fields)


async def test_settings_round_trip_and_disable_records_the_reason(store: Store) -> None:
    """Saved settings come back equal; a 403 disables with Discord's words kept."""
    settings = CalendarSettings(
        guild_id=GUILD,
        sources=frozenset({Source.LAUNCH}),
        providers=frozenset({121}),
        horizon_days=3,
        max_events=5,
    )
    await store.save_calendar(settings, now=T0)
    assert await store.get_calendar(GUILD) == settings
    assert await store.disable_calendar(GUILD, "403 50013: Missing Permissions", now=T0)
    off = await store.get_calendar(GUILD)
    assert off is not None
    assert (off.enabled, off.disabled_reason) == (False, "403 50013: Missing Permissions")
    assert not await store.disable_calendar(GUILD + 1)


async def test_events_are_recorded_replaced_held_and_counted(store: Store) -> None:
    """One row per (guild, item): a second record replaces it; holds are set and cleared."""
    await store.record_event(GUILD, _entry("launch:a", 10, T0), now=T0)
    await store.record_event(GUILD, _entry("launch:a", 11, T0), now=T0)
    await store.record_event(GUILD, _entry("event:1", 12, T0, Status.COMPLETED), now=T0)
    [entries] = (await store.calendar_entries([GUILD])).values()
    assert [(e.item_ref, e.event_id) for e in entries] == [("event:1", 12), ("launch:a", 11)]
    assert entries[1].fields.start == T0
    await store.set_holds(GUILD, [Hold("launch:a", T0 + timedelta(hours=1), T0)])
    held = (await store.calendar_entries([GUILD]))[GUILD][1]
    assert (held.pending_start, held.pending_since) == (T0 + timedelta(hours=1), T0)
    await store.set_holds(GUILD, [])
    assert (await store.calendar_entries([GUILD]))[GUILD][1].pending_start is None
    assert await store.managed_counts(T0 - timedelta(minutes=1)) == {GUILD: 1}
    assert await store.managed_counts(T0 + timedelta(hours=2)) == {}
    await store.forget_event(GUILD, "launch:a")
    assert await store.prune_calendar_events(T0 + timedelta(days=1)) == 1
    assert await store.calendar_entries([GUILD]) == {}


async def test_a_removal_tombstone_outlives_the_pruning_of_completed_events_until_its_end(
    store: Store,
) -> None:
    """A dismissed (CANCELED) event stays recorded while its event's end is recent, however
    old the dismissal; a completed one goes after the retention; enabling again clears the
    dismissals."""
    await store.record_event(GUILD, _entry("launch:far", 1, T0 + timedelta(days=20)), now=T0)
    await store.record_event(GUILD, _entry("launch:done", 2, T0, Status.COMPLETED), now=T0)
    await store.dismiss_event(GUILD, "launch:far", now=T0)
    assert await store.prune_calendar_events(T0 + timedelta(days=8)) == 1
    [tomb] = (await store.calendar_entries([GUILD]))[GUILD]
    assert (tomb.item_ref, tomb.status) == ("launch:far", Status.CANCELED)
    await store.save_calendar(CalendarSettings(guild_id=GUILD, enabled=False), now=T0)
    assert len((await store.calendar_entries([GUILD]))[GUILD]) == 1  # a disable keeps it
    await store.save_calendar(CalendarSettings(guild_id=GUILD), now=T0)
    assert await store.calendar_entries([GUILD]) == {}
