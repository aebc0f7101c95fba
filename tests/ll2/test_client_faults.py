"""LL2Client under faults: 429s, 5xx, timeouts, garbage, invalid items, partial pagination."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from bot.ll2 import (
    BudgetExhausted,
    LL2BadResponse,
    LL2Throttled,
    LL2Unavailable,
)
from bot.store import Store
from tests.ll2.conftest import Harness, Reply, load_fixture, synthetic_event
from tests.store.dbutil import DbTarget

OK_PAGE = Reply({"count": 1, "next": None, "previous": None, "results": [synthetic_event(7)]})
MIB = 1024 * 1024
THROTTLED_DETAIL = {"detail": "Request was throttled. Expected available in 45 seconds."}


def throttle_body(**changes: Any) -> dict[str, Any]:
    return {**load_fixture("api-throttle.json"), **changes}


def records(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.ll2" and r.getMessage() == message]


async def test_429_waits_retry_after_then_succeeds(make_client: Callable[..., Harness]) -> None:
    """``Retry-After: 30``: the retry comes no sooner than 30 s later, after a throttle read."""
    h = make_client()
    h.server.route("events/upcoming/", Reply(THROTTLED_DETAIL, 429, headers={"Retry-After": "30"}))
    h.server.routes["/2.3.0/events/upcoming/"].append(OK_PAGE)

    result = await h.client.upcoming_events()

    assert [e.id for e in result.items] == [7]
    paths = [s.path.removeprefix("/2.3.0/") for s in h.server.seen]
    assert paths == ["events/upcoming/", "api-throttle/", "events/upcoming/"]
    first, _, retry = h.server.seen
    assert first.at is not None
    assert retry.at is not None
    assert retry.at - first.at >= timedelta(seconds=30)
    assert result.requests == 2


async def test_429_with_only_detail_text(make_client: Callable[..., Harness]) -> None:
    """Without ``Retry-After`` the seconds in DRF's detail message are honoured."""
    h = make_client()
    h.server.route("events/upcoming/", Reply(THROTTLED_DETAIL, 429), OK_PAGE)

    result = await h.client.upcoming_events()

    first, retry = h.server.hits("events/upcoming/")
    assert first.at is not None
    assert retry.at is not None
    assert retry.at - first.at >= timedelta(seconds=45)
    assert result.complete


async def test_429_without_hints_uses_next_use_secs(make_client: Callable[..., Harness]) -> None:
    """With neither header nor detail, ``next_use_secs`` from /api-throttle/ sets the wait."""
    h = make_client()
    h.server.route("events/upcoming/", Reply({}, 429), OK_PAGE)
    h.server.route("api-throttle/", Reply(throttle_body(current_use=15, next_use_secs=90)))

    await h.client.upcoming_events()

    first, retry = h.server.hits("events/upcoming/")
    assert first.at is not None
    assert retry.at is not None
    assert retry.at - first.at >= timedelta(seconds=90)


async def test_429_applies_server_view_to_budget(make_client: Callable[..., Harness]) -> None:
    """After a 429 the budget knows what the server counted (another process on our IP)."""
    h = make_client(limit=15, max_retries=0)
    h.server.route("events/upcoming/", Reply(THROTTLED_DETAIL, 429))
    h.server.route("api-throttle/", Reply(throttle_body(current_use=15, next_use_secs=45)))

    with pytest.raises(LL2Throttled) as caught:
        await h.client.upcoming_events()

    assert caught.value.retry_after >= 45
    assert h.budget.used_in_last_hour(h.clock.now()) == 15
    assert h.budget.available(h.clock.now()) == 0


async def test_429_longer_than_max_wait_raises(make_client: Callable[..., Harness]) -> None:
    """A wait beyond ``max_wait_seconds`` is the caller's to schedule, not ours to sleep."""
    h = make_client(max_wait_seconds=60)
    h.server.route("events/upcoming/", Reply({}, 429, headers={"Retry-After": "3000"}))

    with pytest.raises(LL2Throttled) as caught:
        await h.client.upcoming_events()

    assert caught.value.retry_after == pytest.approx(3000)
    assert len(h.server.hits("events/upcoming/")) == 1
    assert h.budget.next_slot(h.clock.now()) >= h.clock.now() + timedelta(seconds=2999)


async def test_429_block_survives_a_restart(
    make_client: Callable[..., Harness], store: Store, db_target: DbTarget
) -> None:
    """Restarted on the same database 2 s after ``Retry-After: 3600``, the client sends nothing
    until the hour has passed."""
    throttled = Reply({}, 429, headers={"Retry-After": "3600"})
    first = make_client(send_log=store, max_wait_seconds=60)
    first.server.route("events/upcoming/", throttled, OK_PAGE)
    with pytest.raises(LL2Throttled):
        await first.client.upcoming_events()

    first.clock.advance(2)
    reopened = await db_target.open_store()  # a new process: its own engine, same database
    try:
        restarted = make_client(send_log=reopened, max_wait_seconds=60)
        await restarted.client.start()
        with pytest.raises(BudgetExhausted) as caught:
            await restarted.client.upcoming_events()
        assert caught.value.wait_seconds == pytest.approx(3598)
        assert len(first.server.hits("events/upcoming/")) == 1

        restarted.clock.advance(3598)
        result = await restarted.client.upcoming_events()
    finally:
        await reopened.close()
    assert [e.id for e in result.items] == [7]


async def test_429_block_reaches_a_running_peer(
    make_client: Callable[..., Harness], store: Store, db_target: DbTarget
) -> None:
    """A process already running on the same database honours the block another one got."""
    other_store = await db_target.open_store()
    try:
        throttled = make_client(send_log=store, max_wait_seconds=60)
        peer = make_client(send_log=other_store, max_wait_seconds=60)
        await peer.client.start()
        throttled.server.route(
            "events/upcoming/", Reply({}, 429, headers={"Retry-After": "600"}), OK_PAGE
        )
        with pytest.raises(LL2Throttled):
            await throttled.client.upcoming_events()

        with pytest.raises(BudgetExhausted):
            await peer.client.upcoming_events()
    finally:
        await other_store.close()
    assert len(throttled.server.hits("events/upcoming/")) == 1


async def test_500_then_success(make_client: Callable[..., Harness]) -> None:
    """One 500 is retried after a jittered backoff; both attempts count against the budget."""
    h = make_client()
    h.server.route("events/upcoming/", Reply({"detail": "boom"}, 500), OK_PAGE)

    result = await h.client.upcoming_events()

    assert [e.id for e in result.items] == [7]
    assert result.requests == 2
    assert h.budget.used_in_last_hour(h.clock.now()) == 2
    assert h.clock.sleeps == [pytest.approx(1.5)]  # base 2 s, equal jitter at rng=0.5


async def test_backoff_grows_and_is_jittered(make_client: Callable[..., Harness]) -> None:
    """Backoff doubles per attempt and stays within [step/2, step]."""
    h = make_client(max_retries=3, rng=lambda: 0.0)
    h.server.route("events/upcoming/", Reply({}, 503), Reply({}, 503), Reply({}, 503), OK_PAGE)
    await h.client.upcoming_events()
    assert h.clock.sleeps == [1.0, 2.0, 4.0]


async def test_5xx_exhaustion_raises_unavailable(make_client: Callable[..., Harness]) -> None:
    """After ``max_retries`` retries a 503 becomes LL2Unavailable; every attempt was counted."""
    h = make_client(max_retries=2)
    h.server.route("events/upcoming/", Reply({}, 503))

    with pytest.raises(LL2Unavailable) as caught:
        await h.client.upcoming_events()

    assert caught.value.attempts == 3
    assert len(h.server.hits("events/upcoming/")) == 3
    assert h.budget.used_in_last_hour(h.clock.now()) == 3


async def test_timeout_then_success(make_client: Callable[..., Harness]) -> None:
    """A response slower than the client timeout is retried; the retry succeeds."""
    h = make_client(timeout=0.2)
    h.server.route("events/upcoming/", Reply({}, delay=0.6), OK_PAGE)

    result = await h.client.upcoming_events()

    assert [e.id for e in result.items] == [7]
    assert result.requests == 2


async def test_timeout_exhaustion(make_client: Callable[..., Harness]) -> None:
    """Timeouts on every attempt end in LL2Unavailable naming the timeout."""
    h = make_client(timeout=0.2, max_retries=1)
    h.server.route("events/upcoming/", Reply({}, delay=0.6))

    with pytest.raises(LL2Unavailable, match="timeout") as caught:
        await h.client.upcoming_events()

    assert caught.value.attempts == 2


def page_bytes(*event_ids: int) -> bytes:
    """A complete one-page answer holding these synthetic events, as the wire carries it."""
    results = [synthetic_event(i) for i in event_ids]
    return json.dumps({"count": len(results), "next": None, "results": results}).encode()


async def test_trickling_body_hits_the_request_deadline_then_retries(
    make_client: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    """A byte every 0.1 s never trips the per-read timeout; the request deadline ends the
    attempt, which is retried like a timeout."""
    h = make_client(timeout=5.0, deadline=1.0)
    # 4 s of leading whitespace (valid JSON) before a valid page: only a deadline cuts it short.
    trickle = Reply(stream=[b" "] * 40 + [page_bytes(8)], stream_delay=0.1)
    h.server.route("events/upcoming/", trickle, OK_PAGE)
    caplog.set_level(logging.INFO, logger="bot.ll2")

    started = time.monotonic()
    result = await h.client.upcoming_events()

    assert time.monotonic() - started < 3.0
    assert [e.id for e in result.items] == [7]
    assert result.requests == 2
    (retry,) = records(caplog, "ll2 retry")
    assert "deadline" in retry.__dict__["ll2_reason"]


async def test_deadline_on_every_attempt_is_unavailable(
    make_client: Callable[..., Harness],
) -> None:
    """A server that trickles on every attempt ends in LL2Unavailable naming the deadline."""
    h = make_client(timeout=5.0, deadline=0.3, max_retries=1)
    h.server.route("events/upcoming/", Reply(stream=[b" "] * 100, stream_delay=0.05))

    with pytest.raises(LL2Unavailable, match="deadline") as caught:
        await h.client.upcoming_events()

    assert caught.value.attempts == 2


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
async def test_oversized_body_fails_the_attempt_then_retries(
    make_client: Callable[..., Harness], framing: str
) -> None:
    """A body over ``max_body_bytes`` is a failed attempt, retried like a timeout."""
    h = make_client(max_body=MIB)
    huge = b" " * (2 * MIB) + page_bytes(8)
    oversized = Reply(stream=[huge]) if framing == "chunked" else Reply(body=huge.decode())
    h.server.route("events/upcoming/", oversized, OK_PAGE)

    result = await h.client.upcoming_events()

    assert [e.id for e in result.items] == [7]
    assert result.requests == 2


async def test_endless_body_is_dropped_at_the_cap(make_client: Callable[..., Harness]) -> None:
    """A body that never ends is abandoned at the cap, not read into memory."""
    h = make_client(max_body=MIB, max_retries=0)
    endless = [b"x" * 65536] * 4096  # 256 MiB, without a Content-Length
    h.server.route("events/upcoming/", Reply(stream=endless))

    with pytest.raises(LL2Unavailable, match="cap"):
        await h.client.upcoming_events()

    # Loopback socket buffers hold a few MiB; the client stopped long before the end.
    assert h.server.streamed_bytes < 64 * MIB


async def test_throttle_check_obeys_the_deadline(make_client: Callable[..., Harness]) -> None:
    """A trickling /api-throttle/ cannot stall start-up: the check fails within the deadline."""
    h = make_client(timeout=5.0, deadline=0.5)
    h.server.route("api-throttle/", Reply(stream=[b" "] * 100, stream_delay=0.05))

    started = time.monotonic()
    assert await h.client.start() is None
    assert time.monotonic() - started < 2.0


async def test_connection_refused_is_unavailable(make_client: Callable[..., Harness]) -> None:
    """Nobody listening is a connection error, retried and then reported."""
    h = make_client(max_retries=1, base_url="http://127.0.0.1:1/2.3.0")  # nothing listens

    with pytest.raises(LL2Unavailable, match="connection error"):
        await h.client.upcoming_events()
    assert h.budget.used_in_last_hour(h.clock.now()) == 2


async def test_garbage_body_is_bad_response_logged_once(
    make_client: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    """An HTML page where JSON belongs raises LL2BadResponse, logged once, never retried."""
    h = make_client()
    h.server.route("events/upcoming/", Reply(body="<html>Cloudflare says hi</html>"))
    caplog.set_level(logging.INFO, logger="bot.ll2")

    with pytest.raises(LL2BadResponse, match="not JSON"):
        await h.client.upcoming_events()

    assert len(records(caplog, "ll2 bad response")) == 1
    assert len(h.server.hits("events/upcoming/")) == 1


@pytest.mark.parametrize(
    "body",
    [{"count": 0, "next": None, "previous": None}, {"detail": "oops"}, [], {"results": "x"}],
)
async def test_page_without_results_is_bad_response(
    make_client: Callable[..., Harness], body: Any
) -> None:
    """A JSON answer that is not a page (no ``results`` list) raises LL2BadResponse."""
    h = make_client()
    h.server.route("events/upcoming/", Reply(body))
    with pytest.raises(LL2BadResponse, match="results"):
        await h.client.upcoming_events()


async def test_client_error_is_bad_response_not_retried(
    make_client: Callable[..., Harness],
) -> None:
    """A 400/404 will not improve by asking again."""
    h = make_client()
    h.server.route("events/", Reply({"detail": "Invalid filter"}, 400))
    with pytest.raises(LL2BadResponse) as caught:
        await h.client.events_by_ids([1])
    assert caught.value.status == 400
    assert len(h.server.hits("events/")) == 1


async def test_invalid_item_is_skipped_and_logged(
    make_client: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    """One item failing validation is left out with its id and reason; the rest is used."""
    h = make_client()
    items = [synthetic_event(1), synthetic_event(2, date="not-a-date"), synthetic_event(3)]
    h.server.route("events/upcoming/", Reply({"count": 3, "next": None, "results": items}))
    caplog.set_level(logging.WARNING, logger="bot.ll2")

    result = await h.client.upcoming_events()

    assert [e.id for e in result.items] == [1, 3]
    assert result.complete
    assert [(i, r.split(":")[0]) for i, r in result.skipped] == [("2", "date")]
    (record,) = records(caplog, "ll2 item skipped")
    assert record.levelno == logging.WARNING
    assert record.__dict__["ll2_item_id"] == "2"
    assert record.__dict__["ll2_reason"].startswith("date:")


@pytest.mark.parametrize(
    ("field", "value"), [("date", 5), ("webcast_live", "yes")], ids=["date=5", "webcast_live=yes"]
)
async def test_wrong_json_type_skips_the_item(
    make_client: Callable[..., Harness], caplog: pytest.LogCaptureFixture, field: str, value: Any
) -> None:
    """A value of the wrong JSON type skips that item with one log line naming the field."""
    h = make_client()
    items = [synthetic_event(1), synthetic_event(2, **{field: value})]
    h.server.route("events/upcoming/", Reply({"count": 2, "next": None, "results": items}))
    caplog.set_level(logging.INFO, logger="bot.ll2")

    result = await h.client.upcoming_events()

    assert [e.id for e in result.items] == [1]
    assert [(i, r.split(":")[0]) for i, r in result.skipped] == [("2", field)]
    (record,) = records(caplog, "ll2 item skipped")
    assert record.__dict__["ll2_reason"].startswith(f"{field}:")


async def test_item_without_id_is_skipped_as_unknown(make_client: Callable[..., Harness]) -> None:
    """An item we cannot even identify is reported with id ``?``."""
    h = make_client()
    h.server.route("events/upcoming/", Reply({"next": None, "results": [{"name": "x"}, 5]}))
    result = await h.client.upcoming_events()
    assert result.items == []
    assert [i for i, _ in result.skipped] == ["?", "?"]


async def test_page_two_failing_returns_page_one_incomplete(
    make_client: Callable[..., Harness],
) -> None:
    """Page 2 of 3 failing yields page 1's items with ``complete=False`` and the error."""
    h = make_client(max_retries=1)
    events = [synthetic_event(i) for i in range(1, 6)]
    pages = h.server.paged("events/", events, 2)

    def respond(request: Any) -> Reply:
        if request.query.get("offset") == "2":
            return Reply({}, 502)
        return pages(request)

    h.server.route("events/", respond)

    result = await h.client.events_updated_since(h.clock.now())

    assert [e.id for e in result.items] == [1, 2]
    assert not result.complete
    assert isinstance(result.error, LL2Unavailable)
    assert result.requests == 3  # page 1, page 2, one retry of page 2
    assert [s.query.get("offset") for s in h.server.hits("events/")] == [None, "2", "2"]


async def test_page_one_failing_raises(make_client: Callable[..., Harness]) -> None:
    """With no page at all there is nothing to return: the error propagates."""
    h = make_client(max_retries=0)
    h.server.route("events/upcoming/", Reply({}, 500))
    with pytest.raises(LL2Unavailable):
        await h.client.upcoming_events()


async def test_budget_running_out_mid_fetch_is_incomplete(
    make_client: Callable[..., Harness],
) -> None:
    """No slot for page 2 within ``max_wait_seconds``: page 1 comes back, marked incomplete."""
    h = make_client(limit=1, max_wait_seconds=10)
    events = [synthetic_event(i) for i in range(1, 4)]
    h.server.route("events/upcoming/", h.server.paged("events/upcoming/", events, 2))

    result = await h.client.upcoming_events()

    assert [e.id for e in result.items] == [1, 2]
    assert not result.complete
    assert isinstance(result.error, BudgetExhausted)
    assert result.error.wait_seconds > 3000


async def test_api_key_never_logged(
    make_client: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    """Across requests, retries, 429s and bad responses the key appears in no log record."""
    key = "very-secret-ll2-key"
    h = make_client(api_key=key)
    h.server.route(
        "events/upcoming/",
        Reply({}, 500),
        Reply(THROTTLED_DETAIL, 429),
        Reply(body="garbage"),
    )
    caplog.set_level(logging.DEBUG)

    with pytest.raises(LL2BadResponse):
        await h.client.upcoming_events()

    assert caplog.records
    for record in caplog.records:
        assert key not in record.getMessage()
        assert all(key not in str(value) for value in vars(record).values())


async def test_next_link_loop_stops_incomplete(make_client: Callable[..., Harness]) -> None:
    """A ``next`` pointing back at a page already read ends the fetch instead of looping."""
    h = make_client()
    looping = {
        "count": 9,
        "next": f"{h.server.base_url}/events/upcoming/?limit=100&mode=normal",
        "results": [synthetic_event(1)],
    }
    h.server.route("events/upcoming/", Reply(looping))

    result = await h.client.upcoming_events()

    assert [e.id for e in result.items] == [1]
    assert not result.complete
    assert isinstance(result.error, LL2BadResponse)
    assert len(h.server.hits("events/upcoming/")) == 1
