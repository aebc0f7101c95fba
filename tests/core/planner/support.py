"""Snapshots and a poll-loop simulator for the planner tests.

The simulator plays the poller's part: it asks for a plan, jumps the clock to ``plan.at``,
records one send per page (a second apart, as the client pages through) and marks every query
successful. It checks on every step what no plan may ever do: be in the past, be empty, or
plan more requests than the sliding window has free.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bot.core.planner.budget import HOUR, free_slots
from bot.core.planner.plan import (
    BudgetState,
    Lookout,
    Plan,
    PlannerConfig,
    PollState,
    Query,
    QueryKind,
    plan_next_poll,
)
from bot.core.snapshot import Snapshot, Source, WebcastRef

T0 = datetime(2025, 6, 26, 0, 0, tzinfo=UTC)


def item(
    source: Source,
    ident: int,
    date: datetime | None,
    *,
    start_time: datetime | None = None,
    live: bool = False,
    precision_id: int | None = 1,
    status_id: int | None = None,
) -> Snapshot:
    """An event or launch snapshot with the fields the planner reads."""
    webcasts = (
        (WebcastRef(url=f"https://example.org/{ident}", start_time=start_time, live=live),)
        if start_time is not None or live
        else ()
    )
    return Snapshot(
        source=source,
        id=str(ident),
        name=f"{source.value} {ident}",
        date=date,
        precision_id=precision_id,
        status_id=status_id,
        webcast_live=live,
        webcasts=webcasts,
    )


def settled(at: datetime = T0) -> PollState:
    """A poll state right after a successful baseline at ``at``."""
    return PollState(
        last_full_refresh=dict.fromkeys(Source, at),
        last_event_types=at,
    )


@dataclass
class Run:
    """What a simulated poll loop did."""

    plans: list[Plan] = field(default_factory=list)
    sends: list[datetime] = field(default_factory=list)

    def polls(self, kind: QueryKind, source: Source | None = None) -> list[tuple[datetime, Query]]:
        """``(time, query)`` of every query of a kind (and source, if given)."""
        return [
            (plan.at, q)
            for plan in self.plans
            for q in plan.queries
            if q.kind is kind and (source is None or q.source is source)
        ]

    def times(self, kind: QueryKind, source: Source | None = None) -> list[datetime]:
        """When queries of a kind (and source) ran."""
        return [at for at, _ in self.polls(kind, source)]

    def max_in_any_hour(self) -> int:
        """The most sends in any sliding hour ``[s, s + 1 h)``."""
        ordered = sorted(self.sends)
        return max(
            (sum(1 for t in ordered if s <= t < s + HOUR) for s in ordered),
            default=0,
        )


def _failed(state: PollState, plan: Plan) -> PollState:
    attempts = dict(state.last_attempt)
    attempts.update({q.stream: plan.at for q in plan.queries})
    return replace(state, last_attempt=attempts)


def _succeeded(state: PollState, plan: Plan) -> PollState:
    full = dict(state.last_full_refresh)
    incremental = dict(state.last_incremental)
    hot = dict(state.last_hot)
    event_types = state.last_event_types
    for query in plan.queries:
        if query.source is None:
            event_types = plan.at
        elif query.kind is QueryKind.FULL_UPCOMING:
            full[query.source] = plan.at
        elif query.kind is QueryKind.INCREMENTAL:
            incremental[query.source] = plan.at
        else:
            hot[query.source] = plan.at
    return PollState(
        last_full_refresh=full,
        last_incremental=incremental,
        last_hot=hot,
        last_event_types=event_types,
        last_attempt=state.last_attempt,
    )


def simulate(
    items: list[Snapshot],
    limit: int,
    duration: timedelta,
    *,
    start: datetime = T0,
    state: PollState | None = None,
    config: PlannerConfig | None = None,
    fail_every: int = 0,
    lookouts: tuple[Lookout, ...] = (),
) -> Run:
    """Run the plan/poll loop for ``duration`` of simulated time.

    With ``fail_every=n``, every n-th poll fails (its requests are still counted).
    ``lookouts`` are passed to every plan (the planner ignores those whose moment is past).
    """
    config = config or PlannerConfig()
    state = state or PollState()
    run = Run()
    now = start
    window = HOUR + config.budget_margin
    while now < start + duration:
        plan = plan_next_poll(
            items, BudgetState(limit, tuple(run.sends)), state, config, now, lookouts
        )
        assert plan.at >= now, "a plan in the past"
        assert plan.queries, "an empty plan"
        if run.plans:
            assert plan.at > run.plans[-1].at, "no progress"
        assert plan.cost <= free_slots(run.sends, plan.at, limit, window), "over budget"
        now = plan.at
        run.sends.extend(now + timedelta(seconds=page) for page in range(plan.cost))
        run.plans.append(plan)
        failing = fail_every > 0 and len(run.plans) % fail_every == 0
        state = _failed(state, plan) if failing else _succeeded(state, plan)
    return run
