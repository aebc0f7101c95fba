"""Loopback peers with seeded faults, and the LL2 data driver, for ``bench/soak.py``.

- :class:`SoakLL2` extends :class:`tests.scaleout.fakes.CountingLL2` (one URL prefix per bot
  process, so every request is attributed to the incarnation that made it): LL2's filters,
  an honest ``/api-throttle/``, LL2's own limit (429 beyond ``request_limit`` in a sliding
  hour, as Django REST Framework does) and random faults: 500s, slow answers (longer than the
  bot's timeout), garbage and truncated bodies, 429 with ``Retry-After``.
- :class:`FaultyDiscord` extends :class:`tests.scaleout.fakes.MultiTokenDiscord` (one token per
  bot incarnation, nonces honoured like Discord): random 500s before the message is stored,
  500s *after* it is stored (the answer is lost, so only the nonce prevents a second message),
  429s with ``Retry-After``, and the wall-clock time each message arrived.
- :class:`Driver` edits the served items at random (webcast flips, date slips, new updates, now
  and then a new item), seeded.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sim_support import iso, parse_iso

from tests.e2e.fake_ll2 import load_fixture
from tests.scaleout.fakes import CountingLL2, MultiTokenDiscord
from tests.services.delivery.fake_discord import StoredMessage

Json = dict[str, Any]
HOUR_SECONDS = 3600.0
THROTTLE_PATH = "api-throttle/"
EVENT_TYPES = [{"id": 2, "name": "Docking"}, {"id": 3, "name": "EVA"}]


# -- LL2 ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LL2Faults:
    """Probability of each fault per counted LL2 request (they are exclusive; the rest is OK)."""

    error_500: float = 0.08
    slow: float = 0.05
    garbage: float = 0.04
    truncated: float = 0.04
    throttled: float = 0.04
    slow_seconds: float = 8.0  # longer than the bot's SPACECAST_LL2__TIMEOUT_SECONDS
    retry_after: tuple[int, int] = (20, 90)


@dataclass(frozen=True)
class Served:
    """One LL2 request as the loopback saw it."""

    wall: float  # time.time()
    proc: str
    path: str
    # ok | 500 | slow | garbage | truncated | 429-injected | 429-limit | 429-closed | throttle
    outcome: str
    counted: bool  # everything but /api-throttle/


@dataclass
class SoakLL2(CountingLL2):
    """A :class:`CountingLL2` with LL2's filters and limit, an honest throttle view and faults.

    ``request_limit`` is LL2's hourly limit here (the parent reports it in ``/api-throttle/``).
    Like DRF, a request counts towards it only when let through (any answer but a 429).
    """

    faults: LL2Faults = field(default_factory=LL2Faults)
    rng: random.Random = field(default_factory=random.Random)
    faults_enabled: bool = True
    # The first counted requests go through clean: a failed baseline holds the planner back
    # for minutes, which would leave a short soak with nothing to deliver.
    clean_start: int = 3
    # Set at the end of the drain: every counted request gets a 429 for an hour, so no poll can
    # queue rows the bot would not have time to send before its SIGTERM.
    closed: bool = False
    served: list[Served] = field(default_factory=list)
    let_through: list[float] = field(default_factory=list)  # wall times, for the limit
    blocked_until: float = 0.0  # wall time; set by an injected 429, shown by /api-throttle/

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one request under ``/{proc}/2.3.0/`` (keeps the parent's bookkeeping)."""
        proc, tail = request.match_info["proc"], request.match_info["tail"]
        self.requests[proc] += 1
        self.first_request_at.setdefault(proc, time.monotonic())
        self.log.append((time.monotonic(), proc, request.path_qs))
        now = time.time()
        if tail == THROTTLE_PATH:
            self._record(now, proc, request, "throttle")
            return web.json_response(self._throttle_view(now))
        if self.closed:
            self._record(now, proc, request, "429-closed")
            return _throttled(int(HOUR_SECONDS))
        wait = self._limit_wait(now)
        if wait:
            self._record(now, proc, request, "429-limit")
            return _throttled(wait)
        outcome = self._draw_fault()
        self._record(now, proc, request, outcome)
        if outcome == "429-injected":
            low, high = self.faults.retry_after
            seconds = self.rng.randint(low, high)
            self.blocked_until = max(self.blocked_until, now + seconds)
            return _throttled(seconds)
        self.let_through.append(now)
        if outcome == "500":
            return web.json_response({"detail": "Internal Server Error"}, status=500)
        if outcome == "garbage":
            # What a proxy in front of LL2 answers when the backend is down.
            html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
            return web.Response(text=html, content_type="text/html")
        body = self._answer(tail, request)
        if body is None:
            return web.json_response({"detail": "Not found."}, status=404)
        text = json.dumps(body)
        if outcome == "truncated":
            return web.Response(text=text[: len(text) // 2], content_type="application/json")
        if outcome == "slow":
            await asyncio.sleep(self.faults.slow_seconds)
        return web.Response(text=text, content_type="application/json")

    def counted(self) -> list[Served]:
        """Every counted request, oldest first."""
        return [s for s in self.served if s.counted]

    def max_in_any_hour(self) -> int:
        """The most counted requests in any sliding hour (every answer, 429s included)."""
        times = sorted(s.wall for s in self.counted())
        best = start = 0
        for end, at in enumerate(times):
            while at - times[start] >= HOUR_SECONDS:
                start += 1
            best = max(best, end - start + 1)
        return best

    # -- internals

    def _record(self, now: float, proc: str, request: web.Request, outcome: str) -> None:
        counted = outcome != "throttle"
        self.served.append(Served(now, proc, request.path_qs, outcome, counted))

    def _active(self, now: float) -> list[float]:
        self.let_through = [t for t in self.let_through if t > now - HOUR_SECONDS]
        return self.let_through

    def _limit_wait(self, now: float) -> int:
        active = self._active(now)
        if len(active) < self.request_limit:
            return 0
        return max(1, round(active[0] + HOUR_SECONDS - now + 0.5))

    def _throttle_view(self, now: float) -> Json:
        blocked = max(0, round(self.blocked_until - now + 0.5))
        return {
            "your_request_limit": self.request_limit,
            "limit_frequency_secs": int(HOUR_SECONDS),
            "current_use": len(self._active(now)),
            "next_use_secs": max(self._limit_wait(now), blocked),
            "ident": "127.0.0.1",
        }

    def _draw_fault(self) -> str:
        if not self.faults_enabled or len(self.counted()) < self.clean_start:
            return "ok"
        f = self.faults
        roll = self.rng.random()
        for outcome, p in (
            ("500", f.error_500),
            ("slow", f.slow),
            ("garbage", f.garbage),
            ("truncated", f.truncated),
            ("429-injected", f.throttled),
        ):
            if roll < p:
                return outcome
            roll -= p
        return "ok"

    def _answer(self, tail: str, request: web.Request) -> Json | None:
        q = request.query
        mode = q.get("mode", "normal")
        if tail == "config/event_types/":
            return _page(EVENT_TYPES)
        if tail in ("events/upcoming/", "launches/upcoming/"):
            items = self.events if tail.startswith("events") else self.launches
            key = "date" if tail.startswith("events") else "net"
            cutoff = datetime.now(UTC) - timedelta(hours=24)
            chosen = [i for i in items if parse_iso(i[key]) >= cutoff]
            return _page(_served(sorted(chosen, key=lambda i: i[key]), mode))
        if tail in ("events/", "launches/"):
            items = self.events if tail == "events/" else self.launches
            key = "date" if tail == "events/" else "net"
            chosen = [i for i in items if _matches(i, key, q)]
            order = q.get("ordering", key).lstrip("-")
            return _page(_served(sorted(chosen, key=lambda i: str(i.get(order) or "")), mode))
        return None


def _matches(item: Json, key: str, q: Any) -> bool:
    # The filters the bot uses: date/net window, last_updated__gte, id list.
    when = parse_iso(item[key])
    if f"{key}__gte" in q and when < parse_iso(q[f"{key}__gte"]):
        return False
    if f"{key}__lte" in q and when > parse_iso(q[f"{key}__lte"]):
        return False
    if "last_updated__gte" in q and parse_iso(item["last_updated"]) < parse_iso(
        q["last_updated__gte"]
    ):
        return False
    return "id" not in q or str(item["id"]) in q["id"].split(",")


def _served(items: list[Json], mode: str) -> list[Json]:
    out = copy.deepcopy(items)
    for item in out:
        item["response_mode"] = mode
    return out


def _page(results: list[Any]) -> Json:
    return {"count": len(results), "next": None, "previous": None, "results": results}


def _throttled(seconds: int) -> web.Response:
    body = {"detail": f"Request was throttled. Expected available in {seconds} seconds."}
    return web.json_response(body, status=429, headers={"Retry-After": str(seconds)})


# -- Discord ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiscordFaults:
    """Probability of each fault per message POST."""

    error_500: float = 0.05  # refused before anything is stored
    lost_answer: float = 0.05  # stored, then answered 500: only the nonce saves a duplicate
    rate_limited: float = 0.05  # 429 with Retry-After, as a per-route bucket would


class FaultyDiscord(MultiTokenDiscord):
    """A :class:`MultiTokenDiscord` that fails message POSTs at random, seeded.

    Each stored message's arrival is remembered in wall-clock seconds (``received_at``), to
    compare with the outbox row's ``created_at``.
    """

    def __init__(
        self, tokens: list[str], *, faults: DiscordFaults, rng: random.Random, **kwargs: Any
    ) -> None:
        super().__init__(tokens, **kwargs)
        self.faults = faults
        self.rng = rng
        self.faults_enabled = True
        self.injected: Counter[str] = Counter()
        self.received_at: dict[int, float] = {}
        self._stored = asyncio.Event()

    async def _precheck(self, request: web.Request, channel_id: int | None) -> web.Response | None:
        if self.faults_enabled and request.method == "POST" and channel_id is not None:
            roll = self.rng.random()
            if roll < self.faults.error_500:
                self.stats.requests += 1
                self.injected["500"] += 1
                return self._error(500, 0)
            roll -= self.faults.error_500
            if roll < self.faults.rate_limited:
                self.stats.requests += 1
                self.injected["429"] += 1
                retry = round(self.rng.uniform(0.2, 2.0), 3)
                return self._rate_limited(retry, scope="user", channel_id=channel_id)
        return await super()._precheck(request, channel_id)

    async def _post_message(self, request: web.Request) -> web.Response:
        response = await super()._post_message(request)
        if (
            self.faults_enabled
            and response.status == 200
            and self.rng.random() < self.faults.lost_answer
        ):
            self.injected["lost-answer"] += 1
            return self._error(500, 0)
        return response

    async def next_message(self, limit: float) -> bool:
        """Wait up to ``limit`` s for the next stored message; True if one came.

        The waiter wakes while that message's POST is still being answered, so whatever it
        does next (a SIGKILL) happens before the bot hears that the message exists.
        """
        self._stored.clear()
        try:
            await asyncio.wait_for(self._stored.wait(), limit)
        except TimeoutError:
            return False
        return True

    def _store(self, channel_id: int, body: dict[str, Any]) -> StoredMessage:
        message = super()._store(channel_id, body)
        self.received_at[message.id] = time.time()
        self._stored.set()
        return message


# -- the served items and the driver ------------------------------------------------------------


def build_items(
    now: datetime, rng: random.Random, events: int, launches: int
) -> tuple[list[Json], list[Json]]:
    """Events cloned from real event 1201 and launches from the synthetic launch fixture.

    All are hot (dated 10 min to 2.5 h ahead), so the planner reads them at its fastest; half
    announce a webcast ``start_time`` a few minutes ahead, which earns them watch reads.
    """
    event_base = load_fixture("event-1201-detailed.json")
    launch_base = load_fixture("launch-synthetic-detailed.json")
    made_events = [_clone(event_base, "event", k, now, rng) for k in range(events)]
    made_launches = [_clone(launch_base, "launch", k, now, rng) for k in range(launches)]
    return made_events, made_launches


def _clone(base: Json, source: str, k: int, now: datetime, rng: random.Random) -> Json:
    data = copy.deepcopy(base)
    if source == "event":
        data["id"] = 30_000 + k
        data["name"] = f"Soak event {k} (edited copy of event 1201)"
        data["slug"] = f"soak-event-{k}"
    else:
        data["id"] = f"00000000-0000-4000-9000-{k:012d}"
        data["name"] = f"Soak launch {k} (edited copy of the synthetic launch)"
        data["slug"] = f"soak-launch-{k}"
        data["status"] = {"id": 1, "name": "Go for Launch", "abbrev": "Go", "description": ""}
    date = now + timedelta(minutes=rng.uniform(10, 150))
    _set_date(data, date)
    data["webcast_live"] = False
    announced = now + timedelta(minutes=rng.uniform(2, 12)) if rng.random() < 0.5 else None
    for n, vid in enumerate(data["vid_urls"]):
        vid["live"] = False
        vid["end_time"] = None
        vid["start_time"] = None if announced is None else iso(announced + timedelta(minutes=n))
    data["last_updated"] = iso(now - timedelta(hours=rng.uniform(1, 24)))
    return data


def _date_key(item: Json) -> str:
    return "date" if isinstance(item["id"], int) else "net"


def _set_date(item: Json, when: datetime) -> None:
    key = _date_key(item)
    item[key] = iso(when)
    if key == "net":
        item["window_start"] = iso(when)
        item["window_end"] = iso(when + timedelta(hours=2))


@dataclass
class Driver:
    """Edits the items ``ll2`` serves, one random edit every ``gap`` seconds (seeded), and
    now and then a second slip of an item that just slipped.

    Dates only move forward and every update id is new, so no two alerts of one channel can
    legitimately render alike: a repeated message is a duplicate. Webcast flips may switch a
    webcast on or off; the bot alerts a webcast going live once per date.
    """

    ll2: SoakLL2
    rng: random.Random
    gap: tuple[float, float] = (5.0, 20.0)
    bump_probability: float = 0.8  # the rest do not bump last_updated (LL2 does not promise it)
    slip_again_probability: float = 0.4
    slip_again_after: tuple[float, float] = (20.0, 50.0)
    applied: Counter[str] = field(default_factory=Counter)
    _next_update_id: int = 990_000
    _next_item: int = 100
    _follow_ups: list[tuple[float, Json]] = field(default_factory=list)  # (monotonic, item)

    async def run(self, stop: asyncio.Event) -> None:
        """Edit until ``stop`` is set."""
        next_edit = time.monotonic() + self.rng.uniform(*self.gap)
        while not stop.is_set():
            due = min([next_edit, *(at for at, _ in self._follow_ups)])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, due - time.monotonic()))
            if stop.is_set():
                return
            now = datetime.now(UTC)
            for follow_up in [f for f in self._follow_ups if f[0] <= time.monotonic()]:
                self._follow_ups.remove(follow_up)
                self._slip(follow_up[1])
                follow_up[1]["last_updated"] = iso(now)
                self.applied["date_slip_again"] += 1
            if time.monotonic() >= next_edit:
                self.edit_once(now)
                next_edit = time.monotonic() + self.rng.uniform(*self.gap)

    def edit_once(self, now: datetime) -> str:
        """Apply one random edit; return its kind."""
        roll = self.rng.random()
        if roll < 0.05:
            kind = "new_item"
            self._add_item(now)
        else:
            items = self.ll2.events + self.ll2.launches
            item = self.rng.choice(items)
            if roll < 0.40:
                kind = "date_slip"
                self._slip(item)
                if self.rng.random() < self.slip_again_probability:
                    # The same item slips again soon, inside the bot's quiet period: its
                    # held alert should then say "A -> C" once.
                    again = time.monotonic() + self.rng.uniform(*self.slip_again_after)
                    self._follow_ups.append((again, item))
            elif roll < 0.75:
                kind = "new_update"
                self._update(item, now)
            else:
                kind = "webcast_flip"
                self._flip(item)
            if self.rng.random() < self.bump_probability:
                item["last_updated"] = iso(now)
        self.applied[kind] += 1
        return kind

    def _slip(self, item: Json) -> None:
        key = _date_key(item)
        delta = timedelta(minutes=self.rng.uniform(2, 20))
        _set_date(item, parse_iso(item[key]) + delta)
        for vid in item["vid_urls"]:
            if vid.get("start_time"):  # editors move an announced start with the date
                vid["start_time"] = iso(parse_iso(vid["start_time"]) + delta)

    def _update(self, item: Json, now: datetime) -> None:
        self._next_update_id += 1
        item["updates"].insert(
            0,
            {
                "id": self._next_update_id,
                "profile_image": None,
                "comment": f"Soak note {self._next_update_id}.",
                "info_url": None,
                "created_by": "soak-editor",
                "created_on": iso(now),
            },
        )

    def _flip(self, item: Json) -> None:
        live = not item["webcast_live"]
        item["webcast_live"] = live
        if item["vid_urls"]:
            item["vid_urls"][0]["live"] = live

    def _add_item(self, now: datetime) -> None:
        self._next_item += 1
        source = "event" if self.rng.random() < 0.5 else "launch"
        target = self.ll2.events if source == "event" else self.ll2.launches
        fixture = (
            "event-1201-detailed.json" if source == "event" else "launch-synthetic-detailed.json"
        )
        added = _clone(load_fixture(fixture), source, self._next_item, now, self.rng)
        added["last_updated"] = iso(now)  # a brand-new item: LL2 stamps it now
        target.append(added)
