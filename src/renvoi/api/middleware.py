"""ASGI middleware around every request: request id, access log, security headers.

Plain ASGI rather than ``BaseHTTPMiddleware``, which costs a task per request. The
access log names method, path, status, duration and request id; never the query string
or the body, where API keys travel.
"""

from __future__ import annotations

import os
import re
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("renvoi.access")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
# The interactive documentation loads its scripts and styles: no restrictive CSP there.
_DOC_PATHS = ("/docs", "/redoc", "/openapi.json")
_RAW_HEADERS = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
_RAW_DOC_HEADERS = [h for h in _RAW_HEADERS if h[0] != b"content-security-policy"]


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        # A new id: 128 random bits in hex, as a uuid4's (without its version bits).
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()
        path: str = scope["path"]
        security = _RAW_DOC_HEADERS if path.startswith(_DOC_PATHS) else _RAW_HEADERS
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Ours replaces a request id the app set; the others only fill a gap.
                headers = [h for h in message.get("headers", ()) if h[0].lower() != b"x-request-id"]
                present = {name.lower() for name, _ in headers}
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(h for h in security if h[0] not in present)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            client = scope.get("client")
            # Kamailio's requests, one or more per call, are logged by their endpoints
            # (the route and its decision); their access lines only at DEBUG.
            (log.debug if path.startswith("/internal/") else log.info)(
                "request",
                method=scope["method"],
                path=path,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                client=client[0] if client else None,
                request_id=request_id,
            )
