"""The jwt-bearer grant in process: a Kubernetes service-account token for an access token.

The tokens come from ``ServiceAccountSigner`` (a projected token's exact shape, its keys inline
in the configuration); every refusal is the RFC 7523 §3.1 ``invalid_grant`` with its reason, or
``invalid_target`` / ``invalid_scope`` for what the rule does not grant.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from mcp_gatekeeper.config import Config
from tests.flows.workload_signer import K8S_AUDIENCE, K8S_ISSUER, ServiceAccountSigner, forged
from tests.support import FakeClock, running

A, B = "a.example.test", "b.example.test"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
READ, WRITE = "notes:read", "notes:write"
SCOPES = [
    {"name": READ, "description": "Read notes", "tools": ["list_notes"]},
    {"name": WRITE, "description": "Write notes", "tools": ["add_note"]},
]
SIGNER = ServiceAccountSigner()


def settings(*, enabled: bool = True) -> dict[str, Any]:
    issuer = {
        "issuer": K8S_ISSUER,
        "jwks": SIGNER.jwks(),
        "audience": K8S_AUDIENCE,
        "maxLifetime": "1h",
        "rules": [
            {
                "claims": {
                    "kubernetes.io.namespace": ["batch"],
                    "kubernetes.io.serviceaccount.name": ["report-.*"],
                },
                "hosts": [A],
                "scopes": [READ, WRITE],
            },
            {
                "claims": {"sub": ["system:serviceaccount:batch:.*"]},
                "hosts": [A, B],
                "scopes": [READ],
            },
        ],
    }
    return {
        "proxy": {"hosts": [{"host": A, "scopes": SCOPES}, {"host": B, "scopes": SCOPES[:1]}]},
        "grants": {"jwtBearer": {"enabled": enabled, "issuers": [issuer]}},
    }


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # Wall-clock time: PyJWT checks exp and iat against the real clock as well.
    async with running(Config.model_validate(settings()), FakeClock(time.time())) as (_, client):
        yield client


async def exchange(
    http: httpx.AsyncClient, assertion: str, host: str = A, **form: str
) -> httpx.Response:
    data = {"grant_type": JWT_BEARER, "assertion": assertion, **form}
    return await http.post(f"https://{host}/token", data=data)


def report_cron(**options: Any) -> dict[str, Any]:
    return SIGNER.claims(namespace="batch", name="report-cron", now=time.time(), **options)


def refusal(response: httpx.Response, status: int = 400) -> tuple[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    return body["error"], body["error_description"]


async def test_a_service_account_token_gets_the_scopes_of_its_rule(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_gatekeeper.audit")
    response = await exchange(http, SIGNER.sign(report_cron()))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == f"{READ} {WRITE}" and body["token_type"] == "Bearer"
    assert "refresh_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    subject = "system:serviceaccount:batch:report-cron"
    assert claims["sub"] == subject and claims["client_id"] == subject
    assert claims["email"] == "" and claims.get("groups", []) == []
    assert claims["aud"] == f"https://{A}/mcp" and claims["iss"] == f"https://{A}"
    assert claims["gty"] == JWT_BEARER and claims["workload_iss"] == K8S_ISSUER
    events = {getattr(r, "event", None): r for r in caplog.records}
    issued = events["workload_token_issued"]
    fields = [issued.__dict__[name] for name in ("issuer", "sub", "host", "rule")]
    assert fields == [K8S_ISSUER, subject, A, 0]
    assert "token_issued" in events


async def test_a_single_use_token_is_refused_the_second_time(http: httpx.AsyncClient) -> None:
    assertion = SIGNER.sign(report_cron())
    assert (await exchange(http, assertion)).status_code == 200
    assert refusal(await exchange(http, assertion)) == (
        "invalid_grant",
        "this JWT was already used (jti replayed)",
    )


async def test_a_request_refused_for_what_it_asks_does_not_use_up_the_token(
    http: httpx.AsyncClient,
) -> None:
    """The other service account of the namespace may read, not write; asking for write is
    refused, and the same JWT then gets read."""
    assertion = SIGNER.token(namespace="batch", name="nightly-export", now=time.time())
    error, why = refusal(await exchange(http, assertion, resource=f"https://{A}/mcp", scope=WRITE))
    assert error == "invalid_scope" and why == f"rule 1 of {K8S_ISSUER} does not grant {WRITE}"
    granted = await exchange(http, assertion, resource=f"https://{A}/mcp", scope=READ)
    assert granted.status_code == 200 and granted.json()["scope"] == READ


async def test_the_resource_picks_one_of_the_rules_hosts(http: httpx.AsyncClient) -> None:
    def export() -> str:
        return SIGNER.token(namespace="batch", name="nightly-export", now=time.time())

    error, why = refusal(await exchange(http, export()))
    assert error == "invalid_target" and "resource is required" in why
    error, why = refusal(await exchange(http, export(), resource=f"https://{B}/mcp"))
    # B is a host of the rule, but B's tokens come from B's authorization server, not A's.
    assert error == "invalid_target" and why.endswith(f"by the authorization server https://{B}")
    at_b = await exchange(http, export(), host=B, resource=f"https://{B}/mcp")
    assert at_b.status_code == 200 and at_b.json()["scope"] == READ
    error, why = refusal(
        await exchange(http, SIGNER.sign(report_cron()), host=B, resource=f"https://{B}/mcp")
    )
    assert (error, why) == (
        "invalid_target",
        f"rule 0 of {K8S_ISSUER} does not grant https://{B}/mcp",
    )
    error, _ = refusal(await exchange(http, export(), resource="https://elsewhere.test/mcp"))
    assert error == "invalid_target"


def _claims_with(**changes: Any) -> dict[str, Any]:
    return {**report_cron(), **changes}


HOSTILE: dict[str, tuple[str, str]] = {
    # name: (assertion, what the error description says)
    "expired": (
        SIGNER.sign(_claims_with(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
        "the JWT is not valid: Signature has expired",
    ),
    "lives beyond maxLifetime": (
        SIGNER.sign(report_cron(lifetime=7200)),
        "the JWT lives longer than 3600 s (exp - iat)",
    ),
    "wrong audience": (
        SIGNER.sign(report_cron(audience="vault")),
        "the JWT is not valid: Audience doesn't match",
    ),
    "unknown issuer": (
        SIGNER.sign(_claims_with(iss="https://evil.example")),
        "the issuer 'https://evil.example' is not a trusted workload issuer",
    ),
    "huge unknown issuer": (
        SIGNER.sign(_claims_with(iss="https://evil.example/" + "a" * 5000)),
        "the issuer 'https://evil.example/" + "a" * 79 + "'... is not a trusted workload issuer",
    ),
    "alg none": (
        forged({"alg": "none", "kid": SIGNER.kid}, report_cron(), None),
        "alg 'none' is not accepted (accepted: RS256, ES256)",
    ),
    "HS256 keyed with the public key": (
        forged({"alg": "HS256", "kid": SIGNER.kid}, report_cron(), SIGNER.public_pem()),
        "alg 'HS256' is not accepted (accepted: RS256, ES256)",
    ),
    "a kid the issuer does not publish": (
        SIGNER.sign(report_cron(), kid="rotated-in-by-an-attacker"),
        "the JWT is signed with a key the signer does not publish",
    ),
    "another key under the published kid": (
        ServiceAccountSigner().sign(report_cron()),
        "the JWT is not valid: Signature verification failed",
    ),
    "a jku header": (
        SIGNER.sign(report_cron(), jku="https://evil.example/jwks.json"),
        "the JWT header points at other keys (jku, jwk, x5u, x5c, crit)",
    ),
    "claims matching no rule": (
        SIGNER.token(namespace="web", name="frontend", now=time.time()),
        f"no rule grants this workload of {K8S_ISSUER} anything",
    ),
    "a subject with a control character": (
        SIGNER.sign(_claims_with(sub="system:serviceaccount:batch:x\nINFO forged log line")),
        "the JWT's sub must be printable and at most 512 chars",
    ),
    "not a JWT": ("not-a-jwt", "the assertion is not a JWT"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_hostile_assertions_are_refused_with_the_reason(
    http: httpx.AsyncClient, case: str
) -> None:
    assertion, why = HOSTILE[case]
    assert refusal(await exchange(http, assertion)) == ("invalid_grant", why)


async def test_a_named_client_is_authenticated_and_recorded(http: httpx.AsyncClient) -> None:
    registered = await http.post(
        f"https://{A}/register",
        json={"redirect_uris": ["http://127.0.0.1:9/cb"], "client_name": "report pipeline"},
    )
    assert registered.status_code == 201, registered.text
    client_id, secret = registered.json()["client_id"], registered.json()["client_secret"]
    wrong = base64.b64encode(f"{client_id}:wrong".encode()).decode()
    response = await http.post(
        f"https://{A}/token",
        data={"grant_type": JWT_BEARER, "assertion": SIGNER.sign(report_cron())},
        headers={"Authorization": f"Basic {wrong}"},
    )
    assert refusal(response, 401)[0] == "invalid_client"
    right = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = await http.post(
        f"https://{A}/token",
        data={"grant_type": JWT_BEARER, "assertion": SIGNER.sign(report_cron())},
        headers={"Authorization": f"Basic {right}"},
    )
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == client_id
    assert claims["sub"] == "system:serviceaccount:batch:report-cron"


async def test_the_grant_is_off_by_default() -> None:
    config = Config.model_validate(settings(enabled=False))
    async with running(config, FakeClock(time.time())) as (_, client):
        response = await exchange(client, SIGNER.sign(report_cron()))
        metadata = await client.get(f"https://{A}/.well-known/oauth-authorization-server")
    assert refusal(response)[0] == "unsupported_grant_type"
    assert JWT_BEARER not in metadata.json()["grant_types_supported"]


async def test_a_public_client_cannot_take_a_workloads_token(http: httpx.AsyncClient) -> None:
    """Naming a public client proves nothing: the token would be that client's to revoke."""
    registered = await http.post(
        f"https://{A}/register",
        json={"redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"},
    )
    public_id = registered.json()["client_id"]
    assertion = SIGNER.sign(report_cron())
    assert refusal(await exchange(http, assertion, client_id=public_id)) == (
        "unauthorized_client",
        "a public client cannot take a workload's token: send the assertion without client_id, "
        "or authenticate a confidential client",
    )
    assert (await exchange(http, assertion)).status_code == 200  # the JWT was not used up


async def test_two_issuers_workloads_of_one_name_are_two_users() -> None:
    """A staging and a production cluster both have batch:report-cron: the MCP server is told
    two users apart, by each issuer's subjectPrefix."""
    prod = ServiceAccountSigner(issuer="https://prod-cluster.example")
    staging = ServiceAccountSigner(issuer="https://staging-cluster.example", kid="stg")
    raw = settings()
    first = raw["grants"]["jwtBearer"]["issuers"][0]
    raw["grants"]["jwtBearer"]["issuers"] = [
        {**first, "issuer": prod.issuer, "jwks": prod.jwks(), "subjectPrefix": "prod:"},
        {**first, "issuer": staging.issuer, "jwks": staging.jwks(), "subjectPrefix": "staging:"},
    ]
    users = []
    async with running(Config.model_validate(raw), FakeClock(time.time())) as (_, client):
        for signer in (prod, staging):
            assertion = signer.token(namespace="batch", name="report-cron", now=time.time())
            token = (await exchange(client, assertion)).json()["access_token"]
            gate = await client.get(
                "/authenticate", headers={"host": A, "authorization": f"Bearer {token}"}
            )
            assert gate.status_code == 200, gate.text
            users.append(gate.headers["x-auth-request-user"])
    name = "system:serviceaccount:batch:report-cron"
    assert users == [f"prod:{name}", f"staging:{name}"]


@pytest.mark.parametrize("alg", ["PS256", "RS384"])
async def test_every_rsa_algorithm_verifies_with_a_jwk_that_names_none(alg: str) -> None:
    """Clusters publish RSA keys without ``alg``: each configured RSA algorithm verifies."""
    raw = settings()
    issuer = raw["grants"]["jwtBearer"]["issuers"][0]
    issuer["jwks"] = {"keys": [{k: v for k, v in SIGNER.jwks()["keys"][0].items() if k != "alg"}]}
    issuer["algorithms"] = ["RS256", "PS256", "RS384"]
    async with running(Config.model_validate(raw), FakeClock(time.time())) as (_, client):
        assertion = jwt.encode(
            report_cron(), SIGNER.key, algorithm=alg, headers={"kid": SIGNER.kid}
        )
        response = await exchange(client, assertion)
        assert response.status_code == 200, response.text
    # A key that names its algorithm signs with that one only (RFC 7517 §4.4).
    issuer["jwks"] = SIGNER.jwks()
    async with running(Config.model_validate(raw), FakeClock(time.time())) as (_, client):
        assertion = jwt.encode(
            report_cron(), SIGNER.key, algorithm=alg, headers={"kid": SIGNER.kid}
        )
        assert refusal(await exchange(client, assertion)) == (
            "invalid_grant",
            f"the key {SIGNER.kid!r} does not sign with {alg}",
        )
