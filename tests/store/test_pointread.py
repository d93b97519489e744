"""The request path's look-ups (``PointRead``): the same answer called in a thread and
awaited in the event loop, on the loop's own pool (PostgreSQL) or without one; and a
lost connection replaced without failing the read."""

from __future__ import annotations

import asyncio

import pytest

from renvoi.store import accounts, numbers
from renvoi.store.database import Database
from tests.harness import Tenant, end_other_sessions

A = "+33757000001"


def test_awaited_reads_answer_as_called_ones(database: Database, tenant: Tenant) -> None:
    key_hash = accounts.hash_key(tenant.key)

    async def main(pooled: bool) -> tuple[object, object, object]:
        if pooled:
            await database.open_async()
        try:
            return (
                await accounts.principal_of.read(database, key_hash),
                await numbers.record_of.read(database, A),
                await numbers.record_of.read(database, "+33757999999"),
            )
        finally:
            await database.close_async()

    called = (
        accounts.principal_of(database, key_hash),
        numbers.record_of(database, A),
        None,
    )
    assert called[0] is not None and called[1] is not None
    assert asyncio.run(main(pooled=True)) == called
    assert asyncio.run(main(pooled=False)) == called


def test_a_lost_connection_is_replaced(database: Database, tenant: Tenant) -> None:
    """The server ends every other session (as a restart would, without the wait): the
    next read on a dead connection is tried again on a new one and answers."""
    if database.is_sqlite:
        pytest.skip("SQLite has no connection to lose")

    assert numbers.record_of(database, A) is not None  # this thread's connection made
    end_other_sessions(database)
    assert numbers.record_of(database, A) is not None

    async def main() -> object:
        await database.open_async()
        try:
            await numbers.record_of.read(database, A)  # the pool's connection made
            end_other_sessions(database)
            return await numbers.record_of.read(database, A)
        finally:
            await database.close_async()

    assert asyncio.run(main()) is not None
