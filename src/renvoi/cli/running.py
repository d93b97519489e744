"""The commands that run renvoi's processes (voice.md): ``serve``, ``voicemail serve``,
and the Kamailio configuration they go with.

What a process does is ``renvoi.node``'s; these commands
check their options, prepare the database and hand over.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from renvoi.cli.context import JsonOption, current, settings_error
from renvoi.cli.output import emit
from renvoi.config import Settings
from renvoi.errors import ServiceError

kamailio_app = typer.Typer(name="kamailio", help="The Kamailio SIP proxy.", no_args_is_help=True)
voicemail_app = typer.Typer(
    name="voicemail", help="The voicemail endpoint and its emails.", no_args_is_help=True
)


def serve(
    context: typer.Context,
    host: Annotated[
        str | None, typer.Option(metavar="HOST", help="Address to listen on (RENVOI_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(metavar="PORT", help="Port to listen on (RENVOI_PORT).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(metavar="N", help="Worker processes (RENVOI_WORKERS).")
    ] = None,
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
    run = current(context)
    _count_in_files(run.settings)

    from renvoi import node
    from renvoi.cli.demo import (
        ACCOUNT,
        NUMBERS,
        SMS_ONLY,
        console_url,
        create_demo,
        demo_curl,
    )
    from renvoi.store.migrate import upgrade

    overrides = {
        name: value
        for name, value in (("host", host), ("port", port), ("workers", workers))
        if value is not None
    }
    try:
        settings = Settings.model_validate({**run.settings.model_dump(), **overrides})
    except ValidationError as exc:
        raise typer.BadParameter(settings_error(exc)) from None
    # Worker processes build their settings from the environment: hand the overrides on.
    for name, value in overrides.items():
        os.environ[f"RENVOI_{name.upper()}"] = str(value)
    with node.listening(settings) as sockets:
        db = run.open(create=True)
        upgrade(db)
        started = {
            "api": f"http://{settings.host}:{settings.port}",
            "database": settings.database_shown,
        }
        if demo:
            api_key, number = create_demo(db, settings)
            curl = demo_curl(settings, api_key, number)
            started |= {"api_key": api_key, "number": number, "curl": curl}
            if settings.console:
                started["console"] = console_url(settings)
            if not json_:
                sys.stderr.write(
                    f"renvoi demo: account '{ACCOUNT}', numbers {', '.join(NUMBERS)}; "
                    f"{SMS_ONLY} is SMS-only. Try:\n\n"
                )
                sys.stdout.write(curl + "\n\n")
                if settings.console:
                    sys.stderr.write("Or open the console and sign in with the API key above:\n\n")
                    sys.stdout.write(f"{console_url(settings)}\n\n")
                sys.stdout.flush()
        if json_:
            emit(started, True)
            sys.stdout.flush()
        run.close()  # the workers open their own pools
        node.serve(settings, sockets, voicemail=voicemail, worker=worker)


@voicemail_app.command("serve")
def voicemail_serve(context: typer.Context, json_: JsonOption = False) -> None:
    """Run only the voicemail endpoint and the outbox worker (until SIGTERM or Ctrl-C)."""
    import asyncio
    import signal

    run = current(context)
    _count_in_files(run.settings)

    from renvoi import node
    from renvoi.store.migrate import upgrade

    upgrade(run.open(create=True))
    run.close()

    async def serve_until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)

        def ready() -> None:
            if json_:
                emit(
                    {
                        "voicemail": run.settings.voicemail_listen,
                        "database": run.settings.database_shown,
                    },
                    True,
                )
                sys.stdout.flush()

        await node.run_voicemail(run.settings, stop=stop, ready=ready)

    try:
        asyncio.run(serve_until_signalled())
    except OSError as exc:
        raise ServiceError(f"the voicemail side could not start: {exc}") from None


def _count_in_files(settings: Settings) -> None:
    """Before anything imports ``renvoi.metrics``: this process and those it starts
    count in files under the data directory, which a scrape on this machine sums
    (prometheus_client's multi-process mode); the files of processes gone are cleared,
    so a restart starts the counts again (a reset Prometheus expects)."""
    if not settings.metrics:
        return
    directory = settings.metrics_dir
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not _running(int(pid)):
            path.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


@kamailio_app.command("config")
def kamailio_config(
    context: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Write it to this file.")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Write (or print) the Kamailio configuration generated from the settings."""
    from renvoi.voice.kamailio import render_config

    settings = current(context).settings
    text = render_config(settings)
    settings.rundir.mkdir(parents=True, exist_ok=True)
    if out is None:
        if json_:
            emit({"config": text}, True)
        else:
            sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    # It names the database, with its password, and the route token: its owner's alone.
    with os.fdopen(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(text)
    out.chmod(0o600)
    emit({"path": str(out)}, json_)


@kamailio_app.command("sync")
def kamailio_sync(context: typer.Context, json_: JsonOption = False) -> None:
    """Write every number's plan again from its state, under a new generation: each
    Kamailio loads them at its next catch-up (after the numbers were edited in the
    database by hand, or a backup restored)."""
    from renvoi.store import routetable

    run = current(context)
    with run.db.write() as conn:
        generation = routetable.publish_all(conn)
    emit({"generation": generation}, json_)
