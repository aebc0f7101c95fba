"""What the soak expected against what the loopback Discord holds: the figures of ``soak.py``.

The expectation is the bot's own store: every outbox row is one alert for one channel. A row
counts as **delivered** when the channel holds a message with the row's first-part nonce
(whatever the row's status says), as **expired** or **cancelled** when it is not delivered and
its status says so by rule (a dead channel, a withdrawn date slip, a deadline), and as **lost**
otherwise (pending after the drain, failed, "sent" without a message, or any status this script
does not know, which is reported by name). Statuses are read as plain text, so the outbox may
grow new ones (the lead is adding ``expired``) without breaking the comparison.

A second, independent check (``unrouted``): every alertable change in ``change_log`` must have a
row for every channel that was subscribed when the change was seen (all the soak's
subscriptions take every kind of every source, so no routing rule is needed to know).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from soak_support import FaultyDiscord, SoakLL2
from sqlalchemy import select

from bot.core.changes import ALERT_KINDS
from bot.services.delivery.rows import part_nonce
from bot.store import create_engine, schema

# Rows that render to more parts than this are not expected; their extra parts would show up
# as unmatched messages.
MAX_PARTS = 10
# A change seen within this long of its channel's disabling may or may not have been routed.
DISABLE_SLACK = timedelta(seconds=5)
BY_RULE = {"expired", "cancelled"}


@dataclass(frozen=True)
class OutboxFact:
    """One outbox row, as read back (status as text)."""

    id: int
    dedup_key: str
    channel_id: int
    item_ref: str
    kinds: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None
    changes: list[tuple[str, str]]  # (kind, version) of the payload's changes


@dataclass(frozen=True)
class StoreFacts:
    """What the bot's store holds after the run."""

    outbox: list[OutboxFact]
    changes: list[tuple[str, str, str, datetime]]  # (item_ref, kind, version, detected_at)
    disabled_at: dict[int, datetime]  # channel -> when its subscription was disabled
    channels: list[int]
    request_log: list[datetime]  # the bot's own record of its counted LL2 requests


async def read_store(url: str) -> StoreFacts:
    """Read outbox, change log and subscriptions with plain selects (no status enum)."""
    engine = create_engine(url)
    o, c, s = schema.outbox, schema.change_log, schema.subscriptions
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(o))).all()
            changes = (await conn.execute(select(c))).all()
            subs = (await conn.execute(select(s))).all()
            sent = (await conn.execute(select(schema.request_log.c.sent_at))).scalars().all()
    finally:
        await engine.dispose()
    outbox = [
        OutboxFact(
            id=r.id,
            dedup_key=r.dedup_key,
            channel_id=int(r.channel_id),
            item_ref=r.item_ref,
            kinds=r.kinds,
            status=str(r.status),
            attempts=int(r.attempts),
            created_at=r.created_at,
            next_attempt_at=r.next_attempt_at,
            last_error=r.last_error,
            changes=[(ch["kind"], ch["version"]) for ch in json.loads(r.payload)["changes"]],
        )
        for r in rows
    ]
    alert_kinds = {k.value for k in ALERT_KINDS}
    logged = [
        (f"{r.source}:{r.item_id}", r.kind, r.version, r.detected_at)
        for r in changes
        if r.kind in alert_kinds
    ]
    disabled = {int(r.channel_id): r.updated_at for r in subs if not r.enabled}
    channels = sorted({int(r.channel_id) for r in subs})
    return StoreFacts(outbox, logged, disabled, channels, list(sent))


@dataclass
class Figures:
    """Everything the soak reports (``--json`` prints this as is)."""

    backend: str
    seed: int
    minutes: float
    changes: int = 0
    changes_by_kind: dict[str, int] = field(default_factory=dict)
    expected: int = 0  # outbox rows
    rows_by_status: dict[str, int] = field(default_factory=dict)
    delivered: int = 0  # rows whose first part reached the channel
    messages: int = 0  # messages the loopback Discord stored in subscribed channels
    duplicates: int = 0  # extra messages: same nonce or same content again in a channel
    duplicate_nonce: int = 0
    duplicate_content: int = 0
    lost: int = 0
    lost_by_status: dict[str, int] = field(default_factory=dict)
    expired: int = 0
    cancelled: int = 0
    cancelled_by_reason: dict[str, int] = field(default_factory=dict)
    unrouted: int = 0  # (change, channel) pairs with no outbox row at all (counted as lost)
    unmatched_messages: int = 0  # messages whose nonce no row holds (e.g. a row rewritten)
    delivered_not_marked_sent: int = 0
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    latency_max_s: float | None = None
    latency_p95_immediate_s: float | None = None  # rows not held by the date-slip quiet period
    ll2_requests: int = 0
    ll2_requests_recorded: int = 0  # rows in the bot's request_log (a send is logged first)
    ll2_max_in_any_hour: int = 0
    ll2_limit: int = 15
    ll2_outcomes: dict[str, int] = field(default_factory=dict)
    ll2_requests_by_process: dict[str, int] = field(default_factory=dict)
    ll2_429_received: int = 0
    discord_429_received: int = 0
    discord_injected: dict[str, int] = field(default_factory=dict)
    discord_deduplicated: int = 0  # resends Discord answered with the existing message
    mutations: dict[str, int] = field(default_factory=dict)
    kills: int = 0
    kills_mid_delivery: int = 0  # struck while a message's POST was being answered
    unexpected_exits: int = 0
    pg_restarts: int = 0
    ready_after_restart_s: list[float] = field(default_factory=list)
    dead_channel: int | None = None
    drain_s: float = 0.0
    problems: list[str] = field(default_factory=list)  # each one fails the soak
    notes: list[str] = field(default_factory=list)
    workdir: str = ""

    @property
    def ok(self) -> bool:
        """The exit criterion: nothing lost, nothing doubled, LL2's limit kept, and no
        problem (a bot that exited by itself or not cleanly on SIGTERM, an unrecorded send)."""
        return (
            self.lost == 0
            and self.duplicates == 0
            and self.ll2_max_in_any_hour <= self.ll2_limit
            and not self.problems
        )

    def as_json(self) -> dict[str, Any]:
        """The figures plus ``ok``."""
        return {**asdict(self), "ok": self.ok}


def nearest_rank(values: list[float], q: float) -> float | None:
    """The ``q`` quantile by nearest rank (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def compare(facts: StoreFacts, discord: FaultyDiscord, ll2: SoakLL2, figures: Figures) -> None:
    """Fill ``figures`` from the store's facts and the loopback peers."""
    figures.changes = len(facts.changes)
    figures.changes_by_kind = dict(Counter(kind for _, kind, _, _ in facts.changes))
    figures.expected = len(facts.outbox)
    figures.rows_by_status = dict(Counter(r.status for r in facts.outbox))
    _deliveries(facts, discord, figures)
    _coverage(facts, figures)
    counted = ll2.counted()
    figures.ll2_requests = len(counted)
    figures.ll2_requests_recorded = len(facts.request_log)
    if figures.ll2_requests > figures.ll2_requests_recorded:
        figures.problems.append(
            f"LL2 counted {figures.ll2_requests} requests, the bot's request_log holds only "
            f"{figures.ll2_requests_recorded}: some sends escaped the budget's record"
        )
    figures.ll2_max_in_any_hour = ll2.max_in_any_hour()
    figures.ll2_limit = ll2.request_limit
    figures.ll2_outcomes = dict(Counter(s.outcome for s in ll2.served))
    figures.ll2_requests_by_process = dict(Counter(s.proc for s in counted))
    # Not the 429s of the closed LL2 at the end of the drain: those are the soak's doing.
    figures.ll2_429_received = sum(
        1 for s in counted if s.outcome.startswith("429") and s.outcome != "429-closed"
    )
    figures.discord_429_received = discord.stats.rate_limited
    figures.discord_injected = dict(discord.injected)
    figures.discord_deduplicated = discord.stats.deduplicated


def _deliveries(facts: StoreFacts, discord: FaultyDiscord, figures: Figures) -> None:
    channels = set(facts.channels)
    by_nonce: dict[tuple[int, str], OutboxFact] = {}
    for row in facts.outbox:
        for index in range(MAX_PARTS):
            by_nonce[(row.channel_id, part_nonce(row.dedup_key, index))] = row
    first_seen: dict[tuple[int, str], float] = {}
    seen_content: set[tuple[int, str]] = set()
    for message in discord.messages:
        if message.channel_id not in channels:
            continue
        figures.messages += 1
        key = (message.channel_id, message.nonce or "")
        content = json.dumps([message.content, message.embeds, message.components], sort_keys=True)
        again_nonce = key in first_seen
        again_content = (message.channel_id, content) in seen_content
        figures.duplicate_nonce += again_nonce
        figures.duplicate_content += again_content
        figures.duplicates += again_nonce or again_content
        first_seen.setdefault(key, discord.received_at.get(message.id, math.nan))
        seen_content.add((message.channel_id, content))
        if key not in by_nonce:
            figures.unmatched_messages += 1

    latencies: list[float] = []
    immediate: list[float] = []
    lost: Counter[str] = Counter()
    cancelled: Counter[str] = Counter()
    for row in facts.outbox:
        received = first_seen.get((row.channel_id, part_nonce(row.dedup_key, 0)))
        if received is not None:
            figures.delivered += 1
            if row.status != "sent":
                figures.delivered_not_marked_sent += 1
            delay = received - row.created_at.timestamp()
            latencies.append(delay)
            if row.kinds != "date_changed":
                immediate.append(delay)
        elif row.status == "expired":
            figures.expired += 1
        elif row.status == "cancelled":
            figures.cancelled += 1
            cancelled[_reason(row.last_error)] += 1
        else:
            # "sent" here means the store believes in a message Discord does not have.
            lost[row.status if row.status != "sent" else "sent-but-missing"] += 1
    figures.lost += sum(lost.values())
    figures.lost_by_status = dict(lost)
    figures.cancelled_by_reason = dict(cancelled)
    for name, q in (("latency_p50_s", 0.5), ("latency_p95_s", 0.95)):
        value = nearest_rank(latencies, q)
        setattr(figures, name, None if value is None else round(value, 2))
    figures.latency_max_s = round(max(latencies), 2) if latencies else None
    p95 = nearest_rank(immediate, 0.95)
    figures.latency_p95_immediate_s = None if p95 is None else round(p95, 2)


def _reason(error: str | None) -> str:
    text = (error or "").lower()
    if text.startswith("channel unusable"):
        return "dead channel"
    if text.startswith("withdrawn"):
        return "withdrawn (date restored)"
    return text[:60] or "no reason"


def _coverage(facts: StoreFacts, figures: Figures) -> None:
    # Which (channel, item) pairs hold which (kind, version), and which hold any date change
    # (a coalesced date slip keeps neither of the versions it merged).
    exact: set[tuple[int, str, str, str]] = set()
    dated: set[tuple[int, str]] = set()
    for row in facts.outbox:
        for kind, version in row.changes:
            exact.add((row.channel_id, row.item_ref, kind, version))
        if "date_changed" in row.kinds.split(",") or "withdrawn" in (row.last_error or ""):
            dated.add((row.channel_id, row.item_ref))
    missing = 0
    for item_ref, kind, version, detected_at in facts.changes:
        for channel in facts.channels:
            disabled = facts.disabled_at.get(channel)
            if disabled is not None and detected_at >= disabled - DISABLE_SLACK:
                continue
            if (channel, item_ref, kind, version) in exact:
                continue
            if kind == "date_changed" and (channel, item_ref) in dated:
                continue
            missing += 1
    figures.unrouted = missing
    figures.lost += missing


def render_text(figures: Figures) -> str:
    """The figures as a short human-readable report."""
    f = figures

    def kv(values: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "none"

    lines = [
        f"soak: {f.backend}, seed {f.seed}, {f.minutes:g} min, "
        f"{f.kills} SIGKILLs ({f.kills_mid_delivery} mid-delivery), "
        f"{f.pg_restarts} PostgreSQL restarts, "
        f"{f.unexpected_exits} unexpected exits",
        f"  changes (alertable, change_log): {f.changes} ({kv(f.changes_by_kind)})",
        f"  expected messages (outbox rows): {f.expected} ({kv(f.rows_by_status)})",
        f"  delivered: {f.delivered} rows; {f.messages} messages in the channels; "
        f"{f.unmatched_messages} unmatched",
        f"  duplicates: {f.duplicates} (same nonce {f.duplicate_nonce}, "
        f"same content {f.duplicate_content})",
        f"  lost: {f.lost} ({kv(f.lost_by_status)}; unrouted changes {f.unrouted})",
        f"  expired: {f.expired}",
        f"  cancelled: {f.cancelled} ({kv(f.cancelled_by_reason)})",
        f"  delivered but not marked sent: {f.delivered_not_marked_sent}",
        f"  latency (Discord receipt - row created_at): p50 {f.latency_p50_s} s, "
        f"p95 {f.latency_p95_s} s, max {f.latency_max_s} s; "
        f"p95 without held date slips {f.latency_p95_immediate_s} s",
        f"  LL2: {f.ll2_requests} counted requests, max {f.ll2_max_in_any_hour} in any sliding "
        f"hour (limit {f.ll2_limit}); {f.ll2_requests_recorded} in the bot's request_log; "
        f"by process {kv(f.ll2_requests_by_process)}",
        f"  LL2 answers: {kv(f.ll2_outcomes)}",
        f"  429s received by the bot: LL2 {f.ll2_429_received}, Discord {f.discord_429_received}",
        f"  Discord faults injected: {kv(f.discord_injected)}; "
        f"nonce resends answered with the existing message: {f.discord_deduplicated}",
        f"  LL2 edits by the driver: {kv(f.mutations)}; dead channel: {f.dead_channel}",
        f"  READY after each restart (s): {f.ready_after_restart_s}; drain took {f.drain_s} s",
    ]
    lines += [f"  problem: {p}" for p in f.problems]
    lines += [f"  note: {n}" for n in f.notes]
    lines.append(f"  logs and database: {f.workdir}")
    lines.append(f"  result: {'PASS' if f.ok else 'FAIL'}")
    return "\n".join(lines)
