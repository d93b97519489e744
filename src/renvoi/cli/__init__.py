"""The ``renvoi`` command: the operator's interface (contract/operator.md, voice.md).

Every command takes ``--json`` and then prints exactly one JSON document on stdout;
without it, plain text for people (``output.py``). An error prints one line
``Name: message`` on stderr and exits 1; bad usage prints one line ``UsageError: …``
and exits 2.

The commands live in ``operator`` (accounts, keys, numbers, the database) and
``running`` (the processes and their configuration); ``context`` holds what they share.
They import the store and the servers inside their bodies, so that ``renvoi --help``
does not pay for SQLAlchemy, Alembic or uvicorn.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

import typer
from pydantic import ValidationError
from typer.exceptions import TyperException

from renvoi import __version__, logs
from renvoi.cli import operator, running
from renvoi.cli.context import Invocation, settings_error
from renvoi.config import Settings
from renvoi.errors import RenvoiError


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"renvoi {__version__}\n")
        raise typer.Exit()


def _help_epilog() -> str:
    try:
        settings = Settings()
    except ValidationError:
        return ""
    return (
        f"Database: {settings.database_shown} (RENVOI_DATABASE_URL; by default renvoi.db "
        "in RENVOI_DATA_DIR). Settings: RENVOI_* variables or a .env file."
    )


app = typer.Typer(
    help="renvoi: call forwarding for virtual numbers.",
    epilog=_help_epilog(),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """renvoi: call forwarding for virtual numbers."""


for group in (operator.db_app, operator.account_app, operator.key_app, operator.number_app):
    app.add_typer(group)
app.command()(running.serve)
app.add_typer(running.kamailio_app)
app.add_typer(running.voicemail_app)


def _fail(name: str, message: str, status: int) -> None:
    sys.stderr.write(f"{name}: {' '.join(message.split())}\n")
    raise SystemExit(status)


def main(argv: Sequence[str] | None = None) -> None:
    """The entry point: runs a command; renvoi's errors are one line and exit 1, bad
    usage one line and exit 2."""
    try:
        settings = Settings()
    except ValidationError as exc:
        _fail("SettingsError", settings_error(exc), 1)
    logs.configure(level=settings.log_level, fmt=settings.log_format)
    invocation = Invocation(settings)
    command = typer.main.get_command(app)
    try:
        status = command.main(
            args=list(argv) if argv is not None else None,
            prog_name="renvoi",
            obj=invocation,
            standalone_mode=False,
        )
    except TyperException as exc:  # bad usage (exit code 2), or click's own errors
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
            sys.stdout.write(context.get_help() + "\n")  # a group without its command
            raise SystemExit(0) from None
        where = f" (see `{context.command_path} --help`)" if context is not None else ""
        _fail("UsageError" if exc.exit_code == 2 else "Error", exc.format_message() + where, 2)
    except typer.Abort:
        _fail("Aborted", "nothing was done", 1)
    except RenvoiError as exc:
        _fail(type(exc).__name__, str(exc), 1)
    finally:
        invocation.close()
    raise SystemExit(status if isinstance(status, int) else 0)
