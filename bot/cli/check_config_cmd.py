"""``check-config``: validate settings and show the effective values, secrets masked."""

from __future__ import annotations

import argparse

import yaml

from bot.config import Settings, masked_dump, resolve_config_path


def check_config(args: argparse.Namespace, settings: Settings) -> int:
    """Print where the settings came from and their effective values; exit 0 (they loaded)."""
    path, named = resolve_config_path(args.config)
    origin = str(path) if (named or path.exists()) else "built-in defaults (no config.yaml)"
    print(f"# configuration OK: {origin} (environment overrides applied)")
    print(yaml.safe_dump(masked_dump(settings), sort_keys=False).rstrip())
    return 0
