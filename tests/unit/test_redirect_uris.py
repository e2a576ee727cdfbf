"""Redirect URI rules: what may be registered, and which requested URI matches a registered one."""

from __future__ import annotations

import pytest

from mcp_gatekeeper.oauth.clients.redirect_uris import matches, registration_problem

ALLOW_EXAMPLE = [r"https://app\.example\.com/.*"]


@pytest.mark.parametrize(
    "uri",
    [
        "http://localhost/callback",
        "http://127.0.0.1/callback",
        "http://[::1]:8080/cb?x=1",
        "https://app.example.com/cb",
        "https://app.example.com/cb/%7Euser",
    ],
)
def test_plain_urls_may_be_registered(uri: str) -> None:
    """Loopback http, https, an IPv6 literal and a percent-escape in the path are fine."""
    assert registration_problem(uri, []) is None


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("https://evil.example\\@app.example.com/cb", "backslash"),
        ("https://app.example.com\\.evil.example/cb", "backslash"),
        ("http://localhost\\evil.example/cb", "backslash"),
        ("https://app.example.com/cb\t", "control"),
        ("https://app.example.com/c b", "spaces"),
        ("https://app.example.com/\x00cb", "control"),
        ("https://app.example.com/\x7fcb", "control"),
        ("https://evil.example%2F@app.example.com/cb", "user information"),
        ("https://evil.example%5C.app.example.com/cb", "plain host"),
        ("https://app.example.com%2eevil.example/cb", "plain host"),
        ("https://app.example.com/cb%zz", "URL characters"),
        ("https://app.exämple.com/cb", "URL characters"),
        ('https://app.example.com/"cb"', "URL characters"),
        ("https://app.example.com:0/cb", "plain host"),
        ("https://app.example.com:/cb", "plain host"),
        ("https:app.example.com/cb", "absolute"),
        ("http://localhost.evil.example/cb", "loopback"),
        ("https://app.example.com/cb/../x", "path segments"),
        ("https://app.example.com/cb/%2E%2e/x", "path segments"),
        ("https://app.example.com/./cb", "path segments"),
    ],
    ids=[
        "backslash-userinfo",
        "backslash-host",
        "backslash-localhost",
        "tab",
        "space",
        "nul",
        "del",
        "escaped-slash-in-userinfo",
        "escaped-backslash-in-host",
        "escaped-dot-in-host",
        "broken-escape",
        "non-ascii",
        "quote",
        "port-zero",
        "empty-port",
        "no-authority",
        "localhost-prefix",
        "dot-dot",
        "escaped-dot-dot",
        "dot",
    ],
)
def test_uris_parsers_disagree_on_are_refused(uri: str, problem: str) -> None:
    """Characters browsers and urllib read differently are refused with a reason."""
    found = registration_problem(uri, [])
    assert found is not None and problem in found, found


def test_a_backslash_cannot_slip_through_an_allow_list_pattern() -> None:
    """``.*`` in a pattern would accept a backslash a browser turns into another host."""
    assert registration_problem("https://app.example.com/cb", ALLOW_EXAMPLE) is None
    sneaky = "https://app.example.com/\\\\evil.example/cb"
    assert registration_problem(sneaky, ALLOW_EXAMPLE) is not None


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        ("http://localhost/callback", "http://localhost:53682/callback"),
        ("http://localhost:3000/callback", "http://localhost:53682/callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:53682/callback"),
        ("http://[::1]/callback", "http://[::1]:53682/callback"),
        ("http://localhost/callback?a=1", "http://localhost:1/callback?a=1"),
        ("https://app.example.com/cb", "https://app.example.com/cb"),
    ],
    ids=["localhost", "localhost-other-port", "ipv4", "ipv6", "query", "exact"],
)
def test_a_loopback_redirect_may_come_back_on_any_port(registered: str, requested: str) -> None:
    """RFC 8252 §7.3, for IP literals and for localhost as Claude Code sends it."""
    assert matches(registered, requested)


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        ("http://localhost/callback", "http://127.0.0.1:53682/callback"),
        ("http://127.0.0.1/callback", "http://localhost:53682/callback"),
        ("http://localhost/callback", "http://localhost:53682/callback/extra"),
        ("http://localhost/callback", "http://localhost:53682/callback?x=1"),
        ("http://localhost/callback", "http://localhost:53682/callback#x"),
        ("http://localhost/callback", "http://localhost:0/callback"),
        ("http://localhost/callback", "https://localhost:53682/callback"),
        ("http://localhost/callback", "http://localhost:53682\\@evil.example/callback"),
        ("http://localhost/callback", "http://localhost:53682/callback\\..\\x"),
        ("http://localhost/callback", "http://user@localhost:53682/callback"),
        ("http://localhost/callback", "http://localhost.evil.example:53682/callback"),
        ("https://app.example.com/cb", "https://app.example.com:8443/cb"),
        ("https://app.example.com/c\\b", "https://app.example.com/c\\b"),
    ],
    ids=[
        "localhost-to-ip",
        "ip-to-localhost",
        "other-path",
        "other-query",
        "fragment",
        "port-zero",
        "https",
        "backslash-authority",
        "backslash-path",
        "userinfo",
        "localhost-prefix",
        "https-port",
        "stored-backslash",
    ],
)
def test_everything_but_the_loopback_port_must_match(registered: str, requested: str) -> None:
    """Host, scheme, path and query stay exact; a malformed URI never matches, not even itself."""
    assert not matches(registered, requested)
