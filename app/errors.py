"""Typed errors and the one place that turns them into responses.

Machines get JSON (``{"error", "error_description"}``, RFC 6749 §5.2 shape); a browser gets a
readable page from ``templates/error.html``; an authorization error whose redirect URI is trusted
goes back to the client as a redirect. Nobody ever gets a stack trace or FastAPI's 422.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .pages import render_page
from .urls import add_query

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}


class GatekeeperError(Exception):
    """An expected failure with a status, a stable error code and a human description."""

    status: ClassVar[int] = 400
    error: ClassVar[str] = "invalid_request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


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
    # Imported here: the OAuth errors build on GatekeeperError above.
    from .oauth.errors import AuthorizationRedirect, BrowserError, InvalidClient, SlowDown

    async def gatekeeper_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatekeeperError)
        if isinstance(exc, BrowserError):
            return error_page(exc.status, exc.title, exc.error, exc.description)
        response = error_response(request, exc.status, exc.error, exc.description)
        if isinstance(exc, InvalidClient) and request.headers.get(
            "authorization", ""
        ).lower().startswith("basic "):
            response.headers["WWW-Authenticate"] = 'Basic realm="mcp-gatekeeper"'
        if isinstance(exc, SlowDown):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    async def authorization_redirect(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuthorizationRedirect)
        params = {"error": exc.error.error, "error_description": exc.error.description}
        if exc.target.state is not None:
            params["state"] = exc.target.state
        params["iss"] = exc.target.issuer
        location = add_query(exc.target.redirect_uri, params)
        return RedirectResponse(location, status_code=303, headers=NO_STORE)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        return error_response(request, exc.status_code, code, str(exc.detail))

    async def validation_error(request: Request, exc: Exception) -> Response:
        return error_response(request, 400, "invalid_request", "The request is malformed")

    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return error_response(request, 500, "server_error", "Something went wrong on our side")

    app.add_exception_handler(GatekeeperError, gatekeeper_error)
    app.add_exception_handler(AuthorizationRedirect, authorization_redirect)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
