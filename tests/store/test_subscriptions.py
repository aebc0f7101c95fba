"""Subscriptions: create, read, update, delete, enable and disable."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bot.core.changes import ALERT_KINDS, ChangeKind
from bot.core.snapshot import Source
from bot.core.subscriptions import Subscription
from bot.store import Store

GUILD = 1_234_567_890_123_456_789
CHANNEL = 987_654_321_098_765_432
ROLE = 555_555_555_555_555_555


async def test_add_and_get_roundtrip(store: Store) -> None:
    """A subscription comes back exactly as created, snowflakes and sets included."""
    sub = await store.add_subscription(
        GUILD,
        CHANNEL,
        sources=[Source.EVENT],
        event_types=[2, 3],
        providers=None,
        kinds=[ChangeKind.WEBCAST_LIVE],
        role_id=ROLE,
    )
    assert sub.id > 0
    assert sub == Subscription(
        id=sub.id,
        guild_id=GUILD,
        channel_id=CHANNEL,
        sources=frozenset({Source.EVENT}),
        event_types=frozenset({2, 3}),
        providers=None,
        kinds=frozenset({ChangeKind.WEBCAST_LIVE}),
        role_id=ROLE,
    )
    assert await store.get_subscription(sub.id) == sub


async def test_defaults_mean_everything(store: Store) -> None:
    """Without filters a subscription takes every source, type, provider and alert kind."""
    sub = await store.add_subscription(GUILD, CHANNEL)
    got = await store.get_subscription(sub.id)
    assert got is not None
    assert got.sources == frozenset(Source)
    assert got.event_types is None
    assert got.providers is None
    assert got.kinds == frozenset(ALERT_KINDS)
    assert got.enabled
    assert got.role_id is None


async def test_empty_filter_set_is_not_all(store: Store) -> None:
    """An empty set is stored as empty, distinct from None ("all")."""
    sub = await store.add_subscription(GUILD, CHANNEL, providers=[])
    got = await store.get_subscription(sub.id)
    assert got is not None
    assert got.providers == frozenset()


async def test_list_filters_by_guild_channel_and_enabled(store: Store) -> None:
    """list_subscriptions filters by guild, channel and enabled state, ordered by id."""
    a = await store.add_subscription(GUILD, CHANNEL)
    b = await store.add_subscription(GUILD, CHANNEL + 1)
    c = await store.add_subscription(GUILD + 1, CHANNEL + 2)
    await store.set_subscription_enabled(b.id, False, "403 Missing Access")
    assert [s.id for s in await store.list_subscriptions()] == [a.id, b.id, c.id]
    assert [s.id for s in await store.list_subscriptions(GUILD)] == [a.id, b.id]
    assert [s.id for s in await store.list_subscriptions(GUILD, enabled_only=True)] == [a.id]
    assert [s.id for s in await store.list_subscriptions(channel_id=CHANNEL + 2)] == [c.id]


async def test_update_changes_only_given_fields(store: Store) -> None:
    """update_subscription validates and stores the given fields, keeps the rest."""
    sub = await store.add_subscription(GUILD, CHANNEL, role_id=ROLE, event_types=[3])
    updated = await store.update_subscription(sub.id, kinds=["date_changed"], role_id=None)
    assert updated is not None
    assert updated.kinds == frozenset({ChangeKind.DATE_CHANGED})
    assert updated.role_id is None
    assert updated.event_types == frozenset({3})
    assert await store.get_subscription(sub.id) == updated
    cleared = await store.update_subscription(sub.id, event_types=None)
    assert cleared is not None
    assert cleared.event_types is None


async def test_update_rejects_unknown_or_fixed_fields(store: Store) -> None:
    """id and guild_id cannot change; unknown names are errors; missing ids give None."""
    sub = await store.add_subscription(GUILD, CHANNEL)
    with pytest.raises(TypeError, match="guild_id"):
        await store.update_subscription(sub.id, guild_id=1)
    with pytest.raises(TypeError, match="colour"):
        await store.update_subscription(sub.id, colour="red")
    assert await store.update_subscription(999_999, role_id=1) is None


async def test_remove_is_scoped_to_the_guild(store: Store) -> None:
    """A guild cannot delete another guild's subscription; the right guild can."""
    sub = await store.add_subscription(GUILD, CHANNEL)
    assert not await store.remove_subscription(sub.id, guild_id=GUILD + 1)
    assert await store.remove_subscription(sub.id, guild_id=GUILD)
    assert await store.get_subscription(sub.id) is None
    assert not await store.remove_subscription(sub.id)


async def test_enable_clears_the_reason(store: Store) -> None:
    """Disabling records a reason; enabling again clears it."""
    sub = await store.add_subscription(GUILD, CHANNEL)
    assert await store.set_subscription_enabled(sub.id, False, "50013 Missing Permissions")
    got = await store.get_subscription(sub.id)
    assert got is not None
    assert not got.enabled
    assert got.disabled_reason == "50013 Missing Permissions"
    assert await store.set_subscription_enabled(sub.id, True)
    got = await store.get_subscription(sub.id)
    assert got is not None
    assert got.enabled
    assert got.disabled_reason is None
    assert not await store.set_subscription_enabled(999_999, True)


async def test_disable_channel_disables_all_of_that_channel(store: Store) -> None:
    """disable_channel turns off every enabled subscription of the channel, only those."""
    a = await store.add_subscription(GUILD, CHANNEL)
    b = await store.add_subscription(GUILD, CHANNEL, kinds=[ChangeKind.NEW_UPDATE])
    other = await store.add_subscription(GUILD, CHANNEL + 1)
    assert await store.disable_channel(CHANNEL, "10003 Unknown Channel") == 2
    assert await store.disable_channel(CHANNEL, "again") == 0
    for sub_id in (a.id, b.id):
        got = await store.get_subscription(sub_id)
        assert got is not None
        assert not got.enabled
        assert got.disabled_reason == "10003 Unknown Channel"
    still = await store.get_subscription(other.id)
    assert still is not None
    assert still.enabled


async def test_reminders_default_to_none_and_are_stored_as_null(store: Store) -> None:
    """A subscription made without reminders has none, stored as NULL like an old row."""
    sub = await store.add_subscription(GUILD, CHANNEL)
    assert sub.reminders == ()
    async with store.transaction() as tx:
        stored = await tx.connection.execute(
            text("SELECT reminders FROM subscriptions WHERE id = :id"), {"id": sub.id}
        )
        assert stored.scalar_one() is None


async def test_reminders_roundtrip_largest_first(store: Store) -> None:
    """Offsets come back as minutes, distinct, largest first."""
    sub = await store.add_subscription(GUILD, CHANNEL, reminders=[10, 1440, 60, 10])
    assert sub.reminders == (1440, 60, 10)
    assert (await store.get_subscription(sub.id)) == sub


async def test_update_sets_and_clears_reminders(store: Store) -> None:
    """update_subscription changes the reminders alone, and an empty list clears them."""
    sub = await store.add_subscription(GUILD, CHANNEL, kinds=[ChangeKind.WEBCAST_LIVE])
    updated = await store.update_subscription(sub.id, reminders=[10, 60])
    assert updated == sub.model_copy(update={"reminders": (60, 10)})
    assert await store.get_subscription(sub.id) == updated
    cleared = await store.update_subscription(sub.id, reminders=[])
    assert cleared == sub
    assert await store.get_subscription(sub.id) == sub
