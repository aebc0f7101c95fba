"""A guild's calendar settings: which items its Discord Events list mirrors (pure data)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from bot.core.snapshot import Snapshot, Source

DEFAULT_HORIZON_DAYS = 7
MIN_HORIZON_DAYS = 1
MAX_HORIZON_DAYS = 30
DEFAULT_MAX_EVENTS = 10
MIN_MAX_EVENTS = 1
# At most half of Discord's 100 SCHEDULED-or-ACTIVE events per guild, so the server's own
# events always have room (Discord docs, "Create Guild Scheduled Event": "A guild can have a
# maximum of 100 events with SCHEDULED or ACTIVE status at any time").
MAX_MAX_EVENTS = 50


class CalendarSettings(BaseModel):
    """One guild's opt-in. ``event_types``/``providers`` None means "all", as in subscriptions.

    ``disabled_reason`` is set when Discord refused the bot (403 on create): the calendar then
    stays off until an admin enables it again, with the permission granted.
    """

    model_config = ConfigDict(frozen=True)

    guild_id: int
    enabled: bool = True
    sources: frozenset[Source] = frozenset(Source)
    event_types: frozenset[int] | None = None
    providers: frozenset[int] | None = None
    horizon_days: int = DEFAULT_HORIZON_DAYS
    max_events: int = DEFAULT_MAX_EVENTS
    disabled_reason: str | None = None

    @property
    def active(self) -> bool:
        """Whether the calendar should mirror anything now (enabled and not disabled by Discord)."""
        return self.enabled and self.disabled_reason is None

    def follows(self, item: Snapshot) -> bool:
        """Whether ``item`` passes the filters (events by type, launches by provider).

        The same rule as a subscription's (see :func:`bot.core.routing.follows`): an item whose
        type or provider LL2 left null passes only the "all" filter.
        """
        if item.source not in self.sources:
            return False
        if item.source is Source.EVENT:
            wanted, actual = self.event_types, item.type_id
        else:
            wanted, actual = self.providers, item.provider_id
        return wanted is None or (actual is not None and actual in wanted)
