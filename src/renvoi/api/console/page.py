"""What every console page shares: the request's context (``Page``: its services,
language, session and who it speaks for), how a page is rendered or redirected, and how
a refusal of the contract's becomes a page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from fastapi import Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from renvoi.api.console.session import Session, Sessions
from renvoi.api.console.words import say
from renvoi.api.deps import Services, admit, services_of, usable
from renvoi.domain.codes import Code, Language, message
from renvoi.domain.language import preferred_language
from renvoi.errors import ContractError
from renvoi.store.records import Principal

# What the pages allow: nothing from another origin, no inline script or style, forms
# posted here only, never framed.
CSP = (
    "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
MAX_UPLOAD = 8 * 1024 * 1024

_templates = Environment(
    loader=PackageLoader("renvoi.api.console", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def static_files() -> StaticFiles:
    """The stylesheet and htmx, shipped in the package."""
    return StaticFiles(directory=str(resources.files("renvoi.api.console") / "static"))


class Page:
    """One request's context: its services, language, session and, once signed in, who
    it speaks for."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.services: Services = services_of(request)
        self.language: Language = preferred_language(request.headers.get("accept-language"))
        self.sessions: Sessions = request.app.state.console_sessions
        self.session: Session = self.sessions.read(request) or Session()
        self.principal: Principal | None = None

    def say(self, text: str, *args: object) -> str:
        return say(text, self.language, *args)

    def note(self, role: str, text: str) -> None:
        """A message for the next page: ``status`` for a success, ``alert`` for a refusal."""
        self.session.notes.append((role, text))

    def refusal(self, exc: ContractError) -> str:
        return message(exc.code, language=self.language, detail=exc.detail, reason=exc.reason)

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        notes, self.session.notes = self.session.notes, []
        html = _templates.get_template(template).render(
            t=self.say,
            lang=self.language,
            csrf=self.session.csrf,
            notes=notes,
            signed_in=self.principal is not None,
            **values,
        )
        response = HTMLResponse(html, status_code=status)
        return self.finish(response)

    def redirect(self, path: str) -> Response:
        return self.finish(RedirectResponse(path, status_code=303))

    def finish(self, response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Vary"] = "Accept-Language, Cookie"
        self.sessions.write(response, self.session)
        return response

    async def signed_in(self) -> bool:
        """Whether the session's key still speaks for an account (a revoked or expired
        key ends the session); counts the request against the key's rate, as the API
        does (19)."""
        if self.session.key_hash is None:
            return False
        principal = await self.services.principals.lookup(self.session.key_hash)
        if not usable(principal):
            self.session.key_hash = None
            self.note("alert", self.say("Your session has ended; sign in again."))
            return False
        self.principal = admit(self.services, self.request, principal)
        return True

    async def form(self) -> dict[str, Any] | None:
        """The posted form, or None when its CSRF token is not this session's.

        Raises:
            ContractError: code 4, a body without a length or larger than a greeting's
                upload (refused before any of it is read).
        """
        length = self.request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_UPLOAD + 64 * 1024:
            raise ContractError(Code.BAD_REQUEST, detail="audio_too_large")
        form = await self.request.form(max_part_size=MAX_UPLOAD)
        if not self.session.valid_csrf(form.get("csrf")):
            return None
        return dict(form)

    def forbidden(self) -> Response:
        return self.render(
            "refused.html",
            403,
            title=self.say("Refused"),
        )

    def missing(self) -> Response:
        return self.render("missing.html", 404, title=self.say("Not found"))


async def guarded(page: Page, handle: Callable[[], Awaitable[Response]]) -> Response:
    """Run a page's handler: a refusal of the contract's (13: not the account's, or
    nowhere) is the 404 page; another (19: too many requests) the same page with its
    message and status."""
    try:
        return await handle()
    except ContractError as exc:
        if exc.code is Code.NUMBER_NOT_FOUND:
            return page.missing()
        page.note("alert", page.refusal(exc))
        status = 429 if exc.code is Code.TOO_MANY_REQUESTS else 400
        return page.render("message.html", status, title=page.say("Refused"))
