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
plot beside them. Asserts nothing: people read it. ``--smoke`` runs every part for a
second on a few numbers (CI does, so that the bench cannot break unseen).

The parts: ``data.py`` (the numbers), ``lua/`` (wrk's scenarios), ``load.py`` (wrk and
the CPU it cost), ``targets.py`` (what is measured), ``report.py``, ``soak.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.data import ACCOUNTS, populate
from bench.load import lua_script, measure, pace
from bench.report import HEADER, Figure, plot, ratios
from bench.soak import soak
from bench.targets import ROOT, nginx, renvoi, uvicorn_app


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
        "--no-metrics",
        action="store_true",
        help="renvoi counting nothing for /metrics (RENVOI_METRICS=false): against a run "
        "without it, what counting costs",
    )
    parser.add_argument(
        "--no-console",
        action="store_true",
        help="renvoi without its web console (RENVOI_CONSOLE=false): against a run with "
        "it, what the console's routes cost the API",
    )
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/renvoi_bench"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument(
        "--soak", type=int, metavar="SECONDS", help="instead: memory under a long write load"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="every part, for a second on 200 numbers (CI)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.numbers, args.seconds, args.rounds, args.connections = 200, 1, 1, "8"
        args.out = Path(tempfile.mkdtemp(prefix="renvoi-bench-smoke-"))
    if args.soak:
        soak(args.soak, args.workers)
        return
    args.connections = [int(c) for c in args.connections.split(",")]
    scenarios = args.scenarios.split(",")
    args.out.mkdir(parents=True, exist_ok=True)

    if not args.smoke:
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
            with renvoi(
                url,
                workdir / database,
                args.workers,
                cache=not args.no_cache,
                metrics=not args.no_metrics,
                console=not args.no_console,
            ) as (
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
    name = (
        f"http-{args.numbers}"
        + ("-no-cache" if args.no_cache else "")
        + ("-no-metrics" if args.no_metrics else "")
        + ("-no-console" if args.no_console else "")
    )
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
