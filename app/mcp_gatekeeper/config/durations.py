"""Durations in configuration: ``90`` (seconds), ``"90s"``, ``"15m"``, ``"1h"``, ``"1h30m"``."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> object:
    """Turn a duration string into a ``timedelta``; other values go to pydantic unchanged."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '1h30m'")
    if isinstance(value, int | float):
        return _timedelta(value, value)
    if not isinstance(value, str):
        return value
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return _timedelta(float(text), value)
    parts = _PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{value!r} is not a duration like '90s', '15m' or '1h30m'")
    return _timedelta(sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts), value)


def _timedelta(seconds: float, value: object) -> timedelta:
    """``timedelta(seconds=...)`` as a ``ValueError`` (a reported problem) for unusable numbers."""
    try:
        result = timedelta(seconds=seconds)
    except (OverflowError, ValueError):  # infinity, NaN, or beyond timedelta.max
        raise ValueError(f"{value!r} is not a usable duration (not finite or too long)") from None
    if result < timedelta(0):
        raise ValueError(f"{value!r} is negative; a duration is zero or more")
    return result


def format_duration(value: timedelta) -> str:
    """The shortest form ``parse_duration`` reads back: ``"1h"``, ``"90s"``, ``"1h30m"``."""
    seconds = value.total_seconds()
    if seconds != int(seconds):
        return f"{seconds}s"
    remaining, text = int(seconds), ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if remaining >= size:
            text += f"{remaining // size}{unit}"
            remaining %= size
    return text or "0s"
