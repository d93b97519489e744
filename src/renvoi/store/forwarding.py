"""A customer's forwarding change (or a fallback's), atomic, and the reads it starts from.

``apply_forwarding`` is the heart of the API: it reads the number's state with a lock,
lets ``domain.callforward.decide`` run checks 9 to 14 on it, and writes the new state and
its history row in the same transaction (the API batches them: ``groupcommit``), so an
acknowledged change is durable and two requests racing on one number are serialized
(contract: "Every change is atomic"). On PostgreSQL the API first tries
``apply_forwarding_unlocked``: the same checks on the state read without a lock, and a
write that applies only if that state still holds (compare and set), which takes half
the round trips; a change that lost a race is decided again by ``apply_forwarding``.
There a request also reads its API key with its number in one statement
(``key_and_state``, and ``key_and_record`` for the read extension). A fallback's change
(``apply_fallback``) always takes the locked path, with the same loop walk and lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    ClauseElement,
    Connection,
    bindparam,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import aliased

from renvoi.domain.callforward import Command, Hop, NextHops, NumberState, decide, forwards
from renvoi.domain.codes import Code
from renvoi.domain.conditions import FallbackCommand, decide_fallback
from renvoi.domain.modes import Condition, Fallbacks, Mode, Setting
from renvoi.domain.numbers import normalize_number
from renvoi.errors import ContractError
from renvoi.store.accounts import principal_of
from renvoi.store.database import AnySelect, Database
from renvoi.store.groupcommit import Writer
from renvoi.store.models import Change, Number
from renvoi.store.numbers import (
    FALLBACK_COLUMNS,
    RECORD_COLUMNS,
    fallbacks_from_row,
    record_from_row,
)
from renvoi.store.records import NumberRecord, Principal
from renvoi.store.statecache import announce, announcing, notice

# PostgreSQL advisory lock taken by changes that forward to another platform number, so
# that two of them cannot each miss the other and close a loop (A→B and B→A at once).
_LOOP_LOCK = 0x72656E76  # "renv"

# Built once, the statements of a change: constructing a statement costs more than
# executing these.
_DESTINATION = aliased(Number)
# The number's state, and whether the wanted destination (None: no destination) is a
# number of the platform, in one round trip; locked for a change in a transaction.
_STATE = select(
    Number.id,
    Number.account_id,
    Number.suspended,
    Number.voice,
    Number.mode,
    Number.param,
    select(_DESTINATION.id)
    .where(_DESTINATION.e164 == bindparam("b_destination"))
    .scalar_subquery(),
    *FALLBACK_COLUMNS,
).where(Number.e164 == bindparam("b_e164"))
_LOCKED_STATE = _STATE.with_for_update(of=Number)
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
_RECORD_CHANGE = insert(Change).values(
    number_id=bindparam("b_number_id"),
    key_id=bindparam("b_key_id"),
    old_mode=bindparam("b_old_mode"),
    old_param=bindparam("b_old_param"),
    new_mode=bindparam("b_new_mode"),
    new_param=bindparam("b_new_param"),
    changed_at=bindparam("b_changed_at"),
)
# PostgreSQL: the update, its history row and the notification in one round trip.
_ANNOUNCED_CHANGE = announcing(_SET_FORWARDING, _RECORD_CHANGE)
# PostgreSQL, outside a transaction: the same, only if the number is still in the state
# read and the destination still not a number of the platform (one statement: atomic).
# One row if it changed, none if not.
_CHANGED_IF_UNCHANGED = (
    update(Number)
    .where(
        Number.id == bindparam("b_id"),
        Number.account_id == bindparam("b_account_id"),
        Number.suspended == bindparam("b_suspended"),
        Number.voice == bindparam("b_voice"),
        Number.mode == bindparam("b_old_mode"),
        Number.param.is_not_distinct_from(bindparam("b_old_param")),
        ~exists().where(_DESTINATION.e164 == bindparam("b_destination")),
    )
    .values(mode=bindparam("b_mode"), param=bindparam("b_param"), updated_at=bindparam("b_at"))
    .returning(Number.id)
    .cte("changed")
)
_CHANGE_IF_UNCHANGED = (
    select(func.pg_notify(bindparam("channel"), bindparam("subject")))
    .select_from(_CHANGED_IF_UNCHANGED)
    .add_cte(
        insert(Change)
        .from_select(
            ["number_id", "key_id", "old_mode", "old_param", "new_mode", "new_param", "changed_at"],
            select(
                _CHANGED_IF_UNCHANGED.c.id,
                bindparam("b_key_id", type_=Change.key_id.type),
                bindparam("b_old_mode", type_=Change.old_mode.type),
                bindparam("b_old_param", type_=Change.old_param.type),
                bindparam("b_new_mode", type_=Change.new_mode.type),
                bindparam("b_new_param", type_=Change.new_param.type),
                bindparam("b_changed_at", type_=Change.changed_at.type),
            ),
        )
        .cte("recorded")
    )
)

# PostgreSQL: a customer's request reads its API key and its number in one round trip
# (``key_and_record``, ``key_and_state``). The key's columns come first; a number not on
# the platform leaves the others NULL.
_KEY_WIDTH = len(principal_of.statement.selected_columns)


def _with_number(*columns: Any) -> AnySelect:
    """``principal_of``'s statement, then ``columns`` of the number ``b_e164``."""
    joined = principal_of.statement.outerjoin(Number, Number.e164 == bindparam("b_e164"))
    return joined.add_columns(*columns)


_KEY_AND_RECORD = _with_number(*RECORD_COLUMNS)
_KEY_AND_STATE = _with_number(*_STATE.selected_columns)


@dataclass(frozen=True)
class StateRead:
    """A number's state read outside a transaction (``key_and_state``): a row of
    ``_STATE``, or None when the number is not on the platform."""

    row: Sequence[Any] | None


async def _with_key(
    db: Database, statement: AnySelect, key_hash: str, params: dict[str, Any]
) -> tuple[Principal | None, tuple[Any, ...] | None]:
    """Who the live key of ``key_hash`` speaks for (None: unknown or revoked, and then
    nothing else is answered), and the rest of the row (None: the number is not on the
    platform)."""
    row = await db.fetch_one_async(statement, {"b_hash": key_hash, **params})
    if row is None:
        return None, None
    number = row[_KEY_WIDTH:]
    principal = principal_of.build(key_hash, row[:_KEY_WIDTH])
    return principal, None if number[0] is None else number


async def key_and_record(
    db: Database, key_hash: str, e164: str
) -> tuple[Principal | None, NumberRecord | None]:
    """``principal_of`` and ``record_of`` in one statement (PostgreSQL's read extension)."""
    principal, row = await _with_key(db, _KEY_AND_RECORD, key_hash, {"b_e164": e164})
    return principal, None if row is None else record_from_row(row)


async def key_and_state(
    db: Database, key_hash: str, e164: str, wanted: Setting
) -> tuple[Principal | None, StateRead]:
    """``principal_of`` and the state ``apply_forwarding_unlocked`` decides on, in one
    statement (PostgreSQL's changes)."""
    params = {"b_e164": e164, "b_destination": _destination(wanted)}
    principal, row = await _with_key(db, _KEY_AND_STATE, key_hash, params)
    return principal, StateRead(row)


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
    e164 = normalize_number(command.number, region=region)
    if e164 is None:
        raise ContractError(Code.NUMBER_NOT_FOUND)
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
    number_id, state, next_hops = _locked(db, conn, e164, _destination(wanted), principal)
    code = decide(state, wanted, account_id=principal.account_id, next_hops=next_hops)
    assert state is not None  # decide raised otherwise
    if dry_run:
        return Applied(code=code, number=e164, dry_run=True)
    params = _change(number_id, state, wanted, principal=principal, now=now)
    _write(db, conn, e164, (_SET_FORWARDING, _RECORD_CHANGE, _ANNOUNCED_CHANGE), params)
    return Applied(code=code, number=e164)


async def apply_forwarding_async(
    writer: Writer,
    db: Database,
    e164: str,
    wanted: Setting,
    *,
    principal: Principal,
    dry_run: bool = False,
    read: StateRead | None = None,
) -> Applied:
    """A customer's change, for a coroutine (the API): on PostgreSQL without a lock
    where it can (``apply_forwarding_unlocked``, on ``read`` when the caller read the
    state already), or else in the writer's transaction (``groupcommit``).

    Raises:
        ContractError: the check that failed (nothing written).
        StoreError: the database failed; nothing was changed.
    """
    if not db.is_sqlite:
        applied = await apply_forwarding_unlocked(
            db, e164, wanted, principal=principal, dry_run=dry_run, read=read
        )
        if applied is not None:
            return applied
    return await writer.run(
        partial(
            apply_forwarding, db, e164=e164, wanted=wanted, principal=principal, dry_run=dry_run
        )
    )


async def apply_forwarding_unlocked(
    db: Database,
    e164: str,
    wanted: Setting,
    *,
    principal: Principal,
    now: datetime | None = None,
    dry_run: bool = False,
    read: StateRead | None = None,
) -> Applied | None:
    """``apply_forwarding`` on PostgreSQL without a transaction or a lock: the state is
    read (``read``: by the caller, with its API key; or here), checks 9 to 14 run on it,
    and the change is written only if the number is still in that state (compare and
    set, one statement). Two statements in autocommit, or one after the caller's read,
    where the locked path takes four round trips (BEGIN, the locked read, the change,
    COMMIT).

    A refusal is answered from the state read, which was the number's state at that
    moment. Returns None where only the locked path can answer: a destination that is a
    number of the platform (the loop check walks under a lock), or a state that changed
    between the read and the write (a racing change won; the locked path decides again
    on the new state).

    Raises:
        ContractError: the check that failed (nothing written).
    """
    destination = _destination(wanted)
    if read is None:
        params = {"b_e164": e164, "b_destination": destination}
        read = StateRead(await db.fetch_one_async(_STATE, params))
    number_id, state, destination_id = _state(e164, read.row)
    if destination_id is not None:
        return None
    # No destination, or one not on the platform: the loop walk ends at once.
    code = decide(state, wanted, account_id=principal.account_id, next_hops=_outside)
    assert state is not None  # decide raised otherwise
    if dry_run:
        return Applied(code=code, number=e164, dry_run=True)
    change = {
        "b_destination": destination,
        **_change(number_id, state, wanted, principal=principal, now=now),
        "b_account_id": state.account_id,
        "b_suspended": state.suspended,
        "b_voice": state.voice,
        **notice(e164),
    }
    if await db.write_one_async(_CHANGE_IF_UNCHANGED, change) is None:
        return None
    return Applied(code=code, number=e164)


# A fallback's change, by condition: the number's columns of that condition (and the
# ring time), and its history row.
_FALLBACK_COLUMNS = {
    Condition.BUSY: (Number.busy_mode, Number.busy_param),
    Condition.NO_ANSWER: (Number.no_answer_mode, Number.no_answer_param),
    Condition.UNAVAILABLE: (Number.unavailable_mode, Number.unavailable_param),
}
_SET_FALLBACK = {
    condition: update(Number)
    .where(Number.id == bindparam("b_id"))
    .values(
        {
            mode: bindparam("b_mode"),
            param: bindparam("b_param"),
            Number.ring_seconds: bindparam("b_ring"),
            Number.updated_at: bindparam("b_at"),
        }
    )
    for condition, (mode, param) in _FALLBACK_COLUMNS.items()
}
_RECORD_FALLBACK_CHANGE = _RECORD_CHANGE.values(
    condition=bindparam("b_condition"),
    old_ring_seconds=bindparam("b_old_ring"),
    new_ring_seconds=bindparam("b_new_ring"),
)
_ANNOUNCED_FALLBACK_CHANGE = {
    condition: announcing(statement, _RECORD_FALLBACK_CHANGE)
    for condition, statement in _SET_FALLBACK.items()
}


def apply_fallback(
    db: Database,
    conn: Connection,
    e164: str,
    command: FallbackCommand,
    *,
    principal: Principal,
    now: datetime | None = None,
    dry_run: bool = False,
) -> Applied:
    """The conditional endpoint's checks 12 to 19 on a number, then the change of one
    condition's fallback, in the caller's write transaction, the number's row locked
    as ``apply_forwarding`` locks it (with ``dry_run``, the checks only).

    Raises:
        ContractError: the check that failed (nothing written).
    """
    destination = _destination(command.wanted)
    number_id, state, next_hops = _locked(db, conn, e164, destination, principal)
    code, after = decide_fallback(
        state, command, account_id=principal.account_id, next_hops=next_hops
    )
    assert state is not None  # decide_fallback raised otherwise
    if dry_run:
        return Applied(code=code, number=e164, dry_run=True)
    params = _fallback_change(number_id, state, command.condition, after, principal, now)
    condition = command.condition
    statements = (
        _SET_FALLBACK[condition],
        _RECORD_FALLBACK_CHANGE,
        _ANNOUNCED_FALLBACK_CHANGE[condition],
    )
    _write(db, conn, e164, statements, params)
    return Applied(code=code, number=e164)


async def apply_fallback_async(
    writer: Writer,
    db: Database,
    e164: str,
    command: FallbackCommand,
    *,
    principal: Principal,
    dry_run: bool = False,
) -> Applied:
    """``apply_fallback`` for a coroutine, in the writer's transaction (``groupcommit``).

    Raises:
        ContractError: the check that failed (nothing written).
        StoreError: the database failed; nothing was changed.
    """
    return await writer.run(
        partial(
            apply_fallback, db, e164=e164, command=command, principal=principal, dry_run=dry_run
        )
    )


def change_fallback(
    db: Database,
    command: FallbackCommand,
    *,
    principal: Principal,
    region: str,
    now: datetime | None = None,
) -> Applied:
    """``apply_fallback`` in a transaction of its own, from the number as sent.

    Raises:
        ContractError: the check that failed.
        StoreError: the database failed; nothing was changed.
    """
    e164 = normalize_number(command.number, region=region)
    if e164 is None:
        raise ContractError(Code.NUMBER_NOT_FOUND)
    with db.write() as conn:
        return apply_fallback(db, conn, e164, command, principal=principal, now=now)


def _fallback_change(
    number_id: int,
    state: NumberState,
    condition: Condition,
    after: Fallbacks,
    principal: Principal,
    now: datetime | None,
) -> dict[str, Any]:
    """The parameters of a fallback's update and history row."""
    before, wanted = state.fallbacks.of(condition), after.of(condition)
    ringing = condition is Condition.NO_ANSWER
    return {
        **_change(number_id, state, wanted, principal=principal, now=now),
        "b_old_mode": before.mode,
        "b_old_param": before.param,
        "b_ring": after.ring_seconds,
        "b_condition": condition.value,
        "b_old_ring": state.fallbacks.ring_seconds if ringing else None,
        "b_new_ring": after.ring_seconds if ringing else None,
    }


def _destination(wanted: Setting) -> str | None:
    return wanted.param if wanted.mode is Mode.FORWARD else None


def _outside(_number: str) -> list[Hop]:
    """``next_hops`` where the destination is not on the platform."""
    return []


def _locked(
    db: Database, conn: Connection, e164: str, destination: str | None, principal: Principal
) -> tuple[int, NumberState | None, NextHops]:
    """A change's start, in its transaction: the number's id and state, its row locked
    (None: not on the platform), and the loop walk's ``next_hops`` for a change that
    forwards to ``destination``, reading in the same transaction (on PostgreSQL after
    the loop lock, taken here when the destination is a number of the platform)."""
    row = db.fetch_one(_LOCKED_STATE, {"b_e164": e164, "b_destination": destination}, conn=conn)
    number_id, state, destination_id = _state(e164, row)
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


def _write(
    db: Database,
    conn: Connection,
    e164: str,
    statements: tuple[ClauseElement, ClauseElement, ClauseElement],
    params: dict[str, Any],
) -> None:
    """A change's update and history row, and the notice to the route caches
    (``statements``: the update, the row, and both with the notice as one statement):
    on SQLite one by one (in-process: a statement costs no round trip), on PostgreSQL
    in one round trip."""
    update_, record, announced = statements
    if db.is_sqlite:
        db.execute(conn, update_, params)
        db.execute(conn, record, params)
        announce(db, conn, e164)
    else:
        db.execute(conn, announced, {**params, **notice(e164)})


def _state(e164: str, row: Sequence[Any] | None) -> tuple[int, NumberState | None, int | None]:
    """A row of ``_STATE``: the number's id, its state (None: not on the platform), and
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
        fallbacks=fallbacks_from_row(row[7:]),
    )
    return number_id, state, destination_id


def _change(
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
