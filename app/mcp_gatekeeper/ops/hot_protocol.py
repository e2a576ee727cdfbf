"""The HTTP protocol the service runs: ``/authenticate`` answered while the request is parsed.

A forward-auth check without a body needs nothing asynchronous: its answer is known once the
headers are. uvicorn would still build a request cycle, start a task, pass two ASGI messages and
check every response header against two regular expressions: together more than the check
itself (``research/perf.md``). Here the answer is written from the parser's headers-complete
callback, and the request then ends the way uvicorn ends one (keep-alive timer, request count,
``Connection: close``).

Only the plain case takes this way: an origin-form target below ``/authenticate`` with no
percent sign, no body to read, no earlier response still being sent, no upgrade, and a write
buffer below its high-water mark (a client that does not read its answers is left to uvicorn's
flow control). Everything else, and every other path, goes through the ASGI app as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from .header_limit import HeaderLimitedHttpToolsProtocol
from .middleware import ReadyAnswer

_HOT_PREFIX = b"/authenticate"


AnswerNow = Callable[[str, str, list[tuple[bytes, bytes]], bytes], ReadyAnswer | None]


class GatekeeperHttpProtocol(HeaderLimitedHttpToolsProtocol):
    """uvicorn's httptools protocol with the header cap, answering the hot path itself."""

    _answered = False
    _closed_after_answer = False
    _default_headers: list[tuple[bytes, bytes]] | None = None
    _default_head = b""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn may wrap the app (trace logging): then there is no hot path to call.
        self._app_answer_now: AnswerNow | None = getattr(self.app, "answer_now", None)

    def on_message_begin(self) -> None:
        # The keep-alive timer an earlier answer armed must not run into this request.
        self._unset_keepalive_if_required()
        self._answered = False
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        if self._closed_after_answer:
            # Requests pipelined behind an answer that closed the connection: uvicorn would
            # have queued them and never run them, so they are neither answered nor counted.
            self._answered = True
            return
        answer = self._answer_now()
        if answer is None:
            super().on_headers_complete()
            return
        self._head_complete()
        self._answered = True
        parser = self.parser
        keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
        parts = [STATUS_LINE[answer.status], self._server_head(), answer.wire_headers]
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        if self.scope["method"] != "HEAD":
            parts.append(answer.body)
        self.transport.write(b"".join(parts))
        if not keep_alive:
            self._closed_after_answer = True
            self.transport.close()
        self.on_response_complete()

    def on_body(self, body: bytes) -> None:
        if not self._answered:  # answered: a body nobody asked for is dropped
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._answered:
            self._next_head()
            return
        super().on_message_complete()

    def _answer_now(self) -> ReadyAnswer | None:
        answer_now = self._app_answer_now
        url = self.url
        if answer_now is None or not url.startswith(_HOT_PREFIX) or not url.isascii():
            return None
        if b"%" in url or b"#" in url:  # decoded or cut by the parser: ASGI's own reading
            return None
        if (self.cycle is not None and not self.cycle.response_complete) or self.pipeline:
            return None
        if self.flow.write_paused or self.limit_concurrency is not None:
            return None
        if self.parser.should_upgrade():
            return None
        raw_path, _, query = url.partition(b"?")
        method = self.parser.get_method().decode("ascii")
        self.scope["method"] = method
        return answer_now(method, raw_path.decode("ascii"), self.headers, query)

    def _server_head(self) -> bytes:
        """uvicorn's default headers (``date``), serialised once per change (each second)."""
        defaults = self.server_state.default_headers
        if defaults is not self._default_headers:
            self._default_headers = defaults
            self._default_head = b"".join(b"%s: %s\r\n" % header for header in defaults)
        return self._default_head
