"""The neutral message model of :mod:`bot.core.render.message` as discord.py objects.

``bot.core`` renders :class:`~bot.core.render.EmbedData` (already within Discord's limits)
and :class:`~bot.core.render.MessageData`; this module is the only place they become
``discord`` types, for slash command replies and for the delivery worker alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord

from bot.core.render import EmbedData, LinkButton, MessageData


def to_discord_embed(embed: EmbedData) -> discord.Embed:
    """A ``discord.Embed`` carrying exactly the JSON of ``embed``."""
    return discord.Embed.from_dict(embed.to_dict())


def to_link_view(buttons: Sequence[LinkButton]) -> discord.ui.View | None:
    """A view of link buttons (five a row), or None when there are none.

    Link buttons need no callback, so the view never times out and is never stored by the
    client; it must be built inside a running event loop (discord.py's rule for views).
    """
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(
            discord.ui.Button(style=discord.ButtonStyle.link, label=button.label, url=button.url)
        )
    return view


def to_view(message: MessageData) -> discord.ui.View | None:
    """The message's link buttons as a view, or None."""
    return to_link_view(message.buttons)


def send_kwargs(message: MessageData) -> dict[str, Any]:
    """Keyword arguments for ``Messageable.send`` (content, embeds, view); add mentions yourself."""
    kwargs: dict[str, Any] = {"embeds": [to_discord_embed(e) for e in message.embeds]}
    if message.content is not None:
        kwargs["content"] = message.content
    view = to_view(message)
    if view is not None:
        kwargs["view"] = view
    return kwargs
