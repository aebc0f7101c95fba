"""Render the README's pictures from the real renderer's output (issue 16).

Each picture is what members see in a channel: the messages ``bot.core.render`` and
``bot.core.cards`` produce for recorded LL2 data (event 1201 and the synthetic launch fixture),
laid out as Discord shows them (dark theme, embed with its colour bar, fields, link buttons,
replies) in an HTML page, and screenshotted with headless Chromium (Debian's ``chromium``)::

    apt-get install -y chromium
    .venv/bin/python docs/render_pictures.py            # writes docs/pictures/*.png
    .venv/bin/python docs/render_pictures.py --html-only  # the HTML pages, no Chromium

Nothing here is hand-drawn: only Discord's own presentation (timestamps shown in UTC for a
fixed "now", role mentions as pills, markdown) is imitated. Thumbnails are a grey box: the
script makes no network requests.
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.cards import CardState, plan_card, render_card, render_pointer  # noqa: E402
from bot.core.changes import Change, ChangeKind  # noqa: E402
from bot.core.models import Event, Launch  # noqa: E402
from bot.core.render import MessageData, render_message, render_reminder  # noqa: E402
from bot.core.schedule import EventFields, fields_for  # noqa: E402
from bot.core.snapshot import (  # noqa: E402
    Snapshot,
    UpdateRef,
    snapshot_from_event,
    snapshot_from_launch,
)

OUT = ROOT / "docs" / "pictures"
FIXTURES = ROOT / "tests" / "fixtures"
NOW = datetime(2025, 7, 2, 3, 0, tzinfo=UTC)  # when the story starts
# The moment a picture shows (its messages' time and what <t:…:R> counts from).
VIEW = [NOW]
ROLE = 920_000_000_000_000_001
ROLE_NAME = "Launch pings"
CHANNEL = 820_000_000_000_000_001
GUILD = 700_000_000_000_000_001
WIDTH = 760

CSS = """
body { margin: 0; background: #313338; font-family: 'Noto Sans', 'DejaVu Sans', sans-serif;
       color: #dbdee1; font-size: 15px; line-height: 1.375; }
.msg { display: flex; padding: 8px 16px 8px 16px; }
.avatar { width: 40px; height: 40px; border-radius: 50%; background: #5865f2; flex: none;
          margin-right: 16px; color: white; font-weight: 700; text-align: center;
          line-height: 40px; }
.body { min-width: 0; flex: 1; }
.head .name { color: #f2f3f5; font-weight: 600; }
.head .bot { background: #5865f2; color: white; font-size: 10px; padding: 1px 4px;
             border-radius: 3px; margin-left: 4px; vertical-align: 2px; }
.head .time { color: #949ba4; font-size: 12px; margin-left: 6px; }
.head .edited, .edited { color: #949ba4; font-size: 10px; }
.reply { color: #b5bac1; font-size: 13px; margin: 0 0 2px 56px; padding: 6px 16px 0 16px; }
.reply:before { content: '╭ '; color: #4e5058; }
.embed { display: flex; max-width: 520px; background: #2b2d31; border-radius: 4px;
         margin-top: 4px; overflow: hidden; }
.bar { width: 4px; flex: none; }
.inner { padding: 8px 16px 16px 12px; min-width: 0; flex: 1; display: grid;
         grid-template-columns: 1fr auto; }
.main { min-width: 0; }
.author { font-size: 13px; font-weight: 600; color: #f2f3f5; margin-top: 8px; }
.title { font-weight: 600; margin-top: 8px; color: #00a8fc; }
.title.plain { color: #f2f3f5; }
.desc { margin-top: 8px; font-size: 14px; white-space: normal; }
.fields { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px; margin-top: 8px; }
.field { grid-column: 1 / -1; font-size: 14px; }
.field.inline { grid-column: auto; }
.field .fname { font-weight: 600; color: #f2f3f5; }
.footer { font-size: 12px; color: #b5bac1; margin-top: 8px; }
.thumb { width: 80px; height: 80px; border-radius: 4px; background: #4e5058; margin: 8px 0 0 16px;
         color: #949ba4; font-size: 11px; text-align: center; line-height: 80px; }
.buttons { margin-top: 8px; display: flex; flex-wrap: wrap; gap: 8px; }
.button { background: #4e5058; color: #f2f3f5; border-radius: 3px; padding: 2px 16px;
          font-size: 14px; line-height: 28px; white-space: nowrap; }
.button:after { content: ' ↗'; color: #b5bac1; }
a { color: #00a8fc; text-decoration: none; }
.ts { background: rgba(255,255,255,0.06); border-radius: 3px; padding: 0 2px; }
.mention { background: rgba(88,101,242,0.3); color: #c9cdfb; border-radius: 3px; padding: 0 2px;
           font-weight: 500; }
.quote { border-left: 4px solid #4e5058; padding-left: 8px; }
.caption { color: #949ba4; font-size: 12px; padding: 10px 16px 0 72px; }
.events { padding: 12px 16px; }
.events h2 { color: #f2f3f5; font-size: 16px; margin: 0 0 12px 0; }
.event { background: #2b2d31; border-radius: 8px; margin-bottom: 12px; overflow: hidden; }
.cover { height: 120px; background: #4e5058; color: #949ba4; font-size: 12px;
         text-align: center; line-height: 120px; }
.einner { padding: 12px 16px; }
.when { color: #b5bac1; font-size: 13px; font-weight: 600; }
.when.live { color: #23a55a; }
.ename { color: #f2f3f5; font-size: 18px; font-weight: 700; margin-top: 4px; }
.where { color: #b5bac1; font-size: 14px; margin-top: 6px; }
.edesc { font-size: 14px; margin-top: 8px; white-space: pre-line; color: #b5bac1; }
.erow { display: flex; gap: 8px; margin-top: 12px; align-items: center; }
.interested { background: #4e5058; color: #f2f3f5; border-radius: 3px; padding: 2px 14px;
              font-size: 14px; line-height: 28px; }
.count { color: #949ba4; font-size: 13px; }
"""


def fmt_time(ts: int, style: str) -> str:
    """Discord's rendering of ``<t:ts:style>`` (in UTC, seen at ``VIEW[0]``)."""
    when = datetime.fromtimestamp(ts, UTC)
    if style == "R":
        delta = when - VIEW[0]
        minutes = int(abs(delta.total_seconds()) // 60)
        amount = (
            f"{minutes // 1440} days"
            if minutes >= 2880
            else f"{minutes // 60} hours"
            if minutes >= 120
            else f"{minutes} minutes"
        )
        return f"in {amount}" if delta.total_seconds() > 0 else f"{amount} ago"
    if style == "F":
        return f"{when:%A}, {when.day} {when:%B %Y %H:%M}"
    if style == "f":
        return f"{when.day} {when:%B %Y %H:%M}"
    if style == "t":
        return f"{when:%H:%M}"
    return f"{when:%Y-%m-%d %H:%M}"


def markup(text: str | None) -> str:
    """The subset of Discord markdown our messages use, as HTML."""
    if not text:
        return ""
    out = html.escape(text, quote=False)
    out = re.sub(
        r"&lt;t:(\d+):(\w)&gt;",
        lambda m: f'<span class="ts">{fmt_time(int(m.group(1)), m.group(2))}</span>',
        out,
    )
    out = re.sub(r"&lt;@&amp;(\d+)&gt;", f'<span class="mention">@{ROLE_NAME}</span>', out)
    out = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2">\1</a>', out)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"\\([\\*_`\[\]|~>#-])", r"\1", out)  # escapes show as the bare character
    lines = []
    for line in out.split("\n"):
        if line.startswith("&gt; ") or line == "&gt;":
            lines.append(f'<div class="quote">{line[5:] or "&nbsp;"}</div>')
        else:
            lines.append(f"<div>{line or '&nbsp;'}</div>")
    return "".join(lines)


def embed_html(embed: dict[str, object]) -> str:
    """One embed as Discord lays it out."""
    colour = f"#{int(embed.get('color', 0x1E1F22)):06x}"  # type: ignore[arg-type]
    parts = ['<div class="main">']
    author = embed.get("author")
    if isinstance(author, dict):
        parts.append(f'<div class="author">{html.escape(str(author["name"]))}</div>')
    if embed.get("title"):
        cls = "title" if embed.get("url") else "title plain"
        parts.append(f'<div class="{cls}">{markup(str(embed["title"]))}</div>')
    if embed.get("description"):
        parts.append(f'<div class="desc">{markup(str(embed["description"]))}</div>')
    fields = embed.get("fields") or []
    if fields:
        parts.append('<div class="fields">')
        for field in fields:  # type: ignore[attr-defined]
            cls = "field inline" if field.get("inline") else "field"
            parts.append(
                f'<div class="{cls}"><div class="fname">{markup(field["name"])}</div>'
                f"<div>{markup(field['value'])}</div></div>"
            )
        parts.append("</div>")
    footer = embed.get("footer")
    if isinstance(footer, dict):
        parts.append(f'<div class="footer">{html.escape(str(footer["text"]))}</div>')
    parts.append("</div>")
    thumb = '<div class="thumb">thumbnail</div>' if embed.get("thumbnail") else "<div></div>"
    return (
        f'<div class="embed"><div class="bar" style="background:{colour}"></div>'
        f'<div class="inner">{"".join(parts)}{thumb}</div></div>'
    )


def message_html(
    message: MessageData,
    *,
    time: str | None = None,
    edited: bool = False,
    reply_to: str | None = None,
    first: bool = True,
) -> str:
    """One message: avatar, name, content, embeds, buttons (and the reply line above it)."""
    data = message.to_dict()
    time = time or f"Today at {VIEW[0]:%H:%M}"
    head = (
        '<div class="head"><span class="name">Spacecast</span><span class="bot">APP</span>'
        f'<span class="time">{time}</span></div>'
        if first
        else ""
    )
    content = markup(message.content)
    if edited:
        content += '<span class="edited"> (edited)</span>'
    embeds = "".join(embed_html(e) for e in data["embeds"])
    buttons = "".join(
        f'<span class="button">{html.escape(b.label)}</span>' for b in message.buttons
    )
    reply = f'<div class="reply">{html.escape(reply_to)}</div>' if reply_to else ""
    return (
        f'{reply}<div class="msg"><div class="avatar">{"S" if first else ""}</div>'
        f'<div class="body">{head}<div>{content}</div>{embeds}'
        f"{f'<div class=buttons>{buttons}</div>' if buttons else ''}</div></div>"
    )


def page(blocks: Sequence[str]) -> str:
    """A whole page; its script records the content height for the screenshot pass."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{CSS}</style></head>"
        f"<body><div id='all' style='padding:8px 0 12px 0'>{''.join(blocks)}</div>"
        "<script>document.body.dataset.h="
        "document.getElementById('all').getBoundingClientRect().height</script></body></html>"
    )


# --- the samples: recorded LL2 data through the real diff-shaped changes ----------------------


def launch() -> Snapshot:
    """The synthetic launch fixture, normalised."""
    raw = json.loads((FIXTURES / "launch-synthetic-detailed.json").read_text(encoding="utf-8"))
    return snapshot_from_launch(Launch.model_validate(raw))


def event() -> Snapshot:
    """The real event 1201 (AX-4 docking), normalised."""
    raw = json.loads((FIXTURES / "event-1201-detailed.json").read_text(encoding="utf-8"))
    return snapshot_from_event(Event.model_validate(raw))


def change(
    kind: ChangeKind, item: Snapshot, at: datetime, version: str, **fields: object
) -> Change:
    """A change as the diff makes it."""
    return Change(
        kind=kind,
        source=item.source,
        item_id=item.id,
        name=item.name,
        version=version,
        detected_at=at,
        item=item,
        **fields,  # type: ignore[arg-type]
    )


def samples() -> dict[str, list[str]]:
    """Picture name -> HTML blocks."""
    base = launch()
    assert base.date is not None
    pictures: dict[str, list[str]] = {}

    def feed(name: str, changes: list[Change]) -> None:
        VIEW[0] = max(c.detected_at for c in changes)
        messages = render_message(changes, ROLE, NOW)
        pictures[name] = [message_html(m, first=i == 0) for i, m in enumerate(messages)]

    slipped = base.model_copy(update={"date": base.date + timedelta(minutes=30)})
    date_change = change(
        ChangeKind.DATE_CHANGED, slipped, NOW, "a>b",
        old_date=base.date, new_date=slipped.date,
        old_precision="Second", new_precision="Second",
    )  # fmt: skip
    update = UpdateRef(
        id=40001,
        created_on=NOW + timedelta(minutes=5),
        comment="Recovery ship on station; weather 95% go.",
        created_by="Cosmic_Penguin",
        info_url="https://x.com/SpaceX",
    )
    updated = slipped.model_copy(update={"updates": (*slipped.updates, update)})
    new_update = change(
        ChangeKind.NEW_UPDATE, updated, NOW + timedelta(minutes=6), "40001", update=update
    )
    live_hooks = tuple(dataclasses.replace(w, live=True) for w in updated.webcasts)
    live_item = updated.model_copy(update={"webcast_live": True, "webcasts": live_hooks})
    webcast = change(
        ChangeKind.WEBCAST_LIVE, live_item, NOW + timedelta(hours=2, minutes=30), "live",
        urls=live_hooks,
    )  # fmt: skip
    done = live_item.model_copy(update={"status_id": 3, "status_name": "Launch Successful"})
    success = change(
        ChangeKind.STATUS_CHANGED, done, NOW + timedelta(hours=2, minutes=50), "1>3",
        old_status="Go for Launch", new_status="Launch Successful",
        old_status_id=1, new_status_id=3,
    )  # fmt: skip
    new_item = change(ChangeKind.NEW_ITEM, event(), datetime(2025, 6, 26, 7, 18, tzinfo=UTC), "new")

    feed("alert-webcast_live", [webcast])
    feed("alert-date_changed", [date_change])
    feed("alert-new_update", [new_update])
    feed("alert-status_changed", [success])
    feed("alert-new_item", [new_item])

    # The card: posted for the date change and the update, then edited for live and success.
    quiet = timedelta(minutes=10)
    state: CardState | None = None
    for batch in ([date_change], [new_update]):
        state = plan_card(
            state, guild_id=GUILD, channel_id=CHANNEL, changes=batch, now=NOW, quiet_period=quiet
        ).state
    assert state is not None
    VIEW[0] = NOW + timedelta(minutes=10)
    pictures["card-before"] = [message_html(render_card(state))]
    pointers = []
    for batch in ([webcast], [success]):
        plan = plan_card(
            state, guild_id=GUILD, channel_id=CHANNEL, changes=batch, now=NOW, quiet_period=quiet
        )
        state = plan.state
        pointers.extend(plan.pointers)
    assert state is not None
    VIEW[0] = success.detected_at
    card_url = f"https://discord.com/channels/{GUILD}/{CHANNEL}/1"
    after = [message_html(render_card(state), time="Today at 03:10", edited=True)]
    for pointer, time in zip(pointers, ("Today at 05:30", "Today at 05:50"), strict=True):
        message = render_pointer(pointer.kind, pointer.change, [ROLE], card_url)
        after.append(message_html(message, time=time, reply_to="Spacecast  (the live card)"))
    pictures["card-after"] = after

    reminder = render_reminder(base, 10, [ROLE])
    VIEW[0] = base.date - timedelta(minutes=10)
    pictures["reminder"] = [message_html(reminder)]
    pictures["calendar"] = calendar_blocks()
    return pictures


def event_html(fields: EventFields, *, live: bool, cover: bool, interested: int) -> str:
    """One entry of a server's Events list as Discord shows it (dark theme)."""
    if live:
        when = '<div class="when live">● Happening now</div>'
    else:
        start = fields.start
        when = f'<div class="when">📅 {start:%a} {start.day} {start:%b} · {start:%H:%M}</div>'
    banner = '<div class="cover">cover image: the item\'s LL2 image</div>' if cover else ""
    return (
        f'<div class="event">{banner}<div class="einner">{when}'
        f'<div class="ename">{html.escape(fields.name)}</div>'
        f'<div class="where">🔗 <a>{html.escape(fields.location)}</a></div>'
        f'<div class="edesc">{html.escape(fields.description)}</div>'
        f'<div class="erow"><span class="interested">🔔 Interested</span>'
        f'<span class="count">{interested} interested</span></div></div></div>'
    )


def calendar_blocks() -> list[str]:
    """The server's Events list with the bot's events for the launch and the docking."""
    rocket, docking = launch(), event()
    assert rocket.date is not None
    assert docking.date is not None
    live_docking = docking.model_copy(update={"webcast_live": True})
    entries = [
        event_html(fields_for(live_docking, docking.date), live=True, cover=True, interested=41),
        event_html(fields_for(rocket, rocket.date), live=False, cover=True, interested=187),
    ]
    return ['<div class="events"><h2>Events</h2>' + "".join(entries) + "</div>"]


def chromium() -> str:
    """The Chromium binary, or exit with the install hint."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if (found := shutil.which(name)) is not None:
            return found
    sys.exit("render_pictures: Chromium not found; install it with: apt-get install -y chromium")


def shoot(binary: str, html_file: Path, png: Path) -> None:
    """Two passes: measure the page's height, then screenshot exactly that much."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    url = html_file.as_uri()
    dom = subprocess.run(
        [binary, *flags, f"--window-size={WIDTH},2000", "--dump-dom", url],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    found = re.search(r'data-h="([\d.]+)"', dom)
    height = int(float(found.group(1))) + 2 if found else 800
    subprocess.run(
        [binary, *flags, f"--window-size={WIDTH},{height}", f"--screenshot={png}", url],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip


def main() -> None:
    """Write docs/pictures/*.png (or only the HTML with --html-only)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html-only", action="store_true", help="write HTML pages only")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    binary = None if args.html_only else chromium()
    with tempfile.TemporaryDirectory() as tmp:
        for name, blocks in samples().items():
            target = (args.out if args.html_only else Path(tmp)) / f"{name}.html"
            target.write_text(page(blocks), encoding="utf-8")
            if binary is not None:
                shoot(binary, target, args.out / f"{name}.png")
            print(args.out / f"{name}.{'html' if args.html_only else 'png'}")


if __name__ == "__main__":
    main()
