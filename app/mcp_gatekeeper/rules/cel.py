"""The CEL environment rules are written in, and compiling one expression.

Google's CEL runtime (``cel-expr-python``, the C++ implementation) type-checks at compile time,
so ``check-config`` reports ``jwt.scope + 1 > "a"`` as a type error rather than a denial at
run time. The variables are those agentgateway's MCP authorization rules use, so a rule
written for it works here unchanged: ``jwt`` (the access token's claims), ``mcp`` (``method``,
``tool.name``, ``tool.arguments``) and ``request`` (``host``, ``method``).
"""

from __future__ import annotations

import functools
from typing import Any

import cel_expr_python.cel as cel

#: The variables every rule sees; ``jwt`` and ``mcp`` hold JSON, so their members are dynamic.
VARIABLES = {
    "jwt": cel.Type.Map(cel.Type.STRING, cel.Type.DYN),
    "mcp": cel.Type.Map(cel.Type.STRING, cel.Type.DYN),
    "request": cel.Type.Map(cel.Type.STRING, cel.Type.STRING),
}
#: Longer expressions are a configuration mistake, not a rule.
MAX_EXPRESSION_LENGTH = 4096


class RuleCompileError(ValueError):
    """The expression does not parse or type-check; the message says where."""


def _list_contains(values: list[Any], item: Any) -> bool:
    return item in values


#: ``list.contains(x)``: agentgateway's rules write ``jwt["…/roles"].contains("admin")``; standard
#: CEL only has ``x in list`` (and ``contains`` on strings, which stays as it is).
_LISTS = cel.CelExtension(
    "gatekeeper_lists",
    [
        cel.FunctionDecl(
            "contains",
            [
                cel.Overload(
                    "list_contains_dyn",
                    return_type=cel.Type.BOOL,
                    parameters=[cel.Type.List(cel.Type.DYN), cel.Type.DYN],
                    is_member=True,
                    impl=_list_contains,
                )
            ],
        )
    ],
)
ENV = cel.NewEnv(variables=VARIABLES, extensions=[_LISTS])


@functools.lru_cache(maxsize=1024)
def compile_rule(source: str) -> cel.Expression:
    """The checked expression; the configuration loader and the runtime share one compilation.

    Its result must be a boolean (or dynamic: a JSON member, checked at each evaluation)."""
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise RuleCompileError(f"longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        expression = ENV.compile(source)
    except RuntimeError as exc:
        raise RuleCompileError(_clean(str(exc))) from None
    result = expression.return_type()
    if result != cel.Type.BOOL and result != cel.Type.DYN:
        raise RuleCompileError(f"must be a boolean expression, not {result.name().lower()}")
    return expression


def evaluate(expression: cel.Expression, activation: cel.Activation) -> bool | None:
    """``True``/``False``, or ``None`` when the evaluation failed (a missing claim, a wrong type):
    the caller treats that as a denial."""
    try:
        value = expression.eval(activation)
    except RuntimeError:
        return None
    if value.type() != cel.Type.BOOL:
        return None
    result: bool = value.value()
    return result


def activation(variables: dict[str, Any]) -> cel.Activation:
    return ENV.Activation(variables)


def _clean(message: str) -> str:
    """The checker's first line (where, and what) without its status prefix (``INVALID_ARGUMENT:
    ERROR: <input>:``); the lines after it redraw the expression with a caret."""
    message = message.splitlines()[0] if message else "does not compile"
    for prefix in ("INVALID_ARGUMENT: ", "ERROR: "):
        message = message.removeprefix(prefix)
    return message.removesuffix(" [INVALID_ARGUMENT]").replace("<input>:", "at ").strip()
