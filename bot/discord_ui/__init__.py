"""The Discord adapter: the bot class, slash commands, and conversion of rendered messages."""

from bot.discord_ui.client import (
    BotServices,
    NoServices,
    SpacecastBot,
    apply_endpoints,
    sync_tree,
)
from bot.discord_ui.convert import send_kwargs, to_discord_embed, to_view

__all__ = [
    "BotServices",
    "NoServices",
    "SpacecastBot",
    "apply_endpoints",
    "send_kwargs",
    "sync_tree",
    "to_discord_embed",
    "to_view",
]
