"""Crash recovery in seconds: SIGKILL mid-fan-out, restart at once, every alert goes out once.

One real harness process (the real :class:`bot.services.app.AppServices`) delivers a
``webcast_live`` alert to 33 channels through a loopback Discord that answers slowly (so the
fan-out takes seconds). After the fifth message the process is SIGKILLed, with rows claimed
and some of them already handed to Discord but not marked sent, and started again at once.
Before claims named their owner, the restarted process had to wait out the dead one's 60 s
lease; now, on SQLite (the starting process takes every claim back) and on PostgreSQL (the dead
owner's advisory lock vanished with its session), every remaining channel gets its alert
within 10 s of the restarted process being ready, and no channel gets two (a resend carries
the same nonce, and Discord hands back the message it already has).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.subscriptions import AlertStyle
from bot.store import OutboxStatus, open_store, schema
from tests.scaleout.fakes import CountingLL2, MultiTokenDiscord, serve_ll2
from tests.scaleout.support import (
    baseline_done,
    database,
    harness_env,
    hot_event,
    start_harness,
    until,
)
from tests.store.dbutil import BACKENDS

pytestmark = pytest.mark.slow

TOKEN = "crash-recovery-token"
GUILD = 1_500_000_000_000_000_000
CHANNELS = [1_510_000_000_000_000_000 + i for i in range(33)]
# Live-card channels among them (issue 16): each gets its card and one pointer replying to it,
# each exactly once across the crash (the card's post carries a nonce like any message).
CARD_CHANNELS = set(CHANNELS[3:9:2] + CHANNELS[20:30:3])
RECOVERY_LIMIT = 10.0


@pytest.mark.parametrize("backend", BACKENDS)
async def test_sigkill_mid_fan_out_then_restart_delivers_the_rest_within_seconds(
    backend: str, tmp_path: Path
) -> None:
    """After SIGKILL and an immediate restart, every channel has its alert once within 10 s."""
    event = hot_event(datetime.now(UTC))
    async with contextlib.AsyncExitStack() as stack:
        db_url = await stack.enter_async_context(database(backend, tmp_path))
        store = await open_store(db_url)
        stack.push_async_callback(store.close)
        for channel in CHANNELS:
            style = AlertStyle.CARD if channel in CARD_CHANNELS else AlertStyle.FEED
            await store.add_subscription(GUILD, channel, style=style)
        ll2 = await stack.enter_async_context(serve_ll2(CountingLL2(events=[event])))
        # 0.3 s an answer and two sends at a time: the fan-out takes about five seconds.
        fake = await stack.enter_async_context(
            MultiTokenDiscord([TOKEN], global_limit=None, channel_limit=None, latency=0.3)
        )
        settings = harness_env(
            db_url,
            ll2.base_url("p0"),
            fake.base_url,
            token=TOKEN,
            heartbeat=tmp_path / "heartbeat",
            requests_per_hour=ll2.request_limit,
            SPACECAST_DELIVERY__CONCURRENCY="2",
        )
        log_path = tmp_path / "bot.log"
        first = await start_harness(stack, 0, settings, log_path)
        # Baseline first (silent), then the webcast goes live.
        async with asyncio.timeout(40):
            while True:
                if await baseline_done(store):
                    break
                await asyncio.sleep(0.2)
        live = copy.deepcopy(event)
        live["webcast_live"] = True
        live["vid_urls"][0]["live"] = True
        ll2.events = [live]
        await until(lambda: len(fake.messages) >= 5, 60, "the first five alerts")
        first.process.kill()
        await first.process.wait()
        delivered_before = len({m.channel_id for m in fake.messages})
        assert delivered_before < len(CHANNELS), "the kill came too late to test recovery"

        await start_harness(stack, 0, settings, log_path)
        ready_at = time.monotonic()
        took = await until(
            lambda: {m.channel_id for m in fake.messages} >= set(CHANNELS),
            30,
            "every channel's alert after the restart",
        )
        await until(lambda: time.monotonic() - ready_at > took + 1.5, 5, "room for a duplicate")

        per_channel = {c: len(fake.messages_in(c)) for c in CHANNELS if c not in CARD_CHANNELS}
        assert set(per_channel.values()) == {1}, f"messages per channel: {per_channel}"
        await until(
            lambda: all(len(fake.messages_in(c)) == 2 for c in CARD_CHANNELS),
            10,
            "every card channel's pointer",
        )
        for channel in CARD_CHANNELS:
            card, pointer = fake.messages_in(channel)
            assert "live card" in str(card.embeds[0].get("footer", {}))
            assert pointer.reference == card.id, "the pointer replies to the one card"
        async with store.engine.connect() as conn:
            statuses = [r[0] for r in await conn.execute(select(schema.outbox.c.status))]
        assert statuses.count(OutboxStatus.SENT.value) == len(CHANNELS) + len(CARD_CHANNELS)
        assert took <= RECOVERY_LIMIT, (
            f"{len(CHANNELS) - delivered_before} alerts took {took:.1f}s after the restart"
        )
        print(
            f"\n{backend}: killed after {delivered_before} channels; the other "
            f"{len(CHANNELS) - delivered_before} delivered {took:.1f}s after the restart"
        )
