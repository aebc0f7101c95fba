"""Which picture an item's scheduled event shows as its cover (pure).

Discord takes an event's cover as image data in the request (``image`` on Create and Modify
Guild Scheduled Event), so the bot uploads it to every guild; what the core decides is the
*source*: LL2's ``image.image_url`` (the full picture), else ``image.thumbnail_url`` (LL2's
scaled-down copy of it), and only ``https`` URLs on an allow-list of hosts (LL2 keeps its
images on :data:`DEFAULT_COVER_HOSTS`; a port other than 443 must be listed as ``host:port``).
The image URL comes first because a cover fills the event card; the thumbnail is the fallback
when the image is missing, not allowed, or unusable (the adapter found it too large, of a type
Discord refuses, or not there: :attr:`CoverPolicy.unavailable`).

The applied cover is tracked by its source URL (:attr:`~bot.core.schedule.event.EventFields.cover`),
so an LL2 image change updates the cover once and an unchanged one is never uploaded again. The
planner never removes a cover: when an item has no usable candidate (none, all unavailable, or
covers off), its event keeps what it shows.

An event adopted from Discord's list (after a crash, or a lost database) whose ``image`` hash is
set but whose source the bot never recorded has the cover :data:`ADOPTED_COVER`: it counts as
showing the item's current choice (it was almost surely created with it), and the planner
reports that choice so the adapter records it without uploading anything.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bot.core.render.sanitize import safe_url
from bot.core.snapshot import Snapshot

# Where LL2 keeps every image and thumbnail (seen in every image of its 2.3.0 answers, e.g.
# tests/fixtures/event-1201-detailed.json: ``https://thespacedevs-prod.nyc3.digitaloceanspaces.com/
# media/images/...``).
DEFAULT_COVER_HOSTS = frozenset({"thespacedevs-prod.nyc3.digitaloceanspaces.com"})
# The recorded cover of an adopted event that has an image whose source the bot does not know.
ADOPTED_COVER = "discord:adopted"

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*(?::(\d{{1,5}}))?")


@dataclass(frozen=True, slots=True)
class CoverPolicy:
    """Which covers the planner may choose: sources on ``hosts`` (see :func:`cover_host`),
    except the ``unavailable`` URLs (the adapter could not use them lately)."""

    hosts: frozenset[str] = DEFAULT_COVER_HOSTS
    unavailable: frozenset[str] = field(default_factory=frozenset)


def cover_host(entry: str) -> str | None:
    """An allow-list entry in canonical form (lower case, ``:443`` dropped), or None when it is
    not a host name with an optional port (a scheme, path or user info is a mistake)."""
    text = entry.strip().lower()
    match = _HOST.fullmatch(text)
    if match is None or len(text) > 260:
        return None
    port = match.group(1)
    if port is not None and not 0 < int(port) < 65536:
        return None
    return text.removesuffix(":443")


def allowed_cover_url(url: str | None, hosts: Collection[str]) -> str | None:
    """``url`` (made safe, see :func:`~bot.core.render.sanitize.safe_url`) when it is an
    ``https`` URL on one of ``hosts`` without user info, else None."""
    safe = safe_url(url)
    if safe is None:
        return None
    try:
        parts = urlsplit(safe)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() != "https" or not parts.hostname:
        return None
    host = parts.hostname.lower()
    key = host if port in (None, 443) else f"{host}:{port}"
    return safe if key in hosts else None


def cover_candidates(item: Snapshot, hosts: Collection[str]) -> tuple[str, ...]:
    """The allowed cover sources of ``item``, best first: its image, then its thumbnail."""
    found: list[str] = []
    for url in (item.display.image_url, item.display.thumbnail_url):
        allowed = allowed_cover_url(url, hosts)
        if allowed is not None and allowed not in found:
            found.append(allowed)
    return tuple(found)


def usable(candidates: Iterable[str], policy: CoverPolicy) -> tuple[str, ...]:
    """``candidates`` without the ones the adapter could not use lately."""
    return tuple(url for url in candidates if url not in policy.unavailable)


def choose_cover(item: Snapshot, policy: CoverPolicy | None) -> str | None:
    """The cover source ``item``'s event should show (None: no usable one, or covers off)."""
    if policy is None:
        return None
    found = usable(cover_candidates(item, policy.hosts), policy)
    return found[0] if found else None


def fallbacks(item: Snapshot, policy: CoverPolicy | None, applied: str | None) -> tuple[str, ...]:
    """The usable sources after the chosen one, to try in turn if it fails when fetched; they
    stop before ``applied``: falling back to what the event shows already changes nothing."""
    if policy is None:
        return ()
    rest = usable(cover_candidates(item, policy.hosts), policy)[1:]
    if applied in rest:
        rest = rest[: rest.index(applied)]
    return rest
