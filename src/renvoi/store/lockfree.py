"""PostgreSQL's short path for a customer's change and read: fewer round trips, no lock.

A request reads its API key with its number in one statement (``key_and_state``, and
``key_and_record`` for the read extension). ``apply_forwarding_unlocked`` runs checks 9
to 14 on the state read without a lock and writes only if that state still holds
(compare and set, one statement), half the round trips of the locked path; what it
cannot decide (a destination that is a number of the platform, or a state that changed
meanwhile) goes to ``forwarding.apply_forwarding``, in the writer's transaction.
``apply_forwarding_async`` chooses, and is the API's way to change a number on either
backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, select, update

from renvoi.domain.callforward import Hop, NumberState, decide
from renvoi.domain.modes import Setting
from renvoi.domain.routing import RouteState, plan_of
from renvoi.store.accounts import principal_of
from renvoi.store.database import AnySelect, Database
from renvoi.store.forwarding import (
    DESTINATION,
    STATE,
    Applied,
    apply_forwarding,
    change_params,
    destination_of,
    state_of,
)
from renvoi.store.groupcommit import Writer
from renvoi.store.models import Change, Number
from renvoi.store.numbers import RECORD_COLUMNS, record_from_row
from renvoi.store.records import NumberRecord, Principal
from renvoi.store.routetable import FALLBACK_COLUMNS, plan_params, publishing
from renvoi.store.statecache import notice

# PostgreSQL, outside a transaction: the same, only if the number is still in the state
# read (its routing included, from which its plan is published) and the destination
# still not a number of the platform (one statement: atomic).
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
        ~exists().where(DESTINATION.e164 == bindparam("b_destination")),
        # What the plan it publishes was computed from (routetable.publishing).
        Number.sip_destination.is_not_distinct_from(bindparam("b_old_sip")),
        *(
            column.is_not_distinct_from(bindparam(f"b_old_fallback_{i}"))
            for i, column in enumerate(FALLBACK_COLUMNS)
        ),
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
    .add_cte(publishing(_CHANGED_IF_UNCHANGED))
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
_KEY_ANDSTATE = _with_number(*STATE.selected_columns)


@dataclass(frozen=True)
class StateRead:
    """A number's state read outside a transaction (``key_and_state``): a row of
    ``STATE``, or None when the number is not on the platform."""

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
    params = {"b_e164": e164, "b_destination": destination_of(wanted)}
    principal, row = await _with_key(db, _KEY_ANDSTATE, key_hash, params)
    return principal, StateRead(row)


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
    if not db.is_sqlite and not principal.notify:  # an event is queued on the locked path
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
    destination = destination_of(wanted)
    if read is None:
        params = {"b_e164": e164, "b_destination": destination}
        read = StateRead(await db.fetch_one_async(STATE, params))
    number_id, state, destination_id = state_of(e164, read.row)
    if destination_id is not None:
        return None
    # No destination, or one not on the platform: the loop walk ends at once.
    code = decide(state, wanted, account_id=principal.account_id, next_hops=_outside)
    assert state is not None  # decide raised otherwise
    if dry_run:
        return Applied(code=code, number=e164, dry_run=True)
    assert read.row is not None  # as state
    fallbacks, sip = read.row[7 : 7 + len(FALLBACK_COLUMNS)], read.row[-1]  # STATE's order
    change = {
        "b_destination": destination,
        **change_params(number_id, state, wanted, principal=principal, now=now),
        "b_account_id": state.account_id,
        "b_suspended": state.suspended,
        "b_voice": state.voice,
        **notice(e164),
        **plan_params(e164, plan_of(replace_setting(state, wanted, sip_destination=sip))),
        "b_old_sip": sip,
        **{f"b_old_fallback_{i}": value for i, value in enumerate(fallbacks)},
    }
    if await db.write_one_async(_CHANGE_IF_UNCHANGED, change) is None:
        return None
    return Applied(code=code, number=e164)


def _outside(_number: str) -> list[Hop]:
    """``next_hops`` where the destination is not on the platform."""
    return []


def replace_setting(
    state: NumberState, wanted: Setting, *, sip_destination: str | None
) -> RouteState:
    """What routing will know of a number once ``wanted`` is its setting."""
    return RouteState(
        number=state.number,
        suspended=state.suspended,
        voice=state.voice,
        setting=wanted,
        sip_destination=sip_destination,
        fallbacks=state.fallbacks,
    )
