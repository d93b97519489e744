"""The store's operations, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection, bindparam, select, text

from renvoi.errors import NotFoundError, StoreError
from renvoi.store import accounts, numbers
from renvoi.store.database import Database
from renvoi.store.models import ApiKey, Number
from tests.conftest import Tenant, end_other_sessions, forward


def test_keys_are_stored_only_as_hashes(database: Database) -> None:
    created = accounts.create_account(database, "acme")
    with database.read() as conn:
        stored = conn.execute(select(ApiKey.key_hash)).scalars().all()
        dump = " ".join(str(row) for row in conn.execute(text("SELECT * FROM api_keys")))
    assert stored == [accounts.hash_key(created.api_key)]
    assert created.api_key not in dump
    assert len(created.api_key) >= 3 + 32  # "rv_" and 192 bits in base64


def test_authenticate_and_revoke(database: Database) -> None:
    created = accounts.create_account(database, "acme")
    principal = accounts.principal_of(database, accounts.hash_key(created.api_key))
    assert principal is not None and principal.account_id == created.id
    accounts.revoke_key(database, principal.key_id)
    assert accounts.principal_of(database, accounts.hash_key(created.api_key)) is None
    first = accounts.list_keys(database, created.id)[0].revoked_at
    assert accounts.revoke_key(database, principal.key_id).revoked_at == first


def test_touch_keys_records_last_use(database: Database) -> None:
    created = accounts.create_account(database, "acme")
    key_id = accounts.list_keys(database, created.id)[0].id
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    accounts.touch_keys(database, {key_id: when})
    assert accounts.list_keys(database, created.id)[0].last_used_at == when


def test_times_come_back_in_utc(database: Database) -> None:
    paris = timezone(timedelta(hours=1))
    created = accounts.create_account(database, "acme", now=datetime(2026, 5, 1, 12, tzinfo=paris))
    [record] = accounts.list_accounts(database)
    assert record.id == created.id
    assert record.created_at == datetime(2026, 5, 1, 11, tzinfo=UTC)
    assert record.created_at.tzinfo is not None


def test_naive_datetimes_are_refused(database: Database) -> None:
    """A programming error, mapped like every library error: StoreError, cause kept."""
    with pytest.raises(StoreError) as caught:
        accounts.create_account(database, "acme", now=datetime(2026, 5, 1))
    assert "naive" in str(caught.value.__cause__)


def test_suspension_keeps_the_forwarding(database: Database, tenant: Tenant) -> None:
    forward(database, tenant, "+33757000001", "+33612345678")
    numbers.set_suspended(database, "+33757000001", suspended=True, region="FR")
    record = numbers.set_suspended(database, "+33757000001", suspended=False, region="FR")
    assert (record.status, record.type, record.param) == ("active", 1, "+33612345678")


def test_remove_takes_the_history_and_frees_the_number(database: Database, tenant: Tenant) -> None:
    forward(database, tenant, "+33757000001", "+33612345678")
    numbers.remove_number(database, "+33757000001", region="FR")
    with pytest.raises(NotFoundError):
        numbers.history(database, "+33757000001", region="FR")
    again = numbers.add_number(database, "+33757000001", account_id=tenant.account_id, region="FR")
    assert (again.type, again.param) == (0, None)
    assert numbers.history(database, "+33757000001", region="FR") == []


def test_operations_on_missing_things(database: Database) -> None:
    for operation in (
        lambda: numbers.set_suspended(database, "+33757999999", suspended=True, region="FR"),
        lambda: numbers.remove_number(database, "+33757999999", region="FR"),
        lambda: numbers.get_number(database, "+33757999999", region="FR"),
        lambda: accounts.create_key(database, "acc_nope"),
        lambda: numbers.add_number(database, "+33757000001", account_id="acc_nope", region="FR"),
    ):
        with pytest.raises(NotFoundError):
            operation()


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
