"""A host's rules: which calls a token may make, decided as Envoy RBAC and agentgateway decide.

Deny overrides allow: a call is refused when any ``deny`` rule holds, or when the host has
``allow`` rules and none holds; a host with only ``deny`` rules allows the rest. An evaluation
that fails (a claim the token lacks, a member of another type) never allows: a failing ``deny``
refuses, a failing ``allow`` allows nothing. Protocol plumbing (``initialize``,
``server/discover``, ``ping``, notifications, the ``*/list`` methods) is never held to rules, as
agentgateway filters lists rather than refusing them; every other request is, future methods
included.

Decisions are cached per token (its ``jti``, unique and bound to one host by ``aud``) and call,
so a client repeating a call pays one dictionary look-up, not an evaluation.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import cel_expr_python.cel as cel

from .cel import activation, compile_rule, evaluate

#: Decisions remembered per host (a few hundred bytes each).
MAX_CACHED_DECISIONS = 16384
#: Arguments longer than this (as written by ``repr``) are evaluated every time, not cached.
MAX_CACHED_ARGUMENTS = 2048
#: Methods no rule sees: connection set-up, liveness, discovery lists.
UNGOVERNED = frozenset(
    {
        "initialize",
        "server/discover",  # the 2026-07-28 handshake: the modern SDK client's first request
        "ping",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "logging/setLevel",
    }
)
#: A rule that reads arguments (or ``mcp`` other than its method and tool name) cannot be judged
#: without them. Read outside string literals (``jwt["https://mcp-demo/roles"]`` reads none);
#: matching more than that only makes the rule judged more cautiously.
_READS_ARGUMENTS = re.compile(r"arguments|\bmcp\b(?!\s*\.\s*(?:method\b|tool\s*\.\s*name\b))")
_STRING_LITERAL = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'""")
#: Remembered HostRules, so a configuration reload with the same rules keeps its cache.
MAX_REMEMBERED_RULE_SETS = 256

Effect = Literal["allow", "deny"]


class Call(NamedTuple):
    """One JSON-RPC request as rules see it; ``arguments`` is ``None`` when the body was not
    seen (headers alone name the tool, not its arguments). A tuple: built on every request,
    where a frozen dataclass's ``__init__`` costs several times as much."""

    method: str
    tool: str = ""
    arguments: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    effect: Effect
    source: str
    message: str
    expression: cel.Expression
    reads_arguments: bool


@dataclass(frozen=True, slots=True)
class Refusal:
    message: str
    #: The rule's place in ``rules``, for the audit line; -1 when no allow rule held.
    index: int


class HostRules:
    def __init__(self, rules: Sequence[tuple[Effect, str, str]]) -> None:
        self.rules = tuple(
            Rule(effect, source, message, compile_rule(source), _reads_arguments(source))
            for effect, source, message in rules
        )
        self._denies = [(i, rule) for i, rule in enumerate(self.rules) if rule.effect == "deny"]
        allows = [(i, rule) for i, rule in enumerate(self.rules) if rule.effect == "allow"]
        self._allows = allows
        self._no_allow = Refusal(allows[0][1].message, allows[0][0]) if allows else None
        self.reads_arguments = any(rule.reads_arguments for rule in self.rules)
        self._cache: OrderedDict[tuple[object, ...], Refusal | None] = OrderedDict()

    def refusal(
        self,
        jti: str,
        claims: Mapping[str, Any],
        calls: Sequence[Call],
        request: Mapping[str, str],
    ) -> Refusal | None:
        """Why the first refused call of ``calls`` is refused, or ``None``: all allowed."""
        governed = [call for call in calls if _governed(call.method)]
        if not governed:
            return None
        key = self._key(jti, governed, request["method"])
        if key is not None:
            try:
                cached = self._cache[key]
            except KeyError:
                pass
            else:
                self._cache.move_to_end(key)
                return cached
        refused = None
        for call in governed:
            refused = self._decide(claims, call, request)
            if refused is not None:
                break
        if key is not None:
            self._cache[key] = refused
            if len(self._cache) > MAX_CACHED_DECISIONS:
                self._cache.popitem(last=False)
        return refused

    def may_allow_tool(self, claims: Mapping[str, Any], tool: str, host: str) -> bool:
        """Whether some call of ``tool`` could be allowed for a token with ``claims`` (the
        consent page): a rule reading arguments is assumed to go the caller's way."""
        variables = _variables(
            claims, Call("tools/call", tool, {}), {"host": host, "method": "POST"}
        )
        bound = activation(variables)
        for _, rule in self._denies:
            if not rule.reads_arguments and evaluate(rule.expression, bound) is not False:
                return False
        return not self._allows or any(
            rule.reads_arguments or evaluate(rule.expression, bound) is True
            for _, rule in self._allows
        )

    def _decide(
        self, claims: Mapping[str, Any], call: Call, request: Mapping[str, str]
    ) -> Refusal | None:
        bound = activation(_variables(claims, call, request))
        unseen = call.arguments is None
        for index, rule in self._denies:
            if (unseen and rule.reads_arguments) or evaluate(rule.expression, bound) is not False:
                return Refusal(rule.message, index)
        if not self._allows:
            return None
        for _, rule in self._allows:
            if not (unseen and rule.reads_arguments) and evaluate(rule.expression, bound) is True:
                return None
        return self._no_allow

    def _key(self, jti: str, calls: Sequence[Call], method: str) -> tuple[object, ...] | None:
        """The cache key, or ``None`` for a call not worth remembering (huge arguments)."""
        if len(calls) == 1:  # the usual request, quickly; the same key as the loop below
            call = calls[0]
            if not self.reads_arguments:
                return (jti, method, call.method, call.tool)
            written = "" if call.arguments is None else repr(call.arguments)
            if len(written) > MAX_CACHED_ARGUMENTS:
                return None
            return (jti, method, call.method, call.tool, call.arguments is None, written)
        parts: list[object] = [jti, method]
        for call in calls:
            parts += (call.method, call.tool)
            if self.reads_arguments:
                # repr tells JSON values apart (1, 1.0, True, "1"); equal reprs, equal values.
                written = "" if call.arguments is None else repr(call.arguments)
                if len(written) > MAX_CACHED_ARGUMENTS:
                    return None
                parts += (call.arguments is None, written)
        return tuple(parts)

    @property
    def cached_decisions(self) -> int:
        return len(self._cache)


def _reads_arguments(source: str) -> bool:
    return _READS_ARGUMENTS.search(_STRING_LITERAL.sub('""', source)) is not None


def _governed(method: str) -> bool:
    return method not in UNGOVERNED and not method.startswith("notifications/")


def _variables(claims: Mapping[str, Any], call: Call, request: Mapping[str, str]) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": call.tool}
    if call.arguments is not None:
        tool["arguments"] = call.arguments
    return {"jwt": claims, "mcp": {"method": call.method, "tool": tool}, "request": request}


_REMEMBERED: dict[tuple[tuple[str, str, str], ...], HostRules] = {}


def rules_for(rules: Sequence[tuple[Effect, str, str]]) -> HostRules | None:
    """The compiled rules (``None`` for none), shared by every caller with the same rules."""
    if not rules:
        return None
    key = tuple(rules)
    found = _REMEMBERED.get(key)
    if found is None:
        if len(_REMEMBERED) >= MAX_REMEMBERED_RULE_SETS:
            _REMEMBERED.clear()
        found = _REMEMBERED[key] = HostRules(rules)
    return found
