"""GitHubProvider against a fake GitHub reached through httpx.ASGITransport (no network)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest

from mcp_gatekeeper.config.provider import ProviderConfig
from mcp_gatekeeper.providers import LoginDenied, ProviderError, UpstreamIdentity, build_provider
from mcp_gatekeeper.providers.github import SESSION_ENDED, GitHubProvider
from tests.support import FakeClock

from .fake_github import FakeGitHub, GitHubUser

CALLBACK = "https://mcp.example.test/callback"
GHE = {"webURL": "https://ghe.corp.test", "apiURL": "https://ghe.corp.test/api/v3"}


def octocat() -> GitHubUser:
    return GitHubUser(
        id=583231,
        login="octocat",
        emails=[
            {"email": "old@corp.test", "primary": False, "verified": True},
            {"email": "octo@users.noreply.github.com", "primary": False, "verified": True},
            {"email": "octo@corp.test", "primary": True, "verified": True},
        ],
        teams=[("acme", "dev"), ("acme", "ops"), ("acme", "sre"), ("other", "x"), ("acme", "qa")],
        orgs=["acme", "other"],
        memberships={"acme": "active", "other": "pending"},
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def github(clock: FakeClock) -> FakeGitHub:
    return FakeGitHub(clock, "Iv1.client", "gh-secret", octocat())


@pytest.fixture
async def http(github: FakeGitHub) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=github.app())) as client:
        yield client


def provider(http: httpx.AsyncClient, clock: FakeClock, **extra: Any) -> GitHubProvider:
    data = {"name": "github", "clientID": "Iv1.client", "clientSecret": "gh-secret", **extra}
    built = build_provider(ProviderConfig.model_validate(data), http, clock)
    assert isinstance(built, GitHubProvider)
    return built


async def login(gh: GitHubProvider, http: httpx.AsyncClient) -> UpstreamIdentity:
    redirect = await gh.begin(callback_url=CALLBACK, state="st")
    answer = await http.get(redirect.url)  # the fake authorizes at once
    params = dict(parse_qsl(urlsplit(answer.headers["location"]).query))
    assert params["state"] == "st"
    return await gh.complete(callback_url=CALLBACK, params=params, secrets=redirect.secrets)


async def test_login_picks_primary_verified_email_and_paged_groups(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Subject is github|<id>; email is the primary verified one; teams over 3 pages + orgs."""
    gh = provider(http, clock)
    redirect = await gh.begin(callback_url=CALLBACK, state="st")
    assert redirect.url.startswith("https://github.com/login/oauth/authorize?")
    query = parse_qs(urlsplit(redirect.url).query)
    assert query["scope"] == ["read:user user:email read:org"]
    assert query["code_challenge_method"] == ["S256"] and "resource" not in query
    identity = await login(gh, http)
    assert (identity.subject, identity.email, identity.name) == (
        "github|583231",
        "octo@corp.test",
        "octocat",
    )
    assert identity.groups == (
        "acme/dev",
        "acme/ops",
        "acme/sre",
        "other/x",
        "acme/qa",
        "acme",
        "other",
    )


async def test_primary_but_unverified_email_is_denied(
    github: FakeGitHub, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A verified secondary address does not stand in for an unverified primary one."""
    github.user.emails = [
        {"email": "a@corp.test", "primary": True, "verified": False},
        {"email": "b@corp.test", "primary": False, "verified": True},
    ]
    with pytest.raises(LoginDenied, match="no verified primary email"):
        await login(provider(http, clock), http)


async def test_no_emails_at_all_is_denied(
    github: FakeGitHub, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """An account whose email list is empty cannot log in."""
    github.user.emails = []
    with pytest.raises(LoginDenied, match="no verified primary email"):
        await login(provider(http, clock), http)


async def test_active_org_member_is_let_in(
    github: FakeGitHub, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """With organization set, an active member logs in (after the membership call)."""
    identity = await login(provider(http, clock, organization="acme"), http)
    assert identity.subject == "github|583231"
    assert ("api.github.com", "/user/memberships/orgs/acme") in github.requests


@pytest.mark.parametrize(
    ("org", "message"),
    [
        ("initech", "not an active member of the GitHub organization initech"),
        ("other", "not an active member of the GitHub organization other"),  # pending
        ("locked", "organization locked has not approved this app"),
    ],
)
async def test_org_membership_is_required(
    github: FakeGitHub, http: httpx.AsyncClient, clock: FakeClock, org: str, message: str
) -> None:
    """Not a member, an invitation still pending, or an org blocking the app: denied."""
    github.restricted.add("locked")
    with pytest.raises(LoginDenied, match=message):
        await login(provider(http, clock, organization=org), http)


async def test_enterprise_server_urls(clock: FakeClock) -> None:
    """GitHub Enterprise Server: the web flow and /api/v3 come from webURL and apiURL."""
    ghe = FakeGitHub(
        clock,
        "Iv1.client",
        "gh-secret",
        octocat(),
        web_host="ghe.corp.test",
        api_host="ghe.corp.test",
        api_prefix="/api/v3",
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ghe.app())) as http:
        gh = provider(http, clock, organization="acme", github=GHE)
        redirect = await gh.begin(callback_url=CALLBACK, state="st")
        assert redirect.url.startswith("https://ghe.corp.test/login/oauth/authorize?")
        identity = await login(gh, http)
    assert identity.email == "octo@corp.test" and "acme/qa" in identity.groups
    assert {path for _, path in ghe.requests} >= {"/api/v3/user", "/api/v3/user/teams"}


async def test_token_errors_come_as_http_200(http: httpx.AsyncClient, clock: FakeClock) -> None:
    """GitHub's 200-with-error answer to a bad code is an error, not a token."""
    gh = provider(http, clock)
    params = {"code": "never-issued", "state": "st"}
    with pytest.raises(ProviderError, match="bad_verification_code"):
        await gh.complete(callback_url=CALLBACK, params=params, secrets={"code_verifier": "v"})


async def test_callback_errors(http: httpx.AsyncClient, clock: FakeClock) -> None:
    """Cancel at GitHub is access_denied (denied); other errors are named, free text is not."""
    gh = provider(http, clock)
    with pytest.raises(LoginDenied, match="declined"):
        await gh.complete(callback_url=CALLBACK, params={"error": "access_denied"}, secrets={})
    with pytest.raises(ProviderError, match="redirect_uri_mismatch"):
        await gh.complete(
            callback_url=CALLBACK, params={"error": "redirect_uri_mismatch"}, secrets={}
        )
    with pytest.raises(ProviderError, match=r"with an error$"):
        await gh.complete(callback_url=CALLBACK, params={"error": "<b>hi</b>"}, secrets={})


async def test_recheck_after_removal_from_org_is_denied(
    github: FakeGitHub, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Recheck re-reads teams, and denies a user the organization has since removed."""
    gh = provider(http, clock, organization="acme")
    identity = await login(gh, http)
    github.user.teams = [("acme", "dev")]
    assert (await gh.recheck(identity)).groups == ("acme/dev", "acme", "other")
    del github.user.memberships["acme"]
    with pytest.raises(LoginDenied, match="organization acme"):
        await gh.recheck(identity)


async def test_recheck_with_revoked_token_is_denied(
    github: FakeGitHub, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """The user revoked the app at GitHub: 401, LoginDenied."""
    gh = provider(http, clock)
    identity = await login(gh, http)
    github.revoke_tokens()
    with pytest.raises(LoginDenied, match=SESSION_ENDED):
        await gh.recheck(identity)


async def test_expiring_user_token_is_refreshed(
    github: FakeGitHub, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """GitHub App tokens live 8 h: recheck after that refreshes, keeping the new pair."""
    github.expiring = True
    gh = provider(http, clock)
    identity = await login(gh, http)
    assert identity.recheck_secret is not None
    assert "refresh_token" in json.loads(identity.recheck_secret)
    clock.advance(9 * 3600)
    again = await gh.recheck(identity)
    assert again.subject == identity.subject and again.recheck_secret != identity.recheck_secret
    # The refresh token rotated: the old pair is spent, GitHub answers bad_refresh_token.
    clock.advance(9 * 3600)
    with pytest.raises(LoginDenied, match=SESSION_ENDED):
        await gh.recheck(identity)
    assert (await gh.recheck(again)).email == "octo@corp.test"


async def test_next_page_on_another_host_is_refused(
    github: FakeGitHub, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A Link to another host is not followed: the user's token never leaves GitHub."""
    github.next_host = "evil.test"
    with pytest.raises(ProviderError, match="another host"):
        await login(provider(http, clock), http)


async def test_recheck_without_secret_is_unchanged(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    """An identity without a stored token comes back as it is."""
    identity = UpstreamIdentity("github|1", "a@corp.test", True)
    assert await provider(http, clock).recheck(identity) is identity
