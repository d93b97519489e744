"""The writer: works handed in together commit together, each refusing on its own."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, select, update
from sqlalchemy.engine import make_url

from renvoi.domain.codes import Code
from renvoi.domain.modes import Mode, Setting
from renvoi.errors import ContractError, StoreError, StoreUnavailableError
from renvoi.store import forwarding
from renvoi.store.database import Database
from renvoi.store.groupcommit import Writer
from renvoi.store.models import Number
from renvoi.store.sqlite import CHECKPOINT_EVERY
from tests.harness import Tenant

A, B = "+33757000001", "+33757000002"
DEST = "+33612345678"


def forward(db: Database, tenant: Tenant, e164: str) -> Callable[[Connection], forwarding.Applied]:
    def work(conn: Connection) -> forwarding.Applied:
        return forwarding.apply_forwarding(
            db, conn, e164, Setting(Mode.FORWARD, DEST), principal=tenant.principal
        )

    return work


def mode_of(db: Database, e164: str) -> int:
    with db.read() as conn:
        mode = conn.scalar(select(Number.mode).where(Number.e164 == e164))
    assert mode is not None
    return mode


def together(db: Database, *works: Callable[[Connection], object]) -> list[object]:
    """Hand ``works`` to one writer in the same loop turn (one batch on SQLite); each
    one's result or exception."""

    async def main() -> list[object]:
        writer = Writer(db)
        return list(await asyncio.gather(*map(writer.run, works), return_exceptions=True))

    return asyncio.run(main())


@pytest.mark.parametrize("in_loop", [False, True], ids=["threads", "event-loop"])
def test_identical_changes_in_one_batch_are_serialized(
    database: Database, tenant: Tenant, in_loop: bool
) -> None:
    """On PostgreSQL each change is a transaction of its own: in worker threads, or (the
    app's way, ``open_async``) in the event loop; the row lock serializes them."""

    async def main() -> list[object]:
        if in_loop:
            await database.open_async()
        try:
            writer = Writer(database)
            works = [writer.run(forward(database, tenant, A)) for _ in range(10)]
            return await asyncio.gather(*works, return_exceptions=True)
        finally:
            await database.close_async()

    outcomes = asyncio.run(main())
    applied = [o for o in outcomes if isinstance(o, forwarding.Applied)]
    refused = [o for o in outcomes if isinstance(o, ContractError)]
    assert len(applied) == 1 and applied[0].code is Code.CALLFORWARD_ENABLED
    assert len(refused) == 9 and {r.code for r in refused} == {Code.ALREADY_FORWARDING}


def test_a_work_that_fails_half_way_undoes_only_itself(database: Database, tenant: Tenant) -> None:
    def half_then_fail(conn: Connection) -> None:
        forward(database, tenant, B)(conn)  # writes B...
        raise ContractError(Code.BAD_REQUEST)  # ...then refuses

    first, second = together(database, forward(database, tenant, A), half_then_fail)
    assert isinstance(first, forwarding.Applied) and isinstance(second, ContractError)
    assert mode_of(database, A) == Mode.FORWARD
    assert mode_of(database, B) == Mode.OFF  # its savepoint was rolled back


def test_a_statement_the_database_refuses_fails_only_its_own_work(
    database: Database, tenant: Tenant
) -> None:
    """A constraint the database enforces (numbers are unique) refuses one work of the
    batch; the works before and after it commit. (Retried whole, a call log's refused
    record once failed every customer's change that shared its batch.)"""
    c = "+33757000003"

    def take_a(conn: Connection) -> None:
        conn.execute(update(Number).where(Number.e164 == B).values(e164=A))

    first, second, third = together(
        database, forward(database, tenant, A), take_a, forward(database, tenant, c)
    )
    assert isinstance(first, forwarding.Applied) and isinstance(third, forwarding.Applied)
    assert isinstance(second, StoreError) and not isinstance(second, StoreUnavailableError)
    assert (mode_of(database, A), mode_of(database, B), mode_of(database, c)) == (
        Mode.FORWARD,
        Mode.OFF,
        Mode.FORWARD,
    )


def test_a_failure_that_ends_the_transaction_fails_the_whole_batch(
    database: Database, tenant: Tenant
) -> None:
    """Some errors make SQLite roll back the whole transaction (out of memory,
    interrupted), savepoint included: the failed work cannot be undone alone, so no work
    may go on after it, and none of the batch holds."""
    if not database.is_sqlite:
        pytest.skip("PostgreSQL runs each work at once, in a transaction of its own")

    def end_it(conn: Connection) -> None:
        conn.exec_driver_sql("ROLLBACK")  # what SQLite itself does on those errors
        conn.execute(update(Number).where(Number.e164 == B).values(e164=A))

    outcomes = together(
        database, forward(database, tenant, A), end_it, forward(database, tenant, B)
    )
    assert all(isinstance(o, StoreError) for o in outcomes), outcomes
    assert (mode_of(database, A), mode_of(database, B)) == (Mode.OFF, Mode.OFF)


def test_a_cancelled_request_is_not_applied(database: Database, tenant: Tenant) -> None:
    if not database.is_sqlite:
        pytest.skip("PostgreSQL runs each work at once, in a transaction of its own")

    async def main() -> None:
        writer = Writer(database)
        task = asyncio.ensure_future(writer.run(forward(database, tenant, A)))
        await asyncio.sleep(0)  # handed in, not yet run
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await writer.run(forward(database, tenant, B))

    asyncio.run(main())
    assert mode_of(database, A) == Mode.OFF
    assert mode_of(database, B) == Mode.FORWARD


def test_a_batch_waits_for_another_writer_then_fails_as_unavailable(
    database: Database, tenant: Tenant
) -> None:
    if not database.is_sqlite:
        pytest.skip("SQLite's single writer")
    holding, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        with database.write():
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=other_writer)
    thread.start()
    holding.wait(10)
    try:

        async def main() -> object:
            writer = Writer(database, timeout=0.2)
            results = await asyncio.gather(
                writer.run(forward(database, tenant, A)), return_exceptions=True
            )
            return results[0]

        assert isinstance(asyncio.run(main()), StoreUnavailableError)
    finally:
        release.set()
        thread.join()

    async def after() -> forwarding.Applied:
        return await Writer(database).run(forward(database, tenant, A))

    assert asyncio.run(after()).code is Code.CALLFORWARD_ENABLED  # and the turn was given back


def test_the_batches_wal_is_checkpointed_off_the_loop(database: Database, tenant: Tenant) -> None:
    """The writer's connection never checkpoints (its commits run in the event loop): a
    thread of the database does. The main file, read without the WAL, ends up holding the
    change."""
    if not database.is_sqlite:
        pytest.skip("SQLite's WAL")

    async def main() -> object:
        return await Writer(database).run(forward(database, tenant, A))

    assert isinstance(asyncio.run(main()), forwarding.Applied)
    path = make_url(database.url).database
    deadline = time.monotonic() + 10
    mode = None
    while time.monotonic() < deadline:
        # immutable: the main file alone, as if the WAL did not exist.
        with contextlib.closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as main_file:
            try:
                row = main_file.execute("SELECT mode FROM numbers WHERE e164 = ?", (A,)).fetchone()
            except sqlite3.OperationalError:  # not even the schema there yet
                row = None
        mode = None if row is None else row[0]
        if mode == Mode.FORWARD:
            break
        time.sleep(CHECKPOINT_EVERY)
    assert mode == Mode.FORWARD


def test_changes_past_the_pool_wait_their_turn_then_fail_as_unavailable(
    database: Database, tenant: Tenant
) -> None:
    """PostgreSQL in the event loop: one connection, held by a change that waits for a
    row lock; the next change waits for its turn up to the timeout, then answers
    unavailable (code 20), and the turn is given back."""
    if database.is_sqlite:
        pytest.skip("PostgreSQL's changes in the event loop")
    small = Database(database.url, pool_size=1, timeout=0.3)
    holding, release = threading.Event(), threading.Event()

    def lock_holder() -> None:
        with database.write() as conn:
            conn.execute(select(Number.id).where(Number.e164 == A).with_for_update())
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=lock_holder)
    thread.start()
    holding.wait(10)

    async def main() -> tuple[object, object, object]:
        await small.open_async()
        try:
            first = asyncio.ensure_future(small.write_async(forward(small, tenant, A)))
            await asyncio.sleep(0.05)  # it has the connection, and waits for the row
            second = await asyncio.gather(
                small.write_async(forward(small, tenant, B)), return_exceptions=True
            )
            release.set()
            return await first, second[0], await small.write_async(forward(small, tenant, B))
        finally:
            await small.close_async()

    try:
        first, second, third = asyncio.run(main())
    finally:
        release.set()
        thread.join()
        small.dispose()
    assert isinstance(second, StoreUnavailableError)
    assert isinstance(first, forwarding.Applied) and first.code is Code.CALLFORWARD_ENABLED
    assert isinstance(third, forwarding.Applied) and third.code is Code.CALLFORWARD_ENABLED
