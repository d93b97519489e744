"""Call records written behind the calls: queued in memory, committed in batches.

Kamailio reports three things per call (routed, final status, hang-up), each while one of
its workers waits. Writing each report in its own fsync'ed transaction before answering
made the records, not the routing, the limit on calls per second. The route endpoint and
the reports now only queue an event and answer; a task per process commits whatever
queued meanwhile in one transaction (in the API through the process's group-commit
``Writer``: on SQLite in the event loop, beside the customers' changes).

What this trades: a call record is not an acknowledged change. A process killed with -9
loses the events of its current batch (a few milliseconds of calls); a stopping process
writes everything it holds first. The database being unavailable keeps events queued
(up to ``limit``, the oldest dropped past it) and retried. A batch that the database
refuses outright is split until the events it refuses are alone: those are dropped and
logged, so that one bad event cannot stop the records of every call after it.

Order across processes: a report may reach another worker process than the call's routing
did, and be committed first. An outcome or a hang-up that finds no record to update is
kept and tried again with the next batches for ``patience`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial

import anyio.to_thread
import structlog
from sqlalchemy import Connection

from renvoi.domain.routing import Route
from renvoi.errors import StoreError, StoreUnavailableError
from renvoi.store import calls
from renvoi.store.calls import NewCall, Report
from renvoi.store.database import Database
from renvoi.store.groupcommit import Writer

log = structlog.get_logger("renvoi.calllog")

# Seconds between tries of reports that found no record yet.
RETRY_WAITING = 0.1


Event = NewCall | Report


class CallLog:
    """One process's queue of call events and the task that commits them.

    Args:
        db: where the records go.
        interval: seconds a batch gathers events before it is written.
        patience: seconds an outcome or hang-up waits for its call's record.
        limit: events held at most while the database is unavailable (oldest dropped).
        clock: the current time (tests pass their own).
        writer: the process's writer, whose batches then carry the call records too (on
            SQLite in the event loop, no thread); by default a transaction of their own
            in a worker thread.
    """

    def __init__(
        self,
        db: Database,
        *,
        interval: float = 0.005,
        patience: float = 10.0,
        limit: int = 100_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        writer: Writer | None = None,
    ) -> None:
        self._db = db
        self._writer = writer
        self._interval = interval
        self._patience = patience
        self._limit = limit
        self._clock = clock
        self._events: deque[Event] = deque(maxlen=limit)  # full, the oldest is dropped
        self._waiting: list[Event] = []  # applied to nothing yet: tried again
        self._writing: list[Event] = []  # the batch in its transaction
        self._queued = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def routed(self, *, e164: str, call_id: str, caller: str | None, route: Route) -> None:
        self._add(NewCall(e164, call_id, caller, route, self._clock()))

    def outcome(self, call_id: str, status: int) -> None:
        self._add(Report(call_id, status, self._clock()))

    def ended(self, call_id: str) -> None:
        self._add(Report(call_id, None, self._clock()))

    def diverted(self, call_id: str, condition: str, destination: str) -> None:
        self._add(Report(call_id, None, self._clock(), condition, destination))

    def _add(self, event: Event) -> None:
        if len(self._events) == self._limit:
            log.warning("call_log_full", limit=self._limit)
        self._events.append(event)
        self._queued.set()

    @property
    def pending(self) -> int:
        """Events not committed yet: queued, being written, or waiting for their record."""
        return len(self._events) + len(self._writing) + len(self._waiting)

    def start(self) -> None:
        """Start committing batches (on the running event loop), until ``close``."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        delay = self._interval
        while not self._closing:
            await self._queued.wait()
            if not self._closing:
                await asyncio.sleep(delay)
            self._queued.clear()
            try:
                await self.flush()
                delay = self._interval
            except StoreError as exc:
                delay = min(delay * 2, 5.0)
                log.warning("call_log_retry", error=str(exc), pending=self.pending)
            if self._events:
                self._queued.set()
            elif self._waiting:
                # Only reports whose record another process has yet to commit: no hurry.
                asyncio.get_running_loop().call_later(RETRY_WAITING, self._queued.set)

    async def flush(self) -> None:
        """Commit every queued event now (those waiting for a record: tried once more).

        A batch refused for what it holds (an error other than the database being
        unavailable) is written again as two halves, each split in turn while refused,
        down to the single events refused: those are dropped, logged.

        Raises:
            StoreUnavailableError: what was not committed is queued again.
        """
        self._writing = [*self._waiting, *self._events]
        self._waiting, self._events = [], deque(maxlen=self._limit)
        unapplied: list[Event] = []
        parts = [self._writing] if self._writing else []  # a stack: the next part on top
        try:
            while parts:
                part = parts.pop()
                try:
                    unapplied += await self._write(part)
                except StoreUnavailableError:
                    parts.append(part)
                    raise
                except StoreError as exc:
                    if len(part) > 1:
                        middle = len(part) // 2
                        parts += [part[middle:], part[:middle]]
                    else:
                        refused = part[0]
                        log.error(
                            "call_event_refused",
                            kind=type(refused).__name__,
                            call_id=refused.call_id,
                            error=str(exc),
                        )
        except StoreUnavailableError:
            # Not committed: all again, before what was queued meanwhile.
            self._requeue([*unapplied, *(event for part in reversed(parts) for event in part)])
            raise
        finally:
            self._writing = []
        now = self._clock()
        self._waiting = [e for e in unapplied if (now - e.at).total_seconds() < self._patience]
        if len(unapplied) > len(self._waiting):
            log.info("call_reports_unmatched", count=len(unapplied) - len(self._waiting))

    def _requeue(self, events: Iterable[Event]) -> None:
        """``events`` back at the head of the queue; past ``limit``, the oldest go."""
        self._events = deque([*events, *self._events], maxlen=self._limit)

    async def _write(self, batch: list[Event]) -> list[Event]:
        if self._writer is not None:
            return await self._writer.run(partial(self.write_in, batch=batch))
        return await anyio.to_thread.run_sync(self.write, batch)

    def write(self, batch: list[Event]) -> list[Event]:
        """Apply ``batch`` in one transaction; returns the reports that must wait for
        their record.

        The new calls go first, in one statement: a report always follows its call's
        routing, so none of them can need a report of this batch to go before it.
        """
        with self._db.write() as conn:
            return self.write_in(conn, batch)

    def write_in(self, conn: Connection, batch: list[Event]) -> list[Event]:
        """``write`` in the transaction ``conn`` (the process's ``Writer``'s)."""
        new = [event for event in batch if isinstance(event, NewCall)]
        reports = [event for event in batch if isinstance(event, Report)]
        if new:
            calls.insert_calls(self._db, conn, new)
        return [*calls.apply_reports(self._db, conn, reports)] if reports else []

    async def close(self) -> None:
        """Stop, after writing what is held (at shutdown); a database still down then
        loses it, logged."""
        self._closing = True
        self._queued.set()
        if self._task is not None:
            with contextlib.suppress(StoreError):
                await self._task
        with contextlib.suppress(StoreError):
            await self.flush()
        if self.pending:
            log.warning("call_log_lost", pending=self.pending)
