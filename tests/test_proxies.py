"""The pushes to Kamailio (``renvoi.proxies``), against a real HTTP server standing in
for Kamailio's route PUSH: one request for the changes that commit together, every row
in it, a failing node rested, and bodies that fit Kamailio's buffer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from renvoi import proxies
from renvoi.config import Settings
from renvoi.proxies import MAX_BODY, Proxies, _bodies
from renvoi.store import routetable
from renvoi.store.database import Database
from tests.harness import Tenant, make_tenant


@contextmanager
def node(status: int) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server answering every push with ``status``; the bodies it received."""
    bodies: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def kamailio() -> Iterator[tuple[str, list[str]]]:
    with node(200) as running:
        yield running


def push_all(db: Database, pusher: Proxies, numbers: list[str]) -> None:
    async def main() -> None:
        await db.open_async()
        try:
            await asyncio.gather(*(pusher.push(n) for n in numbers))
            await pusher.close()
        finally:
            await db.close_async()

    asyncio.run(main())


def test_changes_pushed_together_go_in_one_request_with_every_row(
    database: Database, kamailio: tuple[str, list[str]]
) -> None:
    url, bodies = kamailio
    phones = [f"+337570002{i:02d}" for i in range(40)]
    make_tenant(database, "many", phones)
    pusher = Proxies(Settings(kamailio_rpc=url), database)
    push_all(database, pusher, phones)
    assert 1 <= len(bodies) < len(phones)  # the first alone, then the rest together
    lines = [line for body in bodies for line in body.splitlines()]
    assert sorted(lines) == sorted(f"{p}|{routetable.row_of(database, p)}" for p in phones)


def test_a_node_that_failed_rests_and_the_others_still_get_the_push(
    database: Database, tenant: Tenant, kamailio: tuple[str, list[str]]
) -> None:
    """The failing node is not asked again within ``REST_SECONDS``; the other is."""
    url, bodies = kamailio
    with node(500) as (failing, refused):
        pusher = Proxies(Settings(kamailio_rpc=f"{failing},{url}"), database)
        push_all(database, pusher, ["+33757000001"])
        push_all(database, pusher, ["+33757000002"])
    assert [body.split("|")[0] for body in refused] == ["+33757000001"]
    assert [body.split("|")[0] for body in bodies] == ["+33757000001", "+33757000002"]


def test_no_nodes_no_push(database: Database, tenant: Tenant) -> None:
    pusher = Proxies(Settings(kamailio_rpc="none"), database)
    assert pusher.nodes == []
    push_all(database, pusher, ["+33757000001"])


def test_a_large_group_is_cut_into_bodies_kamailio_can_read() -> None:
    rows = [(f"+3375700{i:04d}", f"{i}|forward|0|||+33612345678|0||||") for i in range(2000)]
    bodies = _bodies([*rows, ("+33757999999", None)])
    assert len(bodies) > 1
    assert all(len(body) <= MAX_BODY for body in bodies)
    assert "".join(bodies).count("\n") == len(rows)
    assert proxies.PATH == "/renvoi/routes"
