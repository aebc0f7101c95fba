"""``/next`` and ``/event``: answered from the local snapshot, never from LL2.

These are top-level commands, open to everyone (``/spacecast`` is for server managers).
They answer publicly without deferring: each is one indexed read, bounded by
:data:`QUICK_READ_SECONDS` so Discord's 3 s deadline holds even when the database is slow.
Deferring publicly would have made "nothing found" answers public too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Literal, TypeVar

import discord
from discord import app_commands

from bot.core.render import buttons_for, render_item, render_upcoming
from bot.core.snapshot import Snapshot, Source
from bot.discord_ui import autocomplete as ac
from bot.discord_ui.cogs.base import CogBase
from bot.discord_ui.convert import to_discord_embed, to_link_view
from bot.discord_ui.errors import UserError, answering, reply

if TYPE_CHECKING:
    from bot.discord_ui.client import SpacecastBot

    Interaction = discord.Interaction[SpacecastBot]

T = TypeVar("T")

# Leaves time to send the answer within Discord's 3 s.
QUICK_READ_SECONDS = 2.0
REF = re.compile(r"^(event|launch):(\S{1,90})$")
EventTypeId = app_commands.Range[int, 1, 2**53 - 1]
Count = app_commands.Range[int, 1, 10]
Query = app_commands.Range[str, 1, 100]
NOTHING_UPCOMING = (
    "🔭 Nothing upcoming in my local copy yet. I fill it as I poll Launch Library 2, "
    "so check back in a few minutes."
)


async def quick(read: Awaitable[T]) -> T:
    """``read``, or a friendly error if the store is too slow to answer in time."""
    try:
        async with asyncio.timeout(QUICK_READ_SECONDS):
            return await read
    except TimeoutError:
        raise UserError("My database is busy right now; please try again in a moment.") from None


def next_title(kind: str, type_name: str | None) -> str:
    """``Next launches``, ``Next Docking events``, ``Next launches and events``."""
    if type_name:
        return f"Next {type_name} events"
    return {"events": "Next events", "launches": "Next launches"}.get(
        kind, "Next launches and events"
    )


class InfoCog(CogBase, name="Info"):
    """Read-only commands about upcoming spaceflight events and launches."""

    async def _complete_type(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        return ac.id_choices(current, await self.store.list_event_types())

    async def _complete_item(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        items = await self.store.search_snapshots(current, ac.MAX_CHOICES)
        return ac.item_choices(items)

    @app_commands.command(name="next", description="Show the next launches and events")
    @app_commands.describe(
        kind="Events, launches or both (default: both)",
        type="Only events of this type, e.g. Docking",
        count="How many to show, 1-10 (default: 5)",
    )
    @app_commands.autocomplete(type=_complete_type)
    async def next_(
        self,
        interaction: Interaction,
        kind: Literal["all", "events", "launches"] = "all",
        type: EventTypeId | None = None,
        count: Count = 5,
    ) -> None:
        """The soonest upcoming items from the local snapshot, with local-time timestamps."""
        async with answering(interaction):
            if type is not None and kind == "launches":
                raise UserError("`type` filters events; choose kind `events` or `all`.")
            type_name = None
            if type is not None:
                known = dict(await quick(self.store.list_event_types()))
                if known and type not in known:
                    raise UserError(f"I don't know event type {type}; pick one from the list.")
                type_name = known.get(type) or f"type {type}"
            source = {"events": Source.EVENT, "launches": Source.LAUNCH}.get(kind)
            if type is not None:
                source = Source.EVENT
            now = self.now()
            listed = await quick(self.store.last_full_reads())  # leave out withdrawn items
            items = await quick(
                self.store.upcoming(now, count, source=source, type_id=type, listed_since=listed)
            )
            if not items:
                await reply(interaction, NOTHING_UPCOMING, ephemeral=True)
                return
            links = {}
            if interaction.guild_id is not None:
                links = await quick(self.store.event_links(interaction.guild_id, now))
            embed = render_upcoming(items, now, next_title(kind, type_name), links)
            await reply(interaction, embed=to_discord_embed(embed), ephemeral=False)

    @app_commands.command(name="event", description="Show one event or launch in detail")
    @app_commands.describe(query="Name of the event or launch; pick from the suggestions")
    @app_commands.autocomplete(query=_complete_item)
    async def event(self, interaction: Interaction, query: Query) -> None:
        """The card of one item: a suggestion's reference, else the best name match."""
        async with answering(interaction):
            item = await quick(self._find(query))
            if item is None:
                shown = ac.clip(query, 60)
                raise UserError(f"Nothing in my local copy matches “{shown}”. Try the suggestions.")
            now = self.now()
            await reply(
                interaction,
                embed=to_discord_embed(render_item(item, now)),
                view=to_link_view(buttons_for(item)),
                ephemeral=False,
            )

    async def _find(self, query: str) -> Snapshot | None:
        match = REF.match(query.strip())
        if match is not None:
            found = await self.store.get_snapshot(Source(match[1]), match[2])
            if found is not None:
                return found
        hits = await self.store.search_snapshots(query, 1)
        return hits[0] if hits else None
