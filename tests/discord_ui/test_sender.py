"""DiscordSender on real discord.py: the request it makes, and how Discord's answers map."""

from __future__ import annotations

import random

import pytest

from bot.core.render import EmbedData, LinkButton, MessageData
from bot.discord_ui.sender import (
    ChannelGone,
    DiscordSender,
    PermanentSendError,
    SendError,
    TransientSendError,
)
from bot.services.delivery import backoff_delay
from tests.services.delivery.conftest import client, fake, sender
from tests.services.delivery.fake_discord import FakeDiscord, logged_in_client

# The REST loopback Discord and a logged-in client, shared with the delivery tests.
__all__ = ["client", "fake", "sender"]

CH = 830_000_000_000_000_001
MESSAGE = MessageData(
    content="<@&42> 🔴 Webcast live: **Crew-11**",
    embeds=[EmbedData(title="Crew-11", description="Docking")],
    buttons=[LinkButton("Watch", "https://example.com/live")],
)


async def test_request_carries_embeds_buttons_nonce_and_mentions(
    fake: FakeDiscord, sender: DiscordSender
) -> None:
    """The POST body is the message's JSON plus an enforced nonce and role-only mentions."""
    message_id = await sender.send(CH, MESSAGE, nonce="abc", allowed_role_ids=[42])
    (body,) = fake.posts_to(CH)
    assert message_id == fake.messages[0].id
    assert body["content"] == MESSAGE.content
    # discord.py adds "flags": 0 to every embed; the rest is our JSON untouched.
    assert [{k: v for k, v in e.items() if k != "flags"} for e in body["embeds"]] == [
        e.to_dict() for e in MESSAGE.embeds
    ]
    (row,) = body["components"]
    assert [(b["style"], b["label"], b["url"]) for b in row["components"]] == [
        (5, "Watch", "https://example.com/live")
    ]
    assert (body["nonce"], body["enforce_nonce"]) == ("abc", True)
    assert body["allowed_mentions"] == {"parse": [], "roles": [42]}


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (403, 50013, ChannelGone),
        (403, 50001, ChannelGone),
        (404, 10003, ChannelGone),
        (400, 50008, ChannelGone),
        (404, 10008, PermanentSendError),
        (400, 50035, PermanentSendError),
        (503, 0, TransientSendError),
    ],
)
async def test_answers_map_to_typed_errors(
    fake: FakeDiscord, sender: DiscordSender, status: int, code: int, error: type[SendError]
) -> None:
    """Each Discord failure becomes the error type the worker acts on, with its code."""
    fake.fail(CH, status, code)
    with pytest.raises(error) as raised:
        await sender.send(CH, MESSAGE, nonce="n", allowed_role_ids=[])
    assert (raised.value.status, raised.value.code) == (status, code)


async def test_unreachable_discord_is_transient() -> None:
    """A refused connection is worth retrying later, not a dead channel."""
    async with FakeDiscord() as fake, logged_in_client(fake.base_url) as client:
        await fake.close()
        with pytest.raises(TransientSendError):
            await DiscordSender(client).send(CH, MESSAGE, nonce="n", allowed_role_ids=[])


async def test_global_rate_limit_is_waited_out_without_loss_or_doubles() -> None:
    """Past a global limit of 5/s, discord.py waits out the 429s: every alert lands once."""
    async with FakeDiscord(global_limit=5) as fake, logged_in_client(fake.base_url) as client:
        sender = DiscordSender(client)
        for n in range(8):
            await sender.send(CH + n, MESSAGE, nonce=f"n{n}", allowed_role_ids=[])
        assert len(fake.messages) == 8
        assert fake.stats.rate_limited >= 1


def test_backoff_grows_jittered_and_capped() -> None:
    """Backoff doubles per attempt, lands within [half, full] of its ceiling, and is capped."""
    rng = random.Random(1)
    for attempt, ceiling in [(1, 5.0), (2, 10.0), (3, 20.0), (12, 900.0)]:
        for _ in range(20):
            seconds = backoff_delay(attempt, rng, base=5.0, cap=900.0).total_seconds()
            assert ceiling / 2 <= seconds <= ceiling
