"""Routing reads and call records: what the route endpoint and Kamailio's reports need.

``route_state`` is the one query on a call's path (behind the route cache). The call
records are written when a call is routed, answered or refused, and ended: by
``calllog.CallLog``, in batches, with these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, SmallInteger, String, bindparam, insert, select, update

from renvoi.domain.callforward import Mode, Setting
from renvoi.domain.routing import Route, RouteState
from renvoi.store.database import Database
from renvoi.store.models import Call, Number, UTCDateTime
from renvoi.store.numbers import owned_number_id
from renvoi.store.records import CallRecord


def route_state(db: Database, e164: str) -> RouteState | None:
    """The routing state of a number, or None when it is not on the platform."""
    with db.read() as conn:
        row = conn.execute(
            select(
                Number.suspended, Number.voice, Number.mode, Number.param, Number.sip_destination
            ).where(Number.e164 == e164)
        ).one_or_none()
    if row is None:
        return None
    return RouteState(
        number=e164,
        suspended=row.suspended,
        voice=row.voice,
        setting=Setting(Mode(row.mode), row.param),
        sip_destination=row.sip_destination,
    )


# Built once: these run for every call, and a prebuilt statement skips SQLAlchemy's
# per-execution construction (executemany for the inserts of a batch).
_INSERT_CALLS = insert(Call).from_select(
    ["number_id", "call_id", "caller", "action", "destination", "status", "started_at"],
    select(
        Number.id,
        bindparam("call_id", type_=String),
        bindparam("caller", type_=String),
        bindparam("action", type_=String),
        bindparam("destination", type_=String),
        bindparam("status", type_=SmallInteger),
        bindparam("started_at", type_=UTCDateTime),
    ).where(Number.e164 == bindparam("e164")),
)
_AWAITING_OUTCOME = (Call.call_id == bindparam("b_call_id"), Call.status.is_(None))
_ANSWERED = (
    update(Call)
    .where(*_AWAITING_OUTCOME)
    .values(status=bindparam("b_status"), answered_at=bindparam("b_at"))
)
_FAILED = (
    update(Call)
    .where(*_AWAITING_OUTCOME)
    .values(status=bindparam("b_status"), ended_at=bindparam("b_at"))
)
_ENDED = (
    update(Call)
    .where(
        Call.call_id == bindparam("b_call_id"),
        Call.answered_at.is_not(None),
        Call.ended_at.is_(None),
    )
    .values(ended_at=bindparam("b_at"))
)


@dataclass(frozen=True, slots=True)
class NewCall:
    """A routed call to record."""

    e164: str
    call_id: str
    caller: str | None
    route: Route
    at: datetime


def insert_calls(conn: Connection, new: Sequence[NewCall]) -> None:
    """Record routed calls (none for a number that left the platform meanwhile)."""
    conn.execute(
        _INSERT_CALLS,
        [
            {
                "e164": call.e164,
                "call_id": call.call_id[:255],
                "caller": call.caller[:255] if call.caller else None,
                "action": call.route.action,
                "destination": call.route.uri,
                "status": call.route.status or None,
                "started_at": call.at,
            }
            for call in new
        ],
    )


def set_outcome(conn: Connection, call_id: str, *, status: int, at: datetime) -> bool:
    """The final SIP status of a routed call (2xx: answered at ``at``); False when no
    record awaits one."""
    statement = _ANSWERED if 200 <= status < 300 else _FAILED
    result = conn.execute(statement, {"b_call_id": call_id, "b_status": status, "b_at": at})
    return result.rowcount > 0


def set_end(conn: Connection, call_id: str, *, at: datetime) -> bool:
    """The answered call with this Call-ID hung up; False when no record awaits that."""
    return conn.execute(_ENDED, {"b_call_id": call_id, "b_at": at}).rowcount > 0


def list_calls(
    db: Database, e164: str, *, account_id: str | None = None, limit: int = 100
) -> list[CallRecord]:
    """A number's calls, newest first.

    Raises:
        NotFoundError: no such number (or, with ``account_id``, not that account's).
    """
    with db.read() as conn:
        number_id = owned_number_id(conn, e164, account_id=account_id)
        rows = conn.execute(
            select(
                Call.call_id,
                Call.caller,
                Call.action,
                Call.destination,
                Call.status,
                Call.started_at,
                Call.answered_at,
                Call.ended_at,
            )
            .where(Call.number_id == number_id)
            .order_by(Call.id.desc())
            .limit(limit)
        )
        return [CallRecord(*row) for row in rows]
