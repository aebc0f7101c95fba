"""The outbox functions of :mod:`bot.store.delivery_queries`, on SQLite and PostgreSQL."""

from __future__ import annotations

from bot.store import OutboxStatus, Store
from bot.store.delivery_queries import guild_outbox_counts
from tests.store.samples import T0, outbox_row

GUILD = 1_100_000_000_000_000_001
OTHER = 1_100_000_000_000_000_777


async def test_guild_outbox_counts_count_one_guild_by_status(store: Store) -> None:
    """Only the given guild's rows are counted, each status present (zero if none)."""
    await store.enqueue(
        [outbox_row(f"a{i}", guild_id=GUILD) for i in range(2)]
        + [outbox_row(f"b{i}", guild_id=OTHER) for i in range(3)]
    )
    failed = next(r for r in await store.claim_due(T0, 10) if r.guild_id == GUILD)
    assert failed.id is not None
    await store.mark_failed(failed.id, "400 50035: Invalid Form Body")
    counts = await guild_outbox_counts(store, GUILD)
    assert counts == {
        OutboxStatus.PENDING: 1,
        OutboxStatus.SENT: 0,
        OutboxStatus.FAILED: 1,
        OutboxStatus.CANCELLED: 0,
        OutboxStatus.EXPIRED: 0,
    }
