"""The ``renvoi`` command: the operator's interface (contract/operator.md).

Every command takes ``--json`` and then prints exactly one JSON document on stdout;
without it, a rich table for people. Errors print one line ``Name: message`` on stderr
and exit 1; bad usage is click's (exit 2).
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from renvoi import logs
from renvoi.config import Settings
from renvoi.errors import AlreadyExistsError, NotFoundError, RenvoiError
from renvoi.store import accounts, calls, numbers
from renvoi.store.database import Database, open_database
from renvoi.store.migrate import upgrade
from renvoi.store.records import as_json
from renvoi.voice.kamailio import render_config

app = typer.Typer(
    help="renvoi: call forwarding for virtual numbers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
account_app = typer.Typer(help="Customer accounts.", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
number_app = typer.Typer(help="Virtual numbers.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(account_app, name="account")
app.add_typer(key_app, name="key")
kamailio_app = typer.Typer(help="The Kamailio SIP proxy.", no_args_is_help=True)
voicemail_app = typer.Typer(help="The voicemail endpoint and its emails.", no_args_is_help=True)
app.add_typer(number_app, name="number")
app.add_typer(kamailio_app, name="kamailio")
app.add_typer(voicemail_app, name="voicemail")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]

# The demo of ``serve --demo``: an account named "demo" and these numbers of it.
DEMO_ACCOUNT = "demo"
DEMO_NUMBERS = ("+33757000001", "+33757000002")
DEMO_SMS_ONLY = "+33757000009"


class Invocation:
    """The settings and database of one run of the command (click's context object)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db: Database | None = None

    @property
    def db(self) -> Database:
        """The database, opened on first use (``--help`` opens none)."""
        if self._db is None:
            self._db = open_database(self.settings)
        return self._db

    @property
    def region(self) -> str:
        return self.settings.default_region

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
            self._db = None


def _current(context: typer.Context) -> Invocation:
    invocation: Invocation = context.obj
    return invocation


def _emit(value: Any, as_json_flag: bool, columns: Sequence[str] | None = None) -> None:
    """Print ``value``: one JSON document, or a table for people."""
    data = as_json(value)
    if as_json_flag:
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        return
    rows = data if isinstance(data, list) else [data]
    names = list(columns or (rows[0].keys() if rows else []))
    table = Table(*names)
    for row in rows:
        table.add_row(*("" if row.get(n) is None else str(row.get(n)) for n in names))
    Console().print(table)


@db_app.command("upgrade")
def db_upgrade(context: typer.Context, json_: JsonOption = False) -> None:
    """Apply the database migrations."""
    upgrade(_current(context).db)
    _emit({"database": "upgraded"}, json_)


@account_app.command("create")
def account_create(context: typer.Context, name: str, json_: JsonOption = False) -> None:
    """Create an account and its first API key (shown only now)."""
    _emit(accounts.create_account(_current(context).db, name), json_)


@account_app.command("list")
def account_list(context: typer.Context, json_: JsonOption = False) -> None:
    """List the accounts."""
    _emit(accounts.list_accounts(_current(context).db), json_, ["id", "name", "created_at"])


@account_app.command("countries")
def account_countries(
    context: typer.Context,
    account_id: str,
    countries: Annotated[
        list[str] | None, typer.Argument(help="ISO codes (FR BE ...); none: show the list.")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Lift the limit: every country.")] = False,
    json_: JsonOption = False,
) -> None:
    """Show or set the countries an account's numbers may forward to."""
    db = _current(context).db
    if all_:
        record = accounts.set_countries(db, account_id, None)
    elif countries:
        record = accounts.set_countries(db, account_id, countries)
    else:
        record = accounts.countries_of(db, account_id)
    _emit(record, json_)


@key_app.command("create")
def key_create(context: typer.Context, account_id: str, json_: JsonOption = False) -> None:
    """Add an API key to an account (shown only now)."""
    _emit(accounts.create_key(_current(context).db, account_id), json_)


@key_app.command("revoke")
def key_revoke(context: typer.Context, key_id: str, json_: JsonOption = False) -> None:
    """Revoke an API key: it stops working at once."""
    record = accounts.revoke_key(_current(context).db, key_id)
    _emit({"id": record.id, "revoked_at": record.revoked_at}, json_)


@number_app.command("add")
def number_add(
    context: typer.Context,
    number: str,
    account: Annotated[str, typer.Option("--account", help="The owning account's id.")],
    sms_only: Annotated[
        bool, typer.Option("--sms-only", help="No call-forwarding capability.")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Put a virtual number on the platform."""
    run = _current(context)
    record = numbers.add_number(
        run.db, number, account_id=account, voice=not sms_only, region=run.region
    )
    _emit(
        {
            "number": record.number,
            "account_id": record.account_id,
            "status": record.status,
            "voice": record.voice,
        },
        json_,
    )


@number_app.command("suspend")
def number_suspend(context: typer.Context, number: str, json_: JsonOption = False) -> None:
    """Suspend a number (API code 15, calls refused)."""
    run = _current(context)
    _emit(numbers.set_suspended(run.db, number, suspended=True, region=run.region), json_)


@number_app.command("resume")
def number_resume(context: typer.Context, number: str, json_: JsonOption = False) -> None:
    """Resume a suspended number."""
    run = _current(context)
    _emit(numbers.set_suspended(run.db, number, suspended=False, region=run.region), json_)


@number_app.command("remove")
def number_remove(context: typer.Context, number: str, json_: JsonOption = False) -> None:
    """Take a number off the platform, with its history."""
    run = _current(context)
    _emit(numbers.remove_number(run.db, number, region=run.region), json_)


@number_app.command("show")
def number_show(context: typer.Context, number: str, json_: JsonOption = False) -> None:
    """Show a number's record."""
    run = _current(context)
    _emit(numbers.get_number(run.db, number, region=run.region), json_)


@number_app.command("list")
def number_list(
    context: typer.Context,
    account: Annotated[str | None, typer.Option("--account", help="Only this account's.")] = None,
    json_: JsonOption = False,
) -> None:
    """List the numbers."""
    _emit(
        numbers.list_numbers(_current(context).db, account_id=account),
        json_,
        ["number", "account_id", "status", "voice", "type", "param", "updated_at"],
    )


@number_app.command("history")
def number_history(context: typer.Context, number: str, json_: JsonOption = False) -> None:
    """A number's forwarding changes, newest first."""
    run = _current(context)
    _emit(
        numbers.history(run.db, number, region=run.region),
        json_,
        ["changed_at", "type", "param", "previous_type", "previous_param", "key_id"],
    )


@number_app.command("route")
def number_route(
    context: typer.Context,
    number: str,
    sip: Annotated[
        str | None, typer.Option("--sip", help="Normal destination (mode 0), a SIP URI.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the destination.")] = False,
    json_: JsonOption = False,
) -> None:
    """Set where the number's calls go when it is not forwarding (mode 0)."""
    if (sip is None) == (not clear):
        raise typer.BadParameter("give exactly one of --sip URI or --clear")
    run = _current(context)
    _emit(numbers.set_sip_destination(run.db, number, sip, region=run.region), json_)


@number_app.command("calls")
def number_calls(
    context: typer.Context,
    number: str,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    json_: JsonOption = False,
) -> None:
    """The calls routed to a number, newest first."""
    run = _current(context)
    e164 = numbers.parse_operator_number(number, region=run.region)
    records = calls.list_calls(run.db, e164, limit=limit)
    _emit(
        [{**as_json(record), "duration": record.duration} for record in records],
        json_,
        ["started_at", "caller", "action", "destination", "status", "duration"],
    )


@kamailio_app.command("config")
def kamailio_config(
    context: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Write it to this file.")] = None,
    json_: JsonOption = False,
) -> None:
    """Write (or print) the Kamailio configuration generated from the settings."""
    settings = _current(context).settings
    text = render_config(settings)
    settings.rundir.mkdir(parents=True, exist_ok=True)
    if out is None:
        if json_:
            _emit({"config": text}, True)
        else:
            sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    _emit({"path": str(out)}, json_)


def create_demo(db: Database, settings: Settings) -> tuple[str, str]:
    """Make (or refresh) the demo account and its numbers; return (api key, number).

    Idempotent: a second run makes a new key for the same account (keys are shown only
    once) and puts the demo numbers back to their first state.
    """
    existing = [a for a in accounts.list_accounts(db) if a.name == DEMO_ACCOUNT]
    if existing:
        account_id = existing[0].id
        api_key = accounts.create_key(db, account_id).api_key
    else:
        created = accounts.create_account(db, DEMO_ACCOUNT)
        account_id, api_key = created.id, created.api_key
    region = settings.default_region
    for number, voice in [*((n, True) for n in DEMO_NUMBERS), (DEMO_SMS_ONLY, False)]:
        try:
            current = numbers.get_number(db, number, region=region)
        except NotFoundError:
            current = None
        if current is not None:
            if current.account_id != account_id:
                continue  # an operator's own number: never touch it
            numbers.remove_number(db, number, region=region)
        try:
            numbers.add_number(db, number, account_id=account_id, voice=voice, region=region)
        except AlreadyExistsError:
            pass
    return api_key, DEMO_NUMBERS[0]


def demo_curl(settings: Settings, api_key: str, number: str) -> str:
    """The ready-to-paste curl command that ``serve --demo`` prints."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    body = json.dumps({"apiKey": api_key, "number": number, "type": 1, "param": "+33612345678"})
    return (
        f"curl -s http://{host}:{settings.port}/v1/vn/callforward "
        f"-H 'Content-Type: application/json' --data {shlex.quote(body)}"
    )


@app.command()
def serve(
    context: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Create a demo account and print a curl to try.")
    ] = False,
    voicemail: Annotated[
        bool,
        typer.Option(
            "--voicemail/--no-voicemail",
            help="Also run the voicemail endpoint (or run it apart: renvoi voicemail serve).",
        ),
    ] = True,
    worker: Annotated[
        bool,
        typer.Option("--worker/--no-worker", help="Also run the outbox worker (emails)."),
    ] = True,
    json_: JsonOption = False,
) -> None:
    """Migrate the database, then serve the API (and by default the voicemail side)."""
    import os

    from renvoi import node

    overrides = {
        name: value
        for name, value in (("host", host), ("port", port), ("workers", workers))
        if value is not None
    }
    run = _current(context)
    settings = run.settings.model_copy(update=overrides)
    # Worker processes build their settings from the environment: hand the overrides on.
    for name, value in overrides.items():
        os.environ[f"RENVOI_{name.upper()}"] = str(value)
    with node.listening(settings) as sockets:
        upgrade(run.db)
        if demo:
            api_key, number = create_demo(run.db, settings)
            curl = demo_curl(settings, api_key, number)
            if json_:
                _emit({"api_key": api_key, "number": number, "curl": curl}, True)
            else:
                Console(stderr=True).print(
                    "[bold]renvoi demo[/bold]: account 'demo', numbers "
                    f"{', '.join(DEMO_NUMBERS)}; {DEMO_SMS_ONLY} is SMS-only.\nTry:\n"
                )
                sys.stdout.write(curl + "\n\n")
                sys.stdout.flush()
        run.close()  # the workers open their own pools
        node.serve(settings, sockets, voicemail=voicemail, worker=worker)


@voicemail_app.command("serve")
def voicemail_serve(context: typer.Context) -> None:
    """Run only the voicemail endpoint and the outbox worker (until SIGTERM or Ctrl-C)."""
    import asyncio
    import signal

    from renvoi.voice import service

    run = _current(context)
    upgrade(run.db)
    run.close()

    async def serve_until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await service.run(run.settings, stop=stop)

    asyncio.run(serve_until_signalled())


def settings_error(exc: ValidationError) -> str:
    """The first thing wrong with the settings, in one line naming the variable."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    reason = str(first["msg"]).removeprefix("Value error, ")
    return f"RENVOI_{where.upper()}: {reason}" if where else reason


def main(argv: Sequence[str] | None = None) -> None:
    """The entry point: runs a command, maps renvoi's errors to one line and exit 1."""
    command = typer.main.get_command(app)
    try:
        settings = Settings()
    except ValidationError as exc:
        sys.stderr.write(f"SettingsError: {settings_error(exc)}\n")
        raise SystemExit(1) from None
    logs.configure(level=settings.log_level, fmt="console")
    invocation = Invocation(settings)
    try:
        # Standalone mode: usage errors print click's message and exit 2; success exits 0.
        command.main(args=list(argv) if argv is not None else None, obj=invocation)
    except RenvoiError as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        raise SystemExit(1) from None
    finally:
        invocation.close()
