"""Every URL the service emits for a host, and how a request's Host value selects a host."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_gatekeeper.config import Config
from mcp_gatekeeper.hosts import HostRegistry, McpHost, normalise_host, scheme_for
from mcp_gatekeeper.paths import JWKS_PATH, OPENID_CONFIGURATION_PATH, PRM_PATH


def registry(*hosts: dict[str, Any], issuer: str | None = None) -> HostRegistry:
    """A registry for the given ``proxy.hosts`` entries and optional central issuer."""
    proxy: dict[str, Any] = {"hosts": list(hosts)}
    if issuer is not None:
        proxy["issuer"] = issuer
    return HostRegistry(Config.model_validate({"proxy": proxy}))


def only_host(entry: dict[str, Any], issuer: str | None = None) -> McpHost:
    """The single ``McpHost`` built from ``entry``."""
    [host] = registry(entry, issuer=issuer).hosts
    return host


def test_well_known_paths() -> None:
    """Discovery documents live at the standard well-known paths."""
    assert PRM_PATH == "/.well-known/oauth-protected-resource"
    assert OPENID_CONFIGURATION_PATH == "/.well-known/openid-configuration"
    assert JWKS_PATH == "/openid/v1/jwks"


@pytest.mark.parametrize(
    ("host", "path", "resource", "issuer", "prm"),
    [
        (
            "mcp.example.com",
            "/mcp",
            "https://mcp.example.com/mcp",
            "https://mcp.example.com",
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
        ),
        (
            "mcp.example.com:8443",
            "/v1/tools",
            "https://mcp.example.com:8443/v1/tools",
            "https://mcp.example.com:8443",
            "https://mcp.example.com:8443/.well-known/oauth-protected-resource/v1/tools",
        ),
        (
            "localhost",
            "/mcp",
            "http://localhost/mcp",
            "http://localhost",
            "http://localhost/.well-known/oauth-protected-resource/mcp",
        ),
        (
            "localhost:3000",
            "/mcp",
            "http://localhost:3000/mcp",
            "http://localhost:3000",
            "http://localhost:3000/.well-known/oauth-protected-resource/mcp",
        ),
        (
            "localhost:443",
            "/mcp",
            "http://localhost:443/mcp",
            "http://localhost:443",
            "http://localhost:443/.well-known/oauth-protected-resource/mcp",
        ),
        (
            "127.0.0.1:8080",
            "/mcp",
            "http://127.0.0.1:8080/mcp",
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp",
        ),
        (
            "127.0.0.1",
            "/mcp",
            "http://127.0.0.1/mcp",
            "http://127.0.0.1",
            "http://127.0.0.1/.well-known/oauth-protected-resource/mcp",
        ),
        (
            "[::1]:9000",
            "/mcp",
            "http://[::1]:9000/mcp",
            "http://[::1]:9000",
            "http://[::1]:9000/.well-known/oauth-protected-resource/mcp",
        ),
        (
            "[::1]",
            "/mcp",
            "http://[::1]/mcp",
            "http://[::1]",
            "http://[::1]/.well-known/oauth-protected-resource/mcp",
        ),
        (
            "localhost.example.com",
            "/mcp",
            "https://localhost.example.com/mcp",
            "https://localhost.example.com",
            "https://localhost.example.com/.well-known/oauth-protected-resource/mcp",
        ),
        (
            "10.0.0.5:8080",
            "/mcp",
            "https://10.0.0.5:8080/mcp",
            "https://10.0.0.5:8080",
            "https://10.0.0.5:8080/.well-known/oauth-protected-resource/mcp",
        ),
    ],
    ids=[
        "https",
        "https-port-path",
        "localhost",
        "localhost-port",
        "localhost-443",
        "ipv4-loopback-port",
        "ipv4-loopback",
        "ipv6-loopback-port",
        "ipv6-loopback",
        "localhost-lookalike",
        "private-ip",
    ],
)
def test_canonical_urls_per_host(
    host: str, path: str, resource: str, issuer: str, prm: str
) -> None:
    """Each host gets its canonical resource, issuer and path-suffixed PRM URL."""
    mcp = only_host({"host": host, "path": path})
    assert mcp.host == host
    assert mcp.path == path
    assert mcp.resource == resource
    assert mcp.issuer == issuer
    assert mcp.origin == issuer
    assert mcp.resource_metadata_url == prm
    assert mcp.jwks_uri == f"{issuer}/openid/v1/jwks"


def test_default_path_is_mcp() -> None:
    """Without a ``path`` the resource ends in ``/mcp``."""
    assert only_host({"host": "mcp.example.com"}).resource == "https://mcp.example.com/mcp"


def test_root_path_resource() -> None:
    """A host whose MCP endpoint is at ``/`` has the origin plus ``/`` as its resource."""
    mcp = only_host({"host": "mcp.example.com", "path": "/"})
    assert mcp.resource == "https://mcp.example.com/"


@pytest.mark.parametrize(
    ("host", "scheme"),
    [
        ("mcp.example.com", "https"),
        ("mcp.example.com:80", "https"),
        ("localhost", "http"),
        ("localhost:8443", "http"),
        ("127.0.0.1", "http"),
        ("127.1.2.3:9000", "http"),
        ("[::1]", "http"),
        ("[::1]:8443", "http"),
        ("192.168.1.1", "https"),
        ("[2001:db8::1]:8443", "https"),
    ],
    ids=[
        "name",
        "name-port-80",
        "localhost",
        "localhost-port",
        "ipv4-loopback",
        "ipv4-loopback-range",
        "ipv6-loopback",
        "ipv6-loopback-port",
        "private-ip",
        "ipv6-public",
    ],
)
def test_scheme_for(host: str, scheme: str) -> None:
    """Only loopback hosts (with any port) are served over plain http."""
    assert scheme_for(host) == scheme


def test_scopes_and_config_are_kept() -> None:
    """A host carries its scope names, in order, and its configuration entry."""
    entry = {"host": "mcp.example.com", "scopes": [{"name": "write"}, {"name": "read"}]}
    mcp = only_host(entry)
    assert mcp.scopes == ("write", "read")
    assert mcp.config.host == "mcp.example.com"


def test_hosts_keep_configuration_order() -> None:
    """``hosts`` lists the configured hosts in the order of the file."""
    reg = registry({"host": "b.example.com"}, {"host": "a.example.com"}, {"host": "localhost:1"})
    assert [h.host for h in reg.hosts] == ["b.example.com", "a.example.com", "localhost:1"]


# --- issuers ---------------------------------------------------------------------------------


def test_each_host_is_its_own_issuer_by_default() -> None:
    """Without ``proxy.issuer`` every host is the issuer for its own resource."""
    reg = registry({"host": "a.example.com"}, {"host": "b.example.com:8443"})
    assert [h.issuer for h in reg.hosts] == ["https://a.example.com", "https://b.example.com:8443"]
    assert reg.issuers == frozenset({"https://a.example.com", "https://b.example.com:8443"})


def test_central_issuer_is_used_for_every_host() -> None:
    """``proxy.issuer`` is the issuer (and JWKS origin) for every host."""
    reg = registry(
        {"host": "a.example.com"},
        {"host": "b.example.com", "path": "/x"},
        {"host": "localhost:3000"},
        issuer="https://auth.example.com",
    )
    assert {h.issuer for h in reg.hosts} == {"https://auth.example.com"}
    assert {h.jwks_uri for h in reg.hosts} == {"https://auth.example.com/openid/v1/jwks"}
    assert reg.issuers == frozenset({"https://auth.example.com"})
    # Resources stay on each host; only the issuer is central.
    assert [h.resource for h in reg.hosts] == [
        "https://a.example.com/mcp",
        "https://b.example.com/x",
        "http://localhost:3000/mcp",
    ]


# --- looking up a host -----------------------------------------------------------------------


@pytest.fixture
def hosts() -> HostRegistry:
    """A registry with a public host, one on a custom port, and loopback hosts."""
    return registry(
        {"host": "mcp.example.com"},
        {"host": "alt.example.com:8443", "path": "/alt"},
        {"host": "localhost"},
        {"host": "127.0.0.1:8080"},
        {"host": "[::1]"},
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mcp.example.com", "mcp.example.com"),
        ("MCP.Example.COM", "mcp.example.com"),
        ("mcp.example.com:443", "mcp.example.com"),
        ("alt.example.com:8443", "alt.example.com:8443"),
        ("ALT.example.com:8443", "alt.example.com:8443"),
        ("localhost", "localhost"),
        ("localhost:80", "localhost"),
        ("LocalHost", "localhost"),
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("[::1]", "[::1]"),
        ("[::1]:80", "[::1]"),
    ],
    ids=[
        "exact",
        "upper-case",
        "https-default-port",
        "custom-port",
        "custom-port-upper",
        "loopback",
        "loopback-default-port",
        "loopback-mixed-case",
        "loopback-ipv4-port",
        "loopback-ipv6",
        "loopback-ipv6-default-port",
    ],
)
def test_get_normalises(hosts: HostRegistry, value: str, expected: str) -> None:
    """Host values that name a configured host the same way find it."""
    found = hosts.get(value)
    assert found is not None
    assert found.host == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        ".",
        "other.example.com",
        "mcp.example.com:80",
        "mcp.example.com:8443",
        "alt.example.com",
        "alt.example.com:443",
        "localhost:443",
        "localhost:8080",
        "127.0.0.1",
        "127.0.0.1:80",
        "mcp.example.com/mcp",
        "mcp.example.com/",
        "user@mcp.example.com",
        "evil.example.com@mcp.example.com",
        "mcp.example.com, evil.example.com",
        "mcp.example.com,mcp.example.com",
        "mcp.example.com evil",
        "mcp.example.com\tevil",
        "mcp.example.com?x",
        "mcp.example.com#x",
        "mcp\\example.com",
        "https://mcp.example.com",
        "mcp.example.com:",
        "mcp.example.com:abc",
        "sub.mcp.example.com",
        "example.com",
        "mcp.example.com.",
        "localhost.",
    ],
    ids=[
        "none",
        "empty",
        "blank",
        "dot",
        "unknown",
        "https-host-port-80",
        "https-host-other-port",
        "custom-port-missing",
        "custom-port-as-default",
        "loopback-port-443",
        "loopback-other-port",
        "port-missing",
        "port-80-not-configured",
        "path",
        "trailing-slash",
        "userinfo",
        "userinfo-spoof",
        "comma-list",
        "comma-list-same",
        "space",
        "tab",
        "query",
        "fragment",
        "backslash",
        "url",
        "empty-port",
        "bad-port",
        "subdomain",
        "parent-domain",
        "trailing-dot",
        "loopback-trailing-dot",
    ],
)
def test_get_rejects(hosts: HostRegistry, value: str | None) -> None:
    """Values that are not exactly a configured host select nothing."""
    assert hosts.get(value) is None


def test_get_returns_the_same_host_object(hosts: HostRegistry) -> None:
    """Different spellings of one host select the very same ``McpHost``."""
    assert hosts.get("MCP.example.com:443") is hosts.get("mcp.example.com")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("A.Example.COM", "a.example.com"),
        ("a.example.com.", "a.example.com"),
        ("a.example.com:443", "a.example.com"),
        ("a.example.com:80", "a.example.com:80"),
        ("localhost:80", "localhost"),
        ("localhost:443", "localhost:443"),
        ("127.0.0.1:80", "127.0.0.1"),
        ("[::1]:80", "[::1]"),
        ("a.example.com/x", None),
        ("a@b", None),
        ("a,b", None),
        ("a b", None),
        ("", None),
        ("bad_name", None),
    ],
    ids=[
        "case",
        "dot",
        "https-default",
        "https-80-kept",
        "loopback-default",
        "loopback-443-kept",
        "ipv4-loopback-default",
        "ipv6-loopback-default",
        "slash",
        "at",
        "comma",
        "space",
        "empty",
        "underscore",
    ],
)
def test_normalise_host(value: str, expected: str | None) -> None:
    """``normalise_host`` lower-cases, drops a trailing dot and the default port, or refuses."""
    assert normalise_host(value) == expected


# --- issuer_for ------------------------------------------------------------------------------


def test_issuer_for_mcp_hosts_without_central_issuer(hosts: HostRegistry) -> None:
    """Each MCP host serves its own issuer's documents."""
    assert hosts.issuer_for("mcp.example.com") == "https://mcp.example.com"
    assert hosts.issuer_for("MCP.example.com:443") == "https://mcp.example.com"
    assert hosts.issuer_for("alt.example.com:8443") == "https://alt.example.com:8443"
    assert hosts.issuer_for("localhost:80") == "http://localhost"
    assert hosts.issuer_for("127.0.0.1:8080") == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    "value",
    [None, "", "other.example.com", "alt.example.com", "mcp.example.com/x", "a@mcp.example.com"],
    ids=["none", "empty", "unknown", "missing-port", "path", "userinfo"],
)
def test_issuer_for_other_hosts_is_none(hosts: HostRegistry, value: str | None) -> None:
    """A host that is neither an MCP host nor the issuer serves no issuer documents."""
    assert hosts.issuer_for(value) is None


@pytest.fixture
def central() -> HostRegistry:
    """Two MCP hosts sharing the central issuer ``https://auth.example.com``."""
    return registry(
        {"host": "a.example.com"}, {"host": "b.example.com"}, issuer="https://auth.example.com"
    )


@pytest.mark.parametrize(
    "value",
    ["auth.example.com", "AUTH.example.com", "auth.example.com.", "auth.example.com:443"],
    ids=["exact", "upper-case", "trailing-dot", "default-port"],
)
def test_issuer_for_central_issuer_host(central: HostRegistry, value: str) -> None:
    """The central issuer's own host serves the central issuer's documents."""
    assert central.issuer_for(value) == "https://auth.example.com"


def test_issuer_for_mcp_hosts_with_central_issuer(central: HostRegistry) -> None:
    """MCP hosts answer with the central issuer when one is configured."""
    assert central.issuer_for("a.example.com") == "https://auth.example.com"
    assert central.issuer_for("B.example.com") == "https://auth.example.com"


def test_central_issuer_is_not_an_mcp_host(central: HostRegistry) -> None:
    """The central issuer's host serves discovery but is not a protected MCP host."""
    assert central.get("auth.example.com") is None
    assert central.issuer_for("auth.example.com:8443") is None
    assert central.issuer_for("other.example.com") is None


@pytest.mark.parametrize(
    ("issuer", "value"),
    [
        ("https://auth.example.com:8443", "auth.example.com:8443"),
        ("http://localhost:9000", "localhost:9000"),
        ("http://127.0.0.1", "127.0.0.1:80"),
        ("https://localhost:9443", "localhost:9443"),
    ],
    ids=["https-port", "http-loopback", "http-loopback-default-port", "https-loopback"],
)
def test_issuer_for_keeps_the_central_issuer_as_configured(issuer: str, value: str) -> None:
    """The central issuer is answered exactly as configured, scheme and port included."""
    reg = registry({"host": "mcp.example.com"}, issuer=issuer)
    assert reg.issuer_for(value) == issuer
    assert reg.issuer_for("mcp.example.com") == issuer
