"""Request bodies read with a running cap: refused by ``Content-Length`` before a byte is read,
and by the bytes actually received when the length is not declared (chunked) or is a lie.

Every endpoint that takes a body reads it here, so an oversized request costs at most ``limit``
bytes of memory whatever it claims or sends. What is not read is discarded by the server once the
answer is sent (uvicorn drops the rest of a finished request's body without buffering it).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request


class BodyTooLarge(Exception):
    """The body is (or says it is) larger than the endpoint accepts."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is too large (at most {limit} bytes)")
        self.limit = limit


def declared_length(value: str | bytes | None) -> int | None:
    """The ``Content-Length`` as a number; ``None`` when absent. The server has already refused
    a malformed one, so anything unreadable here counts as unknown and the running cap decides."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes, or ``BodyTooLarge`` (nothing more is kept)."""
    declared = declared_length(request.headers.get("content-length"))
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def is_urlencoded(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type == "application/x-www-form-urlencoded"


async def read_urlencoded(request: Request, limit: int) -> list[tuple[str, str]]:
    """An ``application/x-www-form-urlencoded`` body as ordered pairs, repeated names kept.

    Decoded as Starlette's form parser does (bytes as latin-1, percent-escapes as UTF-8), so
    the parameters are the ones ``request.form()`` would have given.
    """
    body = await read_body(request, limit)
    return parse_qsl(body.decode("latin-1"), keep_blank_values=True)
