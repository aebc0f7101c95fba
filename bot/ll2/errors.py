"""Exceptions the LL2 adapter raises; callers catch :class:`LL2Error` and treat it as "no data"."""

from __future__ import annotations


class LL2Error(Exception):
    """Base class: LL2 gave no usable answer this time. Never means "the item is gone".

    ``requests`` is how many counted requests the failed fetch spent (a 429 and retries
    included): they count against the budget, so reports and metrics must count them too.
    """

    requests: int = 0


class LL2BadResponse(LL2Error):
    """LL2 answered, but not with what we asked for: non-JSON, no ``results``, odd shape, 4xx."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


class LL2Unavailable(LL2Error):
    """Every attempt failed with a 5xx, a timeout or a connection error."""

    def __init__(self, message: str, *, url: str | None = None, attempts: int = 0):
        super().__init__(message)
        self.url = url
        self.attempts = attempts


class LL2Throttled(LL2Error):
    """LL2 answered 429 and we may not (or would rather not) wait ``retry_after`` seconds."""

    def __init__(self, retry_after: float, *, url: str | None = None):
        super().__init__(f"LL2 throttled us; retry in {retry_after:.0f} s")
        self.retry_after = retry_after
        self.url = url


class BudgetExhausted(LL2Error):
    """Our own hourly request budget has no slot for ``wait_seconds`` seconds."""

    def __init__(self, wait_seconds: float):
        super().__init__(f"LL2 request budget exhausted; next slot in {wait_seconds:.0f} s")
        self.wait_seconds = wait_seconds
