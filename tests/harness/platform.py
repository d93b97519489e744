"""A whole call path, for the voice tests and the call benches: renvoi, Kamailio from
``renvoi kamailio config``, and SIPp peers started per test."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

from renvoi.store import routetable
from renvoi.store.database import Database
from tests.harness import Server, free_port, free_udp_port, start_server
from tests.harness.sipp import Sipp, run_sipp


def wait_for_sip(port: int, timeout: float = 10) -> None:
    """Wait until a SIP server answers OPTIONS on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        local = sock.getsockname()[1]
        while time.monotonic() < deadline:
            options = (
                f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{time.monotonic_ns()}\r\n"
                f"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1:{port}>\r\n"
                f"Call-ID: probe-{time.monotonic_ns()}\r\nCSeq: 1 OPTIONS\r\n"
                "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            )
            sock.sendto(options.encode(), ("127.0.0.1", port))
            try:
                if sock.recv(4096).startswith(b"SIP/2.0 200"):
                    return
            except TimeoutError:
                continue
    raise RuntimeError(f"no SIP server answered on {port}")


@dataclass
class Platform:
    """One renvoi installation: API server, Kamailio, and the addresses they use."""

    server: Server
    kamailio: subprocess.Popen[bytes]
    sip_port: int
    trunk_port: int
    voicemail_port: int
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)  # the installation's settings
    sipps: list[Sipp] = field(default_factory=list)
    _database: Database | None = None

    @property
    def api(self) -> str:
        return self.server.url

    def sipp(
        self,
        name: str,
        scenario: str,
        *,
        port: int,
        remote: bool = False,
        calls: int = 1,
        extra: list[str] | None = None,
    ) -> Sipp:
        if remote:
            self.synced()  # what the test wrote straight in the store, Kamailio has
        peer = run_sipp(
            self.workdir,
            name,
            scenario,
            port=port,
            remote=f"127.0.0.1:{self.sip_port}" if remote else None,
            calls=calls,
            extra=extra,
        )
        self.sipps.append(peer)
        return peer

    def generation(self) -> int:
        """The generation Kamailio has applied whole (-1: still loading)."""
        return kamailio_generation(self.env["RENVOI_KAMAILIO_METRICS_LISTEN"])

    def synced(self, timeout: float = 10) -> None:
        """Wait until Kamailio holds every change written to the database so far: the
        changes a test makes straight in the store are not pushed, as the API's are,
        and reach Kamailio at its next catch-up."""
        if self._database is None:
            self._database = Database(self.server.env["RENVOI_DATABASE_URL"])
        try:
            wait_for_plans(
                self.env["RENVOI_KAMAILIO_METRICS_LISTEN"],
                routetable.generation(self._database),
                timeout,
            )
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {self.kamailio_log()}") from None

    def kamailio_log(self) -> str:
        return (self.workdir / "kamailio.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for peer in self.sipps:
            if peer.process.poll() is None:
                peer.process.kill()
                peer.process.wait()
        stop_kamailio(self.kamailio)
        self.server.stop()
        if self._database is not None:
            self._database.dispose()

    def restart_kamailio(self) -> None:
        """Kamailio stopped and started again with the same settings."""
        stop_kamailio(self.kamailio)
        self.kamailio = start_kamailio({**self.server.env, **self.env}, self.workdir, self.sip_port)


def start_platform(
    database_url: str,
    workdir: Path,
    *,
    trunk_port: int | None = None,
    sip_port: int | None = None,
    extra_env: dict[str, str] | None = None,
    kamailio_shm_mb: int = 256,
    kamailio_edit: Callable[[str], str] | None = None,
) -> Platform:
    """Start renvoi and Kamailio for one installation; SIPp peers come per test."""
    workdir.mkdir(parents=True, exist_ok=True)
    sip_port, api_port = sip_port or free_udp_port(), free_port()
    trunk_port = trunk_port or free_udp_port()
    voicemail_port = free_udp_port()
    env = {
        "RENVOI_SIP_LISTEN": f"udp:127.0.0.1:{sip_port}",
        "RENVOI_SIP_TRUNK": f"127.0.0.1:{trunk_port}",
        "RENVOI_VOICEMAIL_LISTEN": f"127.0.0.1:{voicemail_port}",
        "RENVOI_INTERNAL_LISTEN": f"127.0.0.1:{free_port()}",
        "RENVOI_KAMAILIO_RUNDIR": str(workdir / "kamailio"),
        "RENVOI_KAMAILIO_CHILDREN": "2",
        "RENVOI_KAMAILIO_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
        **(extra_env or {}),
    }
    server = start_server(database_url, workdir, port=api_port, extra_env=env)
    try:
        kamailio = start_kamailio(
            {**server.env, **env}, workdir, sip_port, shm_mb=kamailio_shm_mb, edit=kamailio_edit
        )
    except BaseException:
        server.stop()  # not left serving when Kamailio cannot start
        raise
    return Platform(server, kamailio, sip_port, trunk_port, voicemail_port, workdir, env)


def start_kamailio(
    env: dict[str, str],
    workdir: Path,
    sip_port: int,
    *,
    name: str = "kamailio",
    shm_mb: int = 256,
    edit: Callable[[str], str] | None = None,
    loaded: bool = True,
) -> subprocess.Popen[bytes]:
    """Kamailio from ``renvoi kamailio config`` for the settings ``env`` (changed by
    ``edit``: the benchmark's reference), with ``shm_mb`` of shared memory, once it
    answers on ``sip_port`` and, with ``loaded``, holds every plan (its log:
    ``workdir/<name>.log``)."""
    config = workdir / f"{name}.cfg"
    subprocess.run(
        [sys.executable, "-m", "renvoi", "kamailio", "config", "--out", str(config), "--json"],
        env=env,
        check=True,
        capture_output=True,
    )
    if edit is not None:
        config.write_text(edit(config.read_text()))
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as log:
        kamailio = subprocess.Popen(
            ["kamailio", "-DD", "-E", "-m", str(shm_mb), "-f", str(config)],
            start_new_session=True,  # its own process group: stopped with its children
            stdout=log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("RENVOI_")},
        )
    try:
        wait_for_sip(sip_port)
        if loaded:
            wait_for_plans(env["RENVOI_KAMAILIO_METRICS_LISTEN"])
    except RuntimeError:
        stop_kamailio(kamailio)
        raise RuntimeError(log_path.read_text()[-3000:]) from None
    return kamailio


def kamailio_generation(metrics_listen: str) -> int:
    """The generation a Kamailio has applied whole (its ``kamailio_routes_generation``),
    or -1 until it has loaded its plans (``kamailio_routes_loaded``)."""
    text = httpx2.get(f"http://{metrics_listen}/metrics", timeout=5).text
    figures = dict(re.findall(r"^kamailio_routes_(generation|loaded)\S* ([\d.]+)", text, re.M))
    if float(figures.get("loaded", 0)) != 1:
        return -1
    return int(float(figures["generation"]))


def wait_for_plans(metrics_listen: str, at_least: int = 0, timeout: float = 30) -> None:
    """Wait until a Kamailio has applied every change up to generation ``at_least``."""
    deadline = time.monotonic() + timeout
    while kamailio_generation(metrics_listen) < at_least:
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kamailio did not reach generation {at_least}")
        time.sleep(0.02)


def stop_kamailio(kamailio: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop Kamailio and its children (its process group)."""
    if kamailio.poll() is None:
        os.killpg(kamailio.pid, sig)
        try:
            kamailio.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(kamailio.pid, signal.SIGKILL)
            kamailio.wait()
