"""The shared Discord send budget in PostgreSQL: one row every process reserves slots from.

Why a row of ``poll_state`` and not a table of its own, a heartbeat table or advisory locks:

- the budget (:mod:`bot.core.send_budget`, a GCRA) needs exactly one shared value, the next
  free slot, changed atomically. ``SELECT ... FOR UPDATE`` on one ``poll_state`` row serialises
  the reservations of every process, with no schema change and no clock of our own: ``now``
  is the database server's ``clock_timestamp()``, read in the same statement, so processes on
  hosts whose clocks disagree still share one timeline;
- it needs no liveness at all: a process takes slots only when it has something to send, so a
  dead process simply stops taking them (it wastes at most one reservation, about 0.1 s of
  budget) and the living ones get the whole rate at their next reservation. A table of live
  processes with heartbeats (each taking ``rate / n_alive``) would hand a share to processes
  with nothing to send and keep a dead one's share until its heartbeat expired;
- a global 429 is written to the same row (:func:`record_global_429`), so every process's next
  reservation honours it.

The per-process figures for ``/spacecast status`` (:func:`record_share`, :func:`load_shares`)
are advisory rows next to it (``discord:send_share:<owner key>``), written at most every
couple of seconds by a sending process; nothing depends on them being exact.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text

from bot.core.send_budget import BudgetState, Reservation, after_global_429, reserve
from bot.store.repository import Store

BUDGET_KEY = "discord:send_budget"
SHARE_PREFIX = "discord:send_share:"
SHARE_FRESH_SECONDS = 10.0  # a share row older than this belongs to an idle or dead process
SHARE_PRUNE_SECONDS = 300.0

_NOW = "EXTRACT(EPOCH FROM clock_timestamp())::float8"


def encode_state(state: BudgetState) -> str:
    """The row's text form (JSON; floats round-trip exactly)."""
    return json.dumps(
        {
            "tat": state.tat,
            "factor": state.factor,
            "penalty_until": state.penalty_until,
            "global_429s": state.global_429s,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def decode_state(raw: str | None) -> BudgetState:
    """Inverse of :func:`encode_state`; a missing or unreadable row is a fresh budget."""
    if not raw:
        return BudgetState()
    try:
        data = json.loads(raw)
        return BudgetState(
            tat=float(data["tat"]),
            factor=float(data["factor"]),
            penalty_until=float(data["penalty_until"]),
            global_429s=int(data["global_429s"]),
        )
    except (ValueError, KeyError, TypeError):
        return BudgetState()


@dataclass(frozen=True)
class Reserved:
    """A reservation on the database's clock, and that clock's reading when it was made.

    ``local_now`` is the caller's clock read as soon as the database's reading arrived (before
    the write and the commit), so ``slot - db_now + local_now`` puts a slot on the caller's
    clock with an error of one reply's travel, not of the whole transaction.
    """

    reservation: Reservation
    db_now: float
    state: BudgetState
    local_now: float = 0.0


async def reserve_slots(
    store: Store, count: int, rate: float, local_clock: Callable[[], float] | None = None
) -> Reserved:
    """Reserve ``count`` send slots at ``rate`` per second from the shared budget (PostgreSQL).

    One transaction: the row is created if missing, locked ``FOR UPDATE`` (so concurrent
    reservations of all processes queue on it), advanced by
    :func:`bot.core.send_budget.reserve` and written back.
    """
    async with store.transaction() as tx:
        conn = tx.connection
        found = (
            await conn.execute(
                text(f"SELECT value, {_NOW} AS now FROM poll_state WHERE key = :key FOR UPDATE"),
                {"key": BUDGET_KEY},
            )
        ).first()
        if found is None:
            await conn.execute(
                text(
                    "INSERT INTO poll_state (key, value) VALUES (:key, :value)"
                    " ON CONFLICT (key) DO NOTHING"
                ),
                {"key": BUDGET_KEY, "value": encode_state(BudgetState())},
            )
            found = (
                await conn.execute(
                    text(
                        f"SELECT value, {_NOW} AS now FROM poll_state WHERE key = :key FOR UPDATE"
                    ),
                    {"key": BUDGET_KEY},
                )
            ).one()
        local_now = local_clock() if local_clock is not None else 0.0
        db_now = float(found.now)
        state, reservation = reserve(decode_state(found.value), db_now, count, rate)
        await conn.execute(
            text("UPDATE poll_state SET value = :value WHERE key = :key"),
            {"key": BUDGET_KEY, "value": encode_state(state)},
        )
    return Reserved(reservation, db_now, state, local_now)


async def record_global_429(store: Store, retry_after: float) -> BudgetState:
    """Discord answered a global 429: every process's next reservation waits and slows down."""
    async with store.transaction() as tx:
        conn = tx.connection
        found = (
            await conn.execute(
                text(f"SELECT value, {_NOW} AS now FROM poll_state WHERE key = :key FOR UPDATE"),
                {"key": BUDGET_KEY},
            )
        ).first()
        db_now = float(found.now) if found is not None else await _db_now(store)
        state = after_global_429(decode_state(found.value if found else None), db_now, retry_after)
        await conn.execute(
            text(
                "INSERT INTO poll_state (key, value) VALUES (:key, :value)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ),
            {"key": BUDGET_KEY, "value": encode_state(state)},
        )
    return state


async def _db_now(store: Store) -> float:
    async with store.transaction() as tx:
        return float((await tx.connection.execute(text(f"SELECT {_NOW}"))).scalar_one())


async def load_budget(store: Store) -> tuple[BudgetState, float]:
    """The shared budget as it stands, and the database clock (for ``/spacecast status``)."""
    async with store.transaction() as tx:
        found = (
            await tx.connection.execute(
                text(f"SELECT value, {_NOW} AS now FROM poll_state WHERE key = :key"),
                {"key": BUDGET_KEY},
            )
        ).first()
    if found is None:
        return BudgetState(), await _db_now(store)
    return decode_state(found.value), float(found.now)


async def record_share(store: Store, owner_key: int, sends_per_second: float) -> None:
    """Write this process's current send rate (advisory; see the module docstring).

    Also prunes share rows of processes silent for :data:`SHARE_PRUNE_SECONDS`.
    """
    key = f"{SHARE_PREFIX}{owner_key}"
    async with store.transaction() as tx:
        conn = tx.connection
        now = float((await conn.execute(text(f"SELECT {_NOW}"))).scalar_one())
        value = json.dumps({"rate": round(sends_per_second, 3), "at": now})
        await conn.execute(
            text(
                "INSERT INTO poll_state (key, value) VALUES (:key, :value)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ),
            {"key": key, "value": value},
        )
        rows = await conn.execute(
            text("SELECT key, value FROM poll_state WHERE key LIKE :prefix"),
            {"prefix": f"{SHARE_PREFIX}%"},
        )
        stale = [k for k, v in rows if now - _share_at(v) > SHARE_PRUNE_SECONDS]
        for old in stale:
            await conn.execute(text("DELETE FROM poll_state WHERE key = :key"), {"key": old})


def _share_at(raw: str) -> float:
    try:
        return float(json.loads(raw)["at"])
    except (ValueError, KeyError, TypeError):
        return 0.0


async def load_shares(store: Store) -> dict[int, float]:
    """Sends per second of each process that reported within :data:`SHARE_FRESH_SECONDS`."""
    async with store.transaction() as tx:
        conn = tx.connection
        now = float((await conn.execute(text(f"SELECT {_NOW}"))).scalar_one())
        rows = await conn.execute(
            text("SELECT key, value FROM poll_state WHERE key LIKE :prefix"),
            {"prefix": f"{SHARE_PREFIX}%"},
        )
        shares: dict[int, float] = {}
        for key, value in rows:
            try:
                data = json.loads(value)
                if now - float(data["at"]) <= SHARE_FRESH_SECONDS:
                    shares[int(str(key).removeprefix(SHARE_PREFIX))] = float(data["rate"])
            except (ValueError, KeyError, TypeError):
                continue
    return shares
