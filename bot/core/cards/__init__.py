"""Live cards, the public face: one message per item per channel, edited in place.

- :mod:`~bot.core.cards.state`: what a card knows (item, history newest first, life cycle);
- :mod:`~bot.core.cards.plan`: changes and a card in; the new card, one edit and the pointer
  messages out (coalescing, end of life, far slips);
- :mod:`~bot.core.cards.render`: the card and pointer messages within Discord's limits.
"""

from bot.core.cards.plan import (
    FAR_SLIP,
    OVER_AFTER,
    CardEdit,
    CardPlan,
    Pointer,
    PointerKind,
    edit_dedup_key,
    edit_due,
    plan_card,
    plan_retirement,
    pointer_dedup_key,
    pointer_kind,
)
from bot.core.cards.render import (
    history_line,
    history_text,
    jump_url,
    render_card,
    render_pointer,
)
from bot.core.cards.state import (
    HISTORY_KEEP,
    OUTCOME_STATUSES,
    CardState,
    FreezeReason,
    HistoryEntry,
)

__all__ = [
    "FAR_SLIP",
    "HISTORY_KEEP",
    "OUTCOME_STATUSES",
    "OVER_AFTER",
    "CardEdit",
    "CardPlan",
    "CardState",
    "FreezeReason",
    "HistoryEntry",
    "Pointer",
    "PointerKind",
    "edit_dedup_key",
    "edit_due",
    "history_line",
    "history_text",
    "jump_url",
    "plan_card",
    "plan_retirement",
    "pointer_dedup_key",
    "pointer_kind",
    "render_card",
    "render_pointer",
]
