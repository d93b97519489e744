"""The operator's numbers in the store (``store/numbers.py``), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from renvoi.errors import NotFoundError
from renvoi.store import accounts, numbers
from renvoi.store.database import Database
from tests.harness import Tenant, forward


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
