"""``renvoi serve --demo``: what a newcomer sees after ``make run``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from renvoi.store import accounts, numbers
from renvoi.store.database import Database
from tests.harness import free_port, free_udp_port

pytestmark = pytest.mark.slow


def run_demo_once(tmp_path: Path) -> tuple[str, str]:
    """Start the demo server, paste its curl, sign in to the console it prints with the
    curl's key, stop it; return the curl and what it printed."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RENVOI_")},
        "RENVOI_DATA_DIR": str(tmp_path / "data"),
        "RENVOI_PORT": str(port),
        "RENVOI_INTERNAL_LISTEN": f"127.0.0.1:{free_port()}",
        "RENVOI_VOICEMAIL_LISTEN": f"127.0.0.1:{free_udp_port()}",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "renvoi", "serve", "--demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as server:
        try:
            assert server.stdout is not None
            curl = next(line for line in server.stdout if line.startswith("curl "))
            console = next(line for line in server.stdout if line.startswith("http")).strip()
            assert console == f"http://127.0.0.1:{port}/console/"
            deadline = time.monotonic() + 30
            while True:
                pasted = subprocess.run(["bash", "-c", curl], capture_output=True, text=True)
                if pasted.stdout or time.monotonic() > deadline:
                    break
                time.sleep(0.2)  # the server is still starting
            key = json.loads(curl.split(" --data ")[1].strip().strip("'"))["apiKey"]
            with httpx2.Client(base_url=console) as browser:
                page = browser.get(console).text
                token = re.search(r'name="csrf" value="([^"]+)"', page)
                assert token is not None
                signed = browser.post(
                    f"{console}sign-in", data={"csrf": token.group(1), "api_key": key}
                )
                assert signed.status_code == 303
                assert "+33757000001" in browser.get(console).text
            return curl, pasted.stdout
        finally:
            server.terminate()
            server.wait(timeout=30)


def test_pasting_the_printed_curl_enables_forwarding(tmp_path: Path) -> None:
    curl, answer = run_demo_once(tmp_path)
    assert json.loads(answer) == {"success": True, "code": 1, "message": "Callforward enabled"}
    # A restart keeps the demo as the user left it: the same key and curl, the number
    # still forwarding (so the same request now changes nothing), no second live key.
    again, answer = run_demo_once(tmp_path)
    assert again.split(" --data ")[1] == curl.split(" --data ")[1]  # the same key
    assert json.loads(answer)["code"] == 16
    database = Database(f"sqlite:///{tmp_path / 'data' / 'renvoi.db'}")
    try:
        [demo] = [a for a in accounts.list_accounts(database) if a.name == "demo"]
        assert [k.revoked_at for k in accounts.list_keys(database, demo.id)] == [None]
        assert len(numbers.history(database, "+33757000001", region="FR")) == 1
    finally:
        database.dispose()
    assert (tmp_path / "data" / "demo-key").stat().st_mode & 0o077 == 0
