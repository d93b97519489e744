"""The changes of many requests, committed together: one transaction, one fsync, no thread.

SQLite has one writer at a time. With a transaction per request, each in a worker
thread, a write cost its statements plus a commit (an fsync), a hand-off to a thread and
back, and, under load, a wait for the GIL each time the thread came back from SQLite,
many times what the transaction itself takes. So on SQLite a process's changes go through one
``Writer``: a request hands it its work (a function of the open connection) and waits;
at the next turn of the event loop the writer runs every work handed in meanwhile, each
in a savepoint, in one ``BEGIN IMMEDIATE`` transaction, commits, and only then answers
each request. An acknowledged change is committed (``synchronous`` FULL by default:
durable); if the commit fails, every request of the batch fails (503, code 20) and none
was applied. A work that fails on its own (a contract check, or a statement the database
refuses, such as a constraint) is rolled back to its savepoint and fails alone; one that
cannot be undone alone fails the whole batch.

The batch runs in the event loop's thread, so nothing else of this process runs during
its commit: the fsync is paid once for the whole batch instead of once per request. The
API's call records go through the same writer (``calllog.CallLog``). When another writer
holds the database (another process, an operator command, a thread of this one), the
writer tries again every half millisecond, and fails the batch as unavailable after the
database's timeout.

On PostgreSQL each work has a transaction of its own, in the event loop too
(``Database.write_async``): the server takes many writers at once and locks rows, and a
batch there would hold row locks of unrelated requests together. (Most of the API's
changes do not come here on PostgreSQL: ``lockfree.apply_forwarding_async``.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar

import structlog
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from renvoi.errors import StoreError, StoreUnavailableError
from renvoi.store.database import Database

log = structlog.get_logger("renvoi.groupcommit")

T = TypeVar("T")
Work = Callable[[Connection], Any]

# Seconds between tries while another writer holds the database.
RETRY: Final = 0.0005
# Works in one transaction at most: a longer queue is split, so that the first waits
# for a bounded batch.
BATCH: Final = 256


class Writer:
    """A process's writer (see the module).

    Args:
        db: the database written.
        timeout: seconds a batch may wait for another writer (default: the database's).
    """

    def __init__(self, db: Database, *, timeout: float | None = None) -> None:
        self._db = db
        self._timeout = db.timeout if timeout is None else timeout
        self._pending: list[tuple[Work, asyncio.Future[Any]]] = []
        self._scheduled = False
        self._waiting_since: float | None = None

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction; return its result once committed.

        ``work`` raises to refuse (a contract error): what it wrote is rolled back, the
        rest of its batch is not. So does a statement of ``work`` that the database
        refuses (it raises here as ``StoreError``).

        Raises:
            StoreError: the database failed or refused ``work``; nothing of it was
                committed.
        """
        if not self._db.is_sqlite:
            return await self._db.write_async(work)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((work, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._commit_pending)
        return await future

    def _commit_pending(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        loop = asyncio.get_running_loop()
        if not self._db.try_turn():
            now = time.monotonic()
            self._waiting_since = self._waiting_since or now
            if now - self._waiting_since > self._timeout:
                self._waiting_since = None
                batch, self._pending = self._pending, []
                _fail(batch, StoreUnavailableError("database is locked"))
                return
            self._scheduled = True
            loop.call_later(RETRY, self._commit_pending)
            return
        self._waiting_since = None
        batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
        try:
            outcomes = self._commit(batch)
        except StoreError as exc:
            log.warning("group_commit_failed", error=str(exc), changes=len(batch))
            _fail(batch, exc)
            return
        except BaseException as exc:  # a bug: answer everyone (20) rather than hang them
            _fail(batch, exc)
            raise
        finally:
            self._db.end_turn()
            if self._pending and not self._scheduled:
                self._scheduled = True
                loop.call_soon(self._commit_pending)
        for future, result, error in outcomes:
            if future.done():
                continue  # its request was cancelled meanwhile: committed all the same
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

    def _commit(
        self, batch: list[tuple[Work, asyncio.Future[Any]]]
    ) -> list[tuple[asyncio.Future[Any], Any, BaseException | None]]:
        """Run a batch in one transaction; the outcome of each work, once committed."""
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        with self._db.write_in_turn() as conn:
            for work, future in batch:
                if future.done():
                    continue  # cancelled before its turn: never applied
                try:
                    with self._db.savepoint(conn):
                        outcomes.append((future, work(conn), None))
                except (StoreError, SQLAlchemyError) as exc:
                    error = exc if isinstance(exc, StoreError) else self._db.mapped_error(exc)
                    if isinstance(error, StoreUnavailableError):
                        # The database failed, or the work could not be undone alone
                        # (``Database.savepoint``): the whole batch.
                        raise error from exc
                    # The database refused one of this work's statements: its
                    # savepoint is undone, the rest of the batch goes on.
                    log.warning("group_commit_work_refused", error=str(error))
                    outcomes.append((future, None, error))
                except Exception as exc:  # this work refused: its savepoint is undone
                    outcomes.append((future, None, exc))
        return outcomes


def _fail(batch: list[tuple[Work, asyncio.Future[Any]]], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            # Each waiter raises an exception of its own (a traceback is per raise).
            future.set_exception(_copy(error))


def _copy(error: BaseException) -> BaseException:
    if isinstance(error, StoreError):
        return type(error)(str(error))
    return StoreError(type(error).__name__)
