"""OidcProvider against a real OpenID provider (oidc-provider 9 on loopback), end to end."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mcp_gatekeeper.providers import LoginDenied, ProviderError, UpstreamIdentity
from mcp_gatekeeper.providers.oidc import SESSION_ENDED, OidcProvider
from mcp_gatekeeper.providers.upstream_http import basic_auth

from .oidc_server import (
    CALLBACK,
    CLIENT_ID,
    CLIENT_SECRET,
    Counting,
    OidcServer,
    browse_to_callback,
    run_oidc_server,
)


@pytest.fixture
def sub() -> str:
    """A fresh account name: tests share one provider and must not see each other's users."""
    return f"u-{secrets.token_hex(4)}"


async def login(provider: OidcProvider, sub: str) -> UpstreamIdentity:
    redirect = await provider.begin(callback_url=CALLBACK, state="st-1")
    params = await browse_to_callback(redirect.url, login_hint=sub)
    assert params["state"] == "st-1"
    return await provider.complete(callback_url=CALLBACK, params=params, secrets=redirect.secrets)


async def test_login_returns_the_verified_identity(
    oidc_server: OidcServer, http: httpx.AsyncClient, sub: str
) -> None:
    """A full code+PKCE login yields subject, email, name and groups, plus a refresh token."""
    oidc_server.set_account(sub, email=f"{sub}@corp.test", email_verified=True, groups=["dev"])
    provider = OidcProvider(oidc_server.config(), http)
    redirect = await provider.begin(callback_url=CALLBACK, state="st-1")
    query = parse_qs(urlsplit(redirect.url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["nonce"] == [redirect.secrets["nonce"]]
    assert query["scope"] == ["openid email profile groups offline_access"]
    assert "resource" not in query
    params = await browse_to_callback(redirect.url, login_hint=sub)
    identity = await provider.complete(
        callback_url=CALLBACK, params=params, secrets=redirect.secrets
    )
    assert (identity.subject, identity.email, identity.groups) == (
        sub,
        f"{sub}@corp.test",
        ("dev",),
    )
    assert identity.email_verified and identity.name == f"Test {sub}"
    assert identity.recheck_secret


async def test_unverified_email_is_denied(
    oidc_server: OidcServer, http: httpx.AsyncClient, sub: str
) -> None:
    """email_verified=false refuses the login with a reason naming the address."""
    oidc_server.set_account(sub, email=f"{sub}@corp.test", email_verified=False)
    with pytest.raises(LoginDenied, match="not verified"):
        await login(OidcProvider(oidc_server.config(), http), sub)


@pytest.mark.parametrize(
    ("claim", "expected"),
    [(["a", "b c"], ("a", "b c")), ("ops, dev  sre", ("ops", "dev", "sre")), ([], ())],
)
async def test_groups_come_from_the_groups_claim(
    oidc_server: OidcServer,
    http: httpx.AsyncClient,
    sub: str,
    claim: object,
    expected: tuple[str, ...],
) -> None:
    """Groups are read from a list, or from a space/comma separated string."""
    oidc_server.set_account(sub, email=f"{sub}@corp.test", email_verified=True, groups=claim)
    assert (await login(OidcProvider(oidc_server.config(), http), sub)).groups == expected


async def test_other_groups_claim_name_is_used(
    oidc_server: OidcServer, http: httpx.AsyncClient, sub: str
) -> None:
    """groupsClaim names the claim; the default 'groups' claim is then ignored."""
    oidc_server.set_account(sub, email=f"{sub}@corp.test", email_verified=True, groups=["x"])
    provider = OidcProvider(oidc_server.config(groupsClaim="preferred_username"), http)
    assert (await login(provider, sub)).groups == (sub,)


async def test_wrong_nonce_is_refused(
    oidc_server: OidcServer, http: httpx.AsyncClient, sub: str
) -> None:
    """An ID token whose nonce is not this login's is refused (replay defence)."""
    provider = OidcProvider(oidc_server.config(), http)
    redirect = await provider.begin(callback_url=CALLBACK, state="s")
    params = await browse_to_callback(redirect.url, login_hint=sub)
    wrong = {**redirect.secrets, "nonce": "another-login"}
    with pytest.raises(ProviderError, match="nonce"):
        await provider.complete(callback_url=CALLBACK, params=params, secrets=wrong)


def _changed_payload(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _alg_none(token: str) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    return f"{header}.{token.split('.')[1]}."


@pytest.mark.parametrize("tamper", [_changed_payload, _alg_none])
async def test_tampered_id_token_is_refused(
    oidc_server: OidcServer, sub: str, tamper: Callable[[str], str]
) -> None:
    """A changed payload fails the signature; alg=none is never accepted."""
    async with httpx.AsyncClient(transport=Counting(tamper), timeout=10) as http:
        with pytest.raises(ProviderError, match="ID token"):
            await login(OidcProvider(oidc_server.config(), http), sub)


async def test_discovery_naming_another_issuer_is_refused(
    oidc_server: OidcServer, http: httpx.AsyncClient
) -> None:
    """Discovery fetched from localhost names 127.0.0.1 as issuer: not identical, refused."""
    other = oidc_server.issuer.replace("127.0.0.1", "localhost")
    provider = OidcProvider(oidc_server.config(issuerURL=other), http)
    with pytest.raises(ProviderError, match="names issuer"):
        await provider.begin(callback_url=CALLBACK, state="s")


async def test_callback_errors(oidc_server: OidcServer, http: httpx.AsyncClient) -> None:
    """access_denied is the user's refusal; a foreign iss (RFC 9207) or no code are errors."""
    provider = OidcProvider(oidc_server.config(), http)
    secrets_ = {"code_verifier": "v", "nonce": "n"}
    iss = oidc_server.issuer
    cases: list[tuple[dict[str, str], type[Exception], str]] = [
        ({"error": "access_denied", "iss": iss}, LoginDenied, "declined"),
        ({"code": "c", "iss": "https://evil.test"}, ProviderError, "RFC 9207"),
        ({"code": "c"}, ProviderError, "lacks the iss"),
        ({"error": "<script>", "iss": iss}, ProviderError, "an unknown error"),
        ({"iss": iss}, ProviderError, "no code"),
    ]
    for params, error, message in cases:
        with pytest.raises(error, match=message):
            await provider.complete(callback_url=CALLBACK, params=params, secrets=secrets_)


async def test_recheck_reads_fresh_groups_with_the_refresh_token(
    oidc_server: OidcServer, http: httpx.AsyncClient, sub: str
) -> None:
    """After the IdP changes the user's groups, recheck (a refresh) reports them, twice."""
    oidc_server.set_account(sub, email=f"{sub}@corp.test", email_verified=True, groups=["dev"])
    provider = OidcProvider(oidc_server.config(), http)
    identity = await login(provider, sub)
    oidc_server.set_account(sub, email=f"{sub}@corp.test", email_verified=True, groups=["ops"])
    again = await provider.recheck(identity)
    assert again.groups == ("ops",) and again.subject == sub
    # The provider rotates refresh tokens: the new one must be kept and must work.
    assert again.recheck_secret != identity.recheck_secret
    oidc_server.set_account(sub, email=f"{sub}@corp.test", email_verified=True, groups=[])
    assert (await provider.recheck(again)).groups == ()


async def test_recheck_after_the_idp_revoked_the_grant_is_denied(
    oidc_server: OidcServer, http: httpx.AsyncClient, sub: str
) -> None:
    """A refresh token revoked at the IdP (RFC 7009) ends the session: LoginDenied."""
    provider = OidcProvider(oidc_server.config(), http)
    identity = await login(provider, sub)
    assert identity.recheck_secret is not None
    metadata = await provider.discovery.metadata()
    assert metadata.revocation_endpoint is not None
    revoked = await http.post(
        metadata.revocation_endpoint,
        data={"token": identity.recheck_secret, "token_type_hint": "refresh_token"},
        headers={"Authorization": basic_auth(CLIENT_ID, CLIENT_SECRET)},
    )
    assert revoked.status_code == 200
    with pytest.raises(LoginDenied, match=SESSION_ENDED):
        await provider.recheck(identity)


async def test_recheck_after_the_account_was_deleted_is_denied(
    oidc_server: OidcServer, http: httpx.AsyncClient, sub: str
) -> None:
    """A user removed from the IdP cannot refresh: LoginDenied."""
    provider = OidcProvider(oidc_server.config(), http)
    identity = await login(provider, sub)
    oidc_server.delete_account(sub)
    with pytest.raises(LoginDenied, match=SESSION_ENDED):
        await provider.recheck(identity)


async def test_recheck_without_refresh_token_changes_nothing(
    oidc_server: OidcServer, sub: str
) -> None:
    """No upstream refresh token: the identity comes back unchanged, without any request."""
    transport = Counting()
    async with httpx.AsyncClient(transport=transport) as http:
        provider = OidcProvider(oidc_server.config(), http)
        identity = UpstreamIdentity(subject=sub, email="e@corp.test", email_verified=True)
        assert await provider.recheck(identity) is identity
    assert transport.paths == []


async def test_discovery_and_jwks_are_cached(oidc_server: OidcServer, sub: str) -> None:
    """Two logins fetch discovery and the JWKS once each."""
    transport = Counting()
    async with httpx.AsyncClient(transport=transport, timeout=10) as http:
        provider = OidcProvider(oidc_server.config(), http)
        await login(provider, sub)
        await login(provider, sub)
    assert transport.paths.count("/.well-known/openid-configuration") == 1
    assert transport.paths.count("/jwks") == 1
    assert transport.paths.count("/token") == 2


async def test_configured_scopes_are_used_as_given(
    oidc_server: OidcServer, http: httpx.AsyncClient, sub: str
) -> None:
    """Explicit scopes replace the defaults (no offline_access); openid is always added."""
    provider = OidcProvider(oidc_server.config(scopes=["email", "groups"]), http)
    redirect = await provider.begin(callback_url=CALLBACK, state="s")
    assert parse_qs(urlsplit(redirect.url).query)["scope"] == ["openid email groups"]


async def test_client_secret_basic_by_default(oidc_server: OidcServer, sub: str) -> None:
    """The secret goes in a form-urlencoded Basic header, never in the form, nor resource."""
    transport = Counting()
    async with httpx.AsyncClient(transport=transport, timeout=10) as http:
        await login(OidcProvider(oidc_server.config(), http), sub)
    (token,) = transport.token_requests()
    assert token.headers["authorization"] == basic_auth(CLIENT_ID, CLIENT_SECRET)
    form = parse_qs(token.content.decode())
    assert "client_secret" not in form and "resource" not in form
    assert form["code_verifier"] and form["redirect_uri"] == [CALLBACK]


async def test_client_secret_post_when_basic_is_not_offered(tmp_path: Path, sub: str) -> None:
    """An IdP that advertises only client_secret_post gets the secret in the form."""
    transport = Counting()
    with run_oidc_server(tmp_path, token_auth_method="client_secret_post") as server:
        async with httpx.AsyncClient(transport=transport, timeout=10) as http:
            identity = await login(OidcProvider(server.config(), http), sub)
    assert identity.subject == sub
    (token,) = transport.token_requests()
    assert "authorization" not in token.headers
    assert parse_qs(token.content.decode())["client_secret"] == [CLIENT_SECRET]


def test_missing_node_fails_naming_the_install_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without node the provider tests fail (never skip) and say how to install it."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with (
        pytest.raises(pytest.fail.Exception, match=r"scripts/install-test-deps\.sh"),
        run_oidc_server(tmp_path),
    ):
        pass
