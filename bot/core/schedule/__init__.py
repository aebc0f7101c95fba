"""The server calendar (Discord scheduled events that follow LL2), the public face.

- :mod:`~bot.core.schedule.settings`: a guild's opt-in and filters, with their bounds;
- :mod:`~bot.core.schedule.event`: one item as a Discord EXTERNAL event (name, description
  with the bot's marker, location, start and end), within Discord's limits;
- :mod:`~bot.core.schedule.cover`: which picture (source URL) an item's event shows as cover;
- :mod:`~bot.core.schedule.plan`: snapshots, settings, the bot's recorded events and ``now``
  in; create / update / start / end / delete actions and held date edits out.
"""

from bot.core.schedule.cover import (
    ADOPTED_COVER,
    DEFAULT_COVER_HOSTS,
    CoverPolicy,
    allowed_cover_url,
    choose_cover,
    cover_candidates,
    cover_host,
)
from bot.core.schedule.event import (
    DESCRIPTION_MAX,
    LOCATION_MAX,
    NAME_MAX,
    EventFields,
    duration_for,
    end_for,
    fields_for,
    item_ref_of,
    marker_for,
)
from bot.core.schedule.plan import (
    GUILD_EVENT_LIMIT,
    LIVE_STATUSES,
    MIN_LEAD,
    OUTCOME_STATUSES,
    SCRUB_THRESHOLD,
    Action,
    ActionKind,
    CalendarPlan,
    Entry,
    Hold,
    ItemIndex,
    Status,
    apply_plan,
    effective_status,
    index_items,
    plan_calendar,
    precise_enough,
    qualifies,
)
from bot.core.schedule.settings import (
    DEFAULT_HORIZON_DAYS,
    DEFAULT_MAX_EVENTS,
    MAX_HORIZON_DAYS,
    MAX_MAX_EVENTS,
    MIN_HORIZON_DAYS,
    MIN_MAX_EVENTS,
    CalendarSettings,
)

__all__ = [
    "ADOPTED_COVER",
    "DEFAULT_COVER_HOSTS",
    "DEFAULT_HORIZON_DAYS",
    "DEFAULT_MAX_EVENTS",
    "DESCRIPTION_MAX",
    "GUILD_EVENT_LIMIT",
    "LIVE_STATUSES",
    "LOCATION_MAX",
    "MAX_HORIZON_DAYS",
    "MAX_MAX_EVENTS",
    "MIN_HORIZON_DAYS",
    "MIN_LEAD",
    "MIN_MAX_EVENTS",
    "NAME_MAX",
    "OUTCOME_STATUSES",
    "SCRUB_THRESHOLD",
    "Action",
    "ActionKind",
    "CalendarPlan",
    "CalendarSettings",
    "CoverPolicy",
    "Entry",
    "EventFields",
    "Hold",
    "ItemIndex",
    "Status",
    "allowed_cover_url",
    "apply_plan",
    "choose_cover",
    "cover_candidates",
    "cover_host",
    "duration_for",
    "effective_status",
    "end_for",
    "fields_for",
    "index_items",
    "item_ref_of",
    "marker_for",
    "plan_calendar",
    "precise_enough",
    "qualifies",
]
