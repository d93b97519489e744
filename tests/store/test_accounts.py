"""Accounts and keys in the store (``store/accounts.py``), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, text

from renvoi.store import accounts
from renvoi.store.database import Database
from renvoi.store.models import ApiKey


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
