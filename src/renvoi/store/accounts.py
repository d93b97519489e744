"""Accounts and their API keys: creation, revocation, and finding the key of a request.

Keys are shown once, at creation, and stored only as their SHA-256. A revoked key is kept
(the history names it) but never authenticates again.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from renvoi.domain.numbers import parse_countries
from renvoi.errors import InvalidValueError, NotFoundError
from renvoi.store.database import Database
from renvoi.store.models import Account, ApiKey
from renvoi.store.pointread import PointRead
from renvoi.store.records import (
    AccountCountries,
    AccountRecord,
    KeyRecord,
    NewAccount,
    NewKey,
    Principal,
)
from renvoi.store.statecache import announce

KEY_PREFIX = "rv_"
MAX_NAME = 200  # an account's name, after its runs of spaces are made one
# The columns of a KeyRecord, in its order.
_KEY_COLUMNS = (
    ApiKey.id,
    ApiKey.account_id,
    ApiKey.created_at,
    ApiKey.revoked_at,
    ApiKey.last_used_at,
)


def new_id(prefix: str) -> str:
    """An opaque, unguessable id such as ``acc_5f0c...``."""
    return f"{prefix}_{secrets.token_hex(8)}"


def hash_key(api_key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def create_account(db: Database, name: str, *, now: datetime | None = None) -> NewAccount:
    """Create an account with its first API key (shown only in the answer).

    Raises:
        InvalidValueError: the name is empty or longer than ``MAX_NAME`` characters.
    """
    name = " ".join(name.split())
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidValueError(f"an account's name is 1 to {MAX_NAME} characters")
    account_id = new_id("acc")
    with db.write() as conn:
        conn.execute(insert(Account).values(id=account_id, name=name, created_at=_now(now)))
        key = _insert_key(conn, account_id, _now(now))
    return NewAccount(id=account_id, name=name, api_key=key.api_key)


def list_accounts(db: Database) -> list[AccountRecord]:
    with db.read() as conn:
        rows = conn.execute(
            select(Account.id, Account.name, Account.created_at).order_by(Account.created_at)
        )
        return [AccountRecord(*row) for row in rows]


def _insert_key(conn: Connection, account_id: str, now: datetime) -> NewKey:
    api_key = KEY_PREFIX + secrets.token_urlsafe(24)  # 192 random bits
    key_id = new_id("key")
    conn.execute(
        insert(ApiKey).values(
            id=key_id, account_id=account_id, key_hash=hash_key(api_key), created_at=now
        )
    )
    return NewKey(id=key_id, account_id=account_id, api_key=api_key)


def create_key(db: Database, account_id: str, *, now: datetime | None = None) -> NewKey:
    """Add an API key to an account.

    Raises:
        NotFoundError: no such account.
    """
    with db.write() as conn:
        if conn.scalar(select(Account.id).where(Account.id == account_id)) is None:
            raise NotFoundError(f"no account {account_id}")
        return _insert_key(conn, account_id, _now(now))


def revoke_key(db: Database, key_id: str, *, now: datetime | None = None) -> KeyRecord:
    """Revoke a key at once; revoking twice keeps the first time.

    Raises:
        NotFoundError: no such key.
    """
    with db.write() as conn:
        conn.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=_now(now))
        )
        announce(db, conn, None)  # cached keys: forgotten before the next request
        return _key(conn, key_id)


def list_keys(db: Database, account_id: str) -> list[KeyRecord]:
    """An account's keys, oldest first (their hashes only: a key is shown once).

    Raises:
        NotFoundError: no such account.
    """
    with db.read() as conn:
        if conn.scalar(select(Account.id).where(Account.id == account_id)) is None:
            raise NotFoundError(f"no account {account_id}")
        rows = conn.execute(
            select(*_KEY_COLUMNS).where(ApiKey.account_id == account_id).order_by(ApiKey.created_at)
        )
        return [KeyRecord(*row) for row in rows]


def _key(conn: Connection, key_id: str) -> KeyRecord:
    row = conn.execute(select(*_KEY_COLUMNS).where(ApiKey.id == key_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"no key {key_id}")
    return KeyRecord(*row)


# Built once: it runs for every authenticated request (constructing a statement costs
# more than executing this one).
_LIVE_KEY = (
    select(ApiKey.id, ApiKey.account_id, Account.allowed_countries)
    .join(Account, Account.id == ApiKey.account_id)
    .where(ApiKey.key_hash == bindparam("b_hash"), ApiKey.revoked_at.is_(None))
)


def _principal(_key_hash: str, row: tuple[Any, ...]) -> Principal:
    return Principal(key_id=row[0], account_id=row[1], countries=_countries(row[2]))


# ``principal_of(db, key_hash)``: who the live key of this hash (``hash_key`` of what a
# request presents: contract check 2) speaks for, or None (unknown or revoked). The
# look-up is by hash through a unique index: the database compares digests, so the time
# it takes says nothing about how close a guess was.
principal_of = PointRead(_LIVE_KEY, "b_hash", _principal)


def _countries(stored: str | None) -> frozenset[str] | None:
    return None if stored is None else frozenset(filter(None, stored.split(",")))


def _countries_record(account_id: str, allowed: frozenset[str] | None) -> AccountCountries:
    return AccountCountries(account_id, None if allowed is None else sorted(allowed))


def set_countries(db: Database, account_id: str, countries: list[str] | None) -> AccountCountries:
    """Limit the countries an account's numbers may forward to (None: every country).
    Takes effect at the account's next request.

    Raises:
        InvalidValueError: an unknown country code.
        NotFoundError: no such account.
    """
    try:
        allowed = None if countries is None else parse_countries(countries)
    except ValueError as exc:
        raise InvalidValueError(str(exc)) from exc
    stored = None if allowed is None else ",".join(sorted(allowed))
    with db.write() as conn:
        result = conn.execute(
            update(Account).where(Account.id == account_id).values(allowed_countries=stored)
        )
        if result.rowcount == 0:
            raise NotFoundError(f"no account {account_id}")
        announce(db, conn, None)  # the allowlist travels with cached keys
    return _countries_record(account_id, allowed)


def countries_of(db: Database, account_id: str) -> AccountCountries:
    """An account's allowed destination countries.

    Raises:
        NotFoundError: no such account.
    """
    with db.read() as conn:
        row = conn.execute(
            select(Account.allowed_countries).where(Account.id == account_id)
        ).one_or_none()
    if row is None:
        raise NotFoundError(f"no account {account_id}")
    return _countries_record(account_id, _countries(row[0]))


def touch_keys(db: Database, used: dict[str, datetime]) -> None:
    """Record when keys were last used (batched by the caller: not one write per request)."""
    if not used:
        return
    with db.write() as conn:
        for key_id, when in used.items():
            conn.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when))
