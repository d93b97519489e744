"""renvoi's HTTP request path against what a user would otherwise write and this
machine's limits, side by side in one run.

One command: ``.venv/bin/python bench/api.py`` (``--help`` for the options). wrk drives
each target on loopback at each connection count, with Lua scripts over 10,000 numbers
spread over 100 accounts (``--numbers 1000000`` for the large database):

- **write**: ``POST /v1/vn/callforward`` cycling each number through real transitions
  (forward to A, forward to B, voicemail, off);
- **read**: ``GET /v1/vn/callforward`` (renvoi's read extension);
- **route**: ``GET /internal/v1/route/{number}`` with a new Call-ID each time, what
  Kamailio asks per call (each one records a call).

The references, measured in the same run: nginx answering a fixed body (the HTTP limit
here), a raw ASGI app under uvicorn answering the same (the Python HTTP limit), and a
naive FastAPI + SQLAlchemy ORM endpoint doing the same update without the contract
(``bench/references/``). Every Python target runs with the same number of worker
processes. Prints a Markdown table per database: requests/s, p50 and p99, server CPU per
request, and the ratios the performance issue sets; writes the figures as JSON and a PNG
plot beside them. Asserts nothing: people read it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import insert, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.calls import pace
from tests.conftest import Server, free_port, start_server

from renvoi.store import accounts
from renvoi.store.database import Database
from renvoi.store.migrate import upgrade
from renvoi.store.models import Number
from renvoi.store.statecache import announce

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS = 100
FIRST_NUMBER = 33_750_000_000  # +33 7 50 00 00 00, French mobile numbers upwards
DESTINATIONS = ("+33612345678", "+33698765432")
EMAIL = "bench@example.com"
SUCCESS_BODY = '{"success": true, "code": 1, "message": "Callforward enabled"}'


def number(i: int) -> str:
    return f"+{FIRST_NUMBER + i}"


# --- the data ------------------------------------------------------------------------


def reset(url: str) -> None:
    """Every number off again, so that each change of the write scenario is a real one
    (the route caches are told, as by any change)."""
    db = Database(url)
    try:
        with db.write() as conn:
            conn.execute(update(Number).values(mode=0, param=None))
            announce(db, conn, None)
    finally:
        db.dispose()


def populate(url: str, count: int) -> list[str]:
    """``count`` numbers over ``ACCOUNTS`` accounts (number i belongs to account i % 100);
    returns the accounts' API keys. Bulk inserts: the API would take minutes for 1M."""
    db = Database(url)
    try:
        upgrade(db)
        created = [accounts.create_account(db, f"bench-{a}") for a in range(ACCOUNTS)]
        now = datetime.now(UTC)
        with db.write() as conn:
            for start in range(0, count, 50_000):
                conn.execute(
                    insert(Number),
                    [
                        {
                            "e164": number(i),
                            "account_id": created[i % ACCOUNTS].id,
                            "suspended": False,
                            "voice": True,
                            "mode": 0,
                            "param": None,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for i in range(start, min(count, start + 50_000))
                    ],
                )
        return [account.api_key for account in created]
    finally:
        db.dispose()


# --- the load --------------------------------------------------------------------------

_LUA_COMMON = """
local keys = {%(keys)s}
local count = %(count)d
local first = %(first)d
local threads = {}
local thread_id = 0
setup = function(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end
init = function(args)
  math.randomseed(os.time() * 1000 + id)
  sequence = 0
  turns = {}
  refused = {}
end
-- Answers other than 200, by HTTP status and contract code (what a refusal was).
response = function(status, headers, body)
  if status ~= 200 then
    local what = status .. "/" .. (string.match(body, '"code":%%s*(%%d+)') or "-")
    refused[what] = (refused[what] or 0) + 1
  end
end
local function pick()
  local i = math.random(0, count - 1)
  return i, "+" .. string.format("%%.0f", first + i), keys[(i %% %(accounts)d) + 1]
end
-- Numbers of this thread only (wrk runs 2), so that each one's cycle of changes is real.
local function pick_own()
  local i = math.random(0, count / 2 - 1) * 2 + id
  return i, "+" .. string.format("%%.0f", first + i), keys[(i %% %(accounts)d) + 1]
end
done = function(summary, latency, requests)
  local errors = summary.errors
  local merged, answers = {}, {}
  for _, thread in ipairs(threads) do
    for what, n in pairs(thread:get("refused")) do
      merged[what] = (merged[what] or 0) + n
    end
  end
  for what, n in pairs(merged) do
    table.insert(answers, string.format("\\"%%s\\": %%d", what, n))
  end
  io.write(string.format(
    "WRK_JSON {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, " ..
    "\\"p99_us\\": %%d, \\"errors\\": %%d, \\"refused\\": {%%s}}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.connect + errors.read + errors.write + errors.timeout, table.concat(answers, ", ")))
end
"""

_LUA_SCENARIOS = {
    "write": """
local settings = {
  '"type": 1, "param": "%(a)s"', '"type": 1, "param": "%(b)s"',
  '"type": 2, "param": "%(email)s"', '"type": 0, "param": ""',
}
-- Every number starts off (reset before each run): forward to A, to B, voicemail, off...
request = function()
  local i, e164, key = pick_own()
  local turn = (turns[i] or 0) %% 4
  turns[i] = turn + 1
  local body = '{"apiKey": "' .. key .. '", "number": "' .. e164 .. '", ' ..
    settings[turn + 1] .. '}'
  return wrk.format("POST", "/v1/vn/callforward",
    {["Content-Type"] = "application/json"}, body)
end
""",
    "read": """
request = function()
  local i, e164, key = pick()
  return wrk.format("GET", "/v1/vn/callforward?number=" .. e164,
    {["X-Api-Key"] = key})
end
""",
    "route": """
request = function()
  local i, e164, key = pick()
  sequence = sequence + 1
  return wrk.format("GET", "/internal/v1/route/" .. e164 .. "?call_id=bench-" .. id ..
    "-" .. sequence .. "-" .. math.random(0, 1000000000) .. "&caller=%%2B33140000001")
end
""",
}


def lua_script(path: Path, scenario: str, keys: list[str], count: int) -> Path:
    values = {
        "keys": ", ".join(f'"{key}"' for key in keys),
        "count": count,
        "first": FIRST_NUMBER,
        "accounts": ACCOUNTS,
        "a": DESTINATIONS[0],
        "b": DESTINATIONS[1],
        "email": EMAIL,
    }
    path.write_text((_LUA_COMMON + _LUA_SCENARIOS[scenario]) % values)
    return path


@dataclass
class Figure:
    target: str
    scenario: str
    database: str
    connections: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float
    errors: int
    refused: dict[str, int]  # answers other than 200: {"HTTP status/contract code": count}


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

    def run(connections: int, seconds: int) -> dict[str, Any]:
        settle(server_pid)  # the requests wrk left in flight at the end of the last run
        if scenario == "write":
            reset(database_url)
        return wrk(url, script, connections, seconds, server_pid)

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


# --- the targets -----------------------------------------------------------------------


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text()[-2000:]}")
        try:
            httpx2.get(url, timeout=1)
            return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer: {log.read_text()[-2000:]}")


@contextmanager
def started(command: list[str], url: str, workdir: Path, env: dict[str, str]) -> Iterator[int]:
    log = workdir / f"{Path(command[0]).name}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        wait_until_up(url, process, log)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def nginx(workdir: Path, workers: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"""worker_processes {workers};
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {workdir}/nginx-body;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      default_type application/json;
      return 200 '{SUCCESS_BODY}';
    }}
  }}
}}
"""
    )
    url = f"http://127.0.0.1:{port}"
    with started(
        ["nginx", "-c", str(conf), "-g", "daemon off;"], url, workdir, dict(os.environ)
    ) as pid:
        yield url, pid


@contextmanager
def uvicorn_app(
    app: str, workdir: Path, workers: int, env: dict[str, str]
) -> Iterator[tuple[str, int]]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if app.endswith("raw_asgi:app"):
        command += ["--lifespan", "off"]
    url = f"http://127.0.0.1:{port}"
    with started(command, url, workdir, {**os.environ, **env, "PYTHONPATH": str(ROOT)}) as pid:
        yield url, pid


@contextmanager
def renvoi(
    database_url: str, workdir: Path, workers: int, *, cache: bool = True
) -> Iterator[tuple[Server, int]]:
    workdir.mkdir(exist_ok=True)
    server = start_server(
        database_url,
        workdir,
        workers=workers,
        args=["--no-voicemail", "--no-worker"],
        extra_env={
            "RENVOI_DATABASE_POOL_SIZE": "8",
            "RENVOI_ROUTE_CACHE": "true" if cache else "false",
        },
    )
    try:
        yield server, server.process.pid
    finally:
        server.stop()


# --- the report --------------------------------------------------------------------------


def row(f: Figure) -> str:
    refused = ", ".join(f"{n}× {what}" for what, n in sorted(f.refused.items()))
    errors = "; ".join(x for x in (f"{f.errors} socket errors" if f.errors else "", refused) if x)
    return (
        f"| {f.target} | {f.scenario} | {f.database} | {f.connections} | {f.requests_per_s:,} | "
        f"{f.p50_ms:.2f} | {f.p99_ms:.2f} | {f.cpu_us_per_request} | {errors} |"
    )


HEADER = (
    "| target | scenario | database | connections | requests/s | p50 ms | p99 ms "
    "| server CPU µs/request | not 200 (HTTP/code) |\n|---|---|---|---|---|---|---|---|---|"
)


def ratios(figures: list[Figure], database: str) -> list[str]:
    """The issue's targets, as ratios of figures measured in this run."""

    def rate(target: str, scenario: str, connections: int) -> float | None:
        for f in figures:
            if (f.target, f.scenario, f.connections) == (target, scenario, connections) and (
                f.database in (database, "-")
            ):
                return f.requests_per_s
        return None

    lines = []
    for connections in sorted({f.connections for f in figures}):
        raw = rate("raw ASGI", "fixed body", connections)
        naive = rate("naive FastAPI+ORM", "write", connections)
        for scenario, against, target_ratio in (
            ("write", naive, 3.0),
            ("write", raw, 0.4),
            ("read", raw, 0.6),
            ("route", raw, 0.6),
        ):
            mine = rate("renvoi", scenario, connections)
            if mine is None or not against:
                continue
            name = "naive" if against is naive else "raw ASGI"
            lines.append(
                f"| {database} | {connections} | {scenario} / {name} | {mine / against:.2f} "
                f"| ≥ {target_ratio} |"
            )
    return lines


def plot(figures: list[Figure], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 8), sharex=True)
    series: dict[str, list[Figure]] = {}
    for f in figures:
        label = f"{f.target} {f.scenario}" + (f" ({f.database})" if f.database != "-" else "")
        series.setdefault(label, []).append(f)
    for label, points in sorted(series.items()):
        points.sort(key=lambda f: f.connections)
        xs = [f.connections for f in points]
        top.plot(xs, [f.requests_per_s for f in points], marker="o", label=label)
        bottom.plot(xs, [f.p99_ms for f in points], marker="o", label=label)
    top.set_ylabel("requests/s")
    top.set_yscale("log")
    bottom.set_ylabel("p99 latency, ms")
    bottom.set_yscale("log")
    bottom.set_xlabel("wrk connections")
    bottom.set_xscale("log", base=2)
    ticks = sorted({f.connections for f in figures})
    bottom.set_xticks(ticks, [str(t) for t in ticks])
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    top.set_title("renvoi vs references, loopback, wrk (2 threads)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# --- main ----------------------------------------------------------------------------------


def databases(args: argparse.Namespace, workdir: Path) -> Iterator[tuple[str, str]]:
    if "sqlite" in args.databases:
        yield "SQLite", f"sqlite:///{workdir / 'bench.db'}"
    if "postgresql" in args.databases:
        admin = args.postgres.rsplit("/", 1)[0] + "/postgres"
        name = "renvoi_bench"
        subprocess.run(
            [
                "psql",
                "-q",
                admin.replace("postgresql+psycopg", "postgresql"),
                "-c",
                f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
                "-c",
                f"CREATE DATABASE {name}",
            ],
            check=True,
        )
        yield "PostgreSQL", args.postgres.rsplit("/", 1)[0] + f"/{name}"


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--numbers", type=int, default=10_000)
    parser.add_argument("--connections", default="8,64", help="comma-separated")
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="the median of these is kept")
    parser.add_argument("--workers", type=int, default=2, help="server processes, every target")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--scenarios", default="write,read,route")
    parser.add_argument("--no-references", action="store_true")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="renvoi without its caches: every request reads the database (with "
        "--numbers 1000000, the request path's own cost of a large database)",
    )
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/renvoi_bench"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument(
        "--soak", type=int, metavar="SECONDS", help="instead: memory under a long write load"
    )
    args = parser.parse_args()
    if args.soak:
        soak(args.soak, args.workers)
        return
    args.connections = [int(c) for c in args.connections.split(",")]
    scenarios = args.scenarios.split(",")
    args.out.mkdir(parents=True, exist_ok=True)

    print(f"machine pace: 10M Python additions in {pace():.2f} s")
    print(
        f"{args.numbers:,} numbers, {ACCOUNTS} accounts, {args.workers} workers per target, "
        f"{args.seconds} s per run, median of {args.rounds}\n"
    )
    print(HEADER)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if not args.no_references:
            script = lua_script(workdir / "write-ref.lua", "write", ["k"] * ACCOUNTS, args.numbers)
            with nginx(workdir, args.workers) as (url, pid):
                figures += measure("nginx", "fixed body", "-", "", url, script, pid, args)
            with uvicorn_app("bench.references.raw_asgi:app", workdir, args.workers, {}) as (
                url,
                pid,
            ):
                figures += measure("raw ASGI", "fixed body", "-", "", url, script, pid, args)
        for database, url in databases(args, workdir):
            keys = populate(url, args.numbers)
            scripts = {
                s: lua_script(workdir / f"{s}.lua", s, keys, args.numbers) for s in scenarios
            }
            if not args.no_references and "write" in scenarios:
                env = {"NAIVE_DATABASE_URL": url}
                with uvicorn_app("bench.references.naive:app", workdir, args.workers, env) as (
                    base,
                    pid,
                ):
                    figures += measure(
                        "naive FastAPI+ORM",
                        "write",
                        database,
                        url,
                        base,
                        scripts["write"],
                        pid,
                        args,
                    )
            with renvoi(url, workdir / database, args.workers, cache=not args.no_cache) as (
                server,
                pid,
            ):
                for scenario in scenarios:
                    # Kamailio's route requests go to the internal listener.
                    base = server.internal_url if scenario == "route" else server.url
                    figures += measure(
                        "renvoi", scenario, database, url, base, scripts[scenario], pid, args
                    )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    name = f"http-{args.numbers}" + ("-no-cache" if args.no_cache else "")
    print(
        "\n| database | connections | renvoi / reference | ratio | target |\n|---|---|---|---|---|"
    )
    for database in dict.fromkeys(f.database for f in figures if f.database != "-"):
        for line in ratios(figures, database):
            print(line)
    (args.out / f"{name}.json").write_text(
        json.dumps(
            {"at": stamp, "numbers": args.numbers, "figures": [asdict(f) for f in figures]},
            indent=1,
        )
    )
    plot(figures, args.out / f"{name}.png")
    print(f"\nfigures: {args.out / name}.json, plot: {args.out / name}.png")


if __name__ == "__main__":
    main()
