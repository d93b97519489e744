"""The SQLite data directory fills up under a running ``renvoi serve``.

The database lives on a small tmpfs of its own; a filler file takes the last free byte.
Changes then fail with code 20 and HTTP 503 (a clear error, never a 500); every change
acknowledged before is still there, the database passes SQLite's integrity check, and
once space is back the same server accepts changes again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from renvoi.store import numbers
from renvoi.store.database import Database
from renvoi.store.migrate import upgrade
from tests.harness import make_tenant, start_server

pytestmark = pytest.mark.slow

NUMBERS = ["+33757000001", "+33757000002", "+33757000003"]
PHONES = ["+33612345678", "+33698765432"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(directory: Path) -> Path:
    """A file taking every free byte of ``directory``'s file system."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):  # big writes, then the last bytes
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    probe = os.open(directory / "probe", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError) as full:
            os.write(probe, b"\0" * 4096)
    finally:
        os.close(probe)
    assert full.value.errno == errno.ENOSPC
    return filler


def test_a_full_disk_gives_20_loses_nothing_and_recovers(small_disk: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{small_disk / 'renvoi.db'}"
    db = Database(url)
    upgrade(db)
    tenant = make_tenant(db, "acme", NUMBERS)
    db.dispose()
    server = start_server(url, tmp_path, args=["--no-voicemail", "--no-worker"])
    acknowledged = 0
    refused: list[httpx2.Response] = []
    try:
        with httpx2.Client(base_url=server.url, timeout=60) as client:

            def change(i: int) -> httpx2.Response:
                body = {
                    "apiKey": tenant.key,
                    "number": NUMBERS[i % len(NUMBERS)],
                    "type": 1,
                    "param": PHONES[(i // len(NUMBERS)) % len(PHONES)],
                }
                return client.post("/v1/vn/callforward", json=body)

            filler = fill(small_disk)
            i = 0
            while len(refused) < 5 and i < 2000:
                answer = change(i)  # refused: the same change again, it is still real
                if answer.status_code == 200:
                    acknowledged, i = acknowledged + 1, i + 1
                else:
                    refused.append(answer)
            assert refused, "the disk never filled up"
            for answer in refused:
                assert (answer.status_code, answer.json()["code"]) == (503, 20), answer.text
            filler.unlink()
            answer = change(i)
            assert answer.json()["code"] == 1, answer.text
            acknowledged += 1
    finally:
        server.stop()
    check = Database(url)
    try:
        changes = sum(len(numbers.history(check, n, region="FR")) for n in NUMBERS)
    finally:
        check.dispose()
    assert changes == acknowledged
    with sqlite3.connect(small_disk / "renvoi.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
