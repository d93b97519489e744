"""``Client`` (blocking) and ``AsyncClient`` (awaited): the same methods, over httpx.

A refusal raises its ``RenvoiError`` subclass; 19 (after its ``Retry-After``) and HTTP
503 are tried again up to ``max_retries`` times with a growing pause, nothing else is.
A failure to reach the server at all is httpx's own ``httpx.TransportError``.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Any, TypeVar

import httpx

from renvoi_client import _wire
from renvoi_client._wire import Answer, Operation
from renvoi_client.errors import RenvoiError
from renvoi_client.models import (
    AsyncMessage,
    Call,
    Change,
    Message,
    Result,
    State,
    VoicemailSettings,
)

T = TypeVar("T")


class _Common:
    """What both clients keep: the key, and when to try an operation again."""

    def __init__(self, api_key: str, *, max_retries: int, backoff: float) -> None:
        if max_retries < 0 or backoff < 0:
            raise ValueError("max_retries and backoff cannot be negative")
        self._key = api_key
        self._max_retries = max_retries
        self._backoff = backoff

    def _pause(self, error: RenvoiError, attempt: int) -> float:
        """Seconds to wait before another try; re-raises ``error`` when there is none."""
        delay = _wire.retry_in(error, attempt, self._backoff)
        if delay is None or attempt >= self._max_retries:
            raise error
        return delay


def _answer(response: httpx.Response) -> Answer:
    return Answer(response.status_code, response.content, response.headers)


class Client(_Common):
    """renvoi's API (and, for ``forward``, ``voicemail`` and ``disable``, the SMS
    Partner API it is compatible with) for one API key.

    Args:
        api_key: the account's key (``rv_…``).
        base_url: where renvoi answers, e.g. ``http://127.0.0.1:8000``.
        max_retries: tries after the first on 19 and 503.
        backoff: the first pause, in seconds, when the server gives none; it doubles.
        transport: an httpx transport (tests, proxies, TLS settings).
    """

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(api_key, max_retries=max_retries, backoff=backoff)
        self._http = httpx.Client(
            base_url=base_url, headers=_wire.headers(api_key), timeout=timeout, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, operation: Operation[T]) -> T:
        attempt = 0
        while True:
            response = self._http.request(
                operation.method, operation.path, params=operation.params, json=operation.json
            )
            try:
                return operation.read(_answer(response))
            except RenvoiError as error:
                time.sleep(self._pause(error, attempt))
                attempt += 1

    def forward(
        self, number: str, *, to: str, exist_ok: bool = False, dry_run: bool = False
    ) -> Result:
        """Forward every call of ``number`` to ``to`` (code 1; 16 if it already does)."""
        return self._run(_wire.change(self._key, number, 1, to, exist_ok=exist_ok, dry_run=dry_run))

    def voicemail(
        self, number: str, *, email: str, exist_ok: bool = False, dry_run: bool = False
    ) -> Result:
        """Send ``number``'s calls to voicemail, told to ``email`` (code 3; 17)."""
        operation = _wire.change(self._key, number, 2, email, exist_ok=exist_ok, dry_run=dry_run)
        return self._run(operation)

    def disable(self, number: str, *, exist_ok: bool = False, dry_run: bool = False) -> Result:
        """Deliver ``number``'s calls normally (code 2; 18 if already so)."""
        return self._run(
            _wire.change(self._key, number, 0, None, exist_ok=exist_ok, dry_run=dry_run)
        )

    def set_fallback(
        self,
        number: str,
        condition: str,
        *,
        forward: str | None = None,
        voicemail: str | None = None,
        ring_seconds: int | None = None,
        exist_ok: bool = False,
        dry_run: bool = False,
    ) -> Result:
        """What ``number``'s calls do on ``condition`` (``busy``, ``noAnswer``,
        ``unavailable``): forward, or voicemail; neither removes the fallback."""
        return self._run(
            _wire.fallback(
                self._key,
                number,
                condition,
                forward=forward,
                voicemail=voicemail,
                ring_seconds=ring_seconds,
                exist_ok=exist_ok,
                dry_run=dry_run,
            )
        )

    def get(self, number: str) -> State:
        """The number's forwarding, fallbacks included."""
        return self._run(_wire.state(number))

    def history(self, number: str, *, limit: int = 100) -> list[Change]:
        """The number's changes, newest first."""
        return self._run(_wire.history(number, limit))

    def calls(self, number: str, *, limit: int = 100) -> list[Call]:
        """The calls routed to the number, newest first."""
        return self._run(_wire.calls(number, limit))

    def voicemail_settings(self, number: str) -> VoicemailSettings:
        """The number's voicemail settings, and what applies (renvoi extension)."""
        return self._run(_wire.voicemail_settings(number))

    def set_voicemail_settings(self, number: str, **changes: Any) -> VoicemailSettings:
        """Set ``max_seconds``, ``min_seconds``, ``silence_seconds``, ``language`` or
        ``audio_format``; None unsets one, an absent one is kept."""
        return self._run(_wire.set_voicemail_settings(number, changes))

    def messages(self, number: str, *, limit: int = 100) -> list[Message]:
        """The number's voicemail messages, newest first."""

        def fetch(message: Message) -> bytes:
            return self._run(_wire.audio(message.number, message.id))

        found: list[dict[str, Any]] = self._run(_wire.messages(number, limit))
        return [Message(**fields, _fetch=fetch) for fields in found]


class AsyncClient(_Common):
    """``Client``'s methods, awaited (``async with AsyncClient(...) as client``)."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(api_key, max_retries=max_retries, backoff=backoff)
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=_wire.headers(api_key), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _run(self, operation: Operation[T]) -> T:
        attempt = 0
        while True:
            response = await self._http.request(
                operation.method, operation.path, params=operation.params, json=operation.json
            )
            try:
                return operation.read(_answer(response))
            except RenvoiError as error:
                await asyncio.sleep(self._pause(error, attempt))
                attempt += 1

    async def forward(
        self, number: str, *, to: str, exist_ok: bool = False, dry_run: bool = False
    ) -> Result:
        """``Client.forward``."""
        return await self._run(
            _wire.change(self._key, number, 1, to, exist_ok=exist_ok, dry_run=dry_run)
        )

    async def voicemail(
        self, number: str, *, email: str, exist_ok: bool = False, dry_run: bool = False
    ) -> Result:
        """``Client.voicemail``."""
        operation = _wire.change(self._key, number, 2, email, exist_ok=exist_ok, dry_run=dry_run)
        return await self._run(operation)

    async def disable(
        self, number: str, *, exist_ok: bool = False, dry_run: bool = False
    ) -> Result:
        """``Client.disable``."""
        return await self._run(
            _wire.change(self._key, number, 0, None, exist_ok=exist_ok, dry_run=dry_run)
        )

    async def set_fallback(
        self,
        number: str,
        condition: str,
        *,
        forward: str | None = None,
        voicemail: str | None = None,
        ring_seconds: int | None = None,
        exist_ok: bool = False,
        dry_run: bool = False,
    ) -> Result:
        """``Client.set_fallback``."""
        return await self._run(
            _wire.fallback(
                self._key,
                number,
                condition,
                forward=forward,
                voicemail=voicemail,
                ring_seconds=ring_seconds,
                exist_ok=exist_ok,
                dry_run=dry_run,
            )
        )

    async def get(self, number: str) -> State:
        """``Client.get``."""
        return await self._run(_wire.state(number))

    async def history(self, number: str, *, limit: int = 100) -> list[Change]:
        """``Client.history``."""
        return await self._run(_wire.history(number, limit))

    async def calls(self, number: str, *, limit: int = 100) -> list[Call]:
        """``Client.calls``."""
        return await self._run(_wire.calls(number, limit))

    async def voicemail_settings(self, number: str) -> VoicemailSettings:
        """The number's voicemail settings, and what applies (renvoi extension)."""
        return await self._run(_wire.voicemail_settings(number))

    async def set_voicemail_settings(self, number: str, **changes: Any) -> VoicemailSettings:
        """Set ``max_seconds``, ``min_seconds``, ``silence_seconds``, ``language`` or
        ``audio_format``; None unsets one, an absent one is kept."""
        return await self._run(_wire.set_voicemail_settings(number, changes))

    async def messages(self, number: str, *, limit: int = 100) -> list[AsyncMessage]:
        """``Client.messages``; ``await message.download(path)``."""

        async def fetch(message: AsyncMessage) -> bytes:
            return await self._run(_wire.audio(message.number, message.id))

        found: list[dict[str, Any]] = await self._run(_wire.messages(number, limit))
        return [AsyncMessage(**fields, _fetch=fetch) for fields in found]
