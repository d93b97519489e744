"""Accounts and keys in the store (``store/accounts.py``), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from renvoi.errors import ConflictError, InvalidValueError, NotFoundError
from renvoi.store import accounts
from renvoi.store.database import Database
from renvoi.store.models import ApiKey
from renvoi.store.records import RotatedKey


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


def test_a_rotated_key_works_until_its_grace_is_over(database: Database) -> None:
    created = accounts.create_account(database, "acme")
    old = accounts.list_keys(database, created.id)[0]
    at = datetime.now(UTC) - timedelta(hours=2)
    rotated = accounts.rotate_key(database, old.id, grace=3600, now=at)
    assert (rotated.replaces, rotated.account_id) == (old.id, created.id)
    assert rotated.expires_at == at + timedelta(hours=1)
    # Both keys speak for the account; the old one says until when.
    before = accounts.principal_of(database, accounts.hash_key(created.api_key))
    after = accounts.principal_of(database, accounts.hash_key(rotated.api_key))
    assert before is not None and before.expires_at == rotated.expires_at
    assert after is not None and (after.account_id, after.expires_at) == (created.id, None)
    # Past the grace, the old key's record shows it revoked then.
    listed = {key.id: key for key in accounts.list_keys(database, created.id)}
    assert listed[old.id].revoked_at == rotated.expires_at  # an hour ago
    assert (listed[rotated.id].replaces, listed[rotated.id].revoked_at) == (old.id, None)


def test_a_key_in_its_grace_is_listed_live_and_can_be_revoked_at_once(
    database: Database,
) -> None:
    created = accounts.create_account(database, "acme")
    old = accounts.list_keys(database, created.id)[0]
    rotated = accounts.rotate_key(database, old.id)
    listed = accounts.list_keys(database, created.id)[0]
    assert (listed.revoked_at, listed.expires_at) == (None, rotated.expires_at)
    assert rotated.expires_at - datetime.now(UTC) > timedelta(hours=23)  # a day by default
    assert accounts.revoke_key(database, old.id).revoked_at is not None
    assert accounts.principal_of(database, accounts.hash_key(created.api_key)) is None


def test_a_grace_of_zero_revokes_the_old_key_at_once(database: Database) -> None:
    created = accounts.create_account(database, "acme")
    old = accounts.list_keys(database, created.id)[0]
    rotated = accounts.rotate_key(database, old.id, grace=0)
    assert accounts.principal_of(database, accounts.hash_key(created.api_key)) is None
    assert accounts.principal_of(database, accounts.hash_key(rotated.api_key)) is not None
    assert accounts.list_keys(database, created.id)[0].revoked_at == rotated.expires_at


def test_what_cannot_be_rotated_is_refused_saying_why(database: Database) -> None:
    created = accounts.create_account(database, "acme")
    key_id = accounts.list_keys(database, created.id)[0].id
    for grace in (-1, accounts.MAX_GRACE + 1):
        with pytest.raises(InvalidValueError, match="grace period"):
            accounts.rotate_key(database, key_id, grace=grace)
    with pytest.raises(NotFoundError):
        accounts.rotate_key(database, "key_nope")
    rotated = accounts.rotate_key(database, key_id)
    with pytest.raises(ConflictError, match="rotated already"):
        accounts.rotate_key(database, key_id)
    accounts.revoke_key(database, rotated.id)
    with pytest.raises(ConflictError, match="revoked"):
        accounts.rotate_key(database, rotated.id)
    assert len(accounts.list_keys(database, created.id)) == 2  # nothing refused made a key


def test_rotations_of_one_key_at_once_make_one_new_key(database: Database) -> None:
    created = accounts.create_account(database, "acme")
    key_id = accounts.list_keys(database, created.id)[0].id
    start = threading.Barrier(4)

    def rotate() -> object:
        start.wait()
        try:
            return accounts.rotate_key(database, key_id)
        except ConflictError as exc:
            return exc

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: rotate(), range(4)))
    made = [result for result in results if isinstance(result, RotatedKey)]
    assert len(made) == 1 and sum(isinstance(r, ConflictError) for r in results) == 3
    keys = accounts.list_keys(database, created.id)
    assert [key.id for key in keys if key.replaces == key_id] == [made[0].id]


def test_an_accounts_webhook_is_set_with_a_new_secret_and_taken_away(database: Database) -> None:
    created = accounts.create_account(database, "acme")
    key_hash = accounts.hash_key(created.api_key)
    before = accounts.principal_of(database, key_hash)
    assert before is not None and before.notify is False
    first = accounts.set_webhook(database, created.id, "https://hooks.example/acme")
    second = accounts.set_webhook(database, created.id, "https://hooks.example/acme")
    assert first.webhook_secret and second.webhook_secret
    assert first.webhook_secret != second.webhook_secret  # each setting makes a new one
    assert accounts.webhook_of(database, created.id) == (
        "https://hooks.example/acme",
        second.webhook_secret,
    )
    after = accounts.principal_of(database, key_hash)
    assert after is not None and after.notify is True  # its changes are told
    cleared = accounts.set_webhook(database, created.id, None)
    assert (cleared.webhook_url, cleared.webhook_secret) == (None, None)
    assert accounts.webhook_of(database, created.id) is None
    with pytest.raises(InvalidValueError):
        accounts.set_webhook(database, created.id, "ftp://hooks.example/acme")
    with pytest.raises(NotFoundError):
        accounts.set_webhook(database, "acc_nope", "https://hooks.example/acme")
