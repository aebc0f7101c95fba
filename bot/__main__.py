"""``python -m bot``: the Spacecast command line (same as the ``spacecast`` console script)."""

from bot.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
