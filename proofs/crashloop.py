"""Durability under kill -9: no acknowledged change lost, nothing half-applied.

One command: ``.venv/bin/python proofs/crashloop.py [--kills 20] [--database URL]``.
Eight clients drive changes at full speed through a real ``renvoi serve``, each on its
own numbers, each change a new forward destination, and log every acknowledgement. At a
random moment the server is killed with SIGKILL; the clients' requests in flight are
"unknown" (the change may or may not have committed). Before the next round, straight
from the database, for every number:

- its state is its last acknowledged change, or one of the unknown ones sent after it
  (an acknowledged change is never lost; a change is never half there);
- its newest history row says the same as its state (the two are one transaction).

Prints the counts and exits 1 on any violation. CI runs it on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from renvoi.store import numbers
from renvoi.store.database import Database
from renvoi.store.migrate import upgrade
from tests.harness import make_tenant, start_server

CLIENTS = 8
NUMBERS_PER_CLIENT = 3


@dataclass
class Ledger:
    """What one client knows of its numbers."""

    acknowledged: dict[str, str | None] = field(default_factory=dict)  # last acked param
    unknown: dict[str, list[str]] = field(default_factory=dict)  # sent after it, no answer
    acks: int = 0


def drive(url: str, key: str, mine: list[str], ledger: Ledger, stop: threading.Event) -> None:
    """Send changes until the server dies (or ``stop``)."""
    sequence = 0
    with httpx2.Client(base_url=url, timeout=10) as client:
        while not stop.is_set():
            number = random.choice(mine)
            sequence += 1
            param = f"+336{random.randrange(10**8):08d}"
            ledger.unknown.setdefault(number, []).append(param)
            try:
                response = client.post(
                    "/v1/vn/callforward",
                    json={"apiKey": key, "number": number, "type": 1, "param": param},
                )
            except httpx2.HTTPError:
                return  # killed: this one stays unknown
            body = response.json()
            if body.get("success"):
                ledger.acknowledged[number] = param
                ledger.unknown[number] = []
                ledger.acks += 1
            else:
                ledger.unknown[number].remove(param)  # refused: certainly not applied


def check(db: Database, ledgers: list[tuple[list[str], Ledger]]) -> list[str]:
    problems = []
    for mine, ledger in ledgers:
        for number in mine:
            state = numbers.get_number(db, number, region="FR")
            allowed = {ledger.acknowledged.get(number), *ledger.unknown.get(number, [])}
            if state.param not in allowed:
                problems.append(
                    f"{number}: state {state.param}, allowed {sorted(map(str, allowed))}"
                )
            history = numbers.history(db, number, region="FR", limit=1)
            newest = history[0].param if history else None
            if newest != state.param:
                problems.append(f"{number}: history says {newest}, state {state.param}")
            # What is there now is known: later rounds start from it.
            ledger.acknowledged[number] = state.param
            ledger.unknown[number] = []
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--database", help="a PostgreSQL URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = args.database or f"sqlite:///{workdir / 'crash.db'}"
        db = Database(url)
        stack.callback(db.dispose)
        upgrade(db)
        phone_numbers = [f"+3375700{n:04d}" for n in range(CLIENTS * NUMBERS_PER_CLIENT)]
        tenant = make_tenant(db, f"crash{random.randrange(10**6)}", phone_numbers)
        ledgers = [(phone_numbers[i::CLIENTS], Ledger()) for i in range(CLIENTS)]
        problems: list[str] = []
        for round_ in range(1, args.kills + 1):
            server = start_server(url, workdir, extra_env={"RENVOI_LOG_LEVEL": "ERROR"})
            stop = threading.Event()
            threads = [
                threading.Thread(target=drive, args=(server.url, tenant.key, mine, ledger, stop))
                for mine, ledger in ledgers
            ]
            for thread in threads:
                thread.start()
            # A random moment once changes flow (the first requests warm the server up).
            before, deadline = sum(ledger.acks for _, ledger in ledgers), time.monotonic() + 30
            while sum(ledger.acks for _, ledger in ledgers) == before:
                if time.monotonic() > deadline:
                    raise SystemExit("no change acknowledged in 30 s: is the server up?")
                time.sleep(0.01)
            stop.wait(random.uniform(0.1, 2.0))
            server.stop(signal.SIGKILL)
            stop.set()
            for thread in threads:
                thread.join()
            found = check(db, ledgers)
            problems += found
            acks = sum(ledger.acks for _, ledger in ledgers)
            print(f"kill {round_:2}: {acks} changes acknowledged so far, violations {len(found)}")
        acks = sum(ledger.acks for _, ledger in ledgers)
        backend = "PostgreSQL" if args.database else "SQLite"
        print(
            f"{backend}: {args.kills} kills, {acks} acknowledged changes, "
            f"{acks if not problems else 'NOT all'} found after the restarts, "
            f"{len(problems)} violations"
        )
        for problem in problems:
            print("  " + problem)
        if problems:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
