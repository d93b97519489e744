"""What renvoi tells the SIP proxies: each change, pushed to every Kamailio before the
API answers, so that the very next call follows it.

A push sends the number's row as the database holds it after the commit (its version,
then its plan: ``store/routetable.py``) to ``/renvoi/routes`` on each node of
``RENVOI_KAMAILIO_RPC``; Kamailio keeps it unless it holds a newer version already. A push
that fails is logged and counted, and the change still stands: that node applies it at
its next catch-up from the database (``kamailio.cfg``, route ``CATCH_UP``), and
docs/guarantees.md says how soon.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
import structlog

from renvoi import metrics
from renvoi.config import Settings
from renvoi.store import routetable
from renvoi.store.database import Database

log = structlog.get_logger("renvoi.proxies")

PATH = "/renvoi/routes"


class Proxies:
    """The Kamailio nodes of an installation, and the pushes to them.

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
        self._failing: set[str] = set()  # nodes whose last push failed: logged once

    def _body(self, rows: Sequence[tuple[str, str | None]]) -> str:
        return "".join(f"{key}|{value}\n" for key, value in rows if value is not None)

    async def push(self, e164: str) -> None:
        """Send the number's row to every node, and wait for their answers (or their
        time-out): the API answers after this."""
        if not self.nodes:
            return
        body = self._body([(e164, await routetable.row_of.read(self.db, e164))])
        if not body:
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, headers=self._headers)
        client = self._client
        await asyncio.gather(*(self._send(client, node, body) for node in self.nodes))

    async def _send(self, client: httpx.AsyncClient, node: str, body: str) -> None:
        try:
            answer = await client.post(node + PATH, content=body)
        except httpx.HTTPError as exc:
            self._outcome(node, type(exc).__name__)
        else:
            self._outcome(node, None if answer.status_code == 200 else f"HTTP {answer.status_code}")

    def _outcome(self, node: str, error: str | None) -> None:
        """Count a push; log a node's first failure, and its first success after (not
        every change while a node is down)."""
        if error is None and node in self._failing:
            self._failing.discard(node)
            log.info("kamailio_push_restored", node=node)
        elif error is not None and node not in self._failing:
            self._failing.add(node)
            log.warning("kamailio_push_failed", node=node, error=error)
        if self._metrics:
            metrics.kamailio_pushes.labels(node, "failed" if error else "ok").inc()

    def push_now(self, e164: str) -> None:
        """``push`` from code that runs no event loop (the command line)."""
        if not self.nodes:
            return
        body = self._body([(e164, routetable.row_of(self.db, e164))])
        if not body:
            return
        with httpx.Client(timeout=self._timeout, headers=self._headers) as client:
            for node in self.nodes:
                try:
                    answer = client.post(node + PATH, content=body)
                except httpx.HTTPError as exc:
                    self._outcome(node, type(exc).__name__)
                else:
                    error = None if answer.status_code == 200 else f"HTTP {answer.status_code}"
                    self._outcome(node, error)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
