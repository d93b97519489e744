"""Calling a webhook: a small Protocol, its HTTP implementation (httpx), and the
signature the receiver checks.

A call is a JSON POST with ``X-Renvoi-Timestamp`` and ``X-Renvoi-Signature:
sha256=HMAC(secret, timestamp + "." + body)``; ``X-Renvoi-Delivery`` is stable across
retries. A 2xx is delivered; a 4xx but 408 and 429, or a URL no HTTP client can call,
is refused for good; anything else is tried again.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Protocol

import httpx2

from renvoi.errors import PermanentDeliveryError, TemporaryDeliveryError


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Renvoi-Signature`` value of a call."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, "sha256").hexdigest()
    return f"sha256={digest}"


class Poster(Protocol):
    """Posts one webhook call."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """Deliver ``body`` to ``url``.

        Raises:
            PermanentDeliveryError: no retry can deliver it.
            TemporaryDeliveryError: try again later.
        """


class HttpPoster:
    """Posts with httpx, within ``timeout`` seconds."""

    def __init__(self, *, timeout: float) -> None:
        self._timeout = timeout

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        try:
            async with httpx2.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(url, content=body, headers=dict(headers))
        except (httpx2.UnsupportedProtocol, httpx2.InvalidURL) as exc:
            raise PermanentDeliveryError(f"the webhook URL cannot be called: {exc}") from exc
        except (httpx2.HTTPError, OSError) as exc:
            raise TemporaryDeliveryError(str(exc) or type(exc).__name__) from exc
        status = response.status_code
        if 400 <= status < 500 and status not in (408, 429):
            raise PermanentDeliveryError(f"webhook answered {status}")
        if not 200 <= status < 300:
            raise TemporaryDeliveryError(f"webhook answered {status}")
