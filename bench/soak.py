"""Soak: the real bot, SIGKILLed at random, against a faulty loopback LL2 and Discord.

    python bench/soak.py [--minutes 10] [--backend sqlite|postgres] [--seed N] [--json]
                         [--drain-seconds 90] [--no-pg-restart] [--ll2-limit 15]

The bot runs as a child process, ``python -m tests.scaleout.harness``: the real composition root
(:class:`bot.services.app.AppServices`: planner-driven polling, outbox delivery, poller lease)
with a :class:`discord.Client` logged in over REST only. ``spacecast run`` itself cannot be used
here: it needs a Discord gateway (websocket), which the loopback Discord does not have; the
harness exercises everything but the gateway and the slash commands.

What happens (every random choice is drawn from ``--seed``):

1. A fresh database (SQLite file in the work directory, or ``spacecast_soak`` on PostgreSQL,
   dropped and re-created) gets 20 subscribed channels in 10 guilds, every kind of every source.
2. A loopback LL2 (:class:`soak_support.SoakLL2`) serves events and launches cloned from
   ``tests/fixtures``, all within the planner's hot window, enforces LL2's limit and injects
   500s, slow answers, garbage and truncated bodies and 429s with ``Retry-After``. A driver
   edits the items every 5-20 s: webcast flips, date slips, new updates, now and then a new item.
3. A loopback Discord (:class:`soak_support.FaultyDiscord`) honours nonces like Discord and
   injects 500s, lost answers (stored, then 500) and 429s; one channel turns 403 partway.
4. The bot is SIGKILLed every 1-3 minutes and restarted at once (about half of the kills wait
   up to 30 s for a message to arrive and strike before the bot hears Discord's answer, so a
   row is left unsettled with its message already posted); on PostgreSQL the server is
   restarted once mid-run (``--no-pg-restart`` skips that; it is brought back up at the end in
   any case, even if the soak fails).
5. Then faults and edits stop and deliveries drain (``--drain-seconds`` at most; it ends
   earlier once no row has been pending for 10 s, then LL2 is closed with a long 429 and the
   outbox must stay settled 10 s more, so a last poll cannot leave rows unsent), and the bot
   gets a clean SIGTERM.
6. The store's outbox and change log are compared with what the loopback Discord holds
   (:mod:`soak_report`). Exit 0 when nothing was lost, nothing doubled and no sliding hour held
   more than ``--ll2-limit`` LL2 requests (and no bot exited by itself or uncleanly on SIGTERM,
   and LL2 saw no more requests than the bot's ``request_log`` holds); else 1 (2 for a soak
   that could not run).

With LL2's real limit (15 an hour, the default) the planner reads about once every 4 minutes
after its baseline, so a 10-minute soak sees a handful of polls, each revealing several edits.
``--ll2-limit`` raises LL2's limit and the bot's budget together, for a busier soak.

Every socket is on 127.0.0.1. Logs of each bot incarnation and the SQLite database stay in the
work directory printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from soak_report import Figures, compare, read_store, render_text
from soak_support import DiscordFaults, Driver, FaultyDiscord, LL2Faults, SoakLL2, build_items
from sqlalchemy import func, select

from bot.store import create_engine, open_store, schema
from tests.scaleout.fakes import serve_ll2

log = logging.getLogger("soak")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/spacecast_soak"
CHANNELS = 20
GUILDS = 10
MAX_INCARNATIONS = 200  # bounds the restart loop whatever goes wrong
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
SETTLED_FOR = 10.0  # the drain ends once no row has been pending this long
FINISHED = ("sent", "failed", "cancelled", "expired")  # outbox statuses nothing comes after


@dataclass
class Incarnation:
    """One bot process."""

    number: int
    process: asyncio.subprocess.Process
    log_path: Path
    started: float
    expected_exit: bool = False

    @property
    def label(self) -> str:
        return f"p{self.number}"


@dataclass
class Supervisor:
    """Starts, SIGKILLs and restarts the bot; notices (and survives) unexpected exits."""

    db_url: str
    ll2: SoakLL2
    discord_url: str
    tokens: list[str]
    workdir: Path
    ll2_limit: int
    quiet_minutes: int
    current: Incarnation | None = None
    kills: int = 0
    unexpected_exits: int = 0
    ready_after_restart: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # fail the soak
    notes: list[str] = field(default_factory=list)  # reported only
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _watch: asyncio.Task[None] | None = None
    _count: int = 0

    def _env(self, number: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPACECAST_")}
        env.update(
            {
                "SPACECAST_DATABASE__URL": self.db_url,
                "SPACECAST_LL2__BASE_URL": self.ll2.base_url(f"p{number}"),
                "SPACECAST_LL2__REQUESTS_PER_HOUR": str(self.ll2_limit),
                "SPACECAST_LL2__TIMEOUT_SECONDS": "4",
                "SPACECAST_DISCORD__API_BASE_URL": self.discord_url,
                "SPACECAST_DISCORD__TOKEN": self.tokens[number],
                "SPACECAST_DELIVERY__QUIET_PERIOD_MINUTES": str(self.quiet_minutes),
                "SPACECAST_DELIVERY__SHUTDOWN_GRACE_SECONDS": "5",
                "SPACECAST_HEALTH__HEARTBEAT_FILE": str(self.workdir / "heartbeat"),
                "SPACECAST_LOGGING__LEVEL": "INFO",
                "SPACECAST_POLL_TICK_SECONDS": "2",
                "SPACECAST_LEADER_RETRY_SECONDS": "2",
                "SPACECAST_LEADER_HEARTBEAT_SECONDS": "2",
                "PYTHONPATH": str(ROOT),
            }
        )
        return env

    async def start(self) -> None:
        """Start the first incarnation and wait for READY."""
        async with self._lock:
            await self._spawn_ready()
        self._watch = asyncio.create_task(self._watch_exits(), name="watch-bot")

    async def _spawn_ready(self) -> float:
        # Retries when the bot cannot start (PostgreSQL restarting, say); bounded.
        for _ in range(10):
            if self._count >= MAX_INCARNATIONS:
                raise RuntimeError("too many bot incarnations")
            number = self._count
            self._count += 1
            log_path = self.workdir / f"bot-{number:03d}.log"
            with log_path.open("wb") as log_file:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "tests.scaleout.harness",
                    cwd=self.workdir, env=self._env(number),
                    stdout=asyncio.subprocess.PIPE, stderr=log_file,
                )  # fmt: skip
            started = time.monotonic()
            incarnation = Incarnation(number, process, log_path, started)
            self.current = incarnation
            if await _ready(process):
                took = time.monotonic() - started
                log.info("bot %s ready in %.1fs (pid %d)", incarnation.label, took, process.pid)
                return took
            incarnation.expected_exit = True
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            # Reported, not failed: a start while PostgreSQL restarts may fail, and the next
            # attempt is what a container's restart policy would do.
            self.notes.append(f"bot {incarnation.label} did not start (see {log_path.name})")
            log.warning("bot %s did not start; retrying", incarnation.label)
            await asyncio.sleep(2)
        raise RuntimeError("the bot would not start")

    async def kill_and_restart(self) -> None:
        """SIGKILL the running bot and start the next one at once."""
        async with self._lock:
            current = self.current
            if current is not None and current.process.returncode is None:
                current.expected_exit = True
                current.process.kill()
                await current.process.wait()
                self.kills += 1
                log.info("SIGKILLed bot %s", current.label)
            self.ready_after_restart.append(round(await self._spawn_ready(), 1))

    async def _watch_exits(self) -> None:
        # A bot that exits by itself is a finding: record it and start another.
        while True:
            current = self.current
            if current is None:
                return
            await current.process.wait()
            async with self._lock:
                if current.expected_exit or current is not self.current:
                    if current is self.current:
                        return  # stop() was called
                    continue
                self.unexpected_exits += 1
                self.problems.append(
                    f"bot {current.label} exited by itself with {current.process.returncode} "
                    f"(see {current.log_path.name})"
                )
                log.warning("bot %s exited unexpectedly; restarting", current.label)
                try:
                    await self._spawn_ready()
                except RuntimeError as exc:
                    self.problems.append(f"no bot after an unexpected exit: {exc}")
                    return

    async def stop(self) -> None:
        """SIGTERM the running bot and wait for a clean exit (SIGKILL after a timeout)."""
        async with self._lock:
            current = self.current
            if current is None or current.process.returncode is not None:
                return
            current.expected_exit = True
            current.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    code = await current.process.wait()
            except TimeoutError:
                self.problems.append(f"bot {current.label} ignored SIGTERM for {STOP_TIMEOUT}s")
                current.process.kill()
                code = await current.process.wait()
            if code != 0:
                self.problems.append(f"bot {current.label} exited with {code} on SIGTERM")
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch

    def kill_now(self) -> None:
        """Last resort on the way out: SIGKILL whatever runs (no waiting)."""
        if self.current is not None and self.current.process.returncode is None:
            self.current.expected_exit = True
            with contextlib.suppress(ProcessLookupError):
                self.current.process.kill()


async def _ready(process: asyncio.subprocess.Process) -> bool:
    assert process.stdout is not None
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            while line := await process.stdout.readline():
                if line.strip() == b"READY":
                    return True
    except TimeoutError:
        return False
    return False


# -- PostgreSQL ---------------------------------------------------------------------------------


def _pg_version() -> str:
    versions = sorted(os.listdir("/etc/postgresql"), key=lambda v: float(v))
    if not versions:
        raise RuntimeError("no PostgreSQL cluster under /etc/postgresql")
    return versions[-1]


async def _pg_ctl(action: str, limit: float = 90.0) -> int:
    process = await asyncio.create_subprocess_exec(
        "pg_ctlcluster", "--skip-systemctl-redirect", _pg_version(), "main", action,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(limit):
            return await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
        return -1


async def ensure_pg_up() -> None:
    """Start the cluster if it is not running (``status`` exits non-zero when it is down)."""
    if await _pg_ctl("status") != 0:
        log.warning("PostgreSQL is down; starting it")
        await _pg_ctl("start")


async def _pg_admin(url: str, sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(dsn.render_as_string(hide_password=False), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fresh_pg_database(url: str) -> None:
    """Drop and re-create the soak's database."""
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"unexpected database name {name!r}")
    await _pg_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _pg_admin(url, f'CREATE DATABASE "{name}"')


# -- the run ------------------------------------------------------------------------------------


async def subscribe(url: str, rng: random.Random) -> list[int]:
    """Migrate the store and subscribe :data:`CHANNELS` channels; return their ids."""
    store = await open_store(url)
    channels = []
    try:
        for n in range(CHANNELS):
            guild = 1_500_000_000_000_000_000 + (n % GUILDS) * (1 << 22)
            channel = 1_600_000_000_000_000_000 + n
            role = 1_700_000_000_000_000_000 + n if rng.random() < 0.3 else None
            await store.add_subscription(guild, channel, role_id=role)
            channels.append(channel)
    finally:
        await store.close()
    return channels


async def pending_rows(url: str) -> int:
    """How many outbox rows are not finished: any status but the final ones, read as text, so
    an in-flight status the outbox may gain (a claim, say) keeps the drain waiting too."""
    engine = create_engine(url)
    o = schema.outbox
    try:
        async with engine.connect() as conn:
            stmt = select(func.count()).select_from(o).where(o.c.status.not_in(FINISHED))
            return int((await conn.execute(stmt)).scalar_one())
    finally:
        await engine.dispose()


async def _settled(url: str, deadline: float) -> bool:
    """Wait until no row has been pending for :data:`SETTLED_FOR` s; False at ``deadline``."""
    settled_since: float | None = None
    while time.monotonic() < deadline:
        try:
            pending = await pending_rows(url)
        except Exception as exc:  # a database still restarting: keep waiting
            log.info("drain: cannot count pending rows yet (%s)", type(exc).__name__)
            pending = -1
        if pending == 0:
            settled_since = settled_since or time.monotonic()
            if time.monotonic() - settled_since >= SETTLED_FOR:
                return True
        else:
            settled_since = None
        await asyncio.sleep(2)
    return False


async def drain(url: str, ll2: SoakLL2, limit: float) -> bool:
    """Let deliveries drain for at most ``limit`` s; True if the outbox settled in time.

    Once nothing is pending, LL2 is closed (429 for an hour) and the outbox must stay settled
    a while longer: a poll that was answered just before cannot leave rows behind that the bot
    has no time to send before its SIGTERM.
    """
    deadline = time.monotonic() + limit
    settled = await _settled(url, deadline)
    ll2.closed = True
    return await _settled(url, deadline) and settled


def schedule(rng: random.Random, run_seconds: float) -> list[float]:
    """SIGKILL moments: every 60-180 s from the start, within the run."""
    moments: list[float] = []
    at = 0.0
    while True:
        at += rng.uniform(60, 180)
        if at >= run_seconds:
            return moments
        moments.append(at)


async def chaos(
    supervisor: Supervisor,
    discord: FaultyDiscord,
    dead_channel: int,
    args: argparse.Namespace,
    rng: random.Random,
    figures: Figures,
    started: float,
) -> None:
    """The run's timed events, at offsets from ``started`` (monotonic): SIGKILLs (some timed
    to land mid-delivery), the dead channel, the PostgreSQL restart."""
    run_seconds = args.minutes * 60
    events: list[tuple[float, str]] = [(t, "kill") for t in schedule(rng, run_seconds)]
    events.append((rng.uniform(0.3, 0.7) * run_seconds, "dead-channel"))
    if args.backend == "postgres" and not args.no_pg_restart:
        events.append((rng.uniform(0.35, 0.65) * run_seconds, "pg-restart"))
    for at, what in sorted(events):
        await asyncio.sleep(max(0.0, at - (time.monotonic() - started)))
        if what == "kill":
            # Every other kill, on average, waits (up to 30 s) for a message to arrive and
            # strikes at once: the loopback has stored it, the bot has not had the answer, so
            # the row is unsettled and only its nonce can keep the resend from doubling it.
            if rng.random() < 0.5 and await discord.next_message(30.0):
                figures.kills_mid_delivery += 1
            await supervisor.kill_and_restart()
        elif what == "dead-channel":
            log.info("channel %d now answers 403 50013", dead_channel)
            discord.fail(dead_channel, 403, 50013)
        else:
            log.info("restarting PostgreSQL")
            began = time.monotonic()
            code = await _pg_ctl("restart")
            figures.pg_restarts += 1
            log.info("PostgreSQL restart exited %d after %.1fs", code, time.monotonic() - began)
            if code != 0:
                figures.problems.append(f"pg_ctlcluster restart exited with {code}")


async def run(args: argparse.Namespace, workdir: Path) -> Figures:
    """One soak; returns its figures."""
    seed = args.seed
    figures = Figures(backend=args.backend, seed=seed, minutes=args.minutes, workdir=str(workdir))
    rng = {name: random.Random(f"{seed}:{name}") for name in ("items", "ll2", "dc", "edit", "run")}
    if args.backend == "postgres":
        db_url = args.pg_url
        await fresh_pg_database(db_url)
    else:
        db_url = f"sqlite+aiosqlite:///{workdir / 'soak.db'}"
    channels = await subscribe(db_url, rng["run"])
    dead_channel = rng["run"].choice(channels)
    figures.dead_channel = dead_channel
    events, launches = build_items(datetime.now(UTC), rng["items"], 6, 6)
    tokens = [f"soak-token-{n}" for n in range(MAX_INCARNATIONS)]
    ll2 = SoakLL2(events=events, launches=launches, request_limit=args.ll2_limit)
    ll2.faults, ll2.rng = LL2Faults(), rng["ll2"]
    discord = FaultyDiscord(tokens, faults=DiscordFaults(), rng=rng["dc"])
    stop_edits = asyncio.Event()
    async with serve_ll2(ll2), discord:
        supervisor = Supervisor(
            db_url, ll2, discord.base_url, tokens, workdir, args.ll2_limit, args.quiet_minutes
        )
        try:
            await supervisor.start()
            started = time.monotonic()
            driver = Driver(ll2, rng["edit"])
            edits = asyncio.create_task(driver.run(stop_edits), name="driver")
            await chaos(supervisor, discord, dead_channel, args, rng["run"], figures, started)
            remaining = args.minutes * 60 - (time.monotonic() - started)
            await asyncio.sleep(max(0.0, remaining))
            stop_edits.set()
            await edits
            figures.mutations = dict(driver.applied)
            # Let the bot recover: no more random faults (the dead channel stays dead).
            ll2.faults_enabled = discord.faults_enabled = False
            log.info("run over; draining (at most %ss)", args.drain_seconds)
            began = time.monotonic()
            settled = await drain(db_url, ll2, args.drain_seconds)
            took = time.monotonic() - began
            log.info("drain %s after %.0fs; stopping the bot", "done" if settled else "cut", took)
            figures.drain_s = round(took, 1)
            await supervisor.stop()
        finally:
            supervisor.kill_now()
        figures.kills = supervisor.kills
        figures.unexpected_exits = supervisor.unexpected_exits
        figures.ready_after_restart_s = supervisor.ready_after_restart
        figures.problems += supervisor.problems
        figures.notes += supervisor.notes
        compare(await read_store(db_url), discord, ll2, figures)
    return figures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="run time before the drain")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--drain-seconds", type=float, default=90.0, help="longest final drain")
    parser.add_argument("--no-pg-restart", action="store_true", help="do not restart PostgreSQL")
    parser.add_argument("--ll2-limit", type=int, default=15, help="LL2's hourly limit")
    parser.add_argument(
        "--quiet-minutes", type=int, default=1, help="delivery.quiet_period_minutes of the bot"
    )
    parser.add_argument("--pg-url", default=os.environ.get("SPACECAST_SOAK_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--workdir", type=Path, default=None, help="default: a new temp folder")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.drain_seconds < 0 or args.ll2_limit <= 0:
        parser.error("--minutes and --ll2-limit must be positive, --drain-seconds not negative")
    return args


async def main_async(args: argparse.Namespace) -> int:
    """Run the soak, print the figures, always leave PostgreSQL running."""
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="spacecast-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        figures = await run(args, workdir)
    except Exception:
        log.exception("the soak could not run; logs in %s", workdir)
        return 2
    finally:
        if args.backend == "postgres":
            await ensure_pg_up()
    if args.json:
        print(json.dumps(figures.as_json(), indent=2))
    else:
        print(render_text(figures))
    return 0 if figures.ok else 1


def main() -> int:
    """Entry point."""
    args = parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s soak %(message)s", stream=sys.stderr
    )
    try:
        return asyncio.run(main_async(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("soak interrupted", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
