"""Support for ``bench/sim_polling.py``: a virtual clock, a scripted LL2 timeline, a loopback LL2.

Nothing here sleeps for real: :class:`SimClock.sleep` moves virtual time forward and yields to the
event loop once, and the loopback server reads the same clock to evaluate its sliding window and
to serve every item as it stands at virtual "now".
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
# Scripted changes stay this far from both ends of the run, so every poller has had its
# baseline before the first one and a fair chance to see the last one.
EDGE = timedelta(minutes=30)

Json = dict[str, Any]


class SimClock:
    """A virtual clock: ``now()`` and an ``async sleep()`` that advances time instantly."""

    def __init__(self, start: datetime) -> None:
        if start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        self._now = start
        self.slept = 0.0  # virtual seconds spent sleeping

    def now(self) -> datetime:
        """The current virtual time (aware UTC)."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Advance virtual time by ``seconds`` and let other tasks run once."""
        if seconds > 0:
            self._now += timedelta(seconds=seconds)
            self.slept += seconds
        await asyncio.sleep(0)


def iso(value: datetime) -> str:
    """``value`` as LL2 writes it: ISO 8601 UTC with ``Z``, to the second."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    """Parse an LL2 query datetime (``...Z``) to aware UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# -- the timeline ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scripted:
    """One scripted change: what happens to which item at which virtual instant.

    ``kind`` is ``webcast_live``, ``date_changed``, ``new_update`` (the measured kinds, named as
    :class:`bot.core.changes.ChangeKind` values) or ``webcast_ended`` (not measured).
    ``bumps`` says whether the change sets the item's ``last_updated``.
    """

    at: datetime
    source: str  # "event" | "launch"
    item_id: str
    kind: str
    bumps: bool
    new_date: datetime | None = None
    update_id: int | None = None
    comment: str = ""


@dataclass
class Item:
    """One served item: its initial JSON and its scripted changes, oldest first."""

    source: str
    item_id: str
    base: Json
    changes: list[Scripted] = field(default_factory=list)

    @property
    def date_key(self) -> str:
        return "date" if self.source == "event" else "net"

    def state_at(self, t: datetime) -> Json:
        """The item as LL2 would serve it at ``t``."""
        data = copy.deepcopy(self.base)
        for change in self.changes:
            if change.at > t:
                break
            _apply(data, change, self.date_key)
        return data


def _apply(data: Json, change: Scripted, date_key: str) -> None:
    if change.kind == "webcast_live":
        data["webcast_live"] = True
        if data["vid_urls"]:
            data["vid_urls"][0]["live"] = True
    elif change.kind == "webcast_ended":
        data["webcast_live"] = False
        for vid in data["vid_urls"]:
            vid["live"] = False
    elif change.kind == "date_changed":
        assert change.new_date is not None
        old = parse_iso(data[date_key])
        data[date_key] = iso(change.new_date)
        if date_key == "net":
            data["window_start"] = iso(change.new_date)
            data["window_end"] = iso(change.new_date + timedelta(hours=2))
        # Editors move an announced webcast start along with the date.
        for vid in data["vid_urls"]:
            if vid.get("start_time") and not vid.get("live"):
                moved = parse_iso(vid["start_time"]) + (change.new_date - old)
                vid["start_time"] = iso(moved)
    elif change.kind == "new_update":
        data["updates"].insert(
            0,
            {
                "id": change.update_id,
                "profile_image": None,
                "comment": change.comment,
                "info_url": None,
                "created_by": "sim-editor",
                "created_on": iso(change.at),
            },
        )
    if change.bumps:
        data["last_updated"] = iso(change.at)


@dataclass
class Timeline:
    """Every served item and every scripted change, for one seed."""

    start: datetime
    end: datetime
    items: list[Item]

    @property
    def scripted(self) -> list[Scripted]:
        """Every scripted change, in time order."""
        return sorted((c for i in self.items for c in i.changes), key=lambda c: c.at)

    def measured(self) -> list[Scripted]:
        """The changes whose detection latency is measured."""
        kinds = {"webcast_live", "date_changed", "new_update"}
        return [c for c in self.scripted if c.kind in kinds]


def _uniform_time(rng: random.Random, low: datetime, high: datetime) -> datetime:
    span = max(0.0, (high - low).total_seconds())
    return low + timedelta(seconds=round(rng.uniform(0.0, span)))


def build_timeline(
    start: datetime, hours: float, seed: int, *, events: int = 7, launches: int = 7
) -> Timeline:
    """Clone the real fixtures into items dated across the run and script their changes.

    Per near item: a webcast flip between 2 h and 5 min before its date (within ±3 min of the
    announced ``start_time`` when it has one, 70% of items), the webcast ending 30-90 min after
    the date, 0-2 editor updates at random moments, and for some items a date slip hours ahead
    (with an update, half the time) or, for launches, a hold a few minutes before T-0 while the
    webcast is already live. Two far-future items only get updates.

    ``last_updated``: updates and date slips bump it; webcast flips and ends do NOT (nothing
    documents that LL2's automated live flip bumps it, so the benchmark assumes the worst case).
    """
    rng = random.Random(seed)
    end = start + timedelta(hours=hours)
    event_base = json.loads((FIXTURES / "event-1201-detailed.json").read_text())
    launch_base = json.loads((FIXTURES / "launch-synthetic-detailed.json").read_text())
    update_ids = iter(range(900_000, 1_000_000))
    items: list[Item] = []
    n_near = events + launches
    first, last = start + timedelta(hours=1.5), end - timedelta(hours=0.5)
    sources = ["event" if k % 2 == 0 else "launch" for k in range(n_near)]
    if events != launches:
        sources = ["event"] * events + ["launch"] * launches
        rng.shuffle(sources)
    for k, source in enumerate(sources):
        frac = (k + rng.uniform(0.1, 0.9)) / n_near
        d0 = first + (last - first) * frac
        item = _clone(event_base if source == "event" else launch_base, source, k, rng, start)
        _script_near(item, d0, rng, start, end, update_ids)
        items.append(item)
    for k, source in enumerate(("event", "launch")):
        far = start + timedelta(days=rng.uniform(3, 20))
        item = _clone(event_base if source == "event" else launch_base, source, 50 + k, rng, start)
        item.base[item.date_key] = iso(far)
        _set_vid_starts(item.base, None)
        for _ in range(rng.randint(1, 2)):
            at = _uniform_time(rng, start + EDGE, end - EDGE)
            item.changes.append(_update(item, at, next(update_ids), "Mission details refined."))
        item.changes.sort(key=lambda c: c.at)
        items.append(item)
    return Timeline(start, end, items)


def _clone(base: Json, source: str, k: int, rng: random.Random, start: datetime) -> Item:
    data = copy.deepcopy(base)
    if source == "event":
        item_id = str(20_000 + k)
        data["id"] = int(item_id)
        data["name"] = f"Sim event {k} (edited copy of event 1201)"
        data["slug"] = f"sim-event-{k}"
    else:
        item_id = f"00000000-0000-4000-8000-{k:012d}"
        data["id"] = item_id
        data["name"] = f"Sim launch {k} (edited copy of the synthetic launch)"
        data["slug"] = f"sim-launch-{k}"
        data["status"] = {"id": 1, "name": "Go for Launch", "abbrev": "Go", "description": ""}
    data["webcast_live"] = False
    for vid in data["vid_urls"]:
        vid["live"] = False
        vid["end_time"] = None
    data["last_updated"] = iso(start - timedelta(hours=rng.uniform(1, 48)))
    return Item(source, item_id, data)


def _set_vid_starts(data: Json, when: datetime | None) -> None:
    for n, vid in enumerate(data["vid_urls"]):
        vid["start_time"] = None if when is None else iso(when + timedelta(minutes=2 * n))


def _update(item: Item, at: datetime, update_id: int, comment: str) -> Scripted:
    return Scripted(
        at, item.source, item.item_id, "new_update", True, update_id=update_id, comment=comment
    )


def _script_near(
    item: Item,
    d0: datetime,
    rng: random.Random,
    start: datetime,
    end: datetime,
    update_ids: Any,
) -> None:
    changes: list[Scripted] = []
    lo, hi = start + EDGE, end - EDGE

    def keep(at: datetime) -> bool:
        return lo <= at <= hi

    # An early slip, hours before the date (the item may not even be hot yet).
    date = d0
    roll = rng.random()
    if roll < 0.35:
        slip_at = _uniform_time(rng, d0 - timedelta(hours=6), d0 - timedelta(hours=2.5))
        delta = timedelta(minutes=rng.choice([-1, 1, 1, 1]) * rng.uniform(15, 180))
        if keep(slip_at) and keep(d0 + delta):
            date = d0 + delta
            changes.append(
                Scripted(slip_at, item.source, item.item_id, "date_changed", True, new_date=date)
            )
            if rng.random() < 0.5:
                changes.append(_update(item, slip_at, next(update_ids), "Date adjusted."))
    # The webcast's announced start (or none), relative to the date in effect at the flip.
    announced = rng.random() < 0.7
    hold_at: datetime | None = None
    if item.source == "launch" and 0.35 <= roll < 0.6:
        hold_at = date - timedelta(minutes=rng.uniform(4, 20))
    if announced:
        start_time = date - timedelta(minutes=rng.uniform(5, 60))
        flip = start_time + timedelta(minutes=rng.uniform(-3, 3))
        # The base carries the start relative to d0; a slip moves it (see _apply).
        _set_vid_starts(item.base, start_time - (date - d0))
    else:
        flip = date - timedelta(minutes=rng.uniform(5, 120))
        _set_vid_starts(item.base, None)
    flip = min(max(flip, date - 2 * HOUR), date - 5 * MINUTE)
    if hold_at is not None:
        flip = min(flip, hold_at - MINUTE)
    item.base[item.date_key] = iso(d0)
    if item.date_key == "net":
        item.base["window_start"] = iso(d0)
        item.base["window_end"] = iso(d0 + 2 * HOUR)
    if keep(flip):
        changes.append(Scripted(flip, item.source, item.item_id, "webcast_live", False))
    final = date
    if hold_at is not None and keep(hold_at):
        final = date + timedelta(minutes=rng.uniform(10, 60))
        changes.append(
            Scripted(hold_at, item.source, item.item_id, "date_changed", True, new_date=final)
        )
        changes.append(_update(item, hold_at, next(update_ids), "Hold at T-minus; new T-0."))
    ended = final + timedelta(minutes=rng.uniform(30, 90))
    if ended <= end:
        changes.append(Scripted(ended, item.source, item.item_id, "webcast_ended", False))
    for _ in range(rng.randint(0, 2)):
        at = _uniform_time(rng, max(lo, d0 - 12 * HOUR), min(hi, final + HOUR))
        if keep(at):
            changes.append(_update(item, at, next(update_ids), "Editor note."))
    item.changes = sorted(changes, key=lambda c: c.at)


# -- the loopback LL2 ------------------------------------------------------------------------


@dataclass
class ServedRequest:
    """One request the loopback server answered."""

    at: datetime
    path_qs: str
    status: int
    counted: bool


EVENT_TYPES = [
    {"id": 2, "name": "Docking"},
    {"id": 3, "name": "EVA"},
    {"id": 5, "name": "Static Fire"},
    {"id": 8, "name": "Undocking"},
    {"id": 9, "name": "Landing"},
    {"id": 20, "name": "Press Event"},
]


class FakeLL2:
    """An aiohttp LL2 on 127.0.0.1 that enforces ``limit`` requests per sliding window.

    Like Django REST Framework's throttle, a request is counted only when it is let through, a
    request at ``t`` stops counting at ``t + window``, and a throttled one gets HTTP 429 with
    ``Retry-After`` and ``{"detail": "Request was throttled. Expected available in N seconds."}``.
    ``/api-throttle/`` is not counted.
    """

    def __init__(
        self, timeline: Timeline, clock: Callable[[], datetime], *, limit: int = 15
    ) -> None:
        self.timeline = timeline
        self.clock = clock
        self.limit = limit
        self.window = HOUR
        self.history: list[datetime] = []  # counted requests
        self.log: list[ServedRequest] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        """Serve on an ephemeral loopback port; return the ``.../2.3.0`` base URL."""
        app = web.Application()
        app.router.add_get("/2.3.0/api-throttle/", self._throttle)
        app.router.add_get("/2.3.0/config/event_types/", self._event_types)
        app.router.add_get("/2.3.0/{source:events|launches}/upcoming/", self._upcoming)
        app.router.add_get("/2.3.0/{source:events|launches}/", self._filtered)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/2.3.0"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- throttling

    def _active(self, now: datetime) -> list[datetime]:
        self.history = [t for t in self.history if t > now - self.window]
        return self.history

    def _wait(self, now: datetime) -> int:
        active = self._active(now)
        if len(active) < self.limit:
            return 0
        return max(1, math.ceil((active[0] + self.window - now).total_seconds()))

    def _gate(self, request: web.Request) -> web.Response | None:
        now = self.clock()
        wait = self._wait(now)
        if wait:
            self.log.append(ServedRequest(now, request.path_qs, 429, False))
            body = {"detail": f"Request was throttled. Expected available in {wait} seconds."}
            return web.json_response(body, status=429, headers={"Retry-After": str(wait)})
        self.history.append(now)
        self.log.append(ServedRequest(now, request.path_qs, 200, True))
        return None

    async def _throttle(self, request: web.Request) -> web.Response:
        now = self.clock()
        self.log.append(ServedRequest(now, request.path_qs, 200, False))
        return web.json_response(
            {
                "your_request_limit": self.limit,
                "limit_frequency_secs": int(self.window.total_seconds()),
                "current_use": len(self._active(now)),
                "next_use_secs": self._wait(now),
                "ident": "127.0.0.1",
            }
        )

    async def _event_types(self, request: web.Request) -> web.Response:
        if (denied := self._gate(request)) is not None:
            return denied
        return web.json_response(_page(EVENT_TYPES))

    # -- items

    def _states(self, source: str, mode: str) -> list[tuple[Item, Json]]:
        now = self.clock()
        wanted = "event" if source == "events" else "launch"
        out = []
        for item in self.timeline.items:
            if item.source == wanted:
                data = item.state_at(now)
                data["response_mode"] = mode
                out.append((item, data))
        return out

    async def _upcoming(self, request: web.Request) -> web.Response:
        if (denied := self._gate(request)) is not None:
            return denied
        now = self.clock()
        source = request.match_info["source"]
        mode = request.query.get("mode", "normal")
        results = [
            data
            for item, data in self._states(source, mode)
            if parse_iso(data[item.date_key]) >= now - timedelta(hours=24)
        ]
        results.sort(key=lambda d: d["date" if source == "events" else "net"])
        return web.json_response(_page(results))

    async def _filtered(self, request: web.Request) -> web.Response:
        if (denied := self._gate(request)) is not None:
            return denied
        source = request.match_info["source"]
        q = request.query
        key = "date" if source == "events" else "net"
        results = []
        for _item, data in self._states(source, q.get("mode", "normal")):
            when = parse_iso(data[key])
            if f"{key}__gte" in q and when < parse_iso(q[f"{key}__gte"]):
                continue
            if f"{key}__lte" in q and when > parse_iso(q[f"{key}__lte"]):
                continue
            if "last_updated__gte" in q and parse_iso(data["last_updated"]) < parse_iso(
                q["last_updated__gte"]
            ):
                continue
            if "id" in q and str(data["id"]) not in q["id"].split(","):
                continue
            results.append(data)
        order = q.get("ordering", key).lstrip("-")
        results.sort(key=lambda d: d.get(order) or "")
        return web.json_response(_page(results))


def _page(results: list[Any]) -> Json:
    return {"count": len(results), "next": None, "previous": None, "results": results}
