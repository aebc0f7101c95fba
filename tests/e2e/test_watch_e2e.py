"""``watch --once`` end to end: a real subprocess, a real SQLite file, a loopback LL2 server."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.fake_ll2 import FakeLL2, load_fixture, serve

pytestmark = pytest.mark.slow


async def _watch(
    fake: FakeLL2, workdir: Path, *extra: str, env_extra: dict[str, str] | None = None
) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACECAST_")}
    env.update(
        {
            "SPACECAST_LL2__BASE_URL": fake.base_url,
            "SPACECAST_DATABASE__URL": f"sqlite+aiosqlite:///{workdir / 'watch.db'}",
            "SPACECAST_LL2__TIMEOUT_SECONDS": "10",
            **(env_extra or {}),
        }
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "watch", "--once", *extra,
        cwd=workdir, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _event() -> dict[str, Any]:
    event = load_fixture("event-1201-detailed.json")
    event["response_mode"] = "normal"
    return event


def _edited(event: dict[str, Any]) -> dict[str, Any]:
    """Event 1201 with its date moved 2 h, a new update, and its webcast live."""
    edited = copy.deepcopy(event)
    edited["date"] = "2025-06-26T12:30:00Z"
    edited["webcast_live"] = True
    edited["vid_urls"][0]["live"] = True
    edited["updates"].insert(
        0,
        {
            "id": 99001,
            "comment": "Docking moved two hours later. @everyone",
            "info_url": "https://example.org/update",
            "created_by": "LL2",
            "created_on": "2025-06-26T09:00:00Z",
        },
    )
    return edited


async def test_watch_once_baseline_then_changes_then_nothing(tmp_path: Path) -> None:
    """Baseline prints nothing; edited data prints exactly the expected lines; a rerun, none."""
    fake = FakeLL2(events=[_event()], launches=[load_fixture("launch-synthetic-detailed.json")])
    async with serve(fake):
        code, out, err = await _watch(fake, tmp_path, "--format", "json")
        assert code == 0, err
        assert out == ""

        fake.events = [_edited(fake.events[0])]
        code, out, err = await _watch(fake, tmp_path, "--format", "json")
        assert code == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        by_kind = {line["kind"]: line for line in lines}
        assert sorted(by_kind) == ["date_changed", "new_update", "webcast_live"]
        assert len(lines) == 3
        for line in lines:
            assert (line["source"], line["id"], line["name"]) == (
                "event", "1201", "SpaceX AX-4 Crew Dragon Docking",
            )  # fmt: skip
        moved = by_kind["date_changed"]
        assert (moved["old"], moved["new"]) == ("2025-06-26T10:30:00Z", "2025-06-26T12:30:00Z")
        assert moved["old_precision"] == moved["new_precision"] == "Minute"
        assert by_kind["new_update"]["update_id"] == 99001
        assert by_kind["new_update"]["comment"].startswith("Docking moved two hours later.")
        assert by_kind["webcast_live"]["urls"][0] == "https://www.youtube.com/watch?v=7eCWkePf9sk"

        code, out, err = await _watch(fake, tmp_path, "--format", "json")
        assert code == 0, err
        assert out == ""
        # Three runs of two counted queries each: the budget was honoured, nothing extra.
        assert fake.counted_requests == 6


async def test_watch_once_text_format(tmp_path: Path) -> None:
    """The text format prints one human line per alert to stdout, logs to stderr."""
    fake = FakeLL2(events=[_event()])
    async with serve(fake):
        await _watch(fake, tmp_path)
        fake.events = [_edited(fake.events[0])]
        code, out, err = await _watch(fake, tmp_path)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    assert any(line.startswith("[date_changed] event 1201") for line in lines)
    assert "UTC" in out
    assert "poll done" in err


async def test_watch_once_loads_the_budget_once(tmp_path: Path) -> None:
    """One start reads the persisted budget once: one "ll2 budget loaded" line."""
    fake = FakeLL2(events=[_event()])
    async with serve(fake):
        code, _, err = await _watch(fake, tmp_path)
    assert code == 0, err
    assert err.count("ll2 budget loaded") == 1


async def test_watch_once_unreachable_api_fails_cleanly(tmp_path: Path) -> None:
    """With LL2 unreachable, watch exits 1 with log lines but no traceback on stdout."""
    fake = FakeLL2()
    fake.base_url = "http://127.0.0.1:9/2.3.0"  # discard port: connection refused
    # No retries: what is tested is the clean failure, not the (unit-tested) backoff.
    code, out, err = await _watch(fake, tmp_path, env_extra={"SPACECAST_LL2__MAX_RETRIES": "0"})
    assert code == 1
    assert out == ""
    assert "Traceback" not in err


async def test_watch_once_says_the_baseline_was_stored_once(tmp_path: Path) -> None:
    """The silent first poll says on stderr what it stored; the next poll does not repeat it."""
    fake = FakeLL2(events=[_event()], launches=[load_fixture("launch-synthetic-detailed.json")])
    async with serve(fake):
        code, out, err = await _watch(fake, tmp_path)
        assert (code, out) == (0, ""), err
        notes = [line for line in err.splitlines() if "baseline:" in line]
        assert len(notes) == 1
        assert notes[0].endswith(
            "baseline: 1 event and 1 launch stored; alerts start with the next change"
        )
        code, _, err = await _watch(fake, tmp_path)
        assert code == 0, err
        assert "baseline:" not in err


def _soon(minutes_ahead: float) -> dict[str, Any]:
    """Event 1201, dated ``minutes_ahead`` from now to the minute (precision Minute)."""
    event = _event()
    when = datetime.now(UTC) + timedelta(minutes=minutes_ahead)
    event["date"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


async def test_watch_once_prints_the_reminder_due_now_as_json(tmp_path: Path) -> None:
    """--reminders 3m with T-0 in 2 min 50 s: one reminder object with its moment and target."""
    fake = FakeLL2(events=[_soon(2 + 50 / 60)])
    async with serve(fake):
        code, out, err = await _watch(fake, tmp_path, "--format", "json", "--reminders", "3m,1m")
    assert code == 0, err
    [line] = [json.loads(line) for line in out.splitlines()]
    assert line["kind"] == "reminder"
    assert (line["source"], line["id"], line["offset_minutes"]) == ("event", "1201", 3)
    assert {"name", "detected_at", "version", "target", "at"} <= set(line)
    assert line["target"].endswith("Z")
    target = datetime.fromisoformat(line["target"].replace("Z", "+00:00"))
    at = datetime.fromisoformat(line["at"].replace("Z", "+00:00"))
    assert target - at == timedelta(minutes=3)


async def test_watch_without_reminders_prints_none(tmp_path: Path) -> None:
    """Without --reminders nothing but alerts is printed (the first run is a silent baseline)."""
    fake = FakeLL2(events=[_soon(2 + 50 / 60)])
    async with serve(fake):
        code, out, err = await _watch(fake, tmp_path, "--format", "json")
    assert code == 0, err
    assert out == ""


async def test_watch_bad_reminders_is_one_line_exit_2(tmp_path: Path) -> None:
    """A bad --reminders value is one error line and exit 2, before any request."""
    fake = FakeLL2(events=[_event()])
    async with serve(fake):
        code, out, err = await _watch(fake, tmp_path, "--reminders", "8d")
    assert code == 2
    assert out == ""
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith("error: --reminders:")
