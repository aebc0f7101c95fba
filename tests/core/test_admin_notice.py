"""The admin notice after a dead channel: where, whether and what (properties and examples)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.admin_notice import (
    NOTICE_INTERVAL,
    Notice,
    disabled_reason,
    disabled_summary,
    how_to_fix,
    is_disabled_by_delivery,
    notice_channel,
    plan_notice,
)
from bot.core.render import message_problems
from bot.core.subscriptions import Subscription
from tests.core.change_factory import CHANNEL_A, CHANNEL_B, GUILD, T0

CHANNEL_C = 800_000_000_000_000_003
SYSTEM = 800_000_000_000_000_009
OTHER_GUILD = 700_000_000_000_000_002
CHANNELS = (CHANNEL_A, CHANNEL_B, CHANNEL_C, SYSTEM)
FORBIDDEN = "403 50013: Missing Permissions"
# Mentions that would ping (channel mentions do not, and the notice names the channel).
PING = re.compile(r"@(everyone|here)|<@[!&]?\d+>", re.IGNORECASE)


def make(sub_id: int, channel_id: int, *, state: str = "on", guild_id: int = GUILD) -> Subscription:
    """A subscription that is ``on``, ``paused`` by an admin, or ``dead`` (Discord refused)."""
    reason = {"on": None, "paused": "launch week", "dead": disabled_reason(FORBIDDEN)}[state]
    return Subscription(
        id=sub_id,
        guild_id=guild_id,
        channel_id=channel_id,
        enabled=state == "on",
        disabled_reason=reason,
    )


def kill(subs: Sequence[Subscription], channel_id: int) -> list[Subscription]:
    """``subs`` after the settler disabled ``channel_id`` (what the notifier then reads)."""
    return [
        s.model_copy(update={"enabled": False, "disabled_reason": disabled_reason(FORBIDDEN)})
        if s.channel_id == channel_id and s.enabled
        else s
        for s in subs
    ]


def plan(
    subs: Sequence[Subscription],
    *,
    dead: int = CHANNEL_A,
    system: int | None = None,
    last: datetime | None = None,
    now: datetime = T0,
) -> Notice | None:
    """:func:`plan_notice` for :data:`GUILD`."""
    return plan_notice(
        subs,
        guild_id=GUILD,
        dead_channel_id=dead,
        system_channel_id=system,
        last_notice_at=last,
        now=now,
    )


subscriptions_st = st.lists(
    st.builds(
        make,
        st.integers(1, 60),
        st.sampled_from(CHANNELS),
        state=st.sampled_from(["on", "on", "paused", "dead"]),
        guild_id=st.sampled_from([GUILD, GUILD, OTHER_GUILD]),
    ),
    max_size=10,
    unique_by=lambda s: s.id,
)
failures_st = st.lists(
    st.tuples(st.integers(0, 200), st.sampled_from(CHANNELS), st.sampled_from([SYSTEM, None])),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(subscriptions_st, failures_st)
def test_a_guild_is_told_at_most_once_an_hour(
    subs: list[Subscription], failures: list[tuple[int, int, int | None]]
) -> None:
    """Whatever dies when, notices to one guild are at least an hour apart."""
    now, last, sent = T0, None, []
    for gap_minutes, dead, system in failures:
        now += timedelta(minutes=gap_minutes)
        subs = kill(subs, dead)
        notice = plan(subs, dead=dead, system=system, last=last, now=now)
        if notice is not None:
            sent.append(now)
            last = now
    assert all(later - earlier >= NOTICE_INTERVAL for earlier, later in pairwise(sent))


@settings(max_examples=300, deadline=None)
@given(subscriptions_st, st.sampled_from(CHANNELS), st.sampled_from([SYSTEM, None]))
def test_a_notice_never_goes_to_a_dead_or_disabled_channel(
    subs: list[Subscription], dead: int, system: int | None
) -> None:
    """Never the channel that died, never one with a disabled subscription, never elsewhere."""
    subs = kill(subs, dead)
    notice = plan(subs, dead=dead, system=system)
    if notice is None:
        return
    mine = [s for s in subs if s.guild_id == GUILD]
    assert notice.channel_id != dead
    assert not any(s.channel_id == notice.channel_id and not s.enabled for s in mine)
    working = any(s.channel_id == notice.channel_id and s.enabled for s in mine)
    assert working or notice.channel_id == system
    assert message_problems(notice.message) == []


@settings(max_examples=300, deadline=None)
@given(subscriptions_st, st.sampled_from(CHANNELS))
def test_the_system_channel_only_when_no_working_channel(
    subs: list[Subscription], dead: int
) -> None:
    """The system channel is the fallback: a working subscribed channel always comes first."""
    subs = kill(subs, dead)
    mine = [s for s in subs if s.guild_id == GUILD]
    suspect = {dead} | {s.channel_id for s in mine if not s.enabled}
    working = {s.channel_id for s in mine if s.enabled} - suspect
    chosen = notice_channel(mine, dead, SYSTEM)
    if working:
        assert chosen in working
    else:
        assert chosen == (None if SYSTEM in suspect else SYSTEM)


def test_the_oldest_working_subscription_picks_the_channel() -> None:
    """Among several working channels the choice is stable: the oldest enabled subscription's."""
    subs = [make(7, CHANNEL_C), make(3, CHANNEL_B), make(1, CHANNEL_A, state="dead")]
    assert notice_channel(subs, CHANNEL_A, SYSTEM) == CHANNEL_B


def test_another_guilds_channel_is_never_chosen() -> None:
    """Subscriptions of other servers do not count as working channels."""
    subs = [make(1, CHANNEL_A, state="dead"), make(2, CHANNEL_B, guild_id=OTHER_GUILD)]
    notice = plan(subs)
    assert notice is None


def test_a_notice_is_due_again_exactly_an_hour_later() -> None:
    """59 minutes after the last notice: none; 60 minutes after: one."""
    subs = [make(1, CHANNEL_A, state="dead"), make(2, CHANNEL_B)]

    assert plan(subs, last=T0, now=T0 + timedelta(minutes=59)) is None
    assert plan(subs, last=T0, now=T0 + timedelta(minutes=60)) is not None


def test_the_notice_names_channel_reason_and_fix() -> None:
    """The dead channel, Discord's words, the permissions and the resume command, no ping."""
    subs = [make(4, CHANNEL_A, state="dead"), make(2, CHANNEL_B)]
    notice = plan(subs)
    assert notice is not None
    assert notice.channel_id == CHANNEL_B
    [embed] = notice.message.embeds
    assert embed.description is not None
    assert f"Discord refused my alerts in <#{CHANNEL_A}>" in embed.description
    assert f"**Discord said:** {FORBIDDEN}" in embed.description
    assert (
        "Give me **View Channel**, **Send Messages** and **Embed Links** in "
        f"<#{CHANNEL_A}>, then run `/spacecast resume 4`."
    ) in embed.description
    assert notice.message.content == (f"⚠️ Spacecast can no longer post alerts in <#{CHANNEL_A}>.")


def test_the_stored_reason_is_made_inert() -> None:
    """A reason holding mentions and markdown can neither ping nor restyle the notice."""
    dead = make(4, CHANNEL_A, state="dead").model_copy(
        update={"disabled_reason": disabled_reason("@everyone <@&1> **bold** <@2>")}
    )
    notice = plan([dead, make(2, CHANNEL_B)])
    assert notice is not None
    [embed] = notice.message.embeds
    assert embed.description is not None
    assert not PING.search(embed.description)
    assert "\\*\\*bold\\*\\*" in embed.description


def test_the_same_failure_gets_the_same_nonce() -> None:
    """A retried send of one notice carries one nonce, so Discord posts it once."""
    subs = [make(4, CHANNEL_A, state="dead"), make(2, CHANNEL_B)]
    first, again, later = plan(subs), plan(subs), plan(subs, now=T0 + NOTICE_INTERVAL)
    assert first is not None
    assert again is not None
    assert later is not None
    assert first.nonce == again.nonce != later.nonce
    assert len(first.nonce) <= 25


def test_how_to_fix_lists_several_ids() -> None:
    """A channel with several disabled subscriptions names each id to resume."""
    assert how_to_fix(CHANNEL_A, [9, 4, 7]).endswith(
        "then run `/spacecast resume <id>` for #4, #7 and #9."
    )


def test_a_pause_is_not_a_delivery_failure() -> None:
    """Only the settler's reason marks a subscription as disabled by Discord's refusal."""
    assert is_disabled_by_delivery(make(1, CHANNEL_A, state="dead"))
    assert not is_disabled_by_delivery(make(1, CHANNEL_A, state="paused"))
    assert not is_disabled_by_delivery(make(1, CHANNEL_A))


def test_disabled_summary_lists_each_and_the_fix() -> None:
    """One line per disabled subscription, paused ones left out, then the fix."""
    subs = [
        make(2, CHANNEL_B, state="dead"),
        make(1, CHANNEL_A, state="paused"),
        make(3, CHANNEL_C),
    ]
    assert disabled_summary(subs) == (
        f"#2 in <#{CHANNEL_B}>: {FORBIDDEN}\n"
        "Give me **View Channel**, **Send Messages** and **Embed Links** there, "
        "then run `/spacecast resume <id>`."
    )
    assert disabled_summary([make(1, CHANNEL_A, state="paused")]) is None


@given(st.integers(1, 50), st.integers(200, 1024))
def test_disabled_summary_fits_its_limit(count: int, limit: int) -> None:
    """However many are disabled, the summary fits (an embed field) and ends with the fix."""
    subs = [make(i, CHANNEL_A + i, state="dead") for i in range(1, count + 1)]
    summary = disabled_summary(subs, limit)
    assert summary is not None
    assert len(summary) <= limit
    assert summary.endswith("then run `/spacecast resume <id>`.")
