"""Measuring and fitting messages to Discord's limits, with graceful truncation.

discord.py checks none of the limits and Discord rejects the whole message (HTTP 400, code
50035) when one is exceeded, so every rendered embed passes through :func:`enforce_limits`.

Lengths are counted in Python characters (code points), as discord.py's ``len(embed)`` does.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Iterable, Sequence

from bot.core.render.limits import (
    AUTHOR_NAME_MAX,
    BLANK,
    BUTTONS_MAX,
    CONTENT_MAX,
    DESCRIPTION_MAX,
    ELLIPSIS,
    EMBED_TOTAL_MAX,
    EMBEDS_PER_MESSAGE,
    FIELD_NAME_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    FOOTER_MAX,
    TITLE_MAX,
)
from bot.core.render.message import EmbedData, EmbedField, MessageData

# Characters a cut must not end on: they modify the character after them or belong to the one
# before, so a cut there leaves a broken glyph (half an emoji sequence) or escapes the ellipsis.
_DANGLING = {"\u200d", "\ufe0e", "\ufe0f", "\\"}


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with "…" when anything was cut.

    Prefers a word boundary when one lies in the last third of the kept text, so names and
    sentences end on a whole word without throwing away much.
    """
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    if limit == 1:
        return ELLIPSIS
    cut = text[: limit - 1]
    boundary = max(cut.rfind(" "), cut.rfind("\n"))
    if boundary > (limit - 1) * 2 // 3:
        cut = cut[:boundary]
    cut = cut.rstrip()
    while cut and (cut[-1] in _DANGLING or unicodedata.combining(cut[-1])):
        cut = cut[:-1]
    return cut + ELLIPSIS


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    clipped = truncate(text, limit)
    return clipped or None


def embed_size(embed: EmbedData) -> int:
    """Characters of ``embed`` that count towards the 6000 limit, the way Discord counts them.

    Title, description, field names and values, footer text and author name; URLs, the colour
    and the timestamp do not count.
    """
    total = len(embed.title or "") + len(embed.description or "")
    total += sum(len(f.name) + len(f.value) for f in embed.fields)
    total += len(embed.footer or "") + len(embed.author_name or "")
    return total


def message_size(embeds: Iterable[EmbedData]) -> int:
    """Total counted characters across the embeds of one message."""
    return sum(embed_size(e) for e in embeds)


def fits_message(embeds: Sequence[EmbedData]) -> bool:
    """Whether these embeds may be sent together in one message."""
    return len(embeds) <= EMBEDS_PER_MESSAGE and message_size(embeds) <= EMBED_TOTAL_MAX


def _clip_field(field: EmbedField) -> EmbedField:
    name = truncate(field.name.strip(), FIELD_NAME_MAX) or BLANK
    value = truncate(field.value.strip(), FIELD_VALUE_MAX) or BLANK
    return field._replace(name=name, value=value)


def _clip_parts(embed: EmbedData) -> EmbedData:
    fields = [_clip_field(f) for f in embed.fields]
    if len(fields) > FIELDS_MAX:
        hidden = len(fields) - (FIELDS_MAX - 1)
        fields = [
            *fields[: FIELDS_MAX - 1],
            fields[0]._replace(name=ELLIPSIS, value=f"{hidden} more not shown", inline=False),
        ]
    return dataclasses.replace(
        embed,
        title=_clip(embed.title, TITLE_MAX),
        description=_clip(embed.description, DESCRIPTION_MAX),
        fields=tuple(fields),
        footer=_clip(embed.footer, FOOTER_MAX),
        author_name=_clip(embed.author_name, AUTHOR_NAME_MAX),
    )


def enforce_limits(embed: EmbedData, max_total: int = EMBED_TOTAL_MAX) -> EmbedData:
    """Return ``embed`` cut to fit every per-part limit and a total of ``max_total`` characters.

    Parts are shortened in order of least harm when the total is too big: long field values
    first, then trailing fields, then the description, then the footer, author and title.
    The result always fits a message on its own.
    """
    result = _clip_parts(embed)
    over = embed_size(result) - max_total
    if over <= 0:
        return result

    if any(len(f.value) > 256 for f in result.fields):
        result = dataclasses.replace(
            result, fields=tuple(f._replace(value=truncate(f.value, 256)) for f in result.fields)
        )
        over = embed_size(result) - max_total
    fields = list(result.fields)
    while over > 0 and fields:
        dropped = fields.pop()
        over -= len(dropped.name) + len(dropped.value)
    result = dataclasses.replace(result, fields=tuple(fields))

    description, over = _shrink(result.description, over)
    footer, over = _shrink(result.footer, over)
    author_name, over = _shrink(result.author_name, over)
    title, over = _shrink(result.title, over)
    return dataclasses.replace(
        result, description=description, footer=footer, author_name=author_name, title=title
    )


def _shrink(text: str | None, over: int) -> tuple[str | None, int]:
    """Cut ``text`` by up to ``over`` characters; return it and the overflow still left."""
    if over <= 0 or not text:
        return text, over
    shorter = _clip(text, max(0, len(text) - over))
    return shorter, over - (len(text) - len(shorter or ""))


def message_problems(message: MessageData) -> list[str]:
    """Every Discord limit ``message`` breaks (empty when it can be sent), for checks and tests."""
    problems: list[str] = []
    if message.content is not None and len(message.content) > CONTENT_MAX:
        problems.append(f"content longer than {CONTENT_MAX}")
    if len(message.embeds) > EMBEDS_PER_MESSAGE:
        problems.append(f"more than {EMBEDS_PER_MESSAGE} embeds")
    if message_size(message.embeds) > EMBED_TOTAL_MAX:
        problems.append(f"embeds total more than {EMBED_TOTAL_MAX}")
    if len(message.buttons) > BUTTONS_MAX:
        problems.append(f"more than {BUTTONS_MAX} buttons")
    for index, embed in enumerate(message.embeds):
        problems.extend(f"embed {index}: {p}" for p in embed_problems(embed))
    if not (message.content or message.embeds):
        problems.append("empty message")
    return problems


def embed_problems(embed: EmbedData) -> list[str]:
    """Every per-embed limit ``embed`` breaks."""
    checks: list[tuple[str, str | None, int]] = [
        ("title", embed.title, TITLE_MAX),
        ("description", embed.description, DESCRIPTION_MAX),
        ("footer", embed.footer, FOOTER_MAX),
        ("author", embed.author_name, AUTHOR_NAME_MAX),
    ]
    for index, field in enumerate(embed.fields):
        checks.append((f"field {index} name", field.name, FIELD_NAME_MAX))
        checks.append((f"field {index} value", field.value, FIELD_VALUE_MAX))
    problems = [
        f"{part} longer than {limit}"
        for part, text, limit in checks
        if text is not None and len(text) > limit
    ]
    problems.extend(
        f"field {index} has an empty name or value"
        for index, f in enumerate(embed.fields)
        if not f.name.strip() or not f.value.strip()
    )
    if len(embed.fields) > FIELDS_MAX:
        problems.append(f"more than {FIELDS_MAX} fields")
    if embed_size(embed) > EMBED_TOTAL_MAX:
        problems.append(f"total more than {EMBED_TOTAL_MAX}")
    return problems
