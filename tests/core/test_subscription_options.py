"""Option parsing shared by the CLI and the slash commands, and the one-line summary."""

from __future__ import annotations

import pytest

from bot.core.admin_notice import disabled_reason
from bot.core.changes import ALERT_KINDS, ChangeKind
from bot.core.snapshot import Source
from bot.core.subscription_options import (
    MAX_IDS,
    OptionError,
    describe_subscription,
    parse_id_list,
    parse_kinds,
    parse_reminders,
    parse_snowflake,
    parse_sources,
    parse_subscription_options,
)
from tests.core.change_factory import sub

EVENT_TYPES = {2: "Docking", 3: "EVA", 8: "Undocking"}
GUILD = "700000000000000001"
CHANNEL = "800000000000000001"

# --- sources ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("events,launches", {Source.EVENT, Source.LAUNCH}),
        ("event", {Source.EVENT}),
        ("Launches", {Source.LAUNCH}),
        ("all", {Source.EVENT, Source.LAUNCH}),
        (" events , launch ", {Source.EVENT, Source.LAUNCH}),
    ],
)
def test_parse_sources_accepts_singular_plural_and_all(text: str, expected: set[Source]) -> None:
    """Singular, plural, mixed case, spaces and "all" are understood."""
    assert parse_sources(text) == expected


def test_parse_sources_rejects_unknown_word() -> None:
    """An unknown source names itself and the choices."""
    with pytest.raises(OptionError, match="unknown source 'rockets'; choose from events"):
        parse_sources("events,rockets")


def test_parse_sources_rejects_empty() -> None:
    """An empty list would subscribe to nothing."""
    with pytest.raises(OptionError, match="empty"):
        parse_sources(" , ")


# --- id lists --------------------------------------------------------------------------------


def test_parse_id_list_all_means_no_filter() -> None:
    """The word "all" is None: every type or provider."""
    assert parse_id_list("all", "--types") is None


def test_parse_id_list_reads_ids() -> None:
    """A comma list becomes a set; duplicates and a trailing comma are forgiven."""
    assert parse_id_list("2, 3,3,", "--types") == frozenset({2, 3})


def test_parse_id_list_rejects_non_number() -> None:
    """A non-numeric id is named, with the option it came from."""
    with pytest.raises(OptionError, match=r"^--types: 'abc' is not a number$"):
        parse_id_list("2,abc", "--types")


def test_parse_id_list_rejects_non_ascii_digits() -> None:
    """Only plain ASCII digits are ids (``int()`` alone would take "٣")."""
    with pytest.raises(OptionError, match="is not a number"):
        parse_id_list("٣", "types")


@pytest.mark.parametrize("text", ["-3", "1.5"])
def test_parse_id_list_says_ids_are_positive_whole_numbers(text: str) -> None:
    """A negative or fractional number is refused with the rule, not as "not a number"."""
    with pytest.raises(OptionError) as info:
        parse_id_list(text, "--providers")
    assert str(info.value) == (
        f"--providers: '{text}' is not a valid id (ids are positive whole numbers)"
    )


def test_parse_id_list_rejects_zero() -> None:
    """LL2 ids start at 1."""
    with pytest.raises(OptionError, match="0 is not a valid id"):
        parse_id_list("0", "--providers")


def test_parse_id_list_rejects_unknown_id_when_known_given() -> None:
    """With the known types at hand, an unknown id is refused by name, with examples."""
    with pytest.raises(OptionError, match=r"--types: unknown id 99; known: 2 Docking, 3 EVA"):
        parse_id_list("2,99", "--types", EVENT_TYPES)


def test_parse_id_list_accepts_known_ids() -> None:
    """Known ids pass."""
    assert parse_id_list("3,8", "types", EVENT_TYPES) == frozenset({3, 8})


def test_parse_id_list_hint_stays_short() -> None:
    """A long list of known ids is abbreviated so the error stays one line."""
    known = {i: f"Type {i}" for i in range(1, 60)}
    with pytest.raises(OptionError) as caught:
        parse_id_list("999", "--types", known)
    assert "and 51 more" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_parse_id_list_caps_the_number_of_ids() -> None:
    """Hundreds of ids is refused with a pointer to "all"."""
    text = ",".join(str(i) for i in range(1, MAX_IDS + 2))
    with pytest.raises(OptionError, match="too many"):
        parse_id_list(text, "--providers")


# --- kinds -----------------------------------------------------------------------------------


def test_parse_kinds_all_is_every_alert_kind() -> None:
    """The word "all" is every alertable kind, never ``webcast_ended``."""
    assert parse_kinds("all") == frozenset(ALERT_KINDS)


def test_parse_kinds_reads_list_forgiving_case_and_hyphens() -> None:
    """Kinds are matched case-insensitively, with hyphens for underscores."""
    assert parse_kinds("Webcast-Live,date_changed") == {
        ChangeKind.WEBCAST_LIVE,
        ChangeKind.DATE_CHANGED,
    }


def test_parse_kinds_rejects_typo_listing_choices() -> None:
    """A typo gets the exact friendly message with every valid kind."""
    with pytest.raises(OptionError) as caught:
        parse_kinds("webcats_live")
    assert str(caught.value) == (
        "unknown kind 'webcats_live'; choose from webcast_live, date_changed, new_update, "
        "status_changed, new_item"
    )


def test_parse_kinds_rejects_webcast_ended() -> None:
    """``webcast_ended`` is bookkeeping, not an alert one can subscribe to."""
    with pytest.raises(OptionError, match="unknown kind 'webcast_ended'"):
        parse_kinds("webcast_ended")


def test_error_echo_of_long_input_is_cut_to_one_short_line() -> None:
    """Pasted garbage is shortened in the message, so the error stays one readable line."""
    with pytest.raises(OptionError) as caught:
        parse_kinds("x" * 500)
    assert len(str(caught.value)) < 150


# --- snowflakes ------------------------------------------------------------------------------


def test_parse_snowflake_reads_discord_id() -> None:
    """A real-looking snowflake, with surrounding spaces, is read as an int."""
    assert parse_snowflake(" 1052345678901234567 ", "--channel") == 1052345678901234567


@pytest.mark.parametrize("text", ["0", str(2**64), "-1", "12ab", "", "<#123>"])
def test_parse_snowflake_rejects_non_ids(text: str) -> None:
    """Zero, 2**64 and up, signs, letters and mentions are not ids."""
    with pytest.raises(OptionError, match=r"^--role: .* is not a Discord id"):
        parse_snowflake(text, "--role")


def test_parse_snowflake_accepts_largest_id() -> None:
    """2**64 - 1 is still a valid snowflake."""
    assert parse_snowflake(str(2**64 - 1), "--guild") == 2**64 - 1


# --- whole command ---------------------------------------------------------------------------


def test_parse_subscription_options_defaults_to_everything() -> None:
    """Guild and channel alone subscribe to every source, type, provider and kind."""
    options = parse_subscription_options(guild=GUILD, channel=CHANNEL)
    subscription = options.to_subscription(5)
    assert subscription == sub(5, int(CHANNEL), guild_id=int(GUILD))


def test_parse_subscription_options_reads_every_option() -> None:
    """Every option lands in the right field."""
    options = parse_subscription_options(
        guild=GUILD,
        channel=CHANNEL,
        sources="events",
        types="2,3",
        kinds="webcast_live",
        role="900000000000000001",
        known_types=EVENT_TYPES,
    )
    assert options.sources == {Source.EVENT}
    assert options.event_types == frozenset({2, 3})
    assert options.providers is None
    assert options.kinds == {ChangeKind.WEBCAST_LIVE}
    assert options.role_id == 900000000000000001


def test_type_filter_without_events_is_refused() -> None:
    """Filtering on event types while not subscribing to events would do nothing."""
    with pytest.raises(OptionError, match="--types filters events, but --sources leaves them out"):
        parse_subscription_options(guild=GUILD, channel=CHANNEL, sources="launches", types="2")


def test_provider_filter_without_launches_is_refused_with_slash_names() -> None:
    """The same check, named as the slash command's options."""
    with pytest.raises(OptionError, match=r"^providers filters launches"):
        parse_subscription_options(
            guild=GUILD, channel=CHANNEL, sources="events", providers="121", prefix=""
        )


def test_everyone_role_is_refused() -> None:
    """The @everyone role has the guild's id; a subscription must not ping everyone."""
    with pytest.raises(OptionError, match="@everyone"):
        parse_subscription_options(guild=GUILD, channel=CHANNEL, role=GUILD)


def test_bad_channel_is_named_with_its_option() -> None:
    """The failing option is named as the CLI spells it."""
    with pytest.raises(OptionError, match=r"^--channel: 'general' is not a Discord id"):
        parse_subscription_options(guild=GUILD, channel="general")


# --- describe --------------------------------------------------------------------------------


def test_describe_full_subscription() -> None:
    """Filtered events, all launches, two kinds, a role and a pause read as one line."""
    subscription = sub(
        4,
        123,
        event_types=frozenset({3, 2}),
        kinds=frozenset({ChangeKind.DATE_CHANGED, ChangeKind.WEBCAST_LIVE}),
        role_id=456,
        enabled=False,
    )
    assert describe_subscription(subscription, EVENT_TYPES) == (
        "#4 in <#123>: events (Docking, EVA), launches (all providers); "
        "alerts: webcast live, date changes; pings <@&456>; paused: missing permissions"
    )


def test_describe_defaults() -> None:
    """An unfiltered subscription says "all" and mentions no role or pause."""
    assert describe_subscription(sub(1, 123), EVENT_TYPES) == (
        "#1 in <#123>: events (all types), launches (all providers); alerts: all"
    )


def test_describe_names_unknown_ids_and_providers() -> None:
    """Ids without a known name show as "type N"; provider names come from the optional map."""
    subscription = sub(2, 123, event_types=frozenset({77}), providers=frozenset({121, 44}))
    assert describe_subscription(subscription, EVENT_TYPES, {121: "SpaceX"}) == (
        "#2 in <#123>: events (type 77), launches (provider 44, SpaceX); alerts: all"
    )


def test_describe_launches_only() -> None:
    """A launches-only subscription does not mention events."""
    subscription = sub(3, 123, sources=frozenset({Source.LAUNCH}))
    assert describe_subscription(subscription, {}).startswith("#3 in <#123>: launches (")


# --- reminders -------------------------------------------------------------------------------


def test_parse_reminders_names_the_option_in_errors() -> None:
    """A bad offset is an OptionError naming the option, like every other option."""
    with pytest.raises(OptionError) as info:
        parse_reminders("5x", "--reminders")
    assert str(info.value) == (
        "--reminders: '5x' is not an offset; use minutes, hours or days such as 24h, 1h, 10m"
    )


def test_subscription_options_carry_reminders() -> None:
    """reminders text becomes minutes on the subscription; left out, there are none."""
    with_reminders = parse_subscription_options(guild=GUILD, channel=CHANNEL, reminders="1h,10m")
    assert with_reminders.to_subscription(1).reminders == (60, 10)
    plain = parse_subscription_options(guild=GUILD, channel=CHANNEL)
    assert plain.to_subscription(1).reminders == ()


def test_describe_subscription_lists_reminders_only_when_set() -> None:
    """'reminders: T-1 h, T-10 min' appears for a subscription with reminders, else nothing."""
    base = sub(4)
    assert "reminders" not in describe_subscription(base, EVENT_TYPES)
    line = describe_subscription(base.model_copy(update={"reminders": (60, 10)}), EVENT_TYPES)
    assert "; alerts: all; reminders: T-1 h, T-10 min" in line


def test_describe_says_disabled_for_a_channel_discord_refused() -> None:
    """A subscription the worker turned off reads "disabled", with what Discord said."""
    subscription = sub(5, 123, enabled=False).model_copy(
        update={"disabled_reason": disabled_reason("403 50013: Missing Permissions")}
    )
    assert describe_subscription(subscription, EVENT_TYPES).endswith(
        "; disabled: channel unusable: 403 50013: Missing Permissions"
    )


def test_describe_for_discord_makes_the_stored_reason_inert() -> None:
    """With ``markdown`` a reason cannot ping or restyle the listing; the terminal sees it raw."""
    subscription = sub(6, 123, enabled=False).model_copy(
        update={"disabled_reason": "**launch** week @everyone"}
    )
    shown = describe_subscription(subscription, EVENT_TYPES, markdown=True)
    assert shown.endswith("; paused: \\*\\*launch\\*\\* week @\u200beveryone")
    assert describe_subscription(subscription, EVENT_TYPES).endswith(
        "; paused: **launch** week @everyone"
    )
