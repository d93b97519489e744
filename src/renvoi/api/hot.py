"""The hot paths' way in: the endpoints most requests call, served outside FastAPI's stack.

On a cached read, the layers between the app's middleware and the endpoint (the
exception middleware, the exit stacks, FastAPI's router and its included routers, the
request/response wrappers) and FastAPI's own outer layers cost more than the endpoint's
work (``docs/performance.md``). ``HotPaths`` sits just inside ``RequestContext``
(request id, security headers, access log still apply), outside all of them
(``app.RenvoiApp``), and calls the endpoints of a short table directly: the same
functions that the app's routes register, and that FastAPI documents. Everything else,
and any method the table does not name, goes on to FastAPI as before. An error an
endpoint raises is answered by the app's own exception handlers, looked up as Starlette
does; the endpoints limit their bodies themselves (``bodies.read_body``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class HotPaths:
    """ASGI middleware serving ``exact`` paths by method, before the router.

    Args:
        app: the rest of the application.
        exact: ``{(method, path): endpoint}``.
    """

    def __init__(self, app: ASGIApp, *, exact: Mapping[tuple[str, str], Endpoint]) -> None:
        self.app = app
        self._exact = dict(exact)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self._match(scope)
            if endpoint is not None:
                request = Request(scope, receive, send)
                try:
                    response = await endpoint(request)
                except Exception as exc:
                    response = await _handled(request, exc)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _match(self, scope: Scope) -> Endpoint | None:
        method: str = scope["method"]
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return self._exact.get((method, path))


async def _handled(request: Request, exc: Exception) -> Response:
    """The app's answer to ``exc`` (``errors.install``), or ``exc`` raised again."""
    handlers: Mapping[Any, Any] = request.app.exception_handlers
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            response: Response = await handler(request, exc)
            return response
    raise exc
