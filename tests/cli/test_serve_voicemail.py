"""``renvoi serve`` runs the voicemail endpoint beside the API unless told not to."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from renvoi.store.database import Database
from tests.harness import free_udp_port, start_server

pytestmark = pytest.mark.slow


def bound(port: int) -> bool:
    """Whether some process holds this UDP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


@pytest.mark.parametrize(("args", "listening"), [((), True), (("--no-voicemail",), False)])
def test_the_voicemail_endpoint_runs_beside_the_api_by_default(
    database_url: str, database: Database, tmp_path: Path, args: tuple[str, ...], listening: bool
) -> None:
    port = free_udp_port()
    server = start_server(
        database_url,
        tmp_path,
        extra_env={"RENVOI_VOICEMAIL_LISTEN": f"127.0.0.1:{port}"},
        args=args,
    )
    try:
        # The endpoint starts beside the API, on its own thread: give it a few seconds.
        deadline = time.monotonic() + 5
        while not bound(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert bound(port) is listening
    finally:
        server.stop()
    assert not bound(port)  # and it lets go of it when the server stops
