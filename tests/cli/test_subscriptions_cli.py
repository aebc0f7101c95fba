"""``python -m bot subscriptions``: a real subprocess on a temporary SQLite database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.store import open_store

GUILD = "700000000000000001"
OTHER_GUILD = "700000000000000002"
CHANNEL = "800000000000000001"
ROLE = "900000000000000001"


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite database file of the test's own."""
    return f"sqlite+aiosqlite:///{tmp_path / 'spacecast.db'}"


def _cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACECAST_")}
    env["SPACECAST_DATABASE__URL"] = db_url
    return subprocess.run(
        [sys.executable, "-m", "bot", "subscriptions", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _only_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if "bot.store.migrations" not in line]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_add_list_remove_round_trip(db_url: str) -> None:
    """add prints the id; list shows it as text and JSON (per guild); remove deletes it."""
    added = _cli(db_url, "add", "--guild", GUILD, "--channel", CHANNEL, "--role", ROLE,
                 "--types", "2,3", "--kinds", "webcast_live,date_changed")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "1"
    assert "event types are not loaded yet" in added.stderr  # ids accepted, with a warning
    other = _cli(db_url, "add", "--guild", OTHER_GUILD, "--channel", "800000000000000002")
    assert other.stdout.strip() == "2"

    text = _cli(db_url, "list")
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"#1 in <#{CHANNEL}>: events (type 2, type 3)")
    assert f"pings <@&{ROLE}>" in lines[0]

    listed = json.loads(_cli(db_url, "list", "--guild", GUILD, "--format", "json").stdout)
    assert listed == [
        {
            "id": 1,
            "guild_id": GUILD,
            "channel_id": CHANNEL,
            "sources": ["event", "launch"],
            "event_types": [2, 3],
            "providers": None,
            "kinds": ["date_changed", "webcast_live"],
            "role_id": ROLE,
            "enabled": True,
            "disabled_reason": None,
            "reminders": [],
            "style": "feed",
        }
    ]

    removed = _cli(db_url, "remove", "1")
    assert (removed.returncode, removed.stdout.strip()) == (0, "removed subscription #1")
    assert [s["id"] for s in json.loads(_cli(db_url, "list", "--format", "json").stdout)] == [2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "--guild", GUILD, "--channel", CHANNEL, "--kinds", "bogus"], "unknown kind"),
        (["add", "--guild", GUILD, "--channel", CHANNEL, "--role", GUILD], "@everyone role"),
        (["remove", "abc"], "is not a subscription id"),
        (
            ["add", "--guild", GUILD, "--channel", CHANNEL, "--reminders", "5x"],
            "--reminders: '5x' is not an offset",
        ),
        (["edit", "1", "--reminders", "8d"], "--reminders: '8d' is too far ahead"),
        (["edit", "1", "--reminders", "0m"], "--reminders: '0m' is too short"),
        (["edit", "1", "--reminders", "1,2,3,4,5,6,7,8,9"], "9 offsets is too many"),
        (["edit", "abc", "--reminders", "1h"], "is not a subscription id"),
    ],
)
def test_bad_value_is_one_line_exit_2(db_url: str, args: list[str], message: str) -> None:
    """A bad option prints one 'error:' line naming the problem and exits 2."""
    result = _cli(db_url, *args)
    assert result.returncode == 2
    line = _only_error_line(result)
    assert line.startswith("error: ")
    assert message in line
    assert result.stdout == ""


def test_unknown_type_refused_once_types_are_loaded(db_url: str) -> None:
    """With LL2's event types cached, an id outside them is refused with a hint."""

    async def load_types() -> None:
        store = await open_store(db_url)
        try:
            await store.save_event_types([(2, "Docking"), (3, "EVA")], datetime.now(UTC))
        finally:
            await store.close()

    asyncio.run(load_types())
    result = _cli(db_url, "add", "--guild", GUILD, "--channel", CHANNEL, "--types", "2,999")
    assert result.returncode == 2
    assert _only_error_line(result) == "error: --types: unknown id 999; known: 2 Docking, 3 EVA"


def test_removing_a_missing_subscription_exits_1(db_url: str) -> None:
    """remove of an id that does not exist says so and exits 1."""
    result = _cli(db_url, "remove", "42")
    assert result.returncode == 1
    assert _only_error_line(result) == "error: no subscription #42"


def test_adding_the_same_subscription_twice_is_refused(db_url: str) -> None:
    """A second identical subscription of one channel would post every alert twice: refused
    with exit 1 naming the existing one, as /spacecast subscribe refuses it; a different
    filter on the same channel is fine."""
    first = _cli(db_url, "add", "--guild", GUILD, "--channel", CHANNEL, "--kinds", "webcast_live")
    assert first.returncode == 0, first.stderr
    again = _cli(db_url, "add", "--guild", GUILD, "--channel", CHANNEL, "--kinds", "webcast_live")
    assert again.returncode == 1
    assert _only_error_line(again) == (
        f"error: channel {CHANNEL} already has this subscription (#1)"
    )
    other = _cli(db_url, "add", "--guild", GUILD, "--channel", CHANNEL, "--kinds", "new_update")
    assert other.returncode == 0, other.stderr
    listed = _cli(db_url, "list", "--format", "json")
    assert [s["id"] for s in json.loads(listed.stdout)] == [1, 2]


def test_reminders_are_added_listed_and_edited(db_url: str) -> None:
    """--reminders on add shows in JSON as minutes, largest first, and as words in text; edit
    changes them and 'none' clears them."""
    added = _cli(db_url, "add", "--guild", GUILD, "--channel", CHANNEL, "--reminders", "10m,1h")
    assert added.returncode == 0, added.stderr
    listed = json.loads(_cli(db_url, "list", "--format", "json").stdout)
    assert listed[0]["reminders"] == [60, 10]
    assert "; reminders: T-1 h, T-10 min" in _cli(db_url, "list").stdout

    edited = _cli(db_url, "edit", "1", "--reminders", "24h")
    assert (edited.returncode, edited.stdout.strip()) == (0, "subscription #1 reminders: T-24 h")
    assert json.loads(_cli(db_url, "list", "--format", "json").stdout)[0]["reminders"] == [1440]

    cleared = _cli(db_url, "edit", "1", "--reminders", "none")
    assert (cleared.returncode, cleared.stdout.strip()) == (0, "subscription #1 reminders: none")
    assert json.loads(_cli(db_url, "list", "--format", "json").stdout)[0]["reminders"] == []
    assert "reminders" not in _cli(db_url, "list").stdout


def test_style_is_added_listed_and_edited(db_url: str) -> None:
    """--style card on add shows as "style": "card" in JSON and "style: card" in text; edit
    switches it back to feed; a bad style is one line naming the option, exit 2 (issue 16)."""
    added = _cli(db_url, "add", "--guild", GUILD, "--channel", CHANNEL, "--style", "Card")
    assert (added.returncode, added.stdout.strip()) == (0, "1")
    assert json.loads(_cli(db_url, "list", "--format", "json").stdout)[0]["style"] == "card"
    assert "; style: card" in _cli(db_url, "list").stdout
    edited = _cli(db_url, "edit", "1", "--style", "feed")
    assert (edited.returncode, edited.stdout.strip()) == (0, "subscription #1 style: feed")
    bad = _cli(db_url, "edit", "1", "--style", "cards")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: --style: unknown style 'cards'; choose feed (a message per alert) or card "
        "(one message per item, edited)"
    ]
    neither = _cli(db_url, "edit", "1")
    assert (neither.returncode, neither.stderr.strip()) == (
        2,
        "error: edit: give --reminders and/or --style",
    )


def test_editing_a_missing_subscription_exits_1(db_url: str) -> None:
    """edit of an id that does not exist says so and exits 1."""
    result = _cli(db_url, "edit", "42", "--reminders", "1h")
    assert result.returncode == 1
    assert _only_error_line(result) == "error: no subscription #42"


def test_negative_provider_is_refused_as_an_id(db_url: str) -> None:
    """--providers -1 is not "not a number": the error says ids are positive whole numbers."""
    result = _cli(db_url, "add", "--guild", GUILD, "--channel", CHANNEL, "--providers", "-1")
    assert result.returncode == 2
    assert _only_error_line(result) == (
        "error: --providers: '-1' is not a valid id (ids are positive whole numbers)"
    )


def _listed_channels(db_url: str) -> list[str]:
    return [s["channel_id"] for s in json.loads(_cli(db_url, "list", "--format", "json").stdout)]


def test_add_several_channels_prints_one_id_each(db_url: str) -> None:
    """--channel repeated and/or comma-separated subscribes each channel, one id per line."""
    one, two, three = "800000000000000001", "800000000000000002", "800000000000000003"
    result = _cli(db_url, "add", "--guild", GUILD, "--channel", one, "--channel", f"{two},{three}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["1", "2", "3"]
    assert _listed_channels(db_url) == [one, two, three]


def test_one_bad_channel_refuses_the_whole_add(db_url: str) -> None:
    """A bad id among several channels is exit 2 and adds none of them."""
    result = _cli(db_url, "add", "--guild", GUILD, "--channel", f"{CHANNEL},abc")
    assert result.returncode == 2
    assert (
        _only_error_line(result)
        == "error: --channel: 'abc' is not a Discord id (a positive number)"
    )
    assert _listed_channels(db_url) == []


def test_repeated_channel_refuses_the_whole_add(db_url: str) -> None:
    """The same channel given twice is a usage error (exit 2), and nothing is added."""
    result = _cli(db_url, "add", "--guild", GUILD, "--channel", CHANNEL, "--channel", CHANNEL)
    assert result.returncode == 2
    assert _only_error_line(result) == f"error: --channel: {CHANNEL} is given twice"
    assert _listed_channels(db_url) == []


def test_existing_twin_among_several_channels_adds_none(db_url: str) -> None:
    """When one channel already has this subscription, the other channels are not added either."""
    assert _cli(db_url, "add", "--guild", GUILD, "--channel", CHANNEL).returncode == 0
    result = _cli(db_url, "add", "--guild", GUILD, "--channel", f"800000000000000009,{CHANNEL}")
    assert result.returncode == 1
    assert _only_error_line(result) == (
        f"error: channel {CHANNEL} already has this subscription (#1); nothing added"
    )
    assert _listed_channels(db_url) == [CHANNEL]
