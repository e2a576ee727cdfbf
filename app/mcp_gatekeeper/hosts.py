"""Every URL the service emits, derived from configuration alone.

One ``McpHost`` per ``proxy.hosts[]`` entry holds its canonical resource (RFC 8707, MCP
"canonical server URI"), its issuer and its discovery URLs. No URL is ever built from a request
header: a request header only *selects* one of these configured hosts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Config, HostConfig
from .net import is_loopback_hostname, split_host
from .paths import JWKS_PATH, PRM_PATH


def scheme_for(host: str) -> str:
    """``http`` only for loopback hosts (any port), ``https`` everywhere else."""
    return "http" if is_loopback_hostname(split_host(host)[0]) else "https"


@dataclass(frozen=True)
class McpHost:
    """One protected MCP server and the URLs that describe it."""

    host: str
    path: str
    scheme: str
    issuer: str
    scopes: tuple[str, ...]
    config: HostConfig

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def resource(self) -> str:
        return f"{self.origin}{self.path}"

    @property
    def resource_metadata_url(self) -> str:
        """The path-suffixed PRM URL (RFC 9728 §3.1), which SDK clients try first."""
        return f"{self.origin}{PRM_PATH}{self.path}"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}{JWKS_PATH}"


def normalise_host(value: str) -> str | None:
    """Lower-case a Host value and drop a default port; ``None`` if it cannot be a host."""
    value = value.strip().lower().rstrip(".")
    if not value or any(c in value for c in "/?#@, \t\\"):
        return None
    try:
        name, port = split_host(value)
    except ValueError:
        return None
    if port == (80 if is_loopback_hostname(name) else 443):
        return name
    return value


class HostRegistry:
    """The configured hosts, looked up by the host a request names."""

    def __init__(self, config: Config) -> None:
        central = config.proxy.issuer
        self._hosts: dict[str, McpHost] = {}
        for entry in config.proxy.hosts:
            scheme = scheme_for(entry.host)
            self._hosts[entry.host] = McpHost(
                host=entry.host,
                path=entry.path,
                scheme=scheme,
                issuer=central or f"{scheme}://{entry.host}",
                scopes=tuple(scope.name for scope in entry.scopes),
                config=entry,
            )
        self.issuers: frozenset[str] = frozenset(host.issuer for host in self._hosts.values())
        # Issuer host -> issuer: a central issuer keeps its own scheme (https on loopback too).
        self._issuer_by_host = {issuer.split("://", 1)[1]: issuer for issuer in self.issuers}
        self._served_hosts = frozenset(self._hosts) | frozenset(self._issuer_by_host)
        # Unique under trustedHostHeaders: query (the configuration refuses clashes).
        self._by_hostname = {split_host(name)[0]: host for name, host in self._hosts.items()}

    @property
    def hosts(self) -> tuple[McpHost, ...]:
        return tuple(self._hosts.values())

    def get(self, host: str | None) -> McpHost | None:
        """The MCP host a (raw) Host value names, or ``None``."""
        if host is None:
            return None
        found = self._hosts.get(host)
        if found is not None:
            return found
        if host.endswith("."):
            # Envoy routes "a.example." to another virtual host (or none) by default: the
            # tokens of a.example must not be good there.
            return None
        normal = normalise_host(host)
        return self._hosts.get(normal) if normal else None

    def get_by_hostname(self, hostname: str | None) -> McpHost | None:
        """The MCP host whose name, port aside, is ``hostname`` (nginx's ``$host``, no port)."""
        if hostname is None or hostname != hostname.lower():
            return None
        try:
            name, port = split_host(hostname)
        except ValueError:
            return None
        return self._by_hostname.get(name) if port is None else None

    def issuer_for(self, host: str | None) -> str | None:
        """The issuer whose documents ``host`` serves (an MCP host or the central issuer)."""
        normal = normalise_host(host) if host else None
        if normal is None or normal not in self._served_hosts:
            return None
        mcp_host = self._hosts.get(normal)
        if mcp_host is not None:
            return mcp_host.issuer
        return self._issuer_by_host[normal]
