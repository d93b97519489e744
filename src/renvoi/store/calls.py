"""Call records: what the route endpoint and Kamailio's reports write. The call
records are written when a call is routed, answered or refused, and ended: by
``calllog.CallLog``, in batches, with these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Insert,
    Integer,
    SmallInteger,
    String,
    Update,
    bindparam,
    cast,
    column,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from renvoi.domain.routing import Route
from renvoi.store.database import BATCH_ROWS, Database
from renvoi.store.models import Call, Number, UTCDateTime
from renvoi.store.numbers import newest
from renvoi.store.records import CallRecord

# Built once: these run for every call, and a prebuilt statement skips SQLAlchemy's
# per-execution construction. Each comes twice (``Database.execute_batch``), from the same
# function of the values' columns: for one row of a batch (SQLite's executemany), and for
# the whole batch in one statement (PostgreSQL).
Values = dict[str, ColumnElement[Any]]

_NEW_CALL: dict[str, TypeEngine[Any]] = {
    "e164": String(),
    "call_id": String(),
    "caller": String(),
    "action": String(),
    "destination": String(),
    "status": SmallInteger(),
    "started_at": UTCDateTime(),
    "diverted": String(),
    "diverted_to": String(),
}
_REPORT: dict[str, TypeEngine[Any]] = {
    "b_call_id": String(),
    "b_status": SmallInteger(),
    "b_at": UTCDateTime(),
}
_DIVERT: dict[str, TypeEngine[Any]] = {
    "b_call_id": String(),
    "b_diverted": String(),
    "b_diverted_to": String(),
}


def _one(columns: dict[str, TypeEngine[Any]]) -> Values:
    """A row's values: one parameter per column."""
    return {name: bindparam(name, type_=type_) for name, type_ in columns.items()}


def _batch(columns: dict[str, TypeEngine[Any]]) -> tuple[Values, ColumnElement[Any]]:
    """A batch's values on PostgreSQL, and their order: the rows of the JSON parameter
    that ``Database.execute_batch`` gives ``together``, with their columns' types."""
    rows = (
        func.jsonb_to_recordset(cast(bindparam(BATCH_ROWS, type_=String), JSONB))
        .table_valued(
            *(column(name, type_) for name, type_ in columns.items()), column("ord", Integer)
        )
        .render_derived(name="batch", with_types=True)
    )
    return {name: rows.c[name] for name in columns}, rows.c.ord


_INSERTED = [name for name in _NEW_CALL if name != "e164"]


def _insert_call(v: Values) -> Insert:
    """Record a routed call (none for a number that left the platform meanwhile)."""
    return insert(Call).from_select(
        ["number_id", *_INSERTED],
        select(Number.id, *(v[name] for name in _INSERTED)).where(Number.e164 == v["e164"]),
    )


def _insert_calls(v: Values, order: ColumnElement[Any]) -> Insert:
    """``_insert_call`` for a batch, numbered in its order. Each number is looked up by
    its own subquery, through its index (twice: PostgreSQL evaluates the subquery in
    the filter too): as a join, the planner took a batch for the 100 rows it guesses a
    function returns, and hashed them against a scan of every number."""
    number_id = select(Number.id).where(Number.e164 == v["e164"]).scalar_subquery()
    routed = select(number_id.label("number_id"), *v.values(), order.label("ord")).subquery()
    return insert(Call).from_select(
        ["number_id", *_INSERTED],
        select(routed.c.number_id, *(routed.c[name] for name in _INSERTED))
        .where(routed.c.number_id.is_not(None))
        .order_by(routed.c.ord),  # ids in the order the calls were routed
    )


def _reported(v: Values) -> tuple[Update, Update, Update]:
    """Calls answered, failed, and ended (``apply_reports``)."""
    awaiting_outcome = (Call.call_id == v["b_call_id"], Call.status.is_(None))
    answered = (
        update(Call).where(*awaiting_outcome).values(status=v["b_status"], answered_at=v["b_at"])
    )
    failed = update(Call).where(*awaiting_outcome).values(status=v["b_status"], ended_at=v["b_at"])
    ended = (
        update(Call)
        .where(
            Call.call_id == v["b_call_id"],
            Call.answered_at.is_not(None),
            Call.ended_at.is_(None),
        )
        .values(ended_at=v["b_at"])
    )
    return answered, failed, ended


def _diverted(v: Values) -> Update:
    """A call taken to a fallback: the condition, and where it went."""
    return (
        update(Call)
        .where(Call.call_id == v["b_call_id"], Call.status.is_(None))
        .values(diverted=v["b_diverted"], diverted_to=v["b_diverted_to"])
    )


_INSERT_CALLS = _insert_call(_one(_NEW_CALL))
_INSERT_CALLS_BATCH = _insert_calls(*_batch(_NEW_CALL))
_ANSWERED, _FAILED, _ENDED = _reported(_one(_REPORT))
_REPORTED_BATCH = _reported(_batch(_REPORT)[0])
_DIVERTED = _diverted(_one(_DIVERT))
_DIVERTED_BATCH = _diverted(_batch(_DIVERT)[0])


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
    db.execute_batch(
        conn,
        [
            {
                "e164": call.e164,
                "call_id": call.call_id[:255],
                "caller": call.caller[:255] if call.caller else None,
                "action": call.route.action,
                "destination": call.route.uri,
                "status": call.route.status or None,
                "started_at": call.at,
                "diverted": call.route.diverted,
                "diverted_to": call.route.uri if call.route.diverted else None,
            }
            for call in new
        ],
        each=_INSERT_CALLS,
        together=_INSERT_CALLS_BATCH,
    )


@dataclass(frozen=True, slots=True)
class Report:
    """What became of a routed call: its final SIP status, or (``status`` None) its
    hang-up; or (``diverted`` set) the fallback it was taken to, and where."""

    call_id: str
    status: int | None
    at: datetime
    diverted: str | None = None
    diverted_to: str | None = None


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
    diverted: list[dict[str, object]] = []
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
        elif report.diverted is not None:
            # Before its outcome, always (the proxy reports in order); applied first.
            if record.outcome:
                diverted.append(
                    {
                        "b_call_id": report.call_id,
                        "b_diverted": report.diverted,
                        "b_diverted_to": report.diverted_to,
                    }
                )
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
    db.execute_batch(conn, diverted, each=_DIVERTED, together=_DIVERTED_BATCH)
    each = (_ANSWERED, _FAILED, _ENDED)
    for one, together, rows in zip(each, _REPORTED_BATCH, (answered, failed, ended), strict=True):
        db.execute_batch(conn, rows, each=one, together=together)
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


_CALL_COLUMNS = (
    Call.call_id,
    Call.caller,
    Call.action,
    Call.destination,
    Call.status,
    Call.started_at,
    Call.answered_at,
    Call.ended_at,
    Call.diverted,
    Call.diverted_to,
)


def list_calls(
    db: Database, e164: str, *, account_id: str | None = None, limit: int = 100
) -> list[CallRecord]:
    """A number's calls, newest first.

    Raises:
        NotFoundError: no such number (or, with ``account_id``, not that account's).
    """
    rows = newest(db, e164, Call, _CALL_COLUMNS, account_id=account_id, limit=limit)
    return [CallRecord(*row) for row in rows]
