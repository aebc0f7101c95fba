"""Live cards end to end: the real poller (diff, route, outbox) and worker driving real
discord.py against the loopback Discord, on SQLite and PostgreSQL (issue 16)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config import Settings
from bot.core.cards import OVER_AFTER
from bot.core.subscriptions import AlertStyle
from bot.discord_ui.sender import DiscordSender
from bot.ll2 import LL2Client
from bot.services.delivery.cards import retire_cards
from bot.services.poller import Poller
from bot.services.reminders import ReminderJob
from bot.store import OutboxStatus, Store
from tests.e2e.fake_ll2 import FakeLL2, load_fixture, serve
from tests.services.delivery.fake_discord import FakeDiscord, StoredMessage
from tests.services.delivery.support import LEASE, Clock, rows_of, worker

START = datetime(2025, 7, 2, 3, 0, tzinfo=UTC)
GUILD = 700_000_000_000_000_001
CARD_CH = 820_000_000_000_000_001
FEED_CH = 820_000_000_000_000_002
ROLE = 920_000_000_000_000_001
AFTER_HOLD = timedelta(minutes=11)  # the quiet period is 10 minutes


@dataclass
class Rig:
    """The poller, its loopback LL2, the worker's pieces and the virtual clock."""

    poller: Poller
    ll2: FakeLL2
    store: Store
    discord: FakeDiscord
    sender: DiscordSender
    clock: Clock

    @property
    def launch(self) -> dict[str, Any]:
        return self.ll2.launches[0]

    async def poll(self) -> None:
        await self.poller.poll_upcoming()

    async def deliver(self) -> None:
        await worker(self.store, self.sender, self.clock).run_once()

    def card_channel(self) -> list[StoredMessage]:
        return self.discord.messages_in(CARD_CH)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The loopback Discord with a per-channel bucket roomy enough for a test's few requests
    (the card channel makes up to 8 here; the default 5 per 5 s would add seconds of waiting)."""
    async with FakeDiscord(channel_limit=20) as server:
        yield server


@pytest.fixture
async def rig(store: Store, fake: FakeDiscord, sender: DiscordSender) -> AsyncIterator[Rig]:
    """A baselined poller with one card subscription (role) and one feed subscription."""
    clock = Clock(START)
    async with serve(FakeLL2(launches=[load_fixture("launch-synthetic-detailed.json")])) as ll2:
        settings = Settings.model_validate({"ll2": {"base_url": ll2.base_url}})
        client = LL2Client.create(settings.ll2, send_log=store)
        poller = Poller(store, client, settings, clock=clock.now)
        await store.add_subscription(GUILD, CARD_CH, role_id=ROLE, style=AlertStyle.CARD)
        await store.add_subscription(GUILD, FEED_CH)
        await poller.poll_upcoming()  # the silent baseline
        yield Rig(poller, ll2, store, fake, sender, clock)
        await client.aclose()


def card_text(message: StoredMessage) -> str:
    (embed,) = message.embeds
    return str(embed.get("description", ""))


async def date_change(rig: Rig) -> None:
    rig.launch["net"] = "2025-07-02T05:40:30Z"
    rig.launch["window_start"] = "2025-07-02T05:40:30Z"
    await rig.poll()


async def new_update(rig: Rig, n: int = 1) -> None:
    update = copy.deepcopy(rig.launch["updates"][0])
    update.update(id=40000 + n, comment=f"Fairing recovery ship {n} on station.")
    update["created_on"] = "2025-07-02T03:05:00Z"
    rig.launch["updates"] = [update, *rig.launch["updates"]]
    await rig.poll()


async def webcast_live(rig: Rig) -> None:
    rig.launch["webcast_live"] = True
    rig.launch["vid_urls"][0]["live"] = True
    await rig.poll()


async def success(rig: Rig) -> None:
    rig.launch["status"] = {"id": 3, "name": "Launch Successful", "abbrev": "Success"}
    await rig.poll()


async def test_one_card_and_two_pointers_while_the_feed_gets_every_message(rig: Rig) -> None:
    """Date change, update, webcast live, success: the card channel holds exactly one card
    (showing all four) and two short messages (live, success) replying to it with the role;
    edits ping nobody; the feed channel gets today's four messages."""
    await date_change(rig)
    await rig.deliver()
    assert rig.card_channel() == []  # a date-only change waits out the quiet period
    rig.clock.advance(AFTER_HOLD)
    await rig.deliver()
    (card,) = rig.card_channel()
    assert "NET moved from" in card_text(card)
    assert card.mention_roles == []

    for step in (new_update, webcast_live, success):
        await step(rig)
        await rig.deliver()

    card_msg, live, done = rig.card_channel()
    assert card_msg.id == card.id
    text = card_text(card_msg)
    for shown in (
        "NET moved from",
        "Update: “Fairing recovery ship 1",
        "Webcast live",
        "-> Launch Successful",
        "Outcome: Success",
    ):
        assert shown in text
    assert text.index("-> Launch Successful") < text.index("NET moved from")  # newest first
    assert card_msg.edits == 3
    assert card_msg.mention_roles == []
    assert not card_msg.mention_everyone
    for body in rig.discord.edits_to(CARD_CH):
        assert body["allowed_mentions"]["parse"] == []  # every edit carries allowed_mentions
    for pointer, words in ((live, "Webcast live"), (done, "Launch outcome")):
        assert pointer.reference == card.id
        assert pointer.mention_roles == [ROLE]
        assert words in pointer.content
        assert pointer.embeds == []

    feed = rig.discord.messages_in(FEED_CH)
    assert len(feed) == 4
    assert rig.discord.edits_to(FEED_CH) == []


async def test_card_changes_within_the_quiet_period_are_one_edit(rig: Rig) -> None:
    """A date change then an update before the hold ends: one post carrying both."""
    await date_change(rig)
    rig.clock.advance(timedelta(minutes=3))
    await new_update(rig)
    await rig.deliver()
    (card,) = rig.card_channel()
    assert "NET moved from" in card_text(card)
    assert "Update:" in card_text(card)
    assert card.edits == 0
    statuses = [r.status for r in await rows_of(rig.store, CARD_CH)]
    assert sorted(statuses) == [OutboxStatus.CANCELLED, OutboxStatus.SENT]


async def test_crash_between_discord_and_the_write_repeats_the_same_edit(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discord took the PATCH but the process died before recording it: after the lease the
    restarted worker repeats the same PATCH; still one card, with the right content. The same
    for the first post (the nonce hands back the same message)."""

    async def crash(*args: object, **kwargs: object) -> None:
        raise ConnectionError("killed before the write")

    await new_update(rig)
    with monkeypatch.context() as patch:
        patch.setattr(rig.store, "record_card_message", crash)
        await rig.deliver()
    rig.clock.advance(LEASE + timedelta(seconds=1))
    await rig.deliver()
    (card,) = rig.card_channel()
    assert rig.discord.stats.deduplicated == 1

    await webcast_live(rig)
    with monkeypatch.context() as patch:
        patch.setattr(rig.store, "record_card_sent", crash)
        await rig.deliver()
    first = rig.discord.edits_to(CARD_CH)
    assert len(first) == 1
    rig.clock.advance(LEASE + timedelta(seconds=1))
    await rig.deliver()
    edits = rig.discord.edits_to(CARD_CH)
    assert len(edits) == 2
    assert edits[0] == edits[1]
    card_msg, live = rig.card_channel()
    assert card_msg.id == card.id
    assert "Webcast live" in card_text(card_msg)
    assert live.reference == card.id
    assert all(r.status is OutboxStatus.SENT for r in await rows_of(rig.store, CARD_CH))


async def test_a_deleted_card_is_posted_again_once(rig: Rig) -> None:
    """A moderator deletes the card: the next edit (404) posts it afresh; deleted again, the
    card is frozen and not posted in a loop."""
    await new_update(rig, 1)
    await rig.deliver()
    (card,) = rig.card_channel()
    rig.discord.delete(card.id)
    await new_update(rig, 2)
    await rig.deliver()
    (again,) = rig.card_channel()
    assert again.id != card.id
    assert "ship 2" in card_text(again)

    rig.discord.delete(again.id)
    await new_update(rig, 3)
    await rig.deliver()
    await new_update(rig, 4)
    await rig.deliver()
    assert rig.card_channel() == []
    stored = await rig.store.get_card(CARD_CH, f"launch:{rig.launch['id']}")
    assert stored is not None
    assert stored.state.frozen
    assert len(rig.discord.posts_to(CARD_CH)) == 2


async def test_edit_cap_30046_posts_a_fresh_card_and_carries_on(rig: Rig) -> None:
    """Discord refuses edits of the old card (30046): a fresh card once, later edits go to it."""
    await new_update(rig, 1)
    await rig.deliver()
    (old,) = rig.card_channel()
    rig.discord.fail_edit(old.id, 400, 30046)
    await new_update(rig, 2)
    await rig.deliver()
    await new_update(rig, 3)
    await rig.deliver()
    old_msg, fresh = rig.card_channel()
    assert old_msg.id == old.id
    assert old_msg.edits == 0
    assert fresh.edits == 1
    assert "ship 3" in card_text(fresh)


async def test_a_card_long_past_its_date_gets_a_final_edit_and_is_left_alone(rig: Rig) -> None:
    """Housekeeping retires a card whose launch is OVER_AFTER past its date without an
    outcome: one final edit ('Over'), then the card is frozen and later changes are ignored."""
    await new_update(rig, 1)
    await rig.deliver()
    rig.clock.current = datetime(2025, 7, 2, 5, 10, 30, tzinfo=UTC) + OVER_AFTER
    assert await retire_cards(rig.store, rig.clock.now()) == 0  # not yet past
    rig.clock.advance(timedelta(minutes=1))
    assert await retire_cards(rig.store, rig.clock.now()) == 1
    await rig.deliver()
    (card,) = rig.card_channel()
    assert "**Over.** This card is final." in card_text(card)
    assert await retire_cards(rig.store, rig.clock.now()) == 0
    await new_update(rig, 2)
    await rig.deliver()
    assert rig.card_channel()[0].edits == 1


async def test_a_reminder_replies_to_the_card_with_the_role(rig: Rig) -> None:
    """A card subscription with reminders: the T-2 h reminder is a new message with the role
    mention, sent as a reply to the item's card; the feed channel's has no reference."""
    await new_update(rig, 1)
    await rig.deliver()
    (card,) = rig.card_channel()
    for sub in await rig.store.list_subscriptions():
        await rig.store.update_subscription(sub.id, reminders=(120,))
    job = ReminderJob(rig.store, timedelta(minutes=10), rig.clock.now)
    await job.run(START)  # arms the reminders ("since" starts here)
    rig.clock.current = datetime(2025, 7, 2, 3, 10, 40, tzinfo=UTC)  # T-2 h passed 10 s ago
    assert await job.run() == 2
    await rig.deliver()
    _, reminder = rig.card_channel()
    assert reminder.reference == card.id
    assert reminder.mention_roles == [ROLE]
    assert "T-2 h" in reminder.content
    assert rig.discord.messages_in(FEED_CH)[-1].reference is None


async def test_a_card_whose_item_ll2_no_longer_lists_gets_a_final_edit(rig: Rig) -> None:
    """LL2's complete upcoming read no longer has the launch: housekeeping gives its card one
    final edit saying so; a card whose item is still listed is left alone."""
    await new_update(rig, 1)
    await rig.deliver()
    assert await retire_cards(rig.store, rig.clock.now()) == 0  # still listed
    removed = rig.ll2.launches.pop()
    rig.clock.advance(timedelta(minutes=5))
    await rig.poll()
    assert await retire_cards(rig.store, rig.clock.now()) == 1
    await rig.deliver()
    (card,) = rig.card_channel()
    assert "No longer on Launch Library 2's schedule" in card_text(card)
    assert card.edits == 1
    rig.ll2.launches.append(removed)
    assert await retire_cards(rig.store, rig.clock.now()) == 0  # final: nothing more


async def test_only_frozen_cards_are_pruned_and_only_once_old(rig: Rig) -> None:
    """Housekeeping forgets a frozen card after the snapshots' retention; a live card stays."""
    await new_update(rig, 1)
    await rig.deliver()
    later = rig.clock.now() + timedelta(days=31)
    assert await rig.store.prune_cards(later) == 0  # live: kept however old
    rig.ll2.launches.pop()
    rig.clock.advance(timedelta(minutes=5))
    await rig.poll()
    assert await retire_cards(rig.store, rig.clock.now()) == 1  # now frozen (final)
    assert await rig.store.prune_cards(rig.clock.now()) == 0  # too recent
    assert await rig.store.prune_cards(later) == 1
    assert await rig.store.get_card(CARD_CH, "launch:4f8e2b6d-1c3a-4e7b-9d25-6a0c8b3f5e91") is None
