"""Against a real ``renvoi serve``: atomicity under concurrency, durability under kill -9.

Slow tests: each starts server processes (two workers, so requests race across
processes as well as threads).
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections import Counter
from typing import Any

import httpx2
import pytest

from renvoi.store import numbers
from renvoi.store.database import Database
from tests.harness import Server, Tenant

pytestmark = pytest.mark.slow

URL = "/v1/vn/callforward"
A = "+33757000001"


def race(
    server: Server, bodies: list[dict[str, Any]], paths: list[str] | None = None
) -> list[tuple[int, int]]:
    """Send every body at the same moment (to its path of ``paths``, else the seed
    endpoint), one thread each; return (status, code) in order."""
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[int, int]] = [(0, 0)] * len(bodies)
    paths = paths or [URL] * len(bodies)

    def send(index: int, body: dict[str, Any]) -> None:
        with httpx2.Client(base_url=server.url, timeout=30) as http:
            barrier.wait()
            response = http.post(paths[index], json=body)
            results[index] = (response.status_code, response.json()["code"])

    threads = [threading.Thread(target=send, args=(i, b)) for i, b in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize(
    ("setup", "request_", "loser"),
    [
        pytest.param(None, {"type": 1, "param": "+33612345678"}, (409, 16), id="forward"),
        pytest.param(None, {"type": 2, "param": "a@example.com"}, (409, 17), id="voicemail"),
        pytest.param({"type": 1, "param": "+33612345678"}, {"type": 0}, (409, 18), id="disable"),
    ],
)
def test_forty_identical_requests_one_wins(
    server_factory: Any,
    tenant: Tenant,
    database: Database,
    setup: dict[str, Any] | None,
    request_: dict[str, Any],
    loser: tuple[int, int],
) -> None:
    server = server_factory(workers=2)
    if setup is not None:
        httpx2.post(server.url + URL, json={"apiKey": tenant.key, "number": A, **setup})
    results = race(server, [{"apiKey": tenant.key, "number": A, **request_}] * 40)
    counts = Counter(results)
    assert counts[(200, {0: 2, 1: 1, 2: 3}[request_["type"]])] == 1
    assert counts[loser] == 39
    expected_rows = 1 + (setup is not None)
    assert len(numbers.history(database, A, region="FR")) == expected_rows


def test_a_to_b_and_b_to_a_at_once_never_both_pass(
    server_factory: Any, tenant: Tenant, database: Database
) -> None:
    """The write-time loop check under a race: each change reads the other number's
    forwarding, so without a lock both could pass and close the loop A→B→A."""
    b = "+33757000002"
    server = server_factory(workers=2)
    for _ in range(15):
        for number in (A, b):
            httpx2.post(server.url + URL, json={"apiKey": tenant.key, "number": number, "type": 0})
        results = race(
            server,
            [
                {"apiKey": tenant.key, "number": A, "type": 1, "param": b},
                {"apiKey": tenant.key, "number": b, "type": 1, "param": A},
            ],
        )
        assert sorted(results) == [(200, 1), (400, 12)], results
        a_state = numbers.get_number(database, A, region="FR")
        b_state = numbers.get_number(database, b, region="FR")
        assert not (a_state.param == b and b_state.param == A)


@pytest.mark.parametrize(
    ("a_to_b", "b_to_a"),
    [
        pytest.param({"condition": "busy"}, None, id="fallback-against-seed"),
        pytest.param({"condition": "noAnswer"}, {"condition": "unavailable"}, id="two-fallbacks"),
    ],
)
def test_loops_through_fallbacks_never_both_pass(
    server_factory: Any,
    tenant: Tenant,
    database: Database,
    a_to_b: dict[str, Any],
    b_to_a: dict[str, Any] | None,
) -> None:
    """The same race through fallbacks (contract/conditions.md, "Loops"): A busy→B on
    one endpoint and B→A on either, at once; one of them is refused with 12."""
    b = "+33757000002"
    server = server_factory(workers=2)
    conditional = URL + "/conditional"
    paths = [conditional, conditional if b_to_a else URL]
    for _ in range(15):
        for number, condition in ((A, a_to_b), (b, b_to_a)):
            httpx2.post(
                server.url + (conditional if condition else URL),
                json={"apiKey": tenant.key, "number": number, "type": 0, **(condition or {})},
            )
        results = race(
            server,
            [
                {"apiKey": tenant.key, "number": A, "type": 1, "param": b, **a_to_b},
                {"apiKey": tenant.key, "number": b, "type": 1, "param": A, **(b_to_a or {})},
            ],
            paths,
        )
        assert sorted(results) == [(200, 1), (400, 12)], results
        a_state = numbers.get_number(database, A, region="FR")
        b_state = numbers.get_number(database, b, region="FR")
        a_forwards = [c["param"] for c in a_state.conditions.values()]
        b_forwards = [b_state.param, *(c["param"] for c in b_state.conditions.values())]
        assert not (b in a_forwards and A in b_forwards)


def test_mixed_races_leave_a_serial_history(
    server_factory: Any, tenant: Tenant, database: Database
) -> None:
    """Different requests racing on one number: no lost update. The history is a chain
    (each change starts from the previous one's result) and ends at the stored state."""
    server = server_factory(workers=2)
    options = [
        {"type": 1, "param": "+33612345678"},
        {"type": 1, "param": "+33612345679"},
        {"type": 2, "param": "a@example.com"},
        {"type": 0},
    ]
    bodies = [{"apiKey": tenant.key, "number": A, **options[i % 4]} for i in range(40)]
    for _ in range(3):
        results = race(server, bodies)
        assert all(status in (200, 409) for status, _ in results), results
    changes = list(reversed(numbers.history(database, A, region="FR")))
    assert changes, "some requests succeeded"
    previous = (0, None)
    for change in changes:
        assert (change.previous_type, change.previous_param) == previous
        assert (change.type, change.param) != previous
        previous = (change.type, change.param)
    record = numbers.get_number(database, A, region="FR")
    assert (record.type, record.param) == previous


def test_acknowledged_change_survives_kill_9(
    server_factory: Any, tenant: Tenant, database: Database
) -> None:
    server = server_factory()
    response = httpx2.post(
        server.url + URL,
        json={"apiKey": tenant.key, "number": A, "type": 1, "param": "+33612345678"},
    )
    assert response.json()["success"] is True
    server.stop(signal.SIGKILL)  # no chance to flush anything after the answer
    restarted = server_factory()
    body = httpx2.get(restarted.url + URL, params={"apiKey": tenant.key, "number": A}).json()
    assert (body["type"], body["param"]) == (1, "+33612345678")
    assert len(numbers.history(database, A, region="FR")) == 1


def test_sigterm_lets_the_request_in_flight_finish(server_factory: Any, tenant: Tenant) -> None:
    """SIGTERM while a request's body is still arriving: it is answered, then the
    server exits (uvicorn re-raises the signal once shut down: -15)."""
    server = server_factory()
    host, port = server.url.removeprefix("http://").split(":")
    body = json.dumps({"apiKey": tenant.key, "number": A, "type": 1, "param": "0612345678"})
    head = (
        f"POST {URL} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + body[:10].encode())
        time.sleep(0.5)  # the request is now in flight
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        sock.sendall(body[10:].encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b'{"success":true,"code":1,"message":"Callforward enabled"}')
    assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)


def test_slow_clients_hold_no_worker_and_idle_ones_are_closed(
    database_url: str, tmp_path: Any, tenant: Tenant
) -> None:
    """Slowloris: 200 connections that send half a request and stop. The server reads
    them without a thread each (asyncio), so a normal client is still answered while
    they hang; a connection left idle after an answer is closed after the keep-alive
    timeout. (One that never sends a byte is not: uvicorn arms no timer before the first
    request. docs/guarantees.md says what the proxy in front must do about it.)"""
    from tests.harness import start_server

    if database_url.startswith("postgresql"):
        pytest.skip("the event loop, not the database, is under test")
    server = start_server(
        database_url,
        tmp_path,
        workers=1,
        extra_env={"RENVOI_TIMEOUT_KEEP_ALIVE": "1"},
        args=["--no-voicemail", "--no-worker"],
    )
    host, port = server.url.removeprefix("http://").split(":")
    slow: list[socket.socket] = []
    try:
        for _ in range(200):
            sock = socket.create_connection((host, int(port)), timeout=30)
            sock.sendall(
                b"POST /v1/vn/callforward HTTP/1.1\r\nHost: x\r\n"
                b'Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"apiKey"'
            )
            slow.append(sock)
        with httpx2.Client(base_url=server.url, timeout=30) as http:
            body = {"apiKey": tenant.key, "number": A, "type": 1, "param": "+33612345678"}
            assert http.post(URL, json=body).json()["code"] == 1
        with socket.create_connection((host, int(port)), timeout=30) as idle:
            idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += idle.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200")
            while chunk := idle.recv(65536):  # the rest of the answer, then the close
                assert b"HTTP/1.1" not in chunk
            # recv returned b"": closed by the server (a hang would raise at 30 s)
    finally:
        for sock in slow:
            sock.close()
        server.stop()
