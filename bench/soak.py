"""Memory under a long write load: each worker's RSS sampled, and its trend."""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.data import populate
from bench.load import lua_script, process_tree, rss_mib, wrk
from bench.targets import renvoi


def uvicorn_workers(server_pid: int) -> list[int]:
    """The worker processes of a ``renvoi serve`` (spawned by multiprocessing)."""
    workers = []
    for pid in process_tree(server_pid):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
        except OSError:
            continue
    return workers


def soak(seconds: int, workers: int, *, every: float = 30.0) -> None:
    """Memory per worker under a long write load (SQLite, 64 connections): RSS sampled
    every ``every`` seconds from the end of a warm-up, and the trend of the second half
    (MiB per hour, least squares), once the bounded caches have had the first half to
    fill: a flat second half is filling, a steady climb a leak."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'soak.db'}"
        keys = populate(url, 10_000)
        script = lua_script(workdir / "write.lua", "write", keys, 10_000)
        with renvoi(url, workdir / "server", workers) as (server, pid):
            base = server.url
            wrk(base, script, 64, 10, pid)  # warm-up
            pids = uvicorn_workers(pid)
            samples: list[tuple[float, list[float]]] = []
            done = threading.Event()

            def sample() -> None:
                start = time.monotonic()
                while True:
                    samples.append((time.monotonic() - start, rss_mib(pids)))
                    if done.wait(every):
                        break

            sampler = threading.Thread(target=sample)
            sampler.start()
            try:
                result = wrk(base, script, 64, seconds, pid)
            finally:
                done.set()
                sampler.join()
    rate = result["requests"] / (result["duration_us"] / 1e6)
    print(f"soak: {seconds} s of writes at 64 connections, {rate:,.0f} requests/s")
    print("| s | " + " | ".join(f"worker {i + 1} MiB" for i in range(len(pids))) + " |")
    print("|---|" + "---|" * len(pids))
    for at, sizes in samples:
        print(f"| {at:.0f} | " + " | ".join(f"{r:.1f}" for r in sizes) + " |")
    half = [(at, sizes) for at, sizes in samples if at >= samples[-1][0] / 2]
    if len(half) < 2:
        return
    for i in range(len(pids)):
        trend = statistics.linear_regression([at for at, _ in half], [s[i] for _, s in half])
        print(f"worker {i + 1}: second half {trend.slope * 3600:+.2f} MiB/hour")
