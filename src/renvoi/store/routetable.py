"""What routing reads of a number, and what Kamailio holds of it, kept in the same
transaction as every change.

Every change to a number's routing writes the number's plan (``domain.routing.plan_of``)
into ``kamailio_routes`` and moves the generation, in the writer's transaction
(``publish``). Kamailio loads that table when it starts and catches up on the rows newer
than its generation (``kamailio.cfg``, route ``CATCH_UP``); the API pushes each change
to every Kamailio after commit (``renvoi.proxies``), for the very next call.

Every change updates the one generation row. Its lock orders the changes' commits, so a
row of a higher version is never committed before one of a lower: a catch-up that has
seen version N has seen every change up to N. The price is that changes commit one
after the other (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import (
    CTE,
    Connection,
    String,
    bindparam,
    cast,
    exists,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from renvoi.domain.modes import Fallbacks, Mode, Setting
from renvoi.domain.routing import PLAN_SEPARATOR, Plan, RouteState, encode_plan, plan_of
from renvoi.store.database import Database
from renvoi.store.models import KamailioRoute, Number
from renvoi.store.pointread import PointRead
from renvoi.store.statecache import announce

# The row that holds the generation: not a number (those start with "+").
GENERATION_KEY: Final = "generation"

# A number's fallbacks (``fallbacks_from_row``), at the end of the statements that
# need them.
FALLBACK_COLUMNS = (
    Number.busy_mode,
    Number.busy_param,
    Number.no_answer_mode,
    Number.no_answer_param,
    Number.unavailable_mode,
    Number.unavailable_param,
    Number.ring_seconds,
)


def fallbacks_from_row(row: Sequence[Any]) -> Fallbacks:
    """A number's fallbacks from the values of ``FALLBACK_COLUMNS``."""
    busy, busy_to, no_answer, no_answer_to, unavailable, unavailable_to, ring = row
    return Fallbacks(
        busy=Setting(Mode(busy), busy_to),
        no_answer=Setting(Mode(no_answer), no_answer_to),
        unavailable=Setting(Mode(unavailable), unavailable_to),
        ring_seconds=ring,
    )


_ROUTE_STATE = select(
    Number.suspended,
    Number.voice,
    Number.mode,
    Number.param,
    Number.sip_destination,
    *FALLBACK_COLUMNS,
).where(Number.e164 == bindparam("b_e164"))


def route_state_from_row(e164: str, row: Sequence[Any]) -> RouteState:
    suspended, voice, mode, param, sip_destination = row[:5]
    return RouteState(
        number=e164,
        suspended=suspended,
        voice=voice,
        setting=Setting(Mode(mode), param),
        sip_destination=sip_destination,
        fallbacks=fallbacks_from_row(row[5:]),
    )


# ``route_state(db, e164)``: the routing state of a number, or None when it is not on
# the platform.
route_state = PointRead(_ROUTE_STATE, "b_e164", route_state_from_row)

_VERSION = KamailioRoute.version
# The generation of the last change, as a statement and as a value inside another.
_CURRENT = select(_VERSION).where(KamailioRoute.key_name == GENERATION_KEY)
_GENERATION = _CURRENT.scalar_subquery()


def _row(key: Any, value: Any, version: Any) -> Any:
    """A row of the table, as a SELECT to insert."""
    return select(key, literal(0), literal(0), value, literal(0), version)


def _inserting(dialect: Any, row: Any, **on_conflict: Any) -> Any:
    """``row`` inserted, or its key's row updated with ``on_conflict`` (the columns'
    new values, given the inserted row as ``excluded``)."""
    statement = dialect.insert(KamailioRoute).from_select(
        ["key_name", "key_type", "value_type", "key_value", "expires", "version"], row
    )
    return statement.on_conflict_do_update(
        index_elements=[KamailioRoute.key_name], set_=on_conflict or {
            "key_value": statement.excluded.key_value, "version": statement.excluded.version
        }
    )  # fmt: skip


def _next_generation(dialect: Any, *, only_if: CTE | None = None) -> Any:
    """The generation moved on by one (the row made, if it is missing: a database
    emptied by hand); with ``only_if``, only if that CTE returned a row."""
    first = _row(literal(GENERATION_KEY), literal("1"), literal(1))
    if only_if is not None:
        first = first.where(exists(select(only_if.c[0])))
    elif dialect is sqlite:
        first = first.where(literal(True))  # see _SET_ROW_AT_GENERATION
    moved = {"version": _VERSION + 1, "key_value": cast(_VERSION + 1, String)}
    return _inserting(dialect, first, **moved)


def _numbers_row(version: Any) -> Any:
    """The number's row (``r_key``, ``r_plan``) at ``version``: its value is the version,
    then the plan (Kamailio compares versions)."""
    value = cast(version, String) + literal(PLAN_SEPARATOR) + bindparam("r_plan", type_=String)
    return _row(bindparam("r_key", type_=String), value, version)


def publishing(changed: CTE | None = None) -> CTE:
    """PostgreSQL: the generation moved on and the number's row written, as a CTE to
    add to a change's statement (run with ``plan_params``); with ``changed``, only if
    that CTE returned a row (a compare-and-set that took)."""
    moved = _next_generation(postgresql, only_if=changed)
    generation = moved.returning(_VERSION).cte("generation")
    written = _inserting(postgresql, _numbers_row(generation.c.version))
    published: CTE = written.returning(_VERSION).cte("published")
    return published


_PUBLISH = select(publishing().c.version)
# Elsewhere, two statements: the generation moved on, then rows written at the
# generation it made (in the writer's transaction, which holds the generation's lock).
# On SQLite a statement costs no round trip, and its WITH holds no UPDATE.
_MOVE_GENERATION = {
    "sqlite": _next_generation(sqlite),
    "postgresql": _next_generation(postgresql),
}
_SET_ROW_AT_GENERATION = {
    # SQLite reads "INSERT ... SELECT ... ON CONFLICT" only with a WHERE before the ON.
    "sqlite": _inserting(sqlite, _numbers_row(_GENERATION).where(literal(True))),
    "postgresql": _inserting(postgresql, _numbers_row(_GENERATION)),
}


def plan_params(e164: str, plan: Plan) -> dict[str, str]:
    """The parameters of ``publishing``: the number and its plan."""
    return {"r_key": e164, "r_plan": encode_plan(plan)}


def publish(db: Database, conn: Connection, e164: str) -> None:
    """Write the number's plan, read from its state in the transaction ``conn`` (a
    number not on the platform refuses calls: its row stays, for the catch-ups), and
    move the generation on. Last in a change's transaction: the generation's lock is
    held until its commit."""
    row = db.fetch_one(_ROUTE_STATE, {"b_e164": e164}, conn=conn)
    params = plan_params(e164, plan_of(None if row is None else route_state_from_row(e164, row)))
    if db.is_sqlite:
        db.execute(conn, _MOVE_GENERATION["sqlite"], {})
        db.execute(conn, _SET_ROW_AT_GENERATION["sqlite"], params)
    else:
        db.execute(conn, _PUBLISH, params)


def announce_route(db: Database, conn: Connection, e164: str) -> None:
    """A change to a number's routing, in its transaction: the route caches told
    (``statecache.announce``), and Kamailio's row written (``publish``)."""
    announce(db, conn, e164)
    publish(db, conn, e164)


def publish_all(conn: Connection) -> int:
    """Every number's row written from its state, under one new generation, returned
    (the migration that made the table; ``renvoi kamailio sync``)."""
    dialect = conn.dialect.name
    conn.execute(_MOVE_GENERATION[dialect])
    numbers = conn.execute(select(Number.e164, *_ROUTE_STATE.selected_columns)).all()
    rows = [plan_params(e164, plan_of(route_state_from_row(e164, rest))) for e164, *rest in numbers]
    if rows:
        conn.execute(_SET_ROW_AT_GENERATION[dialect], rows)
    return int(conn.scalar(_CURRENT) or 0)


# ``row_of(db, e164)``: the value Kamailio holds for a number (its version, then its
# plan), or None when it has no row: what a push sends.
row_of = PointRead(
    select(KamailioRoute.key_value).where(KamailioRoute.key_name == bindparam("r_key")),
    "r_key",
    lambda _key, row: str(row[0]),
)


def generation(db: Database) -> int:
    """The generation of the last change."""
    with db.read() as conn:
        return int(conn.scalar(_CURRENT) or 0)
