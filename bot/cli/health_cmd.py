"""``health``: the Docker HEALTHCHECK. The running bot touches a heartbeat file after every
successful scheduler tick; a stale or missing file means the process is wedged or dead. The file
names the process's role (``poller`` or ``standby``), which the healthy line shows."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bot.config import Settings


def health(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when the heartbeat is younger than ``health.max_age_seconds``, else 1."""
    path = Path(settings.health.heartbeat_file)
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        print(f"unhealthy: no heartbeat at {path}", file=sys.stderr)
        return 1
    if age > settings.health.max_age_seconds:
        print(
            f"unhealthy: heartbeat {age:.0f}s old (limit {settings.health.max_age_seconds}s)",
            file=sys.stderr,
        )
        return 1
    print(f"healthy: heartbeat {age:.0f}s old{_role(path)}")
    return 0


def _role(path: Path) -> str:
    # The scheduler writes "poller" or "standby" (a sharded deployment polls from one process).
    try:
        role = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" ({role})" if role in ("poller", "standby") else ""
