"""Calls per second through Kamailio and renvoi, with the route cache on and off.

One command: ``.venv/bin/python bench/calls.py`` (``--smoke``: a second at 10 calls/s,
which CI runs so that the bench cannot break unseen). For each cache setting and each rate,
SIPp offers calls at a fixed rate for a few seconds to a number forwarding to a SIPp
"carrier"; the figures are the calls completed and failed (SIPp's statistics) and the
INVITE→180 latency (the 180 comes from the carrier,
so it measures the proxy's routing of the INVITE: route look-up and relay), p50/p99 from
SIPp's per-call round-trip log. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load import pace
from tests.harness import free_udp_port, make_tenant
from tests.harness.platform import start_platform
from tests.harness.sipp import callee_scenario, caller_scenario, run_sipp

from renvoi.config import Settings
from renvoi.store.database import Database
from renvoi.store.migrate import upgrade

NUMBER = "+33757000001"
# The carrier rings this long before answering (see ``callee_scenario``).
RING_MS = 20


def rtts(path: Path) -> list[float]:
    """Milliseconds of every INVITE→180 round trip SIPp logged (``response_time_ms``)."""
    values: list[float] = []
    for file in path.glob("caller*_rtt.csv"):
        with file.open() as handle:
            for row in csv.DictReader(handle, delimiter=";"):
                values.append(float(row["response_time_ms"]))
    return values


def outcome(path: Path) -> tuple[int, int]:
    """Successful and failed calls, from the last line of SIPp's statistics file."""
    with path.open() as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    last = rows[-1]
    return int(last["SuccessfulCall(C)"]), int(last["FailedCall(C)"])


def percentile(samples: list[float], q: int) -> float:
    if not samples:
        return float("nan")
    if len(samples) < 100:
        return max(samples) if q > 50 else statistics.median(samples)
    return statistics.quantiles(samples, n=100)[q - 1]


def run(
    cache: bool, rates: list[int], seconds: int, workdir: Path, workers: int, children: int
) -> list[str]:
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
            "RENVOI_KAMAILIO_CHILDREN": str(children),
            "RENVOI_WORKERS": str(workers),
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
                callee_scenario(checks=[], ring_ms=RING_MS),
                port=platform.trunk_port,
                calls=total,
                extra=["-buff_size", "4194304"],
            )
            scenario = caller_scenario(number=NUMBER, expect=200, hold_ms=0, rtd=True)
            caller = run_sipp(
                run_dir,
                "caller",
                scenario,
                port=free_udp_port(),
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
                    "-trace_stat",
                    "-stf",
                    str(run_dir / "caller_stat.csv"),
                ],
            )
            caller.wait(timeout=seconds * 4 + 60)
            carrier.wait(timeout=10)
            samples = rtts(run_dir)
            ok, failed = outcome(run_dir / "caller_stat.csv")
            lines.append(
                f"| {'on' if cache else 'off'} | {rate} | {ok} of {total} | {failed} | "
                f"{percentile(samples, 50):.0f} / {percentile(samples, 99):.0f} |"
            )
            print(lines[-1], flush=True)
    finally:
        platform.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="50,100,200,400", help="calls/s, comma-separated")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="API worker processes")
    parser.add_argument(
        "--children",
        type=int,
        default=Settings.model_fields["kamailio_children"].default,
        help="Kamailio UDP workers (default: the product's)",
    )
    parser.add_argument("--no-off", action="store_true", help="skip the cache-off runs")
    parser.add_argument(
        "--smoke", action="store_true", help="every part, for a second at 10 calls/s (CI)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.rates, args.seconds, args.children = "10", 1, 2
    rates = [int(r) for r in args.rates.split(",")]
    if not args.smoke:
        print(f"machine pace: 10M Python additions in {pace():.2f} s")
    print("| route cache | offered calls/s | completed | failed | INVITE→180 p50/p99 ms |")
    print("|---|---|---|---|---|")
    for cache in (True,) if args.no_off else (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            run(cache, rates, args.seconds, Path(tmp), args.workers, args.children)


if __name__ == "__main__":
    main()
