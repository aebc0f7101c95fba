"""The feed's rules: which alerts go to which feed channel, the publish hour, coalescing."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.core.changes import ChangeKind
from bot.core.feed import coalesce, feed_deliveries, feed_kinds, is_feed_key, publish_wait
from bot.core.render import EmbedData, MessageData
from bot.core.render.fit import fits_message
from tests.core.change_factory import T0, change, event


def test_kinds_and_all() -> None:
    kinds = feed_kinds({"webcast_live": 1, "all": 2, "date_changed": 1})
    assert kinds[1] == {ChangeKind.WEBCAST_LIVE, ChangeKind.DATE_CHANGED}
    assert ChangeKind.NEW_UPDATE in kinds[2]


def test_feed_deliveries_go_once_to_each_matching_channel() -> None:
    live = change(ChangeKind.WEBCAST_LIVE, event(1201))
    moved = change(ChangeKind.NEW_UPDATE, event(1202))
    out = feed_deliveries([live, moved], {"webcast_live": 11, "all": 22})
    assert sorted((d.channel_id, d.item_ref) for d in out) == [
        (11, "event:1201"),
        (22, "event:1201"),
        (22, "event:1202"),
    ]
    assert all(is_feed_key(d.dedup_key) and d.guild_id == 0 for d in out)
    assert feed_deliveries([live], {}) == []


@given(st.lists(st.integers(0, 7200), max_size=30), st.integers(1, 12))
def test_publish_wait_keeps_every_sliding_hour_within_the_limit(
    offsets: list[int], limit: int
) -> None:
    # Publish whenever allowed, at the requested moments or as soon after as publish_wait says.
    done: list = []
    for at in sorted(T0 + timedelta(seconds=s) for s in offsets):
        when = at + publish_wait(done, at, limit=limit)
        assert publish_wait(done, when, limit=limit) == timedelta(0)
        done.append(when)
    done.sort()
    for i, start in enumerate(done):
        assert sum(1 for t in done[i:] if t - start < timedelta(hours=1)) <= limit


def _msg(n: int, size: int = 100) -> list[MessageData]:
    return [MessageData(embeds=[EmbedData(title=f"alert {n}", description="x" * size)])]


@given(st.lists(st.tuples(st.integers(1, 3), st.integers(10, 2500)), min_size=1, max_size=25))
def test_coalesce_keeps_every_embed_in_order_within_discords_limits(
    rows: list[tuple[int, int]],
) -> None:
    messages = [
        [MessageData(embeds=[EmbedData(title=f"{i}.{k}", description="x" * size)])]
        for i, (parts, size) in enumerate(rows)
        for k in range(parts)
    ]
    out = coalesce(messages)
    titles = [e.title for m in out for e in m.embeds]
    assert titles == [e.title for parts in messages for m in parts for e in m.embeds]
    assert all(fits_message(m.embeds) for m in out)


def test_two_small_alerts_make_one_message() -> None:
    (one,) = coalesce([_msg(1), _msg(2)])
    assert [e.title for e in one.embeds] == ["alert 1", "alert 2"]
    assert coalesce([_msg(1)]) == _msg(1)
