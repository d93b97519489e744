"""Call records written behind the calls: batched, in order, patient with other processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from renvoi.domain.routing import Route
from renvoi.errors import StoreUnavailableError
from renvoi.store import calls, numbers
from renvoi.store.calllog import CallLog
from renvoi.store.database import Database
from renvoi.store.groupcommit import Writer
from tests.harness import Tenant

A = "+33757000001"
FORWARD = Route("forward", 0, "", uri="sip:+33612345678@127.0.0.1:5080")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("through", ["own transaction", "writer"])
def test_a_call_routed_answered_and_ended_in_one_batch(
    database: Database, tenant: Tenant, through: str
) -> None:
    """The API's call log goes through the process's writer (group commit); alone, a
    call log writes in a transaction of its own."""
    clock = Clock()
    writer = Writer(database) if through == "writer" else None
    log = CallLog(database, clock=clock, writer=writer)
    log.routed(e164=A, call_id="c1", caller="+33140000001", route=FORWARD)
    clock.now += timedelta(seconds=2)
    log.outcome("c1", 200)
    clock.now += timedelta(seconds=30)
    log.ended("c1")
    asyncio.run(log.flush())
    [record] = calls.list_calls(database, A)
    assert (record.call_id, record.action, record.status) == ("c1", "forward", 200)
    assert record.duration == 30.0
    assert log.pending == 0


@pytest.fixture
def elsewhere(database_url: str) -> Iterator[CallLog]:
    """The call log of another worker process: its own connections to the database."""
    db = Database(database_url)
    yield CallLog(db)
    db.dispose()


def test_a_report_committed_before_its_record_waits_for_it(
    database: Database, elsewhere: CallLog, tenant: Tenant
) -> None:
    """The outcome reached another worker process, whose batch was written first."""
    here = CallLog(database)
    elsewhere.outcome("c2", 486)
    asyncio.run(elsewhere.flush())
    assert elsewhere.pending == 1  # kept: its record is not there yet
    here.routed(e164=A, call_id="c2", caller=None, route=FORWARD)
    asyncio.run(here.flush())
    asyncio.run(elsewhere.flush())
    assert elsewhere.pending == 0
    [record] = calls.list_calls(database, A)
    assert record.status == 486 and record.ended_at is not None


def test_a_report_without_a_record_is_dropped_after_its_patience(
    database: Database, tenant: Tenant
) -> None:
    clock = Clock()
    log = CallLog(database, patience=10, clock=clock)
    log.ended("never-routed")
    asyncio.run(log.flush())
    assert log.pending == 1
    clock.now += timedelta(seconds=11)
    asyncio.run(log.flush())
    assert log.pending == 0


def test_a_number_removed_before_the_batch_costs_only_its_own_record(
    database: Database, tenant: Tenant
) -> None:
    log = CallLog(database)
    log.routed(e164=A, call_id="gone", caller=None, route=FORWARD)
    log.routed(e164="+33757000002", call_id="kept", caller=None, route=FORWARD)
    numbers.remove_number(database, A, region="FR")
    asyncio.run(log.flush())
    assert [r.call_id for r in calls.list_calls(database, "+33757000002")] == ["kept"]


def test_events_survive_a_locked_database_and_are_written_after(
    database_url: str, database: Database, tenant: Tenant
) -> None:
    if not database.is_sqlite:
        pytest.skip("SQLite's write lock; PostgreSQL has row locks only")
    impatient = Database(database_url, timeout=0.2)
    log = CallLog(impatient)
    try:
        log.routed(e164=A, call_id="c3", caller=None, route=FORWARD)
        with database.write():  # another process holds the write lock
            with pytest.raises(StoreUnavailableError):
                asyncio.run(log.flush())
        assert log.pending == 1
        asyncio.run(log.flush())
    finally:
        impatient.dispose()
    assert [r.call_id for r in calls.list_calls(database, A)] == ["c3"]


def test_the_writer_task_commits_without_being_asked(database: Database, tenant: Tenant) -> None:
    async def scenario() -> None:
        log = CallLog(database)
        log.start()
        log.routed(e164=A, call_id="c4", caller=None, route=FORWARD)
        for _ in range(500):
            await asyncio.sleep(0.01)
            if log.pending == 0:
                break
        assert log.pending == 0
        await log.close()

    asyncio.run(scenario())
    assert [r.call_id for r in calls.list_calls(database, A)] == ["c4"]


def test_a_retransmitted_answer_is_done_at_once(database: Database, tenant: Tenant) -> None:
    """Kamailio reports every 200 it relays; only the first one counts, none waits."""
    clock = Clock()
    log = CallLog(database, clock=clock)
    log.routed(e164=A, call_id="c5", caller=None, route=FORWARD)
    log.outcome("c5", 200)
    clock.now += timedelta(seconds=1)
    log.outcome("c5", 200)
    clock.now += timedelta(seconds=9)
    log.ended("c5")
    log.ended("c5")
    asyncio.run(log.flush())
    assert log.pending == 0
    [record] = calls.list_calls(database, A)
    assert (record.status, record.duration) == (200, 10.0)


def test_a_hang_up_whose_answer_is_elsewhere_waits_for_it(
    database: Database, elsewhere: CallLog, tenant: Tenant
) -> None:
    here = CallLog(database)
    here.routed(e164=A, call_id="c6", caller=None, route=FORWARD)
    asyncio.run(here.flush())
    elsewhere.ended("c6")
    asyncio.run(elsewhere.flush())
    assert elsewhere.pending == 1
    here.outcome("c6", 200)
    asyncio.run(here.flush())
    asyncio.run(elsewhere.flush())
    assert elsewhere.pending == 0
    [record] = calls.list_calls(database, A)
    assert record.answered_at is not None and record.ended_at is not None


def test_a_hang_up_after_a_failure_changes_nothing(database: Database, tenant: Tenant) -> None:
    clock = Clock()
    log = CallLog(database, clock=clock)
    log.routed(e164=A, call_id="c7", caller=None, route=FORWARD)
    log.outcome("c7", 486)
    asyncio.run(log.flush())
    clock.now += timedelta(seconds=5)
    log.ended("c7")
    asyncio.run(log.flush())
    assert log.pending == 0
    [record] = calls.list_calls(database, A)
    assert (record.status, record.answered_at, record.ended_at) == (486, None, Clock().now)


def test_one_call_through_two_numbers_completes_both_records(
    database: Database, tenant: Tenant
) -> None:
    """A forwarded to B, both on the platform: one Call-ID, two records, one set of reports."""
    b = "+33757000002"
    log = CallLog(database)
    log.routed(e164=A, call_id="c8", caller=None, route=FORWARD)
    log.routed(e164=b, call_id="c8", caller=None, route=FORWARD)
    log.outcome("c8", 200)
    log.ended("c8")
    asyncio.run(log.flush())
    assert log.pending == 0
    for number in (A, b):
        [record] = calls.list_calls(database, number)
        assert (record.status, record.ended_at is not None) == (200, True), number


def test_a_batch_keeps_its_calls_in_the_order_they_were_routed(
    database: Database, tenant: Tenant
) -> None:
    """Newest first, across numbers and within one: a batch's records are numbered in
    the order of its events (one statement per batch on PostgreSQL, ``execute_batch``),
    and each report finds its own."""
    b = "+33757000002"
    log = CallLog(database)
    order = [(A if i % 3 else b, f"c{i}") for i in range(30)]
    for number, call_id in order:
        log.routed(e164=number, call_id=call_id, caller=None, route=FORWARD)
    for i in range(0, 30, 2):
        log.outcome(f"c{i}", 486)
    asyncio.run(log.flush())
    assert log.pending == 0
    for number in (A, b):
        records = calls.list_calls(database, number)
        assert [r.call_id for r in records] == [c for n, c in reversed(order) if n == number]
        assert [r.status for r in records] == [
            486 if int(r.call_id[1:]) % 2 == 0 else None for r in records
        ]


REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_call BEFORE INSERT ON calls WHEN NEW.call_id = 'refused' "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_call() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.call_id = 'refused' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER refuse_call BEFORE INSERT ON calls "
        "FOR EACH ROW EXECUTE FUNCTION refuse_call()",
    ],
}
UNREFUSE = {
    "sqlite": ["DROP TRIGGER IF EXISTS refuse_call"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS refuse_call ON calls",
        "DROP FUNCTION IF EXISTS refuse_call()",
    ],
}


@pytest.fixture
def refusing(database: Database) -> Iterator[None]:
    """The database refuses the record of the call "refused" (a trigger): a stand-in for
    whatever row a bug may one day let through (a Call-ID holding NUL did, once)."""
    dialect = "sqlite" if database.is_sqlite else "postgresql"

    def run(statements: list[str]) -> None:
        with database.engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))

    run(UNREFUSE[dialect] + REFUSE[dialect])
    yield
    run(UNREFUSE[dialect])


@pytest.mark.parametrize("through", ["own transaction", "writer"])
def test_an_event_the_database_refuses_costs_only_itself(
    database: Database, tenant: Tenant, refusing: None, through: str
) -> None:
    """The refused record is dropped; the batch's other records and reports are
    written, and so are the batches after it (retried whole, it stopped them all)."""
    writer = Writer(database) if through == "writer" else None
    log = CallLog(database, writer=writer)
    routed = [f"c{i}" for i in range(7)]
    routed.insert(3, "refused")
    for call_id in routed:
        log.routed(e164=A, call_id=call_id, caller=None, route=FORWARD)
    log.outcome("c5", 486)
    asyncio.run(log.flush())
    assert log.pending == 0
    records = calls.list_calls(database, A)
    assert [r.call_id for r in records] == [f"c{i}" for i in reversed(range(7))]
    assert [r.call_id for r in records if r.status == 486] == ["c5"]
    log.routed(e164=A, call_id="after", caller=None, route=FORWARD)
    asyncio.run(log.flush())
    assert calls.list_calls(database, A)[0].call_id == "after"


def test_past_its_limit_the_oldest_events_are_dropped(
    database_url: str, database: Database, tenant: Tenant
) -> None:
    """While the database is unavailable, the queue keeps the newest ``limit`` events,
    those of the batch that failed included."""
    if not database.is_sqlite:
        pytest.skip("SQLite's write lock makes the database unavailable at will")
    impatient = Database(database_url, timeout=0.2)
    log = CallLog(impatient, limit=3)
    try:
        for call_id in ("c1", "c2", "c3", "c4"):
            log.routed(e164=A, call_id=call_id, caller=None, route=FORWARD)
        assert log.pending == 3
        with database.write():  # another process holds the write lock
            with pytest.raises(StoreUnavailableError):
                asyncio.run(log.flush())
        log.routed(e164=A, call_id="c5", caller=None, route=FORWARD)
        assert log.pending == 3
        asyncio.run(log.flush())
    finally:
        impatient.dispose()
    assert [r.call_id for r in calls.list_calls(database, A)] == ["c5", "c4", "c3"]
