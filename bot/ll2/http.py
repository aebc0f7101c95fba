"""Small pure helpers for talking to LL2: query datetimes, throttle hints, error summaries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import ValidationError

# DRF's throttle message: "Request was throttled. Expected available in 3599 seconds."
_DETAIL_SECONDS = re.compile(r"available in (\d+(?:\.\d+)?) second", re.IGNORECASE)


def iso_z(value: datetime, *, round_up: bool = False) -> str:
    """``value`` as ISO 8601 UTC with a ``Z``, to the second.

    Sub-second parts are dropped, or rounded up for an upper bound, so the filter never
    excludes an item that lies inside the requested range.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("LL2 query datetimes must be timezone-aware")
    value = value.astimezone(UTC)
    if round_up and value.microsecond:
        value += timedelta(seconds=1)
    return value.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def retry_after_seconds(response: httpx.Response, now: datetime) -> float | None:
    """The wait a 429 asks for: ``Retry-After`` (seconds or HTTP date), else the detail text."""
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - now).total_seconds())
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return None
    match = _DETAIL_SECONDS.search(detail) if isinstance(detail, str) else None
    return float(match.group(1)) if match else None


def item_id(raw: Any) -> str:
    """The ``id`` of a raw item for logs, or ``"?"`` when it has none."""
    if isinstance(raw, dict) and raw.get("id") is not None:
        return str(raw["id"])
    return "?"


def validation_reason(exc: ValidationError) -> str:
    """A one-line reason: the first failing field and message, plus how many more failed."""
    errors = exc.errors()
    if not errors:
        return "invalid"
    first = errors[0]
    loc = ".".join(str(part) for part in first["loc"]) or "(item)"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc}: {first['msg']}{more}"


def body_start(response: httpx.Response, limit: int = 200) -> str:
    """The start of a response body for logs (LL2 bodies never hold our key)."""
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError):
        return repr(response.content[:limit])
    return text[:limit]
