"""Optional Prometheus metrics: counters the poller and the delivery worker bump, two gauges.

The metrics always exist (incrementing them costs a lock and an addition); they are *served*
only when ``metrics.listen`` (``"host:port"``) is set, by :func:`start_metrics_server`, which
runs prometheus_client's HTTP server on a daemon thread::

    server = start_metrics_server("127.0.0.1:9108")
    ...
    server.close()

Names (all prefixed ``spacecast_``):

- ``polls_total{outcome}``: poll cycles, ``ok`` / ``partial`` (a query failed or came back
  incomplete) / ``failed`` (every query failed);
- ``ll2_requests_total``: counted LL2 requests made by poll cycles (retries included);
- ``changes_total{kind}``: changes recorded, by :class:`~bot.core.changes.ChangeKind` value;
- ``deliveries_total{outcome}``: outbox rows ``sent`` / ``failed`` / ``retried``, and channels
  ``disabled`` (dead);
- ``outbox_pending`` (gauge): pending outbox rows, refreshed by the outbox sweep;
- ``ll2_budget_used`` (gauge): requests counted in the sliding hour, refreshed after each poll;
- ``poller_leader`` (gauge): 1 while this process holds the poller lease;
- ``discord_send_rate`` (gauge): requests per second this process sent over the last 5 s, its
  current share of the token's budget (sum it over processes for the deployment's rate);
- ``discord_budget_rate`` (gauge): ``delivery.global_rate_per_second``;
- ``discord_rate_limited_total{scope}``: Discord's 429s by ``X-RateLimit-Scope`` (``global``,
  ``user``, ``shared``).

Every process of a sharded deployment serves its own numbers; only the leader polls, so only its
``polls_total`` moves.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, start_http_server

if TYPE_CHECKING:
    from bot.core.changes import Change

log = logging.getLogger("bot.metrics")

POLLS = Counter("spacecast_polls", "Poll cycles by outcome (ok, partial, failed)", ["outcome"])
LL2_REQUESTS = Counter("spacecast_ll2_requests", "Counted LL2 requests made by poll cycles")
CHANGES = Counter("spacecast_changes", "Changes recorded, by kind", ["kind"])
DELIVERIES = Counter(
    "spacecast_deliveries",
    "Outbox rows sent/failed/retried, and channels disabled",
    ["outcome"],
)
OUTBOX_PENDING = Gauge("spacecast_outbox_pending", "Pending outbox rows")
LL2_BUDGET_USED = Gauge("spacecast_ll2_budget_used", "LL2 requests counted in the sliding hour")
POLLER_LEADER = Gauge("spacecast_poller_leader", "1 while this process holds the poller lease")
# The bot token's send budget (issue 17): this process's part of it, and Discord's 429s.
DISCORD_SEND_RATE = Gauge(
    "spacecast_discord_send_rate", "Requests per second this process sent (last 5 s)"
)
DISCORD_BUDGET_RATE = Gauge(
    "spacecast_discord_budget_rate", "delivery.global_rate_per_second: the whole deployment's"
)
DISCORD_RATE_LIMITED = Counter(
    "spacecast_discord_rate_limited", "429 answers from Discord, by scope", ["scope"]
)
for _scope in ("global", "user", "shared"):
    DISCORD_RATE_LIMITED.labels(scope=_scope)

DELIVERY_OUTCOMES = ("sent", "failed", "retried", "disabled")
POLL_OUTCOMES = ("ok", "partial", "failed")

# Label values exist from the start, so a scrape shows 0 instead of nothing.
for _outcome in POLL_OUTCOMES:
    POLLS.labels(outcome=_outcome)
for _outcome in DELIVERY_OUTCOMES:
    DELIVERIES.labels(outcome=_outcome)


class _PollReportLike(Protocol):
    # The fields of bot.services.poller.PollReport this module reads (no import: poller imports us).
    @property
    def changes(self) -> list[Change]: ...
    @property
    def requests(self) -> int: ...
    @property
    def failed_queries(self) -> list[str]: ...
    @property
    def partial_queries(self) -> list[str]: ...


class _DeliveryReportLike(Protocol):
    @property
    def sent(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def retried(self) -> int: ...
    @property
    def disabled_channels(self) -> tuple[int, ...]: ...
    @property
    def expired(self) -> int: ...


def poll_outcome(queries: int, failed: int, partial: int) -> str:
    """``failed`` when every query failed, ``partial`` when some did or came back incomplete."""
    if queries and failed >= queries:
        return "failed"
    if failed or partial:
        return "partial"
    return "ok"


def record_poll(report: _PollReportLike, queries: int) -> None:
    """Count one poll cycle of ``queries`` queries (called by the poller)."""
    outcome = poll_outcome(queries, len(report.failed_queries), len(report.partial_queries))
    POLLS.labels(outcome=outcome).inc()
    if report.requests:
        LL2_REQUESTS.inc(report.requests)


def record_changes(changes: Iterable[Change]) -> None:
    """Count recorded changes by kind."""
    for change in changes:
        CHANGES.labels(kind=change.kind.value).inc()


def record_delivery(report: _DeliveryReportLike) -> None:
    """Count one delivery batch (called by :class:`bot.services.delivery.worker.DeliveryWorker`)."""
    for outcome, amount in (
        ("sent", report.sent),
        ("failed", report.failed),
        ("retried", report.retried),
        ("disabled", len(report.disabled_channels)),
        ("expired", report.expired),
    ):
        if amount:
            DELIVERIES.labels(outcome=outcome).inc(amount)


def set_outbox_pending(count: int) -> None:
    """Publish the number of pending outbox rows."""
    OUTBOX_PENDING.set(count)


def set_budget_used(count: int) -> None:
    """Publish the requests counted in the sliding hour."""
    LL2_BUDGET_USED.set(count)


def set_send_rate(per_second: float, budget: float) -> None:
    """Publish this process's send rate and the deployment's configured budget."""
    DISCORD_SEND_RATE.set(per_second)
    DISCORD_BUDGET_RATE.set(budget)


def record_rate_limited(scope: str) -> None:
    """Count one 429 from Discord under its scope."""
    DISCORD_RATE_LIMITED.labels(scope=scope or "unknown").inc()


def set_leader(leader: bool) -> None:
    """Publish whether this process holds the poller lease."""
    POLLER_LEADER.set(1 if leader else 0)


def parse_listen(listen: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:9108"`` for IPv6, ``":9108"`` for every interface) to a pair."""
    host, sep, port_text = listen.strip().rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"metrics.listen: {listen!r} is not host:port")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"metrics.listen: port {port} out of range")
    host = host.strip("[]") or "0.0.0.0"  # ":port" means every interface
    return host, port


@dataclass
class MetricsServer:
    """A running ``/metrics`` endpoint; :meth:`close` stops it."""

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        """Where to scrape."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(listen: str, registry: CollectorRegistry = REGISTRY) -> MetricsServer:
    """Serve ``registry`` at ``http://listen/metrics`` on a daemon thread (port 0: any free one)."""
    host, port = parse_listen(listen)
    server, thread = start_http_server(port, addr=host, registry=registry)
    actual = int(server.server_address[1])
    log.info("metrics listening", extra={"metrics_host": host, "metrics_port": actual})
    return MetricsServer(host, actual, server, thread)
