"""The ASGI application: ``create_app(settings)`` wires the routers, errors and middleware.

The app serves the customers' and the operator's API; the internal endpoints Kamailio
calls are a second application on the same services (``app.state.internal``), which
``renvoi.node`` serves on a listener of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl

import anyio.to_thread
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Scope

from renvoi import __version__
from renvoi.api import admin, callforward, errors, health, history, monitoring, routing
from renvoi.api import calls as calls_api
from renvoi.api import voicemail as voicemail_api
from renvoi.api.console import page, pages
from renvoi.api.console.session import Sessions
from renvoi.api.conversions import Conversions
from renvoi.api.deps import Services
from renvoi.api.hot import Endpoint, HotPaths
from renvoi.api.middleware import RequestContext
from renvoi.api.ratelimit import Limiter
from renvoi.api.usage import FLUSH_SECONDS, KeyUsage
from renvoi.config import Settings
from renvoi.domain.routing import SipTargets
from renvoi.errors import StoreError
from renvoi.proxies import Proxies
from renvoi.store import accounts, numbers, routetable
from renvoi.store.calllog import CallLog
from renvoi.store.database import Database, open_database
from renvoi.store.groupcommit import Writer
from renvoi.store.statecache import StateCache

DESCRIPTION = """
Call forwarding for virtual numbers, wire-compatible with the SMS Partner endpoint
`POST /v1/vn/callforward`: change only the base URL of an existing client.

Every answer is `{"success", "code", "message"}` (or its XML form with `_format=xml`);
`Accept-Language: fr` gives French messages. The `GET` endpoints are renvoi extensions.
The admin API (`/admin/v1/`) needs `Authorization: Bearer $RENVOI_ADMIN_TOKEN`.
"""

# FastAPI asks OpenTelemetry's global providers, on every request before any route, whether
# they are set up: a share of a cached route's CPU worth saving. Off unless
# RENVOI_OPENTELEMETRY asks for it.
_NO_TELEMETRY: Final[TelemetryConfig] = {"tracing": False, "metrics": False, "logs": False}


def _carries_a_key(scope: Scope) -> bool:
    """Whether the query string holds an API key: FastAPI's spans record the query
    (``url.query``), and a key must never leave the process, so such a request is not
    observed at all."""
    query = scope.get("query_string", b"").decode("latin-1")
    return any(name == "apiKey" for name, _ in parse_qsl(query, keep_blank_values=True))


def _telemetry(settings: Settings) -> TelemetryConfig:
    if not settings.opentelemetry:
        return _NO_TELEMETRY
    return {"exclude": _carries_a_key}


async def _flush_usage(services: Services) -> None:
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        with contextlib.suppress(StoreError):  # a later flush writes what this one missed
            await run_in_threadpool(services.usage.flush, services.db)


class RenvoiApp(FastAPI):
    """FastAPI, with renvoi's own layers outermost: ``RequestContext`` (request id,
    security headers, access log) around everything, then ``HotPaths`` for the endpoints
    most requests call, then FastAPI's stack (its error, telemetry and body-limit
    middleware, exception handlers, router) for everything else.

    The hot endpoints skip FastAPI's middleware layers and do what those do themselves
    (their errors go through the app's exception handlers, their bodies have their own
    limit).
    """

    def __init__(
        self,
        *,
        hot: Mapping[tuple[str, str], Endpoint],
        counting: bool,
        **fastapi: Any,
    ) -> None:
        super().__init__(**fastapi)
        self._hot = hot
        self._counting = counting

    @property
    def counted_paths(self) -> list[str]:
        """The route templates requests are counted under (``/metrics``)."""
        paths = {path for _, path in self._hot} | set(self.openapi()["paths"])
        return sorted(paths | {"/metrics"})

    def build_middleware_stack(self) -> ASGIApp:
        rest = super().build_middleware_stack()
        hot = frozenset(path for _, path in self._hot)
        return RequestContext(HotPaths(rest, exact=self._hot), counting=self._counting, hot=hot)


def create_app(settings: Settings, *, db: Database | None = None) -> FastAPI:
    """Build the application.

    Args:
        settings: the installation's settings.
        db: an open database (tests share one); by default one is opened from settings.
    """
    database = db or open_database(settings)
    writer = Writer(database)
    cache = StateCache(database, enabled=settings.route_cache, entries=settings.cache_entries)
    services = Services(
        settings=settings,
        db=database,
        limiter=Limiter(settings),
        usage=KeyUsage(),
        refused=settings.refused_types,
        cache=cache,
        routes=cache.shelf(
            routetable.route_state,
            per_number=True,
            keep_missing=True,
            exact_only=False,
        ),
        records=cache.shelf(
            numbers.record_of,
            per_number=True,
            keep_missing=True,
            exact_only=True,
        ),
        principals=cache.shelf(
            accounts.principal_of,
            per_number=False,
            keep_missing=False,
            exact_only=True,
        ),
        writer=writer,
        sip_targets=SipTargets(
            trunk=settings.sip_trunk,
            voicemail=settings.voicemail_listen,
            proxy=settings.sip_proxy,
        ),
        call_log=CallLog(database, writer=writer),
        conversions=Conversions(),
        proxies=Proxies(settings, database),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The thread pool runs the database work: more threads than pooled connections
        # only queue for a connection while contending for the GIL.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.database_pool_size
        await services.db.open_async()  # PostgreSQL: the look-ups' pool, in this loop
        flusher = asyncio.create_task(_flush_usage(services))
        services.call_log.start()
        await services.cache.start()
        try:
            yield
        finally:
            flusher.cancel()
            await services.call_log.close()
            await services.cache.close()
            await services.proxies.close()
            with contextlib.suppress(StoreError):
                await run_in_threadpool(services.usage.flush, services.db)
            await services.db.close_async()
            if db is None:
                services.db.dispose()

    app = RenvoiApp(
        hot={
            ("POST", "/v1/vn/callforward"): callforward.set_callforward,
            ("GET", "/v1/vn/callforward"): callforward.get_callforward,
        },
        counting=settings.metrics,
        title="renvoi",
        version=__version__,
        telemetry=_telemetry(settings),
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.internal = routing.internal_app(services)
    errors.install(app)
    app.include_router(callforward.hot)
    app.include_router(history.router)
    app.include_router(calls_api.router)
    app.include_router(voicemail_api.router)
    app.include_router(admin.router)
    app.include_router(health.router)
    app.include_router(monitoring.router)
    if settings.console:
        app.state.console_sessions = Sessions(settings)
        app.include_router(pages.router)
        app.mount("/console/static", page.static_files(), name="console-static")
    return app
