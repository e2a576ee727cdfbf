"""Typed errors: what went wrong, and how it is to be shown, with no web framework in sight.

Three ways to show an error, chosen by the error's base class and turned into a response in one
place (``responses.py``): ``GatekeeperError`` is RFC 6749 §5.2-shaped JSON (a readable page when
a browser asks), ``PageError`` is always a page (the browser part of a login, where nobody else
is listening), ``RedirectError`` sends the browser to a location (an authorization error that
goes back to a client whose redirect URI is trusted). Nobody ever gets a stack trace or a 422.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class GatekeeperError(Exception):
    """An expected failure with a status, a stable error code and a human description."""

    status: ClassVar[int] = 400
    error: ClassVar[str] = "invalid_request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    def extra_headers(self, request_headers: Mapping[str, str]) -> dict[str, str]:
        """Headers the answer carries besides the body (a challenge, ``Retry-After``)."""
        return {}


class PageError(GatekeeperError):
    """Shown as a page, never as JSON and never redirected."""

    title: ClassVar[str] = "This request cannot be completed"


class RedirectError(Exception):
    """An error reported by sending the browser to ``location`` (303, never cached)."""

    def __init__(self, description: str, location: str) -> None:
        super().__init__(description)
        self.location = location


class MisdirectedRequest(GatekeeperError):
    """RFC 9110 §15.5.20: this service does not serve the host the request names."""

    status = 421
    error = "misdirected_request"


class NotFound(GatekeeperError):
    status = 404
    error = "not_found"
