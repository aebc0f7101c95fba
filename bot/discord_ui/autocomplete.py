"""Autocomplete choices, built to Discord's rules: at most 25, names and values 1-100 characters.

discord.py sends whatever list a callback returns, and Discord rejects the whole answer when one
rule is broken (the user then sees "loading options failed"), so every builder here clips.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC

from discord import app_commands

from bot.core.admin_notice import is_disabled_by_delivery
from bot.core.snapshot import Snapshot, Source
from bot.core.subscriptions import Subscription

MAX_CHOICES = 25
CHOICE_TEXT_MAX = 100
ALL = "all"


def clip(text: str, limit: int = CHOICE_TEXT_MAX) -> str:
    """``text`` on one line, at most ``limit`` characters, never empty."""
    flat = " ".join(text.split()) or "?"
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _clip_left(text: str, limit: int = CHOICE_TEXT_MAX) -> str:
    # For growing lists the newest entry is at the end: keep it visible.
    flat = " ".join(text.split()) or "?"
    return flat if len(flat) <= limit else "…" + flat[-(limit - 1) :]


def list_choices(
    current: str,
    options: Sequence[tuple[str, str]],
    *,
    every_label: str,
) -> list[app_commands.Choice[str]]:
    """Choices for a comma-separated option such as ``types`` (``2,3``) or ``kinds``.

    ``options`` are ``(value, label)`` pairs. What is typed before the last comma is kept (as
    values or labels); the last part filters the options by label or value prefix. Each choice's
    value is the whole list so far plus one option, and its name lists the labels.
    """
    parts = [part.strip() for part in current.split(",")]
    head, last = parts[:-1], parts[-1].lower()
    lookup = {value.lower(): (value, label) for value, label in options}
    lookup.update({label.lower(): (value, label) for value, label in options})
    chosen: list[tuple[str, str]] = []
    for part in head:
        hit = lookup.get(part.lower())
        if hit is not None and hit not in chosen:
            chosen.append(hit)
    choices: list[app_commands.Choice[str]] = []
    if not chosen and ALL.startswith(last):
        choices.append(app_commands.Choice(name=clip(every_label), value=ALL))
    matches = [
        option
        for option in options
        if option not in chosen
        and (last in option[1].lower() or option[0].lower().startswith(last))
    ]
    matches.sort(key=lambda option: (not option[1].lower().startswith(last), option[1].lower()))
    for option in matches:
        if len(choices) >= MAX_CHOICES:
            break
        picked = [*chosen, option]
        value = ",".join(v for v, _ in picked)
        if len(value) > CHOICE_TEXT_MAX:
            continue
        name = _clip_left(", ".join(label for _, label in picked))
        choices.append(app_commands.Choice(name=name, value=value))
    return choices


def type_options(event_types: Iterable[tuple[int, str]]) -> list[tuple[str, str]]:
    """``(value, label)`` pairs for event types, labelled ``Docking (2)``."""
    return [(str(i), f"{name or 'type'} ({i})") for i, name in event_types]


def id_choices(current: str, known: Iterable[tuple[int, str]]) -> list[app_commands.Choice[int]]:
    """Choices for a single id option (an event type): by name substring or id prefix."""
    text = current.strip().lower()
    matches = [(i, name) for i, name in known if text in name.lower() or str(i).startswith(text)]
    matches.sort(key=lambda m: (not m[1].lower().startswith(text), m[1].lower(), m[0]))
    return [
        app_commands.Choice(name=clip(f"{name or 'type'} ({i})"), value=i)
        for i, name in matches[:MAX_CHOICES]
    ]


def item_label(item: Snapshot) -> str:
    """``Name · 2026-01-03 12:00 UTC · launch`` for a choice list (plain text: no markup)."""
    when = item.date.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if item.date else "date TBD"
    kind = "event" if item.source is Source.EVENT else "launch"
    suffix = f" · {when} · {kind}"
    return clip(item.name, CHOICE_TEXT_MAX - len(suffix)) + suffix


def item_choices(items: Iterable[Snapshot]) -> list[app_commands.Choice[str]]:
    """Choices whose values are item references such as ``event:1201``."""
    choices: list[app_commands.Choice[str]] = []
    for item in items:
        if len(item.ref) > CHOICE_TEXT_MAX:
            continue  # LL2 ids are ints and UUIDs; a longer one cannot be a choice value
        choices.append(app_commands.Choice(name=item_label(item), value=item.ref))
        if len(choices) == MAX_CHOICES:
            break
    return choices


def subscription_label(sub: Subscription, channel_name: str | None) -> str:
    """``#4 · #launches · events, launches · paused`` (or ``disabled``: Discord refused it)."""
    scope = " and ".join(
        word
        for source, word in ((Source.EVENT, "events"), (Source.LAUNCH, "launches"))
        if source in sub.sources
    )
    where = f"#{channel_name}" if channel_name else f"channel {sub.channel_id}"
    paused = "" if sub.enabled else " · disabled" if is_disabled_by_delivery(sub) else " · paused"
    return clip(f"#{sub.id} · {where} · {scope or 'nothing'}{paused}")


def subscription_choices(
    current: str, labelled: Iterable[tuple[Subscription, str]]
) -> list[app_commands.Choice[int]]:
    """Choices of subscription ids; typing filters by id or by anything in the label."""
    text = current.strip().lower().lstrip("#")
    choices = [
        app_commands.Choice(name=label, value=sub.id)
        for sub, label in labelled
        if not text or str(sub.id).startswith(text) or text in label.lower()
    ]
    return choices[:MAX_CHOICES]
