"""Accounts and their API keys: creation, rotation, revocation, and finding the key of a
request.

Keys are shown once, at creation, and stored only as their SHA-256. A revoked key is kept
(the history names it) but never authenticates again. A rotated key keeps working for a
grace period, so that its holder can move to the new one without a failed request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, update

from renvoi.domain.mailbox import AUDIO_FORMATS
from renvoi.domain.numbers import parse_countries
from renvoi.domain.webhooks import is_webhook_url
from renvoi.errors import ConflictError, InvalidValueError, NotFoundError
from renvoi.store.database import Database
from renvoi.store.models import Account, ApiKey
from renvoi.store.pointread import PointRead
from renvoi.store.records import (
    AccountAudio,
    AccountCountries,
    AccountRecord,
    AccountWebhook,
    KeyRecord,
    NewAccount,
    NewKey,
    Principal,
    RotatedKey,
)
from renvoi.store.statecache import announce

KEY_PREFIX = "rv_"
MAX_NAME = 200  # an account's name, after its runs of spaces are made one
DEFAULT_GRACE = 86_400  # seconds a rotated key keeps working (integrations.md)
MAX_GRACE = 90 * 86_400
# The columns of a KeyRecord, in its order.
_KEY_COLUMNS = (
    ApiKey.id,
    ApiKey.account_id,
    ApiKey.created_at,
    ApiKey.revoked_at,
    ApiKey.last_used_at,
    ApiKey.expires_at,
    ApiKey.replaces,
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


def _insert_key(
    conn: Connection, account_id: str, now: datetime, *, replaces: str | None = None
) -> NewKey:
    api_key = KEY_PREFIX + secrets.token_urlsafe(24)  # 192 random bits
    key_id = new_id("key")
    conn.execute(
        insert(ApiKey).values(
            id=key_id,
            account_id=account_id,
            key_hash=hash_key(api_key),
            created_at=now,
            replaces=replaces,
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
    """Revoke a key at once (a rotated one too, before its grace is over); revoking
    twice keeps the first time.

    Raises:
        NotFoundError: no such key.
    """
    at = _now(now)
    with db.write() as conn:
        conn.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                ApiKey.revoked_at.is_(None),
                or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > at),
            )
            .values(revoked_at=at)
        )
        announce(db, conn, None)  # cached keys: forgotten before the next request
        return _key(conn, key_id, at)


def rotate_key(
    db: Database, key_id: str, *, grace: int = DEFAULT_GRACE, now: datetime | None = None
) -> RotatedKey:
    """A new key for the key's account; the old one keeps working for ``grace`` seconds,
    then is revoked (at once with a grace of 0).

    Raises:
        InvalidValueError: a grace outside 0 to ``MAX_GRACE`` seconds.
        NotFoundError: no such key.
        ConflictError: the key is revoked, or was rotated already.
    """
    if not 0 <= grace <= MAX_GRACE:
        raise InvalidValueError(f"the grace period is 0 to {MAX_GRACE} seconds")
    at = _now(now)
    expires_at = at + timedelta(seconds=grace)
    with db.write() as conn:
        # Locked, so that of two rotations of one key, one makes the new key.
        row = conn.execute(
            select(*_KEY_COLUMNS).where(ApiKey.id == key_id).with_for_update()
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"no key {key_id}")
        old = _record(row, at)
        if old.revoked_at is not None:
            raise ConflictError(f"key {key_id} is revoked")
        if old.expires_at is not None:
            ends = old.expires_at.isoformat().replace("+00:00", "Z")
            raise ConflictError(f"key {key_id} was rotated already; it stops working at {ends}")
        conn.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(expires_at=expires_at, revoked_at=at if grace == 0 else None)
        )
        new = _insert_key(conn, old.account_id, at, replaces=key_id)
        announce(db, conn, None)  # cached keys: learn the old one's end
    return RotatedKey(
        id=new.id,
        account_id=new.account_id,
        api_key=new.api_key,
        replaces=key_id,
        expires_at=expires_at,
    )


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
        now = datetime.now(UTC)
        return [_record(row, now) for row in rows]


def _key(conn: Connection, key_id: str, now: datetime) -> KeyRecord:
    row = conn.execute(select(*_KEY_COLUMNS).where(ApiKey.id == key_id)).one_or_none()
    if row is None:
        raise NotFoundError(f"no key {key_id}")
    return _record(row, now)


def _record(row: Any, now: datetime) -> KeyRecord:
    """A key's record: a rotated key whose grace is over shows as revoked then."""
    record = KeyRecord(*row)
    if record.revoked_at is None and record.expires_at is not None and record.expires_at <= now:
        return replace(record, revoked_at=record.expires_at)
    return record


# Built once: it runs for every authenticated request (constructing a statement costs
# more than executing this one).
_LIVE_KEY = (
    select(
        ApiKey.id,
        ApiKey.account_id,
        Account.allowed_countries,
        ApiKey.expires_at,
        Account.webhook_url.is_not(None),
    )
    .join(Account, Account.id == ApiKey.account_id)
    .where(ApiKey.key_hash == bindparam("b_hash"), ApiKey.revoked_at.is_(None))
)


def _principal(_key_hash: str, row: tuple[Any, ...]) -> Principal:
    return Principal(
        key_id=row[0],
        account_id=row[1],
        countries=_countries(row[2]),
        expires_at=row[3],
        notify=bool(row[4]),
    )


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


def set_webhook(db: Database, account_id: str, url: str | None) -> AccountWebhook:
    """Give the account a webhook of its own, with a new signing secret (shown only in
    the answer), or with None take it away (the installation's is called again, if any).
    Takes effect at the account's next request and message.

    Raises:
        InvalidValueError: not an http(s) URL.
        NotFoundError: no such account.
    """
    if url is not None and not is_webhook_url(url):
        raise InvalidValueError(f"not an http:// or https:// URL: {url!r}")
    secret = None if url is None else "whsec_" + secrets.token_urlsafe(32)
    with db.write() as conn:
        result = conn.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(webhook_url=url, webhook_secret=secret)
        )
        if result.rowcount == 0:
            raise NotFoundError(f"no account {account_id}")
        announce(db, conn, None)  # whether changes notify travels with cached keys
    return AccountWebhook(account_id, url, secret)


def webhook_of(db: Database, account_id: str | None) -> tuple[str, str] | None:
    """The account's own webhook: its URL and secret (None: it has none)."""
    if account_id is None:
        return None
    with db.read() as conn:
        row = conn.execute(
            select(Account.webhook_url, Account.webhook_secret).where(Account.id == account_id)
        ).one_or_none()
    if row is None or row[0] is None or row[1] is None:
        return None
    return row[0], row[1]


def set_audio_format(db: Database, account_id: str, audio_format: str | None) -> AccountAudio:
    """The emailed recording's format for the account's numbers that choose none
    (``wav``, ``mp3``; None: the installation's). Applies from the next message sent.

    Raises:
        InvalidValueError: not a format renvoi writes.
        NotFoundError: no such account.
    """
    if audio_format is not None and audio_format not in AUDIO_FORMATS:
        known = ", ".join(AUDIO_FORMATS)
        raise InvalidValueError(f"not an audio format ({known}): {audio_format!r}")
    with db.write() as conn:
        result = conn.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(voicemail_audio_format=audio_format)
        )
        if result.rowcount == 0:
            raise NotFoundError(f"no account {account_id}")
    return AccountAudio(account_id, audio_format)
