"""The CLI as an operator meets it: a real subprocess, its exit code and its one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SPACECAST_")}
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_example_exits_zero(tmp_path: Path) -> None:
    """check-config accepts config.example.yaml and prints the effective settings."""
    result = _run("check-config", "--config", str(ROOT / "config.example.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "requests_per_hour: 15" in result.stdout


def test_check_config_masks_token(tmp_path: Path) -> None:
    """The token given through the environment is shown masked."""
    result = _run("check-config", cwd=tmp_path, env={"SPACECAST_DISCORD__TOKEN": "tok-abcdef123"})
    assert result.returncode == 0
    assert "tok-abcdef123" not in result.stdout + result.stderr
    assert "token: '**********'" in result.stdout


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ll2:\n  requests_per_hour: -3\n", "ll2.requests_per_hour: must be a positive integer"),
        ("ll2:\n  bogus: 1\n", "ll2.bogus: unknown key"),
        ("ll2: [\n", "unreadable YAML"),
        ("logging:\n  level: 7\n", "logging.level:"),
    ],
)
def test_bad_config_one_line_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    """A bad config prints one line naming file and key, exits 2, and shows no traceback."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    result = _run("check-config", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {cfg}: {expected}")
    assert "Traceback" not in result.stderr


def test_missing_named_config_exit_2(tmp_path: Path) -> None:
    """--config naming a missing file fails clearly."""
    result = _run("check-config", "--config", "absent.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: absent.yaml: file not found"


def test_run_without_token_exit_2(tmp_path: Path) -> None:
    """run without a token says which key is missing."""
    result = _run("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "discord.token: is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_subcommand_exit_2(tmp_path: Path) -> None:
    """argparse usage errors exit 2."""
    result = _run("launch-rockets", cwd=tmp_path)
    assert result.returncode == 2


def test_health_without_heartbeat_fails(tmp_path: Path) -> None:
    """health reports unhealthy when no heartbeat file exists."""
    result = _run("health", cwd=tmp_path)
    assert result.returncode == 1
    assert "no heartbeat" in result.stderr


def test_health_with_fresh_heartbeat_passes(tmp_path: Path) -> None:
    """health passes when the heartbeat was just touched."""
    (tmp_path / "spacecast.heartbeat").write_text("")
    result = _run("health", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--config", "absent.yaml"],
        ["watch", "--once", "--config", "absent.yaml"],
        ["check-config", "--config", "absent.yaml"],
        ["sync-commands", "--config", "absent.yaml"],
        ["health", "--config", "absent.yaml"],
        ["subscriptions", "--config", "absent.yaml", "list"],
        ["subscriptions", "list", "--config", "absent.yaml"],
        ["subscriptions", "add", "--guild", "7", "--channel", "8", "--config", "absent.yaml"],
        ["subscriptions", "edit", "1", "--reminders", "1h", "--config", "absent.yaml"],
        ["subscriptions", "remove", "1", "--config", "absent.yaml"],
        ["--config", "absent.yaml", "health"],
    ],
    ids=" ".join,
)
def test_every_command_reads_config_wherever_it_is_given(tmp_path: Path, args: list[str]) -> None:
    """--config is honoured before or after the subcommand (and its action), not ignored."""
    result = _run(*args, cwd=tmp_path)
    assert (result.returncode, result.stderr.strip()) == (2, "error: absent.yaml: file not found")


def test_config_after_the_action_is_applied(tmp_path: Path) -> None:
    """subscriptions list --config X uses the database X names."""
    cfg = tmp_path / "other.yaml"
    cfg.write_text(f"database:\n  url: sqlite+aiosqlite:///{tmp_path / 'other.db'}\n")
    result = _run("subscriptions", "list", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "other.db").exists()
    assert not (tmp_path / "spacecast.db").exists()


def test_check_config_mentions_overrides_only_when_there_are_some(tmp_path: Path) -> None:
    """Without SPACECAST_<SECTION>__<KEY> variables, check-config claims no overrides."""
    result = _run("check-config", cwd=tmp_path, env={"SPACECAST_POLL_TICK_SECONDS": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "# configuration OK: built-in defaults (no config.yaml)"
    )


def test_check_config_names_the_overrides_applied(tmp_path: Path) -> None:
    """An override given as a string is applied and named in the heading."""
    result = _run("check-config", cwd=tmp_path, env={"SPACECAST_LL2__REQUESTS_PER_HOUR": "30"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "# configuration OK: built-in defaults (no config.yaml)"
        " (environment overrides applied: ll2.requests_per_hour)"
    )
    assert "requests_per_hour: 30" in result.stdout


def test_bool_for_an_integer_key_is_refused_by_check_config(tmp_path: Path) -> None:
    """requests_per_hour: true is one error line and exit 2, not a budget of 1."""
    cfg = tmp_path / "config.yaml"
    cfg.write_text("ll2:\n  requests_per_hour: true\n")
    result = _run("check-config", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {cfg}: ll2.requests_per_hour: must be an integer, not true/false"
    )


def _imported(*args: str, cwd: Path) -> set[str]:
    """Top-level packages a real ``python -X importtime -m bot ARGS`` run loaded."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SPACECAST_")}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", *args],
        cwd=cwd, env=base, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line]
    return {name.split(".")[0] for name in lines}


HEAVY = {"discord", "httpx", "apscheduler", "prometheus_client", "aiohttp"}


@pytest.mark.parametrize("args", [["health"], ["check-config"]], ids=" ".join)
def test_light_commands_import_no_bot_machinery(tmp_path: Path, args: list[str]) -> None:
    """health and check-config load neither Discord, the LL2 client nor the store."""
    (tmp_path / "spacecast.heartbeat").write_text("")
    assert _imported(*args, cwd=tmp_path) & (HEAVY | {"sqlalchemy"}) == set()


def test_subscriptions_imports_the_store_only(tmp_path: Path) -> None:
    """subscriptions list loads the store, not Discord, the LL2 client or the scheduler."""
    imported = _imported("subscriptions", "list", cwd=tmp_path)
    assert "sqlalchemy" in imported
    assert imported & HEAVY == set()
