"""One renvoi node: the API's two listeners and their worker processes, beside the
voicemail endpoint and the outbox worker, started together and stopped together: the one
place where renvoi's processes are supervised.

``renvoi serve`` runs this (``serve``); ``renvoi voicemail serve`` runs only the
voicemail side (``run_voicemail``). Every listener is bound, and the voicemail side
started, before anything serves: a component that cannot start (a port taken) stops the
node at once with one line and a non-zero status, and so does one that fails later, so
that a supervisor (systemd's ``Restart=on-failure``) sees it.

The API and the internal endpoints are served by the same processes on two sockets.
``Listeners`` sends each connection to the application of the socket it came in on;
only the API's reads ``X-Forwarded-For``, so no proxy setting can make a request look
internal.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

import structlog
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from renvoi import logs
from renvoi.api.app import create_app
from renvoi.config import Settings
from renvoi.errors import ServiceError
from renvoi.notify.worker import OutboxWorker
from renvoi.store.database import open_database
from renvoi.voice.endpoint import VoicemailEndpoint

log = structlog.get_logger("renvoi.node")

# How long the voicemail side may take to start (it commits messages a crash left).
START_SECONDS = 60


class Listeners:
    """ASGI: a connection to the internal listener goes to the internal endpoints, with
    its peer's own address; any other to the API, after the trusted proxies' headers.

    Args:
        api: the API application (it also runs the lifespan, which both share).
        internal: the internal endpoints' application.
        internal_port: the internal listener's port (``Settings`` keeps it apart from the
            API's).
        trusted: the proxies whose ``X-Forwarded-For`` the API believes.
    """

    def __init__(self, api: ASGIApp, internal: ASGIApp, *, internal_port: int, trusted: str):
        # uvicorn's and Starlette's ASGI types differ only in how precisely they are written.
        self.api = cast("ASGIApp", ProxyHeadersMiddleware(cast("Any", api), trusted_hosts=trusted))
        self.internal = internal
        self.internal_port = internal_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] == "http" and server is not None and server[1] == self.internal_port:
            await self.internal(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def asgi() -> ASGIApp:
    """What each uvicorn worker serves, built from ``RENVOI_*`` variables."""
    settings = Settings()
    logs.configure(level=settings.log_level, fmt=settings.log_format)
    app = create_app(settings)
    # What startup built lives as long as the process: moved out of the cyclic
    # collector's sight, so that its full collections no longer walk it (they made the
    # p99 of a loaded worker's requests tens of milliseconds).
    gc.collect()
    gc.freeze()
    return Listeners(
        app,
        app.state.internal,
        internal_port=settings.internal_address[1],
        trusted=settings.forwarded_allow_ips,
    )


def listen(host: str, port: int, *, setting: str) -> socket.socket:
    """A TCP socket bound to ``host:port``, for the workers to accept on.

    Raises:
        ServiceError: the address cannot be had (taken, not this machine's, a port that
            needs privileges), naming the setting that chose it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        why = getattr(exc, "strerror", None) or str(exc)
        raise ServiceError(f"cannot listen on {host}:{port} ({setting}): {why}") from None
    sock.set_inheritable(True)
    return sock


class VoicemailSide:
    """The voicemail endpoint and the outbox worker, on their own event loop in a thread
    beside the API's processes.

    ``start`` returns once they serve, or raises if they cannot; if they fail later,
    the node is stopped (SIGTERM to itself) and ``failure`` says why.
    """

    def __init__(self, settings: Settings, *, endpoint: bool, worker: bool) -> None:
        self._settings = settings
        self._endpoint = endpoint
        self._worker = worker
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="renvoi-voicemail")
        self.failure: str | None = None

    def start(self) -> None:
        """Start, and wait until serving.

        Raises:
            ServiceError: they could not start (the endpoint's port is taken, say).
        """
        self._thread.start()
        self._ready.wait(START_SECONDS)
        if self.failure is not None:
            self._thread.join()
            raise ServiceError(f"the voicemail side could not start: {self.failure}")
        if not self._ready.is_set():
            self.stop()
            raise ServiceError(f"the voicemail side did not start in {START_SECONDS} s")

    def _main(self) -> None:
        try:
            self._loop.run_until_complete(
                run_voicemail(
                    self._settings,
                    endpoint=self._endpoint,
                    worker=self._worker,
                    stop=self._stop,
                    ready=self._ready.set,
                )
            )
        except Exception as exc:
            self.failure = _reason(exc)
            if self._ready.is_set():  # it served, then failed: stop the whole node
                log.exception("voicemail_failed")
                os.kill(os.getpid(), signal.SIGTERM)
            self._ready.set()
        finally:
            self._loop.close()

    def stop(self) -> None:
        """Hang up the calls (keeping their messages) and stop."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)


async def run_voicemail(
    settings: Settings,
    *,
    endpoint: bool = True,
    worker: bool = True,
    stop: asyncio.Event,
    ready: Callable[[], None] = lambda: None,
) -> None:
    """The voicemail endpoint and the outbox worker, on the running event loop, until
    ``stop`` is set; then hang up the calls and keep their messages.

    Args:
        ready: called once the endpoint listens and the worker runs.

    Raises:
        OSError: the endpoint cannot listen (its port is taken).
    """
    db = open_database(settings, pool_size=2)
    sender = OutboxWorker(settings, db) if worker else None
    answering = (
        VoicemailEndpoint(settings, db, on_message=sender.nudge if sender else lambda: None)
        if endpoint
        else None
    )
    tasks = []
    try:
        if answering is not None:
            await answering.start()
        if sender is not None:
            tasks.append(asyncio.create_task(sender.run()))
        ready()
        await stop.wait()
    finally:
        if answering is not None:
            await answering.stop()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        db.dispose()


def _reason(exc: BaseException) -> str:
    """One line saying why ``exc`` happened, without a traceback."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@contextlib.contextmanager
def listening(settings: Settings) -> Iterator[list[socket.socket]]:
    """The API's and the internal listener's sockets, bound before anything else is
    done (a taken port stops ``serve`` before it migrates or starts anything), closed
    when the block ends.

    Raises:
        ServiceError: one of the addresses cannot be had.
    """
    internal_host, internal_port = settings.internal_address
    sockets = [listen(settings.host, settings.port, setting="RENVOI_HOST, RENVOI_PORT")]
    try:
        sockets.append(listen(internal_host, internal_port, setting="RENVOI_INTERNAL_LISTEN"))
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def serve(
    settings: Settings,
    sockets: list[socket.socket],
    *,
    voicemail: bool = True,
    worker: bool = True,
) -> None:
    """Serve on ``sockets`` (``listening``'s) until SIGTERM or Ctrl-C.

    Args:
        voicemail: also run the voicemail endpoint (else ``renvoi voicemail serve`` does).
        worker: also run the outbox worker that sends the emails and webhook calls.

    Raises:
        ServiceError: a component could not start, or failed while serving.
    """
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    side = None
    if voicemail or worker:
        side = VoicemailSide(settings, endpoint=voicemail, worker=worker)
        side.start()
    config = uvicorn.Config(
        "renvoi.node:asgi",
        factory=True,
        workers=settings.workers,
        proxy_headers=False,  # Listeners applies them, to the API's listener only
        access_log=False,
        log_config=None,
        timeout_keep_alive=settings.timeout_keep_alive,
        timeout_graceful_shutdown=30,
        server_header=False,
    )
    log.info(
        "serving",
        api=f"http://{settings.host}:{settings.port}",
        internal=settings.route_base_url,
        database=make_url(settings.database).render_as_string(hide_password=True),
        workers=settings.workers,
        voicemail=settings.voicemail_listen if voicemail else None,
    )
    failed = False
    try:
        if settings.workers > 1:
            supervisor = Multiprocess(config, sockets=sockets)
            supervisor.run()
            failed = any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
        else:
            uvicorn.Server(config).run(sockets=sockets)
    except SystemExit as exc:  # uvicorn's own way out when the app cannot start
        failed = exc.code not in (0, None)
    finally:
        if side is not None:
            side.stop()
    if failed:
        raise ServiceError("the API could not start (its log says why)")
    if side is not None and side.failure is not None:
        raise ServiceError(f"the voicemail side failed: {side.failure}")
