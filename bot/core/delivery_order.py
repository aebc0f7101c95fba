"""Which due outbox rows go first when a backlog forms: urgent news first, channel order kept.

A fan-out to thousands of channels takes minutes at Discord's global limit. While it runs,
a webcast going live somewhere, or a T-minus reminder, must not wait behind thousands of date
changes and updates: those rows are *urgent* (:data:`URGENT`) and are claimed first, oldest
first; everything else is :data:`NORMAL`, oldest first too.

One channel's messages still arrive in the order they were queued: an urgent row never
overtakes an older row of its own channel. Instead it lends that channel's older rows its
urgency ("priority inheritance"): a row's *effective* tier is the most urgent tier among itself
and the later rows of its channel. Sorting by (effective tier, due, id) then keeps every
channel's rows in their (due, id) order, since effective tiers never decrease along a channel.

:func:`claim_order` is the whole rule; the store feeds it the candidates (the oldest due rows,
the oldest due urgent rows and the due rows of those rows' channels) and claims what it picks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.changes import ChangeKind

URGENT = 0
NORMAL = 1
URGENT_KINDS = frozenset({ChangeKind.WEBCAST_LIVE})


def tier_of(kinds: Iterable[ChangeKind], *, reminder: bool) -> int:
    """:data:`URGENT` for a reminder or a row holding a webcast going live, else :data:`NORMAL`."""
    if reminder or any(ChangeKind(k) in URGENT_KINDS for k in kinds):
        return URGENT
    return NORMAL


@dataclass(frozen=True)
class Candidate:
    """A due row as the claim sees it."""

    id: int
    channel_id: int
    due: datetime
    tier: int


def claim_order(
    candidates: Sequence[Candidate], limit: int, *, per_channel: int | None = None
) -> list[int]:
    """The ids to claim, in send order: at most ``limit``, at most ``per_channel`` per channel.

    Urgent rows (and the older rows of their channels, see the module docstring) first, then
    the rest; oldest due first within each; every channel's picks are the oldest of its
    candidates, in order.
    """
    if limit <= 0:
        return []
    unique = {c.id: c for c in candidates}.values()
    by_channel: dict[int, list[Candidate]] = {}
    for cand in sorted(unique, key=lambda c: (c.due, c.id)):
        by_channel.setdefault(cand.channel_id, []).append(cand)
    keyed: list[tuple[int, datetime, int, Candidate]] = []
    for rows in by_channel.values():
        inherited = NORMAL
        for cand in reversed(rows):  # the most urgent tier at or after each row
            inherited = min(inherited, cand.tier)
            keyed.append((inherited, cand.due, cand.id, cand))
    keyed.sort(key=lambda k: (k[0], k[1], k[2]))
    chosen: list[int] = []
    taken: dict[int, int] = {}
    for _, _, _, cand in keyed:
        if per_channel is not None and taken.get(cand.channel_id, 0) >= per_channel:
            continue
        taken[cand.channel_id] = taken.get(cand.channel_id, 0) + 1
        chosen.append(cand.id)
        if len(chosen) == limit:
            break
    return chosen
