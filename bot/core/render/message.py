"""A neutral, frozen model of a Discord message: embeds, link buttons and content.

``bot/core`` never imports ``discord``; the Discord adapter turns these into discord.py objects
with ``discord.Embed.from_dict(embed.to_dict())`` and ``discord.ui.Button(url=..., label=...)``.
``to_dict`` produces Discord's embed JSON, so the same data also serves logs and tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from bot.core.render.limits import BUTTON_LABEL_MAX, BUTTON_URL_MAX, BUTTONS_PER_ROW
from bot.core.render.sanitize import safe_url


class EmbedField(NamedTuple):
    """One embed field: ``(name, value, inline)``."""

    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True, slots=True)
class EmbedData:
    """One embed, shaped like Discord's embed object. ``timestamp`` must be timezone-aware."""

    title: str | None = None
    description: str | None = None
    url: str | None = None
    colour: int | None = None
    fields: Sequence[EmbedField] = ()
    footer: str | None = None
    thumbnail_url: str | None = None
    author_name: str | None = None
    timestamp: datetime | None = None

    def __post_init__(self) -> None:
        # Store a tuple whatever sequence was passed, so the embed is truly immutable.
        object.__setattr__(self, "fields", tuple(EmbedField(*f) for f in self.fields))
        if self.timestamp is not None and self.timestamp.utcoffset() is None:
            raise ValueError("EmbedData.timestamp must be timezone-aware")
        if self.colour is not None and not 0 <= self.colour <= 0xFFFFFF:
            raise ValueError("EmbedData.colour must be a 24-bit RGB integer")

    def to_dict(self) -> dict[str, Any]:
        """Discord's embed JSON; parts that are None or empty are left out."""
        data: dict[str, Any] = {"type": "rich"}
        if self.title:
            data["title"] = self.title
        if self.description:
            data["description"] = self.description
        if self.url:
            data["url"] = self.url
        if self.colour is not None:
            data["color"] = self.colour
        if self.fields:
            data["fields"] = [
                {"name": f.name, "value": f.value, "inline": f.inline} for f in self.fields
            ]
        if self.footer:
            data["footer"] = {"text": self.footer}
        if self.thumbnail_url:
            data["thumbnail"] = {"url": self.thumbnail_url}
        if self.author_name:
            data["author"] = {"name": self.author_name}
        if self.timestamp is not None:
            data["timestamp"] = self.timestamp.astimezone(UTC).isoformat()
        return data


@dataclass(frozen=True, slots=True)
class LinkButton:
    """A link-style button. Discord allows only http(s) URLs (at most 512 characters) here."""

    label: str
    url: str

    def __post_init__(self) -> None:
        if not 1 <= len(self.label) <= BUTTON_LABEL_MAX:
            raise ValueError(f"button label must be 1-{BUTTON_LABEL_MAX} characters")
        if safe_url(self.url, BUTTON_URL_MAX) != self.url:
            raise ValueError("button URL must be a plain http(s) URL of at most 512 characters")

    def to_dict(self) -> dict[str, Any]:
        """Discord's component JSON for a link button (type 2, style 5)."""
        return {"type": 2, "style": 5, "label": self.label, "url": self.url}


@dataclass(frozen=True, slots=True)
class MessageData:
    """What to send: optional content, embeds and link buttons."""

    content: str | None = None
    embeds: Sequence[EmbedData] = ()
    buttons: Sequence[LinkButton] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "embeds", tuple(self.embeds))
        object.__setattr__(self, "buttons", tuple(self.buttons))

    def components(self) -> list[dict[str, Any]]:
        """The buttons as Discord action rows (five link buttons a row)."""
        rows = [
            self.buttons[i : i + BUTTONS_PER_ROW]
            for i in range(0, len(self.buttons), BUTTONS_PER_ROW)
        ]
        return [{"type": 1, "components": [b.to_dict() for b in row]} for row in rows]

    def to_dict(self) -> dict[str, Any]:
        """The message body as Discord's API takes it (without ``allowed_mentions``)."""
        data: dict[str, Any] = {"embeds": [e.to_dict() for e in self.embeds]}
        if self.content is not None:
            data["content"] = self.content
        if self.buttons:
            data["components"] = self.components()
        return data
