"""The calendar planner's cost per guild, as the job pays it every 10 s tick.

    python bench/bench_calendar_plan.py [--items 300] [--guilds 1000]

``--items`` upcoming launches an hour apart (LL2's upcoming lists hold a few hundred), one
guild's calendar on defaults (7 days, 10 events) already in step; each guild's plan is made
``--guilds`` times, from the plain item list (indexed inside every call) and from one
:class:`bot.core.schedule.ItemIndex` built once (what :class:`bot.services.calendar.CalendarJob`
does). Prints milliseconds per guild and the CPU a tick of ``--guilds`` guilds costs.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.schedule import CalendarSettings, apply_plan, index_items, plan_calendar  # noqa: E402
from tests.core.reminders.support import launch_at  # noqa: E402

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def main() -> None:
    """Time both ways side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--guilds", type=int, default=1000)
    args = parser.parse_args()
    items = [launch_at(NOW + timedelta(hours=i + 1), item_id=f"l-{i}") for i in range(args.items)]
    settings = CalendarSettings(guild_id=1)
    state = apply_plan([], plan_calendar(items, settings, [], NOW))
    started = time.perf_counter()
    index = index_items(items)
    built = time.perf_counter() - started
    for label, given in (("item list", items), ("one index", index)):
        started = time.perf_counter()
        for _ in range(args.guilds):
            assert plan_calendar(given, settings, state, NOW).actions == ()
        per_guild = (time.perf_counter() - started) / args.guilds
        print(
            f"{label}: {per_guild * 1000:.3f} ms per guild, "
            f"{per_guild * args.guilds:.2f} s a tick for {args.guilds} guilds"
        )
    print(f"(building the index once: {built * 1000:.2f} ms)")


if __name__ == "__main__":
    main()
