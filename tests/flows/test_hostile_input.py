"""Whatever a client sends, every endpoint answers with a clear error, never a 5xx or a trace.

Generated requests (hypothesis, derandomised so CI sees the same examples every run) against
the whole app with its lifespan: OAuth endpoints answer RFC 6749 §5.2 JSON, the browser flow a
page, /authenticate one of 200/401/403, discovery 200/421. Oversized bodies (announced by
Content-Length or chunked) and deeply nested JSON get each endpoint's usual 4xx, and no request
makes the service log a traceback (``tests/integration/test_oversized_bodies.py`` measures the
memory an oversized body costs the running service).
"""

from __future__ import annotations

import base64
import json
import logging
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from mcp_gatekeeper.main import create_app
from tests.support import FakeClock, key_pool, make_config, mint

A = "a.example.test"
REDIRECT_URI = "http://127.0.0.1:3030/callback"
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Text a hostile client would try: control characters, non-BMP, separators, long runs.
SPECIAL = ["", " ", "\x00", "%", "%zz", "a" * 5000, "../..", "é", "S256", "plain", "approve"]
WORDS = ["code", "authorization_code", "refresh_token", "https://a.example.test/mcp", REDIRECT_URI]
text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80
) | st.sampled_from(SPECIAL + WORDS)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)
FORM_KEYS = [
    "grant_type", "code", "code_verifier", "redirect_uri", "client_id", "client_secret",
    "refresh_token", "resource", "scope", "token", "token_type_hint", "request", "csrf",
    "decision", "state", "response_type", "code_challenge", "code_challenge_method",
]  # fmt: skip
fields = st.dictionaries(
    st.sampled_from(FORM_KEYS) | st.text(string.ascii_letters, max_size=8), text, max_size=8
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
registration = st.fixed_dictionaries(
    {},
    optional={
        "redirect_uris": json_values | st.lists(text, max_size=3),
        "token_endpoint_auth_method": json_values | st.sampled_from(["none", "private_key_jwt"]),
        "grant_types": json_values,
        "client_name": json_values,
        "scope": json_values,
        "application_type": json_values,
    },
)  # fmt: skip


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The app, and a real client registered before any test can use up the registration rate
    limit, so generated requests also reach the checks behind client identification."""
    app = create_app(make_config(), clock=FakeClock(), generate_key=key_pool())
    with TestClient(app, base_url=f"https://{A}", raise_server_exceptions=False) as test_client:
        response = test_client.post(
            "/register",
            json={
                "redirect_uris": [REDIRECT_URI],
                "token_endpoint_auth_method": "client_secret_basic",
            },
            headers={"host": A},
        )
        assert response.status_code == 201, response.text
        yield test_client, response.json()


class Tracebacks(logging.Handler):
    """Every log record that carries an exception or a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or "Traceback" in record.getMessage():
            self.records.append(record)


@pytest.fixture(autouse=True)
def no_traceback_logged() -> Iterator[None]:
    """Whatever a client sends, the service logs no traceback (it did for deep JSON)."""
    handler = Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    assert not handler.records, [f"{r.name}: {r.getMessage()}" for r in handler.records]


@pytest.fixture(scope="module")
def client(world: tuple[TestClient, dict[str, str]]) -> TestClient:
    return world[0]


@pytest.fixture(scope="module")
def registered(world: tuple[TestClient, dict[str, str]]) -> dict[str, str]:
    return world[1]


def known_client(form: dict[str, str], registered: dict[str, str], use: bool) -> dict[str, str]:
    if use:
        return form | {"client_id": registered["client_id"], "redirect_uri": REDIRECT_URI}
    return form


def assert_oauth_error(response: Any, allowed: set[int]) -> None:
    assert response.status_code in allowed, (response.status_code, response.text[:500])
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body["error"], str) and isinstance(body["error_description"], str)


def assert_page(response: Any, allowed: set[int]) -> None:
    assert response.status_code in allowed, (response.status_code, response.text[:500])
    assert "Traceback" not in response.text


@FUZZ
@given(form=fields, basic=st.none() | header_text, authenticated=st.booleans())
def test_token_endpoint(
    client: TestClient,
    registered: dict[str, str],
    form: dict[str, str],
    basic: str | None,
    authenticated: bool,
) -> None:
    headers = {"host": A} | ({"authorization": f"Basic {basic}"} if basic is not None else {})
    if authenticated:
        credentials = f"{registered['client_id']}:{registered['client_secret']}"
        headers["authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    response = client.post("/token", data=form, headers=headers)
    assert_oauth_error(response, {400, 401})


@FUZZ
@given(form=fields)
def test_revocation_endpoint(client: TestClient, form: dict[str, str]) -> None:
    assert_oauth_error(client.post("/revoke", data=form, headers={"host": A}), {200, 400, 401})


@FUZZ
@given(body=registration | json_values, raw=st.booleans())
def test_registration_endpoint(client: TestClient, body: Any, raw: bool) -> None:
    content = json.dumps(body)[:-1] if raw else json.dumps(body)  # raw: truncated JSON
    response = client.post(
        "/register", content=content, headers={"host": A, "content-type": "application/json"}
    )
    assert_oauth_error(response, {201, 400, 429})


@FUZZ
@given(query=fields, browser=st.booleans(), known=st.booleans())
def test_authorization_endpoint(
    client: TestClient,
    registered: dict[str, str],
    query: dict[str, str],
    browser: bool,
    known: bool,
) -> None:
    query = known_client(query, registered, known)
    accept = {"accept": "text/html"} if browser else {}
    response = client.get(
        "/authorize", params=query, headers={"host": A} | accept, follow_redirects=False
    )
    assert_page(response, {200, 303, 400})


@FUZZ
@given(query=fields, form=fields)
def test_browser_flow_endpoints(
    client: TestClient, query: dict[str, str], form: dict[str, str]
) -> None:
    for response in (
        client.get("/callback", params=query, headers={"host": A}, follow_redirects=False),
        client.get("/consent", params=query, headers={"host": A}, follow_redirects=False),
        client.post("/consent", data=form, headers={"host": A}, follow_redirects=False),
    ):
        assert_page(response, {400, 403})


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    path=st.text(string.ascii_letters + "/%.-_~", max_size=40),
    headers=st.dictionaries(
        st.sampled_from([
            "authorization", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-uri",
            "x-original-url", "mcp-method", "mcp-name", "content-type", "x-auth-request-user",
        ]),
        header_text,
        max_size=6,
    ),
    body=st.binary(max_size=300),
)  # fmt: skip
def test_authenticate(
    client: TestClient, method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    response = client.request(
        method, "/authenticate/" + path.lstrip("/"), headers={"host": A} | headers, content=body
    )
    assert response.status_code in {200, 401, 403}, (response.status_code, response.text[:300])


@FUZZ
@given(host=header_text, suffix=st.text(string.ascii_letters + "/%.-", max_size=30))
def test_discovery(client: TestClient, host: str, suffix: str) -> None:
    for path in (
        "/.well-known/oauth-protected-resource/",
        "/.well-known/oauth-authorization-server/",
    ):
        response = client.get(path + suffix, headers={"host": host})
        assert_page(response, {200, 400, 404, 421})


#: Endpoint, content type, and what its refusal of an oversized body looks like.
BODY_ENDPOINTS = [
    ("/token", "application/x-www-form-urlencoded", "json"),
    ("/revoke", "application/x-www-form-urlencoded", "json"),
    ("/register", "application/json", "json"),
    ("/consent", "application/x-www-form-urlencoded", "page"),
]
LIMITS = {"/token": 16_384, "/revoke": 16_384, "/register": 16_384, "/consent": 65_536}
BODIES = settings(FUZZ, max_examples=24)


def _body(size: int, announced: bool) -> bytes | Iterator[bytes]:
    """``size`` bytes, with a Content-Length, or as a stream (chunked, no length)."""
    body = b"a=" + b"b" * (size - 2)
    return body if announced else iter([body])


@BODIES
@given(
    endpoint=st.sampled_from(BODY_ENDPOINTS),
    excess=st.integers(1, 3_000_000),
    announced=st.booleans(),
)
def test_oversized_bodies_are_refused(
    client: TestClient, endpoint: tuple[str, str, str], excess: int, announced: bool
) -> None:
    """One byte over the limit or megabytes: the endpoint's usual 400, saying why."""
    path, content_type, kind = endpoint
    content = _body(LIMITS[path] + excess, announced)
    response = client.post(path, content=content, headers={"host": A, "content-type": content_type})
    if kind == "json":
        assert_oauth_error(response, {400})
        assert response.json()["error"] in {"invalid_request", "invalid_client_metadata"}
    else:
        assert_page(response, {400})
    assert "too large" in response.text


@BODIES
@given(excess=st.integers(1, 3_000_000), announced=st.booleans())
def test_oversized_forwarded_bodies_are_refused(
    client: TestClient, excess: int, announced: bool
) -> None:
    """A forwarded body past the inspection limit is refused for a valid token (403), never
    judged on the part that fit."""
    token = mint(client.app, A)  # type: ignore[arg-type]
    content = _body(1_048_576 + excess, announced)
    response = client.post(
        "/authenticate",
        content=content,
        headers={"host": A, "authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert response.status_code == 403, response.text[:300]
    assert "too large" in response.json()["error_description"]


def _nested(depth: int, kind: str) -> str:
    opening, closing = {"array": ("[", "]"), "object": ('{"a":', "}")}[kind]
    return opening * depth + "1" + closing * depth


nesting = st.tuples(st.integers(65, 5000), st.sampled_from(["array", "object"]))


@BODIES
@given(nested=nesting)
def test_deep_json_registration_is_invalid_client_metadata(
    client: TestClient, nested: tuple[int, str]
) -> None:
    """Registration JSON nested past 64 levels is invalid_client_metadata (it was a 500)."""
    response = client.post(
        "/register",
        content=_nested(*nested),
        headers={"host": A, "content-type": "application/json"},
    )
    assert_oauth_error(response, {400})
    assert response.json()["error"] == "invalid_client_metadata"


@BODIES
@given(nested=nesting)
def test_deep_json_forwarded_body_is_refused(client: TestClient, nested: tuple[int, str]) -> None:
    """A forwarded JSON-RPC body nested past 64 levels: 403 for a valid token, 401 without."""
    token = mint(client.app, A)  # type: ignore[arg-type]
    body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":' + _nested(*nested) + "}"
    for authorization, status in ((f"Bearer {token}", 403), (None, 401)):
        headers = {"host": A, "content-type": "application/json"}
        if authorization:
            headers["authorization"] = authorization
        response = client.post("/authenticate", content=body, headers=headers)
        assert response.status_code == status, response.text[:300]


@BODIES
@given(nested=nesting)
def test_deep_json_token_header_is_an_invalid_token(
    client: TestClient, nested: tuple[int, str]
) -> None:
    """A bearer token whose JOSE header nests deep is just an invalid token (401)."""
    header = base64.urlsafe_b64encode(_nested(*nested).encode()).rstrip(b"=").decode()
    response = client.get(
        "/authenticate", headers={"host": A, "authorization": f"Bearer {header}.e30.c2ln"}
    )
    assert response.status_code == 401, response.text[:300]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
