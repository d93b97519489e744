"""A customer's forwarding change, atomic: the locked path, and the steps every change
shares.

``apply_forwarding`` is the heart of the API: it reads the number's state with a lock,
lets ``domain.callforward.decide`` run checks 9 to 14 on it, and writes the new state and
its history row in the same transaction (the API batches them: ``groupcommit``), so an
acknowledged change is durable and two requests racing on one number are serialized
(contract: "Every change is atomic"). A fallback's change (``fallbacks.py``) starts and
writes the same way (``locked_state``, ``write_change``); PostgreSQL's lock-free path
(``lockfree.py``) comes here for what it cannot decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ClauseElement,
    Connection,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import aliased

from renvoi.domain.callforward import Command, Hop, NextHops, NumberState, decide, e164_of, forwards
from renvoi.domain.codes import Code
from renvoi.domain.modes import Mode, Setting
from renvoi.domain.webhooks import FORWARDING_CHANGED, event_body
from renvoi.store.database import Database
from renvoi.store.models import Change, Number
from renvoi.store.records import Principal
from renvoi.store.routetable import (
    FALLBACK_COLUMNS,
    announce_route,
    fallbacks_from_row,
    publish,
)
from renvoi.store.statecache import announcing, notice
from renvoi.store.voicemail import queue_event

# PostgreSQL advisory lock taken by changes that forward to another platform number, so
# that two of them cannot each miss the other and close a loop (A→B and B→A at once).
_LOOP_LOCK = 0x72656E76  # "renv"

# Built once, the statements of a change: constructing a statement costs more than
# executing these.
DESTINATION = aliased(Number)
# The number's state, and whether the wanted destination (None: no destination) is a
# number of the platform, in one round trip; locked for a change in a transaction.
STATE = select(
    Number.id,
    Number.account_id,
    Number.suspended,
    Number.voice,
    Number.mode,
    Number.param,
    select(DESTINATION.id).where(DESTINATION.e164 == bindparam("b_destination")).scalar_subquery(),
    *FALLBACK_COLUMNS,
    Number.sip_destination,  # last: what the lock-free path needs to publish the change
).where(Number.e164 == bindparam("b_e164"))
_LOCKED_STATE = STATE.with_for_update(of=Number)
# Where a number's calls may be forwarded (the loop walk's step): its primary setting
# and its fallbacks, and whose it is.
_FORWARDS_OF = select(Number.account_id, Number.mode, Number.param, *FALLBACK_COLUMNS).where(
    Number.e164 == bindparam("b_e164")
)
_TAKE_LOOP_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_SET_FORWARDING = (
    update(Number)
    .where(Number.id == bindparam("b_id"))
    .values(mode=bindparam("b_mode"), param=bindparam("b_param"), updated_at=bindparam("b_at"))
)
RECORD_CHANGE = insert(Change).values(
    number_id=bindparam("b_number_id"),
    key_id=bindparam("b_key_id"),
    old_mode=bindparam("b_old_mode"),
    old_param=bindparam("b_old_param"),
    new_mode=bindparam("b_new_mode"),
    new_param=bindparam("b_new_param"),
    changed_at=bindparam("b_changed_at"),
)
# PostgreSQL: the update, its history row and the notification in one round trip.
_ANNOUNCED_CHANGE = announcing(_SET_FORWARDING, RECORD_CHANGE)


@dataclass(frozen=True)
class Applied:
    """The outcome of a successful change: the success code and the number it applied to."""

    code: Code
    number: str
    dry_run: bool = False  # nothing was written


def change_forwarding(
    db: Database,
    command: Command,
    *,
    principal: Principal,
    region: str,
    now: datetime | None = None,
    dry_run: bool = False,
) -> Applied:
    """Apply a validated request to its number, in a transaction of its own (the API
    batches them: ``apply_forwarding`` and ``groupcommit``).

    Raises:
        ContractError: the check that failed.
        StoreError: the database failed; nothing was changed.
    """
    e164 = e164_of(command.number, region=region)
    with db.write() as conn:
        return apply_forwarding(
            db, conn, e164, command.wanted, principal=principal, now=now, dry_run=dry_run
        )


def apply_forwarding(
    db: Database,
    conn: Connection,
    e164: str,
    wanted: Setting,
    *,
    principal: Principal,
    now: datetime | None = None,
    dry_run: bool = False,
) -> Applied:
    """Contract checks 9 to 14 on a number, then the change, in the caller's write
    transaction (with ``dry_run``, the checks only: the answer the change would get,
    nothing written).

    The number's row is locked for the whole decision (``BEGIN IMMEDIATE`` on SQLite,
    ``FOR UPDATE`` on PostgreSQL), so of many identical requests exactly one changes it
    and the others see the new state and answer 16, 17 or 18.

    Raises:
        ContractError: the check that failed (nothing written).
    """
    number_id, state, next_hops = locked_state(db, conn, e164, destination_of(wanted), principal)
    code = decide(state, wanted, account_id=principal.account_id, next_hops=next_hops)
    assert state is not None  # decide raised otherwise
    if dry_run:
        return Applied(code=code, number=e164, dry_run=True)
    params = change_params(number_id, state, wanted, principal=principal, now=now)
    write_change(db, conn, e164, (_SET_FORWARDING, RECORD_CHANGE, _ANNOUNCED_CHANGE), params)
    tell_webhook(conn, e164, wanted, principal, params)
    return Applied(code=code, number=e164)


def destination_of(wanted: Setting) -> str | None:
    return wanted.param if wanted.mode is Mode.FORWARD else None


def locked_state(
    db: Database, conn: Connection, e164: str, destination: str | None, principal: Principal
) -> tuple[int, NumberState | None, NextHops]:
    """A change's start, in its transaction: the number's id and state, its row locked
    (None: not on the platform), and the loop walk's ``next_hops`` for a change that
    forwards to ``destination``, reading in the same transaction (on PostgreSQL after
    the loop lock, taken here when the destination is a number of the platform)."""
    row = db.fetch_one(_LOCKED_STATE, {"b_e164": e164, "b_destination": destination}, conn=conn)
    number_id, state, destination_id = state_of(e164, row)
    if (
        not db.is_sqlite
        and destination_id is not None
        and state is not None
        and state.account_id == principal.account_id
    ):
        # Forwarding to a platform number: the loop walk reads after this lock, so that
        # it sees the commit of a racing change that held it. To any other number: no
        # lock (no loop can close through a number that is not ours).
        db.execute(conn, _TAKE_LOOP_LOCK, {"key": _LOOP_LOCK})
    # A destination not on the platform ends the walk at once (read with the state,
    # under the lock: no round trip more).
    outside = destination if row is not None and destination_id is None else None

    def next_hops(number: str) -> list[Hop]:
        if number == outside:
            return []
        found = db.fetch_one(_FORWARDS_OF, {"b_e164": number}, conn=conn)
        if found is None:
            return []
        account_id, mode, param, *fallbacks = found
        targets = forwards(Setting(Mode(mode), param), fallbacks_from_row(fallbacks))
        return [Hop(to=to, account_id=account_id) for to in targets]

    return number_id, state, next_hops


def write_change(
    db: Database,
    conn: Connection,
    e164: str,
    statements: tuple[ClauseElement, ClauseElement, ClauseElement],
    params: dict[str, Any],
) -> None:
    """A change's update and history row, the notice to the route caches
    (``statements``: the update, the row, and both with the notice as one statement),
    then the number's row for Kamailio (``routetable.publish``, last: it holds the
    generation's lock until the commit): on SQLite one by one (in-process: a statement
    costs no round trip), on PostgreSQL the first three in one round trip."""
    update_, record, announced = statements
    if db.is_sqlite:
        db.execute(conn, update_, params)
        db.execute(conn, record, params)
        announce_route(db, conn, e164)
    else:
        db.execute(conn, announced, {**params, **notice(e164)})
        publish(db, conn, e164)


def tell_webhook(
    conn: Connection, e164: str, setting: Setting, principal: Principal, params: dict[str, Any]
) -> None:
    """Queue the change's ``forwarding.changed`` event in its transaction, when the
    key's changes are told to a webhook (``Principal.notify``); its condition and ring
    time are the change's own (``params``)."""
    if not principal.notify:
        return
    at: datetime = params["b_changed_at"]
    ring = params.get("b_new_ring")
    payload = event_body(
        FORWARDING_CHANGED,
        number=e164,
        type=int(setting.mode),
        param=setting.param,
        condition=params.get("b_condition"),
        keyId=principal.key_id,
        changedAt=at.isoformat().replace("+00:00", "Z"),
        **({} if ring is None else {"ringSeconds": ring}),
    )
    queue_event(conn, principal.account_id, payload, at=at)


def state_of(e164: str, row: Sequence[Any] | None) -> tuple[int, NumberState | None, int | None]:
    """A row of ``STATE``: the number's id, its state (None: not on the platform), and
    the destination's id (None: not on the platform)."""
    if row is None:
        return 0, None, None
    number_id, account_id, suspended, voice, mode, param, destination_id = row[:7]
    state = NumberState(
        number=e164,
        account_id=account_id,
        suspended=suspended,
        voice=voice,
        setting=Setting(Mode(mode), param),
        fallbacks=fallbacks_from_row(row[7 : 7 + len(FALLBACK_COLUMNS)]),
    )
    return number_id, state, destination_id


def change_params(
    number_id: int,
    state: NumberState,
    wanted: Setting,
    *,
    principal: Principal,
    now: datetime | None,
) -> dict[str, Any]:
    """The parameters of a change's update and history row."""
    when = now or datetime.now(UTC)
    return {
        "b_id": number_id,
        "b_mode": wanted.mode,
        "b_param": wanted.param,
        "b_at": when,
        "b_number_id": number_id,
        "b_key_id": principal.key_id,
        "b_old_mode": state.setting.mode,
        "b_old_param": state.setting.param,
        "b_new_mode": wanted.mode,
        "b_new_param": wanted.param,
        "b_changed_at": when,
    }
