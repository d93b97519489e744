"""What renvoi tells the SIP proxies: each change, pushed to every Kamailio before the
API answers, so that the very next call follows it.

A push sends the number's row as the database holds it after the commit (its version,
then its plan: ``store/routetable.py``) to ``/renvoi/routes`` on each node of
``RENVOI_KAMAILIO_RPC``; Kamailio keeps it unless it holds a newer version already.
Pushes are grouped as the changes are: the changes that commit while a push is on its
way go together in the next one, one request per node for all of them.

A push that fails is logged and counted, and the change still stands: that node
applies it at its next catch-up from the database (``kamailio.cfg``, route
``CATCH_UP``). A node that failed is left to its catch-ups for ``REST_SECONDS``, so
that a node down costs the changes of that second one wait, not each of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import httpx
import structlog

from renvoi import metrics
from renvoi.config import Settings
from renvoi.store import routetable
from renvoi.store.database import Database

log = structlog.get_logger("renvoi.proxies")

PATH = "/renvoi/routes"
# How long a node whose push failed is left to its catch-ups before it is tried again.
REST_SECONDS = 1.0
# The most characters a push carries (several pushes for a larger group).
MAX_BODY = 32_768


class Proxies:
    """The Kamailio nodes of an installation, and the pushes to them (one per process).

    Args:
        settings: ``kamailio_nodes`` (where), ``route_token`` (the bearer token they
            check), ``kamailio_push_seconds`` (how long a node may take to answer).
        db: where the rows are read after each commit.
    """

    def __init__(self, settings: Settings, db: Database) -> None:
        self.nodes = settings.kamailio_nodes
        self.db = db
        self._timeout = settings.kamailio_push_seconds
        self._metrics = settings.metrics
        token = settings.route_token
        self._headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
        self._client: httpx.AsyncClient | None = None
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}  # by number
        self._sender: asyncio.Task[None] | None = None
        self._resting: dict[str, float] = {}  # node: when it is tried again
        self._failing: set[str] = set()  # nodes whose last push failed: logged once
        if self._metrics:  # every node's series from the start, at 0 (alerts rate them)
            for node in self.nodes:
                for result in ("ok", "failed"):
                    metrics.kamailio_pushes.labels(node, result)

    async def push(self, e164: str) -> None:
        """Send the number's row to every node, and return once they answered (or
        timed out, or rest): the API answers after this."""
        if not self.nodes:
            return
        done = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(e164, []).append(done)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_waiting())
        await asyncio.shield(done)

    async def _send_waiting(self) -> None:
        """Push what waits, in groups, until nothing does."""
        while self._waiting:
            group, self._waiting = self._waiting, {}
            try:
                await self._send_group(list(group))
            except Exception:  # a push must never fail a change: logged, caught up later
                log.exception("kamailio_push_error")
            finally:
                for futures in group.values():
                    for done in futures:
                        if not done.done():
                            done.set_result(None)

    async def _send_group(self, numbers: list[str]) -> None:
        values = await asyncio.gather(*(routetable.row_of.read(self.db, n) for n in numbers))
        bodies = _bodies(zip(numbers, values, strict=True))
        now = time.monotonic()
        nodes = [node for node in self.nodes if self._resting.get(node, 0.0) <= now]
        if not bodies or not nodes:
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, headers=self._headers)
        client = self._client
        await asyncio.gather(*(self._send(client, node, bodies) for node in nodes))

    async def _send(self, client: httpx.AsyncClient, node: str, bodies: list[str]) -> None:
        error = None
        for body in bodies:
            try:
                error = _refusal(await client.post(node + PATH, content=body))
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            if error:
                break
        self._outcome(node, error)

    def _outcome(self, node: str, error: str | None) -> None:
        """Count a push; log a node's first failure, and its first success after (not
        every change while a node is down); rest a node that failed."""
        if error is None and node in self._failing:
            self._failing.discard(node)
            log.info("kamailio_push_restored", node=node)
        elif error is not None:
            self._resting[node] = time.monotonic() + REST_SECONDS
            if node not in self._failing:
                self._failing.add(node)
                log.warning("kamailio_push_failed", node=node, error=error)
        if self._metrics:
            metrics.kamailio_pushes.labels(node, "failed" if error else "ok").inc()

    def push_now(self, e164: str) -> None:
        """``push`` from code that runs no event loop (the command line)."""
        if not self.nodes:
            return
        bodies = _bodies([(e164, routetable.row_of(self.db, e164))])
        if not bodies:
            return
        with httpx.Client(timeout=self._timeout, headers=self._headers) as client:
            for node in self.nodes:
                error = None
                for body in bodies:
                    try:
                        error = _refusal(client.post(node + PATH, content=body))
                    except httpx.HTTPError as exc:
                        error = type(exc).__name__
                    if error:
                        break
                self._outcome(node, error)

    async def close(self) -> None:
        if self._sender is not None:
            await asyncio.gather(self._sender, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _refusal(answer: httpx.Response) -> str | None:
    """Why a node did not take a push (None: it did)."""
    return None if answer.status_code == 200 else f"HTTP {answer.status_code}"


def _bodies(rows: Iterable[tuple[str, str | None]]) -> list[str]:
    """The push's bodies: ``<number>|<version>|<plan>`` a line, for the numbers that have
    a row (``rows``: pairs of a number and its row's value, or None), at most
    ``MAX_BODY`` characters each (Kamailio reads a body into a buffer of 64 KiB)."""
    bodies: list[str] = []
    lines: list[str] = []
    size = 0
    for key, value in rows:
        if value is None:
            continue
        line = f"{key}|{value}\n"
        if lines and size + len(line) > MAX_BODY:
            bodies.append("".join(lines))
            lines, size = [], 0
        lines.append(line)
        size += len(line)
    if lines:
        bodies.append("".join(lines))
    return bodies
