"""The followable feed: alerts posted once to the operator's announcement channels, published.

An announcement channel's published messages reach every channel that follows it, delivered by
Discord itself: one post and one publish reach any number of servers, at no cost to the bot's
rate limit and with no subscription row. ``feed.channels`` maps an alert kind (or ``all``) to
such a channel; this module decides what goes there and how it is paced:

- :func:`feed_deliveries`: one delivery per (feed channel, item) with matching changes, exactly
  as routing makes them for a subscription of every source, type and provider; their dedup
  keys start with :data:`FEED_KEY_PREFIX` so the worker knows them;
- :func:`publish_wait`: Discord lets a channel publish about
  :data:`PUBLISHES_PER_HOUR` messages an hour; a feed message is posted only when its publish
  fits that sliding hour, otherwise it waits for the slot;
- :func:`coalesce`: the feed rows that waited are posted together as one message (up to
  Discord's 10 embeds and 6,000 embed characters), so a busy hour costs one publish, not many.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from bot.core.changes import ALERT_KINDS, Change, ChangeKind
from bot.core.render.fit import fits_message
from bot.core.render.limits import EMBEDS_PER_MESSAGE
from bot.core.render.message import EmbedData, MessageData
from bot.core.routing import Delivery, route
from bot.core.subscriptions import Subscription

ALL = "all"
FEED_KEY_PREFIX = "feed:"
FEED_GUILD_ID = 0  # feed rows belong to no subscriber's guild: shard 0 delivers them
FEED_SUBSCRIPTION_ID = 0  # and to no subscription (stored as NULL)
PUBLISHES_PER_HOUR = 10
PUBLISH_WINDOW = timedelta(hours=1)


def feed_kinds(channels: Mapping[str, int]) -> dict[int, frozenset[ChangeKind]]:
    """``feed.channels`` turned around: each feed channel and the alert kinds it gets."""
    found: dict[int, set[ChangeKind]] = {}
    for key, channel in channels.items():
        kinds = set(ALERT_KINDS) if key == ALL else {ChangeKind(key)}
        found.setdefault(channel, set()).update(kinds)
    return {channel: frozenset(kinds) for channel, kinds in found.items()}


def feed_deliveries(changes: Sequence[Change], channels: Mapping[str, int]) -> list[Delivery]:
    """The deliveries of one poll's alertable ``changes`` to the feed channels."""
    if not channels:
        return []
    subs = [
        Subscription(
            id=FEED_SUBSCRIPTION_ID, guild_id=FEED_GUILD_ID, channel_id=channel, kinds=kinds
        )
        for channel, kinds in sorted(feed_kinds(channels).items())
    ]
    return [
        d.model_copy(update={"dedup_key": FEED_KEY_PREFIX + d.dedup_key})
        for d in route(changes, subs)
    ]


def is_feed_key(dedup_key: str) -> bool:
    """Whether an outbox row with this dedup key is a feed post."""
    return dedup_key.startswith(FEED_KEY_PREFIX)


def publish_wait(
    published: Iterable[datetime],
    now: datetime,
    *,
    limit: int = PUBLISHES_PER_HOUR,
    window: timedelta = PUBLISH_WINDOW,
) -> timedelta:
    """How long until one more publish fits ``limit`` per sliding ``window`` (zero: now)."""
    recent = sorted(t for t in published if now - t < window)
    if len(recent) < limit:
        return timedelta(0)
    # The oldest publish that must leave the window for one more to fit.
    return recent[len(recent) - limit] + window - now


def coalesce(messages: Sequence[Sequence[MessageData]]) -> list[MessageData]:
    """Several rows' messages as few messages as Discord allows (one publish each).

    Embeds are packed in order while a message stays within 10 embeds and 6,000 embed
    characters; a message's content (a feed row has no role ping) is kept when it is the only
    one; link buttons are kept only for a message holding one row's embeds (whose buttons they
    are). A single row comes back unchanged.
    """
    rows = [list(parts) for parts in messages if parts]
    if len(rows) <= 1:
        return rows[0] if rows else []
    out: list[MessageData] = []
    embeds: list[EmbedData] = []
    sources: list[MessageData] = []

    def flush() -> None:
        if not sources:
            return
        if len(sources) == 1:
            out.append(sources[0])
        else:
            content = [m.content for m in sources if m.content]
            out.append(
                MessageData(content=content[0] if len(content) == 1 else None, embeds=embeds)
            )
        embeds.clear()
        sources.clear()

    for parts in rows:
        for message in parts:
            candidate = [*embeds, *message.embeds]
            if sources and (len(candidate) > EMBEDS_PER_MESSAGE or not fits_message(candidate)):
                flush()
                candidate = list(message.embeds)
            embeds[:] = candidate
            sources.append(message)
    flush()
    return out
