"""Delivery: the outbox worker that hands rows to Discord exactly once, as far as Discord allows.

- :mod:`~bot.services.delivery.rows`: routed deliveries into outbox rows and back (the poller
  enqueues through it, the worker reads through it);
- :mod:`~bot.services.delivery.worker`: :class:`DeliveryWorker`, which claims due rows and runs
  each channel's rows in order;
- :mod:`~bot.services.delivery.sending`: renders a row and posts its parts with their nonces;
- :mod:`~bot.services.delivery.settle`: records each attempt (sent, retry, failed, dead channel).
"""

from bot.discord_ui.sender import (
    ChannelGone,
    DiscordSender,
    MessageSender,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from bot.services.delivery.rows import enqueue_deliveries
from bot.services.delivery.settle import DeliveryReport, backoff_delay
from bot.services.delivery.worker import DeliveryWorker

__all__ = [
    "ChannelGone",
    "DeliveryReport",
    "DeliveryWorker",
    "DiscordSender",
    "MessageSender",
    "PermanentSendError",
    "SendError",
    "TransientSendError",
    "backoff_delay",
    "enqueue_deliveries",
]
