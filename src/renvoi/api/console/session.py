"""The console's session: a signed cookie (itsdangerous), ``HttpOnly``, ``SameSite=Lax``,
``Secure`` when asked, expiring after ``RENVOI_CONSOLE_SESSION_HOURS``.

It holds the hash of the API key that signed in, never the key (a stolen cookie opens
the console until it expires, not the API), the form's CSRF token, and the messages to
show on the next page (post-redirect-get). The key is looked up on every request, so a
revoked key ends its sessions at once.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from renvoi.config import Settings

COOKIE = "renvoi_console"
PATH = "/console"


@dataclass
class Session:
    """One browser's session; ``key_hash`` None until it signs in."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    key_hash: str | None = None
    signed_in_at: float = 0.0  # the session's start: it ends RENVOI_CONSOLE_SESSION_HOURS later
    notes: list[tuple[str, str]] = field(default_factory=list)  # (role, text) to show once

    def valid_csrf(self, presented: object) -> bool:
        """Whether a form's token is this session's (compared in constant time)."""
        return isinstance(presented, str) and hmac.compare_digest(
            presented.encode(), self.csrf.encode()
        )


class Sessions:
    """Reads and writes the session cookie."""

    def __init__(self, settings: Settings) -> None:
        secret = settings.console_secret
        key = secret.get_secret_value().encode() if secret else _kept_secret(settings.data_dir)
        self._signer = URLSafeTimedSerializer(key, salt="renvoi-console-session")
        self._max_age = settings.console_session_hours * 3600
        self._secure = settings.console_secure_cookies

    def read(self, request: Request) -> Session | None:
        """The request's session; None without one, or with one forged or expired."""
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=self._max_age)
        except BadSignature:  # SignatureExpired included
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        key_hash = data.get("k") if isinstance(data.get("k"), str) else None
        stamp = data.get("t")
        started = float(stamp) if isinstance(stamp, int | float) else 0.0
        if key_hash is not None and time.time() - started > self._max_age:
            key_hash = None  # signed in too long ago: signed out, the token kept
        notes = [
            (str(role), str(text))
            for role, text in data.get("n", [])
            if role in ("status", "alert")
        ]
        return Session(csrf=data["c"], key_hash=key_hash, signed_in_at=started, notes=notes)

    def write(self, response: Response, session: Session) -> None:
        """Set the cookie. The session still ends ``RENVOI_CONSOLE_SESSION_HOURS`` after
        its sign-in, however often the cookie is written again."""
        value = self._signer.dumps(
            {
                "c": session.csrf,
                "k": session.key_hash,
                "t": session.signed_in_at,
                "n": session.notes,
            }
        )
        response.set_cookie(
            COOKIE,
            value,
            max_age=self._max_age,
            path=PATH,
            secure=self._secure,
            httponly=True,
            samesite="lax",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            COOKIE, path=PATH, secure=self._secure, httponly=True, samesite="lax"
        )


def _kept_secret(data_dir: Path) -> bytes:
    """The signing key kept in the data directory (made once, readable by its owner
    only), so that sessions outlive a restart and every process of a node agrees."""
    path = data_dir / "console.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".console.key.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)  # the first process's key wins
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_bytes().strip()
