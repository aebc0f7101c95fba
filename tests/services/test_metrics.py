"""Prometheus metrics: the hooks count what they should, and the endpoint serves them."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import pytest
from prometheus_client import REGISTRY

from bot.core.changes import ChangeKind
from bot.services import metrics
from bot.services.delivery.worker import DeliveryReport
from tests.services.delivery.support import update_change


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels or None) or 0.0


@dataclass
class Report:
    changes: list[object] = field(default_factory=list)
    requests: int = 0
    failed_queries: list[str] = field(default_factory=list)
    partial_queries: list[str] = field(default_factory=list)


@pytest.mark.parametrize(
    ("queries", "failed", "partial", "outcome"),
    [(2, 0, 0, "ok"), (2, 1, 0, "partial"), (2, 0, 1, "partial"), (2, 2, 0, "failed"),
     (0, 0, 0, "ok")],
)  # fmt: skip
def test_poll_outcome(queries: int, failed: int, partial: int, outcome: str) -> None:
    assert metrics.poll_outcome(queries, failed, partial) == outcome


def test_hooks_count() -> None:
    polls = value("spacecast_polls_total", outcome="partial")
    requests = value("spacecast_ll2_requests_total")
    updates = value("spacecast_changes_total", kind=ChangeKind.NEW_UPDATE.value)
    sent = value("spacecast_deliveries_total", outcome="sent")
    disabled = value("spacecast_deliveries_total", outcome="disabled")

    metrics.record_poll(Report(requests=3, failed_queries=["incremental:event"]), 2)  # type: ignore[arg-type]
    metrics.record_changes([update_change(), update_change(update_id=2)])
    metrics.record_delivery(DeliveryReport(claimed=4, sent=3, failed=1, disabled_channels=(9,)))
    metrics.set_outbox_pending(7)
    metrics.set_budget_used(5)
    metrics.set_leader(True)

    assert value("spacecast_polls_total", outcome="partial") == polls + 1
    assert value("spacecast_ll2_requests_total") == requests + 3
    assert value("spacecast_changes_total", kind="new_update") == updates + 2
    assert value("spacecast_deliveries_total", outcome="sent") == sent + 3
    assert value("spacecast_deliveries_total", outcome="disabled") == disabled + 1
    assert value("spacecast_outbox_pending") == 7
    assert value("spacecast_ll2_budget_used") == 5
    assert value("spacecast_poller_leader") == 1


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("127.0.0.1:9108", ("127.0.0.1", 9108)), (":9108", ("0.0.0.0", 9108)),
     ("[::1]:0", ("::1", 0))],
)  # fmt: skip
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert metrics.parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["9108", "host:", "host:port", "h:70000"])
def test_parse_listen_refuses(listen: str) -> None:
    with pytest.raises(ValueError, match=r"metrics\.listen"):
        metrics.parse_listen(listen)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


async def test_endpoint_serves_the_metrics() -> None:
    server = metrics.start_metrics_server("127.0.0.1:0")
    try:
        assert server.port > 0
        metrics.set_outbox_pending(3)
        body = await asyncio.to_thread(scrape, server.url)
    finally:
        server.close()
    for name in (
        'spacecast_polls_total{outcome="ok"}',
        'spacecast_deliveries_total{outcome="retried"}',
        "spacecast_ll2_requests_total",
        "spacecast_ll2_budget_used",
    ):
        assert name in body
    assert "spacecast_outbox_pending 3.0" in body
    with pytest.raises(urllib.error.URLError, match="refused"):
        await asyncio.to_thread(scrape, server.url)  # closed: the port no longer answers
