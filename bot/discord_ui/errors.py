"""Answering interactions: one reply helper, user errors, and the tree's last-resort handler.

User mistakes (a missing permission, an unknown id) are *answers*, not failures: commands raise
:class:`UserError` inside :func:`answering`, which turns it into a specific ephemeral reply and
never reaches ``tree.on_error``. Everything else is a bug or an outage: :func:`report_failure`
logs it with its traceback and tells the user only that something went wrong.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import discord
from discord import app_commands

from bot.core.subscription_options import OptionError

log = logging.getLogger("bot.discord")

# Nothing a command answers may ping anyone: subscription lines quote role mentions as text.
NO_MENTIONS = discord.AllowedMentions.none()

GENERIC_FAILURE = "Something went wrong on my side. It has been logged; please try again later."
ERROR_PREFIX = "❌ "


class UserError(Exception):
    """A problem the user can fix; ``str(error)`` is the friendly, specific reply."""


async def reply(
    interaction: discord.Interaction[Any],
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    view: discord.ui.View | None = None,
    ephemeral: bool = True,
) -> None:
    """Answer ``interaction``: the initial response if still open, else a followup.

    After a deferral Discord makes the first followup replace the "thinking" message, whose
    ephemerality was fixed by the deferral.
    """
    kwargs: dict[str, Any] = {"ephemeral": ephemeral, "allowed_mentions": NO_MENTIONS}
    if content is not None:
        kwargs["content"] = content
    if embed is not None:
        kwargs["embed"] = embed
    if view is not None:
        kwargs["view"] = view
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


async def defer(interaction: discord.Interaction[Any], *, ephemeral: bool = True) -> None:
    """Acknowledge now (Discord's 3 s deadline) and answer later with :func:`reply`."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)


@asynccontextmanager
async def answering(interaction: discord.Interaction[Any]) -> AsyncIterator[None]:
    """Run a command body; a :class:`UserError` or ``OptionError`` becomes an ephemeral reply."""
    try:
        yield
    except (UserError, OptionError) as exc:
        await reply(interaction, ERROR_PREFIX + str(exc), ephemeral=True)


def _describe_library_error(error: app_commands.AppCommandError) -> str | None:
    """A user-facing line for discord.py's own user-level errors, or None for real failures."""
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works in a server."
    if isinstance(error, app_commands.TransformerError):
        return f"I couldn't understand {str(error.value)[:50]!r} there; please pick from the list."
    if isinstance(error, app_commands.MissingPermissions):
        return "You need the **Manage Server** permission for this."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    return None


async def report_failure(
    interaction: discord.Interaction[Any], error: app_commands.AppCommandError
) -> None:
    """The command tree's ``on_error``: a short answer for the user, the traceback for the log."""
    friendly = _describe_library_error(error)
    command = interaction.command.qualified_name if interaction.command else "?"
    if friendly is None:
        log.error("command /%s failed", command, exc_info=(type(error), error, error.__traceback__))
        friendly = GENERIC_FAILURE
    else:
        log.info("command /%s refused: %s", command, error)
    if interaction.type is discord.InteractionType.autocomplete:
        return  # autocomplete cannot show messages; Discord shows "loading options failed"
    try:
        await reply(interaction, ERROR_PREFIX + friendly, ephemeral=True)
    except discord.HTTPException:
        # The interaction may have expired or already been answered; the log has the cause.
        log.warning("could not tell the user that /%s failed", command)
