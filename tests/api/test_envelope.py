"""The answer's envelope in its XML form: whatever a value holds, a document any XML
parser reads, with the value intact but for what XML cannot carry."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from renvoi.api.envelope import to_xml
from renvoi.config import Settings
from renvoi.store.database import Database
from tests.harness import Tenant, forward, internal_client

ROUTE_TOKEN = "route-secret-for-tests"


def xml_safe(text: str) -> str:
    """``text`` as an XML 1.0 document can hold it (production 2): U+FFFD elsewhere."""
    return "".join(
        c
        if c in "\t\n\r"
        or "\x20" <= c <= "\ud7ff"
        or "\ue000" <= c <= "\ufffd"
        or "\U00010000" <= c <= "\U0010ffff"
        else "\ufffd"
        for c in text
    )


@given(st.lists(st.text(), max_size=4), st.integers(), st.none() | st.booleans())
def test_any_text_makes_a_document_that_parses(texts: list[str], number: int, flag: object) -> None:
    """The parser is the oracle: every string comes back as sent, but for the characters
    XML cannot hold (C0 controls, surrogates, U+FFFE/U+FFFF), each one a U+FFFD."""
    body = {"success": True, "code": number, "values": texts, "flag": flag}
    root = ET.fromstring(to_xml(body))
    entries = list(root)
    assert entries[1].text == str(number)
    assert [e.text or "" for e in entries[2]] == [xml_safe(t) for t in texts]


def test_a_caller_id_with_control_characters_keeps_the_calls_parseable(
    database_url: str, database: Database, tenant: Tenant
) -> None:
    """``\\x1b``, ``\\x0b`` or U+FFFE in a caller id once made ``_format=xml`` invalid."""
    forward(database, tenant, "+33757000001", "+33612345678")
    settings = Settings(database_url=database_url, route_token=ROUTE_TOKEN)
    with internal_client(settings, database) as client:
        client.get(
            "/internal/v1/route/+33757000001",
            params={"call_id": "c1", "caller": "+331\x1b\x0b\ufffe40"},
            headers={"Authorization": f"Bearer {ROUTE_TOKEN}"},
        )
    with internal_client(settings, database) as client:  # the call log written
        answer = client.get(
            "/v1/vn/calls",
            params={"number": "+33757000001", "apiKey": tenant.key, "_format": "xml"},
        )
    root = ET.fromstring(answer.content)
    [call] = list(root[4])
    assert call[1].text == "+331\ufffd\ufffd\ufffd40"
