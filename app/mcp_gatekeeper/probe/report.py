"""What ``mcp-gatekeeper probe`` found: one line per check, with a hint when something is wrong."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    #: Works for the official SDK clients, but some clients (browsers, older ones) will stumble.
    WARN = "warn"
    FAIL = "fail"


class Check(BaseModel):
    name: str
    outcome: Outcome
    detail: str
    #: What to change, when the outcome is not a pass.
    hint: str = ""


class Report(BaseModel):
    url: str
    checks: list[Check] = []
    #: Why the probe stopped early (a later check needs what a failed one would have found).
    stopped: str = ""

    @property
    def failed(self) -> bool:
        return any(check.outcome is Outcome.FAIL for check in self.checks)

    def add(self, name: str, outcome: Outcome, detail: str, hint: str = "") -> None:
        self.checks.append(Check(name=name, outcome=outcome, detail=detail, hint=hint))

    def text(self) -> str:
        lines = [f"mcp-gatekeeper probe {self.url}"]
        for check in self.checks:
            lines.append(f"  {check.outcome.upper():<4}  {check.name}: {check.detail}")
            if check.hint and check.outcome is not Outcome.PASS:
                lines.append(f"        hint: {check.hint}")
        if self.stopped:
            lines.append(f"  stopped: {self.stopped}")
        counts = dict.fromkeys(Outcome, 0)
        for check in self.checks:
            counts[check.outcome] += 1
        lines.append(
            f"{counts[Outcome.PASS]} passed, {counts[Outcome.WARN]} warning(s), "
            f"{counts[Outcome.FAIL]} failed"
        )
        return "\n".join(lines)
