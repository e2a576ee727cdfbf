"""RFC 9728 protected-resource metadata, OIDC discovery and JWKS, per configured host."""

from __future__ import annotations

import pytest

from tests.support import make_config, running

PRM = "/.well-known/oauth-protected-resource"


@pytest.mark.parametrize("path", [PRM, PRM + "/mcp"], ids=["root", "path-suffixed"])
async def test_protected_resource_metadata_per_host(path: str) -> None:
    """resource, issuer list and scopes come from config for the host the client asked."""
    async with running(make_config()) as (_app, client):
        a = await client.get(path, headers={"host": "a.example.test"})
        b = await client.get(path, headers={"host": "b.example.test"})
    assert a.status_code == 200
    assert a.json() == {
        "resource": "https://a.example.test/mcp",
        "authorization_servers": ["https://a.example.test"],
        "scopes_supported": ["read"],
        "bearer_methods_supported": ["header"],
        "jwks_uri": "https://a.example.test/openid/v1/jwks",
        "resource_name": "a.example.test",
    }
    assert a.headers["access-control-allow-origin"] == "*"
    assert b.json()["resource"] == "https://b.example.test/mcp"
    assert b.json()["scopes_supported"] == []


async def test_metadata_parses_with_the_mcp_sdk_model() -> None:
    """What the official SDK client parses, it accepts (resource is a parent of the MCP URL)."""
    from mcp.shared.auth import ProtectedResourceMetadata

    async with running(make_config()) as (_app, client):
        body = (await client.get(PRM + "/mcp", headers={"host": "a.example.test"})).json()
    parsed = ProtectedResourceMetadata.model_validate(body)
    assert str(parsed.resource).rstrip("/") == "https://a.example.test/mcp"


async def test_loopback_hosts_use_http_and_keep_their_port() -> None:
    """http only on loopback; the port is part of the host and of every URL."""
    config = make_config(hosts=[{"host": "127.0.0.1:8080", "path": "/db/mcp"}])
    async with running(config) as (_app, client):
        body = (await client.get(PRM + "/db/mcp", headers={"host": "127.0.0.1:8080"})).json()
    assert body["resource"] == "http://127.0.0.1:8080/db/mcp"
    assert body["authorization_servers"] == ["http://127.0.0.1:8080"]


async def test_central_issuer_is_named_by_every_host() -> None:
    """proxy.issuer puts every host under one issuer, byte-identical everywhere."""
    config = make_config(issuer="https://auth.example.test")
    async with running(config) as (_app, client):
        prm = (await client.get(PRM, headers={"host": "b.example.test"})).json()
        oidc = await client.get(
            "/.well-known/openid-configuration", headers={"host": "auth.example.test"}
        )
    assert prm["authorization_servers"] == ["https://auth.example.test"]
    assert oidc.json()["issuer"] == "https://auth.example.test"
    assert oidc.json()["jwks_uri"] == "https://auth.example.test/openid/v1/jwks"


@pytest.mark.parametrize(
    "path", [PRM, PRM + "/mcp", "/.well-known/openid-configuration", "/openid/v1/jwks"]
)
async def test_unconfigured_host_gets_421(path: str) -> None:
    """Discovery never answers for a host it does not protect (no URL from a stray Host)."""
    async with running(make_config()) as (_app, client):
        response = await client.get(path, headers={"host": "evil.example.test"})
    assert response.status_code == 421
    assert response.json()["error"] == "misdirected_request"


async def test_wrong_resource_path_is_404() -> None:
    """The path-suffixed document exists only for the host's MCP path."""
    async with running(make_config()) as (_app, client):
        response = await client.get(PRM + "/other", headers={"host": "a.example.test"})
    assert response.status_code == 404
    assert "/mcp" in response.json()["error_description"]


async def test_browser_gets_a_readable_error_page() -> None:
    """A person opening a discovery URL on a wrong host sees a page, not JSON or a trace."""
    async with running(make_config()) as (_app, client):
        response = await client.get(
            PRM, headers={"host": "evil.example.test", "accept": "text/html"}
        )
    assert response.status_code == 421
    assert response.headers["content-type"].startswith("text/html")
    assert "Unknown host" in response.text and "misdirected_request" in response.text


async def test_jwks_is_a_non_empty_key_array_matching_the_ring() -> None:
    """JWKS lists current and next key (never null, never empty)."""
    async with running(make_config()) as (app, client):
        body = (await client.get("/openid/v1/jwks", headers={"host": "a.example.test"})).json()
        ring = app.state.services.keys.ring
    assert [key["kid"] for key in body["keys"]] == [ring.current.kid, ring.next.kid]
    assert all(key["kty"] == "RSA" and "d" not in key for key in body["keys"])


async def test_discovery_preflight_allows_mcp_protocol_version() -> None:
    """Browser clients may send MCP-Protocol-Version when fetching metadata."""
    async with running(make_config()) as (_app, client):
        response = await client.options(
            PRM + "/mcp",
            headers={
                "host": "a.example.test",
                "origin": "http://localhost:6274",
                "access-control-request-method": "GET",
            },
        )
    assert response.status_code == 204
    assert "MCP-Protocol-Version" in response.headers["access-control-allow-headers"]
    assert response.headers["access-control-allow-origin"] == "*"
