"""Calls per second through Kamailio and renvoi, with the route cache on and off.

One command: ``.venv/bin/python bench/calls.py``. For each cache setting and each rate,
SIPp places calls for a few seconds to a number forwarding to a SIPp "carrier"; the
figures are successful calls/s and INVITE→180 latency (the 180 comes from the carrier,
so it measures the proxy's routing of the INVITE: route look-up and relay), p50/p99 from
SIPp's per-call round-trip log. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import (
    free_port,
    make_tenant,
)
from tests.voice.conftest import free_udp_port, start_platform
from tests.voice.sipp import callee_scenario, caller_scenario, run_sipp

from renvoi.store.database import Database
from renvoi.store.migrate import upgrade

NUMBER = "+33757000001"


def rtts(path: Path) -> list[float]:
    """Milliseconds of every INVITE→180 round trip SIPp logged."""
    values: list[float] = []
    for file in path.glob("caller*_rtt.csv"):
        with file.open() as handle:
            for row in csv.reader(handle, delimiter=";"):
                if len(row) >= 3 and row[2].replace(".", "", 1).isdigit():
                    values.append(float(row[2]))
    return values


def run(cache: bool, rates: list[int], seconds: int, workdir: Path) -> list[str]:
    url = f"sqlite:///{workdir / 'bench.db'}"
    db = Database(url)
    upgrade(db)
    tenant = make_tenant(db, "bench", [NUMBER])
    db.dispose()
    platform = start_platform(
        url,
        workdir / "platform",
        extra_env={
            "RENVOI_ROUTE_CACHE": str(cache).lower(),
            "RENVOI_LOG_LEVEL": "WARNING",
            "RENVOI_KAMAILIO_CHILDREN": "8",
        },
    )
    lines = []
    try:
        httpx2.post(
            platform.api + "/v1/vn/callforward",
            json={"apiKey": tenant.key, "number": NUMBER, "type": 1, "param": "+33612345678"},
        )
        for rate in rates:
            total = rate * seconds
            run_dir = workdir / f"rate{rate}-{cache}"
            run_dir.mkdir()
            carrier = run_sipp(
                run_dir,
                "carrier",
                callee_scenario(checks=[]),
                port=platform.trunk_port,
                control_port=free_port(),
                calls=total,
                extra=["-buff_size", "4194304"],
            )
            scenario = caller_scenario(number=NUMBER, expect=200, hold_ms=0, rtd=True)
            started = time.monotonic()
            caller = run_sipp(
                run_dir,
                "caller",
                scenario,
                port=free_udp_port(),
                control_port=free_port(),
                remote=f"127.0.0.1:{platform.sip_port}",
                calls=total,
                extra=[
                    "-r",
                    str(rate),
                    "-l",
                    str(rate * 4),
                    "-trace_rtt",
                    "-rtt_freq",
                    "1",
                    "-buff_size",
                    "4194304",
                ],
            )
            caller.wait(timeout=seconds * 4 + 60)
            elapsed = time.monotonic() - started
            carrier.wait(timeout=10)
            samples = rtts(run_dir)
            failed = total - len(samples)
            p50 = statistics.median(samples) if samples else float("nan")
            p99 = (
                statistics.quantiles(samples, n=100)[98]
                if len(samples) >= 100
                else max(samples, default=float("nan"))
            )
            lines.append(
                f"| {'on' if cache else 'off'} | {rate} | {len(samples) / elapsed:.0f} | "
                f"{failed} | {p50:.2f} / {p99:.2f} |"
            )
            print(lines[-1], flush=True)
    finally:
        platform.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="50,100,200,400", help="calls/s, comma-separated")
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    print("| route cache | offered calls/s | completed calls/s | failed | INVITE→180 p50/p99 ms |")
    print("|---|---|---|---|---|")
    for cache in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            run(cache, rates, args.seconds, Path(tmp))


if __name__ == "__main__":
    main()
