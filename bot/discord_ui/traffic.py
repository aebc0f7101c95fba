"""Every REST request discord.py makes passes the send budget, and every 429 is counted by scope.

discord.py accepts an :class:`aiohttp.TraceConfig` (``Client(http_trace=...)``); aiohttp awaits
its ``on_request_start`` callbacks before a request leaves, so :func:`budget_trace` can make
each request wait for a slot of the token's global budget and read each answer's rate-limit
headers in ``on_request_end``:

- requests made inside :func:`background` (the server calendar's scheduled events) yield:
  they take a slot only while no other request of this process is waiting for one, so a
  calendar catching up on 1,000 guilds never slows a fan-out of alerts;
- requests the delivery worker already paced (it waits for its slot before calling discord.py,
  so the benchmark and the tests can drive the same pacing without HTTP) run inside
  :func:`already_paced` and pass straight through;
- interaction answers are not counted: Discord's rate-limit docs say "Interaction endpoints are
  not bound to the bot's Global Rate Limit" (docs.discord.com/developers/topics/rate-limits,
  Global Rate Limit), so ``/interactions/...`` and the follow-up webhooks ``/webhooks/...``
  pass unpaced, as does anything outside the REST API (the gateway's websocket);
- a 429 is counted under its ``X-RateLimit-Scope`` (``user``, ``global``, ``shared``); a global
  one (``X-RateLimit-Global: true`` or scope ``global``) goes to the budget, which pauses every
  process (discord.py itself waits out ``retry_after`` and retries, as before).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Protocol

import aiohttp

_PACED: ContextVar[bool] = ContextVar("spacecast_send_already_paced", default=False)
_BACKGROUND: ContextVar[bool] = ContextVar("spacecast_send_background", default=False)
_UNCOUNTED = ("/interactions/", "/webhooks/")


class Budget(Protocol):
    """What the trace needs of :class:`bot.services.delivery.budget.SendBudget`."""

    async def wait(self, *, background: bool = False) -> None:
        """Return when one request may go (``background``: after every other waiter)."""
        ...

    async def global_429(self, retry_after: float) -> None:
        """A global 429 arrived."""
        ...

    def other_429(self, scope: str) -> None:
        """A 429 of another scope arrived."""
        ...


@contextlib.contextmanager
def already_paced() -> Iterator[None]:
    """Requests made inside this block took their budget slot already (the delivery worker)."""
    token = _PACED.set(True)
    try:
        yield
    finally:
        _PACED.reset(token)


@contextlib.contextmanager
def background() -> Iterator[None]:
    """Requests made inside this block give way to every other request waiting for a slot."""
    token = _BACKGROUND.set(True)
    try:
        yield
    finally:
        _BACKGROUND.reset(token)


def counted(path: str) -> bool:
    """Whether a request to ``path`` counts towards the token's global limit."""
    return "/api/" in path and not any(part in path for part in _UNCOUNTED)


def budget_trace(budget: Budget) -> aiohttp.TraceConfig:
    """An aiohttp trace that paces discord.py's requests through ``budget`` and reads 429s."""
    trace = aiohttp.TraceConfig()

    async def on_start(
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        if _PACED.get() or not counted(params.url.path):
            return
        await budget.wait(background=_BACKGROUND.get())

    async def on_end(
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        response = params.response
        if response.status != 429:
            return
        headers = response.headers
        scope = headers.get("X-RateLimit-Scope", "").lower()
        if scope == "global" or headers.get("X-RateLimit-Global", "").lower() == "true":
            await budget.global_429(retry_after_of(headers))
        else:
            budget.other_429(scope or "user")

    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    return trace


def retry_after_of(headers: object) -> float:
    """Seconds to wait from a 429's ``Retry-After`` header (1 s when missing or unreadable)."""
    get = getattr(headers, "get", None)
    raw = get("Retry-After") if get is not None else None
    try:
        return max(0.0, float(raw)) if raw is not None else 1.0
    except ValueError:
        return 1.0
