"""``spacecast schedule enable|disable|list`` on a temporary SQLite database (in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main

GUILD = "700000000000000001"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the CLI at a fresh SQLite file and no config file."""
    monkeypatch.setenv("SPACECAST_DATABASE__URL", f"sqlite+aiosqlite:///{tmp_path / 'db'}")
    monkeypatch.chdir(tmp_path)


def test_enable_list_json_and_disable(db: None, capsys: pytest.CaptureFixture[str]) -> None:
    """Enable with filters, list as JSON with the issue's fields, disable."""
    args = ["schedule", "enable", "--guild", GUILD, "--sources", "launches"]
    assert main([*args, "--providers", "121", "--horizon-days", "3", "--max", "5"]) == 0
    assert "at most 5 events" in capsys.readouterr().out
    assert main(["schedule", "list", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "guild_id": GUILD,
            "enabled": True,
            "sources": ["launch"],
            "event_types": None,
            "providers": [121],
            "horizon_days": 3,
            "max": 5,
            "disabled_reason": None,
            "managed": 0,
        }
    ]
    assert main(["schedule", "disable", "--guild", GUILD]) == 0
    capsys.readouterr()
    assert main(["schedule", "list", "--guild", GUILD]) == 0
    assert "calendar disabled" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--horizon-days", "31"], "error: --horizon-days: 31 is out of range (1-30)\n"),
        (["--max", "0"], "error: --max: 0 is out of range (1-50)\n"),
        (["--max", "ten"], "error: --max: 'ten' is not a whole number (1-50)\n"),
        (
            ["--sources", "rockets"],
            "error: unknown source 'rockets'; choose from events, launches, all\n",
        ),
    ],
)
def test_bad_values_are_one_line_and_exit_2(
    db: None, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """Each bad value: one line naming the option, exit 2, nothing stored."""
    assert main(["schedule", "enable", "--guild", GUILD, *extra]) == 2
    # The first command on a fresh file also logs its migration; the error is one line.
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [message.rstrip("\n")]
    assert main(["schedule", "list", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_disabling_a_guild_without_a_calendar_fails(
    db: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1 and one line when there is nothing to disable."""
    assert main(["schedule", "disable", "--guild", GUILD]) == 1
    assert capsys.readouterr().err.endswith(f"error: guild {GUILD} has no calendar\n")


def test_list_says_how_many_items_a_moderator_removed_and_enable_restores_them(
    db: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An event a moderator deleted is counted in the text listing (the JSON keeps the issue's
    fields); enabling again clears it."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from bot.core.schedule import Entry, EventFields, Status
    from bot.store import open_store

    assert main(["schedule", "enable", "--guild", GUILD]) == 0

    async def dismissed() -> None:
        store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'db'}")
        start = datetime.now(UTC) + timedelta(days=1)
        fields = EventFields("Launch", "spacecast:launch:x", "https://x.test/", start, start)
        await store.record_event(int(GUILD), Entry("launch:x", 5, Status.SCHEDULED, fields))
        await store.dismiss_event(int(GUILD), "launch:x")
        await store.close()

    asyncio.run(dismissed())
    capsys.readouterr()
    assert main(["schedule", "list"]) == 0
    assert "; 1 removed by a moderator (enabling the calendar again restores them)" in (
        capsys.readouterr().out
    )
    assert main(["schedule", "enable", "--guild", GUILD]) == 0
    capsys.readouterr()
    assert main(["schedule", "list"]) == 0
    assert "removed by a moderator" not in capsys.readouterr().out
