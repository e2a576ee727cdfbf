"""Enterprise-managed authorization end to end: an enterprise IdP grants an MCP client access to
an MCP server for its user, with no browser step at mcp-gatekeeper.

The IdP is the real npm OpenID provider (``provider.mjs`` with ``ID_JAG_FILE``): the user signs
in there (the MCP client's own OIDC login), and the client exchanges the user's ID token at the
IdP (RFC 8693) for an ID-JAG signed with the IdP's own key. The client presents the ID-JAG at
mcp-gatekeeper's ``/token`` through Traefik (RFC 7523 jwt-bearer, authenticated as the client it
registered here); mcp-gatekeeper finds the IdP's keys by OpenID discovery. The Python SDK then
calls the notes server's tools with the token: per-tool scopes and host isolation hold as for an
interactive login, and so does the host's policy (allowed email domains).
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import httpx2
import jwt
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.urls import add_query
from tests.e2e.stack import HOST_A, HOST_B, gatekeeper, host_entry, notes_server, ready_line
from tests.flows.driver import pkce_pair
from tests.flows.workload_signer import ServiceAccountSigner
from tests.integration.harness import run_gateway, start_proc, trusted_host_headers
from tests.integration.harness.ports import LOOPBACK
from tests.providers.oidc_server import (
    CALLBACK,
    CLIENT_ID,
    CLIENT_SECRET,
    INSTALL_HINT,
    OIDC_DIR,
    browse_to_callback,
)

pytestmark = pytest.mark.gateway

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ID_JAG = "urn:ietf:params:oauth:token-type:id-jag"
READ, WRITE = "notes:read", "notes:write"
#: Another resource authorization server the IdP also serves (its ID-JAGs are not for us).
ELSEWHERE = "https://auth.chat.example"
#: The MCP client's credentials at the IdP, form-encoded for Basic as RFC 6749 §2.3.1 says.
AT_IDP = (quote(CLIENT_ID, safe=""), quote(CLIENT_SECRET, safe=""))


@dataclass
class Enterprise:
    port: int
    idp: str
    #: Which client id this IdP puts in ID-JAGs for each audience (provider.mjs ID_JAG_FILE).
    connections: Path
    accounts: Path
    clients: dict[str, tuple[str, str]] = field(default_factory=dict)
    id_tokens: dict[str, str] = field(default_factory=dict)

    def origin(self, host: str = HOST_A) -> str:
        return f"http://{host}:{self.port}"

    def mcp_url(self, host: str = HOST_A) -> str:
        return self.origin(host) + "/mcp"

    def register(self, name: str) -> tuple[str, str]:
        """The MCP client's registration at our authorization server (confidential)."""
        if name not in self.clients:
            body = {"redirect_uris": ["http://127.0.0.1:9/cb"], "client_name": name}
            answer = httpx.post(self.origin() + "/register", json=body, trust_env=False)
            assert answer.status_code == 201, answer.text
            self.clients[name] = (answer.json()["client_id"], answer.json()["client_secret"])
        return self.clients[name]

    def connect(self, client: tuple[str, str]) -> None:
        """The IdP administrator connects the MCP client to our authorization servers."""
        audiences = [self.origin(HOST_A), self.origin(HOST_B), ELSEWHERE]
        self.connections.write_text(json.dumps({CLIENT_ID: dict.fromkeys(audiences, client[0])}))

    async def id_token(self, user: str) -> str:
        """The user's single sign-on to the MCP client at the IdP (OIDC, PKCE)."""
        if user not in self.id_tokens:
            verifier, challenge = pkce_pair()
            query = {
                "client_id": CLIENT_ID,
                "response_type": "code",
                "scope": "openid email groups",
                "redirect_uri": CALLBACK,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "state": "s",
            }
            callback = await browse_to_callback(
                add_query(f"{self.idp}/auth", query), login_hint=user
            )
            data = {
                "grant_type": "authorization_code",
                "code": callback["code"],
                "redirect_uri": CALLBACK,
                "code_verifier": verifier,
            }
            answer = httpx.post(f"{self.idp}/token", data=data, auth=AT_IDP, trust_env=False)
            assert answer.status_code == 200, answer.text
            self.id_tokens[user] = answer.json()["id_token"]
        return self.id_tokens[user]

    async def id_jag(
        self, user: str = "alice", host: str = HOST_A, scope: str = READ, **form: str
    ) -> str:
        """Step 1: the ID token exchanged at the IdP for an ID-JAG (RFC 8693)."""
        data = {
            "grant_type": TOKEN_EXCHANGE,
            "requested_token_type": ID_JAG,
            "subject_token": await self.id_token(user),
            "subject_token_type": ID_TOKEN,
            "audience": self.origin(host),
            "resource": self.mcp_url(host),
            "scope": scope,
            **form,
        }
        answer = httpx.post(f"{self.idp}/token", data=data, auth=AT_IDP, trust_env=False)
        assert answer.status_code == 200, answer.text
        assert answer.json()["issued_token_type"] == ID_JAG
        assertion: str = answer.json()["access_token"]
        return assertion

    def redeem(
        self,
        assertion: str,
        host: str = HOST_A,
        client: tuple[str, str] | None = None,
        **form: str,
    ) -> httpx.Response:
        """Step 2: the ID-JAG presented at our /token (RFC 7523), through the gateway."""
        data = {"grant_type": JWT_BEARER, "assertion": assertion, **form}
        auth = client or self.register("AI editor")
        return httpx.post(
            self.origin(host) + "/token", data=data, auth=auth, trust_env=False, timeout=10
        )


def settings(port: int, notes_port: int, idp: str) -> dict[str, Any]:
    host_a, host_b = f"{HOST_A}:{port}", f"{HOST_B}:{port}"
    policy = {"allowedEmailDomains": [r"example\.test"]}
    return {
        "proxy": {
            "hosts": [
                {"host": host_a, **host_entry(notes_port), **policy},
                {"host": host_b, **host_entry(notes_port)},
            ],
            "trustedHostHeaders": trusted_host_headers("traefik"),
        },
        "server": {"host": LOOPBACK},
        # The IdP may grant host A only; its keys come by OpenID discovery.
        "grants": {
            "enterprise": {
                "enabled": True,
                "issuers": [{"issuer": idp, "hosts": [host_a], "subjectPrefix": "acme:"}],
            }
        },
    }


async def call(url: str, token: str, tool: str, **arguments: Any) -> Any:
    """One tool call by the Python SDK with ``token``; the structured result."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, trust_env=False, timeout=15) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return result.structured_content


def mcp_status(url: str, token: str) -> int:
    """What the gateway answers a bare MCP request with ``token`` (401: not good here)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    return httpx.post(url, json=body, headers=headers, trust_env=False, timeout=10).status_code


def refusal(response: httpx.Response, status: int = 400) -> tuple[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    return body["error"], body["error_description"]


@pytest.fixture(scope="module")
def enterprise(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Enterprise]:
    node = shutil.which("node")
    if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(f"node or tests/e2e/oidc/node_modules/oidc-provider is missing: {INSTALL_HINT}")
    workdir: Path = tmp_path_factory.mktemp("enterprise")
    connections, accounts = workdir / "id-jag.json", workdir / "accounts.json"
    connections.write_text("{}")
    accounts.write_text(json.dumps({"mallory": {"email": "mallory@evil.example", "groups": []}}))
    with ExitStack() as running:
        sock = running.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.bind((LOOPBACK, 0))
        notes_port = running.enter_context(notes_server(workdir))
        gateway = running.enter_context(
            run_gateway(
                "traefik",
                auth_port=sock.getsockname()[1],
                upstream_port=notes_port,
                hosts=[HOST_A, HOST_B],
                workdir=workdir,
            )
        )
        env = {
            "HOST": LOOPBACK,
            "PORT": "0",
            "AUTO_LOGIN": "1",
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": CLIENT_SECRET,
            "REDIRECT_URIS": CALLBACK,
            "ACCOUNTS_FILE": str(accounts),
            "ID_JAG_FILE": str(connections),
        }
        log = workdir / "idp.log"
        provider = running.enter_context(
            start_proc([node, str(OIDC_DIR / "provider.mjs")], log, env=env)
        )
        idp = ready_line(provider, log, "READY ").split()[1]
        config = Config.model_validate(settings(gateway.port, notes_port, idp))
        running.enter_context(gatekeeper(config, sock))
        found = Enterprise(gateway.port, idp, connections, accounts)
        found.connect(found.register("AI editor"))
        yield found


async def test_the_idps_grant_becomes_a_token_the_sdk_calls_tools_with(
    enterprise: Enterprise,
) -> None:
    assertion = await enterprise.id_jag()
    header = jwt.get_unverified_header(assertion)
    assert header["typ"] == "oauth-id-jag+jwt" and header["kid"] == "test-rs256"
    response = enterprise.redeem(assertion)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == READ and "refresh_token" not in body
    token = body["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    client_id = enterprise.register("AI editor")[0]
    assert (claims["sub"], claims["email"], claims["client_id"]) == (
        "acme:alice",
        "alice@example.test",
        client_id,
    )
    assert claims["enterprise_iss"] == enterprise.idp and claims["gty"] == JWT_BEARER
    url = enterprise.mcp_url()
    assert "welcome" in (await call(url, token, "list_notes"))["result"]
    me = await call(url, token, "whoami")
    assert (me["user"], me["scopes"]) == ("acme:alice", READ)
    # The IdP granted read only: the write is refused at the gateway and never runs.
    with pytest.raises(BaseException):  # noqa: B017 (the SDK's error type is not the point)
        await call(url, token, "add_note", title="from-idp", text="should not exist")
    assert "from-idp" not in (await call(url, token, "list_notes"))["result"]
    # A token for host A is no token for host B.
    assert mcp_status(enterprise.mcp_url(HOST_B), token) == 401
    writer = enterprise.redeem(await enterprise.id_jag(scope=f"{READ} {WRITE}"))
    assert writer.json()["scope"] == f"{READ} {WRITE}"
    await call(url, writer.json()["access_token"], "add_note", title="sso", text="via the IdP")
    assert "sso" in (await call(url, token, "list_notes"))["result"]


async def test_an_id_jag_is_used_once_by_its_client_for_what_it_grants(
    enterprise: Enterprise,
) -> None:
    assertion = await enterprise.id_jag()
    error, why = refusal(enterprise.redeem(assertion, scope=f"{READ} {WRITE}"))
    assert (error, why) == ("invalid_scope", f"the ID-JAG does not grant {WRITE}")
    other = enterprise.register("another client")
    error, why = refusal(enterprise.redeem(assertion, client=other))
    assert (error, why) == (
        "invalid_grant",
        "the ID-JAG was issued to another client (its client_id)",
    )
    anonymous = httpx.post(
        enterprise.origin() + "/token",
        data={"grant_type": JWT_BEARER, "assertion": assertion},
        trust_env=False,
    )
    assert refusal(anonymous, 401)[0] == "invalid_client"
    # None of the refusals above used it up; the exchange does.
    assert enterprise.redeem(assertion).status_code == 200
    error, why = refusal(enterprise.redeem(assertion))
    assert (error, why) == ("invalid_grant", "this JWT was already used (jti replayed)")


async def test_the_audience_resource_and_user_are_checked(enterprise: Enterprise) -> None:
    elsewhere = await enterprise.id_jag(audience=ELSEWHERE)
    error, why = refusal(enterprise.redeem(elsewhere))
    assert (error, why) == ("invalid_grant", "the JWT is not valid: Audience doesn't match")
    # Host B is served here, but this IdP may not grant it.
    for_b = await enterprise.id_jag(host=HOST_B)
    error, why = refusal(enterprise.redeem(for_b, host=HOST_B))
    assert (error, why) == (
        "invalid_grant",
        f"{enterprise.idp} may not grant {enterprise.mcp_url(HOST_B)}",
    )
    # The IdP vouches for mallory, but host A admits accounts of example.test only.
    error, why = refusal(enterprise.redeem(await enterprise.id_jag("mallory")))
    assert error == "invalid_grant"
    assert why == (
        f"acme:mallory may not use {enterprise.mcp_url()}: accounts from evil.example are not "
        "allowed here"
    )


async def test_the_idps_claims_under_another_key_or_without_typ_are_refused(
    enterprise: Enterprise,
) -> None:
    claims = jwt.decode(await enterprise.id_jag(), options={"verify_signature": False})
    impostor = ServiceAccountSigner(issuer=enterprise.idp, kid="test-rs256")
    forged = impostor.sign({**claims, "jti": "forged-1"}, typ="oauth-id-jag+jwt")
    error, why = refusal(enterprise.redeem(forged))
    assert (error, why) == ("invalid_grant", "the JWT is not valid: Signature verification failed")
    # Without its typ it is no ID-JAG: the workload path, where this IdP is no issuer.
    untyped = impostor.sign({**claims, "jti": "forged-2"})
    error, why = refusal(enterprise.redeem(untyped))
    assert (error, why) == (
        "invalid_grant",
        f"the issuer {enterprise.idp!r} is not a trusted workload issuer",
    )
