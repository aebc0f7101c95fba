"""One send budget per bot token, shared by every process: the rules, with no clock and no I/O.

Discord's global rate limit (about 50 requests per second) belongs to the bot token, not to a
process, so every process of a deployment draws its sends from one budget. The budget is a
GCRA (generic cell rate algorithm, the "virtual scheduling" form of a token bucket): one
*theoretical arrival time* (``tat``) says when the next send slot is free. A process that
wants ``count`` sends reserves ``count`` consecutive slots ``interval = 1 / rate`` apart,
starting at ``max(tat, now)``, and moves ``tat`` past them. Whoever holds the state (a row in
the shared database, or memory for a lone process) applies :func:`reserve` atomically, so:

- the slots of all processes together are never closer than ``interval``: the deployment as a
  whole sends at most ``rate`` per second, however many processes there are;
- it is work-conserving: an idle process reserves nothing, so busy ones get all of it, and a
  dead process stops reserving at once (it loses at most the few slots it had reserved);
- a global 429 (:func:`after_global_429`) pushes ``tat`` past Discord's ``retry_after`` and
  slows the rate for :data:`PENALTY_SECONDS` by :data:`PENALTY_FACTOR` (compounding down to
  :data:`MIN_FACTOR`), which every process honours at its next reservation.

Times are plain seconds on whatever clock the state's holder uses (the database server's
epoch seconds, or an event loop's monotonic time); only differences matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

PENALTY_SECONDS = 60.0  # how long a global 429 keeps the rate lowered
PENALTY_FACTOR = 0.8  # each global 429 within the penalty multiplies the rate by this
MIN_FACTOR = 0.25  # ...but never below a quarter of the configured rate
RESERVE_HORIZON_SECONDS = 0.1  # a reservation covers about this much sending
LATE_TOLERANCE_SECONDS = 0.1  # a slot missed by more than this is dropped, never bunched up


@dataclass(frozen=True)
class BudgetState:
    """The shared budget: next free slot, the rate penalty and the global 429s seen."""

    tat: float = 0.0
    factor: float = 1.0
    penalty_until: float = 0.0
    global_429s: int = 0

    def factor_at(self, now: float) -> float:
        """The rate multiplier in force at ``now`` (1.0 once the penalty is over)."""
        return self.factor if now < self.penalty_until else 1.0


@dataclass(frozen=True)
class Reservation:
    """``count`` send slots: the first at ``start``, then every ``interval`` seconds."""

    start: float
    interval: float
    count: int

    def slot(self, index: int) -> float:
        """The moment of slot ``index`` (0-based)."""
        return self.start + index * self.interval

    @property
    def end(self) -> float:
        """The moment after the last slot, where the next reservation may start."""
        return self.start + self.count * self.interval


def block_size(rate: float, horizon: float = RESERVE_HORIZON_SECONDS) -> int:
    """How many slots one reservation takes: about ``horizon`` seconds of sending, at least 1.

    Small blocks keep the database round trips few (10 a second per busy process) while a dead
    process, or one whose backlog ran out, wastes at most ``horizon`` seconds of the budget.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    return max(1, math.floor(rate * horizon))


def reserve(
    state: BudgetState, now: float, count: int, rate: float
) -> tuple[BudgetState, Reservation]:
    """Reserve ``count`` consecutive slots at ``rate`` (times the penalty) from ``now`` on."""
    if count <= 0:
        raise ValueError("count must be positive")
    if rate <= 0:
        raise ValueError("rate must be positive")
    interval = 1.0 / (rate * state.factor_at(now))
    start = max(state.tat, now)
    reservation = Reservation(start=start, interval=interval, count=count)
    return replace(state, tat=reservation.end), reservation


def after_global_429(state: BudgetState, now: float, retry_after: float) -> BudgetState:
    """Discord answered a global 429: nobody sends before ``now + retry_after``, and slower.

    A 429 arriving while a penalty runs compounds it (down to :data:`MIN_FACTOR`); the
    penalty is always renewed for :data:`PENALTY_SECONDS` from ``now``.
    """
    retry_after = max(0.0, retry_after)
    factor = state.factor_at(now) * PENALTY_FACTOR
    return BudgetState(
        tat=max(state.tat, now + retry_after),
        factor=max(MIN_FACTOR, factor),
        penalty_until=now + PENALTY_SECONDS,
        global_429s=state.global_429s + 1,
    )


def usable(slot: float, now: float, tolerance: float = LATE_TOLERANCE_SECONDS) -> bool:
    """Whether a slot reserved for ``slot`` may still be used at ``now``.

    A process that wakes up late (a busy event loop) must not send its missed slots in a burst,
    which is what trips a sliding one-second limit: a slot more than ``tolerance`` late is lost.
    """
    return now - slot <= tolerance
