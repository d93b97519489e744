"""ASGI middleware around every request: request id, access log, security headers, and
the request's count and time for ``/metrics``.

Plain ASGI rather than ``BaseHTTPMiddleware``, which costs a task per request. The
access log names method, path, status, duration and request id; never the query string
or the body, where API keys travel. The count's code is the one the answer carries, read
from its first bytes as a client reads it, so that no endpoint has to report it.
"""

from __future__ import annotations

import os
import re
import time

import structlog
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from renvoi import metrics

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


# The contract's code in an envelope's first bytes: JSON, or the XML form's second entry.
_JSON_CODE = re.compile(rb'"code":\s*(\d+)')
_XML_CODE = re.compile(rb"<entry>(?:true|false)</entry>\s*<entry>(\d+)</entry>")


def answer_code(content_type: bytes, first: bytes) -> str:
    """The code an answer carries (``metrics.NO_CODE`` if it is not an envelope)."""
    if content_type.startswith(b"application/json"):
        found = _JSON_CODE.search(first, 0, 200)
    elif b"xml" in content_type:
        found = _XML_CODE.search(first, 0, 300)
    else:
        return metrics.NO_CODE
    return found.group(1).decode() if found else metrics.NO_CODE


class RequestContext:
    """Args:
    counting: count each request for ``/metrics`` (``RENVOI_METRICS``).
    hot: the paths ``HotPaths`` serves without a route (their template is their path).
    """

    def __init__(
        self, app: ASGIApp, *, counting: bool = False, hot: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.counting = counting
        self.hot = hot

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
        content_type = b""
        code = metrics.NO_CODE

        async def send_with_headers(message: Message) -> None:
            nonlocal status, content_type, code
            if message["type"] == "http.response.body":
                if content_type and code == metrics.NO_CODE:
                    code = answer_code(content_type, message.get("body", b""))
                    content_type = b""  # the first body message only
            elif message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type":
                        content_type = value
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
            elapsed = time.perf_counter() - started
            if self.counting:
                metrics.count_request(_endpoint(scope, self.hot), code, elapsed)
            client = scope.get("client")
            # Kamailio's requests, one or more per call, are logged by their endpoints
            # (the route and its decision); their access lines only at DEBUG.
            (log.debug if path.startswith("/internal/") else log.info)(
                "request",
                method=scope["method"],
                path=path,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                client=client[0] if client else None,
                request_id=request_id,
            )


def _endpoint(scope: Scope, hot: frozenset[str]) -> str:
    """The request's route template (a hot path's is its path): a path no route serves
    is ``metrics.UNMATCHED``, so that the series stay the app's own."""
    route = scope.get("route")
    if isinstance(route, Route):
        return route.path
    path: str = scope["path"]
    return path if path in hot else metrics.UNMATCHED
