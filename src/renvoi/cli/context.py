"""What every command of ``renvoi`` shares: its settings, its database, ``--json``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from renvoi.config import Settings
from renvoi.errors import MigrationNeededError

if TYPE_CHECKING:
    from renvoi.store.database import Database
    from renvoi.store.records import NumberRecord

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


class Invocation:
    """The settings and database of one run of the command (click's context object)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db: Database | None = None

    @property
    def region(self) -> str:
        return self.settings.default_region

    def open(self, *, create: bool = False) -> Database:
        """The database, opened on first use (``--help`` opens none).

        Args:
            create: the command makes the schema (``db upgrade``, ``serve``); any other
                needs it there already, and must not create a file or a directory.

        Raises:
            MigrationNeededError: not created yet, or an older schema.
        """
        if self._db is None:
            from renvoi.store.database import open_database

            path = self.settings.sqlite_path
            if not create and path is not None and not path.exists():
                raise MigrationNeededError(
                    f"no database at {path}: run `renvoi db upgrade` first "
                    "(RENVOI_DATA_DIR or RENVOI_DATABASE_URL choose another)"
                )
            self._db = open_database(self.settings)
            if not create:
                from renvoi.store.migrate import check_current

                check_current(self._db)
        return self._db

    @property
    def db(self) -> Database:
        """The database of a command that reads or changes it (``open``)."""
        return self.open()

    def pushed(self, record: NumberRecord) -> NumberRecord:
        """``record``'s number, told to every Kamailio after its change (as the API
        does before it answers: ``renvoi.proxies``)."""
        from renvoi.proxies import Proxies

        Proxies(self.settings, self.db).push_now(record.number)
        return record

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
            self._db = None


def current(context: typer.Context) -> Invocation:
    invocation: Invocation = context.obj
    return invocation


def value_or_clear(value: str | None, clear: bool, option: str) -> str | None:
    """A setting's new value, or None with ``--clear``: exactly one of the two.

    Raises:
        typer.BadParameter: both, or neither (``option`` names the other, e.g.
            ``--url URL``).
    """
    if (value is None) == (not clear):
        raise typer.BadParameter(f"give exactly one of {option} or --clear")
    return value


def settings_error(exc: ValidationError) -> str:
    """The first thing wrong with the settings, in one line naming the variable."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    reason = str(first["msg"]).removeprefix("Value error, ")
    return f"RENVOI_{where.upper()}: {reason}" if where else reason
