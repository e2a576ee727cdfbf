"""Enterprise-managed authorization in process: ID-JAGs of an enterprise IdP redeemed at /token.

The ID-JAGs are signed by a stand-in IdP key (its JWKS inline in the configuration), shaped as
draft-ietf-oauth-identity-assertion-authz-grant-04 §3.1 and the MCP profile's example: header
``typ: oauth-id-jag+jwt``; ``iss``, ``sub``, ``email``, ``aud`` (our issuer), ``resource``,
``client_id``, ``scope``, ``jti``, ``iat``, ``exp``. A workload issuer is configured too, so the
tests also show which of the two paths a JWT takes. The real IdP's token exchange is in
tests/e2e/test_enterprise_authorization.py.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from mcp_gatekeeper.config import Config
from tests.flows.workload_signer import K8S_AUDIENCE, K8S_ISSUER, ServiceAccountSigner, forged
from tests.support import FakeClock, running

A, B, C = "a.example.test", "b.example.test", "c.example.test"
IDP = "https://idp.acme.example"
BY_EMAIL = "https://login.partner.example"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ID_JAG = "oauth-id-jag+jwt"
READ, WRITE, ADMIN = "notes:read", "notes:write", "notes:admin"
SCOPES = [
    {"name": READ, "description": "Read notes", "tools": ["list_notes"]},
    {"name": WRITE, "description": "Write notes", "tools": ["add_note"]},
]
SIGNER = ServiceAccountSigner(issuer=IDP, kid="acme-idp-2026")
PARTNER = ServiceAccountSigner(issuer=BY_EMAIL, kid="partner-1")
WORKLOAD = ServiceAccountSigner()


def settings(*, enterprise: bool = True) -> dict[str, Any]:
    # Neither IdP is the login provider: each names its users in its own namespace.
    acme = {"issuer": IDP, "jwks": SIGNER.jwks(), "hosts": [A, B], "subjectPrefix": "acme:"}
    partner = {
        "issuer": BY_EMAIL,
        "jwks": PARTNER.jwks(),
        "hosts": [A],
        "linkBy": "email",
        "subjectPrefix": "partner:",
    }
    workloads = {
        "issuer": K8S_ISSUER,
        "jwks": WORKLOAD.jwks(),
        "audience": K8S_AUDIENCE,
        "rules": [{"claims": {"sub": [".*"]}, "hosts": [A], "scopes": [READ]}],
    }
    return {
        "proxy": {
            "hosts": [
                {"host": A, "scopes": SCOPES, "allowedEmailDomains": [r"acme\.example"]},
                {"host": B, "scopes": SCOPES[:1]},
                {"host": C, "scopes": SCOPES},
            ]
        },
        "grants": {
            "jwtBearer": {"enabled": True, "issuers": [workloads]},
            "enterprise": {"enabled": enterprise, "issuers": [acme, partner]},
        },
    }


def id_jag_claims(client_id: str, /, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": IDP,
        "sub": "U019488227",
        "email": "alice@acme.example",
        "groups": ["engineering"],
        "aud": f"https://{A}",
        "resource": f"https://{A}/mcp",
        "client_id": client_id,
        "scope": f"{READ} {WRITE} {ADMIN}",
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 300,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def id_jag(client_id: str, signer: ServiceAccountSigner = SIGNER, /, **changes: Any) -> str:
    return signer.sign(id_jag_claims(client_id, **changes), typ=ID_JAG)


class Enterprise:
    def __init__(self, http: httpx.AsyncClient, client_id: str, secret: str) -> None:
        self.http, self.client_id, self.secret = http, client_id, secret

    async def redeem(
        self, assertion: str, host: str = A, auth: tuple[str, str] | None = None, **form: str
    ) -> httpx.Response:
        data = {"grant_type": JWT_BEARER, "assertion": assertion, **form}
        if auth is None:
            auth = (self.client_id, self.secret)
        return await self.http.post(
            f"https://{host}/token", data=data, auth=httpx.BasicAuth(*auth) if auth else None
        )


async def register(http: httpx.AsyncClient, **metadata: str) -> dict[str, Any]:
    body = {"redirect_uris": ["http://127.0.0.1:9/cb"], "client_name": "AI editor", **metadata}
    response = await http.post(f"https://{A}/register", json=body)
    assert response.status_code == 201, response.text
    registered: dict[str, Any] = response.json()
    return registered


@pytest.fixture
async def enterprise() -> AsyncIterator[Enterprise]:
    # Wall-clock time: PyJWT checks exp and iat against the real clock as well.
    async with running(Config.model_validate(settings()), FakeClock(time.time())) as (_, http):
        registered = await register(http)
        yield Enterprise(http, registered["client_id"], registered["client_secret"])


def refusal(response: httpx.Response, status: int = 400) -> tuple[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    return body["error"], body["error_description"]


async def test_an_id_jag_gets_a_token_for_its_user_client_and_host(
    enterprise: Enterprise, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_gatekeeper.audit")
    response = await enterprise.redeem(id_jag(enterprise.client_id))
    assert response.status_code == 200, response.text
    body = response.json()
    # notes:admin is the IdP's, not a scope of host A: it is dropped.
    assert body["scope"] == f"{READ} {WRITE}" and body["token_type"] == "Bearer"
    assert "refresh_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["email"], claims["groups"]) == (
        "acme:U019488227",
        "alice@acme.example",
        ["engineering"],
    )
    assert claims["client_id"] == enterprise.client_id
    assert claims["aud"] == f"https://{A}/mcp" and claims["iss"] == f"https://{A}"
    assert claims["gty"] == JWT_BEARER and claims["enterprise_iss"] == IDP
    events = {getattr(r, "event", None): r for r in caplog.records}
    issued = events["enterprise_token_issued"].__dict__
    assert [issued[name] for name in ("issuer", "sub", "email", "client_id", "host", "scopes")] == [
        IDP,
        "acme:U019488227",
        "alice@acme.example",
        enterprise.client_id,
        A,
        [READ, WRITE],
    ]
    assert "token_issued" in events


async def test_an_id_jag_is_used_once(enterprise: Enterprise) -> None:
    assertion = id_jag(enterprise.client_id)
    assert (await enterprise.redeem(assertion)).status_code == 200
    assert refusal(await enterprise.redeem(assertion)) == (
        "invalid_grant",
        "this JWT was already used (jti replayed)",
    )
    no_jti = id_jag(enterprise.client_id, jti=None)
    assert refusal(await enterprise.redeem(no_jti)) == (
        "invalid_grant",
        "the JWT has no jti (each assertion is used once)",
    )


async def test_the_request_narrows_the_scopes_and_never_widens_them(
    enterprise: Enterprise,
) -> None:
    assertion = id_jag(enterprise.client_id, scope=READ)
    assert refusal(await enterprise.redeem(assertion, scope=f"{READ} {WRITE}")) == (
        "invalid_scope",
        f"the ID-JAG does not grant {WRITE}",
    )
    # Refused for what the request asked: the ID-JAG is still good for what it grants.
    narrowed = await enterprise.redeem(assertion, scope=READ)
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == READ
    both = await enterprise.redeem(id_jag(enterprise.client_id), scope=WRITE)
    assert both.json()["scope"] == WRITE
    unknown_only = id_jag(enterprise.client_id, scope=ADMIN)
    assert refusal(await enterprise.redeem(unknown_only)) == (
        "invalid_grant",
        f"none of the ID-JAG's scopes is a scope of https://{A}/mcp",
    )
    no_scope = await enterprise.redeem(id_jag(enterprise.client_id, scope=None))
    assert no_scope.status_code == 200 and no_scope.json()["scope"] == ""


async def test_the_id_jag_names_the_one_host_it_grants(enterprise: Enterprise) -> None:
    client = enterprise.client_id
    error, why = refusal(await enterprise.redeem(id_jag(client), resource=f"https://{A}/other"))
    assert (error, why) == (
        "invalid_target",
        f"the ID-JAG is for https://{A}/mcp, not https://{A}/other",
    )
    # C is served here, but this IdP may not grant it.
    c = id_jag(client, aud=f"https://{C}", resource=f"https://{C}/mcp")
    assert refusal(await enterprise.redeem(c, host=C)) == (
        "invalid_grant",
        f"{IDP} may not grant https://{C}/mcp",
    )
    # B's ID-JAG presented to A's authorization server (aud rewritten by a confused IdP).
    b_at_a = id_jag(client, resource=f"https://{B}/mcp")
    assert refusal(await enterprise.redeem(b_at_a)) == (
        "invalid_grant",
        f"the ID-JAG's resource 'https://{B}/mcp' is not an MCP server of this authorization "
        "server",
    )
    at_b = await enterprise.redeem(id_jag(client, aud=f"https://{B}", resource=None), host=B)
    assert at_b.status_code == 200 and at_b.json()["scope"] == READ
    claims = jwt.decode(at_b.json()["access_token"], options={"verify_signature": False})
    assert claims["aud"] == f"https://{B}/mcp"


async def test_the_id_jag_is_redeemed_by_the_client_it_was_issued_to(
    enterprise: Enterprise, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mcp_gatekeeper.audit")
    other = await register(enterprise.http)
    stolen = id_jag(enterprise.client_id)
    response = await enterprise.redeem(stolen, auth=(other["client_id"], other["client_secret"]))
    assert refusal(response) == (
        "invalid_grant",
        "the ID-JAG was issued to another client (its client_id)",
    )
    refused = [
        r.__dict__ for r in caplog.records if getattr(r, "event", "") == "enterprise_grant_refused"
    ]
    assert refused[-1]["issuer"] == IDP and refused[-1]["client_id"] == other["client_id"]
    anonymous = await enterprise.http.post(
        f"https://{A}/token", data={"grant_type": JWT_BEARER, "assertion": stolen}
    )
    assert refusal(anonymous, 401) == (
        "invalid_client",
        "client authentication is required to redeem an ID-JAG",
    )
    wrong_secret = await enterprise.redeem(stolen, auth=(enterprise.client_id, "guess"))
    assert refusal(wrong_secret, 401)[0] == "invalid_client"
    no_client_claim = id_jag(enterprise.client_id, client_id=None)
    assert refusal(await enterprise.redeem(no_client_claim)) == (
        "invalid_grant",
        "the ID-JAG has no client_id claim",
    )
    # The rightful client still can: nothing above used the ID-JAG up.
    assert (await enterprise.redeem(stolen)).status_code == 200


async def test_the_hosts_policy_applies_as_at_an_interactive_login(
    enterprise: Enterprise,
) -> None:
    outsider = id_jag(enterprise.client_id, email="mallory@evil.example")
    assert refusal(await enterprise.redeem(outsider)) == (
        "invalid_grant",
        f"acme:U019488227 may not use https://{A}/mcp: "
        "accounts from evil.example are not allowed here",
    )
    unverified = id_jag(enterprise.client_id, email_verified=False)
    assert refusal(await enterprise.redeem(unverified))[1].endswith(
        "the identity provider has not verified your email address"
    )


async def test_linking_by_email_names_the_user_by_a_verified_email(
    enterprise: Enterprise,
) -> None:
    def partner(**changes: Any) -> str:
        return id_jag(enterprise.client_id, PARTNER, iss=BY_EMAIL, sub="p-77", **changes)

    response = await enterprise.redeem(partner(email="bob@acme.example"))
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["email"], claims["enterprise_iss"]) == (
        "partner:bob@acme.example",
        "bob@acme.example",
        BY_EMAIL,
    )
    assert refusal(await enterprise.redeem(partner(email=None))) == (
        "invalid_grant",
        f"the ID-JAG has no email claim ({BY_EMAIL} links by it)",
    )
    assert refusal(await enterprise.redeem(partner(email_verified=False))) == (
        "invalid_grant",
        "the IdP has not verified the user's email (email_verified)",
    )


def _claims(**changes: Any) -> dict[str, Any]:
    # The client_id is filled in per test; hostile cases fail before it is compared.
    return id_jag_claims("the-client", **changes)


def _hostile() -> dict[str, tuple[str, str]]:
    now = int(time.time())
    return {
        "expired": (
            SIGNER.sign(_claims(iat=now - 700, exp=now - 400), typ=ID_JAG),
            "the JWT is not valid: Signature has expired",
        ),
        "lives beyond maxLifetime (5m)": (
            SIGNER.sign(_claims(exp=now + 3600), typ=ID_JAG),
            "the JWT lives longer than 300 s (exp - iat)",
        ),
        "wrong audience": (
            SIGNER.sign(_claims(aud=f"https://{B}"), typ=ID_JAG),
            "the JWT is not valid: Audience doesn't match",
        ),
        "unknown issuer": (
            ServiceAccountSigner(issuer="https://idp.evil.example").sign(
                _claims(iss="https://idp.evil.example"), typ=ID_JAG
            ),
            "the issuer 'https://idp.evil.example' is not a trusted enterprise IdP",
        ),
        "a workload issuer's JWT typed as an ID-JAG": (
            WORKLOAD.sign(_claims(iss=K8S_ISSUER, aud=K8S_AUDIENCE), typ=ID_JAG),
            f"the issuer '{K8S_ISSUER}' is not a trusted enterprise IdP",
        ),
        "no typ: the workload path, where the IdP is no issuer": (
            SIGNER.sign(_claims()),
            f"the issuer '{IDP}' is not a trusted workload issuer",
        ),
        "another typ: the workload path too": (
            SIGNER.sign(_claims(), typ="JWT"),
            f"the issuer '{IDP}' is not a trusted workload issuer",
        ),
        "alg none": (
            forged({"alg": "none", "typ": ID_JAG, "kid": SIGNER.kid}, _claims(), None),
            "alg 'none' is not accepted (accepted: RS256, ES256)",
        ),
        "HS256 keyed with the public key": (
            forged(
                {"alg": "HS256", "typ": ID_JAG, "kid": SIGNER.kid}, _claims(), SIGNER.public_pem()
            ),
            "alg 'HS256' is not accepted (accepted: RS256, ES256)",
        ),
        "another key under the IdP's kid": (
            ServiceAccountSigner(issuer=IDP, kid=SIGNER.kid).sign(_claims(), typ=ID_JAG),
            "the JWT is not valid: Signature verification failed",
        ),
        "a jwk header": (
            SIGNER.sign(_claims(), typ=ID_JAG, jwk=WORKLOAD.jwks()["keys"][0]),
            "the JWT header points at other keys (jku, jwk, x5u, x5c, crit)",
        ),
        "a subject with a control character": (
            SIGNER.sign(_claims(sub="U1\nINFO forged log line"), typ=ID_JAG),
            "the ID-JAG's sub must be printable and at most 512 chars",
        ),
        "groups that are no list": (
            SIGNER.sign(_claims(groups="admins"), typ=ID_JAG),
            "the ID-JAG's groups must be a list of strings",
        ),
    }


HOSTILE = _hostile()


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_hostile_id_jags_are_refused_with_the_reason(
    enterprise: Enterprise, case: str
) -> None:
    assertion, why = HOSTILE[case]
    assert refusal(await enterprise.redeem(assertion)) == ("invalid_grant", why)


async def test_metadata_advertises_the_id_jag_profile(enterprise: Enterprise) -> None:
    document = (
        await enterprise.http.get(f"https://{A}/.well-known/oauth-authorization-server")
    ).json()
    assert JWT_BEARER in document["grant_types_supported"]
    assert document["authorization_grant_profiles_supported"] == [
        "urn:ietf:params:oauth:grant-profile:id-jag"
    ]


async def test_off_an_id_jag_is_refused_and_never_meets_the_workload_rules() -> None:
    config = Config.model_validate(settings(enterprise=False))
    async with running(config, FakeClock(time.time())) as (_, http):
        registered = await register(http)
        redeemer = Enterprise(http, registered["client_id"], registered["client_secret"])
        # A workload JWT typed as an ID-JAG would match the catch-all workload rule otherwise.
        typed = WORKLOAD.sign(
            WORKLOAD.claims(namespace="batch", name="x", now=time.time()), typ=ID_JAG
        )
        refused = await redeemer.redeem(typed)
        untyped = WORKLOAD.token(namespace="batch", name="x", now=time.time())
        workload = await redeemer.redeem(untyped)
        document = (await http.get(f"https://{A}/.well-known/oauth-authorization-server")).json()
    assert refusal(refused) == (
        "invalid_grant",
        "enterprise-managed authorization (ID-JAG) is not enabled here",
    )
    assert workload.status_code == 200, workload.text
    assert "authorization_grant_profiles_supported" not in document


async def test_two_idps_naming_one_sub_are_two_users(enterprise: Enterprise) -> None:
    """A partner IdP cannot pose as a user of another IdP by signing the same sub."""
    tokens = []
    for signer, issuer in ((SIGNER, IDP), (PARTNER, BY_EMAIL)):
        assertion = id_jag(enterprise.client_id, signer, iss=issuer, email="alice@acme.example")
        response = await enterprise.redeem(assertion)
        assert response.status_code == 200, response.text
        tokens.append(
            jwt.decode(response.json()["access_token"], options={"verify_signature": False})
        )
    assert tokens[0]["sub"] != tokens[1]["sub"]


async def test_a_public_client_cannot_redeem_an_id_jag(enterprise: Enterprise) -> None:
    """Its client_id authenticates nothing: whoever intercepted the ID-JAG could use it."""
    public = await register(enterprise.http, token_endpoint_auth_method="none")
    response = await enterprise.http.post(
        f"https://{A}/token",
        data={
            "grant_type": JWT_BEARER,
            "assertion": id_jag(public["client_id"]),
            "client_id": public["client_id"],
        },
    )
    assert refusal(response)[0] == "unauthorized_client"


def test_an_idp_that_is_not_the_login_provider_needs_a_subject_prefix() -> None:
    raw = settings()
    raw["grants"]["jwtBearer"]["issuers"][0]["subjectPrefix"] = "cluster:"
    raw["grants"]["enterprise"]["issuers"][0].pop("subjectPrefix")
    with pytest.raises(ValueError, match="set a prefix"):
        Config.model_validate(raw)
    raw["grants"]["enterprise"]["issuers"][0]["subjectPrefix"] = "partner:"
    with pytest.raises(ValueError, match="distinct subjectPrefix"):
        Config.model_validate(raw)
