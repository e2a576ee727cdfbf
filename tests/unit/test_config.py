"""The configuration file as an operator writes it: loading, defaults, validation, overrides."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from mcp_gatekeeper.config import (
    CONFIG_PATH_ENV,
    Config,
    ConfigError,
    Problem,
    load_config,
    redacted,
)
from mcp_gatekeeper.config.durations import format_duration, parse_duration

MINIMAL = """\
proxy:
  hosts:
    - host: mcp.example.com
"""

PROVIDER = """\
provider:
  name: oidc
  issuerURL: https://idp.example.com
  clientID: gatekeeper
  clientSecret: s3cr3t-value
"""


def client_secret(config: Config) -> str:
    """The provider's client secret, which the tests expect to be set."""
    assert config.provider.client_secret is not None
    return config.provider.client_secret.get_secret_value()


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    """Write ``text`` to a file under ``tmp_path`` and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    """Load ``text`` as a configuration file with an explicit (default: empty) environment."""
    return load_config(write(tmp_path, text), {} if environ is None else environ)


def problems_of(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[Problem]:
    """The problems ``load_config`` reports for ``text``; fails if it loads."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, environ)
    return caught.value.problems


def paths_of(problems: list[Problem]) -> list[str]:
    """Just the field paths of ``problems``."""
    return [problem.path for problem in problems]


def only_problem(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Problem:
    """The single problem reported for ``text``."""
    problems = problems_of(tmp_path, text, environ)
    assert len(problems) == 1, problems
    return problems[0]


def with_hosts(*entries: str, proxy_extra: str = "") -> str:
    """A configuration whose ``proxy.hosts`` holds the given YAML list entries."""
    body = "".join(f"    - {entry}\n" for entry in entries)
    return f"proxy:\n  hosts:\n{body}{proxy_extra}"


# --- loading and defaults --------------------------------------------------------------------


def test_minimal_config_loads() -> None:
    """A file naming one host is a complete configuration."""
    config = Config.model_validate({"proxy": {"hosts": [{"host": "mcp.example.com"}]}})
    assert [entry.host for entry in config.proxy.hosts] == ["mcp.example.com"]
    assert config.provider.name == "demo", "no provider configured: the loopback demo"


def test_minimal_yaml_file_loads(tmp_path: Path) -> None:
    """``load_config`` reads a minimal YAML file from disk."""
    config = load(tmp_path, MINIMAL)
    assert [entry.host for entry in config.proxy.hosts] == ["mcp.example.com"]


def test_defaults(tmp_path: Path) -> None:
    """Unset settings take the documented defaults."""
    config = load(tmp_path, MINIMAL)
    assert config.proxy.hosts[0].path == "/mcp"
    assert config.proxy.hosts[0].scopes == []
    assert config.proxy.hosts[0].endpoint is None
    assert config.proxy.issuer is None
    assert config.proxy.trusted_host_headers == "host"
    assert config.proxy.reject_client_identity_headers is True
    assert config.proxy.disable_consent_screen is False
    assert config.proxy.allowed_redirect_urls == []
    assert config.proxy.identity_headers.user == "X-Auth-Request-User"
    assert config.proxy.identity_headers.email == "X-Auth-Request-Email"
    assert config.tokens.access_token_ttl == timedelta(hours=1)
    assert config.tokens.key_rotation_interval == timedelta(hours=1)
    assert config.tokens.clock_skew == timedelta(seconds=30)
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8080
    assert config.server.log_level == "info"


def test_config_is_immutable(tmp_path: Path) -> None:
    """The loaded configuration cannot be changed by accident at run time."""
    config = load(tmp_path, MINIMAL)
    with pytest.raises(ValueError, match="frozen"):
        config.proxy.hosts[0].path = "/other"  # type: ignore[misc]


def test_full_go_chart_names(tmp_path: Path) -> None:
    """The camelCase names the Go mcp-oauth2-proxy chart uses are accepted as they are."""
    config = load(
        tmp_path,
        """\
provider:
  name: google
  clientID: my-client
  clientSecret: my-secret
  issuerURL: https://accounts.google.com
  allowedEmailDomains: ['example\\.com$', '^corp\\.']
proxy:
  hosts:
    - host: mcp.example.com
      endpoint: http://mcp.default.svc:8080/mcp
      scopes:
        - name: mcp:read
          description: Read things
          tools: [list, get]
  disableConsentScreen: true
  allowedRedirectURLs: ['^http://localhost:[0-9]+/callback$']
  trustedHostHeaders: x-original-url
""",
    )
    assert config.provider is not None
    assert config.provider.name == "google"
    assert config.provider.client_id == "my-client"
    assert client_secret(config) == "my-secret"
    assert config.provider.issuer_url == "https://accounts.google.com"
    assert config.provider.allowed_email_domains == [r"example\.com$", r"^corp\."]
    host = config.proxy.hosts[0]
    assert host.endpoint == "http://mcp.default.svc:8080/mcp"
    assert [(s.name, s.description, s.tools) for s in host.scopes] == [
        ("mcp:read", "Read things", ["list", "get"])
    ]
    assert config.proxy.disable_consent_screen is True
    assert config.proxy.allowed_redirect_urls == [r"^http://localhost:[0-9]+/callback$"]
    assert config.proxy.trusted_host_headers == "x-original-url"


def test_demo_config_in_repository_loads() -> None:
    """The shipped ``config/demo.yaml`` is a valid configuration."""
    demo = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"
    config = load_config(demo, {})
    assert config.proxy.hosts[0].host == "127.0.0.1:8080"


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ('"90s"', timedelta(seconds=90)),
        ('"15m"', timedelta(minutes=15)),
        ('"1h30m"', timedelta(hours=1, minutes=30)),
        ('"2d"', timedelta(days=2)),
        ('"15500ms"', timedelta(seconds=15.5)),
        ('"1.5h"', timedelta(minutes=90)),
        ("90", timedelta(seconds=90)),
        ('"90"', timedelta(seconds=90)),
        ("90.5", timedelta(seconds=90.5)),
    ],
    ids=[
        "seconds",
        "minutes",
        "hours-minutes",
        "days",
        "millis",
        "fraction",
        "int",
        "str-int",
        "float",
    ],
)
def test_duration_forms(tmp_path: Path, written: str, expected: timedelta) -> None:
    """Durations are plain seconds or Go-style unit strings."""
    config = load(tmp_path, MINIMAL + f"tokens:\n  accessTokenTTL: {written}\n")
    assert config.tokens.access_token_ttl == expected


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        ('"1x"', "'1x' is not a duration"),
        ('"1h 30m"', "is not a duration"),
        ('"h"', "is not a duration"),
        ('""', "is not a duration"),
        ('"-5m"', "is not a duration"),
        ("true", "a duration is a number of seconds"),
        ("-30", "negative"),
        (".inf", "not a usable duration"),
        (".nan", "not a usable duration"),
        ("100000000000000000000", "not a usable duration"),
        ('"99999999999999d"', "not a usable duration"),
        ("[1]", "valid timedelta"),
    ],
    ids=[
        "unknown-unit",
        "space",
        "no-number",
        "empty",
        "negative-string",
        "bool",
        "negative-number",
        "infinity",
        "nan",
        "huge-int",
        "huge-days",
        "list",
    ],
)
def test_bad_duration_is_a_problem(tmp_path: Path, written: str, fragment: str) -> None:
    """A bad duration is one problem on its own field, never a crash."""
    problem = only_problem(tmp_path, MINIMAL + f"tokens:\n  clockSkew: {written}\n")
    assert problem.path == "tokens.clockSkew"
    assert fragment in problem.message


@pytest.mark.parametrize(
    ("tokens", "fragment"),
    [
        ("accessTokenTTL: 5s", "must be at least 10s"),
        ("keyRotationInterval: 30s", "must be at least 1m"),
        ("clockSkew: 10m", "above 5m"),
        ("verifyCacheSize: -1", "greater than or equal to 0"),
        ("authorizationCodeTTL: 11m", "between 10s and 10m"),
        ("loginTimeout: 30s", "no time for MFA"),
    ],
    ids=[
        "ttl-too-short",
        "rotation-too-short",
        "skew-too-large",
        "negative-cache",
        "code",
        "login",
    ],
)
def test_token_limits(tmp_path: Path, tokens: str, fragment: str) -> None:
    """Token settings outside safe limits are reported on their own path."""
    problem = only_problem(tmp_path, MINIMAL + f"tokens:\n  {tokens}\n")
    assert problem.path == "tokens." + tokens.split(":")[0]
    assert fragment in problem.message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(hours=1), "1h"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=1, seconds=1), "1d1s"),
        (timedelta(0), "0s"),
        (timedelta(seconds=1.5), "1.5s"),
    ],
    ids=["hour", "90s", "1h30m", "day-and-second", "zero", "fraction"],
)
def test_format_duration_round_trips(value: timedelta, text: str) -> None:
    """Durations render in the shortest form, which parses back to the same value."""
    assert format_duration(value) == text
    assert parse_duration(text) == value


# --- unknown keys and the field paths of problems -------------------------------------------


def test_unknown_key_is_reported_with_its_path(tmp_path: Path) -> None:
    """A typo in a key is a problem naming the full path of the misspelt key."""
    problems = problems_of(tmp_path, with_hosts("host: mcp.example.com\n      hots: x"))
    [unknown] = [p for p in problems if p.path == "proxy.hosts[0].hots"]
    assert "unknown setting" in unknown.message


@pytest.mark.parametrize(
    ("text", "path", "nearest"),
    [
        (MINIMAL + "proxyy: {}\n", "proxyy", "proxy"),
        (MINIMAL + "  trustedHostHeader: host\n", "proxy.trustedHostHeader", "trustedHostHeaders"),
        (MINIMAL + "tokens:\n  accessTokenTtl: 1h\n", "tokens.accessTokenTtl", "accessTokenTTL"),
        (MINIMAL + PROVIDER + "  clientId: x\n", "provider.clientId", "clientID"),
        (MINIMAL + "  identityHeaders:\n    mail: X-Mail\n", "proxy.identityHeaders.mail", "email"),
        (
            with_hosts(
                "host: mcp.example.com\n      scopes:\n        - name: r\n          tool: [x]"
            ),
            "proxy.hosts[0].scopes[0].tool",
            "tools",
        ),
        (
            MINIMAL + "server:\n  max_header_bytes: 9000\n",
            "server.max_header_bytes",
            "maxHeaderBytes",
        ),
    ],
    ids=["top-level", "proxy", "tokens-case", "provider-case", "identity", "scope", "snake-case"],
)
def test_unknown_keys_everywhere(tmp_path: Path, text: str, path: str, nearest: str) -> None:
    """Every section forbids unknown keys, including wrongly cased camelCase names, and names
    the nearest valid key of that section."""
    [problem] = [p for p in problems_of(tmp_path, text) if p.path == path]
    assert problem.message == f"unknown setting; did you mean {nearest!r}?"


def test_an_unknown_key_far_from_any_says_how_keys_are_written(tmp_path: Path) -> None:
    """No valid key is near ``colour``: no guess, the spelling hint instead."""
    problem = only_problem(tmp_path, MINIMAL + "server:\n  colour: blue\n")
    assert problem.message == "unknown setting (check the spelling; keys are camelCase)"


def test_a_misspelt_environment_variable_names_the_nearest_setting(tmp_path: Path) -> None:
    """``..._SERVER__WROKERS`` suggests ``workers``."""
    problem = only_problem(tmp_path, MINIMAL, {"MCP_GATEKEEPER_SERVER__WROKERS": "2"})
    assert problem.path == "MCP_GATEKEEPER_SERVER__WROKERS"
    assert problem.message == "no setting named 'WROKERS' here; did you mean 'workers'?"


# --- rules across settings, reported with everything else ----------------------------------


def test_rules_across_settings_are_reported_with_the_other_problems(tmp_path: Path) -> None:
    """Several workers on memory:// and the demo login off loopback are reported in the same
    run as a typo, a bad host and a bad duration elsewhere: each once, naming its settings."""
    text = with_hosts("host: MCP.example.com\n      hots: x") + (
        "tokens:\n  accessTokenTTL: 1x\n  clockSkew: 10m\n"
        "server:\n  host: 0.0.0.0\n  workers: 2\n  maxHeaderBytes: 100\n"
    )
    assert sorted(paths_of(problems_of(tmp_path, text))) == [
        "provider.name, server.host",
        "proxy.hosts[0].host",
        "proxy.hosts[0].hots",
        "server.maxHeaderBytes",
        "server.workers, store.url",
        "tokens.accessTokenTTL",
        "tokens.clockSkew",
    ]


def test_a_rule_that_ran_is_not_reported_twice(tmp_path: Path) -> None:
    """The identity header clash is found by pydantic already; another problem in the same
    section does not make it appear again."""
    text = MINIMAL + "  issuer: nope\n  identityHeaders: {user: X-A, email: x-a}\n"
    assert sorted(paths_of(problems_of(tmp_path, text))) == [
        "proxy.identityHeaders",
        "proxy.issuer",
    ]


@pytest.mark.parametrize(
    ("server", "path"),
    [
        ("  host: 0.0.0.0\nprovider: {name: okta}\n", "provider.name"),
        ("  workers: many\n", "server.workers"),
    ],
    ids=["provider-unknown", "workers-not-a-number"],
)
def test_a_rule_on_an_invalid_setting_is_not_guessed(
    tmp_path: Path, server: str, path: str
) -> None:
    """A rule whose input did not validate stays silent: an unknown provider is not taken for
    the demo login, workers that are not a number are not "several"."""
    assert paths_of(problems_of(tmp_path, MINIMAL + "server:\n" + server)) == [path]


@pytest.mark.parametrize("value", ["100", "1073741824", "64KiB", "-1", "true"])
def test_max_header_bytes_must_be_a_sensible_size(tmp_path: Path, value: str) -> None:
    """``server.maxHeaderBytes`` is a byte count between 8 KiB and 1 MiB."""
    problem = only_problem(tmp_path, MINIMAL + f"server:\n  maxHeaderBytes: {value}\n")
    assert problem.path == "server.maxHeaderBytes"
    assert (
        load(tmp_path, MINIMAL + "server:\n  maxHeaderBytes: 16384\n").server.max_header_bytes
        == 16384
    )


def test_missing_proxy_is_reported(tmp_path: Path) -> None:
    """A file without ``proxy`` names the missing section."""
    problem = only_problem(tmp_path, "server:\n  port: 9000\n")
    assert problem.path == "proxy"
    assert "required" in problem.message.lower()


def test_empty_hosts_list_is_reported(tmp_path: Path) -> None:
    """At least one host must be configured."""
    problem = only_problem(tmp_path, "proxy:\n  hosts: []\n")
    assert problem.path == "proxy.hosts"


# --- hosts and paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "mcp.example.com",
        "mcp.example.com:8443",
        "localhost",
        "localhost:8080",
        "127.0.0.1:3000",
        "[::1]:8080",
        "10.0.0.1",
        "my-host",
    ],
    ids=[
        "name",
        "name-port",
        "localhost",
        "localhost-port",
        "ipv4-port",
        "ipv6-port",
        "ip",
        "dash",
    ],
)
def test_good_hosts(tmp_path: Path, host: str) -> None:
    """Lower-case names and IPs, with a non-default port, are accepted as written."""
    config = load(tmp_path, with_hosts(f'host: "{host}"'))
    assert config.proxy.hosts[0].host == host


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("MCP.Example.com", "must be lower-case, e.g. 'mcp.example.com'"),
        ("x.example.com:443", "leave out the default port: write 'x.example.com'"),
        ("localhost:80", "leave out the default port: write 'localhost'"),
        ("127.0.0.1:80", "leave out the default port: write '127.0.0.1'"),
        ("[::1]:80", "leave out the default port: write '[::1]'"),
        ("bad host", "is not a host name"),
        ("https://mcp.example.com", "is not a host name"),
        ("mcp.example.com/mcp", "is not a host name"),
        ("user@mcp.example.com", "is not a host name"),
        ("mcp_example.com", "is not a host name"),
        ("mcp.example.com.", "is not a host name"),
        ("", "is not a host name"),
        ("mcp.example.com:0", "out of range"),
        ("mcp.example.com:99999", "out of range"),
    ],
    ids=[
        "upper-case",
        "https-default-port",
        "loopback-default-port",
        "ipv4-loopback-default-port",
        "ipv6-loopback-default-port",
        "space",
        "url",
        "path",
        "userinfo",
        "underscore",
        "trailing-dot",
        "empty",
        "port-zero",
        "port-too-big",
    ],
)
def test_bad_hosts(tmp_path: Path, host: str, fragment: str) -> None:
    """A host that clients could not send verbatim is one problem on ``host``."""
    problem = only_problem(tmp_path, with_hosts(f'host: "{host}"'))
    assert problem.path == "proxy.hosts[0].host"
    assert fragment in problem.message


def test_https_port_is_not_default_for_loopback(tmp_path: Path) -> None:
    """Port 443 on a loopback host (served over http) is not a default port to leave out."""
    config = load(tmp_path, with_hosts("host: localhost:443"))
    assert config.proxy.hosts[0].host == "localhost:443"


@pytest.mark.parametrize("path", ["/mcp", "/", "/a/b-c_d.e~f", "/v1/mcp"], ids=str)
def test_good_paths(tmp_path: Path, path: str) -> None:
    """Absolute paths without a trailing slash (or the root) are accepted."""
    config = load(tmp_path, with_hosts(f"host: mcp.example.com\n      path: {path}"))
    assert config.proxy.hosts[0].path == path


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/mcp/", "must not end with '/'"),
        ("'/mcp?x=1'", "without query"),
        ("'/mcp#frag'", "without query, fragment"),
        ("mcp", "absolute path"),
        ("'/m cp'", "spaces"),
        ("/m%20cp", "absolute path"),
        ("''", "absolute path"),
    ],
    ids=["trailing-slash", "query", "fragment", "relative", "space", "percent", "empty"],
)
def test_bad_paths(tmp_path: Path, path: str, fragment: str) -> None:
    """A path that is not a canonical resource path is a problem on ``path``."""
    problem = only_problem(tmp_path, with_hosts(f"host: mcp.example.com\n      path: {path}"))
    assert problem.path == "proxy.hosts[0].path"
    assert fragment in problem.message


def test_duplicate_hosts(tmp_path: Path) -> None:
    """The same host twice is reported once, naming the host."""
    problem = only_problem(
        tmp_path, with_hosts("host: a.example.com", "host: b.example.com", "host: a.example.com")
    )
    assert problem.path == "proxy.hosts"
    assert "repeated: a.example.com" in problem.message


def test_same_name_with_different_ports_is_not_duplicate(tmp_path: Path) -> None:
    """Hosts differing only in port are distinct MCP servers."""
    config = load(tmp_path, with_hosts("host: a.example.com", "host: a.example.com:8443"))
    assert len(config.proxy.hosts) == 2


@pytest.mark.parametrize(
    "endpoint",
    ["ftp://mcp.internal/mcp", "mcp.internal:8080", "http://", "/mcp"],
    ids=["ftp", "no-scheme", "no-host", "path-only"],
)
def test_bad_endpoint(tmp_path: Path, endpoint: str) -> None:
    """The internal endpoint must be an http(s) URL."""
    problem = only_problem(
        tmp_path, with_hosts(f'host: mcp.example.com\n      endpoint: "{endpoint}"')
    )
    assert problem.path == "proxy.hosts[0].endpoint"
    assert "http:// or https://" in problem.message


# --- scopes ----------------------------------------------------------------------------------


def scopes_yaml(*names: str) -> str:
    """A host with scopes named ``names``."""
    body = "".join(f"        - name: {name}\n" for name in names)
    return f"proxy:\n  hosts:\n    - host: mcp.example.com\n      scopes:\n{body}"


def test_duplicate_scope_names(tmp_path: Path) -> None:
    """A host's scope names must be unique; the problem names the repeated scope."""
    problem = only_problem(tmp_path, scopes_yaml("read", "write", "read"))
    assert problem.path == "proxy.hosts[0].scopes"
    assert "repeated: read" in problem.message


def test_same_scope_on_two_hosts_is_fine(tmp_path: Path) -> None:
    """Scope names only need to be unique within a host."""
    text = (
        "proxy:\n  hosts:\n"
        "    - host: a.example.com\n      scopes: [{name: read}]\n"
        "    - host: b.example.com\n      scopes: [{name: read}]\n"
    )
    config = load(tmp_path, text)
    assert [h.scopes[0].name for h in config.proxy.hosts] == ["read", "read"]


def test_offline_access_is_not_a_host_scope(tmp_path: Path) -> None:
    """``offline_access`` belongs to the authorization server and is refused on a host."""
    problem = only_problem(tmp_path, scopes_yaml("read", "offline_access"))
    assert problem.path == "proxy.hosts[0].scopes[1].name"
    assert "offline_access" in problem.message


@pytest.mark.parametrize(
    "name",
    ["'has space'", "'quo\"te'", "'back\\slash'", "''", "'caf\u00e9'"],
    ids=["space", "quote", "backslash", "empty", "non-ascii"],
)
def test_bad_scope_names(tmp_path: Path, name: str) -> None:
    """Scope names follow the RFC 6749 scope-token grammar."""
    problem = only_problem(tmp_path, scopes_yaml(name))
    assert problem.path == "proxy.hosts[0].scopes[0].name"
    assert "printable ASCII" in problem.message


# --- regular expressions ---------------------------------------------------------------------


def test_bad_redirect_regex_names_its_index(tmp_path: Path) -> None:
    """An invalid redirect URL pattern is reported with the list index and the pattern."""
    problem = only_problem(tmp_path, MINIMAL + "  allowedRedirectURLs: ['^ok$', '(bad']\n")
    assert problem.path == "proxy.allowedRedirectURLs[1]"
    assert "invalid regular expression '(bad'" in problem.message


def test_bad_email_domain_regex_names_its_index(tmp_path: Path) -> None:
    """An invalid email domain pattern is reported with the list index and the pattern."""
    text = MINIMAL + PROVIDER + "  allowedEmailDomains: ['[unclosed', 'example\\.com']\n"
    problem = only_problem(tmp_path, text)
    assert problem.path == "provider.allowedEmailDomains[0]"
    assert "invalid regular expression '[unclosed'" in problem.message


# --- issuer ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "issuer",
    [
        "https://auth.example.com",
        "https://auth.example.com:8443",
        "http://localhost:9000",
        "http://127.0.0.1",
        "http://[::1]:9000",
        "https://localhost:9443",
    ],
    ids=["https", "https-port", "http-localhost", "http-ipv4-loopback", "http-ipv6", "https-lo"],
)
def test_good_issuers(tmp_path: Path, issuer: str) -> None:
    """An issuer is an origin; http is fine on loopback."""
    config = load(tmp_path, MINIMAL + f"  issuer: {issuer}\n")
    assert config.proxy.issuer == issuer


@pytest.mark.parametrize(
    ("issuer", "fragment"),
    [
        ("https://auth.example.com/realms/x", "must be an origin"),
        ("https://auth.example.com/", "trailing '/'"),
        ("https://auth.example.com?x=1", "must be an origin"),
        ("auth.example.com", "must be an origin"),
        ("ftp://auth.example.com", "must be an origin"),
        ("http://auth.example.com", "http is allowed only for loopback hosts"),
        ("http://10.0.0.1:8080", "http is allowed only for loopback hosts"),
        ("https://Auth.example.com", "must be lower-case"),
        ("https://auth.example.com:443", "leave out the default port"),
        ("https://user@auth.example.com", "is not a host name"),
    ],
    ids=[
        "path",
        "trailing-slash",
        "query",
        "no-scheme",
        "ftp",
        "http-public",
        "http-private-ip",
        "upper-case",
        "default-port",
        "userinfo",
    ],
)
def test_bad_issuers(tmp_path: Path, issuer: str, fragment: str) -> None:
    """A central issuer that is not a plain https origin is one problem on ``proxy.issuer``."""
    problem = only_problem(tmp_path, MINIMAL + f'  issuer: "{issuer}"\n')
    assert problem.path == "proxy.issuer"
    assert fragment in problem.message


# --- other validated settings ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (MINIMAL + "  trustedHostHeaders: forwarded\n", "proxy.trustedHostHeaders"),
        (MINIMAL + "provider: {name: okta, clientID: x, clientSecret: y}\n", "provider.name"),
        (MINIMAL + "server: {port: 70000}\n", "server.port"),
        (MINIMAL + "server: {logLevel: verbose}\n", "server.logLevel"),
        (MINIMAL + "server: {denyLogRate: 0}\n", "server.denyLogRate"),
        (MINIMAL + "  identityHeaders: {user: 'X User'}\n", "proxy.identityHeaders"),
        (
            MINIMAL + "  identityHeaders: {user: X-Email, email: x-email}\n",
            "proxy.identityHeaders",
        ),
    ],
    ids=[
        "trusted-host-headers",
        "provider-name",
        "port",
        "log-level",
        "deny-rate",
        "header-name",
        "header-clash",
    ],
)
def test_other_invalid_settings(tmp_path: Path, text: str, path: str) -> None:
    """Enumerations, ranges and header names are checked and reported by path."""
    problem = only_problem(tmp_path, text)
    assert problem.path == path


def test_provider_requires_client_credentials(tmp_path: Path) -> None:
    """A provider without clientID and clientSecret names both missing settings."""
    problems = problems_of(tmp_path, MINIMAL + "provider:\n  name: github\n")
    assert sorted(paths_of(problems)) == ["provider.clientID", "provider.clientSecret"]


# --- every problem at once ------------------------------------------------------------------


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Three independent mistakes yield three problems, each with its own path."""
    text = """\
proxy:
  hosts:
    - host: MCP.example.com
      path: /mcp/
  trustedHostHeaders: host
tokens:
  accessTokenTTL: 1x
"""
    problems = problems_of(tmp_path, text)
    assert sorted(paths_of(problems)) == [
        "proxy.hosts[0].host",
        "proxy.hosts[0].path",
        "tokens.accessTokenTTL",
    ]


def test_file_and_environment_problems_are_reported_together(tmp_path: Path) -> None:
    """Problems in the environment are listed along with those in the file."""
    problems = problems_of(
        tmp_path,
        with_hosts('host: "bad host"'),
        {"MCP_GATEKEEPER_PROXY__NOPE": "x", "MCP_GATEKEEPER_SERVER__PORT": "not-a-number"},
    )
    assert sorted(paths_of(problems)) == [
        "MCP_GATEKEEPER_PROXY__NOPE",
        "proxy.hosts[0].host",
        "server.port",
    ]


def test_config_error_message_lists_every_problem(tmp_path: Path) -> None:
    """``str(ConfigError)`` is one ``path: message`` line per problem."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, with_hosts('host: "A.example.com"', 'host: "b.example.com:443"'))
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("proxy.hosts[0].host: must be lower-case")
    assert lines[1].startswith("proxy.hosts[1].host: leave out the default port")


# --- environment overrides -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MCP_GATEKEEPER_PROXY__TRUSTEDHOSTHEADERS", "x-forwarded"),
        ("MCP_GATEKEEPER_PROXY__TRUSTED_HOST_HEADERS", "x-forwarded"),
        ("MCP_GATEKEEPER_proxy__trustedHostHeaders", "x-forwarded"),
        ("MCP_GATEKEEPER_PROXY__TRUSTED-HOST-HEADERS", "x-forwarded"),
    ],
    ids=["upper", "underscores", "camel-case", "dashes"],
)
def test_env_override_names(tmp_path: Path, variable: str, value: str) -> None:
    """Setting names in variables ignore case, ``_`` and ``-``."""
    config = load(tmp_path, MINIMAL, {variable: value})
    assert config.proxy.trusted_host_headers == value


def test_env_overrides_values_in_the_file(tmp_path: Path) -> None:
    """An environment variable wins over the file."""
    text = MINIMAL + "  trustedHostHeaders: host\n"
    config = load(tmp_path, text, {"MCP_GATEKEEPER_PROXY__TRUSTEDHOSTHEADERS": "x-original-url"})
    assert config.proxy.trusted_host_headers == "x-original-url"


def test_env_overrides_list_item_by_index(tmp_path: Path) -> None:
    """``...__HOSTS__0__PATH`` changes the first host's path only."""
    text = with_hosts("host: a.example.com", "host: b.example.com")
    config = load(tmp_path, text, {"MCP_GATEKEEPER_PROXY__HOSTS__0__PATH": "/other"})
    assert [h.path for h in config.proxy.hosts] == ["/other", "/mcp"]


def test_env_overrides_duration(tmp_path: Path) -> None:
    """Durations from the environment use the same syntax as in the file."""
    config = load(tmp_path, MINIMAL, {"MCP_GATEKEEPER_TOKENS__ACCESSTOKENTTL": "5m"})
    assert config.tokens.access_token_ttl == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("variable", "value", "check"),
    [
        ("MCP_GATEKEEPER_PROXY__DISABLECONSENTSCREEN", "true", "disable_consent_screen"),
        ("MCP_GATEKEEPER_SERVER__PORT", "9090", "port"),
        ("MCP_GATEKEEPER_PROXY__ISSUER", "https://auth.example.com", "issuer"),
    ],
    ids=["bool", "int", "string"],
)
def test_env_values_are_converted(tmp_path: Path, variable: str, value: str, check: str) -> None:
    """String values from the environment become booleans and numbers as the schema says."""
    config = load(tmp_path, MINIMAL, {variable: value})
    actual = {
        "disable_consent_screen": config.proxy.disable_consent_screen,
        "port": config.server.port,
        "issuer": config.proxy.issuer,
    }[check]
    expected: object = {"disable_consent_screen": True, "port": 9090, "issuer": value}[check]
    assert actual == expected


def test_env_creates_a_missing_section(tmp_path: Path) -> None:
    """An override may set a value in a section the file leaves out."""
    config = load(tmp_path, MINIMAL, {"MCP_GATEKEEPER_SERVER__LOGLEVEL": "debug"})
    assert config.server.log_level == "debug"


def test_env_invalid_value_is_reported_at_the_field(tmp_path: Path) -> None:
    """A bad value from the environment is reported like a bad value in the file."""
    problem = only_problem(tmp_path, MINIMAL, {"MCP_GATEKEEPER_PROXY__TRUSTEDHOSTHEADERS": "any"})
    assert problem.path == "proxy.trustedHostHeaders"


def test_unrelated_env_variables_are_ignored(tmp_path: Path) -> None:
    """Only variables with the ``MCP_GATEKEEPER_`` prefix are read."""
    environ = {"PATH": "/usr/bin", "MCP_GATEKEEPERX": "1", "GATEKEEPER_PROXY__ISSUER": "x"}
    config = load(tmp_path, MINIMAL, environ)
    assert config.proxy.issuer is None


@pytest.mark.parametrize(
    ("variable", "fragment"),
    [
        ("MCP_GATEKEEPER_PROXY__TRUSTEDHOSTHEADERZ", "no setting named 'TRUSTEDHOSTHEADERZ'"),
        ("MCP_GATEKEEPER_NOPE", "no setting named 'NOPE'"),
        ("MCP_GATEKEEPER_PROXY__HOSTS__1__PATH", "hosts has no item '1'"),
        ("MCP_GATEKEEPER_PROXY__HOSTS__X__PATH", "hosts has no item 'X'"),
        ("MCP_GATEKEEPER_PROXY__HOSTS__0__NOPE", "no setting named 'NOPE'"),
        ("MCP_GATEKEEPER_PROXY__HOSTS__0", "name a setting of the list item"),
        ("MCP_GATEKEEPER_PROXY__HOSTS", "only single values"),
        ("MCP_GATEKEEPER_PROXY__IDENTITYHEADERS", "only single values"),
        ("MCP_GATEKEEPER_PROXY__ALLOWEDREDIRECTURLS", "only single values"),
        ("MCP_GATEKEEPER_TOKENS", "only single values"),
        ("MCP_GATEKEEPER_SERVER__PORT__X", "'port' has no sub-settings"),
        ("MCP_GATEKEEPER_PROVIDER__NAMEFILE", "is not a secret setting"),
    ],
    ids=[
        "unknown-setting",
        "unknown-section",
        "index-out-of-range",
        "index-not-a-number",
        "unknown-item-setting",
        "whole-item",
        "whole-list",
        "whole-mapping",
        "whole-scalar-list",
        "whole-section",
        "below-a-scalar",
        "file-for-non-secret",
    ],
)
def test_bad_env_variable_is_a_problem_naming_it(
    tmp_path: Path, variable: str, fragment: str
) -> None:
    """A variable that cannot be applied is a problem whose path is the variable's name."""
    problem = only_problem(tmp_path, MINIMAL + PROVIDER, {variable: "/x"})
    assert problem.path == variable
    assert fragment in problem.message


def test_env_into_a_non_mapping_in_the_file(tmp_path: Path) -> None:
    """An override below a setting the file gives a non-mapping value is reported."""
    problems = problems_of(tmp_path, MINIMAL + "server: 5\n", {"MCP_GATEKEEPER_SERVER__PORT": "1"})
    [env_problem] = [p for p in problems if p.path == "MCP_GATEKEEPER_SERVER__PORT"]
    assert "'server' in the file is not a mapping" in env_problem.message


def test_config_path_from_environment(tmp_path: Path) -> None:
    """``MCP_GATEKEEPER_CONFIG`` names the file when no path is given, and is no override."""
    path = write(tmp_path, MINIMAL)
    config = load_config(None, {CONFIG_PATH_ENV: str(path)})
    assert config.proxy.hosts[0].host == "mcp.example.com"
    assert CONFIG_PATH_ENV == "MCP_GATEKEEPER_CONFIG"


def test_explicit_path_wins_over_environment(tmp_path: Path) -> None:
    """A path passed explicitly is used even when ``MCP_GATEKEEPER_CONFIG`` is set."""
    path = write(tmp_path, MINIMAL)
    config = load_config(path, {CONFIG_PATH_ENV: str(tmp_path / "missing.yaml")})
    assert config.proxy.hosts[0].host == "mcp.example.com"


def test_process_environment_is_used_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an explicit mapping, ``load_config`` reads ``os.environ``."""
    monkeypatch.setenv(CONFIG_PATH_ENV, str(write(tmp_path, MINIMAL)))
    monkeypatch.setenv("MCP_GATEKEEPER_SERVER__PORT", "9999")
    config = load_config(None)
    assert config.server.port == 9999


def test_no_config_path_at_all() -> None:
    """Neither a path nor ``MCP_GATEKEEPER_CONFIG`` is one clear problem."""
    with pytest.raises(ConfigError) as caught:
        load_config(None, {})
    [problem] = caught.value.problems
    assert "--config" in problem.message
    assert CONFIG_PATH_ENV in problem.message


# --- secrets from files ----------------------------------------------------------------------

PROVIDER_WITHOUT_SECRET = """\
provider:
  name: oidc
  issuerURL: https://idp.example.com
  clientID: gatekeeper
"""


def test_client_secret_file_is_read(tmp_path: Path) -> None:
    """``clientSecretFile`` supplies the secret, without the trailing newline."""
    secret = write(tmp_path, "from-a-file\n", "secret")
    text = MINIMAL + PROVIDER_WITHOUT_SECRET + f"  clientSecretFile: {secret}\n"
    config = load(tmp_path, text)
    assert config.provider is not None
    assert client_secret(config) == "from-a-file"


def test_client_secret_file_from_environment(tmp_path: Path) -> None:
    """``MCP_GATEKEEPER_PROVIDER__CLIENTSECRETFILE`` points at the secret file."""
    secret = write(tmp_path, "env-file-secret\n", "secret")
    config = load(
        tmp_path,
        MINIMAL + PROVIDER_WITHOUT_SECRET,
        {"MCP_GATEKEEPER_PROVIDER__CLIENTSECRETFILE": str(secret)},
    )
    assert config.provider is not None
    assert client_secret(config) == "env-file-secret"


def test_client_secret_file_env_with_underscores(tmp_path: Path) -> None:
    """``..._CLIENT_SECRET_FILE`` is the same variable as ``..._CLIENTSECRETFILE``."""
    secret = write(tmp_path, "x\n", "secret")
    config = load(
        tmp_path,
        MINIMAL + PROVIDER_WITHOUT_SECRET,
        {"MCP_GATEKEEPER_PROVIDER__CLIENT_SECRET_FILE": str(secret)},
    )
    assert config.provider is not None
    assert client_secret(config) == "x"


def test_client_secret_from_environment(tmp_path: Path) -> None:
    """The secret itself may come from ``MCP_GATEKEEPER_PROVIDER__CLIENTSECRET``."""
    config = load(
        tmp_path,
        MINIMAL + PROVIDER_WITHOUT_SECRET,
        {"MCP_GATEKEEPER_PROVIDER__CLIENTSECRET": "env-secret"},
    )
    assert config.provider is not None
    assert client_secret(config) == "env-secret"


def test_secret_and_secret_file_together(tmp_path: Path) -> None:
    """Setting both ``clientSecret`` and ``clientSecretFile`` is exactly one problem."""
    secret = write(tmp_path, "x\n", "secret")
    problem = only_problem(tmp_path, MINIMAL + PROVIDER + f"  clientSecretFile: {secret}\n")
    assert problem.path == "provider.clientSecret"
    assert "either clientSecret or clientSecretFile" in problem.message


def test_unreadable_secret_file(tmp_path: Path) -> None:
    """A missing secret file is exactly one problem on ``clientSecretFile``."""
    missing = tmp_path / "no-such-secret"
    problem = only_problem(
        tmp_path, MINIMAL + PROVIDER_WITHOUT_SECRET + f"  clientSecretFile: {missing}\n"
    )
    assert problem.path == "provider.clientSecretFile"
    assert "cannot read" in problem.message


def test_secret_file_that_is_not_text(tmp_path: Path) -> None:
    """A secret file that is not UTF-8 is a problem, not a crash."""
    secret = tmp_path / "binary"
    secret.write_bytes(b"\xff\xfe\x00")
    problem = only_problem(
        tmp_path, MINIMAL + PROVIDER_WITHOUT_SECRET + f"  clientSecretFile: {secret}\n"
    )
    assert problem.path == "provider.clientSecretFile"
    assert "UTF-8" in problem.message


def test_secret_file_problem_among_others(tmp_path: Path) -> None:
    """A secret file problem is listed along with every other problem."""
    text = (
        with_hosts('host: "A.example.com"')
        + PROVIDER_WITHOUT_SECRET
        + f"  clientSecretFile: {tmp_path / 'missing'}\n"
    )
    problems = problems_of(tmp_path, text)
    assert sorted(paths_of(problems)) == ["provider.clientSecretFile", "proxy.hosts[0].host"]


# --- redacted view ---------------------------------------------------------------------------


def test_redacted_hides_the_secret(tmp_path: Path) -> None:
    """The start-up view of the configuration never contains the client secret."""
    config = load(tmp_path, MINIMAL + PROVIDER)
    view = redacted(config)
    text = json.dumps(view)
    assert "s3cr3t-value" not in text
    assert "s3cr3t-value" not in repr(config)
    assert "s3cr3t-value" not in str(config)
    provider = view["provider"]
    assert isinstance(provider, dict)
    assert provider["clientID"] == "gatekeeper"
    assert provider["clientSecret"] != "s3cr3t-value"


def test_redacted_hides_a_secret_read_from_a_file(tmp_path: Path) -> None:
    """A secret from ``clientSecretFile`` is masked too."""
    secret = write(tmp_path, "file-secret-text\n", "secret")
    config = load(tmp_path, MINIMAL + PROVIDER_WITHOUT_SECRET + f"  clientSecretFile: {secret}\n")
    assert "file-secret-text" not in json.dumps(redacted(config))


def test_redacted_uses_yaml_names_and_readable_durations(tmp_path: Path) -> None:
    """The view uses the file's camelCase keys and durations like ``"1h"``."""
    config = load(tmp_path, MINIMAL + "tokens:\n  keyRotationInterval: 90m\n")
    view = redacted(config)
    json.dumps(view)  # JSON-ready
    tokens = view["tokens"]
    assert isinstance(tokens, dict)
    assert tokens["accessTokenTTL"] == "1h"
    assert tokens["keyRotationInterval"] == "1h30m"
    assert tokens["clockSkew"] == "30s"
    proxy = view["proxy"]
    assert isinstance(proxy, dict)
    assert proxy["trustedHostHeaders"] == "host"
    (host,) = proxy["hosts"]
    assert {key: host[key] for key in ("host", "path", "endpoint", "scopes")} == {
        "host": "mcp.example.com",
        "path": "/mcp",
        "endpoint": None,
        "scopes": [],
    }
    assert host["allowedEmailDomains"] == []


def test_redacted_view_loads_back(tmp_path: Path) -> None:
    """The redacted view (minus the masked secret) is itself a valid configuration."""
    config = load(tmp_path, MINIMAL + "tokens:\n  accessTokenTTL: 15m\n  clockSkew: 1.5\n")
    again = Config.model_validate(redacted(config))
    assert again == config


# --- the file itself -------------------------------------------------------------------------


def test_yaml_syntax_error_has_line_number(tmp_path: Path) -> None:
    """Broken YAML is one problem that says where."""
    text = "proxy:\n  hosts:\n    - host: a.example.com\n    path: x\n  - bad\n"
    problem = only_problem(tmp_path, text)
    assert problem.path == ""
    assert "is not valid YAML at line 4" in problem.message
    assert "config.yaml" in problem.message


def test_empty_file(tmp_path: Path) -> None:
    """An empty file is treated as an empty mapping: ``proxy`` is missing."""
    problem = only_problem(tmp_path, "")
    assert problem.path == "proxy"


def test_comment_only_file(tmp_path: Path) -> None:
    """A file with only comments is like an empty file."""
    problem = only_problem(tmp_path, "# nothing here yet\n")
    assert problem.path == "proxy"


def test_empty_file_with_env_overrides(tmp_path: Path) -> None:
    """Environment overrides still apply to an empty file (and report their problems)."""
    problems = problems_of(tmp_path, "", {"MCP_GATEKEEPER_PROXY__HOSTS__0__HOST": "a.example.com"})
    paths = paths_of(problems)
    assert "MCP_GATEKEEPER_PROXY__HOSTS__0__HOST" in paths


@pytest.mark.parametrize(
    "text", ["- proxy\n", "just a string\n", "42\n"], ids=["list", "string", "number"]
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    """A file that is not a mapping at the top level is one problem saying so."""
    problem = only_problem(tmp_path, text)
    assert "must hold a mapping at the top level" in problem.message


def test_missing_file(tmp_path: Path) -> None:
    """A path that does not exist is one problem naming it."""
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing, {})
    [problem] = caught.value.problems
    assert f"cannot read {missing}" in problem.message
    assert "No such file" in problem.message


def test_directory_instead_of_file(tmp_path: Path) -> None:
    """A directory is not a configuration file."""
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, {})
    [problem] = caught.value.problems
    assert "cannot read" in problem.message


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    """A file that is not UTF-8 text is a problem, not a crash."""
    path = tmp_path / "config.yaml"
    path.write_bytes(b"proxy:\n  hosts:\n    - host: \xff\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    [problem] = caught.value.problems
    assert "not UTF-8" in problem.message


def test_problem_str() -> None:
    """A problem prints as ``path: message``, or just the message without a path."""
    assert str(Problem("proxy.issuer", "bad")) == "proxy.issuer: bad"
    assert str(Problem("", "no file")) == "no file"


def test_environment_secret_file_wins_over_the_files_secret(tmp_path: Path) -> None:
    """A Kubernetes Secret mounted via env overrides a secret written in the file."""
    secret = write(tmp_path, "mounted\n", "secret")
    config = load(
        tmp_path, MINIMAL + PROVIDER, {"MCP_GATEKEEPER_PROVIDER__CLIENTSECRETFILE": str(secret)}
    )
    assert config.provider is not None
    assert client_secret(config) == "mounted"


def test_environment_secret_wins_over_the_files_secret_file(tmp_path: Path) -> None:
    """An env secret replaces a clientSecretFile named in the file (which is then not read)."""
    text = MINIMAL + PROVIDER_WITHOUT_SECRET + "  clientSecretFile: /does/not/exist\n"
    config = load(tmp_path, text, {"MCP_GATEKEEPER_PROVIDER__CLIENTSECRET": "from-env"})
    assert config.provider is not None
    assert client_secret(config) == "from-env"


def test_python_style_keys_are_unknown(tmp_path: Path) -> None:
    """Only the documented camelCase names count; snake_case is a reported typo."""
    problem = only_problem(tmp_path, MINIMAL + "  trusted_host_headers: x-forwarded\n")
    assert problem.path == "proxy.trusted_host_headers"


def test_without_a_provider_the_demo_login_needs_loopback(tmp_path: Path) -> None:
    """The demo login signs anyone in, so it is refused unless the service listens on loopback."""
    problems = problems_of(tmp_path, MINIMAL + "server:\n  host: 0.0.0.0\n")
    assert paths_of(problems) == ["provider.name, server.host"]
    assert "loopback" in problems[0].message
    assert load(tmp_path, MINIMAL + "server:\n  host: '::1'\n").provider.name == "demo"


def test_real_provider_may_listen_everywhere(tmp_path: Path) -> None:
    """With a configured provider any listen address is fine."""
    config = load(tmp_path, MINIMAL + PROVIDER + "server:\n  host: 0.0.0.0\n")
    assert config.provider.name == "oidc"


@pytest.mark.parametrize(
    ("provider", "missing"),
    [
        ("name: oidc\n  clientID: x\n  clientSecret: y\n", ["provider.issuerURL"]),
        ("name: google\n  clientID: x\n", ["provider.clientSecret"]),
        ("name: demo\n", []),
    ],
    ids=["oidc-needs-issuer", "google-needs-secret", "demo-needs-nothing"],
)
def test_provider_requirements_name_each_field(
    tmp_path: Path, provider: str, missing: list[str]
) -> None:
    """Each provider's required settings are reported field by field."""
    text = MINIMAL + "provider:\n  " + provider
    if not missing:
        assert load(tmp_path, text).provider.name == "demo"
        return
    assert paths_of(problems_of(tmp_path, text)) == missing
