"""Every command of ``renvoi``, run as an operator would: its help, and bad input.

The help's time is printed, not asserted (machines are shared and noisy): run with
``-s`` to read it. Bad input must give one line on stderr, no traceback, a non-zero
status, whatever the command.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer

from renvoi.cli import app

pytestmark = pytest.mark.slow


def command_paths() -> list[list[str]]:
    """Every leaf command, as the words that run it."""
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(group: object, prefix: list[str]) -> None:
        for name, command in getattr(group, "commands", {}).items():
            if getattr(command, "commands", None):
                walk(command, [*prefix, name])
            else:
                paths.append([*prefix, name])

    walk(root, [])
    return sorted(paths)


def run(args: list[str], data_dir: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RENVOI_")},
        "RENVOI_DATA_DIR": str(data_dir),
    }
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "renvoi", *args], env=env, capture_output=True, text=True
    )
    return done, time.perf_counter() - started


def test_every_command_has_a_help(tmp_path: Path) -> None:
    timings = []
    for path in [[], *command_paths()]:
        done, seconds = run([*path, "--help"], tmp_path)
        assert done.returncode == 0 and done.stdout.startswith("Usage: renvoi"), path
        timings.append((" ".join(["renvoi", *path, "--help"]), seconds))
    assert not any(tmp_path.iterdir())  # a help creates no database, no directory
    for name, seconds in timings:
        sys.stdout.write(f"{seconds * 1000:7.0f} ms  {name}\n")


# What each command is given: arguments a store or the settings must refuse, or none
# of its required ones.
BAD_INPUT: dict[str, list[str]] = {
    "account audio": ["acc_nope", "--format", "ogg"],
    "account countries": ["acc_nope", "XX"],
    "account create": ["   "],
    "account list": ["--json", "extra"],
    "account webhook": ["acc_nope", "--url", "ftp://hooks.example"],
    "db upgrade": ["--nope"],
    "kamailio config": ["--out"],
    "kamailio sync": ["--nope"],
    "key create": ["acc_nope"],
    "key list": ["acc_nope"],
    "key revoke": ["key_nope"],
    "key rotate": ["key_nope", "--grace", "-1"],
    "number add": ["NUMBET", "--account", "acc_nope"],
    "number calls": ["+33757000001", "--limit", "-5"],
    "number history": ["+33757999999"],
    "number list": ["--account"],
    "number remove": ["+33757999999"],
    "number resume": ["+33757999999"],
    "number route": ["+33757000001", "--sip", "x", "--clear"],
    "number show": ["NUMBET"],
    "number suspend": ["+33757999999"],
    "serve": ["--port", "99999"],
    "voicemail serve": ["--nope"],
}


def test_every_command_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    assert sorted(BAD_INPUT) == sorted(" ".join(path) for path in command_paths())
    assert run(["db", "upgrade"], tmp_path)[0].returncode == 0
    for command, args in BAD_INPUT.items():
        done, _ = run([*command.split(), *args], tmp_path)
        assert done.returncode != 0, command
        assert "Traceback" not in done.stderr, command
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and ": " in lines[0], (command, done.stderr)
