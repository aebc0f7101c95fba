"""Claim order in a backlog (both backends): webcast-live and reminder rows go first, oldest
first, and a channel's older rows go with (and before) its urgent one."""

from __future__ import annotations

from datetime import timedelta

from bot.core.changes import ChangeKind
from bot.store import Store
from tests.store.samples import T0, outbox_row

WEBCAST = frozenset({ChangeKind.WEBCAST_LIVE})
UPDATE = frozenset({ChangeKind.NEW_UPDATE})


async def test_urgent_rows_are_claimed_before_an_older_backlog(store: Store) -> None:
    # A backlog: 300 date changes in 300 channels, all older than the urgent rows.
    backlog = [
        outbox_row(f"date:{n}", channel_id=5_000 + n, due=T0 + timedelta(milliseconds=n))
        for n in range(300)
    ]
    later = T0 + timedelta(seconds=10)
    urgent = [
        outbox_row("webcast:a", channel_id=9_001, kinds=WEBCAST, due=later),
        outbox_row("reminder:9002:event:1:10:x", channel_id=9_002, due=later),
        # Channel 5007 already waits for a date change: its webcast must not overtake it.
        outbox_row("webcast:b", channel_id=5_007, kinds=WEBCAST | UPDATE, due=later),
        outbox_row("webcast:c", channel_id=9_003, kinds=WEBCAST, due=later + timedelta(seconds=1)),
    ]
    await store.enqueue(backlog + urgent)
    now = T0 + timedelta(minutes=1)
    claimed = await store.claim_due(now, 5, per_channel=15)
    keys = [row.dedup_key for row in claimed]
    # Urgent first, oldest first: 5007's older date change rides along (it is older than
    # all of them, so it leads), and its webcast still comes after it.
    assert keys == ["date:7", "webcast:a", "reminder:9002:event:1:10:x", "webcast:b", "webcast:c"]
    # Then the backlog, oldest first.
    rest = await store.claim_due(now, 3, per_channel=15)
    assert [row.dedup_key for row in rest] == ["date:0", "date:1", "date:2"]
