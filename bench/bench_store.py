"""Parse, diff and persist one poll of 100 detailed events and of 10,000 items (SQLite, PostgreSQL).

    python bench/bench_store.py [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/spacecast_test]

Each scenario first stores a baseline poll, then times a second poll of the same size in which
10% of the items moved their date and 10% gained an update (so the diff has real work and the
transaction writes change-log rows). Reported: CPU time of this process (parse + snapshot + diff
+ SQL building; the PostgreSQL server's own CPU is not included) and wall time, best of 3.
Targets (issue 4): 100 events < 50 ms CPU, 10,000 items < 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import tempfile
import time
import uuid
from pathlib import Path

from bot.config import Settings
from bot.core.models import Event, Launch
from bot.core.planner import Query, QueryKind
from bot.core.snapshot import Source, snapshot_from_event, snapshot_from_launch
from bot.ll2 import LL2Client
from bot.services.poller import Poller
from bot.store import open_store

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def _events(count: int, generation: int) -> list[bytes]:
    base = json.loads((FIXTURES / "event-1201-detailed.json").read_text())
    out = []
    for i in range(count):
        item = copy.deepcopy(base)
        item["id"] = 100_000 + i
        item["name"] = f"Bench event {i}"
        if generation and i % 10 == 0:
            item["date"] = f"2025-06-26T{11 + generation % 10:02d}:30:00Z"
        if generation and i % 10 == 1:
            item["updates"].insert(0, {**item["updates"][0], "id": 900_000 + i * 10 + generation})
        out.append(json.dumps(item).encode())
    return out


def _launches(count: int, generation: int) -> list[bytes]:
    base = json.loads((FIXTURES / "launch-synthetic-detailed.json").read_text())
    out = []
    for i in range(count):
        item = copy.deepcopy(base)
        item["id"] = str(uuid.UUID(int=i))
        item["name"] = f"Bench launch {i}"
        if generation and i % 10 == 0:
            item["net"] = f"2026-01-0{1 + generation % 9}T12:00:00Z"
        out.append(json.dumps(item).encode())
    return out


async def _one_poll(poller: Poller, events: list[bytes], launches: list[bytes]) -> None:
    # Parsing is part of the measured work: the client does exactly this per item.
    ev = [snapshot_from_event(Event.model_validate_json(raw)) for raw in events]
    la = [snapshot_from_launch(Launch.model_validate_json(raw)) for raw in launches]
    if ev:
        await poller.apply_snapshots(
            Query(QueryKind.FULL_UPCOMING, Source.EVENT), Source.EVENT, ev, complete=True
        )
    if la:
        await poller.apply_snapshots(
            Query(QueryKind.FULL_UPCOMING, Source.LAUNCH), Source.LAUNCH, la, complete=True
        )


async def _scenario(url: str, n_events: int, n_launches: int) -> tuple[float, float]:
    best_cpu = best_wall = float("inf")
    for attempt in range(3):
        store = await open_store(url)
        try:
            async with store.engine.begin() as conn:  # start each attempt from an empty store
                for table in ("outbox", "change_log", "snapshots", "poll_state"):
                    await conn.exec_driver_sql(f"DELETE FROM {table}")
            settings = Settings()
            client = LL2Client.create(settings.ll2)
            poller = Poller(store, client, settings)
            await _one_poll(poller, _events(n_events, 0), _launches(n_launches, 0))
            ev, la = _events(n_events, attempt + 1), _launches(n_launches, attempt + 1)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await _one_poll(poller, ev, la)
            best_cpu = min(best_cpu, time.process_time() - cpu0)
            best_wall = min(best_wall, time.perf_counter() - wall0)
            await client.aclose()
        finally:
            await store.close()
    return best_cpu, best_wall


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg", default="postgresql+asyncpg://postgres@127.0.0.1:5432/spacecast_test"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        targets = {"SQLite": f"sqlite+aiosqlite:///{tmp}/bench.db", "PostgreSQL": args.pg}
        print("| scenario | store | CPU (ms) | wall (ms) | target |")
        print("|---|---|---:|---:|---|")
        for label, n_events, n_launches, target in (
            ("100 detailed events", 100, 0, "< 50 ms CPU"),
            ("10,000 items (5,000 events + 5,000 launches)", 5000, 5000, "< 2 s"),
        ):
            for store_name, url in targets.items():
                try:
                    cpu, wall = await _scenario(url, n_events, n_launches)
                except OSError as exc:
                    print(f"| {label} | {store_name} | unreachable: {exc} | | |")
                    continue
                print(
                    f"| {label} | {store_name} | {cpu * 1000:.0f} | {wall * 1000:.0f} | {target} |"
                )


if __name__ == "__main__":
    asyncio.run(main())
