"""The operator's commands on accounts, keys, numbers and the database (operator.md).

Each one parses its arguments, calls one store operation and prints its record; the
store modules are imported in the commands' bodies (``renvoi.cli``'s docstring says why).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from renvoi.cli.context import JsonOption, current, value_or_clear
from renvoi.cli.output import emit

db_app = typer.Typer(name="db", help="The database.", no_args_is_help=True)
account_app = typer.Typer(name="account", help="Customer accounts.", no_args_is_help=True)
key_app = typer.Typer(name="key", help="API keys.", no_args_is_help=True)
number_app = typer.Typer(name="number", help="Virtual numbers.", no_args_is_help=True)

Limit = Annotated[
    int, typer.Option(min=1, max=1000, metavar="N", help="How many, newest first (1-1000).")
]
Number = Annotated[
    str, typer.Argument(metavar="NUMBER", help="The virtual number, in any spelling.")
]
AccountId = Annotated[
    str, typer.Argument(metavar="ACCOUNT_ID", help="As `account create` printed it.")
]
KeyId = Annotated[str, typer.Argument(metavar="KEY_ID", help="As `key create` printed it.")]
NUMBER_COLUMNS = ["number", "account_id", "status", "voice", "type", "param", "updated_at"]


@db_app.command("upgrade")
def db_upgrade(context: typer.Context, json_: JsonOption = False) -> None:
    """Apply the database migrations (creating the database if need be)."""
    from renvoi.store.migrate import upgrade

    upgrade(current(context).open(create=True))
    emit({"database": "upgraded"}, json_)


@account_app.command("create")
def account_create(
    context: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="1 to 200 characters.")],
    json_: JsonOption = False,
) -> None:
    """Create an account and its first API key (shown only now)."""
    from renvoi.store import accounts

    emit(accounts.create_account(current(context).db, name), json_)


@account_app.command("list")
def account_list(context: typer.Context, json_: JsonOption = False) -> None:
    """List the accounts."""
    from renvoi.store import accounts

    emit(accounts.list_accounts(current(context).db), json_, ["id", "name", "created_at"])


@account_app.command("countries")
def account_countries(
    context: typer.Context,
    account_id: AccountId,
    countries: Annotated[
        list[str] | None,
        typer.Argument(metavar="[COUNTRY]...", help="ISO codes (FR BE ...); none: show the list."),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Lift the limit: every country.")] = False,
    json_: JsonOption = False,
) -> None:
    """Show or set the countries an account's numbers may forward to."""
    from renvoi.store import accounts

    db = current(context).db
    if all_ and countries:
        raise typer.BadParameter("give countries or --all, not both")
    if all_:
        record = accounts.set_countries(db, account_id, None)
    elif countries:
        record = accounts.set_countries(db, account_id, countries)
    else:
        record = accounts.countries_of(db, account_id)
    emit(record, json_)


@account_app.command("webhook")
def account_webhook(
    context: typer.Context,
    account_id: AccountId,
    url: Annotated[
        str | None,
        typer.Option("--url", metavar="URL", help="Where the account's events are posted."),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="No webhook of its own (the installation's again).")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Give an account a webhook of its own; its signing secret is shown only now."""
    from renvoi.store import accounts

    url = value_or_clear(url, clear, "--url URL")
    emit(accounts.set_webhook(current(context).db, account_id, url), json_)


@account_app.command("audio")
def account_audio(
    context: typer.Context,
    account_id: AccountId,
    audio_format: Annotated[
        str | None,
        typer.Option(
            "--format", metavar="wav|mp3", help="The emailed recordings' format for its numbers."
        ),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="The installation's format again.")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Choose the voicemail recordings' format for an account's numbers (a number's own
    choice, through the API, comes first)."""
    from renvoi.store import accounts

    audio_format = value_or_clear(audio_format, clear, "--format wav|mp3")
    emit(accounts.set_audio_format(current(context).db, account_id, audio_format), json_)


@key_app.command("create")
def key_create(context: typer.Context, account_id: AccountId, json_: JsonOption = False) -> None:
    """Add an API key to an account (shown only now)."""
    from renvoi.store import accounts

    emit(accounts.create_key(current(context).db, account_id), json_)


@key_app.command("list")
def key_list(context: typer.Context, account_id: AccountId, json_: JsonOption = False) -> None:
    """An account's keys: id, created, last used, revoked, a rotated key's end of grace
    (never the key itself)."""
    from renvoi.store import accounts

    emit(
        accounts.list_keys(current(context).db, account_id),
        json_,
        ["id", "created_at", "last_used_at", "revoked_at", "expires_at", "replaces"],
    )


@key_app.command("rotate")
def key_rotate(
    context: typer.Context,
    key_id: KeyId,
    grace: Annotated[
        int,
        typer.Option(metavar="SECONDS", help="How long the old key keeps working (0: not at all)."),
    ] = 86_400,
    json_: JsonOption = False,
) -> None:
    """A new key for the same account (shown only now); the old one keeps working for
    the grace period, then is revoked."""
    from renvoi.store import accounts

    emit(accounts.rotate_key(current(context).db, key_id, grace=grace), json_)


@key_app.command("revoke")
def key_revoke(context: typer.Context, key_id: KeyId, json_: JsonOption = False) -> None:
    """Revoke an API key: it stops working at once."""
    from renvoi.store import accounts

    record = accounts.revoke_key(current(context).db, key_id)
    emit({"id": record.id, "revoked_at": record.revoked_at}, json_)


@number_app.command("add")
def number_add(
    context: typer.Context,
    number: Number,
    account: Annotated[
        str, typer.Option("--account", metavar="ACCOUNT_ID", help="The owning account's id.")
    ],
    sms_only: Annotated[
        bool, typer.Option("--sms-only", help="No call-forwarding capability.")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Put a virtual number on the platform."""
    from renvoi.store import numbers

    run = current(context)
    record = run.pushed(
        numbers.add_number(
            run.db, number, account_id=account, voice=not sms_only, region=run.region
        )
    )
    emit(
        {
            "number": record.number,
            "account_id": record.account_id,
            "status": record.status,
            "voice": record.voice,
        },
        json_,
    )


@number_app.command("suspend")
def number_suspend(context: typer.Context, number: Number, json_: JsonOption = False) -> None:
    """Suspend a number (API code 15, calls refused)."""
    from renvoi.store import numbers

    run = current(context)
    emit(
        run.pushed(numbers.set_suspended(run.db, number, suspended=True, region=run.region)), json_
    )


@number_app.command("resume")
def number_resume(context: typer.Context, number: Number, json_: JsonOption = False) -> None:
    """Resume a suspended number."""
    from renvoi.store import numbers

    run = current(context)
    emit(
        run.pushed(numbers.set_suspended(run.db, number, suspended=False, region=run.region)), json_
    )


@number_app.command("remove")
def number_remove(
    context: typer.Context,
    number: Number,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do it without asking (needed when not in a terminal).")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Take a number off the platform, with its history (there is no undo)."""
    from renvoi.store import numbers

    if not yes:
        if not sys.stdin.isatty():
            raise typer.BadParameter("removing a number needs --yes", param_hint="--yes")
        typer.confirm(f"Remove {number} and its history for good?", abort=True, err=True)
    run = current(context)
    emit(run.pushed(numbers.remove_number(run.db, number, region=run.region)), json_)


@number_app.command("show")
def number_show(context: typer.Context, number: Number, json_: JsonOption = False) -> None:
    """Show a number's record."""
    from renvoi.store import numbers

    run = current(context)
    emit(numbers.get_number(run.db, number, region=run.region), json_)


@number_app.command("list")
def number_list(
    context: typer.Context,
    account: Annotated[
        str | None, typer.Option("--account", metavar="ACCOUNT_ID", help="Only this account's.")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """List the numbers."""
    from renvoi.store import numbers

    emit(numbers.list_numbers(current(context).db, account_id=account), json_, NUMBER_COLUMNS)


@number_app.command("history")
def number_history(
    context: typer.Context, number: Number, limit: Limit = 100, json_: JsonOption = False
) -> None:
    """A number's forwarding changes, newest first."""
    from renvoi.store import numbers

    run = current(context)
    emit(
        numbers.history(run.db, number, region=run.region, limit=limit),
        json_,
        ["changed_at", "type", "param", "previous_type", "previous_param", "key_id"],
    )


@number_app.command("route")
def number_route(
    context: typer.Context,
    number: Number,
    sip: Annotated[
        str | None,
        typer.Option("--sip", metavar="URI", help="Normal destination (mode 0), a SIP URI."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the destination.")] = False,
    json_: JsonOption = False,
) -> None:
    """Set where the number's calls go when it is not forwarding (mode 0)."""
    from renvoi.store import numbers

    sip = value_or_clear(sip, clear, "--sip URI")
    run = current(context)
    emit(run.pushed(numbers.set_sip_destination(run.db, number, sip, region=run.region)), json_)


@number_app.command("calls")
def number_calls(
    context: typer.Context, number: Number, limit: Limit = 50, json_: JsonOption = False
) -> None:
    """The calls routed to a number, newest first."""
    from renvoi.store import calls, numbers

    run = current(context)
    e164 = numbers.parse_operator_number(number, region=run.region)
    emit(
        calls.list_calls(run.db, e164, limit=limit),
        json_,
        ["started_at", "caller", "action", "destination", "status", "duration"],
    )
