"""Parse and check subscription options, for the terminal CLI and the slash commands alike.

Both front ends take the same text (``--kinds webcast_live,date_changed`` or the slash command's
``kinds`` option), so both get the same rules and the same one-line error messages. Errors are
:class:`OptionError`; ``str(error)`` is ready to show to the user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.core.admin_notice import is_disabled_by_delivery
from bot.core.changes import ALERT_KINDS, ChangeKind
from bot.core.reminders.offsets import OffsetError, describe_offsets, parse_offsets
from bot.core.render.sanitize import clean
from bot.core.snapshot import Source
from bot.core.subscriptions import AlertStyle, Subscription

# A subscription filtering on hundreds of ids is a mistake, and would not fit in a listing.
MAX_IDS = 100

# Discord snowflakes are unsigned 64-bit integers.
_SNOWFLAKE_LIMIT = 2**64
# LL2 ids are stored in signed 64-bit columns at most.
_ID_LIMIT = 2**63

_SOURCE_WORDS: dict[str, Source] = {
    "event": Source.EVENT,
    "events": Source.EVENT,
    "launch": Source.LAUNCH,
    "launches": Source.LAUNCH,
}

_KIND_LABELS: dict[ChangeKind, str] = {
    ChangeKind.WEBCAST_LIVE: "webcast live",
    ChangeKind.DATE_CHANGED: "date changes",
    ChangeKind.NEW_UPDATE: "new updates",
    ChangeKind.STATUS_CHANGED: "status changes",
    ChangeKind.NEW_ITEM: "new items",
}

# An ASCII decimal number, signed or not: refused as an id with the rule rather than "not a number".
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)", re.ASCII)
_ID_RULE = "ids are positive whole numbers"

# Shown in errors: long or multi-line user input would break the one-line message.
_SHOW_LIMIT = 40


class OptionError(ValueError):
    """An invalid option; the message is one friendly line naming the culprit."""


@dataclass(frozen=True)
class SubscriptionOptions:
    """Validated options for a new subscription; the store assigns the id."""

    guild_id: int
    channel_id: int
    sources: frozenset[Source]
    event_types: frozenset[int] | None
    providers: frozenset[int] | None
    kinds: frozenset[ChangeKind]
    role_id: int | None = None
    reminders: tuple[int, ...] = ()
    style: AlertStyle = AlertStyle.FEED

    def to_subscription(self, subscription_id: int) -> Subscription:
        """The enabled :class:`Subscription` these options describe."""
        return Subscription(
            id=subscription_id,
            guild_id=self.guild_id,
            channel_id=self.channel_id,
            sources=self.sources,
            event_types=self.event_types,
            providers=self.providers,
            kinds=self.kinds,
            role_id=self.role_id,
            reminders=self.reminders,
            style=self.style,
        )


def parse_style(text: str, what: str) -> AlertStyle:
    """``feed`` or ``card`` (any case) to an :class:`AlertStyle`; errors name the option."""
    word = text.strip().lower()
    try:
        return AlertStyle(word)
    except ValueError:
        raise OptionError(
            f"{what}: unknown style {_show(text)}; choose feed (a message per alert) "
            "or card (one message per item, edited)"
        ) from None


def parse_sources(text: str) -> frozenset[Source]:
    """``"events,launches"``, ``"event"``, ``"launches"`` or ``"all"`` to a set of sources."""
    words = _words(text, "sources")
    if "all" in words:
        return frozenset(Source)
    unknown = [w for w in words if w not in _SOURCE_WORDS]
    if unknown:
        raise OptionError(f"unknown source {_show(unknown[0])}; choose from events, launches, all")
    return frozenset(_SOURCE_WORDS[w] for w in words)


def parse_id_list(
    text: str, what: str, known: Mapping[int, str] | None = None
) -> frozenset[int] | None:
    """``"all"`` to ``None`` (no filter), or ``"2,3"`` to the set of ids.

    ``what`` names the option in errors (``"--types"`` on the terminal, ``"types"`` in Discord).
    With ``known`` (id to name, e.g. the cached event types), ids outside it are refused.
    """
    words = _words(text, what)
    if "all" in words:
        return None
    ids: set[int] = set()
    for word in words:
        if _NUMBER.fullmatch(word) and not word.isdigit():
            # "-1" or "1.5" is a number, just not an id: say what an id looks like instead.
            raise OptionError(f"{what}: {_show(word)} is not a valid id ({_ID_RULE})")
        if not (word.isascii() and word.isdigit()):
            raise OptionError(f"{what}: {_show(word)} is not a number")
        value = int(word)
        if value == 0:
            raise OptionError(f"{what}: 0 is not a valid id ({_ID_RULE})")
        if value >= _ID_LIMIT:
            raise OptionError(f"{what}: {value} is not a valid id (too large)")
        if known is not None and value not in known:
            raise OptionError(f"{what}: unknown id {value}; {_known_hint(known)}")
        ids.add(value)
    if len(ids) > MAX_IDS:
        raise OptionError(f"{what}: {len(ids)} ids is too many (at most {MAX_IDS}); use 'all'")
    return frozenset(ids)


def parse_kinds(text: str) -> frozenset[ChangeKind]:
    """``"all"`` or a comma list of alert kinds (``webcast_live,date_changed``) to a set.

    Case and hyphens are forgiven (``Webcast-Live``). ``webcast_ended`` is bookkeeping, never an
    alert, so it is refused like any unknown word.
    """
    words = [w.replace("-", "_") for w in _words(text, "kinds")]
    if "all" in words:
        return frozenset(ALERT_KINDS)
    by_value = {kind.value: kind for kind in ALERT_KINDS}
    unknown = [w for w in words if w not in by_value]
    if unknown:
        choices = ", ".join(kind.value for kind in ALERT_KINDS)
        raise OptionError(f"unknown kind {_show(unknown[0])}; choose from {choices}")
    return frozenset(by_value[w] for w in words)


def parse_reminders(text: str, what: str) -> tuple[int, ...]:
    """``"24h,1h,10m"`` to minutes, largest first (``"none"`` clears); see
    :func:`bot.core.reminders.parse_offsets`. Errors name the option: ``--reminders: ...``."""
    try:
        return parse_offsets(text)
    except OffsetError as exc:
        raise OptionError(f"{what}: {exc}") from None


def parse_snowflake(text: str, what: str) -> int:
    """A Discord id (guild, channel, role): a positive integer below 2**64."""
    word = text.strip()
    if not (word.isascii() and word.isdigit()):
        raise OptionError(f"{what}: {_show(word)} is not a Discord id (a positive number)")
    value = int(word)
    if value == 0 or value >= _SNOWFLAKE_LIMIT:
        raise OptionError(f"{what}: {value} is not a Discord id (out of range)")
    return value


def parse_subscription_options(
    *,
    guild: str,
    channel: str,
    sources: str = "events,launches",
    types: str = "all",
    providers: str = "all",
    kinds: str = "all",
    role: str | None = None,
    reminders: str | None = None,
    style: str | None = None,
    known_types: Mapping[int, str] | None = None,
    known_providers: Mapping[int, str] | None = None,
    prefix: str = "--",
) -> SubscriptionOptions:
    """Parse every option of ``subscriptions add`` (or the slash command) and check them together.

    ``prefix`` is prepended to option names in errors: ``"--"`` for the CLI, ``""`` for Discord.
    ``reminders`` None (the option not given) means no reminders; ``style`` None means feed.
    A type filter without events (or a provider filter without launches) is refused: it would
    silently do nothing, which is never what the user meant.
    """
    guild_id = parse_snowflake(guild, f"{prefix}guild")
    channel_id = parse_snowflake(channel, f"{prefix}channel")
    parsed_sources = parse_sources(sources)
    event_types = parse_id_list(types, f"{prefix}types", known_types)
    provider_ids = parse_id_list(providers, f"{prefix}providers", known_providers)
    if event_types is not None and Source.EVENT not in parsed_sources:
        raise OptionError(f"{prefix}types filters events, but {prefix}sources leaves them out")
    if provider_ids is not None and Source.LAUNCH not in parsed_sources:
        raise OptionError(
            f"{prefix}providers filters launches, but {prefix}sources leaves them out"
        )
    role_id = None
    if role is not None and role.strip():
        role_id = parse_snowflake(role, f"{prefix}role")
        # Discord's @everyone role shares the guild's id: pinging it is never a subscription's job.
        if role_id == guild_id:
            raise OptionError(f"{prefix}role: that is the @everyone role; pick a real role")
    return SubscriptionOptions(
        guild_id=guild_id,
        channel_id=channel_id,
        sources=parsed_sources,
        event_types=event_types,
        providers=provider_ids,
        kinds=parse_kinds(kinds),
        role_id=role_id,
        reminders=() if reminders is None else parse_reminders(reminders, f"{prefix}reminders"),
        style=AlertStyle.FEED if style is None else parse_style(style, f"{prefix}style"),
    )


def describe_subscription(
    sub: Subscription,
    type_names: Mapping[int, str],
    provider_names: Mapping[int, str] | None = None,
    *,
    markdown: bool = False,
) -> str:
    """One readable line, e.g. ``#4 in <#123>: events (Docking, EVA), launches (all providers);
    alerts: webcast live, date changes; reminders: T-1 h, T-10 min; pings <@&456>; paused:
    launch week`` (no reminders part when it has none; ``style: card`` for live cards).

    Ids missing from the name maps show as ``type 99`` / ``provider 121``. A subscription
    turned off because Discord refused its channel says ``disabled`` rather than ``paused``.
    ``markdown`` (for Discord) makes the stored reason inert: it is text an admin typed or
    Discord sent, and must not restyle the listing or look like a mention.
    """
    scopes = []
    if Source.EVENT in sub.sources:
        scopes.append(f"events ({_names(sub.event_types, type_names, 'type', 'all types')})")
    if Source.LAUNCH in sub.sources:
        names = _names(sub.providers, provider_names or {}, "provider", "all providers")
        scopes.append(f"launches ({names})")
    parts = [f"#{sub.id} in <#{sub.channel_id}>: {', '.join(scopes) or 'nothing'}"]
    if sub.kinds >= frozenset(ALERT_KINDS):
        parts.append("alerts: all")
    else:
        labels = [_KIND_LABELS[kind] for kind in ALERT_KINDS if kind in sub.kinds]
        parts.append(f"alerts: {', '.join(labels) or 'none'}")
    if sub.reminders:
        parts.append(f"reminders: {describe_offsets(sub.reminders)}")
    if sub.style is not AlertStyle.FEED:  # feed is the default and goes unsaid
        parts.append(f"style: {sub.style.value}")
    if sub.role_id is not None:
        parts.append(f"pings <@&{sub.role_id}>")
    if not sub.enabled:
        state = "disabled" if is_disabled_by_delivery(sub) else "paused"
        reason = clean(sub.disabled_reason) if markdown else sub.disabled_reason
        parts.append(f"{state}: {reason}" if reason else state)
    return "; ".join(parts)


def _words(text: str, what: str) -> list[str]:
    # Commas or spaces separate; stray separators ("2,3,") are forgiven.
    words = [w for w in re.split(r"[,\s]+", text.strip().lower()) if w]
    if not words:
        raise OptionError(f"{what}: empty; give 'all' or a comma-separated list")
    return words


def _names(ids: frozenset[int] | None, names: Mapping[int, str], noun: str, every: str) -> str:
    if ids is None:
        return every
    return ", ".join(names.get(i) or f"{noun} {i}" for i in sorted(ids))


def _known_hint(known: Mapping[int, str]) -> str:
    # Dozens of event types exist; a handful of examples fits on one line.
    shown = [f"{i} {name}" for i, name in sorted(known.items())[:8]]
    more = f" and {len(known) - len(shown)} more" if len(known) > len(shown) else ""
    return f"known: {', '.join(shown)}{more}" if shown else "none are known yet"


def _show(word: str) -> str:
    # Quote user input, one line and short, so the error stays readable.
    flat = " ".join(word.split())
    if len(flat) > _SHOW_LIMIT:
        flat = flat[: _SHOW_LIMIT - 1] + "…"
    return f"'{flat}'"
