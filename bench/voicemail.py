"""How many voicemail calls at once the endpoint holds here, with every message intact.

One command: ``.venv/bin/python bench/voicemail.py`` (``--smoke``: one call, which CI
runs so that the bench cannot break unseen). For each level N, SIPp places N
simultaneous calls through Kamailio to a number in voicemail mode; each caller plays
SIPp's 7.08 s recording after the beep and hangs up. Then it checks every stored WAV for
the recording's 56,640 samples bit for bit, counts the emails aiosmtpd received, and
reads the CPU the renvoi process used (from /proc) per minute of audio recorded.
Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

import httpx2
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from renvoi.store.database import Database
from renvoi.store.migrate import upgrade
from tests.harness import free_port, free_udp_port, make_tenant
from tests.harness.platform import start_platform
from tests.harness.sipp import PCAP, pcap_samples, run_sipp, voicemail_caller_scenario

NUMBER = "+33757000001"


class Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.count += 1
        return "250 OK"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def intact(spool: Path, expected: bytes) -> tuple[int, int]:
    """Messages stored, and how many hold the whole recording."""
    stored = whole = 0
    for path in spool.rglob("*.wav"):
        stored += 1
        with wave.open(str(path)) as wav:
            whole += expected in wav.readframes(wav.getnframes())
    return stored, whole


def run(level: int, workdir: Path, expected: bytes) -> str:
    url = f"sqlite:///{workdir / 'bench.db'}"
    db = Database(url)
    upgrade(db)
    tenant = make_tenant(db, "bench", [NUMBER])
    db.dispose()
    counter, smtp_port = Counter(), free_port()
    smtp = Controller(counter, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    platform = start_platform(
        url,
        workdir / "platform",
        extra_env={"RENVOI_SMTP_PORT": str(smtp_port), "RENVOI_LOG_LEVEL": "WARNING"},
    )
    try:
        httpx2.post(
            platform.api + "/v1/vn/callforward",
            json={"apiKey": tenant.key, "number": NUMBER, "type": 2, "param": "b@example.com"},
        )
        before = cpu_seconds(platform.server.process.pid)
        caller = run_sipp(
            workdir,
            "caller",
            voicemail_caller_scenario(number=NUMBER, wait_ms=4000, pcap=PCAP),
            port=free_udp_port(),
            remote=f"127.0.0.1:{platform.sip_port}",
            calls=level,
            extra=["-l", str(level), "-r", str(level), "-buff_size", "4194304"],
        )
        caller.wait(timeout=120)
        deadline = time.monotonic() + 60
        while counter.count < level and time.monotonic() < deadline:
            time.sleep(0.2)
        used = cpu_seconds(platform.server.process.pid) - before
        stored, whole = intact(workdir / "platform" / "voicemail", expected)
        recorded_minutes = whole * (len(expected) / 2 / 8000) / 60
        per_minute = used / recorded_minutes if recorded_minutes else float("nan")
        return f"| {level} | {stored} | {whole} | {counter.count} | {used:.1f} | {per_minute:.2f} |"
    finally:
        platform.stop()
        smtp.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="1,10,25,50", help="simultaneous calls")
    parser.add_argument("--smoke", action="store_true", help="one call (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.levels = "1"
    expected = pcap_samples(PCAP)
    print(
        "| simultaneous calls | messages stored | intact (bit for bit) | emails | "
        "renvoi CPU s | CPU s per recorded minute |"
    )
    print("|---|---|---|---|---|---|")
    for level in (int(n) for n in args.levels.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            print(run(level, Path(tmp), expected), flush=True)


if __name__ == "__main__":
    main()
