"""/authenticate in process: the decision for every header family, token state and trick."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support import FakeClock, make_config, mint, running

PRM_A = "https://a.example.test/.well-known/oauth-protected-resource/mcp"
PRM_B = "https://b.example.test/.well-known/oauth-protected-resource/mcp"
IDENTITY = (
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-groups",
    "x-auth-request-scopes",
    "x-auth-request-actor",
)

#: How each gateway family names host "a" and the original method POST.
FAMILIES: dict[str, dict[str, str]] = {
    "host": {"host": "a.example.test"},
    "x-forwarded": {
        "host": "127.0.0.1:9001",
        "x-forwarded-host": "a.example.test",
        "x-forwarded-method": "POST",
        "x-forwarded-uri": "/mcp",
    },
    "x-original-url": {
        "host": "127.0.0.1",
        "x-original-url": "http://a.example.test/mcp?session=1",
        "x-original-method": "POST",
    },
}
#: The same family's headers with every *other* family's headers claiming host "b".
SPOOFED: dict[str, dict[str, str]] = {
    "host": {
        **FAMILIES["host"],
        "x-forwarded-host": "b.example.test",
        "x-original-url": "https://b.example.test/mcp",
    },
    "x-forwarded": {
        **FAMILIES["x-forwarded"],
        "host": "b.example.test",
        "x-original-url": "https://b.example.test/mcp",
    },
    "x-original-url": {
        **FAMILIES["x-original-url"],
        "host": "b.example.test",
        "x-forwarded-host": "b.example.test",
    },
}


class Gate:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock) -> None:
        self.app, self.client, self.clock = app, client, clock

    async def ask(
        self,
        headers: dict[str, str],
        token: str | None = None,
        method: str = "GET",
        path: str = "/authenticate",
        **extra: str,
    ) -> httpx.Response:
        sent = {**headers, **extra}
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        return await self.client.request(method, path, headers=sent)


@pytest.fixture(params=list(FAMILIES), ids=list(FAMILIES))
async def gate(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Gate, str]]:
    clock = FakeClock()
    async with running(make_config(trustedHostHeaders=request.param), clock) as (app, client):
        yield Gate(app, client, clock), request.param


async def test_no_token_gets_the_discovery_challenge(gate: tuple[Gate, str]) -> None:
    """401 with resource_metadata and the host's scopes, readable by browser clients."""
    g, family = gate
    response = await g.ask(FAMILIES[family])
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{PRM_A}", scope="read"'
    )
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-expose-headers"] == "WWW-Authenticate"
    assert response.json()["error"] == "unauthorized"


async def test_valid_token_passes_with_every_identity_header(gate: tuple[Gate, str]) -> None:
    """Exactly 200 (Envoy accepts nothing else) and every identity header (no actor: empty)."""
    g, family = gate
    response = await g.ask(
        FAMILIES[family], mint(g.app, "a.example.test", scopes=("read", "write"))
    )
    assert response.status_code == 200
    assert [response.headers[name] for name in IDENTITY] == [
        "alice",
        "alice@example.test",
        "eng,ops",
        "read write",
        "",
    ]
    assert response.content == b""
    # Envoy never shows us client headers; it is told to drop their underscore look-alikes.
    assert response.headers["x-envoy-auth-headers-to-remove"] == (
        "x_auth_request_user,x_auth_request_email,x_auth_request_groups,x_auth_request_scopes,"
        "x_auth_request_actor"
    )


async def test_token_for_another_host_never_passes_even_with_spoofed_headers(
    gate: tuple[Gate, str],
) -> None:
    """B's token sent to A, with every untrusted header claiming B: refused."""
    g, family = gate
    response = await g.ask(SPOOFED[family], mint(g.app, "b.example.test"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token", ')
    assert PRM_A in response.headers["www-authenticate"]


async def test_expired_token_is_invalid(gate: tuple[Gate, str]) -> None:
    """An expired token gets 401 invalid_token, so the client refreshes or re-authorizes."""
    g, family = gate
    token = mint(g.app, "a.example.test", lifetime=timedelta(minutes=5))
    g.clock.advance(301 + 30)
    response = await g.ask(FAMILIES[family], token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_unknown_or_ambiguous_host_is_forbidden(gate: tuple[Gate, str]) -> None:
    """A host that is not configured, or named twice, gets 403 and no challenge."""
    g, family = gate
    header = {
        "host": "host",
        "x-forwarded": "x-forwarded-host",
        "x-original-url": "x-original-url",
    }[family]
    value = "http://evil.example.test/mcp" if family == "x-original-url" else "evil.example.test"
    unknown = await g.ask({**FAMILIES[family], header: value}, mint(g.app, "a.example.test"))
    assert unknown.status_code == 403
    assert "www-authenticate" not in unknown.headers
    raw = [(k, v) for k, v in FAMILIES[family].items()] + [(header, FAMILIES[family][header])]
    twice = await g.client.get("/authenticate", headers=raw)
    assert twice.status_code == 403


@pytest.mark.parametrize(
    "name",
    [
        "X-Auth-Request-User",
        "X_Auth_Request_Groups",
        "x-auth-request-scopes",
        "X-Auth-Request-Actor",
        "X_Auth_Request_Actor",
    ],
)
async def test_client_sent_identity_headers_are_refused(gate: tuple[Gate, str], name: str) -> None:
    """A request carrying an identity header (or its underscore alias) is refused with 403."""
    g, family = gate
    response = await g.ask(FAMILIES[family], mint(g.app, "a.example.test"), **{name: "mallory"})
    assert response.status_code == 403


async def test_redirect_header_of_ingress_nginx_is_not_an_identity_header(
    gate: tuple[Gate, str],
) -> None:
    """ingress-nginx sets X-Auth-Request-Redirect itself; it must not trip the spoofing check."""
    g, family = gate
    response = await g.ask(
        FAMILIES[family], mint(g.app, "a.example.test"), **{"x-auth-request-redirect": "/mcp"}
    )
    assert response.status_code == 200


async def test_every_method_and_subpath_is_answered(gate: tuple[Gate, str]) -> None:
    """Envoy-family gateways send the original method to /authenticate/<original path>."""
    g, family = gate
    token = mint(g.app, "a.example.test")
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        for path in ("/authenticate", "/authenticate/mcp", "/authenticate/mcp/x?session=abc"):
            response = await g.ask(FAMILIES[family], token, method=method, path=path)
            assert response.status_code == 200, (method, path)


async def test_token_in_query_string_is_never_accepted(gate: tuple[Gate, str]) -> None:
    """RFC 6750 §2.3 style query tokens are ignored: only the Authorization header counts."""
    g, family = gate
    token = mint(g.app, "a.example.test")
    response = await g.ask(FAMILIES[family], path=f"/authenticate?access_token={token}")
    assert response.status_code == 401
    assert "error=" not in response.headers["www-authenticate"]


async def test_cors_preflight_without_credentials_is_let_through(gate: tuple[Gate, str]) -> None:
    """An OPTIONS preflight (no Authorization) passes with all identity headers empty."""
    g, family = gate
    headers = {**FAMILIES[family]}
    if family == "host":
        response = await g.ask(headers, method="OPTIONS")
    else:
        method_header = "x-forwarded-method" if family == "x-forwarded" else "x-original-method"
        response = await g.ask({**headers, method_header: "OPTIONS"})
    assert response.status_code == 200
    assert [response.headers[name] for name in IDENTITY] == [""] * len(IDENTITY)
    refused = await g.ask(FAMILIES["host"], token="bad", method="OPTIONS")
    assert refused.status_code in (401, 403)


@pytest.mark.parametrize(
    ("authorization", "status", "error"),
    [
        ("Basic YWxpY2U6cw==", 401, False),
        ("Bearer", 401, False),
        ("Bearer    ", 401, False),
        ("Bearer not.a.jwt", 401, True),
        ("Bearer \u00e9t\u00e9", 401, False),
    ],
    ids=["basic", "bearer-no-token", "bearer-spaces", "garbage", "non-ascii"],
)
async def test_malformed_authorization_headers(
    gate: tuple[Gate, str], authorization: str, status: int, error: bool
) -> None:
    """Anything but a bearer token is a plain challenge; a bad bearer token is invalid_token."""
    g, family = gate
    response = await g.client.get(
        "/authenticate",
        headers=[
            *((k.encode(), v.encode()) for k, v in FAMILIES[family].items()),
            (b"authorization", authorization.encode("utf-8")),
        ],
    )
    assert response.status_code == status
    assert ('error="invalid_token"' in response.headers["www-authenticate"]) is error


async def test_lower_case_bearer_scheme_is_accepted(gate: tuple[Gate, str]) -> None:
    """The auth scheme is case-insensitive (RFC 7235 §2.1)."""
    g, family = gate
    token = mint(g.app, "a.example.test")
    response = await g.client.get(
        "/authenticate", headers={**FAMILIES[family], "authorization": f"bearer {token}"}
    )
    assert response.status_code == 200


async def test_host_without_scopes_has_no_scope_parameter() -> None:
    """scope= appears only when the host declares scopes (never offline_access)."""
    async with running(make_config()) as (_app, client):
        response = await client.get("/authenticate", headers={"host": "b.example.test"})
    assert response.headers["www-authenticate"] == f'Bearer resource_metadata="{PRM_B}"'


async def test_identity_headers_can_be_renamed_and_spoof_check_follows() -> None:
    """Custom names are used on 200 and guarded against client copies."""
    names = {"user": "X-User", "email": "X-Email", "groups": "X-Groups", "scopes": "X-Scopes"}
    async with running(make_config(identityHeaders=names)) as (app, client):
        token = mint(app, "a.example.test")
        ok = await client.get(
            "/authenticate", headers={"host": "a.example.test", "authorization": f"Bearer {token}"}
        )
        spoof = await client.get(
            "/authenticate",
            headers={"host": "a.example.test", "x-user": "m", "authorization": f"Bearer {token}"},
        )
    assert ok.headers["x-user"] == "alice" and "x-auth-request-user" not in ok.headers
    assert spoof.status_code == 403


async def test_spoof_check_can_be_disabled() -> None:
    """With rejectClientIdentityHeaders false the request is decided on the token alone."""
    async with running(make_config(rejectClientIdentityHeaders=False)) as (app, client):
        token = mint(app, "a.example.test")
        response = await client.get(
            "/authenticate",
            headers={
                "host": "a.example.test",
                "authorization": f"Bearer {token}",
                "x-auth-request-user": "m",
            },
        )
    assert response.status_code == 200 and response.headers["x-auth-request-user"] == "alice"


async def test_identity_headers_are_bounded_and_clean() -> None:
    """Huge group lists are cut at an entry boundary; commas and control characters never leak."""
    groups: Any = (*(f"group-{index:04d}" for index in range(300)), "a,b", "x\r\ny")
    async with running(make_config()) as (app, client):
        token = mint(
            app, "a.example.test", groups=groups, subject="bob\u0000", email="bob@example.test"
        )
        response = await client.get(
            "/authenticate", headers={"host": "a.example.test", "authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200
    listed = response.headers["x-auth-request-groups"].split(",")
    assert listed[0] == "group-0000" and all(item.startswith("group-") for item in listed)
    assert len(response.headers["x-auth-request-groups"]) <= 1536
    assert response.headers["x-auth-request-user"] == "bob"
    total = sum(len(k) + len(v) + 4 for k, v in response.headers.raw)
    assert total < 3500, "must fit nginx's 4k proxy_buffer_size with room for the status line"


async def test_decisions_are_counted_per_host_and_result(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Prometheus shows allowed and denied decisions with bounded labels; the log names the
    unknown host that was seen, cut short."""
    caplog.set_level(logging.INFO, logger="mcp_gatekeeper.audit")
    async with running(make_config()) as (app, client):
        token = mint(app, "a.example.test")
        await client.get(
            "/authenticate", headers={"host": "a.example.test", "authorization": f"Bearer {token}"}
        )
        await client.get(
            "/authenticate", headers={"host": "a.example.test", "authorization": "Bearer x"}
        )
        await client.get("/authenticate", headers={"host": "nope.example.test"})
        await client.get("/authenticate", headers={"host": "x" * 5000})
        text = (await client.get("/metrics")).text
    seen = [
        r.__dict__["seen_host"]
        for r in caplog.records
        if r.__dict__.get("result") == "unknown_host"
    ]
    assert seen == ["nope.example.test", "x" * 200]
    assert 'mcp_gatekeeper_auth_decisions_total{host="a.example.test",result="allowed"} 1.0' in text
    assert (
        'mcp_gatekeeper_auth_decisions_total{host="a.example.test",result="invalid_token"} 1.0'
        in text
    )
    assert 'mcp_gatekeeper_auth_decisions_total{host="unknown",result="unknown_host"} 2.0' in text
    assert 'route="/authenticate"' in text


async def test_a_list_in_x_original_url_is_refused() -> None:
    """One URL names the host; a list (which one would a parser pick?) names none."""
    async with running(make_config(trustedHostHeaders="x-original-url")) as (app, client):
        token = mint(app, "a.example.test")
        listed = "https://a.example.test/mcp, https://b.example.test/mcp"
        response = await client.get(
            "/authenticate",
            headers={"x-original-url": listed, "authorization": f"Bearer {token}"},
        )
    assert response.status_code == 403


async def test_query_family_reads_the_routed_host_raw_and_alone() -> None:
    """``auth-url: …/authenticate?host=$host&end=1``: exactly one raw host name, port aside;
    encoded, repeated, cut or extended values (and the client's Host or X-Original-URL) decide
    nothing. A Host of "a.example.test&x" or "a.example.test#x" reaches nginx's catch-all
    server, never a's, so it must not count as a."""
    async with running(make_config(trustedHostHeaders="query")) as (app, client):
        token = mint(app, "a.example.test")
        auth = {"authorization": f"Bearer {token}", "x-original-url": "https://b.example.test/"}

        async def ask(query: str) -> int:
            response = await client.get(f"/authenticate?{query}", headers=auth)
            return response.status_code

        assert await ask("host=a.example.test&end=1") == 200
        assert await ask("host=b.example.test&end=1") == 401  # a's token on b
        assert await ask("host=%61.example.test&end=1") == 403  # never percent-decoded
        assert await ask("host=a.example.test&host=b.example.test&end=1") == 403
        assert await ask("host=a.example.test&x&end=1") == 403  # Host: a.example.test&x
        assert await ask("host=a.example.test") == 403  # Host: a.example.test#x, cut
        assert await ask("host=a.example.test:8443&end=1") == 403  # $host has no port
        assert await ask("") == 403


async def test_without_a_stated_method_a_request_is_not_a_preflight() -> None:
    """Plain nginx that does not set X-Original-Method asks with GET: that GET is nginx's, not
    the client's, so it is no preflight (no token, no 200) and may call a tool."""
    async with running(make_config(trustedHostHeaders="x-original-url")) as (app, client):
        url = {"x-original-url": "https://a.example.test/mcp"}
        unstated = await client.get("/authenticate", headers=url)
        write = await client.get(
            "/authenticate",
            headers={**url, "authorization": f"Bearer {mint(app, 'a.example.test', scopes=())}"},
        )
    assert unstated.status_code == 401
    assert write.status_code == 403 and 'scope="read"' in write.headers["www-authenticate"]


async def test_an_mcp_client_gets_its_refusal_as_a_json_rpc_error() -> None:
    """A caller that accepts text/event-stream (an MCP streamable-HTTP client) gets the
    description as a JSON-RPC error message, which MCP SDKs show; the OAuth fields stay in its
    data and in WWW-Authenticate. Other callers get the OAuth JSON."""
    async with running(make_config()) as (_app, client):
        host = {"host": "a.example.test"}
        mcp = await client.post(
            "/authenticate/mcp",
            headers={**host, "accept": "application/json, text/event-stream"},
        )
        plain = await client.post("/authenticate/mcp", headers=host)
    assert mcp.status_code == plain.status_code == 401
    assert mcp.headers["www-authenticate"] == plain.headers["www-authenticate"]
    body = mcp.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert body["error"]["message"] == plain.json()["error_description"]
    assert body["error"]["data"] == plain.json()
    assert "Sign-in required" in body["error"]["message"]
