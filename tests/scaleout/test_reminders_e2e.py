"""T-minus reminders end to end: a real ``run`` process, a loopback LL2 and a loopback Discord.

One harness process (the real :class:`bot.services.app.AppServices` on SQLite) follows two
events, precision Minute, for a channel whose subscription has ``reminders: 2m``:

- event A is dated 2 min 25 s ahead, so its T-2 min moment comes 25 s after the start; the
  process is SIGKILLed a few seconds before that moment and started again at once.
  The channel gets exactly one "T-2 min" reminder for A, within 30 s of its moment;
- event B is dated 2 min 33 s ahead, and LL2 moves it 10 minutes later right after the
  baseline (some 25 s before its moment): its date-change alert goes out and nothing is sent
  at its old moment. The new date's reminder would come ten minutes on, past what a CI test
  should wait: the in-process ``test_a_slip_before_the_moment_moves_the_reminder`` covers it.

The whole test takes about 40 s: the moments are near, and the harness polls every 3 s.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.core.reminders import ReminderKey
from bot.store import open_store, schema
from tests.scaleout.fakes import CountingLL2, MultiTokenDiscord, serve_ll2
from tests.scaleout.support import (
    baseline_done,
    harness_env,
    hot_event,
    start_harness,
    until,
)
from tests.services.delivery.fake_discord import StoredMessage

pytestmark = pytest.mark.slow

TOKEN = "reminders-e2e-token"
GUILD = 1_600_000_000_000_000_000
CHANNEL = 1_610_000_000_000_000_001
LATENESS_LIMIT = 30.0  # the timing target: handed to Discord within 30 s of the moment


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _reminders(fake: MultiTokenDiscord) -> list[StoredMessage]:
    """The channel's reminders (it also gets B's date-change alert: the subscription has
    every alert kind)."""
    return [m for m in fake.messages_in(CHANNEL) if m.embeds and "T-" in m.embeds[0]["title"]]


def _event(ident: int, date: datetime) -> dict[str, object]:
    event = hot_event(date)
    event["id"] = ident
    event["name"] = f"Reminder test event {ident}"  # the title names it
    event["date"] = _iso(date)
    return event


async def test_reminder_once_on_time_across_a_sigkill_and_never_for_a_slipped_date(
    tmp_path: Path,
) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    date_a = start + timedelta(minutes=2, seconds=25)
    date_b = start + timedelta(minutes=2, seconds=33)
    moment_a, moment_b = date_a - timedelta(minutes=2), date_b - timedelta(minutes=2)
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'spacecast.db'}"
    async with contextlib.AsyncExitStack() as stack:
        store = await open_store(db_url)
        stack.push_async_callback(store.close)
        await store.add_subscription(GUILD, CHANNEL, reminders=(2,))
        ll2 = await stack.enter_async_context(
            serve_ll2(CountingLL2(events=[_event(1201, date_a), _event(1202, date_b)]))
        )
        fake = await stack.enter_async_context(
            MultiTokenDiscord([TOKEN], global_limit=None, channel_limit=None)
        )
        settings = harness_env(
            db_url,
            ll2.base_url("p0"),
            fake.base_url,
            token=TOKEN,
            heartbeat=tmp_path / "heartbeat",
            requests_per_hour=ll2.request_limit,
        )
        log_path = tmp_path / "bot.log"
        first = await start_harness(stack, 0, settings, log_path)
        async with asyncio.timeout(20):
            while True:
                if await baseline_done(store):
                    break
                await asyncio.sleep(0.2)
        # B slips ten minutes, published minutes before its moment.
        slipped_b = date_b + timedelta(minutes=10)
        ll2.events = [_event(1201, date_a), _event(1202, slipped_b)]
        polls_at_slip = ll2.polls_by("p0")

        # SIGKILL a few seconds before A's moment, start again at once.
        kill_at = moment_a - timedelta(seconds=4)
        assert datetime.now(UTC) < kill_at, "the start took too long to test the kill"
        await asyncio.sleep((kill_at - datetime.now(UTC)).total_seconds())
        assert ll2.polls_by("p0") > polls_at_slip, "B's slip was never read before the kill"
        assert _reminders(fake) == [], "no reminder may be sent before A's moment"
        first.process.kill()
        await first.process.wait()
        await start_harness(stack, 0, settings, log_path)

        await until(lambda: len(_reminders(fake)) >= 1, 45, "A's reminder")
        arrived = datetime.now(UTC)
        lateness = (arrived - moment_a).total_seconds()
        # Stay past B's old moment, with room for a wrong reminder or a duplicate to show up.
        rest = (moment_b + timedelta(seconds=8) - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(rest, 3.0))

        [message] = _reminders(fake)
        others = [m for m in fake.messages_in(CHANNEL) if m is not message]
        assert any("1202" in str(m.embeds) for m in others), "B's date change was not alerted"
        assert "T-2 min" in message.embeds[0]["title"]
        assert "1201" in message.embeds[0]["title"]
        assert f"<t:{int(date_a.timestamp())}:" in message.embeds[0]["description"]
        assert 0 <= lateness <= LATENESS_LIMIT, f"A's reminder {lateness:.1f}s after its moment"
        async with store.engine.connect() as conn:
            keys = [r[0] for r in await conn.execute(select(schema.outbox.c.dedup_key))]
        reminders = [ReminderKey.from_dedup_key(k) for k in keys if k.startswith("reminder:")]
        assert [(k.item_ref, k.target) for k in reminders] == [("event:1201", date_a)]
        print(f"\nreminder for A {lateness:.1f}s after its moment (killed 4 s before it)")
