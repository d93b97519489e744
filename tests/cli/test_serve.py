"""``renvoi serve`` as a supervisor sees it: a component that cannot start stops the
whole node at once, with one line and a non-zero status; the internal endpoints answer
on their own listener only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from renvoi.store.database import Database
from tests.harness import Tenant, forward, free_port, free_udp_port, start_server

pytestmark = pytest.mark.slow


@contextmanager
def held(kind: int, port: int) -> Iterator[None]:
    """Something else holds ``port`` (TCP listening, or UDP bound) meanwhile."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", port))
        if kind == socket.SOCK_STREAM:
            sock.listen()
        yield


@pytest.mark.parametrize(
    ("taken", "kind", "setting"),
    [
        ("RENVOI_PORT", socket.SOCK_STREAM, "RENVOI_PORT"),
        ("RENVOI_INTERNAL_LISTEN", socket.SOCK_STREAM, "RENVOI_INTERNAL_LISTEN"),
        ("RENVOI_VOICEMAIL_LISTEN", socket.SOCK_DGRAM, "RENVOI_VOICEMAIL_LISTEN"),
    ],
)
def test_a_taken_port_stops_the_node_at_once_with_one_line(
    tmp_path: Path, taken: str, kind: int, setting: str
) -> None:
    """It once logged the error, started the voicemail side anyway and never exited, so
    that ``Restart=on-failure`` never restarted it."""
    ports = {
        "RENVOI_PORT": free_port(),
        "RENVOI_INTERNAL_LISTEN": free_port(),
        "RENVOI_VOICEMAIL_LISTEN": free_udp_port(),
    }
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RENVOI_")},
        "RENVOI_DATA_DIR": str(tmp_path),
        "RENVOI_PORT": str(ports["RENVOI_PORT"]),
        "RENVOI_INTERNAL_LISTEN": f"127.0.0.1:{ports['RENVOI_INTERNAL_LISTEN']}",
        "RENVOI_VOICEMAIL_LISTEN": f"127.0.0.1:{ports['RENVOI_VOICEMAIL_LISTEN']}",
    }
    with held(kind, ports[taken]):
        # The timeout only keeps a hang from hanging the test run: it fails the test.
        done = subprocess.run(
            [sys.executable, "-m", "renvoi", "serve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ServiceError: ") and setting in last, done.stderr
    assert "in use" in last
    if kind == socket.SOCK_STREAM:  # the listeners are bound before anything is done
        assert "Running upgrade" not in done.stderr


def test_the_internal_endpoints_answer_on_their_own_listener_only(
    database_url: str, database: Database, tenant: Tenant, tmp_path: Path
) -> None:
    """Behind a proxy the API trusts (even ``*``), a forged ``X-Forwarded-For:
    127.0.0.1`` once reached the route endpoint (other tenants' destinations) and the
    call reports (forged call records)."""
    forward(database, tenant, "+33757000001", "+33612345678")
    server = start_server(
        database_url,
        tmp_path,
        extra_env={"RENVOI_FORWARDED_ALLOW_IPS": "*"},
        args=["--no-voicemail", "--no-worker"],
    )
    forged = {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"}
    route = "/internal/v1/route/+33757000001"
    try:
        with httpx2.Client(timeout=30) as client:
            # The API's listener, from loopback, with or without the forged header.
            assert client.get(server.url + route, headers=forged).status_code == 404
            assert client.get(server.url + route).status_code == 404
            reports = client.post(
                server.url + "/internal/v1/calls/reports", content="200 c1", headers=forged
            )
            assert reports.status_code == 404
            # Kamailio, on loopback, straight to the internal listener: answered.
            answer = client.get(server.internal_url + route).json()
            assert answer["action"] == "forward" and "+33612345678" in answer["uri"]
            # The same listener, reached through a proxy: not Kamailio.
            proxied = client.get(server.internal_url + route, headers=forged)
            assert proxied.status_code == 404
    finally:
        server.stop()
