"""``check-config``: validate settings and show the effective values, secrets masked."""

from __future__ import annotations

import argparse

import yaml

from bot.config import Settings, environment_overrides, masked_dump, resolve_config_path


def check_config(args: argparse.Namespace, settings: Settings) -> int:
    """Print where the settings came from and their effective values; exit 0 (they loaded)."""
    path, named = resolve_config_path(args.config)
    origin = str(path) if (named or path.exists()) else "built-in defaults (no config.yaml)"
    overrides = environment_overrides()
    applied = f" (environment overrides applied: {', '.join(overrides)})" if overrides else ""
    print(f"# configuration OK: {origin}{applied}")
    print(yaml.safe_dump(masked_dump(settings), sort_keys=False).rstrip())
    return 0
