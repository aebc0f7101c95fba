"""One poll cycle against a loopback LL2 and a real store: atomicity, baseline, partial data."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config import Settings
from bot.core.changes import ChangeKind
from bot.core.snapshot import Source
from bot.ll2 import LL2Client
from bot.services.poller import Poller, PollReport
from bot.store import Store
from tests.e2e.fake_ll2 import FakeLL2, load_fixture, serve

NOW = datetime(2025, 6, 26, 8, 0, tzinfo=UTC)
# Date-only alerts are held for the quiet period so a second slip can merge into them.
AFTER_HOLD = NOW + timedelta(minutes=11)


def _event(event_id: int = 1201, **changes: Any) -> dict[str, Any]:
    event = load_fixture("event-1201-detailed.json")
    event.update({"id": event_id, "response_mode": "normal"}, **changes)
    return event


@pytest.fixture
async def fake() -> AsyncIterator[FakeLL2]:
    """A loopback LL2 serving event 1201 and the synthetic launch."""
    async with serve(
        FakeLL2(events=[_event()], launches=[load_fixture("launch-synthetic-detailed.json")])
    ) as server:
        yield server


@pytest.fixture
async def poller(fake: FakeLL2, store: Store) -> AsyncIterator[Poller]:
    """A poller on the real store and a real LL2 client pointed at the loopback server."""
    settings = Settings.model_validate({"ll2": {"base_url": fake.base_url}})
    client = LL2Client.create(settings.ll2, send_log=store)
    yield Poller(store, client, settings, clock=lambda: NOW)
    await client.aclose()


async def test_first_poll_is_a_silent_baseline(poller: Poller, store: Store) -> None:
    """The first full poll of an empty store stores everything and alerts nothing."""
    report = await poller.poll_upcoming()
    assert report.changes == []
    assert report.items_seen == 2
    assert await store.get_snapshot(Source.EVENT, "1201") is not None


async def test_baseline_is_reported_with_its_counts_once(poller: Poller) -> None:
    """The poll that ends each source's baseline reports what it stored; the next one does not."""
    first = await poller.poll_upcoming()
    assert first.baselines == {Source.EVENT: 1, Source.LAUNCH: 1}
    second = await poller.poll_upcoming()
    assert (second.baselines, second.baseline_note()) == ({}, None)


async def test_partial_first_read_reports_no_baseline(poller: Poller, fake: FakeLL2) -> None:
    """An incomplete first read does not end the baseline, so it reports none."""
    _, _, done = await poller.apply_snapshots(
        *_query_for_events(), await _snapshots(fake, [_event()]), complete=False
    )
    assert not done


async def test_change_is_routed_to_matching_subscription(
    poller: Poller, store: Store, fake: FakeLL2
) -> None:
    """A date move after the baseline lands in the outbox of the subscribed channel only."""
    await store.add_subscription(1, 10, event_types=frozenset({2}))  # Docking: matches
    await store.add_subscription(1, 11, event_types=frozenset({3}))  # EVA: does not
    await poller.poll_upcoming()
    fake.events = [_event(date="2025-06-26T12:30:00Z")]
    report = await poller.poll_upcoming()
    assert [c.kind for c in report.alerts] == [ChangeKind.DATE_CHANGED]
    assert report.queued == 1
    assert await store.claim_due(NOW, 10) == []
    rows = await store.claim_due(AFTER_HOLD, 10)
    assert [(r.channel_id, r.item_ref) for r in rows] == [(10, "event:1201")]


async def test_crash_before_commit_loses_nothing(
    poller: Poller, store: Store, fake: FakeLL2, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception between diff and commit leaves the store as it was; the retry alerts once."""
    await store.add_subscription(1, 10)
    await poller.poll_upcoming()
    before = await store.get_snapshot(Source.EVENT, "1201")
    fake.events = [_event(date="2025-06-26T12:30:00Z")]

    def boom(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("crash between diff and commit")

    with monkeypatch.context() as patch:
        patch.setattr("bot.services.poller.route", boom)
        with pytest.raises(RuntimeError):
            await poller.poll_upcoming()
    assert await store.get_snapshot(Source.EVENT, "1201") == before
    assert await store.recent_changes(10) == []
    assert (await store.outbox_counts()).get("pending", 0) == 0

    first = await poller.poll_upcoming()
    second = await poller.poll_upcoming()
    assert [c.kind for c in first.alerts] == [ChangeKind.DATE_CHANGED]
    assert second.changes == []
    assert len(await store.claim_due(AFTER_HOLD, 10)) == 1


async def test_missing_item_is_not_removed(poller: Poller, store: Store, fake: FakeLL2) -> None:
    """An item absent from one answer keeps its snapshot and yields no change."""
    await poller.poll_upcoming()
    fake.events = []
    report = await poller.poll_upcoming()
    assert report.changes == []
    assert await store.get_snapshot(Source.EVENT, "1201") is not None


async def test_new_item_after_baseline(poller: Poller, fake: FakeLL2) -> None:
    """An item first seen after the baseline is announced once as new."""
    await poller.poll_upcoming()
    fake.events = [_event(), _event(4242, name="New docking", slug="new-docking")]
    report = await poller.poll_upcoming()
    assert [(c.kind, c.item_id) for c in report.alerts] == [(ChangeKind.NEW_ITEM, "4242")]
    assert (await poller.poll_upcoming()).changes == []


async def test_duplicate_copies_in_changing_order_raise_no_alert(
    poller: Poller, fake: FakeLL2
) -> None:
    """An item listed twice with two dates alerts nothing when the copies swap places."""
    older = _event()  # the stale copy, as stored by the baseline
    newer = _event(date="2025-06-26T12:30:00Z", last_updated="2025-06-26T14:00:00Z")
    await poller.poll_upcoming()
    fake.events = [newer, older]
    first = await poller.poll_upcoming()
    fake.events = [older, newer]
    second = await poller.poll_upcoming()
    assert [c.kind for c in first.alerts] == [ChangeKind.DATE_CHANGED]
    assert second.alerts == []


async def test_failed_query_is_reported_not_raised(store: Store) -> None:
    """An unreachable LL2 yields a report naming the failed queries, not an exception."""
    settings = Settings.model_validate(
        {"ll2": {"base_url": "http://127.0.0.1:9/2.3.0", "max_retries": 0}}
    )
    client = LL2Client.create(settings.ll2, send_log=store)
    try:
        report = await Poller(store, client, settings, clock=lambda: NOW).poll_upcoming()
    finally:
        await client.aclose()
    assert report.failed_queries == ["full_upcoming:event", "full_upcoming:launch"]
    assert report.changes == []


async def test_throttled_request_is_counted_in_the_report(poller: Poller, fake: FakeLL2) -> None:
    """A request answered 429 was sent and counted: the poll report says so."""
    fake.retry_after = 3600
    report = await poller.poll_upcoming()
    assert report.failed_queries == ["full_upcoming:event", "full_upcoming:launch"]
    assert fake.counted_requests == 1  # the block kept the launch query from being sent
    assert report.requests == 1


async def test_partial_baseline_stays_silent(poller: Poller, store: Store, fake: FakeLL2) -> None:
    """Items missed by an incomplete first read are not announced as new later."""
    await poller.apply_snapshots(
        *_query_for_events(), await _snapshots(fake, [_event()]), complete=False
    )
    assert not await store.get_flag("baseline:event")
    fake.events = [_event(), _event(77, name="Was on page 2")]
    report = await poller.poll_upcoming()
    assert [c for c in report.alerts if c.source is Source.EVENT] == []


def _query_for_events() -> tuple[Any, Source]:
    from bot.core.planner.types import Query, QueryKind

    return Query(QueryKind.FULL_UPCOMING, Source.EVENT), Source.EVENT


async def _snapshots(fake: FakeLL2, events: list[dict[str, Any]]) -> list[Any]:
    from bot.core.models import Event
    from bot.core.snapshot import snapshot_from_event

    return [snapshot_from_event(Event.model_validate(copy.deepcopy(e))) for e in events]


async def test_unchanged_item_is_only_touched(
    poller: Poller, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An item identical to its stored copy is neither diffed nor rewritten."""
    await poller.poll_upcoming()
    diffed: list[int] = []
    real_diff_all = __import__("bot.services.poller", fromlist=["diff_all"]).diff_all

    def counting(old: Any, new: Any, *args: Any, **kwargs: Any) -> Any:
        items = list(new)
        diffed.append(len(items))
        return real_diff_all(old, items, *args, **kwargs)

    monkeypatch.setattr("bot.services.poller.diff_all", counting)
    report = await poller.poll_upcoming()
    assert report.changes == []
    assert diffed == [0, 0]
    assert report.items_seen == 2


def test_baseline_note_counts_items_in_words() -> None:
    """The note names each baselined source with its count, singular or plural."""
    report = PollReport(baselines={Source.LAUNCH: 12, Source.EVENT: 1})
    assert report.baseline_note() == (
        "baseline: 1 event and 12 launches stored; alerts start with the next change"
    )


async def test_feed_channels_get_each_matching_alert_once(fake: FakeLL2, store: Store) -> None:
    """``feed.channels``: one feed row per matching feed channel, with no subscription behind."""
    settings = Settings.model_validate(
        {"ll2": {"base_url": fake.base_url}, "feed": {"channels": {"webcast_live": 70, "all": 71}}}
    )
    client = LL2Client.create(settings.ll2, send_log=store)
    try:
        poller = Poller(store, client, settings, clock=lambda: NOW)
        await poller.poll_upcoming()
        live = _event(webcast_live=True)
        live["vid_urls"][0]["live"] = True
        fake.events = [live]
        await poller.poll_upcoming()
        await poller.poll_upcoming()  # the same state again: nothing new
    finally:
        await client.aclose()
    rows = await store.claim_due(AFTER_HOLD, 10)
    assert sorted(r.channel_id for r in rows) == [70, 71]
    assert all(r.dedup_key.startswith("feed:") and r.subscription_id is None for r in rows)
    assert all(ChangeKind.WEBCAST_LIVE in r.kinds for r in rows)


async def test_only_a_complete_full_read_moves_the_listing_time(
    poller: Poller, store: Store, fake: FakeLL2
) -> None:
    """`last_full_reads` is the moment of the last complete read of each source's whole
    upcoming list (what the calendar and the cards use to tell a removed item); an incomplete
    one leaves it where it was."""
    assert await store.last_full_reads() == {}
    await poller.poll_upcoming()
    assert await store.last_full_reads() == {Source.EVENT: NOW, Source.LAUNCH: NOW}
    later = Poller(store, poller._client, Settings(), clock=lambda: NOW + timedelta(hours=1))
    await later.apply_snapshots(
        *_query_for_events(), await _snapshots(fake, [_event()]), complete=False
    )
    assert (await store.last_full_reads())[Source.EVENT] == NOW
    seen = await store.last_seen_times([(Source.EVENT, "1201"), (Source.EVENT, "404")])
    assert seen == {(Source.EVENT, "1201"): NOW + timedelta(hours=1)}
