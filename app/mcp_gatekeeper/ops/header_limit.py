"""A cap on the request line and headers, for uvicorn's httptools protocol.

httptools buffers a header line of any length before it calls back, so without a cap one
client sending a 24 MiB header holds the event loop for seconds and every other request with it.
uvicorn bounds this only in its h11 protocol (``h11_max_incomplete_event_size``); this subclass
reads the same setting and counts the bytes that arrive while a request's head is incomplete.
The count sits in ``data_received`` around the parser call: a request pays one comparison per
read of the socket and nothing per header.
"""

from __future__ import annotations

import asyncio
import http

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

#: Seconds the connection keeps reading (and dropping) what the client still sends after the
#: 431: closing at once with unread data makes the kernel send a reset, which can destroy the
#: answer before the client reads it. Bounded, so a client that never stops cannot hold it open.
LINGER_SECONDS = 2.0
#: A head still incomplete this long after its first bytes is a client holding the connection
#: (slowloris): the connection is closed. Gateways and clients send a head at once.
HEAD_SECONDS = 10.0

TOO_LARGE = http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


class HeaderLimitedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` answering 431 once a request's head exceeds the configured size.

    The limit is ``config.h11_max_incomplete_event_size``: bytes of request line and headers
    together, up to and including the blank line that ends them.
    """

    _head_bytes = 0
    _heads_ended = 0
    _in_head = True
    _refused = False
    _head_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after the 431: drop the rest of the oversized request
        limit = self.config.h11_max_incomplete_event_size
        if limit is None or (not self._in_head and len(data) <= limit):
            super().data_received(data)
            return
        while not self._in_head and len(data) > limit:
            # A body may end inside this read and a pipelined head follow it, uncounted: feed
            # at most ``limit`` bytes at a time, so such a head stays under twice the limit.
            super().data_received(data[:limit])
            data = data[limit:]
            if self._refused or self.transport.is_closing():
                return
        if not self._in_head:
            super().data_received(data)
            return
        allowance = limit - self._head_bytes
        if len(data) <= allowance:
            self._head_bytes += len(data)
            super().data_received(data)
            if self._in_head and self._head_bytes and self._head_timer is None:
                # Only a head that did not arrive whole pays for a timer.
                self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)
            return
        # Parse only up to the limit: a head still incomplete there, with no head ended before
        # it, is too large. Once a head ended within it (pipelined requests arriving together),
        # the rest goes on as usual and counts afresh: a head is still cut off below twice the
        # limit.
        self._head_bytes = limit
        heads_before = self._heads_ended
        if allowance > 0:
            super().data_received(data[:allowance])
        if self.transport.is_closing():
            return  # the parser refused the request itself (400)
        if self._in_head and self._heads_ended == heads_before:
            self._refuse(limit)
        else:
            self.data_received(data[allowance:])

    def on_headers_complete(self) -> None:
        self._head_complete()
        super().on_headers_complete()

    def _head_complete(self) -> None:
        self._heads_ended += 1
        self._in_head = False
        self._head_bytes = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that sends nothing at all is held to the same deadline as a slow head.
        self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.logger.warning("Request head incomplete after %gs: closed.", HEAD_SECONDS)
            self.transport.close()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._next_head()

    def _next_head(self) -> None:
        # The next request on this connection starts its head with the next bytes.
        self._in_head = True

    def _refuse(self, limit: int) -> None:
        self._refused = True
        self.logger.warning("Request line and headers above %d bytes: refused.", limit)
        if self.cycle is not None and not self.cycle.response_complete:
            # An earlier request on this connection is still being answered: a 431 now would
            # interleave with its response, so the connection is just closed after it.
            self.cycle.keep_alive = False
            self.flow.pause_reading()
            return
        body = f"{TOO_LARGE.phrase}: request line and headers above {limit} bytes\n".encode()
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[TOO_LARGE],
                    *(b"%s: %s\r\n" % header for header in self.server_state.default_headers),
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()
