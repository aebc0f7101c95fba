"""Live cards: one row per (channel, item), the card's state and the message that shows it.

The poller writes the state (:meth:`CardQueries.save_card_state`) in its poll transaction; the
delivery worker records what Discord holds (:meth:`~CardQueries.record_card_message`,
:meth:`~CardQueries.record_card_sent`, :meth:`~CardQueries.forget_card_message`). The two
never write the same columns, so a poll folding a new change into a card while its edit is in
flight loses neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, func, select, update

from bot.core.cards import CardState, FreezeReason
from bot.store import schema
from bot.store.base import StoreBase, require_aware
from bot.store.models import OutboxRow, OutboxStatus
from bot.store.outbox import _row as outbox_row

_C = schema.cards
_O = schema.outbox


@dataclass(frozen=True)
class StoredCard:
    """A card as stored: its state and what Discord shows of it."""

    state: CardState
    message_id: int | None
    message_generation: int | None
    sent_version: int
    posted_at: datetime | None
    reposts: int
    deleted_reposts: int

    @property
    def current_message(self) -> int | None:
        """The message showing the card's current generation, if it was posted."""
        if self.message_generation != self.state.generation:
            return None
        return self.message_id


def split_ref(item_ref: str) -> tuple[str, str]:
    """``launch:abc`` -> ``("launch", "abc")``."""
    source, _, item_id = item_ref.partition(":")
    if not item_id:
        raise ValueError(f"not an item reference: {item_ref!r}")
    return source, item_id


def _key(channel_id: int, item_ref: str) -> Any:
    source, item_id = split_ref(item_ref)
    return and_(_C.c.channel_id == channel_id, _C.c.source == source, _C.c.item_id == item_id)


def _card(row: Row[Any]) -> StoredCard:
    return StoredCard(
        state=CardState.model_validate_json(row.state),
        message_id=row.message_id,
        message_generation=row.message_generation,
        sent_version=row.sent_version,
        posted_at=row.posted_at,
        reposts=row.reposts,
        deleted_reposts=row.deleted_reposts,
    )


class CardQueries(StoreBase):
    """Card rows: state from the poller, message ids and versions from the worker."""

    async def get_card(self, channel_id: int, item_ref: str) -> StoredCard | None:
        """The card of ``item_ref`` in ``channel_id``, or None."""
        async with self._read() as conn:
            row = (await conn.execute(select(_C).where(_key(channel_id, item_ref)))).first()
        return None if row is None else _card(row)

    async def save_card_state(self, state: CardState, now: datetime) -> None:
        """Insert or replace the card's state (the message columns are left alone)."""
        require_aware(now, "now")
        source, item_id = split_ref(state.item_ref)
        values = {
            "guild_id": state.guild_id,
            "state": state.model_dump_json(),
            "version": state.version,
            "generation": state.generation,
            "frozen": state.frozen,
            "final": state.final,
            "updated_at": now,
        }
        async with self._write() as conn:
            result = await conn.execute(
                update(_C).where(_key(state.channel_id, state.item_ref)).values(**values)
            )
            if result.rowcount == 0:
                await conn.execute(
                    _C.insert().values(
                        channel_id=state.channel_id,
                        source=source,
                        item_id=item_id,
                        sent_version=0,
                        reposts=0,
                        deleted_reposts=0,
                        created_at=now,
                        **values,
                    )
                )

    async def record_card_message(
        self,
        channel_id: int,
        item_ref: str,
        *,
        message_id: int,
        generation: int,
        version: int,
        at: datetime,
    ) -> None:
        """The card's ``generation`` was posted as ``message_id``, showing ``version``."""
        require_aware(at, "at")
        stmt = (
            update(_C)
            .where(_key(channel_id, item_ref))
            .values(
                message_id=message_id,
                message_generation=generation,
                sent_version=version,
                posted_at=at,
            )
        )
        async with self._write() as conn:
            await conn.execute(stmt)

    async def record_card_sent(
        self, channel_id: int, item_ref: str, *, message_id: int, version: int
    ) -> None:
        """``message_id`` now shows ``version`` (never moves backwards)."""
        stmt = (
            update(_C)
            .where(_key(channel_id, item_ref), _C.c.message_id == message_id)
            .values(sent_version=func.max(_C.c.sent_version, version))
        )
        if self.dialect_name == "postgresql":
            stmt = stmt.values(sent_version=func.greatest(_C.c.sent_version, version))
        async with self._write() as conn:
            await conn.execute(stmt)

    async def forget_card_message(self, channel_id: int, item_ref: str, *, deleted: bool) -> None:
        """The card's message is gone (404) or no longer editable (30046): post it afresh.

        Counts the repost (its nonce differs from the first post's) and, for a deletion, the
        deletions, so a card moderators keep deleting is not posted in a loop.
        """
        values: dict[str, Any] = {"message_id": None, "reposts": _C.c.reposts + 1}
        if deleted:
            values["deleted_reposts"] = _C.c.deleted_reposts + 1
        async with self._write() as conn:
            await conn.execute(update(_C).where(_key(channel_id, item_ref)).values(**values))

    async def freeze_card(self, channel_id: int, item_ref: str, reason: FreezeReason) -> None:
        """Stop touching the card (moderators deleted it again)."""
        async with self._write() as conn:
            row = (await conn.execute(select(_C).where(_key(channel_id, item_ref)))).first()
            if row is None:
                return
            state = CardState.model_validate_json(row.state).model_copy(
                update={"frozen": True, "frozen_reason": reason}
            )
            await conn.execute(
                update(_C)
                .where(_key(channel_id, item_ref))
                .values(state=state.model_dump_json(), frozen=True)
            )

    async def waiting_card_rows(self, channel_id: int, item_ref: str) -> list[OutboxRow]:
        """Pending outbox rows that edit this card, oldest first.

        Card rows are the only ones whose dedup key continues ``:card:`` after the channel and
        item (see :func:`bot.core.cards.edit_dedup_key`).
        """
        stmt = (
            select(_O)
            .where(
                _O.c.channel_id == channel_id,
                _O.c.item_ref == item_ref,
                _O.c.status == OutboxStatus.PENDING.value,
                _O.c.dedup_key.like(f"{channel_id}:{item_ref}:card:%"),
            )
            .order_by(_O.c.id)
        )
        async with self._read() as conn:
            return [outbox_row(r) for r in await conn.execute(stmt)]

    async def live_cards(self) -> list[CardState]:
        """Every card still edited (not frozen), for the end-of-life sweep."""
        async with self._read() as conn:
            rows = await conn.execute(select(_C.c.state).where(_C.c.frozen.is_(False)))
            return [CardState.model_validate_json(r.state) for r in rows]

    async def prune_cards(self, before: datetime) -> int:
        """Forget frozen cards last changed before ``before``; return how many.

        Called with the snapshots' retention: once an item's snapshot is pruned it can only
        come back as a new item, and a new item long past its date alerts nobody, so a frozen
        card that old is never needed again. Live cards are kept whatever their age.
        """
        require_aware(before, "before")
        stmt = delete(_C).where(_C.c.frozen.is_(True), _C.c.updated_at < before)
        async with self._write() as conn:
            result = await conn.execute(stmt)
        return int(result.rowcount)
