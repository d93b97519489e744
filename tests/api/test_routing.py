"""``/internal/v1/route``: who may ask, and what it answers (calls themselves: tests/calls)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from renvoi.config import Settings
from renvoi.store import calls
from renvoi.store.database import Database
from tests.harness import Tenant, forward, internal_client

ROUTE = "/internal/v1/route/+33757000001"
TOKEN = "route-secret-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_route_endpoint_hidden_from_non_loopback_clients(
    settings: Settings, database: Database
) -> None:
    """The test client's address is "testclient", not loopback: as if from outside."""
    with internal_client(settings, database) as client:
        assert client.get(ROUTE).status_code == 404


def test_the_api_does_not_serve_the_internal_endpoints(client: TestClient) -> None:
    """They have a listener of their own (``renvoi.node``): not even a loopback client
    of the API's listener reaches them."""
    assert client.get(ROUTE).status_code == 404
    assert client.post("/internal/v1/calls/reports", content="end c1").status_code == 404


def test_route_endpoint_with_a_token(database_url: str, database: Database, tenant: Tenant) -> None:
    settings = Settings(database_url=database_url, route_token=TOKEN)
    with internal_client(settings, database) as client:
        assert client.get(ROUTE, headers={"Authorization": "Bearer wrong"}).status_code == 404
        answer = client.get(ROUTE, headers=AUTH).json()
    assert (answer["action"], answer["status"]) == ("reject", 480)


def test_reports_are_lines_of_status_or_end_and_a_call_id(
    database_url: str, database: Database, tenant: Tenant
) -> None:
    settings = Settings(database_url=database_url, route_token=TOKEN)

    url = "/internal/v1/calls/reports"
    with internal_client(settings, database) as client:
        for body in (
            "200",  # no Call-ID
            "99 c1",  # a status out of range
            "abc c1",
            "200 c1\nfinished c2",  # one bad line refuses the batch
            "end " + "x" * 256,  # longer than any recorded Call-ID
            "²00 c1",  # a digit, but not an ASCII one
            "200 c1\x00",  # no Call-ID holds NUL
        ):
            assert client.post(url, content=body, headers=AUTH).status_code == 400, body
        assert client.post(url, content="x" * 65_537, headers=AUTH).status_code == 413
        accepted = client.post(url, content="200 c1\nend c1 with a space\n", headers=AUTH)
        assert accepted.json() == {"reports": 2}
        odd = client.post(url, content="200 a\x1cb\u2028c\n".encode(), headers=AUTH)
        assert odd.json() == {"reports": 1}  # one Call-ID, odd characters and all
        assert client.post(url, content="", headers=AUTH).json() == {"reports": 0}
        hidden = client.post(url, content="end c1")
        assert hidden.status_code == 404
        assert hidden.headers["X-Content-Type-Options"] == "nosniff"


def test_every_spelling_of_a_number_routes_alike(
    database_url: str, database: Database, tenant: Tenant
) -> None:
    """A number written internationally is looked up without parsing, in the spelling
    the platform stores (``platform_number``); any other, including one that only looks
    stored (``+33 0…``), is parsed first."""
    forward(database, tenant, "+33757000001", "+33612345678")
    settings = Settings(database_url=database_url, route_token=TOKEN)

    with internal_client(settings, database) as client:

        def route(number: str) -> tuple[str, int, str]:
            answer = client.get(f"/internal/v1/route/{number}", headers=AUTH).json()
            return answer["action"], answer["status"], answer["uri"]

        forwarded = route("+33757000001")
        assert forwarded[0] == "forward" and "+33612345678" in forwarded[2]
        for spelling in ("+330757000001", "0757000001", "0033757000001", "33757000001"):
            assert route(spelling) == forwarded, spelling
        nowhere = route("+33757999999")
        assert nowhere[0] == "reject"
        assert route("+330757999999") == nowhere
        assert route("+3") == route("NUMBET") == nowhere


def test_a_call_id_or_caller_holding_nul_cannot_stop_the_call_records(
    database_url: str, database: Database, tenant: Tenant
) -> None:
    """PostgreSQL's text cannot hold NUL: recorded, such a call failed its batch, and
    every batch after it, at every try. It is routed all the same."""
    forward(database, tenant, "+33757000001", "+33612345678")
    settings = Settings(database_url=database_url, route_token=TOKEN)

    with internal_client(settings, database) as client:
        for query in (
            "call_id=a%00b",
            "call_id=c2&caller=%2B331%0040",
            "call_id=c3&caller=%2B3314",
        ):
            answer = client.get(f"{ROUTE}?{query}", headers=AUTH).json()
            assert answer["action"] == "forward", query
    # Shutting the app down wrote its call log.
    recorded = {r.call_id: r.caller for r in calls.list_calls(database, "+33757000001")}
    assert recorded == {"c2": None, "c3": "+3314"}


def test_a_diverted_call_is_recorded_with_its_condition_and_destination(
    database_url: str, database: Database, tenant: Tenant
) -> None:
    """Kamailio reports the fallback it took (``divert``) before the call's outcome;
    a mode-0 number without a destination is diverted by the route itself."""
    forward(database, tenant, "+33757000001", "+33612345678")
    settings = Settings(database_url=database_url, route_token=TOKEN)
    url = "/internal/v1/calls/reports"
    change = "/v1/vn/callforward/conditional"
    with internal_client(settings, database) as client:
        for body in (
            "divert busy c1",  # no URI
            "divert Busy sip:x c1",  # not a condition
            "divert busy  c1",  # an empty URI
            "divert busy sip:x",  # no Call-ID
        ):
            assert client.post(url, content=body, headers=AUTH).status_code == 400, body
        for condition, param in (("busy", "0612000002"), ("unavailable", "a@example.com")):
            assert (
                client.post(
                    change,
                    json={
                        "apiKey": tenant.key,
                        "number": "+33757000002",
                        "condition": condition,
                        "type": 1 if condition == "busy" else 2,
                        "param": param,
                    },
                ).status_code
                == 200
            )
        assert client.get(f"{ROUTE}?call_id=c1", headers=AUTH).json()["action"] == "forward"
        unavailable = client.get("/internal/v1/route/+33757000002?call_id=c2", headers=AUTH).json()
        assert (unavailable["action"], unavailable["uri"]) == (
            "voicemail",
            "sip:+33757000002@127.0.0.1:5070",
        )
        reports = "divert busy sip:+33612000002@127.0.0.1:5080 c1\n200 c1\nend c1\n"
        assert client.post(url, content=reports, headers=AUTH).json() == {"reports": 3}
    (first,) = calls.list_calls(database, "+33757000001")
    assert (first.status, first.diverted, first.diverted_to) == (
        200,
        "busy",
        "sip:+33612000002@127.0.0.1:5080",
    )
    (second,) = calls.list_calls(database, "+33757000002")
    assert (second.action, second.diverted, second.diverted_to) == (
        "voicemail",
        "unavailable",
        "sip:+33757000002@127.0.0.1:5070",
    )


def test_a_call_routed_by_kamailio_is_recorded_from_its_start_report(
    database_url: str, database: Database, tenant: Tenant
) -> None:
    """``route <E.164> <action> <status> <condition|-> <URI|-> =<caller> <Call-ID>``: the
    caller as Kamailio URL-encodes it; one that holds NUL is recorded as unknown, and
    refuses nothing (a caller is anyone's to write)."""
    settings = Settings(database_url=database_url, route_token=TOKEN)
    url = "/internal/v1/calls/reports"
    with internal_client(settings, database) as client:
        for body in (
            "route +33757000001 ring 0 - - = c1",  # no such action
            "route +33757000001 forward x - - = c1",  # no status
            "route +33757000001 forward 0 Busy - = c1",  # no such condition
            "route +33757000001 forward 0 - - +3314 c1",  # the caller without its '='
            "route +33757000001 forward 0 - - =",  # no Call-ID
        ):
            assert client.post(url, content=body, headers=AUTH).status_code == 400, body
        reports = (
            "route +33757000001 forward 0 - sip:+33612345678@127.0.0.1:5080 =%2b3314 c1\n"
            "route +33757000001 reject 480 - - =%00evil c2\n"
            "route +33757000002 voicemail 0 unavailable sip:+33757000002@vm = c3 with a space\n"
            "603 c1\n"
        )
        assert client.post(url, content=reports, headers=AUTH).json() == {"reports": 4}
    recorded = {
        r.call_id: (r.action, r.status, r.caller, r.destination, r.diverted)
        for number in ("+33757000001", "+33757000002")
        for r in calls.list_calls(database, number)
    }
    assert recorded == {
        "c1": ("forward", 603, "+3314", "sip:+33612345678@127.0.0.1:5080", None),
        "c2": ("reject", 480, None, None, None),
        "c3 with a space": ("voicemail", None, None, "sip:+33757000002@vm", "unavailable"),
    }
