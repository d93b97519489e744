"""How bodies are read: JSON, forms, content types, size, XML answers, errors outside the table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.harness import Tenant

URL = "/v1/vn/callforward"
A = "+33757000001"


def code(response: Any) -> tuple[int, int]:
    return response.status_code, response.json()["code"]


def test_form_body(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        URL,
        data={
            "apiKey": tenant.key,
            "number": "07 57 00 00 01",
            "type": "1",
            "param": "+33612345678",
        },
    )
    assert code(response) == (200, 1)


def test_form_with_raw_plus_reads_as_international_digits(
    client: TestClient, tenant: Tenant
) -> None:
    """A form client that forgets to encode '+' sends a space: still the same number."""
    body = f"apiKey={tenant.key}&number=+33757000001&type=1&param=+33612345678"
    response = client.post(
        URL, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert code(response) == (200, 1)


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("application/x-www-form-urlencoded", id="curl-default-form-type"),
        pytest.param("text/plain", id="text-plain"),
        pytest.param("application/json; charset=utf-8", id="json-charset"),
        pytest.param("application/vnd.api+json", id="plus-json"),
        pytest.param(None, id="no-type"),
    ],
)
def test_json_object_is_read_as_json_whatever_its_type(
    client: TestClient, tenant: Tenant, content_type: str | None
) -> None:
    body = json.dumps({"apiKey": tenant.key, "number": A, "type": 1, "param": "+33612345678"})
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(URL, content=body.encode(), headers=headers)
    assert code(response) == (200, 1)


def test_json_in_latin1_charset(client: TestClient, tenant: Tenant) -> None:
    body = json.dumps(
        {"apiKey": tenant.key, "number": A, "type": 2, "param": "élodie@exemple.fr"},
        ensure_ascii=False,
    )
    response = client.post(
        URL,
        content=body.encode("latin-1"),
        headers={"Content-Type": "application/json; charset=ISO-8859-1"},
    )
    assert code(response) == (200, 3)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        pytest.param(b"{", "application/json", 400, "Body is not valid JSON", id="truncated"),
        pytest.param(b'{"type": NaN}', "application/json", 400, "Body is not valid JSON", id="nan"),
        pytest.param(
            b'{"type": 1} x', "application/json", 400, "Body is not valid JSON", id="garbage"
        ),
        pytest.param(b"", "application/json", 400, "Body is not valid JSON", id="empty-json"),
        pytest.param(b"[1, 2]", "application/json", 400, "Body must be a JSON object", id="array"),
        pytest.param(b'"text"', "application/json", 400, "Body must be a JSON object", id="string"),
        pytest.param(
            b"a=1&b",
            "application/x-www-form-urlencoded",
            400,
            "Body is not a valid form",
            id="bad-form",
        ),
        pytest.param(
            b"a=%C3%28",
            "application/x-www-form-urlencoded",
            400,
            "Body is not a valid form",
            id="bad-utf8",
        ),
        pytest.param(b"[1]", None, 400, "Body is not a valid form", id="no-type-array"),
        pytest.param(
            b"hello", "text/plain", 415, "Unsupported Content-Type: send JSON or a form", id="text"
        ),
        pytest.param(
            b"--x\r\n",
            "multipart/form-data; boundary=x",
            415,
            "Unsupported Content-Type: send JSON or a form",
            id="multipart",
        ),
    ],
)
def test_malformed_bodies_are_code_4(
    client: TestClient, body: bytes, content_type: str | None, status: int, message: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(URL, content=body, headers=headers)
    assert response.json() == {"success": False, "code": 4, "message": message}
    assert response.status_code == status


def test_empty_form_is_a_missing_key(client: TestClient) -> None:
    response = client.post(
        URL, content=b"", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert code(response) == (401, 10)


def _padded(tenant: Tenant, size: int) -> bytes:
    body = json.dumps({"apiKey": tenant.key, "number": A, "type": 0, "pad": ""})
    body = body.replace('"pad": ""', '"pad": "' + "x" * (size - len(body)) + '"')
    assert len(body) == size
    return body.encode()


def test_body_of_exactly_65536_bytes_is_accepted(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        URL, content=_padded(tenant, 65_536), headers={"Content-Type": "application/json"}
    )
    assert code(response) == (409, 18)


def test_body_of_65537_bytes_is_413(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        URL, content=_padded(tenant, 65_537), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "success": False,
        "code": 4,
        "message": "Body is larger than 65536 bytes",
    }


def test_streamed_body_over_the_limit_is_413(client: TestClient) -> None:
    """No Content-Length (chunked): refused while streaming, not after reading it whole."""

    def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 8192

    response = client.post(URL, content=chunks(), headers={"Content-Type": "application/json"})
    assert code(response) == (413, 4)


def test_unknown_path_and_wrong_method(client: TestClient) -> None:
    response = client.get("/v1/vn/nothing")
    assert response.json() == {"success": False, "code": 4, "message": "Not found"}
    assert response.status_code == 404
    response = client.put(URL)
    assert response.json() == {"success": False, "code": 4, "message": "Method not allowed"}
    assert response.status_code == 405


def test_xml_answer_from_body(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        URL, json={"apiKey": tenant.key, "number": A, "type": 0, "param": "", "_format": "xml"}
    )
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text == (
        "<?xml version='1.0' encoding='UTF-8'?>\n<result>\n  <entry>false</entry>\n"
        "  <entry>18</entry>\n  <entry><![CDATA[Callforward already disabled]]></entry>\n"
        "</result>\n"
    )


def test_xml_success_matches_the_contract(client: TestClient, tenant: Tenant) -> None:
    client.post(URL, json={"apiKey": tenant.key, "number": A, "type": 1, "param": "+33612345678"})
    response = client.post(
        URL, data={"apiKey": tenant.key, "number": A, "type": "0", "_format": "XML"}
    )
    assert response.text == (
        "<?xml version='1.0' encoding='UTF-8'?>\n<result>\n  <entry>true</entry>\n"
        "  <entry>2</entry>\n  <entry><![CDATA[Callforward disabled]]></entry>\n</result>\n"
    )


def test_format_from_query_string_and_body_wins(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        URL + "?_format=xml", json={"apiKey": tenant.key, "number": A, "type": 0}
    )
    assert response.text.startswith("<?xml")
    response = client.post(
        URL + "?_format=xml", json={"apiKey": tenant.key, "number": A, "type": 0, "_format": "json"}
    )
    assert response.json()["code"] == 18
    # Errors found before the body is read follow the query string.
    response = client.post(
        URL + "?_format=xml", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert "<entry>4</entry>" in response.text


def test_error_bodies_are_never_html(client: TestClient) -> None:
    for response in (client.get("/"), client.delete(URL), client.post("/admin/v1/accounts")):
        assert response.headers["content-type"] == "application/json"
        assert response.json()["success"] is False


def test_security_headers_and_request_id(client: TestClient) -> None:
    response = client.post(URL, json={}, headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    forged = client.post(URL, json={}, headers={"X-Request-ID": "a\tb"})
    assert forged.headers["x-request-id"] != "a\tb"
