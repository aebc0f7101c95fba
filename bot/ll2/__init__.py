"""Launch Library 2 adapter: the HTTP client, its request budget and its errors."""

from bot.ll2.budget import Clock, InMemorySendLog, RequestBudget, SendLog, SystemClock
from bot.ll2.client import LL2Client
from bot.ll2.errors import (
    BudgetExhausted,
    LL2BadResponse,
    LL2Error,
    LL2Throttled,
    LL2Unavailable,
)
from bot.ll2.result import FetchResult

__all__ = [
    "BudgetExhausted",
    "Clock",
    "FetchResult",
    "InMemorySendLog",
    "LL2BadResponse",
    "LL2Client",
    "LL2Error",
    "LL2Throttled",
    "LL2Unavailable",
    "RequestBudget",
    "SendLog",
    "SystemClock",
]
