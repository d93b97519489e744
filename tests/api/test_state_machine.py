"""The forwarding state machine against a model of it (hypothesis stateful testing).

Hypothesis drives random sequences of changes to two numbers of one account (forward to
either of two phones, to the other number or to itself, voicemail to either of two
addresses, off) through the app, and checks every answer against a model of the
contract: the success codes, 16/17/18 for a change to the current setting, 12 for a
loop. After each step, both numbers' stored state and newest history row must equal the
model's. SQLite only: the rules are the domain's, the same on both databases.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import delete, update

from renvoi.api.app import create_app
from renvoi.config import Settings
from renvoi.store import numbers
from renvoi.store.database import Database
from renvoi.store.migrate import upgrade
from renvoi.store.models import Change, Number
from tests.harness import make_tenant

A, B = "+33757000001", "+33757000002"
PHONES = ("+33612345678", "+33698765432")
EMAILS = ("ann@example.com", "bob@example.com")

_workdir = Path(tempfile.mkdtemp(prefix="renvoi-model-"))
atexit.register(shutil.rmtree, _workdir, ignore_errors=True)
_url = f"sqlite:///{_workdir / 'model.db'}"
_db = Database(_url)
upgrade(_db)
_tenant = make_tenant(_db, "acme", [A, B])
_client = TestClient(
    create_app(
        Settings(database_url=_url, rate_key_per_second=100_000, rate_key_burst=100_000),
        db=_db,
    )
)

Setting = tuple[int, str | None]  # (type, param) as the API answers them
OFF: Setting = (0, None)


def settings_for(number: str) -> st.SearchStrategy[Setting]:
    other = B if number == A else A
    return st.sampled_from(
        [
            *((1, phone) for phone in PHONES),
            (1, other),
            (1, number),  # itself: always refused
            *((2, email) for email in EMAILS),
            OFF,
        ]
    )


class Forwarding(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, Setting] = {A: OFF, B: OFF}

    @initialize()
    def start_from_off(self) -> None:
        with _db.write() as conn:
            conn.execute(update(Number).values(mode=0, param=None))
            conn.execute(delete(Change))

    def expected(self, number: str, wanted: Setting) -> int:
        kind, param = wanted
        if kind == 1 and (param == number or self.model.get(param or "") == (1, number)):
            return 12  # itself, or a loop back through the other number
        if self.model[number] == wanted:
            return {0: 18, 1: 16, 2: 17}[kind]
        return {0: 2, 1: 1, 2: 3}[kind]

    @rule(data=st.data(), number=st.sampled_from([A, B]))
    def change(self, data: st.DataObject, number: str) -> None:
        wanted = data.draw(settings_for(number))
        body = {"apiKey": _tenant.key, "number": number, "type": wanted[0]}
        body["param"] = wanted[1] or ""
        answer = _client.post("/v1/vn/callforward", json=body).json()
        expected = self.expected(number, wanted)
        assert answer["code"] == expected, (number, wanted, self.model, answer)
        if expected in (1, 2, 3):
            self.model[number] = wanted

    @invariant()
    def stored_state_and_history_agree_with_the_model(self) -> None:
        for number in (A, B):
            record = numbers.get_number(_db, number, region="FR")
            assert (record.type, record.param) == self.model[number]
            changes = numbers.history(_db, number, region="FR", limit=1)
            if changes:
                assert (changes[0].type, changes[0].param) == self.model[number]
            else:
                assert self.model[number] == OFF


Forwarding.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
test_forwarding_follows_its_model = Forwarding.TestCase
