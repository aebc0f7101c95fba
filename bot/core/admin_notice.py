"""Telling a server's managers that alerts to one of its channels stopped (pure rules and text).

When Discord refuses a channel for good (403, 404 Unknown Channel), the delivery worker disables
that channel's subscriptions after one try: every further 403 would count towards Discord's
invalid-request ban. Done silently, that looks like the bot broke. So the first time it happens
the server is told, once:

- in another of its channels that still gets alerts (an enabled subscription, and none there
  disabled: a channel with a disabled subscription may be just as dead),
- else in the server's system channel, when the bot can post there,
- else nowhere (never a DM: the admins did not ask for one),

and at most once per :data:`NOTICE_INTERVAL` per server: a bot that loses a role loses every
channel at once, and one notice says it all. :func:`plan_notice` decides where and what;
``bot/services/delivery/notices.py`` reads the inputs, sends, and records the time. The same
wording serves ``/spacecast list``, ``/spacecast status`` and the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.render.fit import truncate
from bot.core.render.limits import FIELD_VALUE_MAX
from bot.core.render.message import EmbedData, MessageData
from bot.core.render.sanitize import clean
from bot.core.routing import nonce_for
from bot.core.subscriptions import Subscription

NOTICE_INTERVAL = timedelta(hours=1)
# The settler stores this prefix; it is how a channel Discord refused differs from a pause.
DISABLED_PREFIX = "channel unusable: "
REASON_MAX = 500  # what the store keeps of a reason
SHOWN_REASON_MAX = 300  # what a notice or a listing shows of it
SHOWN_IDS_MAX = 10
POST_PERMISSIONS = ("View Channel", "Send Messages", "Embed Links")
NOTICE_COLOUR = 0xED4245


@dataclass(frozen=True)
class Notice:
    """Where to post the notice, what to post, and the nonce to post it with."""

    channel_id: int
    message: MessageData
    nonce: str


def disabled_reason(error: str) -> str:
    """The ``disabled_reason`` stored when Discord refused a channel with ``error``."""
    return f"{DISABLED_PREFIX}{error}"[:REASON_MAX]


def is_disabled_by_delivery(sub: Subscription) -> bool:
    """Whether ``sub`` is off because Discord refused its channel (not paused by an admin)."""
    return not sub.enabled and (sub.disabled_reason or "").startswith(DISABLED_PREFIX)


def refusal_text(sub: Subscription) -> str:
    """What Discord said when it refused ``sub``'s channel, made inert for Discord markdown.

    The reason comes from the store (Discord's own error text today); it is data, so it must
    not ping or restyle anything whatever it holds.
    """
    raw = (sub.disabled_reason or "").removeprefix(DISABLED_PREFIX)
    return clean(truncate(" ".join(raw.split()), SHOWN_REASON_MAX)) or "no reason recorded"


def _and_list(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def _ids_text(ids: Sequence[int]) -> str:
    shown = [f"#{i}" for i in ids[:SHOWN_IDS_MAX]]
    if len(ids) > SHOWN_IDS_MAX:
        shown.append(f"{len(ids) - SHOWN_IDS_MAX} more")
    return _and_list(shown)


def how_to_fix(channel_id: int, subscription_ids: Sequence[int]) -> str:
    """``Give me **View Channel**, … in <#c>, then run `/spacecast resume 4`.``"""
    permissions = _and_list([f"**{name}**" for name in POST_PERMISSIONS])
    ids = sorted(subscription_ids)
    if len(ids) == 1:
        resume = f"`/spacecast resume {ids[0]}`"
    elif ids:
        resume = f"`/spacecast resume <id>` for {_ids_text(ids)}"
    else:
        resume = "`/spacecast resume <id>` (see `/spacecast list`)"
    return f"Give me {permissions} in <#{channel_id}>, then run {resume}."


def notice_due(last_notice_at: datetime | None, now: datetime) -> bool:
    """Whether a server last told at ``last_notice_at`` may be told again at ``now``.

    A last time in the future (another clock, a clock step back) counts as recent: the point is
    never to post twice within the interval.
    """
    return last_notice_at is None or now - last_notice_at >= NOTICE_INTERVAL


def notice_channel(
    subscriptions: Iterable[Subscription], dead_channel_id: int, system_channel_id: int | None
) -> int | None:
    """The channel to post the notice in, or None (see the module docstring for the order).

    Among working channels the one with the oldest enabled subscription wins, so the choice is
    stable. ``system_channel_id`` is None when there is none or the bot cannot post there.
    """
    enabled: dict[int, int] = {}
    suspect = {dead_channel_id}
    for sub in subscriptions:
        if not sub.enabled:
            suspect.add(sub.channel_id)
        elif sub.channel_id not in enabled or sub.id < enabled[sub.channel_id]:
            enabled[sub.channel_id] = sub.id
    working = sorted(
        (first, channel) for channel, first in enabled.items() if channel not in suspect
    )
    if working:
        return working[0][1]
    if system_channel_id is not None and system_channel_id not in suspect:
        return system_channel_id
    return None


def notice_message(
    dead: Sequence[Subscription], dead_channel_id: int, now: datetime
) -> MessageData:
    """The notice about ``dead_channel_id``, whose disabled subscriptions are ``dead``.

    It names the channel, what Discord said and the fix. Channel mentions do not ping; the
    sender still posts it with no allowed mentions at all.
    """
    ids = sorted(sub.id for sub in dead)
    said = refusal_text(dead[0]) if dead else "no reason recorded"
    turned_off = f"its subscriptions ({_ids_text(ids)})" if ids else "its subscriptions"
    description = (
        f"Discord refused my alerts in <#{dead_channel_id}>, so I turned off {turned_off} "
        "rather than keep knocking.\n\n"
        f"**Discord said:** {said}\n"
        f"**To fix it:** {how_to_fix(dead_channel_id, ids)}"
    )
    embed = EmbedData(
        title="⚠️ Spacecast stopped posting alerts in a channel",
        description=description,
        colour=NOTICE_COLOUR,
        footer="Spacecast sends this at most once an hour per server.",
        timestamp=now,
    )
    return MessageData(
        content=f"⚠️ Spacecast can no longer post alerts in <#{dead_channel_id}>.", embeds=[embed]
    )


def plan_notice(
    subscriptions: Iterable[Subscription],
    *,
    guild_id: int,
    dead_channel_id: int,
    system_channel_id: int | None,
    last_notice_at: datetime | None,
    now: datetime,
) -> Notice | None:
    """The notice to post after ``dead_channel_id``'s subscriptions were disabled, or None.

    ``subscriptions`` are the server's as stored after the disabling (other servers' are
    ignored); ``system_channel_id`` is the server's system channel if the bot can post there;
    ``last_notice_at`` is when the server was last told. None means: told too recently, or no
    channel to tell it in.
    """
    if not notice_due(last_notice_at, now):
        return None
    subs = [sub for sub in subscriptions if sub.guild_id == guild_id]
    target = notice_channel(subs, dead_channel_id, system_channel_id)
    if target is None:
        return None
    dead = sorted(
        (s for s in subs if s.channel_id == dead_channel_id and is_disabled_by_delivery(s)),
        key=lambda s: s.id,
    )
    key = f"admin-notice:{guild_id}:{dead_channel_id}:{now.isoformat()}"
    return Notice(target, notice_message(dead, dead_channel_id, now), nonce_for(key))


def disabled_summary(
    subscriptions: Iterable[Subscription], limit: int = FIELD_VALUE_MAX
) -> str | None:
    """The subscriptions Discord's refusals turned off, one line each, and the fix (None if none).

    Fits within ``limit`` characters (an embed field value by default), noting any left out.
    """
    dead = sorted((s for s in subscriptions if is_disabled_by_delivery(s)), key=lambda s: s.id)
    if not dead:
        return None
    fix = (
        f"Give me {_and_list([f'**{n}**' for n in POST_PERMISSIONS])} there, "
        "then run `/spacecast resume <id>`."
    )
    lines: list[str] = []
    budget = limit - len(fix) - 1
    for index, sub in enumerate(dead):
        line = f"#{sub.id} in <#{sub.channel_id}>: {refusal_text(sub)}"
        rest = f"…and {len(dead) - index} more (`/spacecast list`)."
        last = index == len(dead) - 1
        if len(line) + 1 > budget - (0 if last else len(rest) + 1):
            lines.append(rest)
            break
        lines.append(line)
        budget -= len(line) + 1
    return "\n".join([*lines, fix])
