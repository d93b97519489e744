"""What the bench measures: nginx and a raw ASGI app (the machine's limits), the naive
FastAPI + ORM endpoint (what a user would write), and renvoi itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from tests.harness import Server, free_port, start_server

ROOT = Path(__file__).resolve().parents[1]
SUCCESS_BODY = '{"success": true, "code": 1, "message": "Callforward enabled"}'


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
    database_url: str,
    workdir: Path,
    workers: int,
    *,
    cache: bool = True,
    metrics: bool = True,
    console: bool = True,
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
            "RENVOI_METRICS": "true" if metrics else "false",
            "RENVOI_CONSOLE": "true" if console else "false",
        },
    )
    try:
        yield server, server.process.pid
    finally:
        server.stop()
