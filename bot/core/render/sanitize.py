"""Make LL2-sourced text safe to show on Discord and in a terminal.

LL2 text is data, never markup: an update comment saying ``@everyone`` must not ping, a name with
``*`` must not turn the rest of an embed bold, and a URL must be a plain http(s) link. The
delivery layer also restricts ``allowed_mentions``; this is the second line of defence.
"""

from __future__ import annotations

import re
import string
from urllib.parse import quote, urlsplit

from bot.core.render.limits import URL_MAX

ZWSP = "\u200b"

# Control characters (C0 except tab/newline, DEL, C1): they can move a terminal's cursor or
# recolour it, and Discord shows them as boxes at best.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bare URLs are left unescaped: a backslash inside one would break Discord's autolink.
_BARE_URL = re.compile(r"https?://[^\s<>]+", re.IGNORECASE)
# Single "|" and "~" are left alone: only "||" (spoiler) and "~~" (strike) are markup, and
# LL2 launch names are full of " | ".
_MARKDOWN_INLINE = re.compile(r"([\\*_`\[\]]|\|\||~~)")
# Markdown that only counts at the start of a line and would restyle it: quotes, headings and
# subtext. Lists are left alone: they render as the author meant.
_MARKDOWN_LINE_START = re.compile(r"^(\s*)(-#|#|>)", re.MULTILINE)
# Every printable ASCII character but space stays as it is; only non-ASCII gets encoded.
_URL_SAFE = "".join(c for c in string.printable if not c.isspace())
_MENTIONISH = re.compile(r"@(everyone|here)|<[@#]", re.IGNORECASE)


def strip_controls(text: str) -> str:
    """Drop control characters (keeps tabs and newlines) and normalise line endings."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def neutralise_mentions(text: str) -> str:
    """Break every mention Discord would parse: ``@everyone``, ``@here``, ``<@…>``, ``<#…>``.

    A zero-width space after each ``@`` (and after ``<#``) keeps the text readable while
    Discord no longer recognises a mention, whatever follows.
    """
    return text.replace("@", "@" + ZWSP).replace("<#", "<#" + ZWSP)


def escape_markdown(text: str) -> str:
    """Escape the markdown that would change how ``text`` looks, leaving bare URLs intact."""
    pieces: list[str] = []
    position = 0
    for match in _BARE_URL.finditer(text):
        pieces.append(_escape_plain(text[position : match.start()]))
        pieces.append(match.group(0))
        position = match.end()
    pieces.append(_escape_plain(text[position:]))
    return _MARKDOWN_LINE_START.sub(r"\1\\\2", "".join(pieces))


def _escape_plain(text: str) -> str:
    return _MARKDOWN_INLINE.sub(lambda m: "".join("\\" + c for c in m.group(0)), text)


def clean(text: str | None) -> str:
    """LL2 text for markdown contexts (descriptions, field values, titles): inert and tidy."""
    if not text:
        return ""
    return neutralise_mentions(escape_markdown(strip_controls(text).strip()))


def clean_plain(text: str | None) -> str:
    """LL2 text for places without markdown (author name, footer, console): no mentions."""
    if not text:
        return ""
    return neutralise_mentions(strip_controls(text).strip())


def one_line(text: str | None) -> str:
    """LL2 text squeezed onto one terminal line: no controls, whitespace runs collapsed."""
    if not text:
        return ""
    return " ".join(strip_controls(text).split())


def safe_url(url: str | None, max_length: int = URL_MAX) -> str | None:
    """``url`` as a well-formed http(s) URL that is safe to link, else None.

    Non-ASCII characters in the path, query and fragment are percent-encoded (the standard
    IRI-to-URI step), so Discord sees plain ASCII. URLs that are too long after that are dropped
    rather than cut (a cut URL leads somewhere else), and so are URLs with whitespace, angle
    brackets, user info, a non-ASCII host or anything mention-like in them.
    """
    if not url:
        return None
    url = url.strip()
    if _CONTROLS.search(url) or any(c.isspace() for c in url):
        return None
    if "<" in url or ">" in url or "\\" in url or _MENTIONISH.search(url):
        return None
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    if parts.scheme.lower() not in ("http", "https") or not hostname or not hostname.isascii():
        return None
    if parts.username is not None or parts.password is not None:
        return None  # "https://youtube.com@evil.example/" hides its real host
    if not url.isascii():
        url = quote(url, safe=_URL_SAFE)
    return url if len(url) <= max_length else None


def link_target(url: str) -> str:
    """A safe URL made fit for ``[label](url)``: parentheses would end the link early."""
    return url.replace("(", "%28").replace(")", "%29")


def link(label: str, url: str | None) -> str:
    """A markdown link with an already-cleaned ``label``, or just the label without a safe URL."""
    target = safe_url(url)
    if target is None:
        return label
    return f"[{label}]({link_target(target)})"


def host(url: str) -> str:
    """The host name of ``url`` without ``www.``, for short link labels."""
    try:
        name = urlsplit(url).hostname or url
    except ValueError:
        return url
    return name.removeprefix("www.")
