"""The state cache forgets what another connection or process changes: on SQLite before
the next look-up, on PostgreSQL when the notification arrives (and there only the route
shelf serves)."""

from __future__ import annotations

import asyncio
import time
from asyncio import StreamReader, StreamWriter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from sqlalchemy.engine import make_url

from renvoi.domain.modes import Mode, Setting
from renvoi.domain.routing import RouteState, decide_route
from renvoi.store import accounts, calls, routetable
from renvoi.store.database import Database
from renvoi.store.statecache import KEEP_EVENTS, MISSING, Shelf, StateCache, announce
from tests.harness import TARGETS, Tenant, forward

A = "+33757000001"
B = "+33757000002"


class Shelves:
    def __init__(self, database: Database) -> None:
        self.cache = StateCache(database)
        self.routes = self.cache.shelf(
            routetable.route_state,
            per_number=True,
            keep_missing=True,
            exact_only=False,
        )
        self.principals = self.cache.shelf(
            accounts.principal_of,
            per_number=False,
            keep_missing=False,
            exact_only=True,
        )


@pytest.fixture
def loop() -> Iterator[BlockingPortal]:
    """An event loop in a thread of its own, as a server's: a cache watches from it."""
    with start_blocking_portal() as portal:
        yield portal


@pytest.fixture
def shelves(database: Database, tenant: Tenant, loop: BlockingPortal) -> Iterator[Shelves]:
    """Started after the tenant's numbers exist: on PostgreSQL their notifications would
    otherwise arrive during a test and (rightly) empty the cache."""
    started = Shelves(database)
    loop.call(started.cache.start)
    assert wait_until_forgotten(started.routes, A)  # PostgreSQL: the listener is connected
    yield started
    loop.call(started.cache.close)


@pytest.fixture
def other(database_url: str) -> Iterator[Database]:
    """Another connection pool, as another process would have."""
    db = Database(database_url)
    yield db
    db.dispose()


def fill(shelf: Shelf[RouteState | None], database: Database, e164: str = A) -> None:
    generation = shelf._cache.generation
    shelf.put(e164, routetable.route_state(database, e164), generation)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def wait_until_forgotten(shelf: Shelf[RouteState | None], key: str, timeout: float = 5.0) -> bool:
    return wait_until(lambda: shelf._cache.live and shelf.get(key) is MISSING, timeout)


def test_a_change_from_another_connection_forgets_the_number(
    shelves: Shelves, database: Database, other: Database, tenant: Tenant
) -> None:
    fill(shelves.routes, database)
    assert shelves.routes.get(A) is not MISSING
    forward(other, tenant, A, "+33612345678")
    assert wait_until_forgotten(shelves.routes, A)
    fill(shelves.routes, database)
    state = shelves.routes.get(A)
    assert isinstance(state, RouteState)
    assert state.setting == Setting(Mode.FORWARD, "+33612345678")


def test_a_change_forgets_only_its_number(
    shelves: Shelves, database: Database, other: Database, tenant: Tenant
) -> None:
    """With one epoch for everything, any change emptied every cache: under a write load
    nothing stayed cached."""
    fill(shelves.routes, database, A)
    fill(shelves.routes, database, B)
    forward(other, tenant, A, "+33612345678")
    assert wait_until_forgotten(shelves.routes, A)
    assert isinstance(shelves.routes.get(B), RouteState)


def test_a_revoked_key_is_forgotten_before_the_next_look_up_on_sqlite(
    shelves: Shelves, database: Database, other: Database, tenant: Tenant
) -> None:
    key_hash = accounts.hash_key(tenant.key)
    generation = shelves.cache.generation
    shelves.principals.put(key_hash, accounts.principal_of(database, key_hash), generation)
    accounts.revoke_key(other, tenant.key_id)
    # No waiting: the very next look-up must not answer the revoked key.
    assert shelves.principals.get(key_hash) is MISSING
    assert accounts.principal_of(database, key_hash) is None


def test_unknown_keys_are_not_kept(shelves: Shelves) -> None:
    shelves.principals.put("0" * 64, None, shelves.cache.generation)
    assert shelves.principals.get("0" * 64) is MISSING


def test_a_load_older_than_an_invalidation_is_not_kept(
    shelves: Shelves, database: Database
) -> None:
    generation = shelves.cache.generation
    stale = routetable.route_state(database, A)
    shelves.cache.invalidate(A)
    shelves.routes.put(A, stale, generation)
    assert shelves.routes.get(A) is MISSING


def test_disabled_cache_keeps_nothing(
    database: Database, tenant: Tenant, loop: BlockingPortal
) -> None:
    off = StateCache(database, enabled=False)
    routes = off.shelf(routetable.route_state, per_number=True, keep_missing=True, exact_only=False)
    loop.call(off.start)
    routes.put(A, routetable.route_state(database, A), off.generation)
    assert routes.get(A) is MISSING
    loop.call(off.close)


def test_call_records_do_not_empty_the_cache(
    shelves: Shelves, database: Database, other: Database
) -> None:
    """Every call writes a record; if that emptied the cache, it would never hold."""
    fill(shelves.routes, database)
    state = shelves.routes.get(A)
    assert isinstance(state, RouteState)
    route = decide_route(state, diversions=0, targets=TARGETS)
    for n in range(3):
        with other.write() as conn:
            calls.insert_calls(
                other, conn, [calls.NewCall(A, f"c{n}", None, route, datetime.now(UTC))]
            )
    assert shelves.routes.get(A) is state


def test_only_the_route_shelf_serves_on_postgresql(
    shelves: Shelves, database: Database, tenant: Tenant
) -> None:
    """Elsewhere than on SQLite a cached key could outlive its revocation by the
    notification's delivery time: keys are read from the database every time there."""
    key_hash = accounts.hash_key(tenant.key)
    shelves.principals.put(
        key_hash, accounts.principal_of(database, key_hash), shelves.cache.generation
    )
    fill(shelves.routes, database)
    assert shelves.routes.get(A) is not MISSING
    kept = shelves.principals.get(key_hash)
    assert (kept is MISSING) == (not database.is_sqlite)


def test_a_cache_behind_the_pruned_events_forgets_everything(
    shelves: Shelves, database: Database, other: Database, tenant: Tenant
) -> None:
    if not database.is_sqlite:
        pytest.skip("PostgreSQL caches follow notifications, not the events table")
    fill(shelves.routes, database, B)
    with other.write() as conn:
        for _ in range(KEEP_EVENTS + 1):
            announce(other, conn, A)  # B is never named, but its events may be pruned
    assert shelves.routes.get(B) is MISSING
    fill(shelves.routes, database, B)
    assert shelves.routes.get(B) is not MISSING  # and it holds again afterwards


def test_a_full_shelf_lets_its_oldest_entry_go(
    database: Database, tenant: Tenant, loop: BlockingPortal
) -> None:
    """The soak's flat memory: a process never keeps more than ``entries`` per shelf."""
    small = StateCache(database, entries=2)
    routes = small.shelf(
        routetable.route_state, per_number=True, keep_missing=True, exact_only=False
    )
    loop.call(small.start)
    try:
        assert wait_until_forgotten(routes, A)
        for e164 in (A, B, "+33757000003"):
            fill(routes, database, e164)
        assert routes.get(A) is MISSING
        assert routes.get(B) is not MISSING and routes.get("+33757000003") is not MISSING
        assert len(routes.entries) == 2
    finally:
        loop.call(small.close)


class SilentProxy:
    """A TCP relay to PostgreSQL that can stop relaying without closing anything, as a
    partition would: each side's socket stays open, and nothing arrives."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.silent = False
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay_both, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()

    async def _relay_both(self, client_r: StreamReader, client_w: StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        await asyncio.gather(self._relay(client_r, server_w), self._relay(server_r, client_w))

    async def _relay(self, source: StreamReader, sink: StreamWriter) -> None:
        while data := await source.read(65536):
            while self.silent:
                await asyncio.sleep(0.05)
            sink.write(data)
            await sink.drain()
        sink.close()


def test_a_silent_server_stops_the_cache_serving_until_it_answers_again(
    database: Database, database_url: str, tenant: Tenant, loop: BlockingPortal
) -> None:
    """A listener that hears nothing cannot tell a partition from a quiet platform: its
    heartbeat's probe can. Until the server answers again the cache is bypassed (a
    change made meanwhile on another node is never hidden by a stale route)."""
    if database.is_sqlite:
        pytest.skip("SQLite's cache reads its own file: there is no connection to lose")
    url = make_url(database_url)
    proxy = SilentProxy(url.port or 5432)
    loop.call(proxy.start)
    through = Database(url.set(port=proxy.port).render_as_string(hide_password=False))
    cache = StateCache(through, heartbeat=0.2)
    routes = cache.shelf(
        routetable.route_state, per_number=True, keep_missing=True, exact_only=False
    )
    loop.call(cache.start)
    try:
        assert wait_until_forgotten(routes, A)  # connected
        fill(routes, database)
        time.sleep(1.0)  # five heartbeats: a quiet, answering server keeps the cache
        assert routes.get(A) is not MISSING
        proxy.silent = True
        # Within two heartbeats (0.4 s), with room for a loaded machine; well before the
        # probe's own timeout and psycopg's cancellation (up to 11 s) would end it.
        assert wait_until(lambda: not cache.live, timeout=5.0)
        assert routes.get(A) is MISSING
        forward(database, tenant, A, "+33612345678")  # its notification is held
        proxy.silent = False
        assert wait_until(lambda: cache.live)
        # Serving again, it never answers the route from before the silence.
        state = routes.get(A)
        assert state is MISSING or (
            isinstance(state, RouteState) and state.setting.param == "+33612345678"
        )
        fill(routes, database)
        assert routes.get(A) is not MISSING
    finally:
        proxy.silent = False
        loop.call(cache.close)
        loop.call(proxy.close)
        through.dispose()
