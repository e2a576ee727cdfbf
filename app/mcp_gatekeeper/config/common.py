"""Building blocks shared by the configuration models."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
)
from pydantic_core import PydanticCustomError

from .durations import format_duration, parse_duration

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, when_used="json"),
]


def _compile_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
    return pattern


#: Regular expressions matched against the whole string (``re.fullmatch``).
RegexList = list[Annotated[str, AfterValidator(_compile_regex)]]


class StrictModel(BaseModel):
    """Unknown keys are errors; a loaded configuration never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AccessPolicy(StrictModel):
    """Who may log in. Empty lists allow everyone the identity provider lets through."""

    allowed_email_domains: RegexList = Field(default_factory=list, alias="allowedEmailDomains")
    allowed_emails: RegexList = Field(default_factory=list, alias="allowedEmails")
    allowed_groups: list[str] = Field(
        default_factory=list,
        alias="allowedGroups",
        description="Group names (OIDC/Google) or org/team slugs (GitHub); any one suffices",
    )


SETTINGS_PROBLEM = "settings_problem"


def settings_problem(keys: list[str], why: str, *, together: bool = False) -> PydanticCustomError:
    """A rule across settings, raised by a model validator: the loader reports ``why`` once
    for each key (a dotted path below the model), so every problem names its field; or, with
    ``together``, once naming all the keys, for one problem that involves them all."""
    context = {"keys": keys, "why": why, "together": together}
    return PydanticCustomError(SETTINGS_PROBLEM, "{why}: {keys}", context)


def require_unique(rule: str, names: list[str]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{rule}, repeated: {', '.join(repeated)}")
