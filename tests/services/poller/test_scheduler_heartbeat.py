"""The heartbeat a standby process writes proves it can still reach its database."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from bot.services.scheduler import BotScheduler
from bot.store import open_store


async def _standby() -> bool:
    return False


async def test_standby_heartbeat_needs_the_database(tmp_path: Path) -> None:
    """A standby touches the heartbeat while its database answers, and not once it fails."""
    heartbeat = tmp_path / "hb"
    settings = Settings.model_validate({"health": {"heartbeat_file": str(heartbeat)}})
    db = tmp_path / "s.db"
    store = await open_store(f"sqlite+aiosqlite:///{db}")
    # The poll loop is never consulted by a standby, so none is needed here.
    scheduler = BotScheduler(None, store, settings, may_poll=_standby)  # type: ignore[arg-type]
    await scheduler.poll_job()
    assert heartbeat.exists()
    heartbeat.unlink()

    async with store.engine.begin() as conn:  # break the database under the running process
        await conn.exec_driver_sql("DROP TABLE poll_state")
    await scheduler.poll_job()
    assert not heartbeat.exists()
    await store.close()
