"""The responses every route shares, and the one place typed errors become responses.

Machines get JSON (``{"error", "error_description"}``, RFC 6749 §5.2 shape); a browser gets a
readable page from ``templates/error.html``; a ``RedirectError`` is a 303 to its location.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import GatekeeperError, PageError, RedirectError
from .pages import render_page

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}
#: Discovery documents: clients may keep them a few minutes.
PUBLIC_CACHE = {"Cache-Control": "public, max-age=300"}

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


def see_other(location: str) -> RedirectResponse:
    """Where the browser goes next (303: the next request is a GET), never cached."""
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


def error_response(request: Request, status: int, error: str, description: str) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        return error_page(status, _TITLES.get(status, "Error"), error, description)
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=NO_STORE
    )


def render_error(request: Request, exc: GatekeeperError | RedirectError) -> Response:
    if isinstance(exc, RedirectError):
        return see_other(exc.location)
    if isinstance(exc, PageError):
        response = error_page(exc.status, exc.title, exc.error, exc.description)
    else:
        response = error_response(request, exc.status, exc.error, exc.description)
    response.headers.update(exc.extra_headers(request.headers))
    return response


def install_error_handlers(app: FastAPI) -> None:
    async def typed_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatekeeperError | RedirectError)
        return render_error(request, exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        return error_response(request, exc.status_code, code, str(exc.detail))

    async def validation_error(request: Request, exc: Exception) -> Response:
        return error_response(request, 400, "invalid_request", "The request is malformed")

    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return error_response(request, 500, "server_error", "Something went wrong on our side")

    app.add_exception_handler(GatekeeperError, typed_error)
    app.add_exception_handler(RedirectError, typed_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
