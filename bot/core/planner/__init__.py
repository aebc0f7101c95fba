"""The poll planner: which LL2 queries to send, and when, within the request budget.

The rest of the program imports the planner from here: :func:`plan_next_poll` with its inputs
(:class:`PlannerConfig`, :class:`BudgetState`, :class:`PollState`, the snapshots) and its
output (:class:`Plan` of :class:`Query`). The modules behind this face:

- :mod:`~bot.core.planner.types`: the inputs and outputs, plain frozen data;
- :mod:`~bot.core.planner.plan`: the policy (urgency order, pacing, set-aside slots);
- :mod:`~bot.core.planner.heat`: how hot a source is (tiers around dates and webcast starts);
- :mod:`~bot.core.planner.window`: window, page and tier-timeline arithmetic;
- :mod:`~bot.core.planner.budget`: sliding-hour arithmetic over past and planned sends.
"""

from bot.core.planner.plan import plan_next_poll
from bot.core.planner.types import (
    BudgetState,
    Cadence,
    Lookout,
    Plan,
    PlannerConfig,
    PollState,
    Query,
    QueryKind,
    Stream,
    Tier,
)

__all__ = [
    "BudgetState",
    "Cadence",
    "Lookout",
    "Plan",
    "PlannerConfig",
    "PollState",
    "Query",
    "QueryKind",
    "Stream",
    "Tier",
    "plan_next_poll",
]
