"""Virtual numbers, as the operator manages them: add, show, list, suspend, route,
remove, and their history; and a number's record as the read extension answers it
(``record_of``). A customer's change of forwarding is ``forwarding.py``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from renvoi.domain.modes import Mode
from renvoi.domain.numbers import normalize_number
from renvoi.domain.routing import is_sip_uri
from renvoi.errors import AlreadyExistsError, InvalidValueError, NotFoundError
from renvoi.store.database import Database
from renvoi.store.models import Account, Call, Change, Number, Voicemail
from renvoi.store.pointread import PointRead
from renvoi.store.records import ChangeRecord, NumberRecord
from renvoi.store.routetable import FALLBACK_COLUMNS, announce_route, fallbacks_from_row

RECORD_COLUMNS = (
    Number.e164,
    Number.account_id,
    Number.suspended,
    Number.voice,
    Number.mode,
    Number.param,
    Number.updated_at,
    Number.sip_destination,
    *FALLBACK_COLUMNS,
)


_CHANGE_COLUMNS = (
    Change.new_mode,
    Change.new_param,
    Change.old_mode,
    Change.old_param,
    Change.changed_at,
    Change.key_id,
    Change.condition,
    Change.new_ring_seconds,
    Change.old_ring_seconds,
)
# Built once, as it is on the read extension's path: constructing a statement costs
# more than executing this one.
_RECORD_OF = select(*RECORD_COLUMNS).where(Number.e164 == bindparam("b_e164"))


def record_from_row(row: Sequence[Any]) -> NumberRecord:
    """A record from a row of ``RECORD_COLUMNS``."""
    e164, account_id, suspended, voice, mode, param, updated_at, sip_destination = row[:8]
    return NumberRecord(
        number=e164,
        account_id=account_id,
        status="suspended" if suspended else "active",
        voice=voice,
        type=mode,
        param=param,
        updated_at=updated_at,
        sip_destination=sip_destination,
        conditions=fallbacks_from_row(row[8:]).as_json(),
    )


def parse_operator_number(raw: str, *, region: str) -> str:
    """An operator's spelling of a number, in E.164.

    Raises:
        InvalidValueError: it does not parse.
    """
    e164 = normalize_number(raw, region=region)
    if e164 is None:
        raise InvalidValueError(f"not a phone number: {raw!r}")
    return e164


def add_number(
    db: Database,
    raw: str,
    *,
    account_id: str,
    voice: bool = True,
    region: str,
    now: datetime | None = None,
) -> NumberRecord:
    """Put a virtual number on the platform, owned by an account, forwarding off.

    Raises:
        InvalidValueError: the number does not parse.
        NotFoundError: no such account.
        AlreadyExistsError: the number is on the platform already.
    """
    e164 = parse_operator_number(raw, region=region)
    when = now or datetime.now(UTC)
    with db.write() as conn:
        if conn.scalar(select(Account.id).where(Account.id == account_id)) is None:
            raise NotFoundError(f"no account {account_id}")
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(Number).values(
                        e164=e164,
                        account_id=account_id,
                        voice=voice,
                        suspended=False,
                        mode=Mode.OFF,
                        param=None,
                        created_at=when,
                        updated_at=when,
                    )
                )
        except IntegrityError as exc:
            raise AlreadyExistsError(f"{e164} is on the platform already") from exc
        announce_route(db, conn, e164)
        return _get(conn, e164)


def owned_number_id(conn: Connection, e164: str, *, account_id: str | None) -> int:
    """The id of a number, checking that it is ``account_id``'s when one is given.

    Raises:
        NotFoundError: no such number, or another account's (the same answer: tenancy).
    """
    owner = conn.execute(
        select(Number.id, Number.account_id).where(Number.e164 == e164)
    ).one_or_none()
    if owner is None or (account_id is not None and owner.account_id != account_id):
        raise NotFoundError(f"no number {e164}")
    number_id: int = owner.id
    return number_id


def newest(
    db: Database,
    e164: str,
    of: type[Change | Call | Voicemail],
    columns: Sequence[Any],
    *,
    account_id: str | None = None,
    limit: int | None = None,
) -> list[Sequence[Any]]:
    """The rows a number has in ``of`` (its changes, calls or messages), newest first:
    ``columns`` of them (and of ``Number``), at most ``limit``.

    Raises:
        NotFoundError: no such number (or, with ``account_id``, not that account's).
    """
    with db.read() as conn:
        number_id = owned_number_id(conn, e164, account_id=account_id)
        return list(
            conn.execute(
                select(*columns)
                .select_from(of)
                .join(Number, Number.id == of.number_id)
                .where(of.number_id == number_id)
                .order_by(of.id.desc())
                .limit(limit)
            )
        )


def _get(conn: Connection, e164: str) -> NumberRecord:
    row = conn.execute(_RECORD_OF, {"b_e164": e164}).one_or_none()
    if row is None:
        raise NotFoundError(f"no number {e164}")
    return record_from_row(row)


def get_number(db: Database, raw: str, *, region: str) -> NumberRecord:
    """The number's record.

    Raises:
        InvalidValueError, NotFoundError
    """
    e164 = parse_operator_number(raw, region=region)
    with db.read() as conn:
        return _get(conn, e164)


def list_numbers(db: Database, *, account_id: str | None = None) -> list[NumberRecord]:
    query = select(*RECORD_COLUMNS).order_by(Number.e164)
    if account_id is not None:
        query = query.where(Number.account_id == account_id)
    with db.read() as conn:
        return [record_from_row(row) for row in conn.execute(query)]


def set_suspended(
    db: Database, raw: str, *, suspended: bool, region: str, now: datetime | None = None
) -> NumberRecord:
    """Suspend (code 15 on the API, 403 on calls) or resume a number; its forwarding is kept.

    Raises:
        InvalidValueError, NotFoundError
    """
    e164 = parse_operator_number(raw, region=region)
    return _update(db, e164, now=now, suspended=suspended)


def set_sip_destination(
    db: Database, raw: str, uri: str | None, *, region: str, now: datetime | None = None
) -> NumberRecord:
    """Set (or clear, with None) where calls go in mode 0 (voice.md, ``number route``).

    Raises:
        InvalidValueError: the number does not parse, or the URI is not a SIP URI.
        NotFoundError: no such number.
    """
    e164 = parse_operator_number(raw, region=region)
    if uri is not None and not is_sip_uri(uri):
        raise InvalidValueError(f"not a SIP URI: {uri!r}")
    return _update(db, e164, now=now, sip_destination=uri)


def _update(db: Database, e164: str, *, now: datetime | None, **values: object) -> NumberRecord:
    """An operator's change to a number: write it, tell the route caches, return the record.

    Raises:
        NotFoundError: no such number.
    """
    with db.write() as conn:
        conn.execute(
            update(Number)
            .where(Number.e164 == e164)
            .values(**values, updated_at=now or datetime.now(UTC))
        )
        announce_route(db, conn, e164)
        return _get(conn, e164)


def remove_number(db: Database, raw: str, *, region: str) -> NumberRecord:
    """Take a number off the platform, with its history; returns its last record, with
    the status ``removed``.

    Raises:
        InvalidValueError, NotFoundError
    """
    e164 = parse_operator_number(raw, region=region)
    with db.write() as conn:
        record = _get(conn, e164)
        number_id = conn.scalar(select(Number.id).where(Number.e164 == e164))
        conn.execute(delete(Change).where(Change.number_id == number_id))
        conn.execute(delete(Number).where(Number.id == number_id))
        announce_route(db, conn, e164)
        return replace(record, status="removed")


def history(
    db: Database,
    raw: str,
    *,
    region: str,
    account_id: str | None = None,
    limit: int | None = None,
) -> list[ChangeRecord]:
    """The number's successful changes, newest first.

    Args:
        account_id: when given, a number of another account is "not found" (tenancy).
        limit: the most changes to return.

    Raises:
        InvalidValueError, NotFoundError
    """
    e164 = parse_operator_number(raw, region=region)
    rows = newest(db, e164, Change, _CHANGE_COLUMNS, account_id=account_id, limit=limit)
    return [ChangeRecord(*row) for row in rows]


# ``record_of(db, e164)``: a number's record by its E.164, or None when it is not on the
# platform (the read extension of the API, behind its cache).
record_of = PointRead(_RECORD_OF, "b_e164", lambda _e164, row: record_from_row(row))
