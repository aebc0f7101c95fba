"""The T-minus reminder message: "⏰ T-10 min: <name>", when, status and watch buttons.

Pure like the rest of rendering. It takes the offset in minutes rather than a planner value,
so rendering stays below the reminder planner (which itself reads :mod:`.when`) and no import
cycle can form; the label is spelled as :func:`bot.core.reminders.offset_label` spells it (a
test holds the two together).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.render.compose import buttons_for
from bot.core.render.embeds import (
    author_text,
    detail_fields,
    footer_text,
    item_name,
    item_page,
    status_text,
)
from bot.core.render.fit import enforce_limits, truncate
from bot.core.render.limits import CONTENT_MAX
from bot.core.render.message import EmbedData, EmbedField, MessageData
from bot.core.render.sanitize import safe_url
from bot.core.render.when import Grain, classify, discord_time
from bot.core.snapshot import Snapshot, Source

REMINDER_COLOUR = 0x00ACC1
SUMMARY_NAME_MAX = 150


def countdown_label(minutes: int) -> str:
    """``T-10 min``, ``T-1 h``, ``T-1 h 30 min``, ``T-24 h``, ``T-2 d``."""
    return f"T-{_amount(minutes, (' d', ' d'), (' h', ' h'), (' min', ' min'), ' ')}"


def countdown_words(minutes: int) -> str:
    """``10 minutes``, ``1 hour``, ``1 hour 30 minutes``, ``24 hours``, ``2 days``."""
    return _amount(minutes, (" day", " days"), (" hour", " hours"), (" minute", " minutes"), " ")


def render_reminder(
    item: Snapshot, offset_minutes: int, role_ids: Sequence[int] = ()
) -> MessageData:
    """One reminder message: the roles and a summary as content, an embed, Watch/Details buttons.

    The embed gives the date as live ``<t:…:F>`` and ``<t:…:R>`` markup (the planner only sends
    reminders for clock-precise dates), the launch status, and the item's details.
    """
    if item.date is None:
        raise ValueError("a reminder needs a dated item")
    if any(r <= 0 for r in role_ids):
        raise ValueError("role ids must be positive Discord ids")
    label = countdown_label(offset_minutes)
    name = item_name(item.name)
    starts = "Starts" if item.source is Source.EVENT else "Launches"
    description = (
        f"{starts} **in {countdown_words(offset_minutes)}**: "
        f"{discord_time(item.date, 'F')} ({discord_time(item.date, 'R')})"
    )
    if classify(item.precision_id, item.precision_name).grain is Grain.HOUR:
        description += " · to the hour"  # the planner allows hour precision from T-2 h
    fields = detail_fields(item, status=False, when=False)
    if item.source is Source.LAUNCH and (item.status_name or item.status_id is not None):
        fields.insert(0, EmbedField("Status", status_text(item.status_name, item.status_id), True))
    embed = enforce_limits(
        EmbedData(
            title=f"⏰ {label}: {name}",
            description=description,
            url=item_page(item),
            colour=REMINDER_COLOUR,
            fields=fields,
            footer=footer_text(item),
            thumbnail_url=safe_url(item.display.thumbnail_url),
            author_name=author_text(item),
        )
    )
    mentions = "".join(f"<@&{r}> " for r in sorted(set(role_ids)))
    summary = f"⏰ {label}: **{item_name(item.name, SUMMARY_NAME_MAX)}**"
    return MessageData(
        content=truncate(mentions + summary, CONTENT_MAX), embeds=[embed], buttons=buttons_for(item)
    )


def _amount(
    minutes: int,
    day: tuple[str, str],
    hour: tuple[str, str],
    minute: tuple[str, str],
    gap: str,
) -> str:
    # Whole days from two days up (a day ahead reads better as 24 hours), else hours and minutes.
    def unit(amount: int, names: tuple[str, str]) -> str:
        return f"{amount}{names[0] if amount == 1 else names[1]}"

    if minutes >= 2 * 1440 and minutes % 1440 == 0:
        return unit(minutes // 1440, day)
    hours, mins = divmod(minutes, 60)
    parts = [unit(hours, hour)] if hours else []
    if mins or not hours:
        parts.append(unit(mins, minute))
    return gap.join(parts)
