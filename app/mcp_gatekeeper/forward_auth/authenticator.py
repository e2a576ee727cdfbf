"""``/authenticate``: is this bearer token good for this MCP host, and for this tool?

Dispatched before the framework (``asgi.py``) and observed by ``ops.middleware.ObservedEndpoint``:
no Request/Response objects, no dependency injection, one pass over the headers, prebuilt
answers returned for the caller to send. It depends only on keys, tokens, hosts, the gateway
header family and what the scope catalog already knows (never any I/O: ``research/perf.md``
§3b, the framework costs more than the token check).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.types import Receive, Scope

from ..hosts import HostRegistry, McpHost
from ..ops.metrics import UNKNOWN_HOST as UNKNOWN_HOST_LABEL
from ..ops.metrics import Metrics
from ..ops.tracing import record_decision
from ..scopes.advertised import advertised_scopes
from ..scopes.catalog import ScopeCatalog
from ..tokens import AccessClaims, InvalidToken, TokenVerifier, Verified
from .credentials import CredentialMiss, UpstreamAnswers
from .dpop_check import DpopCheck, Scheme
from .identity import IdentityRenderer
from .original_request import OriginalRequest, OriginalRequestReader
from .rate_limits import RateLimiter
from .responses import (
    FAILED_CLOSED,
    IDENTITY_HEADER_REJECTED,
    MAX_NAMED_TOOLS,
    MAX_TOOL_NAME,
    UNKNOWN_HOST,
    Answer,
    HostAnswers,
    forbidden,
    insufficient_scope,
    make_answer,
)
from .rules import RuleCheck
from .tool_calls import (
    MAX_BODY_BYTES,
    ToolCalls,
    UnreadableToolCall,
    combine,
    from_body,
    from_headers,
)
from .tool_policy import ToolScopes

log = logging.getLogger(__name__)

DenyAudit = Callable[..., None]

#: Enough for any real host name with port; a client cannot make the log line long.
MAX_LOGGED_HOST = 200
#: ``toolPolicy: strict`` refusing a POST that hides its tool (built once, not per refusal).
TOOL_UNIDENTIFIED = forbidden(
    "This MCP server only accepts requests whose tool can be checked "
    "(send Mcp-Method/Mcp-Name, or let the gateway forward the body)"
)
#: Revisions whose servers must refuse a request whose Mcp-* headers differ from its body.
HEADER_BINDING_VERSIONS = frozenset({"2026-07-28"})
#: Why a tool could not be seen, for the step-up description (the client shows it to the user).
UNSEEN = (
    "the tool this request calls cannot be checked here (no forwarded body, and no Mcp-Method/"
    "Mcp-Name headers this MCP server is known to hold the request to)"
)
#: What an announced oversized body is judged as: too large by its length alone, and one shared
#: copy (calloc'd zero pages, never touched) for every such request.
OVERSIZED_BODY = bytes(MAX_BODY_BYTES + 1)
SCOPES_UNKNOWN = forbidden(
    "This MCP server's permissions are not known yet (it has not answered mcp-gatekeeper); "
    "tool calls are refused until it does. Try again shortly."
)


@dataclass(frozen=True)
class HostView:
    """A host's answers and tool scopes, rebuilt only when its known scopes change."""

    version: object
    answers: HostAnswers
    tool_scopes: ToolScopes
    #: Its scopes were learnt (or need no learning): tools can be matched to scopes.
    known: bool
    #: Its server holds 2026-07-28 requests to their Mcp-* headers.
    headers_bind: bool
    #: The tools its server listed: a header naming another one identifies nothing.
    tools: frozenset[str]


class Authenticator:
    def __init__(
        self,
        hosts: HostRegistry,
        reader: OriginalRequestReader,
        verifier: TokenVerifier[Answer],
        renderer: IdentityRenderer,
        catalog: ScopeCatalog,
        metrics: Metrics,
        deny_audit: DenyAudit,
        *,
        dpop: DpopCheck,
        reject_identity_headers: bool,
        host_by_name: bool = False,
        traced: bool = False,
    ) -> None:
        # ``query`` names nginx's $host, which never carries a port.
        self._lookup = hosts.get_by_hostname if host_by_name else hosts.get
        self._reader = reader
        self._verifier = verifier
        self._catalog = catalog
        self._metrics = metrics
        self._deny_audit = deny_audit
        self._reject_identity_headers = reject_identity_headers
        self._dpop = dpop
        # Off (no ``tracing.endpoint``): one attribute test per decision, nothing else.
        self._traced = traced
        self._views: dict[str, HostView] = {}
        self._rules = RuleCheck()
        self._preflight = make_answer(200, renderer.anonymous())
        #: Upstream credentials (``credentials.py``), set once the services exist (``main.py``).
        self.upstream: UpstreamAnswers | None = None
        #: Rate limits (``rate_limits.py``), set by ``main.py`` when a host has any.
        self.limits: RateLimiter | None = None

    async def answer(self, scope: Scope, receive: Receive) -> Answer:
        """The answer to one ``/authenticate`` request; never raises."""
        try:
            raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
            original = self._reader.read(
                scope["method"],
                scope["headers"],
                scope.get("query_string", b""),
                raw_path.decode("latin-1"),
            )
            if not original.has_body:
                body = None
            elif original.body_too_large:
                body = OVERSIZED_BODY  # refused by its length: not a byte of it is read
            else:
                body = await _read_body(receive)
            answer = self._final(original, body)
            if isinstance(answer, CredentialMiss) and self.upstream is not None:
                return await self.upstream.complete(answer)
            return answer
        except Exception:
            return _failed_closed()

    def answer_at_once(
        self, method: str, path: str, headers: list[tuple[bytes, bytes]], query_string: bytes
    ) -> Answer | None:
        """The answer to a request that has no body to read (``None`` if it has one), without
        awaiting anything: the HTTP protocol answers it while parsing. Never raises."""
        try:
            original = self._reader.read(method, headers, query_string, path)
            if original.has_body and not original.body_too_large:
                return None
            answer = self._final(original, OVERSIZED_BODY if original.has_body else None)
            # A credential still to fetch needs I/O: the async route (``answer``) gives it.
            return None if isinstance(answer, CredentialMiss) else answer
        except Exception:
            return _failed_closed()

    def _final(self, original: OriginalRequest, body: bytes | None) -> Answer:
        answer = self.decide(original, body)
        if original.mcp_client and answer.as_mcp is not None:
            return answer.as_mcp
        return answer

    def view(self, host: McpHost) -> HostView:
        version = self._catalog.version(host)
        view = self._views.get(host.host)
        if view is None or view.version is not version:
            known = self._catalog.known(host)
            view = HostView(
                version,
                HostAnswers.for_host(host, advertised_scopes(host, known)),
                ToolScopes.from_scopes(known.scopes),
                known.available,
                known.headers_bind and known.tools is not None,
                known.tools or frozenset(),
            )
            self._views[host.host] = view
        return view

    def decide(self, original: OriginalRequest, body: bytes | None) -> Answer:
        host = self._lookup(original.host)
        if host is None:
            # The metric label stays "unknown" (bounded); the log names what was seen, which
            # is what an operator needs when a gateway sends an unexpected header or port.
            seen = (original.host or "(none)")[:MAX_LOGGED_HOST]
            self._deny(UNKNOWN_HOST_LABEL, "unknown_host", method=original.method, seen_host=seen)
            return UNKNOWN_HOST
        if original.spoofed_identity_header and self._reject_identity_headers:
            self._deny(host.host, "identity_header_rejected", method=original.method)
            return IDENTITY_HEADER_REJECTED
        view = self.view(host)
        scheme, token = _credentials(original.authorization)
        if token is None:
            if original.method == "OPTIONS" and original.authorization is None:
                self._count(host.host, "preflight")
                return self._preflight
            self._count(host.host, "no_token")
            return view.answers.missing_token
        try:
            verified = self._verifier.verify(token, host)
        except InvalidToken as exc:
            self._deny(host.host, "invalid_token", reason=exc.reason)
            return view.answers.invalid_token
        claims = verified.claims
        # The usual request (an unbound bearer token, a host that does not require DPoP) pays
        # for two comparisons here.
        if claims.jkt is not None or scheme == "dpop" or host.config.dpop == "required":
            refused = self._dpop.refusal(host, original, scheme, token, claims)
            if refused is not None:
                result, answer = refused
                return self._refuse_tool(host, claims, result, answer)
        return self._check_tools(original, body, host, view, verified)

    def _check_tools(
        self,
        original: OriginalRequest,
        body: bytes | None,
        host: McpHost,
        view: HostView,
        verified: Verified[Answer],
    ) -> Answer:
        """The per-tool decision: only what the MCP server will also be held to identifies a
        tool; a request whose tool stays unknown needs a token that allows every tool."""
        claims = verified.claims
        policy = host.config.tool_policy
        try:
            calls = self._tool_calls(original, body, view)
        except UnreadableToolCall as exc:
            answer = forbidden(f"The request cannot be checked: {exc.reason}")
            return self._refuse_tool(host, claims, "tool_unreadable", answer, reason=exc.reason)
        if calls is not None and not calls.tools:
            pass  # initialize, tools/list, notifications...: no tool, nothing more to check
        elif not view.known and (calls is not None or original.may_call_tools):
            return self._refuse_tool(host, claims, "scopes_unknown", SCOPES_UNKNOWN)
        elif calls is not None:
            missing = view.tool_scopes.missing(calls.tools, claims.scopes)
            if missing:
                answer = insufficient_scope(host, (*claims.scopes, *missing), calls.tools)
                # Bounded in the log as in the answer: a request may name any tools.
                tools = [tool[:MAX_TOOL_NAME] for tool in calls.tools[:MAX_NAMED_TOOLS]]
                return self._refuse_tool(host, claims, "insufficient_scope", answer, tools=tools)
        elif original.may_call_tools and policy == "strict":
            return self._refuse_tool(host, claims, "tool_unidentified", TOOL_UNIDENTIFIED)
        elif original.may_call_tools and policy == "enforce":
            missing = view.tool_scopes.missing(view.tool_scopes.covering, claims.scopes)
            if missing:
                answer = insufficient_scope(host, (*claims.scopes, *missing), (), UNSEEN)
                return self._refuse_tool(host, claims, "tool_unidentified", answer)
        ruled = self._rules.refusal(host, original, calls, claims)
        if ruled is not None:  # proxy.hosts[].rules (rules.py); the audit names the rule
            return self._refuse_tool(host, claims, "rule_denied", ruled[0], rule=ruled[1])
        if self.limits is not None:  # proxy.hosts[].rateLimits (rate_limits.py): no I/O
            limited = self.limits.check(host, claims, calls.tools if calls is not None else ())
            if limited is not None:
                return self._refuse_tool(host, claims, "rate_limited", limited)
        if host.config.upstream is not None:
            return self._with_credential(host, claims, verified.rendered, original.mcp_client)
        self._count(host.host, "allowed", calls.tools if calls is not None else ())
        return verified.rendered

    @staticmethod
    def _tool_calls(
        original: OriginalRequest, body: bytes | None, view: HostView
    ) -> ToolCalls | None:
        """What the request calls, as far as the MCP server is bound to it; ``None``: unknown."""
        headers = None
        if original.mcp_method is not None or original.mcp_name is not None:
            headers = from_headers(original.mcp_method, original.mcp_name)
        if body is not None:
            from_request_body = from_body(body)
            return from_request_body if headers is None else combine(headers, from_request_body)
        # Headers alone count only where the server compares them with the body: a request
        # of a revision that requires it, to a server seen refusing a mismatch.
        binding = view.headers_bind and original.mcp_protocol_version in HEADER_BINDING_VERSIONS
        # A tool the server did not list may be matched by it more loosely than we compare
        # (case, Unicode): only listed names are believed.
        if not binding or headers is None or not view.tools.issuperset(headers.tools):
            return None
        return headers

    def _with_credential(
        self, host: McpHost, claims: AccessClaims, rendered: Answer, mcp_client: bool
    ) -> Answer:
        """An allowed request to a host whose MCP server acts with the user's upstream
        credential: the 200 carries it, or it must be fetched first (``CredentialMiss``)."""
        if self.upstream is None:
            return self._refuse_tool(host, claims, "upstream_unavailable", FAILED_CLOSED)
        return self.upstream.answer(host, claims, rendered, mcp_client)

    def _refuse_tool(
        self, host: McpHost, claims: AccessClaims, result: str, answer: Answer, **fields: object
    ) -> Answer:
        """A verified token refused for what it calls: the audit names who, which client and
        which agent acting for them (token exchange; "" when none)."""
        sub, client, actor = claims.identity.subject, claims.client_id, claims.identity.actor
        self._deny(host.host, result, sub=sub, client_id=client, actor=actor, **fields)
        return answer

    def _count(
        self, host: str, result: str, tools: Sequence[str] = (), rule: object = None
    ) -> None:
        """Every decision in the metrics, and on the trace's span when tracing is on."""
        self._metrics.count_decision(host, result)
        if self._traced:
            record_decision(host, result, tools, rule)

    def _deny(self, host: str, result: str, **fields: object) -> None:
        tools = fields.get("tools")
        self._count(host, result, tools if isinstance(tools, list) else (), fields.get("rule"))
        self._deny_audit("request_denied", host=host, result=result, **fields)


def _failed_closed() -> Answer:
    # Never a 5xx: Envoy's failure mode could turn it into "allow".
    log.exception("unexpected error in /authenticate")
    return FAILED_CLOSED


async def _read_body(receive: Receive) -> bytes:
    """The forwarded request body; one past the inspection limit is refused as too large, so
    the rest is drained keeping at most the limit and one byte: enough to stay too large, never
    a cut body that might still parse."""
    first = await receive()
    if first["type"] == "http.request" and not first.get("more_body", False):
        body: bytes = first.get("body", b"")
        return body  # the usual case: the gateway sends the body in one piece
    chunks: list[bytes] = []
    size = 0
    message = first
    while True:
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk[: MAX_BODY_BYTES + 1 - size])
        size += len(chunk)
        if not message.get("more_body", False):
            break
        message = await receive()
    return b"".join(chunks)


_SCHEMES: dict[bytes, Scheme] = {b"bearer": "bearer", b"dpop": "dpop"}


def _credentials(authorization: bytes | None) -> tuple[Scheme, str | None]:
    """The token of ``Authorization: Bearer <token>`` (RFC 6750 §2.1) or ``DPoP <token>``
    (RFC 9449 §7.1), scheme case-insensitive; no token for anything else."""
    if authorization is None:
        return "bearer", None
    raw_scheme, _, raw_token = authorization.partition(b" ")
    scheme = _SCHEMES.get(raw_scheme.lower())
    raw_token = raw_token.strip(b" ")
    if scheme is None or not raw_token:
        return "bearer", None
    try:
        return scheme, raw_token.decode("ascii")
    except UnicodeDecodeError:
        return "bearer", None
