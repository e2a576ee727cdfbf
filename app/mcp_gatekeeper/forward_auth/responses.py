"""The answers ``/authenticate`` gives, prebuilt per host (on its first request, again only when
its scopes change): the hot path only picks.

Gateways accept exactly 200 as "allow" and pass 401/403 through; anything else becomes a 500 at
nginx or a deny/allow surprise at Envoy (``research/gateway-contracts.md`` §0 rules 2-3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from ..hosts import McpHost
from ..tokens.dpop import ALGORITHMS as DPOP_ALGORITHMS
from .identity import RawHeaders

_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")
# Browser-based MCP clients must be able to read the challenge to start discovery.
_CORS = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"WWW-Authenticate"),
)


@dataclass(frozen=True, slots=True)
class Answer:
    """Status, complete raw headers (``content-length`` included) and body, ready to send."""

    status: int
    headers: RawHeaders
    body: bytes
    #: The headers as HTTP/1.1 header lines, for the protocol that writes them itself.
    wire_headers: bytes
    #: A refusal as MCP clients get it (``refusal``); ``None`` for an answer that is no refusal.
    as_mcp: Answer | None = None


def make_answer(status: int, headers: RawHeaders, body: bytes = b"") -> Answer:
    """Built once per host or per verified token, never per request. A value that could end its
    header line is refused here (the caller fails closed): the answer is written as it is."""
    complete = (*headers, (b"content-length", str(len(body)).encode()))
    wire = b"".join([b"%s: %s\r\n" % header for header in complete])
    lines = len(complete)
    if wire.count(b"\n") != lines or wire.count(b"\r") != lines or b"\0" in wire:
        raise ValueError("a header holds a line break")
    return Answer(status, complete, body, wire)


#: A JSON-RPC error code in the range left to servers; MCP clients show the message whatever it is.
JSONRPC_REFUSED = -32001


def refusal(status: int, headers: RawHeaders, error: str, description: str) -> Answer:
    """A 401/403 with the OAuth error JSON, and its twin for MCP clients.

    RFC 6750 puts the OAuth error in ``WWW-Authenticate`` and leaves the body open. MCP SDK
    clients show a JSON-RPC error's message and nothing of any other body ("Server returned an
    error response"), so a client that asks for MCP's media types gets the description there,
    the OAuth fields in ``error.data``. Both are built here once: the prebuilt refusals cost
    nothing per request.
    """
    oauth = {"error": error, "error_description": description}
    jsonrpc = {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": JSONRPC_REFUSED, "message": description, "data": oauth},
    }
    twin = make_answer(status, headers, json.dumps(jsonrpc).encode())
    return replace(make_answer(status, headers, json.dumps(oauth).encode()), as_mcp=twin)


def _challenge(host: McpHost, error: str | None, scopes: tuple[str, ...]) -> bytes:
    """RFC 6750 §3 / RFC 9728 §5.1; ``scope`` never lists ``offline_access`` (MCP 2026-07-28)."""
    params = []
    if error:
        params.append(f'error="{error}"')
    params.append(f'resource_metadata="{host.resource_metadata_url}"')
    offered = [scope for scope in scopes if scope != "offline_access"]
    if offered:
        params.append(f'scope="{" ".join(offered)}"')
    return ("Bearer " + ", ".join(params)).encode()


@dataclass(frozen=True, slots=True)
class HostAnswers:
    """The two 401s of one host: without a token, and with a token that failed."""

    missing_token: Answer
    invalid_token: Answer

    @classmethod
    def for_host(cls, host: McpHost, scopes: tuple[str, ...]) -> HostAnswers:
        def unauthorized(error: str | None, description: str) -> Answer:
            headers = (
                (b"www-authenticate", _challenge(host, error, scopes)),
                _JSON,
                _NO_STORE,
                *_CORS,
            )
            return refusal(401, headers, error or "unauthorized", description)

        # Said to a person: clients that show anything show this description, nothing else.
        return cls(
            missing_token=unauthorized(
                None,
                f"Sign-in required for {host.host}: connect or reconnect this MCP server in your"
                " client, which opens a browser to sign you in",
            ),
            invalid_token=unauthorized(
                "invalid_token",
                f"Your sign-in to {host.host} has expired, was revoked or belongs to another"
                " server: reconnect this MCP server in your client (or sign out of it and in"
                " again) to sign in anew",
            ),
        )


UNKNOWN_HOST = refusal(
    403, (_JSON, _NO_STORE), "forbidden", "This host is not a configured MCP host"
)
IDENTITY_HEADER_REJECTED = refusal(
    403,
    (_JSON, _NO_STORE),
    "forbidden",
    "The request carries identity headers only the gateway may set",
)


def insufficient_scope(
    host: McpHost, scopes: tuple[str, ...], tools: tuple[str, ...], unseen: str | None = None
) -> Answer:
    """MCP step-up: 403 naming the granted scopes plus the missing ones, so no grant is lost.
    ``unseen`` says why the tool could not be seen, when the whole set of tools is asked for."""
    headers = (
        (b"www-authenticate", _challenge(host, "insufficient_scope", scopes)),
        _JSON,
        _NO_STORE,
        *_CORS,
    )
    ask = (
        f"sign in again and approve these permissions on the approval page: {' '.join(scopes)}"
        " (your MCP client does this when it supports step-up; otherwise reconnect the server)"
    )
    if unseen is None:
        description = f"Your sign-in does not allow {_named(tools)}; {ask}"
    else:
        description = f"Only a sign-in allowing every tool of this server may send this: {unseen}"
        description += f"; {ask}"
    return refusal(403, headers, "insufficient_scope", description)


#: Tool names a refusal repeats: a request may name any number, of any length.
MAX_NAMED_TOOLS = 5
MAX_TOOL_NAME = 64


def _named(tools: tuple[str, ...]) -> str:
    shown = [tool[:MAX_TOOL_NAME] for tool in tools[:MAX_NAMED_TOOLS]]
    more = len(tools) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def dpop_refusal(host: McpHost, error: str, description: str, nonce: str | None = None) -> Answer:
    """RFC 9449 §7.1: a 401 with a ``DPoP`` challenge naming the algorithms (and a fresh nonce
    when the proof lacked one). Built per refusal: refusals of bound tokens are rare."""
    quoted = description.replace("\\", "").replace('"', "'")
    challenge = (
        f'DPoP error="{error}", error_description="{quoted}", algs="{" ".join(DPOP_ALGORITHMS)}", '
        f'resource_metadata="{host.resource_metadata_url}"'
    )
    headers: list[tuple[bytes, bytes]] = [(b"www-authenticate", challenge.encode()), _JSON]
    if nonce is not None:
        headers.append((b"dpop-nonce", nonce.encode("ascii")))
    cors = (
        (b"access-control-allow-origin", b"*"),
        (b"access-control-expose-headers", b"WWW-Authenticate, DPoP-Nonce"),
    )
    return refusal(401, (*headers, _NO_STORE, *cors), error, description)


def forbidden(description: str) -> Answer:
    return refusal(403, (_JSON, _NO_STORE), "forbidden", description)


FAILED_CLOSED = forbidden("The request could not be checked")
