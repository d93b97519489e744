"""schemathesis against renvoi's own OpenAPI schema: every documented operation, with
JSON and form bodies generated from it, answers without a 5xx and within its schema.

``make test`` runs a few examples per operation; CI runs many more
(``RENVOI_FUZZ_EXAMPLES``, see ``.ci/run`` and docs/guarantees.md). Runs on SQLite: the
database is not what is fuzzed here (the contract tests cover both backends).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from renvoi.api.app import create_app
from renvoi.config import Settings
from renvoi.store.database import Database
from renvoi.store.migrate import upgrade
from tests.harness import make_tenant

EXAMPLES = int(os.environ.get("RENVOI_FUZZ_EXAMPLES", "25"))
ADMIN_TOKEN = "fuzz-admin-token-0123456789"


@schemathesis.serializer("audio/wav")
def _wav_body(_context: Any, value: Any) -> bytes:
    """Greetings are uploaded as raw WAV bytes: whatever was generated, as bytes."""
    return value if isinstance(value, bytes) else str(value).encode()


def _app_schema() -> Any:
    """The schema of an app on a scratch SQLite database with one tenant (built when
    the module is collected: schemathesis parametrizes from it)."""
    workdir = Path(tempfile.mkdtemp(prefix="renvoi-fuzz-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    url = f"sqlite:///{workdir / 'fuzz.db'}"
    db = Database(url)
    upgrade(db)
    make_tenant(db, "acme", ["+33757000001", "+33757000002"])
    app = create_app(
        Settings(
            database_url=url,
            data_dir=workdir,
            admin_token=ADMIN_TOKEN,
            rate_key_per_second=100_000,
            rate_key_burst=100_000,
            rate_bad_key_burst=100_000,
            rate_bad_key_per_second=100_000,
        ),
        db=db,
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = _app_schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases every run: a failure here is reproducible
)
def test_every_operation_answers_within_its_schema(case: Any) -> None:
    # The admin token on every call, so that the admin operations are reached too.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
