"""Claim owners: on PostgreSQL a claim is free the moment its owner's session is gone."""

from __future__ import annotations

from datetime import timedelta

import asyncpg  # type: ignore[import-untyped]
import pytest

from bot.services.delivery.owner import FileOwner, LockedOwner
from bot.store import Store
from tests.store.dbutil import _asyncpg_dsn, pg_url
from tests.store.samples import T0, outbox_row


@pytest.fixture
def pg_store(store: Store) -> Store:
    """The store, PostgreSQL only."""
    if store.dialect_name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's")
    return store


async def test_a_live_owners_claims_wait_for_their_lease(pg_store: Store) -> None:
    """Rows claimed by a live owner are not claimed by anyone else before the lease ends."""
    owner = LockedOwner(pg_store)
    try:
        await owner.start(T0)
        await pg_store.enqueue([outbox_row("a"), outbox_row("b")])
        claimed = await pg_store.claim_due(T0, 10, owner=await owner.ensure())
        assert len(claimed) == 2
        assert await pg_store.claim_due(T0 + timedelta(seconds=59), 10, owner=1) == []
    finally:
        await owner.close()


async def test_a_dead_owners_claims_are_free_at_once(pg_store: Store) -> None:
    """When the owner's session ends (a killed process), its claims are claimable at once."""
    owner = LockedOwner(pg_store)
    await owner.start(T0)
    await pg_store.enqueue([outbox_row("a")])
    (claimed,) = await pg_store.claim_due(T0, 10, owner=await owner.ensure())
    # Kill the owner's backend from outside, as a SIGKILLed process's socket would.
    conn = owner._session._conn
    assert conn is not None
    pid = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
    admin = await asyncpg.connect(_asyncpg_dsn(pg_url()))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    (again,) = await pg_store.claim_due(T0 + timedelta(seconds=1), 10, owner=2)
    assert again.id == claimed.id
    assert again.attempts == 2
    await owner.close()


async def test_an_owner_whose_session_died_registers_again_with_its_key(pg_store: Store) -> None:
    """ensure() notices a lost session and takes the same key again, so its claims stay its."""
    owner = LockedOwner(pg_store)
    try:
        await owner.start(T0)
        key = owner.key
        await owner._session.close()  # the session is gone (a database restart, say)
        assert await owner.ensure() == key
        await pg_store.enqueue([outbox_row("a")])
        assert len(await pg_store.claim_due(T0, 10, owner=key)) == 1
        assert await pg_store.claim_due(T0 + timedelta(seconds=1), 10, owner=3) == []
    finally:
        await owner.close()


async def test_file_owner_start_takes_back_a_crashed_starts_claims(store: Store) -> None:
    """On start, the SQLite owner makes rows a previous start had claimed due at once."""
    await store.enqueue([outbox_row("a")])
    await store.claim_due(T0, 10, owner=777)
    owner = FileOwner(store)
    await owner.start(T0 + timedelta(seconds=2))
    (again,) = await store.claim_due(T0 + timedelta(seconds=2), 10, owner=owner.key)
    assert again.dedup_key == "a"
