"""Scale-out end to end: two real processes, one PostgreSQL database, two Discord shards.

The test process runs a loopback LL2 (:class:`~tests.scaleout.fakes.CountingLL2`, one URL
prefix per process) and a loopback Discord (:class:`~tests.scaleout.fakes.MultiTokenDiscord`,
one bot token per process), then spawns two ``tests/scaleout/harness.py`` processes running
the real :class:`bot.services.app.AppServices`: shard 0 of 2 and shard 1 of 2, both on a fresh
PostgreSQL database created for this test and dropped afterwards.

What it proves:

1. Only one process polls LL2 (the holder of the poller lease); the other never sends LL2 a
   single request.
2. Every alert reaches every subscribed channel exactly once, and each guild's alerts are sent
   by the process serving the guild's shard (``(guild_id >> 22) % 2``), whichever process
   polled.
3. After ``SIGKILL`` of the polling process, the other one takes the lease over within the
   retry interval (seconds; the limit asserted is 60 s) and polls; the next alert reaches the
   survivor's shard. The dead process's shard is down, so its guilds' rows stay **pending** in
   the outbox (nothing is lost: they go out when a process serving that shard starts again,
   with the same nonces) and nothing is sent to them meanwhile.

Timings are shortened through the environment (poll tick 1 s, lease retry 2 s, a large LL2
budget, and the planner's floor between polls lowered to 3 s by the harness); the whole test takes
about half a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.store import OutboxStatus, Store, open_store, schema, shard_of
from tests.scaleout.fakes import CountingLL2, MultiTokenDiscord, serve_ll2
from tests.scaleout.support import (
    Proc,
    baseline_done,
    fresh_database,
    harness_env,
    hot_event,
    spawn_harness,
    stop,
    until,
    wait_ready,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SHARDS = 2
TOKENS = {0: "scaleout-token-shard-0", 1: "scaleout-token-shard-1"}
PHASE_TIMEOUT = 40.0
TAKEOVER_LIMIT = 60.0


def _guilds() -> dict[int, list[int]]:
    """Three guild ids per shard, found by Discord's rule."""
    found: dict[int, list[int]] = {0: [], 1: []}
    guild = 1_300_000_000_000_000_000
    while min(len(v) for v in found.values()) < 3:
        guild += 1 << 22
        bucket = found[shard_of(guild, SHARDS)]
        if len(bucket) < 3:
            bucket.append(guild)
    return found


GUILDS = _guilds()
CHANNEL_OF = {
    g: 1_400_000_000_000_000_000 + i
    for i, g in enumerate(sorted(itertools.chain(*GUILDS.values())))
}


def _add_update(event: dict[str, Any], update_id: int, comment: str) -> dict[str, Any]:
    edited = copy.deepcopy(event)
    edited["updates"].insert(
        0,
        {
            "id": update_id,
            "comment": comment,
            "info_url": "https://example.org/update",
            "created_by": "LL2",
            "created_on": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    return edited


async def spawn(shard: int, db_url: str, ll2: CountingLL2, discord_url: str, workdir: Path) -> Proc:
    return await spawn_harness(
        shard,
        harness_env(
            db_url,
            ll2.base_url(f"p{shard}"),
            discord_url,
            token=TOKENS[shard],
            heartbeat=workdir / f"heartbeat-{shard}",
            requests_per_hour=ll2.request_limit,
            shard=(shard, SHARDS),
        ),
        workdir / f"shard-{shard}.log",
    )


async def outbox_status_by_channel(store: Store) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(schema.outbox.c.channel_id, schema.outbox.c.status))
        for channel_id, status in rows:
            found.setdefault(int(channel_id), []).append(str(status))
    return found


async def test_two_shard_processes_one_poller_and_takeover(tmp_path: Path) -> None:
    all_guilds = sorted(CHANNEL_OF)
    channels = {s: [CHANNEL_OF[g] for g in GUILDS[s]] for s in GUILDS}
    shard_of_channel = {c: s for s, cs in channels.items() for c in cs}
    now = datetime.now(UTC)
    event = hot_event(now)

    async with contextlib.AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(fresh_database())
        store = await open_store(db_url)  # migrates before the processes start
        stack.push_async_callback(store.close)
        for guild in all_guilds:
            await store.add_subscription(guild, CHANNEL_OF[guild])
        ll2 = await stack.enter_async_context(serve_ll2(CountingLL2(events=[event])))
        fake = await stack.enter_async_context(
            MultiTokenDiscord(list(TOKENS.values()), global_limit=None, channel_limit=None)
        )
        procs = [await spawn(s, db_url, ll2, fake.base_url, tmp_path) for s in (0, 1)]
        for proc in procs:
            stack.push_async_callback(stop, proc)
        for proc in procs:
            await wait_ready(proc)

        def messages(channel: int) -> int:
            return len(fake.messages_in(channel))

        def every(shard_channels: list[int], count: int) -> Callable[[], bool]:
            return lambda: all(messages(c) >= count for c in shard_channels)

        # --- baseline: one process polls, nobody is alerted ---------------------------------
        async with asyncio.timeout(PHASE_TIMEOUT):
            while True:
                if await baseline_done(store):
                    break
                await asyncio.sleep(0.2)
        pollers = [p for p in procs if ll2.requests[p.label]]
        assert len(pollers) == 1, f"LL2 requests per process: {dict(ll2.requests)}"
        leader = pollers[0]
        follower = next(p for p in procs if p is not leader)
        assert fake.messages == [], "the baseline must not alert"
        heartbeat = {p.shard: tmp_path / f"heartbeat-{p.shard}" for p in procs}
        await until(lambda: all(h.exists() for h in heartbeat.values()), 10, "heartbeats")
        assert heartbeat[leader.shard].read_text() == "poller\n"
        assert heartbeat[follower.shard].read_text() == "standby\n"

        # --- change 1: webcast live; change 2: new update ------------------------------------
        every_channel = [c for cs in channels.values() for c in cs]
        live = copy.deepcopy(event)
        live["webcast_live"] = True
        live["vid_urls"][0]["live"] = True
        ll2.events = [live]
        await until(every(every_channel, 1), PHASE_TIMEOUT, "the webcast_live alert")
        ll2.events = [_add_update(live, 99001, "Hatch open. @everyone")]
        await until(every(every_channel, 2), PHASE_TIMEOUT, "the new_update alert")
        await asyncio.sleep(1.5)  # room for a (wrong) duplicate to show up

        for channel in every_channel:
            stored = fake.messages_in(channel)
            assert len(stored) == 2, f"channel {channel}: {len(stored)} messages"
            assert len({m.nonce for m in stored}) == 2
            texts = [str(m.embeds) + m.content for m in stored]
            assert "Hatch open" not in texts[0]
            assert "Hatch open" in texts[1]
            assert not any(m.mention_everyone for m in stored)
            # Delivered by the process serving the guild's shard, whichever one polled.
            expected = TOKENS[shard_of_channel[channel]]
            assert {fake.sender_of(m) for m in stored} == {expected}
        assert fake.posts_by[TOKENS[0]] == 2 * len(channels[0])
        assert fake.posts_by[TOKENS[1]] == 2 * len(channels[1])
        assert ll2.requests[follower.label] == 0, "the follower must never call LL2"
        assert ll2.polls_by(leader.label) >= 3

        # --- SIGKILL the poller; the follower takes over --------------------------------------
        leader_polls = ll2.polls_by(leader.label)
        leader.process.kill()
        await leader.process.wait()
        killed_at = time.monotonic()
        ll2.events = [_add_update(ll2.events[0], 99002, "Crew aboard.")]
        await until(
            lambda: ll2.requests[follower.label] > 0, TAKEOVER_LIMIT, "the follower's takeover"
        )
        takeover = ll2.first_request_at[follower.label] - killed_at
        await until(
            lambda: ll2.polls_by(follower.label) > 0, TAKEOVER_LIMIT, "the follower's first poll"
        )
        first_poll = (
            min(t for t, p, path in ll2.log if p == follower.label and "api-throttle" not in path)
            - killed_at
        )
        assert first_poll < TAKEOVER_LIMIT
        survivor_channels = channels[follower.shard]
        dead_channels = channels[leader.shard]
        await until(every(survivor_channels, 3), PHASE_TIMEOUT, "the alert after the takeover")
        await asyncio.sleep(1.5)
        assert ll2.polls_by(leader.label) == leader_polls  # the dead stay dead
        for channel in survivor_channels:
            stored = fake.messages_in(channel)
            assert len(stored) == 3
            assert "Crew aboard" in str(stored[2].embeds) + stored[2].content
            assert {fake.sender_of(m) for m in stored} == {TOKENS[follower.shard]}
        # The dead process's shard is down: its guilds get nothing, their rows wait pending.
        statuses = await outbox_status_by_channel(store)
        for channel in dead_channels:
            assert messages(channel) == 2
            assert sorted(statuses[channel]).count(OutboxStatus.PENDING.value) == 1
            assert sorted(statuses[channel]).count(OutboxStatus.SENT.value) == 2
        logs = follower.logs()
        assert "poller leadership acquired" in logs
        assert heartbeat[follower.shard].read_text() == "poller\n"
        print(
            f"\ntakeover: lease won and LL2 contacted {takeover:.1f}s after SIGKILL, "
            f"first poll {first_poll:.1f}s after it; leader was shard {leader.shard}"
        )
