"""A customer's change of one condition's fallback (``contract/conditions.md``), atomic.

The number's row is locked and the loop walk runs as for a change of the primary
setting (``forwarding.locked_state``); the update of that condition's columns and its
history row are written together and announced to the route caches
(``forwarding.write_change``). Always in a transaction: the seed endpoint's lock-free
path on PostgreSQL is its own.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, bindparam, update

from renvoi.domain.callforward import NumberState, e164_of
from renvoi.domain.conditions import FallbackCommand, decide_fallback
from renvoi.domain.modes import Condition, Fallbacks
from renvoi.store.database import Database
from renvoi.store.forwarding import (
    RECORD_CHANGE,
    Applied,
    change_params,
    destination_of,
    locked_state,
    tell_webhook,
    write_change,
)
from renvoi.store.groupcommit import Writer
from renvoi.store.models import Number
from renvoi.store.records import Principal
from renvoi.store.statecache import announcing

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
_RECORD_FALLBACK_CHANGE = RECORD_CHANGE.values(
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
    destination = destination_of(command.wanted)
    number_id, state, next_hops = locked_state(db, conn, e164, destination, principal)
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
    write_change(db, conn, e164, statements, params)
    tell_webhook(conn, e164, command.wanted, principal, params)
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
    e164 = e164_of(command.number, region=region)
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
        **change_params(number_id, state, wanted, principal=principal, now=now),
        "b_old_mode": before.mode,
        "b_old_param": before.param,
        "b_ring": after.ring_seconds,
        "b_condition": condition.value,
        "b_old_ring": state.fallbacks.ring_seconds if ringing else None,
        "b_new_ring": after.ring_seconds if ringing else None,
    }
