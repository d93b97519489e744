"""Routes that FastAPI documents but does not drive: for the customer API's hot paths.

FastAPI solves each route's dependencies and validates its parameters on every request;
that machinery costs more than the work of a cached read.
A ``DirectRoute`` keeps everything FastAPI offers at build time (the OpenAPI page from
the route's summary, responses and ``openapi_extra``, the tags, the router's prefix) and
drops what it does per request: its endpoint takes the ``Request`` and parses it itself,
as a Starlette endpoint does. Errors it raises go through the app's exception handlers
like any other route's.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, cast

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class DirectRoute(APIRoute):
    """An ``APIRoute`` whose endpoint is called with the request alone.

    Its parameters are not in its signature, so FastAPI cannot document them: give them
    in ``openapi_extra`` (``parameters``, ``requestBody``).
    """

    def get_route_handler(self) -> Endpoint:
        return cast("Endpoint", self.endpoint)


def query_parameter(name: str, description: str, **schema: Any) -> dict[str, Any]:
    """An OpenAPI query parameter, for a ``DirectRoute``'s ``openapi_extra``."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }
