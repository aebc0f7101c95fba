"""The planner's inputs and outputs: plain frozen data, no behaviour beyond validation.

See :mod:`bot.core.planner.plan` for the policy that turns these inputs into a :class:`Plan`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from bot.core.snapshot import Source


class QueryKind(StrEnum):
    """What a query asks LL2 for."""

    FULL_UPCOMING = "full_upcoming"  # /<source>/upcoming/, every page
    INCREMENTAL = "incremental"  # last_updated__gte=since
    HOT_WINDOW = "hot_window"  # date__gte/net__gte .. date__lte/net__lte
    EVENT_TYPES = "event_types"  # /config/event_types/


# One independent poll schedule: a query kind for one source (event types have none).
Stream = tuple[QueryKind, Source | None]


class Tier(IntEnum):
    """How urgently a source's items need re-reading; higher is hotter."""

    COLD = 0  # nothing in the hot window
    WARM = 1  # in the hot window, away from its likely moments
    TIGHT = 2  # date within [-10 min, +2 h] of now: webcasts typically go live, holds happen
    CRITICAL = 3  # an announced webcast start_time within ±critical_margin (3 min) of now


def _aware(value: datetime | None, name: str) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


@dataclass(frozen=True)
class Query:
    """One LL2 query to run. ``pages`` is the estimated number of counted requests (>= 1)."""

    kind: QueryKind
    source: Source | None = None
    start: datetime | None = None  # HOT_WINDOW: window start (inclusive)
    end: datetime | None = None  # HOT_WINDOW: window end (inclusive)
    since: datetime | None = None  # INCREMENTAL: last_updated__gte
    pages: int = 1

    def __post_init__(self) -> None:
        if self.pages < 1:
            raise ValueError("a query costs at least one request")
        if (self.kind is QueryKind.EVENT_TYPES) != (self.source is None):
            raise ValueError("event types have no source; every other query has one")
        if self.kind is QueryKind.HOT_WINDOW and (
            self.start is None or self.end is None or self.start > self.end
        ):
            raise ValueError("a hot window query needs start <= end")
        if self.kind is QueryKind.INCREMENTAL and self.since is None:
            raise ValueError("an incremental query needs since")
        for name in ("start", "end", "since"):
            _aware(getattr(self, name), name)

    @property
    def stream(self) -> Stream:
        """The schedule this query belongs to."""
        return (self.kind, self.source)

    @property
    def cost(self) -> int:
        """Estimated counted requests."""
        return self.pages

    @property
    def label(self) -> str:
        """A short name for logs, such as ``hot_window:launch``."""
        return self.kind.value if self.source is None else f"{self.kind.value}:{self.source.value}"


@dataclass(frozen=True)
class Lookout:
    """A moment that wants fresh data about one item: "read ``source`` shortly before
    ``moment``, and let the read reach ``date``".

    The reminder job asks for one per armed reminder due within the hour (``moment`` is the
    reminder's moment, ``date`` the item's date it counts down to), so a slip published a few
    minutes before the reminder moves it instead of producing a wrong "T-10 min". The planner
    sets a slot aside for it as for an announced webcast start: within the budget, never over.
    """

    source: Source
    moment: datetime
    date: datetime

    def __post_init__(self) -> None:
        _aware(self.moment, "moment")
        _aware(self.date, "date")


@dataclass(frozen=True)
class Cadence:
    """The rates the planner settled on for this plan (for logs, metrics and tests)."""

    tiers: Mapping[Source, Tier]
    hot_gap: Mapping[Source, timedelta]  # desired window-read gap of each hot source
    incremental_gap: timedelta  # the longest a source should go unread
    held_back: int  # slots the next hour sets aside for reads around announced webcast starts


@dataclass(frozen=True)
class Plan:
    """When to poll next and what to ask for then."""

    at: datetime
    queries: tuple[Query, ...]
    cadence: Cadence
    reason: str = ""

    @property
    def cost(self) -> int:
        """Estimated counted requests of the whole plan."""
        return sum(q.cost for q in self.queries)


@dataclass(frozen=True)
class BudgetState:
    """The request budget as the planner sees it (``RequestBudget`` provides the numbers)."""

    limit: int
    send_times: tuple[datetime, ...] = ()
    blocked_until: datetime | None = None  # a 429's Retry-After, or the server's next_use_secs

    def __post_init__(self) -> None:
        for sent in self.send_times:
            _aware(sent, "send_times")
        _aware(self.blocked_until, "blocked_until")


@dataclass(frozen=True)
class PollState:
    """When each query last succeeded (and, optionally, was last attempted).

    A source's first complete full refresh is its baseline: the planner asks for a source's
    baseline whenever it has no ``last_full_refresh``, and nothing else about it until then.
    ``baseline_done`` (the store's flag) is carried for logs and callers only: deciding from it
    as well could re-plan a baseline for ever when flag and times disagree.
    ``last_attempt`` holds the moment a stream's query last went out whatever its outcome; when
    it is newer than the stream's success the query failed, and the planner waits before
    retrying instead of re-planning it at once.
    """

    baseline_done: bool = False
    last_full_refresh: Mapping[Source, datetime] = field(default_factory=dict)
    last_incremental: Mapping[Source, datetime] = field(default_factory=dict)
    last_hot: Mapping[Source, datetime] = field(default_factory=dict)
    last_event_types: datetime | None = None
    last_attempt: Mapping[Stream, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for mapping in (self.last_full_refresh, self.last_incremental, self.last_hot):
            for value in mapping.values():
                _aware(value, "poll state times")
        for value in self.last_attempt.values():
            _aware(value, "last_attempt")
        _aware(self.last_event_types, "last_event_types")


@dataclass(frozen=True)
class PlannerConfig:
    """Tunables. The defaults suit LL2's anonymous budget of 15 requests per hour.

    The core owns this value; the wiring builds it from the ``polling`` settings section
    (:meth:`bot.config.PollingSettings.planner_config`), so the core never sees the settings.
    """

    hot_window_before: timedelta = timedelta(hours=3)
    hot_window_after: timedelta = timedelta(hours=3)
    full_refresh_every: timedelta = timedelta(hours=6)
    event_types_every: timedelta = timedelta(hours=24)
    # Slots of the sliding hour never set aside for announced webcast starts: regular reads
    # keep at least these however many webcasts are announced.
    reserve: int = 2
    # The naive fixed cadence; also the longest wait before retrying a failed query.
    interval: timedelta = timedelta(seconds=240)
    min_gap: timedelta = timedelta(seconds=15)  # floor between two poll cycles
    # Desired window-read gaps while a source is CRITICAL / TIGHT (scaled down with a bigger
    # budget). CRITICAL reads get slots set aside; TIGHT ones only go first among paced reads.
    critical_gap: timedelta = timedelta(seconds=120)
    tight_gap: timedelta = timedelta(seconds=240)
    # The tiers' time zones relative to an item's date and its webcasts' start_time.
    tight_before: timedelta = timedelta(hours=2)
    tight_after: timedelta = timedelta(minutes=10)
    # Webcasts go live around their announced start_time, mostly a few minutes early; reading
    # every critical_gap from this long before to this long after catches that within it.
    critical_margin: timedelta = timedelta(minutes=3)
    # A hot query reads on past the hot window up to this many known items (a page holds 100;
    # the rest is room for items we do not know yet), at most this far ahead.
    page_fill: int = 80
    window_reach: timedelta = timedelta(days=30)
    # The longest a source should go unread (any read that finds its edits) at the reference
    # budget: two sources at 15/h read in turn are each read every 8 min. Scaled down with a
    # bigger budget. Hot polls beyond that get what the budget has left.
    cover_gap: timedelta = timedelta(minutes=8)
    # A regular read this many cover gaps late goes before any hot read, out of pace when a
    # slot is free; reads around announced webcast starts may keep it waiting up to
    # ``starve_after`` cover gaps, not longer.
    stale_after: float = 1.25
    starve_after: float = 1.6
    # An item whose date is this far past, with no webcast live, is over: no longer hot.
    ended_after: timedelta = timedelta(hours=1)
    # The budget the desired gaps are tuned for; a bigger budget shrinks them proportionally.
    reference_limit: int = 15
    # Added to the hour, as RequestBudget does, so planned times match when sends are allowed.
    budget_margin: timedelta = timedelta(seconds=2)
    # A lookout (an armed reminder) is read ``lookout_lead`` before its moment: time for the
    # poll and the diff to land before the reminder job's tick at the moment. A read of the
    # source less than ``lookout_fresh`` before the moment already serves it (no extra read).
    lookout_lead: timedelta = timedelta(seconds=75)
    lookout_fresh: timedelta = timedelta(minutes=3)

    def __post_init__(self) -> None:
        if self.reserve < 0 or self.reference_limit < 1:
            raise ValueError("reserve must be >= 0 and reference_limit >= 1")
        if not 1 <= self.stale_after <= self.starve_after:
            raise ValueError("stale_after must be >= 1 and <= starve_after")
        positive = (
            self.full_refresh_every,
            self.event_types_every,
            self.interval,
            self.min_gap,
            self.critical_gap,
            self.tight_gap,
            self.cover_gap,
            self.lookout_lead,
        )
        if any(value <= timedelta(0) for value in positive):
            raise ValueError("intervals and gaps must be positive")
        if self.lookout_fresh < self.lookout_lead:
            raise ValueError("lookout_fresh must be at least lookout_lead")
