"""Routing reads and call records: what the route endpoint and Kamailio's reports need.

``route_state`` is the one query on a call's path (behind the route cache). The call
records are written when a call is routed, answered or refused, and ended: by
``calllog.CallLog``, in batches, with these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, SmallInteger, String, bindparam, insert, select, update

from renvoi.domain.callforward import Mode, Setting
from renvoi.domain.routing import Route, RouteState
from renvoi.store.database import Database, PointRead
from renvoi.store.models import Call, Number, UTCDateTime
from renvoi.store.numbers import owned_number_id
from renvoi.store.records import CallRecord

_ROUTE_STATE = select(
    Number.suspended, Number.voice, Number.mode, Number.param, Number.sip_destination
).where(Number.e164 == bindparam("b_e164"))


def _route_state(e164: str, row: tuple[Any, ...]) -> RouteState:
    suspended, voice, mode, param, sip_destination = row
    return RouteState(
        number=e164,
        suspended=suspended,
        voice=voice,
        setting=Setting(Mode(mode), param),
        sip_destination=sip_destination,
    )


# ``route_state(db, e164)``: the routing state of a number, or None when it is not on
# the platform.
route_state = PointRead(_ROUTE_STATE, "b_e164", _route_state)


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


def insert_calls(db: Database, conn: Connection, new: Sequence[NewCall]) -> None:
    """Record routed calls (none for a number that left the platform meanwhile)."""
    db.execute_many(
        conn,
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


@dataclass(frozen=True, slots=True)
class Report:
    """What became of a routed call: its final SIP status, or (``status`` None) its
    hang-up."""

    call_id: str
    status: int | None
    at: datetime


@dataclass(slots=True)
class _Awaits:
    """What the records of one Call-ID can still take (several records share a Call-ID
    when a call is forwarded from one of the platform's numbers to another)."""

    outcome: bool
    end: bool


# Bounded IN lists: SQLite accepts at most 32,766 parameters in a statement.
_LOOKUP_CHUNK = 500


def apply_reports(db: Database, conn: Connection, reports: Sequence[Report]) -> list[Report]:
    """Apply ``reports`` in order; returns those that must wait for their record.

    A report waits when it has no record yet (another process has yet to commit the
    call's routing), and a hang-up also while its call has no answer yet. A report that
    its record has already taken (a retransmitted 200, a hang-up after a failure) is
    done. The records' states are read once and followed here, so that the batch costs
    three statements, not one per report; the statements' conditions are the same as
    this bookkeeping's, so a record is never updated twice.
    """
    awaits = _read_awaits(conn, {report.call_id for report in reports})
    answered: list[dict[str, object]] = []
    failed: list[dict[str, object]] = []
    ended: list[dict[str, object]] = []
    waiting: list[Report] = []
    for report in reports:
        record = awaits.get(report.call_id)
        params: dict[str, object] = {
            "b_call_id": report.call_id,
            "b_status": report.status,
            "b_at": report.at,
        }
        if record is None:
            waiting.append(report)
        elif report.status is not None:
            if record.outcome:
                record.outcome = False
                record.end = record.end or 200 <= report.status < 300
                (answered if 200 <= report.status < 300 else failed).append(params)
        elif record.end:
            record.end = False
            ended.append(params)
        elif record.outcome:
            waiting.append(report)  # its answer is still on its way
    for statement, rows in ((_ANSWERED, answered), (_FAILED, failed), (_ENDED, ended)):
        db.execute_many(conn, statement, rows)
    return waiting


def _read_awaits(conn: Connection, call_ids: set[str]) -> dict[str, _Awaits]:
    awaits: dict[str, _Awaits] = {}
    ordered = sorted(call_ids)
    for start in range(0, len(ordered), _LOOKUP_CHUNK):
        rows = conn.execute(
            select(Call.call_id, Call.status, Call.answered_at, Call.ended_at).where(
                Call.call_id.in_(ordered[start : start + _LOOKUP_CHUNK])
            )
        )
        for call_id, status, answered_at, ended_at in rows:
            record = awaits.setdefault(call_id, _Awaits(outcome=False, end=False))
            record.outcome = record.outcome or status is None
            record.end = record.end or (answered_at is not None and ended_at is None)
    return awaits


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
