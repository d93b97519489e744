"""No scan on the request path: every statement a request or a call runs finds its rows
through an index, so its cost grows with the B-tree's depth, not the table's size (the
performance issue: "1 M numbers vs 10 k", ``bench/api.py --numbers 1000000``).

SQLite's ``EXPLAIN QUERY PLAN`` says ``SEARCH`` for an index look-up and ``SCAN`` for a
walk through a table or an index. PostgreSQL's planner may rightly choose a sequential
scan of a small test table, so its plans are not a proof; the schema (the indexes) is
the same on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import ClauseElement
from sqlalchemy.dialects import sqlite

from renvoi.domain.modes import Condition
from renvoi.store import accounts, calls, fallbacks, forwarding, numbers, routetable, statecache
from renvoi.store.database import Database
from renvoi.store.migrate import upgrade

# The prebuilt statements of the request path, with a value for each of their parameters.
E164 = {"b_e164": "+33757000001"}
REQUEST_PATH: dict[str, tuple[ClauseElement, dict[str, Any]]] = {
    "API key (contract check 2)": (accounts.principal_of.statement, {"b_hash": "x"}),
    "number read": (numbers.record_of.statement, E164),
    "route of a call": (routetable.route_state.statement, E164),
    "number locked for a change": (
        forwarding._LOCKED_STATE,
        {**E164, "b_destination": "+33757000002"},
    ),
    "loop walk": (forwarding._FORWARDS_OF, E164),
    "change": (
        forwarding._SET_FORWARDING,
        {"b_id": 1, "b_mode": 1, "b_param": "+33612345678", "b_at": None},
    ),
    "prune the cache events": (statecache._PRUNE_EVENTS, {"b_seq": 1}),
    "record a routed call": (
        calls._INSERT_CALLS,
        {
            "e164": "+33757000001",
            "call_id": "c",
            "caller": None,
            "action": "forward",
            "destination": None,
            "status": None,
            "started_at": None,
            "diverted": None,
            "diverted_to": None,
        },
    ),
    "a call diverted": (
        calls._DIVERTED,
        {"b_call_id": "c", "b_diverted": "busy", "b_diverted_to": "sip:x@y"},
    ),
    "a fallback changed": (
        fallbacks._SET_FALLBACK[Condition.BUSY],
        {"b_id": 1, "b_mode": 1, "b_param": "+33612345678", "b_ring": 20, "b_at": None},
    ),
    "a call answered": (calls._ANSWERED, {"b_call_id": "c", "b_status": 200, "b_at": None}),
    "a call failed": (calls._FAILED, {"b_call_id": "c", "b_status": 486, "b_at": None}),
    "a call ended": (calls._ENDED, {"b_call_id": "c", "b_at": None}),
}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """SQLite only (see the module), migrated."""
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.db'}")
    upgrade(db)
    yield db
    db.dispose()


@pytest.mark.parametrize("name", list(REQUEST_PATH))
def test_the_request_path_searches_and_never_scans(database: Database, name: str) -> None:
    statement, params = REQUEST_PATH[name]
    compiled = statement.compile(dialect=sqlite.dialect(), column_keys=list(params))
    values = compiled.construct_params(params)
    sql = str(compiled)
    with database.read() as conn:
        plan = [
            row[-1]
            for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + sql, tuple(values[n] for n in compiled.positiontup or ())
            )
        ]
    assert plan, f"{name}: no plan for {sql}"
    scans = [step for step in plan if step.startswith("SCAN")]
    assert not scans, f"{name}: {scans} in {plan}"
