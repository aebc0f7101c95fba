"""Outbox queries that :class:`~bot.store.outbox.OutboxQueries` lacks: two small writes that
coalescing needs, and one server's delivery counts for ``/spacecast status``.

They are functions over a :class:`~bot.store.Store` (or the ``tx`` of a transaction) rather than
methods, so the store's classes stay untouched. The writes change only a row that is still
``pending``, like every other settle operation.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from bot.store import schema
from bot.store.base import require_aware
from bot.store.models import OutboxStatus
from bot.store.repository import Store

_O = schema.outbox


async def cancel_pending(store: Store, row_id: int, reason: str) -> bool:
    """Cancel one pending row (its news was withdrawn); True if it was pending."""
    stmt = (
        update(_O)
        .where(_O.c.id == row_id, _O.c.status == OutboxStatus.PENDING.value)
        .values(status=OutboxStatus.CANCELLED.value, last_error=reason)
    )
    async with store.transaction() as tx:
        result = await tx.connection.execute(stmt)
    return int(result.rowcount) > 0


async def bring_forward(store: Store, row_id: int, at: datetime) -> bool:
    """Make a pending row due at ``at`` if it was due later; True if it moved.

    Used when an urgent change is merged into a row that was held back for coalescing: the
    urgent part must not wait for the hold to end.
    """
    require_aware(at, "at")
    stmt = (
        update(_O)
        .where(
            _O.c.id == row_id,
            _O.c.status == OutboxStatus.PENDING.value,
            _O.c.next_attempt_at > at,
        )
        .values(next_attempt_at=at)
    )
    async with store.transaction() as tx:
        result = await tx.connection.execute(stmt)
    return int(result.rowcount) > 0


async def guild_outbox_counts(store: Store, guild_id: int) -> dict[OutboxStatus, int]:
    """How many of one server's rows are in each status (every status present, zero if none).

    ``/spacecast status`` shows these: a server's managers see their own backlog, not the
    whole bot's (which would also tell them how busy other servers are).
    """
    stmt = select(_O.c.status, func.count()).where(_O.c.guild_id == guild_id).group_by(_O.c.status)
    counts = dict.fromkeys(OutboxStatus, 0)
    # The store's own read connection: inside a transaction it is that transaction's.
    async with store._read() as conn:
        for status, count in await conn.execute(stmt):
            counts[OutboxStatus(status)] = int(count)
    return counts


REMINDER_KEY_PREFIX = "reminder:"


async def reminder_keys(store: Store, created_after: datetime) -> list[str]:
    """Dedup keys of reminder rows queued after ``created_after``, whatever their status.

    The reminder planner needs every reminder already queued (sent, pending, expired or
    failed alike) so that it never queues one twice and can tell a repeat after a slip.
    """
    require_aware(created_after, "created_after")
    stmt = select(_O.c.dedup_key).where(
        _O.c.dedup_key.startswith(REMINDER_KEY_PREFIX, autoescape=True),
        _O.c.created_at >= created_after,
    )
    async with store.transaction() as tx:
        return [str(key) for key in (await tx.connection.execute(stmt)).scalars()]
