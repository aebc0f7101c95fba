"""Sending one outbox row: render it, then post each part with its nonce, paced and bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from bot.core.render import MessageData
from bot.discord_ui.sender import MessageSender, Pacer, PermanentSendError
from bot.discord_ui.traffic import already_paced
from bot.services.delivery.rows import (
    is_reminder,
    part_nonce,
    render_delivery,
    render_reminder_row,
    row_to_delivery,
)
from bot.store import OutboxRow

if TYPE_CHECKING:
    from bot.services.delivery.cards import CardSender

T = TypeVar("T")


class SendPacer(Protocol):
    """Anything that says when the next request may go (:class:`Pacer`, a ``SendBudget``)."""

    async def wait(self) -> None:
        """Return when one request may be sent."""
        ...


class RowSender:
    """Posts rows through a :class:`MessageSender`, at most ``concurrency`` at once, paced.

    A row that renders to several messages is all-or-nothing: the store has no place for
    per-part progress, so a retry resends every part and relies on the nonces (a few minutes of
    memory at Discord) to keep the parts already posted from doubling.
    """

    def __init__(
        self,
        sender: MessageSender,
        *,
        concurrency: int,
        rate_per_second: float | None,
        now: Callable[[], datetime],
        cards: CardSender | None = None,
        pacer: SendPacer | None = None,
    ) -> None:
        self._sender = sender
        self._cards = cards
        self._slots = asyncio.Semaphore(concurrency)
        # The shared send budget when given (it already says how fast this process may go),
        # else a plain local pacer at ``rate_per_second``.
        self._pacer: SendPacer = pacer if pacer is not None else Pacer(rate_per_second)
        self._now = now

    async def send(self, row: OutboxRow) -> int:
        """Post every part of ``row``; return the first message's id.

        Raises the sender's :class:`~bot.discord_ui.sender.SendError` subclasses, and
        :class:`~bot.services.delivery.rows.PayloadError` for a row that cannot be read.
        """
        if self._cards is not None and self._cards.handles(row):
            return await self._cards.send(row, self._paced)
        messages, roles = self.render(row)
        return await self.post(row.channel_id, messages, nonce_key=row.dedup_key, roles=roles)

    def render(self, row: OutboxRow) -> tuple[list[MessageData], tuple[int, ...]]:
        """The messages of ``row`` and the roles they may ping.

        Raises :class:`~bot.services.delivery.rows.PayloadError` for a row that cannot be read.
        """
        if is_reminder(row):
            return render_reminder_row(row), tuple(int(r) for r in row.payload.get("role_ids", ()))
        delivery = row_to_delivery(row)
        return render_delivery(delivery, self._now()), delivery.role_ids

    async def post(
        self,
        channel_id: int,
        messages: Sequence[MessageData],
        *,
        nonce_key: str,
        roles: Sequence[int] = (),
    ) -> int:
        """Post ``messages`` in order (nonces from ``nonce_key``); return the first one's id."""
        return (await self.post_parts(channel_id, messages, nonce_key=nonce_key, roles=roles))[0]

    async def post_parts(
        self,
        channel_id: int,
        messages: Sequence[MessageData],
        *,
        nonce_key: str,
        roles: Sequence[int] = (),
    ) -> list[int]:
        """Post ``messages`` in order (nonces from ``nonce_key``); return every part's id."""
        if not messages:
            raise PermanentSendError("nothing to send: the row holds no changes")
        ids: list[int] = []
        for index, message in enumerate(messages):
            async with self._slots:
                await self._pacer.wait()
                with already_paced():  # the HTTP layer must not take a second slot for it
                    message_id = await self._sender.send(
                        channel_id,
                        message,
                        nonce=part_nonce(nonce_key, index),
                        allowed_role_ids=roles,
                    )
            ids.append(message_id)
        return ids

    async def _paced(self, call: Callable[[], Awaitable[T]]) -> T:
        # One Discord request of a card row (post, edit or reply), under the same concurrency
        # and pacing as every post.
        async with self._slots:
            await self._pacer.wait()
            with already_paced():  # the HTTP layer must not take a second slot for it
                return await call()
