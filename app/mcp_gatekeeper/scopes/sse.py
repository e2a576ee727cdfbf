"""Reading an MCP server's HTTP response body with a size cap: JSON, or a server-sent event stream.

Streamable HTTP lets a server answer a POST with ``text/event-stream`` instead of JSON, and send
notifications (progress, logs) before the response on that stream (MCP basic/transports §Sending
Messages to the Server). Framing follows the HTML Living Standard §9.2.6 "Interpreting an event
stream": lines end in CRLF, LF or CR, a blank line dispatches, ``:`` starts a comment, the event
type defaults to ``message`` and an event with an empty data buffer is not dispatched (the SDK's
resumability "priming" event is one). httpx's own line iterator has no size cap, so this splits
lines itself: a server cannot make the service buffer more than ``limit`` bytes.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncGenerator

import httpx

_NEWLINE = re.compile(r"\r\n|\r|\n")


class TooLarge(ValueError):
    """The body is over the limit."""


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The whole body, or ``TooLarge`` as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the response is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _lines(response: httpx.Response, limit: int) -> AsyncGenerator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the event stream is larger than {limit} bytes")
        text = pending + decoder.decode(chunk)
        # A CR at the very end may be the first half of a CRLF split across chunks: hold it back.
        held = "\r" if text.endswith("\r") else ""
        lines = _NEWLINE.split(text[: len(text) - len(held)])
        pending = lines.pop() + held
        for line in lines:
            yield line
    if pending.endswith("\r"):  # the held-back CR ended a line after all
        yield pending[:-1]
    # Anything else pending is an unterminated line: "Once the end of the file is reached, any
    # pending data must be discarded" (§9.2.6).


async def sse_messages(response: httpx.Response, limit: int) -> AsyncGenerator[str]:
    """The data of each ``message`` event, in order."""
    data: list[str] = []
    event = ""
    async for line in _lines(response, limit):
        if not line:
            if data and "".join(data) and event in ("", "message"):
                yield "\n".join(data)
            data, event = [], ""
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
