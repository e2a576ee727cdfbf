"""Typed errors and the one place that turns them into responses.

Machines get JSON (``{"error", "error_description"}``, RFC 6749 §5.2 shape); a browser gets a
readable page from ``templates/error.html``. Nobody ever gets a stack trace or FastAPI's 422.
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


def error_response(request: Request, status: int, error: str, description: str) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        page = render_page(
            "error.html", title=_TITLES.get(status, "Error"), error=error, description=description
        )
        return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def install_error_handlers(app: FastAPI) -> None:
    async def gatekeeper_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatekeeperError)
        return error_response(request, exc.status, exc.error, exc.description)

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
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
