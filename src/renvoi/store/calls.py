"""Routing reads and call records: what the route endpoint and Kamailio's reports need.

``route_state`` is the one query on a call's path (behind the route cache); the call
records are written when a call is routed, answered or refused, and ended.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select, update

from renvoi.domain.callforward import Mode, Setting
from renvoi.domain.routing import Route, RouteState
from renvoi.store.database import Database
from renvoi.store.models import Call, Number
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


def record_call(
    db: Database,
    *,
    e164: str,
    call_id: str,
    caller: str | None,
    route: Route,
    now: datetime | None = None,
) -> int | None:
    """Record a routed call; returns its id (None for a number not on the platform)."""
    with db.write() as conn:
        number_id = conn.scalar(select(Number.id).where(Number.e164 == e164))
        if number_id is None:
            return None
        return conn.scalar(
            insert(Call)
            .values(
                number_id=number_id,
                call_id=call_id[:255],
                caller=caller[:255] if caller else None,
                action=route.action,
                destination=route.uri,
                status=route.status or None,
                started_at=now or datetime.now(UTC),
            )
            .returning(Call.id)
        )


def record_outcome(
    db: Database, record_id: int, *, status: int, now: datetime | None = None
) -> None:
    """The final SIP status of a routed call (2xx: answered now)."""
    when = now or datetime.now(UTC)
    values: dict[str, object] = {"status": status}
    if 200 <= status < 300:
        values["answered_at"] = when
    else:
        values["ended_at"] = when
    with db.write() as conn:
        conn.execute(
            update(Call).where(Call.id == record_id, Call.status.is_(None)).values(**values)
        )


def record_end(db: Database, call_id: str, *, now: datetime | None = None) -> None:
    """The call with this Call-ID hung up (a BYE went through the proxy)."""
    with db.write() as conn:
        conn.execute(
            update(Call)
            .where(Call.call_id == call_id, Call.answered_at.is_not(None), Call.ended_at.is_(None))
            .values(ended_at=now or datetime.now(UTC))
        )


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
