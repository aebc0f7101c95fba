"""Rendering: changes and snapshots into Discord messages and console text, within Discord's limits.

The rest of the program imports rendering from here. The modules behind this face, from the
bottom up (each imports only the ones above it in this list):

- :mod:`~bot.core.render.limits`: Discord's numeric limits (imports nothing);
- :mod:`~bot.core.render.sanitize`: making LL2 text inert (no pings, no stray markdown, safe URLs);
- :mod:`~bot.core.render.message`: the neutral message types (messages, embeds, buttons);
- :mod:`~bot.core.render.fit`: measuring messages and cutting them to fit the limits;
- :mod:`~bot.core.render.when`: dates in words or as Discord timestamps, by precision;
- :mod:`~bot.core.render.embeds`: one change or item as an embed;
- :mod:`~bot.core.render.text`: one change as a terminal line or a JSON object (``watch``);
- :mod:`~bot.core.render.compose`: whole alert messages (grouping, role mention, buttons);
- :mod:`~bot.core.render.reminder`: the T-minus reminder message.
"""

from bot.core.render.compose import (
    buttons_for,
    render_item,
    render_message,
    render_upcoming,
    sample_change,
)
from bot.core.render.fit import message_problems, truncate
from bot.core.render.limits import CONTENT_MAX
from bot.core.render.message import EmbedData, EmbedField, LinkButton, MessageData
from bot.core.render.reminder import render_reminder
from bot.core.render.text import change_to_json, change_to_text

__all__ = [
    "CONTENT_MAX",
    "EmbedData",
    "EmbedField",
    "LinkButton",
    "MessageData",
    "buttons_for",
    "change_to_json",
    "change_to_text",
    "message_problems",
    "render_item",
    "render_message",
    "render_reminder",
    "render_upcoming",
    "sample_change",
    "truncate",
]
