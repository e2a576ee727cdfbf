"""Load the configuration: YAML file, then environment overrides, then ``...File`` secrets.

Every problem found is collected with its field path, so ``check-config`` and ``serve`` can print
them all at once instead of making the operator fix one typo per restart.
"""

from __future__ import annotations

import difflib
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr, ValidationError

from .common import SETTINGS_PROBLEM
from .model import Config
from .rules import field_model, model_at, skipped_rule_errors

ENV_PREFIX = "MCP_GATEKEEPER_"
CONFIG_PATH_ENV = "MCP_GATEKEEPER_CONFIG"
FILE_SUFFIX = "File"


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` says every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


def load_config(
    path: str | Path | None,
    environ: Mapping[str, str] | None = None,
    *,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """Read, override and validate; raises ``ConfigError`` listing every problem.

    ``overrides`` (dotted setting path → value, e.g. ``serve --port``) win over the file and the
    environment, and are validated with them: a command line cannot set what the file may not.
    """
    environ = os.environ if environ is None else environ
    path = path or environ.get(CONFIG_PATH_ENV)
    if not path:
        raise ConfigError(
            [Problem("", f"no configuration file: pass --config or set {CONFIG_PATH_ENV}")]
        )
    raw = _read_yaml(Path(path))
    problems = apply_env_overrides(raw, environ)
    for dotted, value in (overrides or {}).items():
        _override(raw, dotted.split("."), value)
    problems += resolve_secret_files(raw, Config, "")
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        for error in [*errors, *skipped_rule_errors(Config, raw, errors)]:
            # A rule pydantic did run is found again by skipped_rule_errors: report it once.
            problems += [p for p in _problems_from_pydantic(error) if p not in problems]
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return config


def _override(raw: dict[str, Any], path: list[str], value: object) -> None:
    *parents, key = path
    node = raw
    for parent in parents:
        child = node.get(parent)
        if child is None:
            child = node[parent] = {}
        if not isinstance(child, dict):
            return  # the file's value there is reported as not a mapping
        node = child
    node[key] = value


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read {path}: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem("", f"cannot read {path}: not UTF-8 text")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([Problem("", f"{path} is not valid YAML{where}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem("", f"{path} must hold a mapping at the top level")])
    return data


def _problems_from_pydantic(error: Mapping[str, Any]) -> list[Problem]:
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == SETTINGS_PROBLEM:
        context = error["ctx"]
        prefix = f"{path}." if path else ""
        paths = [prefix + key for key in context["keys"]]
        if context["together"]:
            return [Problem(", ".join(paths), context["why"])]
        return [Problem(where, context["why"]) for where in paths]
    if error["type"] == "extra_forbidden":
        model = model_at(Config, error["loc"][:-1])
        known = [] if model is None else [f.alias or n for n, f in model.model_fields.items()]
        suggestion = _did_you_mean(str(error["loc"][-1]), known)
        message = "unknown setting" + (suggestion or " (check the spelling; keys are camelCase)")
    return [Problem(path, message)]


def _did_you_mean(key: str, known: list[str]) -> str:
    """``; did you mean 'clientID'?`` for the nearest known key, if one is near."""
    by_normal = {_normal(name): name for name in known}
    near = difflib.get_close_matches(_normal(key), by_normal, n=1, cutoff=0.75)
    if near:
        return f"; did you mean {by_normal[near[0]]!r}?"
    return ""


def _normal(key: str) -> str:
    """A key as environment variables name it: case, ``_`` and ``-`` do not count."""
    return key.lower().replace("_", "").replace("-", "")


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) is list:
        return True
    return any(_is_list(arg) for arg in typing.get_args(annotation))


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def _aliases(model: type[BaseModel]) -> dict[str, tuple[str, Any]]:
    """Normalised key (lower-case, no '_' or '-') → (key as written in YAML, annotation)."""
    result = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        result[_normal(key)] = (key, field.annotation)
    return result


def apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> list[Problem]:
    """``MCP_GATEKEEPER_PROXY__ISSUER=...`` sets ``proxy.issuer``; list items by index."""
    problems = []
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX) or var == CONFIG_PATH_ENV:
            continue
        segments = var[len(ENV_PREFIX) :].split("__")
        problem = _set_path(raw, Config, segments, environ[var])
        if problem:
            problems.append(Problem(var, problem))
    return problems


def _set_path(node: Any, model: type[BaseModel], segments: list[str], value: str) -> str | None:
    head, rest = segments[0], segments[1:]
    normal = _normal(head)
    aliases = _aliases(model)
    secret_file = normal.endswith(FILE_SUFFIX.lower()) and normal[: -len(FILE_SUFFIX)] in aliases
    if normal not in aliases and not secret_file:
        return f"no setting named {head!r} here" + _did_you_mean(
            head, [key for key, _ in aliases.values()]
        )
    if secret_file:
        key, annotation = aliases[normal[: -len(FILE_SUFFIX)]]
        if rest or not _is_secret(annotation):
            return f"{head!r} is not a secret setting"
        # The environment wins over the file, whichever form the file used.
        node.pop(key, None)
        node[key + FILE_SUFFIX] = value
        return None
    key, annotation = aliases[normal]
    child_model = field_model(annotation)
    if not rest:
        if child_model is not None or _is_list(annotation):
            return "only single values can be set from the environment"
        if _is_secret(annotation):
            node.pop(key + FILE_SUFFIX, None)
        node[key] = value
        return None
    if child_model is None:
        return f"{key!r} has no sub-settings"
    if _is_list(annotation):
        items = node.setdefault(key, [])
        if not isinstance(items, list) or not rest[0].isdigit() or int(rest[0]) >= len(items):
            return f"{key} has no item {rest[0]!r} in the file to override"
        item = items[int(rest[0])]
        if not isinstance(item, dict) or len(rest) < 2:
            return "name a setting of the list item, e.g. ...__0__HOST"
        return _set_path(item, child_model, rest[1:], value)
    child = node.setdefault(key, {})
    if not isinstance(child, dict):
        return f"{key!r} in the file is not a mapping"
    return _set_path(child, child_model, rest, value)


def resolve_secret_files(node: Any, model: type[BaseModel], path: str) -> list[Problem]:
    """Replace ``clientSecretFile: /path`` by ``clientSecret: <file content>``."""
    if not isinstance(node, dict):
        return []
    problems = []
    for key, annotation in _aliases(model).values():
        where = f"{path}.{key}" if path else key
        file_key = key + FILE_SUFFIX
        if _is_secret(annotation) and file_key in node:
            # The ...File key is consumed here either way, so it is not reported again as unknown.
            secret_path = Path(str(node.pop(file_key)))
            if key in node:
                problems.append(Problem(where, f"set either {key} or {file_key}, not both"))
                continue
            try:
                node[key] = secret_path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                problems.append(Problem(f"{where}{FILE_SUFFIX}", f"cannot read: {reason}"))
                node[key] = "unreadable"  # reported above; not again as a missing setting
        child_model = field_model(annotation)
        if child_model is None or key not in node:
            continue
        if isinstance(node[key], list):
            for index, item in enumerate(node[key]):
                problems += resolve_secret_files(item, child_model, f"{where}[{index}]")
        else:
            problems += resolve_secret_files(node[key], child_model, where)
    return problems
