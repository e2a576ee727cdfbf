"""Each real gateway of the harness, in front of a tiny stub auth service and the echo upstream.

This proves the launchers and pins the gateway behaviour the real service relies on, notably
which shape of a 200 auth response keeps client-sent identity headers away from the upstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.integration.harness import (
    GATEWAY_NAMES,
    IDENTITY_HEADERS,
    Gateway,
    echo_upstream,
    run_gateway,
)
from tests.integration.harness.configs import routed_to_service
from tests.integration.harness.upstream import (
    QuietHandler,
    read_request_body,
    send_json,
    serve_in_thread,
    server_port,
)

pytestmark = pytest.mark.gateway

HOST = "a.example.test"
OTHER_HOST = "b.example.test"
CHALLENGE = 'Bearer resource_metadata="http://x/.well-known/oauth-protected-resource"'
STEP_UP = 'Bearer error="insufficient_scope", scope="admin"'
USER, EMAIL, GROUPS, SCOPES, _ACTOR = IDENTITY_HEADERS
GOOD = [(USER, "alice"), (EMAIL, "alice@example.test"), (GROUPS, "g1,g2"), (SCOPES, "read write")]
# Envoy only ever removes request headers named here; other gateways ignore it.
ENVOY_REMOVE = ("x-envoy-auth-headers-to-remove", f"{GROUPS.lower()},{SCOPES.lower()}")
# 200 responses by token: which identity headers the stub returns for groups and scopes.
ALLOW_SHAPES: dict[str, list[tuple[str, str]]] = {
    "good": GOOD,
    "empty": [*GOOD[:2], (GROUPS, ""), (SCOPES, "")],
    "empty-remove": [*GOOD[:2], (GROUPS, ""), (SCOPES, ""), ENVOY_REMOVE],
    "omit": GOOD[:2],
    "omit-remove": [*GOOD[:2], ENVOY_REMOVE],
}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    host: str
    client_port: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Stack:
    gateway: Gateway
    client: httpx.Client
    auth_port: int
    seen: list[Seen]


def make_stub_auth(seen: list[Seen]) -> type[QuietHandler]:
    class StubAuth(QuietHandler):
        def answer(self) -> None:
            read_request_body(self)
            host = self.headers.get("Host", "")
            seen.append(Seen(self.command, self.path, host, self.client_address[1]))
            if routed_to_service(self.path):
                send_json(self, 200, {"host": self.headers.get("Host"), "path": self.path})
                return
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if token in ALLOW_SHAPES:
                # No body on 200: nginx and Caddy never read it and so close the connection
                # after every check when there is one (see the keep-alive test).
                self.send_response(200)
                for name, value in [*ALLOW_SHAPES[token], ("Content-Length", "0")]:
                    self.send_header(name, value)
                self.end_headers()
            elif token == "lowscope":
                send_json(
                    self, 403, {"error": "insufficient_scope"}, [("WWW-Authenticate", STEP_UP)]
                )
            else:
                send_json(self, 401, {"error": "invalid_token"}, [("WWW-Authenticate", CHALLENGE)])

    return StubAuth


@pytest.fixture(scope="module", params=GATEWAY_NAMES)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    seen: list[Seen] = []
    workdir = tmp_path_factory.mktemp("gateways")
    with (
        serve_in_thread(make_stub_auth(seen)) as auth,
        echo_upstream() as upstream,
        run_gateway(
            request.param,
            auth_port=server_port(auth),
            upstream_port=upstream.port,
            hosts=[HOST, OTHER_HOST],
            workdir=workdir,
        ) as gateway,
        httpx.Client(base_url=gateway.url, trust_env=False, timeout=10) as client,
    ):
        yield Stack(gateway, client, server_port(auth), seen)


def _upstream_headers(stack: Stack, resp: httpx.Response) -> list[tuple[str, str]]:
    assert resp.status_code == 200, (
        f"{resp.status_code} {resp.text}\n{stack.gateway.proc.log_tail()}"
    )
    body: dict[str, Any] = resp.json()
    return [(name.lower(), value) for name, value in body["headers"]]


def _values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key == name.lower()]


def test_no_token_gets_401_with_resource_metadata(stack: Stack) -> None:
    stack.seen.clear()
    resp = stack.client.post("/mcp?session=abc", headers={"Host": HOST}, json={"jsonrpc": "2.0"})
    assert resp.status_code == 401, stack.gateway.proc.log_tail()
    assert resp.headers.get_list("WWW-Authenticate") == [CHALLENGE]
    # What the service sees differs per gateway; the real service must accept all of these.
    expected = {
        "ingress-nginx": Seen("GET", f"/authenticate?host={HOST}&end=1", "127.0.0.1"),
        "envoy": Seen("POST", "/authenticate/mcp?session=abc", HOST),
        "traefik": Seen("GET", "/authenticate", f"127.0.0.1:{stack.auth_port}"),
        "caddy": Seen("GET", "/authenticate", HOST),
    }[stack.gateway.name]
    assert stack.seen == [expected]


def test_403_keeps_www_authenticate(stack: Stack) -> None:
    resp = stack.client.get("/mcp", headers={"Host": HOST, "Authorization": "Bearer lowscope"})
    assert resp.status_code == 403
    assert resp.headers.get_list("WWW-Authenticate") == [STEP_UP]


def test_identity_headers_replace_client_copies(stack: Stack) -> None:
    resp = stack.client.post(
        "/mcp?session=abc",
        headers=[
            ("Host", HOST),
            ("Authorization", "Bearer good"),
            (USER, "mallory"),
            (USER, "mallory"),
            (GROUPS, "mallory"),
        ],
        content=b'{"jsonrpc":"2.0"}',
    )
    headers = _upstream_headers(stack, resp)
    assert resp.json()["method"] == "POST"
    assert resp.json()["path"] == "/mcp?session=abc"
    assert resp.json()["body"] == '{"jsonrpc":"2.0"}'
    assert _values(headers, "Host") == [HOST]
    for name, value in GOOD:
        assert _values(headers, name) == [value], headers
    assert not [h for h in headers if "mallory" in h[1]], headers


# Safe shapes: every gateway keeps "mallory" away. Upstream sees the header absent or empty,
# depending on the gateway, so the MCP server must treat an empty value like a missing one.
ABSENT: list[str] = []
EMPTY = [""]
SAFE_SHAPES = {
    # token: per-gateway view of groups/scopes (ingress-nginx, envoy, traefik, caddy)
    "empty": (ABSENT, EMPTY, EMPTY, ABSENT),
    "empty-remove": (ABSENT, ABSENT, EMPTY, ABSENT),
    "omit-remove": (ABSENT, ABSENT, ABSENT, ABSENT),
}


@pytest.mark.parametrize("token", list(SAFE_SHAPES))
def test_safe_allow_shapes_never_leak_client_identity(stack: Stack, token: str) -> None:
    resp = stack.client.get(
        "/mcp",
        headers={
            "Host": HOST,
            "Authorization": f"Bearer {token}",
            GROUPS: "mallory",
            SCOPES: "mallory",
        },
    )
    headers = _upstream_headers(stack, resp)
    assert not [h for h in headers if "mallory" in h[1]], headers
    expected = SAFE_SHAPES[token][GATEWAY_NAMES.index(stack.gateway.name)]
    assert _values(headers, GROUPS) == expected, headers
    assert _values(headers, SCOPES) == expected, headers
    assert _values(headers, USER) == ["alice"]
    assert not _values(headers, ENVOY_REMOVE[0])


def test_omitted_identity_header_leaks_through_envoy(stack: Stack) -> None:
    # Why the service must never omit an identity header on 200: Envoy (and so Envoy Gateway
    # and Istio) only overrides headers the auth response carries.
    resp = stack.client.get(
        "/mcp", headers={"Host": HOST, "Authorization": "Bearer omit", GROUPS: "mallory"}
    )
    groups = _values(_upstream_headers(stack, resp), GROUPS)
    assert groups == (["mallory"] if stack.gateway.name == "envoy" else [])


@pytest.mark.parametrize(
    ("host", "path"),
    [
        (HOST, "/.well-known/oauth-protected-resource"),
        (HOST, "/.well-known/oauth-protected-resource/mcp"),
        (OTHER_HOST, "/openid/v1/jwks"),
        (OTHER_HOST, "/token"),
        (HOST, "/authorize?client_id=x"),
    ],
)
def test_discovery_paths_skip_auth_and_keep_host(stack: Stack, host: str, path: str) -> None:
    stack.seen.clear()
    resp = stack.client.get(path, headers={"Host": host})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"host": host, "path": path}
    assert [s.path for s in stack.seen] == [path]  # no /authenticate call on the way


@pytest.mark.parametrize(
    "path", ["/tokens", "/token/x", "/.well-known/oauth-protected-resources", "/openid/v1"]
)
def test_paths_near_the_service_paths_need_a_token(stack: Stack, path: str) -> None:
    """Exact paths are exact, and a prefix covers only whole path segments below it."""
    stack.seen.clear()
    resp = stack.client.get(path, headers={"Host": HOST})
    assert resp.status_code == 401, resp.text
    assert [s.path.split("?")[0].split("/")[1] for s in stack.seen] == ["authenticate"]


def test_auth_connection_is_kept_alive(stack: Stack) -> None:
    stack.seen.clear()
    for _ in range(5):
        resp = stack.client.get("/mcp", headers={"Host": HOST, "Authorization": "Bearer good"})
        assert resp.status_code == 200
    assert len(stack.seen) == 5
    assert len({s.client_port for s in stack.seen}) == 1, stack.seen
