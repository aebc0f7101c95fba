"""Logging: text and JSON lines, and secrets never reach a log line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.logging_setup import setup_logging

TOKEN = "MTE5.fake-discord-token.abcdef"


@pytest.fixture
def stream() -> io.StringIO:
    buffer = io.StringIO()
    yield buffer
    logging.getLogger().handlers.clear()


def test_json_lines(stream: io.StringIO) -> None:
    """JSON format emits one parseable object per record, with extra fields."""
    setup_logging("INFO", "json", stream=stream)
    logging.getLogger("bot.test").info("polled %d items", 3, extra={"item": "event:1201"})
    record = json.loads(stream.getvalue().strip())
    assert record["message"] == "polled 3 items"
    assert record["item"] == "event:1201"
    assert record["level"] == "INFO"
    assert record["time"].endswith("+00:00")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_token_never_logged(stream: io.StringIO, fmt: str) -> None:
    """The token is redacted from messages, arguments, extras and tracebacks."""
    setup_logging("DEBUG", fmt, secrets=[TOKEN], stream=stream)
    log = logging.getLogger("bot.test")
    log.info("token is %s", TOKEN)
    log.warning(f"inline {TOKEN}")
    log.info("extra", extra={"auth": f"Bot {TOKEN}"})
    try:
        raise RuntimeError(f"bad token {TOKEN}")
    except RuntimeError:
        log.exception("failed")
    output = stream.getvalue()
    assert TOKEN not in output
    assert output.count("[REDACTED]") >= 4


def test_text_format_has_utc_time(stream: io.StringIO) -> None:
    """Text lines start with an ISO UTC timestamp."""
    setup_logging("INFO", "text", stream=stream)
    logging.getLogger("bot.test").info("hello")
    line = stream.getvalue().strip()
    assert line[:20].endswith("Z")
    assert "bot.test: hello" in line
