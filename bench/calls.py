"""Calls per second through Kamailio and renvoi, with the route cache on and off, and
with a share of calls taking a fallback.

One command: ``.venv/bin/python bench/calls.py`` (``--smoke``: a second at 10 calls/s,
which CI runs so that the bench cannot break unseen). For each cache setting and each
rate, SIPp offers calls at a fixed rate for a few seconds to a SIPp "carrier", twice:

- "none": every call to a number forwarding to the carrier (the reference);
- "mixed": the same rate, ``--fallback-share`` of it to a second number whose forward
  the carrier refuses busy (486), so that Kamailio takes its busy fallback, the rest
  as in "none".

The figures are the calls completed and failed (SIPp's statistics) and the INVITE→180
latency, p50/p99 from SIPp's per-call round-trip log: the 180 comes from the carrier, so
it measures the proxy's routing of the INVITE (route look-up and relay); for a fallback
call, the relay, the 486, the failure route and the fallback's relay. The calls that
take no fallback are compared with the reference of the same run (p99 ratio). Prints a
table; asserts nothing.
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

from renvoi.config import Settings
from renvoi.store.database import Database
from renvoi.store.migrate import upgrade
from tests.harness import free_udp_port, make_tenant
from tests.harness.platform import Platform, start_platform
from tests.harness.sipp import caller_scenario, carrier_scenario, run_sipp

NUMBER, FALLING_BACK = "+33757000001", "+33757000002"
DESTINATION, BUSY, FALLBACK = "+33612345678", "+33612000001", "+33612000002"
# The carrier rings this long before answering (see ``carrier_scenario``).
RING_MS = 20


def rtts(path: Path, name: str) -> list[float]:
    """Milliseconds of every INVITE→180 round trip the SIPp caller ``name`` logged
    (``response_time_ms``)."""
    values: list[float] = []
    for file in path.glob(f"{name}*_rtt.csv"):
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
    cache: bool,
    rates: list[int],
    seconds: int,
    workdir: Path,
    workers: int,
    children: int,
    share: float,
) -> list[str]:
    url = f"sqlite:///{workdir / 'bench.db'}"
    db = Database(url)
    upgrade(db)
    tenant = make_tenant(db, "bench", [NUMBER, FALLING_BACK])
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
        api = platform.api + "/v1/vn/callforward"
        for body in (
            {"number": NUMBER, "type": 1, "param": DESTINATION},
            {"number": FALLING_BACK, "type": 1, "param": BUSY},
        ):
            httpx2.post(api, json={"apiKey": tenant.key, **body}).raise_for_status()
        httpx2.post(
            api + "/conditional",
            json={
                "apiKey": tenant.key,
                "number": FALLING_BACK,
                "condition": "busy",
                "type": 1,
                "param": FALLBACK,
            },
        ).raise_for_status()
        for rate in rates:
            reference: list[float] = []
            for mix in ("none", "mixed"):
                falling = round(rate * share) if mix == "mixed" else 0
                run_dir = workdir / f"rate{rate}-{cache}-{mix}"
                run_dir.mkdir()
                offered = {"caller": rate - falling, "fallback": falling}
                figures = _phase(platform, run_dir, offered, seconds)
                plain = figures["caller"]
                if mix == "none":
                    reference = plain[2]
                ratio = percentile(plain[2], 99) / percentile(reference, 99)
                for name, (ok, failed, samples) in figures.items():
                    kind, compared = "none", f"{ratio:.2f}"
                    if name == "fallback":
                        kind, compared = "fallback", ""
                    lines.append(
                        f"| {'on' if cache else 'off'} | {rate} | {mix} | {kind} | "
                        f"{ok} of {offered[name] * seconds} | {failed} | "
                        f"{percentile(samples, 50):.0f} / {percentile(samples, 99):.0f} | "
                        f"{compared} |"
                    )
                    print(lines[-1], flush=True)
    finally:
        platform.stop()
    return lines


def _phase(
    platform: Platform, run_dir: Path, offered: dict[str, int], seconds: int
) -> dict[str, tuple[int, int, list[float]]]:
    """Offer each caller's rate (calls/s; ``caller`` to ``NUMBER``, ``fallback`` to
    ``FALLING_BACK``) at once for ``seconds``; each caller's completed and failed calls
    and INVITE→180 samples."""
    total = sum(offered.values()) * seconds
    carrier = run_sipp(
        run_dir,
        "carrier",
        carrier_scenario(ring_ms=RING_MS, busy=BUSY),
        port=platform.trunk_port,
        # Room for the "calls" a late retransmission starts (a BYE after its call ended,
        # aborted at once): counted against -m, they would end the carrier before the
        # last real calls. It is stopped once the callers are done.
        calls=total * 2,
        extra=["-buff_size", "4194304"],
    )
    callers = {}
    for name, rate in offered.items():
        if not rate:
            continue
        number = NUMBER if name == "caller" else FALLING_BACK
        callers[name] = run_sipp(
            run_dir,
            name,
            caller_scenario(number=number, expect=200, hold_ms=0, rtd=True),
            port=free_udp_port(),
            remote=f"127.0.0.1:{platform.sip_port}",
            calls=rate * seconds,
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
                str(run_dir / f"{name}_stat.csv"),
            ],
        )
    for caller in callers.values():
        caller.wait(timeout=seconds * 4 + 60)
    carrier.wait(timeout=2)  # killed then: the callers are done
    return {name: (*outcome(run_dir / f"{name}_stat.csv"), rtts(run_dir, name)) for name in callers}


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
        "--fallback-share",
        type=float,
        default=0.25,
        help="share of the mixed runs' calls that take a busy fallback",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="every part, for a second at 10 calls/s (CI)"
    )
    parser.add_argument(
        "--keep", type=Path, help="keep the runs' files (SIPp's logs and errors) in this folder"
    )
    args = parser.parse_args()
    if args.smoke:
        args.rates, args.seconds, args.children = "10", 1, 2
    rates = [int(r) for r in args.rates.split(",")]
    if not args.smoke:
        print(f"machine pace: 10M Python additions in {pace():.2f} s")
    print(
        "| route cache | offered calls/s | run | fallback | completed | failed "
        "| INVITE→180 p50/p99 ms | p99 vs none |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for cache in (True,) if args.no_off else (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            if args.keep:
                workdir = args.keep / f"cache-{'on' if cache else 'off'}"
                workdir.mkdir(parents=True)
            run(
                cache,
                rates,
                args.seconds,
                workdir,
                args.workers,
                args.children,
                args.fallback_share,
            )


if __name__ == "__main__":
    main()
