"""The Python HTTP limit: a raw ASGI app answering every request with a fixed body.

``uvicorn bench.references.raw_asgi:app --lifespan off``: no framework, no database; the
body is the one renvoi answers a successful change with.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"success": true, "code": 1, "message": "Callforward enabled"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):  # the request body, read and dropped
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
