"""PostgreSQL stopped under a running ``renvoi serve``, then started again.

The server is given a PostgreSQL of its own (initdb in a temporary directory, on its
own port), so that stopping it disturbs no other test. Four clients keep reading across
the stop and the start. While it is down every request that needs it answers code 20
with HTTP 503 (no hang, no 500, no trace); once it is back
the same server answers again without being restarted, and the change made before the
stop is still there.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from renvoi.store.database import Database
from renvoi.store.migrate import upgrade
from tests.harness import free_port, make_tenant, start_server

pytestmark = pytest.mark.slow

NUMBER = "+33757000001"


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class Cluster:
    """A throwaway PostgreSQL, run as the ``postgres`` system user."""

    def __init__(self, binaries: Path, directory: Path, port: int) -> None:
        self.binaries, self.directory, self.port = binaries, directory, port

    def _run(self, tool: str, *args: str) -> None:
        # No pipes: the server pg_ctl starts would inherit them, and waiting for their
        # end would wait for the server. Its output goes to a log file (-l) instead.
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.binaries / tool), *args],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def init(self) -> None:
        self.directory.mkdir()
        shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.directory / "data"), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        log = str(self.directory / "server.log")
        self._run(
            "pg_ctl", "-D", str(self.directory / "data"), "-l", log, "-o", options, "-w", "start"
        )

    def stop(self) -> None:
        # As a crash would: no shutdown checkpoint, connections cut.
        self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    binaries = _binaries()
    if binaries is None or os.geteuid() != 0 or shutil.which("runuser") is None:
        if os.environ.get("RENVOI_TEST_REQUIRE_POSTGRES"):
            pytest.fail("a throwaway PostgreSQL needs its binaries, root and runuser")
        pytest.skip("a throwaway PostgreSQL needs its binaries, root and runuser")
    # A directory the postgres user can reach (pytest's own may be private to root).
    base = Path(tmp_path_factory.mktemp("pg"))
    base.chmod(0o755)
    for parent in base.parents:
        if parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o005)
    made = Cluster(binaries, base / "cluster", free_port())
    made.init()
    made.start()
    try:
        yield made
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped already
            made.stop()


def _change(client: httpx2.Client, key: str, destination: str) -> httpx2.Response:
    body = {"apiKey": key, "number": NUMBER, "type": 1, "param": destination}
    return client.post("/v1/vn/callforward", json=body)


def test_requests_fail_with_20_while_postgresql_is_down_and_recover_after(
    cluster: Cluster, tmp_path: Path
) -> None:
    db = Database(cluster.url)
    upgrade(db)
    tenant = make_tenant(db, "acme", [NUMBER])
    db.dispose()
    server = start_server(
        cluster.url,
        tmp_path,
        extra_env={"RENVOI_DATABASE_TIMEOUT": "2"},
        args=["--no-voicemail", "--no-worker"],
    )
    try:
        # The timeout only keeps a broken server from hanging the test run.
        with httpx2.Client(base_url=server.url, timeout=60) as client:
            assert _change(client, tenant.key, "+33612345678").json()["code"] == 1
            # Load across the stop and the start: four clients reading as fast as they can.
            seen: list[int] = []
            stop = threading.Event()

            def load() -> None:
                with httpx2.Client(base_url=server.url, timeout=60) as reader:
                    while not stop.is_set():
                        url = f"/v1/vn/callforward?number={NUMBER}&apiKey={tenant.key}"
                        seen.append(reader.get(url).status_code)

            readers = [threading.Thread(target=load) for _ in range(4)]
            for reader in readers:
                reader.start()
            time.sleep(0.5)
            cluster.stop()
            for request in (
                lambda: _change(client, tenant.key, "+33698765432"),
                lambda: client.get(f"/v1/vn/callforward?number={NUMBER}&apiKey={tenant.key}"),
                lambda: client.get(f"{server.internal_url}/internal/v1/route/{NUMBER}"),
            ):
                down = request()
                assert down.status_code == 503, down.text
                assert down.json()["code"] == 20
                assert "Traceback" not in down.text
            cluster.start()
            deadline = time.monotonic() + 60
            while True:
                answer = _change(client, tenant.key, "+33698765432")
                if answer.status_code != 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            stop.set()
            for reader in readers:
                reader.join()
            assert answer.json()["code"] == 1, answer.text  # the change before the stop held
            # Under load too: answered or 503, never a 500 or a hang; and both were seen.
            assert set(seen) == {200, 503}, sorted(set(seen))
            state = client.get(f"/v1/vn/callforward?number={NUMBER}&apiKey={tenant.key}")
            assert state.json()["param"] == "+33698765432"
    finally:
        server.stop()
