"""What the tests, the benches and the proofs share: scratch databases, tenants, free
ports, and real ``renvoi serve`` processes. Not fixtures (those are ``conftest.py``'s):
plain functions any script can call."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from starlette.types import Receive, Scope, Send

from renvoi.api.app import create_app
from renvoi.config import Settings
from renvoi.domain.callforward import Command
from renvoi.domain.modes import Mode, Setting
from renvoi.domain.routing import SipTargets, decide_route
from renvoi.store import accounts, calls, forwarding, numbers, routetable
from renvoi.store.database import Database
from renvoi.store.models import Number
from renvoi.store.records import Principal

PG_ADMIN_URL = os.environ.get(
    "RENVOI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("RENVOI_TEST_REQUIRE_POSTGRES") == "1"
ADMIN_TOKEN = "admin-token-for-tests"
TARGETS = SipTargets(trunk="127.0.0.1:5080", voicemail="127.0.0.1:5070", proxy="127.0.0.1:5060")


@contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server, dropped afterwards; yields its URL.

    Skips the test when no server answers, unless RENVOI_TEST_REQUIRE_POSTGRES=1.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(f"PostgreSQL not reachable: {type(exc).__name__}")
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Tenant:
    """An account with a key and numbers, for the API's tests."""

    account_id: str
    key: str
    key_id: str
    numbers: list[str]

    @property
    def principal(self) -> Principal:
        """Who the tenant's key speaks for."""
        return Principal(self.key_id, self.account_id)


def forward(db: Database, tenant: Tenant, e164: str, destination: str) -> None:
    """Forward the tenant's number to ``destination``, as its key would."""
    command = Command(e164, Setting(Mode.FORWARD, destination))
    forwarding.change_forwarding(db, command, principal=tenant.principal, region="FR")


def record_call(db: Database, e164: str, call_id: str, caller: str | None) -> None:
    """Record a call to ``e164`` routed as its state decides now, as the route endpoint's
    call log would."""
    route = decide_route(routetable.route_state(db, e164), diversions=0, targets=TARGETS)
    with db.write() as conn:
        calls.insert_calls(
            db, conn, [calls.NewCall(e164, call_id, caller, route, datetime.now(UTC))]
        )


def make_tenant(db: Database, name: str, phone_numbers: list[str]) -> Tenant:
    created = accounts.create_account(db, name)
    key = accounts.list_keys(db, created.id)[0]
    for number in phone_numbers:
        numbers.add_number(db, number, account_id=created.id, region="FR")
    return Tenant(created.id, created.api_key, key.id, list(phone_numbers))


def add_numbers(db: Database, account_id: str, first: int, count: int, forward_to: str) -> int:
    """``count`` numbers (``+first`` and on) forwarding to ``forward_to``, straight in
    the tables, with their plans under one new generation (``routetable.publish_all``),
    returned: a million in seconds, for the benchmark and the catch-up tests."""
    at = datetime.now(UTC)
    rows = [
        {
            "e164": f"+{first + i}",
            "account_id": account_id,
            "voice": True,
            "suspended": False,
            "mode": Mode.FORWARD,
            "param": forward_to,
            "created_at": at,
            "updated_at": at,
        }
        for i in range(count)
    ]
    with db.write() as conn:
        for start in range(0, count, 50_000):
            conn.execute(insert(Number), rows[start : start + 50_000])
        return routetable.publish_all(conn)


def _ephemeral_low() -> int:
    """The first port the kernel hands out for a bind to port 0."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports are handed out below the kernel's ephemeral range, from a cursor. A port found
# free by binding to port 0 is free only until the next bind to 0 anywhere on the
# machine, which may pick it before the child process it was meant for binds it (SIPp
# then fails with errno 98). Below that range only an explicit bind takes a port, and
# the cursor does not come back to a port it has just handed out.
_MEDIA_OFFSET = 10000  # SIPp's media ports are its SIP port + 10000 and + 10002 (``-mp``)
_FIRST_PORT = 10000
_LAST_PORT = _ephemeral_low() - _MEDIA_OFFSET - 2  # exclusive: media partners fit too
_START = random.randrange(_FIRST_PORT, max(_LAST_PORT, _FIRST_PORT + 1))  # runs at once differ
_ports = itertools.cycle(itertools.chain(range(_START, _LAST_PORT), range(_FIRST_PORT, _START)))
_ports_lock = threading.Lock()


def _bindable(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _next_port(kind: socket.SocketKind, *, media: bool = False) -> int:
    if _LAST_PORT - _FIRST_PORT < 1000:  # a machine whose ephemeral range starts low
        return _kernel_port(kind, media=media)
    with _ports_lock:
        while True:
            port = next(_ports)
            if media and port % 4:
                continue  # SIPps started together: each one's + 10002 is not another's + 10000
            if _bindable(port, kind) and (not media or _media_free(port)):
                return port


def _kernel_port(kind: socket.SocketKind, *, media: bool) -> int:
    while True:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if not media or (port + _MEDIA_OFFSET + 2 <= 65535 and _media_free(port)):
            return port


def _media_free(port: int) -> bool:
    return all(_bindable(port + _MEDIA_OFFSET + step, socket.SOCK_DGRAM) for step in (0, 2))


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    return _next_port(socket.SOCK_STREAM)


def free_udp_port(*, media: bool = True) -> int:
    """A free UDP port; with ``media``, port + 10000 is free too (SIPp's media port)."""
    return _next_port(socket.SOCK_DGRAM, media=media)


@contextmanager
def internal_client(settings: Settings, database: Database) -> Iterator[TestClient]:
    """One client of both listeners' apps of one node: ``/internal/`` paths go to the
    internal listener's (as its port would tell them apart), the rest to the API's,
    which runs the services both share."""
    api = create_app(settings, db=database)
    internal = api.state.internal

    async def both(scope: Scope, receive: Receive, send: Send) -> None:
        inside = scope["type"] == "http" and scope["path"].startswith("/internal/")
        await (internal if inside else api)(scope, receive, send)

    with TestClient(both) as client:
        yield client


@dataclass
class Server:
    """A real ``renvoi serve`` process."""

    process: subprocess.Popen[bytes]
    url: str
    env: dict[str, str]
    log: Path

    @property
    def internal_url(self) -> str:
        """Where its internal endpoints listen (the route endpoint, the call reports)."""
        return f"http://{self.env['RENVOI_INTERNAL_LISTEN']}"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: the server stops its workers itself. SIGKILL: as a machine crash,
        the whole process group at once (uvicorn's workers would otherwise outlive their
        supervisor, still serving and still connected)."""
        if sig == signal.SIGKILL:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(timeout=30)


def start_server(
    database_url: str,
    workdir: Path,
    *,
    workers: int = 1,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    args: Sequence[str] = (),
) -> Server:
    """Start ``renvoi serve [args]`` on a free port and wait until it answers."""
    port = port or free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RENVOI_")},
        "RENVOI_DATABASE_URL": database_url,
        "RENVOI_DATA_DIR": str(workdir),
        "RENVOI_PORT": str(port),
        "RENVOI_WORKERS": str(workers),
        "RENVOI_LOG_LEVEL": "WARNING",
        # The tests drive many requests from one address and key.
        "RENVOI_RATE_KEY_PER_SECOND": "100000",
        "RENVOI_RATE_KEY_BURST": "100000",
        # Several servers share one PostgreSQL (max_connections 100) during a test run.
        "RENVOI_DATABASE_POOL_SIZE": "4",
        # Each server's voicemail endpoint and internal listener on ports of their own.
        "RENVOI_VOICEMAIL_LISTEN": f"127.0.0.1:{free_udp_port()}",
        "RENVOI_INTERNAL_LISTEN": f"127.0.0.1:{free_port()}",
        **(extra_env or {}),
    }
    log = workdir / f"server-{port}.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "renvoi", "serve", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, with its workers (stop)
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            if httpx2.get(f"{url}/health", timeout=1).status_code == 200:
                return Server(process, url, env, log)
        except httpx2.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start: {log.read_text()}")


def end_other_sessions(database: Database) -> None:
    """PostgreSQL ends every other session of the database, as a restart would without
    the wait: what the pools hold is dead. Returns once those sessions are gone (the
    server ends them after answering), so that their sockets have been closed."""
    with database.engine.connect() as conn:
        ended = (
            conn.execute(
                text(
                    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            .scalars()
            .all()
        )
        alive = text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:ended)")
        deadline = time.monotonic() + 10
        while True:
            conn.rollback()  # pg_stat_activity is a snapshot per transaction
            if not conn.execute(alive, {"ended": list(ended)}).scalar():
                return
            assert time.monotonic() < deadline, "sessions still alive 10 s after the end"
            time.sleep(0.01)
