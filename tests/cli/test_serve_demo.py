"""``renvoi serve --demo``: what a newcomer sees after ``make run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow


def run_demo_once(tmp_path: Path) -> str:
    """Start the demo server, paste its curl, stop it; return what curl printed."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RENVOI_")},
        "RENVOI_DATA_DIR": str(tmp_path / "data"),
        "RENVOI_PORT": str(port),
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
            deadline = time.monotonic() + 30
            while True:
                pasted = subprocess.run(["bash", "-c", curl], capture_output=True, text=True)
                if pasted.stdout or time.monotonic() > deadline:
                    return pasted.stdout
                time.sleep(0.2)  # the server is still starting
        finally:
            server.terminate()
            server.wait(timeout=30)


def test_pasting_the_printed_curl_enables_forwarding(tmp_path: Path) -> None:
    expected = {"success": True, "code": 1, "message": "Callforward enabled"}
    assert json.loads(run_demo_once(tmp_path)) == expected
    # A second `make run` on the same data directory starts the demo afresh.
    assert json.loads(run_demo_once(tmp_path)) == expected
