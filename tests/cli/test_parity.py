"""The ``renvoi`` command and the admin API offer one set of operations
(integrations.md): a command added to one without the other fails here."""

from __future__ import annotations

from fastapi.routing import APIRoute

from renvoi.api.admin import router
from tests.cli.test_smoke import command_paths

# Each operator command and the admin API's routes that do the same.
TWINS: dict[str, set[str]] = {
    "account create": {"POST /admin/v1/accounts"},
    "account list": {"GET /admin/v1/accounts"},
    "account countries": {
        "GET /admin/v1/accounts/{account_id}/countries",
        "PUT /admin/v1/accounts/{account_id}/countries",
    },
    "account audio": {
        "PUT /admin/v1/accounts/{account_id}/audio",
        "DELETE /admin/v1/accounts/{account_id}/audio",
    },
    "account webhook": {
        "PUT /admin/v1/accounts/{account_id}/webhook",
        "DELETE /admin/v1/accounts/{account_id}/webhook",
    },
    "key create": {"POST /admin/v1/accounts/{account_id}/keys"},
    "key list": {"GET /admin/v1/accounts/{account_id}/keys"},
    "key revoke": {"POST /admin/v1/keys/{key_id}/revoke"},
    "key rotate": {"POST /admin/v1/keys/{key_id}/rotate"},
    "number add": {"POST /admin/v1/numbers"},
    "number list": {"GET /admin/v1/numbers"},
    "number show": {"GET /admin/v1/numbers/{number}"},
    "number suspend": {"POST /admin/v1/numbers/{number}/suspend"},
    "number resume": {"POST /admin/v1/numbers/{number}/resume"},
    "number remove": {"DELETE /admin/v1/numbers/{number}"},
    "number history": {"GET /admin/v1/numbers/{number}/history"},
    "number route": {
        "PUT /admin/v1/numbers/{number}/route",
        "DELETE /admin/v1/numbers/{number}/route",
    },
    "number calls": {"GET /admin/v1/numbers/{number}/calls"},
}
# What runs on the node itself, with no HTTP twin: a remote caller has no use for them.
LOCAL = {"db upgrade", "serve", "voicemail serve", "kamailio config", "kamailio sync"}


def test_every_operator_command_has_its_admin_routes_and_back() -> None:
    assert {" ".join(path) for path in command_paths()} - LOCAL == set(TWINS)
    routes = {
        f"{method} {route.path}"
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert routes == set().union(*TWINS.values())
