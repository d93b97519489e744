"""The console's pages: sign-in, the account's numbers, and one number's forwarding,
fallbacks, greeting and activity (``contract/console.md``).

Plain HTML forms, post-redirect-get: every page works without JavaScript. A change runs
the API's own functions (``callforward.change_forwarding``, ``change_fallback``, the
greeting's conversions, the store's reads scoped to the account), so its checks, codes,
messages, limits and history row are the API's; the page shows the message in a
``role="status"`` or ``role="alert"`` region after the redirect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, Response

from renvoi.api.callforward import change_fallback, change_forwarding
from renvoi.api.console.page import Page, guarded
from renvoi.api.console.session import Session
from renvoi.api.conversions import ConversionError, refusal
from renvoi.api.deps import admit, check_address
from renvoi.api.owned import changeable, owned_record, read_owned
from renvoi.api.voicemail import greeting_heard, recording_of
from renvoi.domain.codes import Code, message
from renvoi.domain.mailbox import FIELDS, parse_update
from renvoi.domain.modes import Condition
from renvoi.errors import ContractError
from renvoi.store import accounts, calls, mailboxes, numbers, voicemail
from renvoi.store.records import NumberRecord

router = APIRouter(prefix="/console", include_in_schema=False)

ACTIVITY_ROWS = 50
CONDITIONS = (
    (Condition.BUSY, "If busy"),
    (Condition.NO_ANSWER, "If no answer"),
    (Condition.UNAVAILABLE, "If unavailable"),
)


def number_path(number: str) -> str:
    return f"/console/numbers/{quote(number)}"


def state_of(page: Page, record: NumberRecord) -> str:
    """A number's state in words: off, forwarding to a number, or voicemail to an address."""
    if record.type == 1 and record.param:
        return page.say("Forwarding to {}", record.param)
    if record.type == 2 and record.param:
        return page.say("Voicemail to {}", record.param)
    return page.say("Off")


# --- signing in ----------------------------------------------------------------------------


@router.get("/")
async def home(request: Request) -> Response:
    """The account's numbers, or the sign-in form."""
    page = Page(request)

    async def handle() -> Response:
        if not await page.signed_in():
            return page.render("signin.html", title=page.say("Sign in"))
        assert page.principal is not None
        account_id = page.principal.account_id
        records = await run_in_threadpool(
            lambda: numbers.list_numbers(page.services.db, account_id=account_id)
        )
        rows = [
            {
                "number": record.number,
                "path": number_path(record.number),
                "state": state_of(page, record),
                "marks": [
                    page.say(mark)
                    for mark, marked in (
                        ("suspended", record.status == "suspended"),
                        ("SMS only", not record.voice),
                    )
                    if marked
                ],
            }
            for record in records
        ]
        return page.render("numbers.html", title=page.say("Your numbers"), rows=rows)

    return await guarded(page, handle)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the key as the API does (19 past too many wrong keys from the address;
    10, "API key is invalid"), then start a session."""
    page = Page(request)
    form = await page.form()
    if form is None:
        return page.forbidden()
    try:
        check_address(page.services, request)
        key = str(form.get("api_key", "")).strip()
        if not key:
            raise ContractError(Code.API_KEY)
        key_hash = accounts.hash_key(key)
        admit(page.services, request, await page.services.principals.lookup(key_hash))
    except ContractError as exc:
        page.note("alert", page.refusal(exc))
        status = 429 if exc.code is Code.TOO_MANY_REQUESTS else 401
        return page.render("signin.html", status, title=page.say("Sign in"))
    page.session = Session(key_hash=key_hash, signed_in_at=datetime.now(UTC).timestamp())
    return page.redirect("/console/")


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    page = Page(request)
    if await page.form() is None:
        return page.forbidden()
    page.session = Session()
    return page.redirect("/console/")


# --- a number ------------------------------------------------------------------------------


@router.get("/numbers/{number}")
async def number_page(request: Request, number: str) -> Response:
    """A number: its state, the forwarding and fallbacks forms, its greeting, and its
    activity (history, calls, voicemail messages), newest first."""
    page = Page(request)

    async def handle() -> Response:
        if not await page.signed_in():
            return page.redirect("/console/")
        assert page.principal is not None
        record = await owned_record(page.services, page.principal, number)
        return page.render("number.html", title=record.number, **await _number_view(page, record))

    return await guarded(page, handle)


async def _number_view(page: Page, record: NumberRecord) -> dict[str, Any]:
    services, e164 = page.services, record.number
    assert page.principal is not None
    account_id = page.principal.account_id
    region = services.settings.default_region
    changes = await read_owned(
        lambda: numbers.history(
            services.db, e164, region=region, account_id=account_id, limit=ACTIVITY_ROWS
        )
    )
    call_rows = await read_owned(
        lambda: calls.list_calls(services.db, e164, account_id=account_id, limit=ACTIVITY_ROWS)
    )
    messages = await read_owned(
        lambda: voicemail.list_messages(
            services.db, e164, account_id=account_id, limit=ACTIVITY_ROWS
        )
    )
    own, account_format = await read_owned(
        lambda: mailboxes.mailbox_of(services.db, e164, account_id=account_id)
    )
    limits = services.settings.limits_of(own, account_format)
    path = number_path(e164)
    fallbacks = []
    for condition, legend in CONDITIONS:
        current = record.conditions.get(condition.value) or {}
        fallbacks.append(
            {
                "name": condition.value,
                "legend": legend,
                "type": current.get("type", 0),
                "forward": current.get("param") if current.get("type") == 1 else "",
                "email": current.get("param") if current.get("type") == 2 else "",
                "ring": current.get("ringSeconds", 20)
                if condition is Condition.NO_ANSWER
                else None,
            }
        )
    return {
        "number": e164,
        "path": path,
        "state": state_of(page, record),
        "suspended": record.status == "suspended",
        "voice": record.voice,
        "type": record.type,
        "forward": record.param if record.type == 1 else "",
        "email": record.param if record.type == 2 else "",
        "fallbacks": fallbacks,
        "changes": [_change_row(page, change) for change in changes],
        "calls": call_rows,
        "messages": messages,
        "mailbox": own,
        "limits": limits,
    }


def _change_row(page: Page, change: Any) -> dict[str, str]:
    def setting(kind: int, param: str | None) -> str:
        if kind == 1 and param:
            return page.say("Forwarding to {}", param)
        if kind == 2 and param:
            return page.say("Voicemail to {}", param)
        return page.say("Off")

    before = setting(change.previous_type, change.previous_param)
    what = f"{before} → {setting(change.type, change.param)}"
    if change.condition:
        what = f"{page.say(change.condition)}: {what}"
    if change.ring_seconds is not None and change.ring_seconds != change.previous_ring_seconds:
        what += f" ({page.say('ring {} s', change.ring_seconds)})"
    return {
        "when": f"{change.changed_at:%Y-%m-%d %H:%M:%S} UTC",
        "what": what,
        "by": change.key_id or "",
    }


async def _changing(
    request: Request,
    number: str,
    change: Callable[[Page, NumberRecord, dict[str, Any]], Awaitable[None]],
) -> Response:
    """A post that changes a number: the session, its CSRF token, the number (404 when
    it is not the account's), then ``change``, then back to the number's page."""
    page = Page(request)

    async def handle() -> Response:
        if not await page.signed_in():
            return page.redirect("/console/")
        form = await page.form()
        if form is None:
            return page.forbidden()
        assert page.principal is not None
        record = await owned_record(page.services, page.principal, number)
        try:
            await change(page, record, form)
        except ContractError as exc:
            if exc.code is Code.NUMBER_NOT_FOUND:
                raise
            page.note("alert", page.refusal(exc))
        return page.redirect(number_path(record.number) + "#messages")

    return await guarded(page, handle)


def _setting_fields(form: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A form's type and the field its type reads (``Forward to`` or ``Email``) as the
    API's ``type`` and ``param``."""
    kind = str(form.get(f"{prefix}type", ""))
    param = {"1": form.get(f"{prefix}forward"), "2": form.get(f"{prefix}email")}.get(kind)
    fields: dict[str, Any] = {"type": kind}
    if kind in ("1", "2"):
        fields["param"] = str(param or "")
    return fields


@router.post("/numbers/{number}/forwarding")
async def post_forwarding(request: Request, number: str) -> Response:
    async def change(page: Page, record: NumberRecord, form: dict[str, Any]) -> None:
        assert page.principal is not None
        fields = {"number": record.number, **_setting_fields(form)}
        applied = await change_forwarding(page.services, page.principal, fields)
        page.note("status", message(applied.code, language=page.language))

    return await _changing(request, number, change)


@router.post("/numbers/{number}/fallbacks")
async def post_fallbacks(request: Request, number: str) -> Response:
    """Each condition whose fallback (or ring time) the form changes, in the contract's
    order; one message per change. An unchanged condition is left alone."""

    async def change(page: Page, record: NumberRecord, form: dict[str, Any]) -> None:
        assert page.principal is not None
        changed = False
        for condition, _ in CONDITIONS:
            name = condition.value
            fields = {
                "number": record.number,
                "condition": name,
                **_setting_fields(form, f"{name}-"),
            }
            current = record.conditions.get(name) or {}
            same = str(current.get("type", 0)) == fields["type"] and (
                fields["type"] == "0" or current.get("param") == fields.get("param")
            )
            # A ring time goes with a no-answer fallback that is on (conditions.md).
            ring = str(form.get(f"{name}-ring") or "").strip()
            if condition is Condition.NO_ANSWER and fields["type"] != "0" and ring:
                if str(current.get("ringSeconds", "")) != ring:
                    fields["ringSeconds"] = ring
                    same = False
            if same:
                continue
            changed = True
            try:
                applied = await change_fallback(page.services, page.principal, fields)
            except ContractError as exc:
                if exc.code is Code.NUMBER_NOT_FOUND:
                    raise
                page.note("alert", f"{page.say(legend_of(condition))}: {page.refusal(exc)}")
                continue
            text = message(applied.code, language=page.language)
            page.note("status", f"{page.say(legend_of(condition))}: {text}")
        if not changed:
            page.note("status", page.say("Fallbacks unchanged"))

    return await _changing(request, number, change)


def legend_of(condition: Condition) -> str:
    return next(legend for known, legend in CONDITIONS if known is condition)


@router.post("/numbers/{number}/voicemail-settings")
async def post_voicemail_settings(request: Request, number: str) -> Response:
    """The number's own voicemail settings, checked as the API checks them (23); an
    empty field goes back to the account's or the installation's."""

    async def change(page: Page, record: NumberRecord, form: dict[str, Any]) -> None:
        assert page.principal is not None
        changeable(record)
        services, account_id = page.services, page.principal.account_id
        fields = {name: form.get(name, "") for name in FIELDS}
        own, _ = await read_owned(
            lambda: mailboxes.mailbox_of(services.db, record.number, account_id=account_id)
        )
        updated = parse_update(fields, own, installation=services.settings.voicemail_limits)
        await read_owned(
            lambda: mailboxes.set_mailbox(
                services.db, record.number, updated, account_id=account_id
            )
        )
        page.note("status", message(Code.OK, language=page.language))

    return await _changing(request, number, change)


@router.post("/numbers/{number}/greeting")
async def post_greeting(request: Request, number: str) -> Response:
    """An uploaded WAV, or a text read aloud, as the API converts them."""

    async def change(page: Page, record: NumberRecord, form: dict[str, Any]) -> None:
        changeable(record)  # before any conversion
        services = page.services
        upload = form.get("greeting_file")
        text = str(form.get("greeting_text") or "").strip()
        data = await upload.read() if isinstance(upload, UploadFile) else b""
        try:
            if data:
                pcm = await services.conversions.greeting(data)
            elif text:
                pcm = await services.conversions.speech(text, language=page.language)
            else:
                page.note("alert", page.say("Send a file or a text"))
                return
        except ConversionError as exc:
            raise refusal(exc) from exc
        await _set_greeting(page, record, pcm)

    return await _changing(request, number, change)


@router.post("/numbers/{number}/greeting/default")
async def post_default_greeting(request: Request, number: str) -> Response:
    async def change(page: Page, record: NumberRecord, form: dict[str, Any]) -> None:
        await _set_greeting(page, record, None)

    return await _changing(request, number, change)


async def _set_greeting(page: Page, record: NumberRecord, pcm: bytes | None) -> None:
    changeable(record)  # 15 suspended, 14 SMS-only, as the API's greeting
    assert page.principal is not None
    account_id = page.principal.account_id
    await read_owned(
        lambda: mailboxes.set_greeting(
            page.services.db, record.number, pcm, now=datetime.now(UTC), account_id=account_id
        )
    )
    page.note("status", message(Code.OK, language=page.language))


async def _audio_of(page: Page, number: str) -> NumberRecord | None:
    """The number whose audio a signed-in page asks for (None without a session: the
    audio of a page that is not shown is not found either).

    Raises:
        ContractError: 13, not the account's number.
    """
    if not await page.signed_in():
        return None
    assert page.principal is not None
    return await owned_record(page.services, page.principal, number)


@router.get("/numbers/{number}/greeting.wav")
async def greeting_audio(request: Request, number: str) -> Response:
    """What callers hear: the number's own greeting, or the default one."""
    page = Page(request)

    async def handle() -> Response:
        record = await _audio_of(page, number)
        if record is None:
            return page.missing()
        return Response(await greeting_heard(page.services, record.number), media_type="audio/wav")

    return await guarded(page, handle)


@router.get("/numbers/{number}/voicemail/{message_id}.wav")
async def message_audio(request: Request, number: str, message_id: str) -> Response:
    """A message's recording; 404 for another account's or an unknown one."""
    page = Page(request)

    async def handle() -> Response:
        record = await _audio_of(page, number)
        if record is None or page.principal is None:
            return page.missing()
        path = await recording_of(
            page.services, record.number, message_id, account_id=page.principal.account_id
        )
        return FileResponse(path, media_type="audio/wav")

    return await guarded(page, handle)


@router.post("/numbers/{number}/voicemail/{message_id}/delete")
async def delete_message(request: Request, number: str, message_id: str) -> Response:
    async def change(page: Page, record: NumberRecord, form: dict[str, Any]) -> None:
        assert page.principal is not None
        account_id = page.principal.account_id
        services = page.services
        relative = await read_owned(
            lambda: voicemail.delete_message(
                services.db, record.number, message_id, account_id=account_id
            )
        )
        if relative is None:
            raise ContractError(Code.NUMBER_NOT_FOUND)
        (services.settings.voicemail_dir / relative).unlink(missing_ok=True)
        page.note("status", page.say("Deleted"))

    return await _changing(request, number, change)
