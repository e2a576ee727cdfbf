"""``proxy.hosts[].rules`` at ``/authenticate``: what a request calls, held to its host's rules.

Runs after the token and its scopes passed. The rules see each JSON-RPC request the body holds
(or the one the bound ``Mcp-*`` headers name, without its arguments); a request that may call
a tool and shows nothing of what it calls is refused on a host with rules, whatever its
``toolPolicy``: a rule that cannot see the call cannot hold it.
"""

from __future__ import annotations

from ..config import HostConfig
from ..hosts import McpHost
from ..rules import Call, HostRules, rules_for
from ..tokens import AccessClaims
from .original_request import OriginalRequest
from .responses import Answer, forbidden
from .tool_calls import TOOLS_CALL, ToolCalls

CALL_UNSEEN = forbidden(
    "This MCP server's rules need to see what each request calls "
    "(let the gateway forward the body, or send Mcp-Method/Mcp-Name)"
)
#: Refusals built once per message (a rule's message is fixed by the configuration).
MAX_BUILT_ANSWERS = 1024


class RuleCheck:
    def __init__(self) -> None:
        self._answers: dict[str, Answer] = {}
        #: Host name → (its configuration, its compiled rules): rebuilt when the host's
        #: configuration object changes (a reload), looked up by identity on every request.
        self._rules: dict[str, tuple[HostConfig, HostRules | None]] = {}

    def rules(self, host: McpHost) -> HostRules | None:
        known = self._rules.get(host.host)
        if known is None or known[0] is not host.config:
            known = (host.config, rules_for([rule.as_tuple for rule in host.config.rules]))
            self._rules[host.host] = known
        return known[1]

    def refusal(
        self,
        host: McpHost,
        original: OriginalRequest,
        calls: ToolCalls | None,
        claims: AccessClaims,
    ) -> tuple[Answer, int] | None:
        """The 403 and the refusing rule's index (-1: the call was not seen), or ``None``."""
        rules = self.rules(host)
        if rules is None:
            return None
        if calls is None:
            return (CALL_UNSEEN, -1) if original.may_call_tools else None
        if not calls.methods:
            return None
        request = {"host": host.host, "method": original.method}
        refused = rules.refusal(claims.jti, claims.payload, _calls(calls), request)
        if refused is None:
            return None
        answer = self._answers.get(refused.message)
        if answer is None:
            if len(self._answers) >= MAX_BUILT_ANSWERS:
                self._answers.clear()
            answer = self._answers[refused.message] = forbidden(refused.message)
        return answer, refused.index


def _calls(calls: ToolCalls) -> list[Call]:
    """Each request as rules see it: a tool call with the arguments ``from_body`` already read
    (``None`` when headers alone named it), any other request with neither tool nor arguments."""
    if len(calls.methods) == 1 and calls.tools:  # one tool call: most requests
        first = None if calls.arguments is None else calls.arguments[0]
        return [Call(TOOLS_CALL, calls.tools[0], first)]
    tools = iter(calls.tools)
    if calls.arguments is None:
        return [Call(m, next(tools, "") if m == TOOLS_CALL else "") for m in calls.methods]
    arguments = iter(calls.arguments)
    return [
        Call(m, next(tools), next(arguments)) if m == TOOLS_CALL else Call(m, "", {})
        for m in calls.methods
    ]
