"""The send budget on a real database and through real discord.py.

- On PostgreSQL two budgets on two engines (two processes, as far as the database can tell)
  reserving at once never get slots closer together than the shared interval, and a global
  429 recorded by one holds the other back.
- Through discord.py's HTTP trace: every REST request waits for a slot, a request the worker
  paced already does not take a second one, an interaction answer takes none, and a global
  429 from the loopback Discord reaches the budget (which pauses).
"""

from __future__ import annotations

import asyncio
import itertools

import discord
import pytest

from bot.core.send_budget import PENALTY_FACTOR
from bot.discord_ui.traffic import already_paced, budget_trace, counted
from bot.services.delivery.budget import LocalSlots, SendBudget, SharedSlots, budget_for
from bot.store import Store, open_store
from bot.store.send_budget import load_budget, load_shares, record_share, reserve_slots
from tests.services.delivery.fake_discord import TOKEN, FakeDiscord, routed_to
from tests.store.dbutil import DbTarget


async def test_two_processes_on_postgres_share_one_spacing(
    db_target: DbTarget, store: Store
) -> None:
    if db_target.backend != "postgres":
        pytest.skip("the shared budget lives in PostgreSQL")
    other = await open_store(db_target.url, **db_target.engine_kwargs)
    try:
        rate = 200.0
        a, b = SharedSlots(store, rate), SharedSlots(other, rate)
        # On the database's clock (the shared timeline) no two slots are closer than 1/rate.
        results = await asyncio.gather(
            *[reserve_slots(store if i % 2 else other, 5, rate) for i in range(20)]
        )
        slots = sorted(r.reservation.slot(k) for r in results for k in range(5))
        assert len(slots) == 100
        # (epoch seconds near 1.7e9 carry float steps of about 2e-7)
        assert min(y - x for x, y in itertools.pairwise(slots)) >= 1 / rate - 1e-6
        # A global 429 seen by one holds back the other's next reservation.
        await a.global_429(2.0)
        state, db_now = await load_budget(other)
        assert state.global_429s == 1
        assert state.tat >= db_now + 1.9
        loop = asyncio.get_running_loop()
        (first, *_) = await b.reserve(1)
        assert first - loop.time() >= 1.9
        assert state.factor == pytest.approx(PENALTY_FACTOR)
        await record_share(store, 7, 12.5)
        assert (await load_shares(other)) == {7: 12.5}
    finally:
        await other.close()


async def test_a_lone_process_gets_the_whole_rate_and_honours_a_global_429() -> None:
    loop = asyncio.get_running_loop()
    budget = SendBudget(LocalSlots(100.0))
    started = loop.time()
    for _ in range(20):
        await budget.wait()
    assert loop.time() - started == pytest.approx(0.19, abs=0.05)  # 20 slots, 10 ms apart
    await budget.global_429(0.3)
    paused = loop.time()
    await budget.wait()
    assert loop.time() - paused >= 0.29
    assert budget.rate_limited["global"] == 1
    assert budget.sent_total == 21


async def test_background_requests_take_slots_only_when_no_alert_waits() -> None:
    """At 50 slots a second, eight alert sends queued before two calendar requests, and three
    more alerts queued after them: every alert goes before either calendar request; the
    calendar then has the slots (all 13 sent, at the budget's pace)."""
    loop = asyncio.get_running_loop()
    budget = SendBudget(LocalSlots(50.0))
    order: list[str] = []

    async def send(name: str, *, background: bool = False) -> None:
        await budget.wait(background=background)
        order.append(name)

    started = loop.time()
    first = [asyncio.create_task(send(f"alert-{n}")) for n in range(8)]
    await asyncio.sleep(0)
    calendar = [asyncio.create_task(send(f"event-{n}", background=True)) for n in range(2)]
    await asyncio.sleep(0.05)  # the calendar requests are waiting; more alerts arrive
    later = [asyncio.create_task(send(f"late-{n}")) for n in range(3)]
    await asyncio.gather(*first, *calendar, *later)
    assert order[-2:] == ["event-0", "event-1"]
    assert sorted(order[:-2]) == sorted(
        [f"alert-{n}" for n in range(8)] + ["late-0", "late-1", "late-2"]
    )
    assert loop.time() - started == pytest.approx(12 / 50, abs=0.08)
    # With nothing else waiting, a background request goes at once.
    quiet = loop.time()
    await budget.wait(background=True)
    assert loop.time() - quiet < 0.1


async def test_every_request_goes_through_the_budget_but_interactions() -> None:
    assert counted("/api/v10/channels/1/messages")
    assert not counted("/api/v10/interactions/1/tok/callback")
    assert not counted("/api/v10/webhooks/1/tok")
    assert not counted("/?v=10&encoding=json")  # the gateway's websocket

    async with FakeDiscord(global_limit=3) as fake:
        budget = SendBudget(LocalSlots(1000.0))
        with routed_to(fake.base_url):
            client = discord.Client(intents=discord.Intents.none(), http_trace=budget_trace(budget))
            await client.login(TOKEN)
            try:
                assert budget.sent_total == 2  # login: /users/@me, /oauth2/applications/@me
                channel = client.get_partial_messageable(42)
                with already_paced():
                    await channel.send("paced by the worker")
                assert budget.sent_total == 2
                # The fake allows 3 requests a second: this send meets a global 429, which
                # discord.py waits out and retries; the budget hears of it and pauses.
                await channel.send("second")
                assert budget.rate_limited["global"] >= 1
            finally:
                await client.close()


async def test_budget_for_picks_the_backend(store: Store) -> None:
    budget = budget_for(store, 45.0, share_key=1)
    assert budget.rate == 45.0
    kind = SharedSlots if store.dialect_name == "postgresql" else LocalSlots
    assert isinstance(budget._source, kind)


async def test_status_shows_rates_shares_and_429s_by_scope(store: Store) -> None:
    budget = budget_for(store, 45.0, share_key=11)
    await budget.wait()
    budget.other_429("user")
    await budget.global_429(0.0)
    if store.dialect_name == "postgresql":
        await record_share(store, 12, 20.0)  # another process sending at 20/s
    status = await budget.status()
    assert status.rate == 45.0
    assert status.rate_limited == {"global": 1, "user": 1}
    text = status.describe()
    assert "of 45/s now" in text
    assert "429s since start: global 1, user 1, shared 0" in text
    if store.dialect_name == "postgresql":
        assert set(status.shares) == {11, 12}
        assert "2 processes sending" in text
        assert status.shared_global_429s == 1
    else:
        assert status.shared_global_429s is None


class _Unreachable:
    rate = 45.0

    async def reserve(self, count: int) -> list[float]:
        raise ConnectionRefusedError("database is down")

    async def global_429(self, retry_after: float) -> None:
        raise ConnectionRefusedError("database is down")


async def test_an_unreachable_budget_is_a_transient_error_not_a_send() -> None:
    from bot.discord_ui.sender import TransientSendError

    budget = SendBudget(_Unreachable())
    with pytest.raises(TransientSendError, match="send budget unavailable"):
        await budget.wait()
    assert budget.sent_total == 0
    await budget.global_429(1.0)  # logged, and the local pause still holds
    assert budget.rate_limited["global"] == 1
