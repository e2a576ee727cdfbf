"""GoogleProvider against a fake Google reached through httpx.ASGITransport (no network)."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mcp_gatekeeper.config.provider import ProviderConfig
from mcp_gatekeeper.providers import LoginDenied, ProviderError, UpstreamIdentity, build_provider
from mcp_gatekeeper.providers.google import GoogleProvider
from mcp_gatekeeper.providers.google_directory import GROUP_SCOPE
from mcp_gatekeeper.providers.oidc import SESSION_ENDED
from tests.support import FakeClock

from .fake_google import TOKEN_URI, FakeGoogle, GoogleUser

CALLBACK = "https://mcp.example.test/callback"
CLIENT_SECRET = "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for-hs256"
SA_EMAIL = "gatekeeper@project.iam.gserviceaccount.com"
ADMIN = "admin@corp.test"


@functools.cache
def rsa_key(n: int) -> rsa.RSAPrivateKey:
    """RSA keys made once per session (keygen is slow): 0 = service account, 1-2 = Google."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sa_json() -> str:
    pem = rsa_key(0).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = {
        "type": "service_account",
        "client_email": SA_EMAIL,
        "private_key_id": "sa-kid-1",
        "private_key": pem.decode(),
        "token_uri": TOKEN_URI,
    }
    return json.dumps(key)


def config(**google: Any) -> ProviderConfig:
    return ProviderConfig.model_validate(
        {"name": "google", "clientID": "cid", "clientSecret": CLIENT_SECRET, "google": google}
    )


WITH_GROUPS = {"serviceAccountKey": sa_json(), "adminEmail": ADMIN}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def google(clock: FakeClock) -> FakeGoogle:
    return FakeGoogle(clock, "cid", CLIENT_SECRET, SA_EMAIL, rsa_key(0).public_key(), rsa_key(1))


@pytest.fixture
async def http(google: FakeGoogle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=google.app())) as client:
        yield client


def provider(http: httpx.AsyncClient, clock: FakeClock, **google: Any) -> GoogleProvider:
    built = build_provider(config(**google), http, clock)
    assert isinstance(built, GoogleProvider)
    return built


async def login(google_provider: GoogleProvider, http: httpx.AsyncClient) -> UpstreamIdentity:
    redirect = await google_provider.begin(callback_url=CALLBACK, state="st")
    answer = await http.get(redirect.url)  # the fake's consent screen approves at once
    params = dict(parse_qsl(urlsplit(answer.headers["location"]).query))
    return await google_provider.complete(
        callback_url=CALLBACK, params=params, secrets=redirect.secrets
    )


async def test_login_with_hosted_domain_and_groups_over_pages(
    google: FakeGoogle, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A Workspace user logs in; hd is hinted; five groups come over three Directory pages."""
    google.user = GoogleUser("1001", "ann@corp.test", hd="corp.test")
    google.groups["ann@corp.test"] = [f"g{i}@corp.test" for i in range(5)]
    identity = await login(provider(http, clock, hostedDomain="corp.test", **WITH_GROUPS), http)
    assert identity.subject == "1001" and identity.email == "ann@corp.test"
    assert identity.groups == tuple(f"g{i}@corp.test" for i in range(5))
    asked = google.authorize_params[0]
    assert (asked["hd"], asked["access_type"], asked["code_challenge_method"]) == (
        "corp.test",
        "offline",
        "S256",
    )
    assert asked["scope"] == "openid email profile"
    assert [call.get("pageToken") for call in google.directory_calls] == [None, "2", "4"]
    assert {call["userKey"] for call in google.directory_calls} == {"ann@corp.test"}


@pytest.mark.parametrize("hd", ["other.test", None])
async def test_hosted_domain_mismatch_is_denied(
    google: FakeGoogle, http: httpx.AsyncClient, clock: FakeClock, hd: str | None
) -> None:
    """Another Workspace, or a consumer account without hd, is refused, naming the domain."""
    google.user = GoogleUser("1002", "bob@other.test", hd=hd)
    with pytest.raises(LoginDenied, match=r"corp\.test"):
        await login(provider(http, clock, hostedDomain="corp.test"), http)


async def test_service_account_assertion_contents(
    google: FakeGoogle, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """The JWT-bearer assertion verifies with the SA key and acts as the admin, read-only."""
    google.groups["ann@corp.test"] = []
    await login(provider(http, clock, **WITH_GROUPS), http)
    ((header, claims),) = google.assertions
    assert header["alg"] == "RS256" and header["kid"] == "sa-kid-1"
    assert claims["iss"] == SA_EMAIL and claims["sub"] == ADMIN
    assert claims["scope"] == GROUP_SCOPE and claims["aud"] == TOKEN_URI
    assert claims["iat"] == int(clock()) and 0 < claims["exp"] - claims["iat"] <= 3600


async def test_directory_token_is_cached_until_it_expires(
    google: FakeGoogle, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Two logins share one service-account token; an hour later a new one is minted."""
    google.groups["ann@corp.test"] = ["a@corp.test"]
    google_provider = provider(http, clock, **WITH_GROUPS)
    await login(google_provider, http)
    await login(google_provider, http)
    assert len(google.assertions) == 1
    clock.advance(3600)
    await login(google_provider, http)
    assert len(google.assertions) == 2


async def test_user_outside_the_directory_has_no_groups(
    google: FakeGoogle, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """The Directory's 404 for an unknown userKey means no groups, not an error."""
    assert (await login(provider(http, clock, **WITH_GROUPS), http)).groups == ()


async def test_without_directory_there_are_no_groups_and_no_assertion(
    google: FakeGoogle, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Without serviceAccountKey/adminEmail no Directory call is made."""
    google.groups["ann@corp.test"] = ["a@corp.test"]
    assert (await login(provider(http, clock), http)).groups == ()
    assert google.assertions == [] and google.directory_calls == []


async def test_unverified_email_is_denied(
    google: FakeGoogle, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """email_verified=false is refused even by Google."""
    google.user = GoogleUser("1003", "cy@corp.test", email_verified=False)
    with pytest.raises(LoginDenied, match="not verified"):
        await login(provider(http, clock), http)


async def test_issuer_without_scheme_is_accepted(
    google: FakeGoogle, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Google documents iss as https://accounts.google.com or accounts.google.com."""
    google.iss = "accounts.google.com"
    assert (await login(provider(http, clock), http)).email == "ann@corp.test"


@pytest.mark.parametrize(
    "sign",
    [
        lambda claims: jwt.encode(claims, CLIENT_SECRET, "HS256"),
        lambda claims: jwt.encode(claims, "", "none"),
    ],
    ids=["hs256-with-client-secret", "none"],
)
async def test_symmetric_or_unsigned_id_tokens_are_refused(
    google: FakeGoogle, http: httpx.AsyncClient, clock: FakeClock, sign: Any
) -> None:
    """An ID token 'signed' with the client secret or not at all is never accepted."""
    google.sign = sign
    with pytest.raises(ProviderError, match="signed with"):
        await login(provider(http, clock), http)


async def test_rotated_signing_key_is_fetched_once(
    google: FakeGoogle, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A new kid makes the provider re-read the JWKS once; an unknown key then fails."""
    google_provider = provider(http, clock)
    await login(google_provider, http)
    google.signing_key, google.kid = rsa_key(2), "google-2"
    assert (await login(google_provider, http)).subject == "1001"

    def foreign(claims: dict[str, Any]) -> str:
        return jwt.encode(claims, rsa_key(0), "RS256", headers={"kid": "nobody"})

    google.sign = foreign
    with pytest.raises(ProviderError, match="no signing key"):
        await login(google_provider, http)


async def test_expired_id_token_is_refused(
    google: FakeGoogle, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Our clock decides: a token whose exp passed (beyond leeway) is refused."""
    google_provider = provider(http, clock)
    google.clock = FakeClock(clock() - 7200)  # Google mints tokens that died an hour ago
    with pytest.raises(ProviderError, match="expired"):
        await login(google_provider, http)


async def test_recheck_refreshes_and_rereads_groups(
    google: FakeGoogle, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Recheck refreshes the upstream token and reads the Directory again."""
    google.user = GoogleUser("1001", "ann@corp.test", hd="corp.test")
    google.groups["ann@corp.test"] = ["a@corp.test"]
    google_provider = provider(http, clock, hostedDomain="corp.test", **WITH_GROUPS)
    identity = await login(google_provider, http)
    assert identity.recheck_secret is not None
    google.groups["ann@corp.test"] = ["b@corp.test", "c@corp.test", "d@corp.test"]
    again = await google_provider.recheck(identity)
    assert again.groups == ("b@corp.test", "c@corp.test", "d@corp.test")
    assert again.recheck_secret == identity.recheck_secret  # Google does not rotate
    google.revoked.add(identity.recheck_secret)
    with pytest.raises(LoginDenied, match=SESSION_ENDED):
        await google_provider.recheck(again)


async def test_recheck_without_refresh_token_still_rereads_groups(
    google: FakeGoogle, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """No upstream refresh token: the Directory alone gives the current groups."""
    google.groups["ann@corp.test"] = ["new@corp.test"]
    google_provider = provider(http, clock, **WITH_GROUPS)
    known = UpstreamIdentity("1001", "ann@corp.test", True, groups=("old@corp.test",))
    assert (await google_provider.recheck(known)).groups == ("new@corp.test",)


def test_bad_service_account_key_fails_at_startup(http: httpx.AsyncClient) -> None:
    """A key JSON without a private key is a configuration error, raised when built."""
    with pytest.raises(ValueError, match="serviceAccountKey"):
        build_provider(config(serviceAccountKey='{"client_email": "x"}', adminEmail=ADMIN), http)


async def test_authorize_url_is_googles(http: httpx.AsyncClient, clock: FakeClock) -> None:
    """The login goes to Google's documented authorization endpoint, never with resource."""
    redirect = await provider(http, clock).begin(callback_url=CALLBACK, state="s")
    assert redirect.url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert "resource" not in parse_qs(urlsplit(redirect.url).query)
