"""What a (possibly multi-page) LL2 fetch returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from bot.ll2.errors import LL2Error

T = TypeVar("T")


@dataclass
class FetchResult(Generic[T]):
    """Items of one query, and whether they are all of them.

    ``complete`` is False when a later page failed: the items of the earlier pages are here and
    ``error`` says what went wrong. Callers must then not treat an absent item as removed.
    ``skipped`` lists ``(id, reason)`` for items that failed validation and were left out: they
    exist upstream, so they are not removed either. ``requests`` counts the budgeted requests
    the fetch spent, retries included.
    """

    items: list[T] = field(default_factory=list)
    complete: bool = True
    skipped: list[tuple[str, str]] = field(default_factory=list)
    requests: int = 0
    error: LL2Error | None = None
