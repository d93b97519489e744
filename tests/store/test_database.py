"""The database's transactions and connections (``store/database.py``)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Connection, bindparam, select, text

from renvoi.store.database import Database
from renvoi.store.models import Number
from tests.harness import Tenant, end_other_sessions


def test_a_change_after_the_server_ended_the_pools_connections_succeeds(
    database: Database, tenant: Tenant
) -> None:
    """Pooled connections the server has ended (a restart) are replaced at checkout,
    in the threads' pool and in the event loops' two (the engine's for changes in a
    transaction, the driver's for the unlocked change), and a worker thread's own,
    without failing the change."""
    if database.is_sqlite:
        pytest.skip("SQLite has no connection to lose")
    touch = text("UPDATE numbers SET updated_at = updated_at WHERE e164 = :e164")
    # ``write_one_async`` is never tried again (it may have committed): a dead
    # connection must not be handed to it at all.
    found = select(Number.id).where(Number.e164 == bindparam("e164"))

    def work(conn: Connection) -> None:
        database.execute(conn, touch, {"e164": tenant.numbers[0]})

    async def write_one_twice() -> None:
        assert await database.write_one_async(found, {"e164": tenant.numbers[0]})
        end_other_sessions(database)
        assert await database.write_one_async(found, {"e164": tenant.numbers[0]})

    with database.write() as conn:  # the pool's connection made
        work(conn)
    end_other_sessions(database)
    with database.write() as conn:
        work(conn)

    async def main() -> None:
        await database.open_async()
        try:
            await database.write_async(work)
            end_other_sessions(database)
            await database.write_async(work)
            await write_one_twice()  # on the loop's pool
        finally:
            await database.close_async()

    asyncio.run(main())
    asyncio.run(write_one_twice())  # no pool in this loop: in a worker thread
