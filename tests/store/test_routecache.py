"""The route cache forgets a number as soon as another connection or process changes it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial

import pytest

from renvoi.domain.callforward import Command, Mode, Setting
from renvoi.domain.routing import RouteState, SipTargets, decide_route
from renvoi.store import calls, numbers
from renvoi.store.database import Database
from renvoi.store.records import Principal
from renvoi.store.routecache import MISSING, RouteCache
from tests.conftest import Tenant

A = "+33757000001"
TARGETS = SipTargets(trunk="127.0.0.1:5080", voicemail="127.0.0.1:5070", proxy="127.0.0.1:5060")


@pytest.fixture
def cache(database: Database, tenant: Tenant) -> Iterator[RouteCache]:
    """A started cache, started after the tenant's numbers exist: on PostgreSQL their
    notifications would otherwise arrive during a test and (rightly) empty the cache."""
    started = RouteCache(database, load=partial(calls.route_state, database))
    started.start()
    yield started
    started.close()


def fill(cache: RouteCache, database: Database) -> None:
    generation = cache.generation
    cache.put(A, calls.route_state(database, A), generation)


def wait_until_forgotten(cache: RouteCache, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cache.live and cache.get(A) is MISSING:
            return True
        time.sleep(0.01)
    return False


def test_a_change_from_another_connection_empties_the_cache(
    cache: RouteCache, database: Database, database_url: str, tenant: Tenant
) -> None:
    assert wait_until_forgotten(cache)  # PostgreSQL: the listener is connected
    fill(cache, database)
    assert cache.get(A) is not MISSING
    other = Database(database_url)  # as another process would
    try:
        principal = Principal(tenant.key_id, tenant.account_id)
        command = Command(A, Setting(Mode.FORWARD, "+33612345678"))
        numbers.change_forwarding(other, command, principal=principal, region="FR")
    finally:
        other.dispose()
    assert wait_until_forgotten(cache)
    fill(cache, database)
    state = cache.get(A)
    assert state is not MISSING and state is not None
    assert state.setting == Setting(Mode.FORWARD, "+33612345678")  # type: ignore[union-attr]


def test_a_load_older_than_an_invalidation_is_not_kept(
    cache: RouteCache, database: Database, tenant: Tenant
) -> None:
    assert wait_until_forgotten(cache)
    generation = cache.generation
    stale = calls.route_state(database, A)
    cache.invalidate(A)
    cache.put(A, stale, generation)
    assert cache.get(A) is MISSING


def test_disabled_cache_keeps_nothing(database: Database, tenant: Tenant) -> None:
    off = RouteCache(database, load=partial(calls.route_state, database), enabled=False)
    off.start()
    off.put(A, calls.route_state(database, A), off.generation)
    assert off.get(A) is MISSING
    off.close()


def test_call_records_do_not_empty_the_cache(
    cache: RouteCache, database: Database, database_url: str, tenant: Tenant
) -> None:
    """Every call writes a record; if that emptied the cache, it would never hold."""
    assert wait_until_forgotten(cache)
    fill(cache, database)
    state = cache.get(A)
    assert isinstance(state, RouteState)
    other = Database(database_url)  # as another process would
    try:
        route = decide_route(state, diversions=0, targets=TARGETS)
        for n in range(3):
            with other.write() as conn:
                calls.insert_calls(
                    conn, [calls.NewCall(A, f"c{n}", None, route, datetime.now(UTC))]
                )
    finally:
        other.dispose()
    assert cache.get(A) is state
