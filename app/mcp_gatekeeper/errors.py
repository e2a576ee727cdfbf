"""Typed errors and the one place that turns them into responses.

Machines get JSON (``{"error", "error_description"}``, RFC 6749 §5.2 shape); a browser gets a
readable page from ``templates/error.html``; an authorization error whose redirect URI is trusted
goes back to the client as a redirect. Nobody ever gets a stack trace or FastAPI's 422.

Each error renders itself (``RenderedError.render``): a subclass that needs a page, a redirect
or an extra header overrides it, so this module never needs to know the subclasses.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .pages import render_page

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}


class RenderedError(Exception):
    """An expected failure that knows its own response; the handler only calls ``render``."""

    def render(self, request: Request) -> Response:
        raise NotImplementedError


class GatekeeperError(RenderedError):
    """An expected failure with a status, a stable error code and a human description."""

    status: ClassVar[int] = 400
    error: ClassVar[str] = "invalid_request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    def render(self, request: Request) -> Response:
        """JSON, or the error page for a browser (``error_response``)."""
        return error_response(request, self.status, self.error, self.description)


class MisdirectedRequest(GatekeeperError):
    """RFC 9110 §15.5.20: this service does not serve the host the request names."""

    status = 421
    error = "misdirected_request"


class NotFound(GatekeeperError):
    status = 404
    error = "not_found"


_TITLES = {400: "Bad request", 404: "Not found", 405: "Method not allowed", 421: "Unknown host"}


def error_page(status: int, title: str, error: str, description: str) -> Response:
    page = render_page("error.html", title=title, error=error, description=description)
    return HTMLResponse(page, status_code=status, headers={**NO_STORE, **page_security_headers()})


def page_security_headers() -> dict[str, str]:
    """Our pages are never framed (clickjacking) and load nothing from elsewhere."""
    return {
        # No form-action: browsers apply it to the redirect after the consent form too.
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def error_response(request: Request, status: int, error: str, description: str) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        return error_page(status, _TITLES.get(status, "Error"), error, description)
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=NO_STORE
    )


def install_error_handlers(app: FastAPI) -> None:
    async def rendered_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RenderedError)
        return exc.render(request)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        return error_response(request, exc.status_code, code, str(exc.detail))

    async def validation_error(request: Request, exc: Exception) -> Response:
        return error_response(request, 400, "invalid_request", "The request is malformed")

    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return error_response(request, 500, "server_error", "Something went wrong on our side")

    app.add_exception_handler(RenderedError, rendered_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
