"""Reminder timing on a simulated clock: lateness, wrong reminders, requests an hour.

    python bench/sim_reminders.py [--hours 24] [--seeds 1-6] [--offsets 60,10,2]

The scripted days of ``bench/sim_polling.py`` (``bench/sim_support.py``: items cloned from the
real fixtures, precision Second/Minute, early slips hours ahead, and launch holds 4-20 minutes
before T-0 that move the date 10-60 minutes later) are served by the loopback LL2 that enforces
15 counted requests per sliding hour. One subscription follows everything with the given
reminder offsets. Every 10 virtual seconds, as ``run``'s scheduler does, the driver runs the real
``PollLoop.tick()`` (planner, ``Poller``, ``LL2Client``, ``RequestBudget``, SQLite store) and
the real ``ReminderJob.run()``. Two runs side by side on each timeline: ``lookouts`` (the poll
loop gets the reminder job's armed moments, as ``run`` wires it) and ``plain`` (it does not).

Measured, per run:
- lateness: when the reminder job handed a reminder to the outbox minus its moment (the
  delivery worker then sends it within its own latency, measured by the fan-out benchmarks);
- wrong: a reminder whose target date was no longer LL2's date at its moment; split by how long
  before the moment the move was published (>= 3 min: the target is 0; < 3 min: no poller can
  promise to have seen it);
- missed: a truthful reminder (LL2's date at the moment minus the offset is the moment) that was
  never queued: the planner's repeat rule (a new date within the quiet period of one already
  reminded of) accounts for some, late reads for the rest;
- requests: the most counted requests in any sliding hour, and the 429s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim_support import FakeLL2, Item, SimClock, Timeline, build_timeline, iso, parse_iso

from bot.config import LL2Settings, Settings
from bot.core.planner import Lookout
from bot.core.reminders import ReminderKey, parse_offsets
from bot.ll2 import LL2Client
from bot.ll2.budget import RequestBudget
from bot.services.poller import Poller
from bot.services.reminders import ReminderJob
from bot.services.scheduler import PollLoop
from bot.store import open_store
from bot.store.delivery_queries import reminder_keys

START = datetime(2025, 7, 1, tzinfo=UTC)
LIMIT = 15
TICK = 10.0  # seconds: run's scheduler tick for polling and reminders
FRESH = timedelta(minutes=3)  # a move published this long before the moment must be caught
WARM_UP = timedelta(minutes=5)  # the baseline poll; a reminder before it cannot be known
GUILD, CHANNEL = 1_900_000_000_000_000_000, 1_910_000_000_000_000_001


@dataclass
class Sent:
    key: ReminderKey
    queued_at: datetime


@dataclass
class RunResult:
    name: str
    sent: list[Sent] = field(default_factory=list)  # every reminder queued
    counted: list[datetime] = field(default_factory=list)
    throttled: int = 0


def date_at(item: Item, moment: datetime) -> datetime:
    """LL2's date of ``item`` as served at ``moment``."""
    return parse_iso(item.state_at(moment)[item.date_key])


def moved_at(item: Item, moment: datetime) -> datetime | None:
    """When the date in effect at ``moment`` was published (None: the initial date)."""
    moves = [c.at for c in item.changes if c.kind == "date_changed" and c.at <= moment]
    return max(moves) if moves else None


def ref_of(item: Item) -> str:
    return f"{item.source}:{item.item_id}"


async def run(name: str, timeline: Timeline, offsets: tuple[int, ...], workdir: Path) -> RunResult:
    result = RunResult(name)
    sim = SimClock(timeline.start)
    server = FakeLL2(timeline, sim.now, limit=LIMIT)
    base_url = await server.start()
    store = await open_store(f"sqlite+aiosqlite:///{workdir}/{name}.db")
    settings = Settings(ll2=LL2Settings(base_url=base_url, requests_per_hour=LIMIT))
    http = httpx.AsyncClient()
    client = LL2Client(settings.ll2, http, RequestBudget(LIMIT, send_log=store, clock=sim))
    poller = Poller(store, client, settings, clock=sim.now)
    quiet = timedelta(minutes=settings.delivery.quiet_period_minutes)
    job = ReminderJob(store, quiet, sim.now)
    lookouts: Callable[[], Sequence[Lookout]] = job.lookouts if name == "lookouts" else tuple
    loop = PollLoop(store, client, poller, settings, clock=sim.now, sleep=sim.sleep,
                    lookouts=lookouts)  # fmt: skip
    await store.add_subscription(GUILD, CHANNEL, reminders=offsets)
    seen: set[str] = set()
    try:
        await client.start()
        while sim.now() < timeline.end:
            await loop.tick()
            await job.run(sim.now())
            for key in await reminder_keys(store, timeline.start - timedelta(days=1)):
                if key not in seen:
                    seen.add(key)
                    result.sent.append(Sent(ReminderKey.from_dedup_key(key), sim.now()))
            await sim.sleep(TICK)
    finally:
        result.counted = [r.at for r in server.log if r.counted]
        result.throttled = sum(1 for r in server.log if r.status == 429)
        await http.aclose()
        await store.close()
        await server.stop()
    return result


@dataclass
class Verdict:
    lateness: list[float] = field(default_factory=list)
    wrong_fresh: list[str] = field(default_factory=list)  # moved >= 3 min before the moment
    wrong_late: int = 0  # moved < 3 min before the moment
    expected: int = 0
    missed: list[str] = field(default_factory=list)
    worst_hour: int = 0
    throttled: int = 0


def truthful(item: Item, offsets: tuple[int, ...], start: datetime, end: datetime) -> set[tuple]:
    """(ref, offset, target) of every reminder the truth calls for: LL2's date at the moment
    is the target, the moment inside the run (after the baseline's first minutes)."""
    wanted = set()
    dates = {parse_iso(item.base[item.date_key])} | {
        parse_iso(iso(c.new_date))  # as served: to the second
        for c in item.changes
        if c.kind == "date_changed" and c.new_date
    }
    for target in dates:
        for offset in offsets:
            moment = target - timedelta(minutes=offset)
            if start + WARM_UP <= moment < end and date_at(item, moment) == target:
                wanted.add((ref_of(item), offset, target))
    return wanted


def judge(result: RunResult, timeline: Timeline, offsets: tuple[int, ...]) -> Verdict:
    verdict = Verdict(throttled=result.throttled)
    items = {ref_of(i): i for i in timeline.items}
    sent = {(s.key.item_ref, s.key.offset_minutes, s.key.target) for s in result.sent}
    for s in result.sent:
        item = items[s.key.item_ref]
        if s.key.moment < timeline.start + WARM_UP:
            continue
        moment = s.key.moment
        verdict.lateness.append((s.queued_at - moment).total_seconds())
        if date_at(item, moment) != s.key.target:
            published = moved_at(item, moment)
            assert published is not None
            if moment - published >= FRESH:
                verdict.wrong_fresh.append(
                    f"{s.key.item_ref} T-{s.key.offset_minutes}m for {s.key.target:%H:%M}, "
                    f"moved {(moment - published).total_seconds() / 60:.1f} min before"
                )
            else:
                verdict.wrong_late += 1
    for item in timeline.items:
        for want in sorted(truthful(item, offsets, timeline.start, timeline.end)):
            verdict.expected += 1
            if want not in sent:
                verdict.missed.append(f"{want[0]} T-{want[1]}m for {want[2]:%H:%M}")
    counted = sorted(result.counted)
    verdict.worst_hour = max(
        (
            sum(1 for t in counted[i:] if t < at + timedelta(hours=1))
            for i, at in enumerate(counted)
        ),
        default=0,
    )
    return verdict


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def _seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-", 1)
        return list(range(int(low), int(high) + 1))
    return [int(part) for part in text.split(",")]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seeds", type=_seeds, default=[1, 2, 3])
    parser.add_argument("--offsets", default="60,10,2", help="reminder offsets, as users type")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    offsets = parse_offsets(args.offsets)
    logging.basicConfig(level=logging.ERROR)
    pooled: dict[str, list[Verdict]] = {"lookouts": [], "plain": []}
    print(f"offsets {args.offsets}, {args.hours:g} h per timeline, seeds {args.seeds}")
    print(f"{'run':9} {'seed':>4} {'sent':>5} {'p50 s':>6} {'p95 s':>6} {'max s':>6} "
          f"{'wrong>=3m':>9} {'wrong<3m':>8} {'missed':>10} {'max/h':>5} {'429':>4}")  # fmt: skip
    for seed in args.seeds:
        timeline = build_timeline(START, args.hours, seed)
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("lookouts", "plain"):
                result = await run(name, timeline, offsets, Path(tmp))
                v = judge(result, timeline, offsets)
                pooled[name].append(v)
                print(
                    f"{name:9} {seed:>4} {len(v.lateness):>5} "
                    f"{statistics.median(v.lateness) if v.lateness else 0:>6.1f} "
                    f"{_p95(v.lateness) if v.lateness else 0:>6.1f} "
                    f"{max(v.lateness, default=0):>6.1f} {len(v.wrong_fresh):>9} "
                    f"{v.wrong_late:>8} {len(v.missed):>4}/{v.expected:<5} "
                    f"{v.worst_hour:>5} {v.throttled:>4}"
                )
                if args.verbose:
                    for line in v.wrong_fresh:
                        print(f"    wrong: {line}")
                    for line in v.missed:
                        print(f"    missed: {line}")
    ok = True
    for name, verdicts in pooled.items():
        late = [x for v in verdicts for x in v.lateness]
        wrong = sum(len(v.wrong_fresh) for v in verdicts)
        print(
            f"pooled {name}: {len(late)} reminders, lateness median "
            f"{statistics.median(late):.1f} s, p95 {_p95(late):.1f} s, max {max(late):.1f} s; "
            f"wrong (moved >= 3 min before) {wrong}, wrong (< 3 min) "
            f"{sum(v.wrong_late for v in verdicts)}; missed "
            f"{sum(len(v.missed) for v in verdicts)}/{sum(v.expected for v in verdicts)}; "
            f"max {max(v.worst_hour for v in verdicts)} requests in an hour, "
            f"{sum(v.throttled for v in verdicts)} x 429"
        )
        if name == "lookouts":
            ok = (
                _p95(late) <= 30
                and wrong == 0
                and all(v.worst_hour <= LIMIT and v.throttled == 0 for v in verdicts)
            )
    print("targets (lookouts: p95 <= 30 s, 0 wrong when moved >= 3 min before, <= 15/h, 0 x 429):",
          "met" if ok else "NOT met")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
