"""LL2Client against a loopback server: queries, pagination, headers, the throttle endpoint."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bot import __version__
from bot.config import LL2Settings
from bot.ll2 import LL2BadResponse, LL2Client
from tests.ll2.conftest import FakeClock, FakeLL2, Harness, Reply, load_fixture, synthetic_event

OPENAPI = load_fixture("openapi-2.3.0.json")
EVENT_PAGE = {"count": 1, "next": None, "previous": None}
T0 = datetime(2025, 7, 1, 10, 0, 0, tzinfo=UTC)
T1 = datetime(2025, 7, 2, 10, 0, 0, 500_000, tzinfo=UTC)


def page(items: list[Any]) -> Reply:
    return Reply({**EVENT_PAGE, "count": len(items), "results": items})


async def test_follows_next_links_across_three_pages(make_client: Callable[..., Harness]) -> None:
    """Five events served two per page come back in order from three counted requests."""
    h = make_client()
    events = [synthetic_event(i) for i in range(1, 6)]
    h.server.route("events/upcoming/", h.server.paged("events/upcoming/", events, 2))

    result = await h.client.upcoming_events()

    assert [e.id for e in result.items] == [1, 2, 3, 4, 5]
    assert result.complete
    assert result.skipped == []
    assert result.requests == 3
    hits = h.server.hits("events/upcoming/")
    assert [s.query.get("offset") for s in hits] == [None, "2", "4"]
    assert all(s.query["mode"] == "normal" and s.query["limit"] == "100" for s in hits)
    assert h.budget.used_in_last_hour(h.clock.now()) == 3


async def test_duplicate_across_shifting_pages_is_kept_once(
    make_client: Callable[..., Harness],
) -> None:
    """An item that moves onto the next page while we read is returned once, newest copy."""
    h = make_client()
    first = {
        **EVENT_PAGE,
        "next": f"{h.server.base_url}/events/?offset=2",
        "results": [synthetic_event(1, name="old"), synthetic_event(2)],
    }
    # Edited while we read (which is why it moved): a later last_updated.
    edited = synthetic_event(1, name="new", last_updated="2025-06-26T14:00:00Z")
    second = page([edited, synthetic_event(3)])
    h.server.route("events/", Reply(first), second)

    result = await h.client.events_updated_since(T0)

    assert [e.id for e in result.items] == [1, 2, 3]
    assert result.items[0].name == "new"


def copies(*stamps: str) -> list[dict[str, Any]]:
    """Copies of event 1 edited at ``stamps``, each named after its stamp."""
    return [synthetic_event(1, name=stamp, last_updated=stamp) for stamp in stamps]


@pytest.mark.parametrize("order", ["newest first", "newest last"])
async def test_duplicate_on_one_page_keeps_the_newest_edit(
    make_client: Callable[..., Harness], order: str
) -> None:
    """Two copies of one id on a page: the one with the newer ``last_updated`` wins, whatever
    the order."""
    h = make_client()
    stamps = ["2025-06-26T14:00:00Z", "2025-06-26T13:00:00Z"]
    if order == "newest last":
        stamps.reverse()
    h.server.route("events/upcoming/", page([*copies(*stamps), synthetic_event(2)]))

    result = await h.client.upcoming_events()

    assert [e.id for e in result.items] == [1, 2]
    assert result.items[0].name == "2025-06-26T14:00:00Z"


async def test_duplicate_tie_keeps_the_first_copy(make_client: Callable[..., Harness]) -> None:
    """Two copies edited at the same moment: the first one read is kept."""
    h = make_client()
    twins = [synthetic_event(1, name="first"), synthetic_event(1, name="second")]
    h.server.route("events/upcoming/", page(twins))

    result = await h.client.upcoming_events()

    assert [e.name for e in result.items] == ["first"]


async def test_duplicate_is_logged_once(
    make_client: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    """Three copies of one id make one log line naming the id."""
    h = make_client()
    stamps = ["2025-06-26T12:00:00Z", "2025-06-26T13:00:00Z", "2025-06-26T14:00:00Z"]
    h.server.route("events/upcoming/", page(copies(*stamps)))
    caplog.set_level(logging.INFO, logger="bot.ll2")

    await h.client.upcoming_events()

    duplicates = [r for r in caplog.records if r.getMessage() == "ll2 duplicate item"]
    assert [r.__dict__["ll2_item_id"] for r in duplicates] == ["1"]


QueryCall = Callable[[LL2Client], Awaitable[Any]]


QUERIES = [
    (lambda c: c.upcoming_events(), "events/upcoming/", {"mode": "normal"}),
    (lambda c: c.upcoming_launches(), "launches/upcoming/", {"mode": "detailed"}),
    (
        lambda c: c.events_in_window(T0, T1),
        "events/",
        {
            "mode": "normal",
            "date__gte": "2025-07-01T10:00:00Z",
            "date__lte": "2025-07-02T10:00:01Z",
            "ordering": "date",
        },
    ),
    (
        lambda c: c.launches_in_window(T0, T1),
        "launches/",
        {
            "mode": "detailed",
            "net__gte": "2025-07-01T10:00:00Z",
            "net__lte": "2025-07-02T10:00:01Z",
            "ordering": "net",
        },
    ),
    (
        lambda c: c.events_updated_since(T0),
        "events/",
        {"mode": "normal", "last_updated__gte": "2025-07-01T09:58:00Z"},
    ),
    (
        lambda c: c.launches_updated_since(T0.astimezone(timezone(timedelta(hours=2)))),
        "launches/",
        {
            "mode": "detailed",
            "last_updated__gte": "2025-07-01T09:58:00Z",
            "ordering": "last_updated",
        },
    ),
    (lambda c: c.events_by_ids([12, 3, 12]), "events/", {"mode": "normal", "id": "12,3"}),
    (
        lambda c: c.launches_by_ids(["b-uuid", "a-uuid"]),
        "launches/",
        {"mode": "detailed", "id": "a-uuid,b-uuid"},
    ),
    (lambda c: c.event_types(), "config/event_types/", {}),
]
QUERY_IDS = [
    "upcoming_events",
    "upcoming_launches",
    "events_in_window",
    "launches_in_window",
    "events_updated_since",
    "launches_updated_since",
    "events_by_ids",
    "launches_by_ids",
    "event_types",
]


@pytest.mark.parametrize(("call", "path", "expected"), QUERIES, ids=QUERY_IDS)
async def test_query_parameters(
    make_client: Callable[..., Harness], call: QueryCall, path: str, expected: dict[str, str]
) -> None:
    """Each query hits its path with its mode, filters (UTC, ``Z``) and ``limit=100``."""
    h = make_client()
    h.server.route(path, page([]))

    await call(h.client)

    (seen,) = h.server.hits(path)
    assert seen.query["limit"] == "100"
    for key, value in expected.items():
        assert seen.query[key] == value
    if path == "config/event_types/":
        assert "mode" not in seen.query


@pytest.mark.parametrize(("call", "path", "expected"), QUERIES, ids=QUERY_IDS)
async def test_query_parameters_exist_in_openapi(
    make_client: Callable[..., Harness], call: QueryCall, path: str, expected: dict[str, str]
) -> None:
    """Every filter we send is one LL2's OpenAPI lists for that path (``mode`` aside: the
    schema omits it, though the API documents it)."""
    h = make_client()
    h.server.route(path, page([]))
    await call(h.client)
    (seen,) = h.server.hits(path)
    documented = {p["name"] for p in OPENAPI["paths"]["/2.3.0/" + path]["get"]["parameters"]}
    assert set(seen.query) - {"mode"} <= documented


async def test_ids_are_sent_as_strings_sorted_by_text(make_client: Callable[..., Harness]) -> None:
    """Event ids are de-duplicated; the comma list is deterministic."""
    h = make_client()
    h.server.route("events/", page([]))
    await h.client.events_by_ids([3, 1, 2, 1])
    assert h.server.hits("events/")[0].query["id"] == "1,2,3"


async def test_many_ids_are_split_into_chunks(make_client: Callable[..., Harness]) -> None:
    """120 ids need three requests of at most 50 ids each; results are merged."""
    h = make_client()
    h.server.route("events/", page([synthetic_event(1)]), page([synthetic_event(2)]), page([]))

    result = await h.client.events_by_ids(range(1000, 1120))

    sizes = [len(s.query["id"].split(",")) for s in h.server.hits("events/")]
    assert sizes == [50, 50, 20]
    assert [e.id for e in result.items] == [1, 2]
    assert result.requests == 3
    assert result.complete


async def test_no_ids_no_request(make_client: Callable[..., Harness]) -> None:
    """Asking for nothing spends nothing."""
    h = make_client()
    result = await h.client.launches_by_ids([])
    assert result.items == []
    assert result.complete
    assert result.requests == 0
    assert h.server.counted_hits() == []


async def test_naive_datetime_is_refused(make_client: Callable[..., Harness]) -> None:
    """A naive datetime is a bug in the caller, not something to guess about."""
    h = make_client()
    with pytest.raises(ValueError, match="timezone-aware"):
        await h.client.events_in_window(datetime(2025, 7, 1), T1)  # noqa: DTZ001


async def test_launch_fixture_parses_in_detailed_mode(make_client: Callable[..., Harness]) -> None:
    """The synthetic detailed launch (built from the LaunchDetailed schema) parses fully."""
    h = make_client()
    h.server.route("launches/upcoming/", page([load_fixture("launch-synthetic-detailed.json")]))

    result = await h.client.upcoming_launches()

    (launch,) = result.items
    assert launch.id == "4f8e2b6d-1c3a-4e7b-9d25-6a0c8b3f5e91"
    assert launch.status is not None
    assert launch.status.id == 1
    assert launch.net is not None
    assert launch.net.tzinfo is not None


async def test_event_types_follow_pages(make_client: Callable[..., Harness]) -> None:
    """Event types are paginated like everything else."""
    h = make_client()
    types = [{"id": i, "name": f"Type {i}"} for i in range(1, 4)]
    h.server.route("config/event_types/", h.server.paged("config/event_types/", types, 2))

    result = await h.client.event_types()

    assert [(t.id, t.name) for t in result.items] == [(1, "Type 1"), (2, "Type 2"), (3, "Type 3")]
    assert result.requests == 2


@pytest.mark.parametrize(
    ("api_key", "expected"), [(None, None), ("s3cret-key", "Token s3cret-key")]
)
async def test_authorization_header_only_with_key(
    make_client: Callable[..., Harness], api_key: str | None, expected: str | None
) -> None:
    """``Authorization: Token <key>`` goes out with a key and not at all without one."""
    h = make_client(api_key=api_key)
    h.server.route("events/upcoming/", page([]))

    await h.client.upcoming_events()
    await h.client.throttle()

    for seen in h.server.seen:
        assert seen.headers.get("Authorization") == expected


async def test_user_agent(make_client: Callable[..., Harness]) -> None:
    """Every request names Spacecast, its version and a contact URL."""
    h = make_client()
    h.server.route("events/upcoming/", page([]))
    await h.client.upcoming_events()
    await h.client.throttle()
    expected = f"Spacecast/{__version__} (+https://github.com/spacecast)"
    assert [s.headers["User-Agent"] for s in h.server.seen] == [expected, expected]


@pytest.mark.parametrize("as_array", [False, True])
async def test_throttle_as_object_or_one_element_array(
    make_client: Callable[..., Harness], as_array: bool
) -> None:
    """``/api-throttle/`` parses whether LL2 wraps the object in a list or not."""
    h = make_client()
    body = load_fixture("api-throttle.json")
    h.server.route("api-throttle/", Reply([body] if as_array else body))

    info = await h.client.throttle()

    assert (info.your_request_limit, info.limit_frequency_secs) == (15, 3600)
    assert (info.current_use, info.next_use_secs) == (0, 0)


async def test_throttle_with_odd_shape_is_bad_response(make_client: Callable[..., Harness]) -> None:
    """Two throttle objects, or none, is not an answer we understand."""
    h = make_client()
    body = load_fixture("api-throttle.json")
    h.server.route("api-throttle/", Reply([body, body]))
    with pytest.raises(LL2BadResponse):
        await h.client.throttle()


async def test_throttle_endpoint_is_not_counted(make_client: Callable[..., Harness]) -> None:
    """Reading ``/api-throttle/`` (directly or at start) spends no budget."""
    h = make_client()
    await h.client.start()
    await h.client.throttle()
    assert len(h.server.hits("api-throttle/")) == 2
    assert h.budget.used_in_last_hour(h.clock.now()) == 0
    assert h.send_log.times == []


async def test_start_aligns_budget_with_server(make_client: Callable[..., Harness]) -> None:
    """At start the server's count of our IP's requests becomes ours."""
    h = make_client(limit=15)
    body = {**load_fixture("api-throttle.json"), "current_use": 10}
    h.server.route("api-throttle/", Reply(body))

    info = await h.client.start()

    assert info is not None
    assert info.current_use == 10
    assert h.budget.available(h.clock.now()) == 5


async def test_start_survives_throttle_failure(make_client: Callable[..., Harness]) -> None:
    """A broken ``/api-throttle/`` at start is logged, not fatal."""
    h = make_client()
    h.server.route("api-throttle/", Reply(body="<html>oops</html>", status=502))
    assert await h.client.start() is None


async def test_send_is_recorded_before_request_arrives(
    make_client: Callable[..., Harness],
) -> None:
    """When the server sees a counted request, the send log already holds it."""
    h = make_client()
    logged_at_arrival: list[int] = []

    def respond(request: Any) -> Reply:
        logged_at_arrival.append(len(h.send_log.times))
        return page([])

    h.server.route("events/upcoming/", respond)
    await h.client.upcoming_events()
    assert logged_at_arrival == [1]


async def test_create_builds_and_closes_its_own_http_client(ll2_server: FakeLL2) -> None:
    """The factory wires settings, a budget and its own AsyncClient, which aclose() closes."""
    settings = LL2Settings(base_url=ll2_server.base_url + "/", requests_per_hour=15)
    ll2_server.route("events/upcoming/", page([synthetic_event(1)]))

    async with LL2Client.create(settings, clock=FakeClock()) as client:
        await client.start()
        result = await client.upcoming_events()

    assert [e.id for e in result.items] == [1]
    assert client.budget.limit == 15
    with pytest.raises(RuntimeError, match="closed"):
        await client.throttle()
