"""Driving a target with wrk and reading what it cost: requests/s, p50 and p99 from wrk,
the server's CPU from /proc, the machine's pace."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.data import ACCOUNTS, DESTINATIONS, EMAIL, FIRST_NUMBER, reset
from bench.report import Figure, row

LUA = Path(__file__).resolve().parent / "lua"


def pace() -> float:
    """Seconds for ten million Python additions: how fast this machine is today, so that
    figures from different machines can be compared."""
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - started


def lua_script(path: Path, scenario: str, keys: list[str], count: int) -> Path:
    """The wrk script of a scenario (``lua/{scenario}.lua`` after ``lua/common.lua``),
    with a prelude naming the keys and numbers it draws from."""
    prelude = "\n".join(
        [
            "local keys = {" + ", ".join(f'"{key}"' for key in keys) + "}",
            f"local count = {count}",
            f"local first = {FIRST_NUMBER}",
            f"local accounts = {ACCOUNTS}",
            f'local a, b, email = "{DESTINATIONS[0]}", "{DESTINATIONS[1]}", "{EMAIL}"',
        ]
    )
    common = (LUA / "common.lua").read_text()
    path.write_text(prelude + "\n" + common + (LUA / f"{scenario}.lua").read_text())
    return path


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn's workers, nginx's)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def settle(server_pid: int, *, quiet: float = 1.5, limit: float = 60.0) -> None:
    """Wait until the server has used no CPU for ``quiet`` seconds: the requests wrk left
    in flight are answered (one waiting on a lock uses no CPU meanwhile, hence the
    length: a lock is held for milliseconds)."""
    pids = process_tree(server_pid)
    deadline = time.monotonic() + limit
    before, idle_since = cpu_seconds(pids), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - idle_since < quiet:
        time.sleep(0.1)
        now = cpu_seconds(pids)
        if now - before > 0.002:
            idle_since = time.monotonic()
        before = now


def rss_mib(pids: list[int]) -> list[float]:
    sizes = []
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return sizes


def wrk(url: str, script: Path, connections: int, seconds: int, server_pid: int) -> dict[str, Any]:
    pids = process_tree(server_pid)
    before = cpu_seconds(pids)
    result = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    cpu = cpu_seconds(pids) - before
    line = next(x for x in result.stdout.splitlines() if x.startswith("WRK_JSON "))
    figures: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    figures["cpu_s"] = cpu
    return figures


def measure(
    target: str,
    scenario: str,
    database: str,
    database_url: str,
    url: str,
    script: Path,
    server_pid: int,
    args: argparse.Namespace,
) -> list[Figure]:

    smoke = getattr(args, "smoke", False)

    def run(connections: int, seconds: int) -> dict[str, Any]:
        # The requests wrk left in flight at the end of the last run (a smoke run only
        # checks that the parts work: it waits for nothing).
        settle(server_pid, limit=0 if smoke else 60.0)
        if scenario == "write":
            reset(database_url)
        return wrk(url, script, connections, seconds, server_pid)

    if not smoke:
        run(8, 2)  # warm up: caches, connections, lazy imports
    figures = []
    for connections in args.connections:
        rounds = [run(connections, args.seconds) for _ in range(args.rounds)]
        middle = sorted(rounds, key=lambda r: r["requests"])[len(rounds) // 2]
        requests = middle["requests"]
        figures.append(
            Figure(
                target=target,
                scenario=scenario,
                database=database,
                connections=connections,
                requests_per_s=round(requests / (middle["duration_us"] / 1e6)),
                p50_ms=round(middle["p50_us"] / 1000, 2),
                p99_ms=round(middle["p99_us"] / 1000, 2),
                cpu_us_per_request=round(middle["cpu_s"] / max(requests, 1) * 1e6),
                errors=int(middle["errors"]),
                refused=middle["refused"],
            )
        )
        print("  " + row(figures[-1]), flush=True)
    return figures
