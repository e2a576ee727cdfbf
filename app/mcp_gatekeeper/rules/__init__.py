"""Per-host rules in CEL: compiled when the configuration loads, evaluated at ``/authenticate``."""

from .cel import RuleCompileError, compile_rule
from .engine import Call, HostRules, rules_for

__all__ = ["Call", "HostRules", "RuleCompileError", "compile_rule", "rules_for"]
