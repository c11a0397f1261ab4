"""uvicorn's h11 protocol with the limits it lacks, so that slow or idle connections cannot starve ``/health``.

* Header timeout: a connection must deliver a request's complete headers within ``header_timeout_s`` of opening
  or of sending the request's first byte (slowloris); else it is closed. uvicorn itself closes only connections
  idle after a response (``timeout_keep_alive``), and never one that sent nothing or dribbles its headers.
* Connection cap: past ``max_connections``, a new connection evicts the one that has waited longest without a
  request in progress (idle, or still sending headers), so a flood of such connections cannot keep a probe out.
  When every connection has a request in progress, the new one is closed instead.
* Header size: a request whose headers exceed ``max_header_bytes`` is answered 431 and the connection closed
  (h11's own ``max_incomplete_event_size`` only applies while headers are incomplete, so one large packet passes).
"""

from __future__ import annotations

import asyncio
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


_TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def guarded_protocol(header_timeout_s: float, max_connections: int, max_header_bytes: int) -> type[H11Protocol]:
    """An ``H11Protocol`` class with these limits, for ``uvicorn.Config(http=...)``."""
    return type("GuardedH11Protocol", (_Guarded,), {
        "header_timeout_s": header_timeout_s, "max_connections": max_connections,
        "max_header_bytes": max_header_bytes,
    })


class _Guarded(H11Protocol):
    header_timeout_s: float
    max_connections: int
    max_header_bytes: int

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self.waiting_since: float | None = time.monotonic()
        super().connection_made(transport)
        self._arm_header_deadline()
        if len(self.connections) > self.max_connections:
            self._make_room()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._headers_too_large(data):
            self.transport.write(_TOO_LARGE)
            self._close()
            return
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            self._arm_header_deadline()  # bytes of a request whose headers are not complete yet
        else:
            self._disarm_header_deadline()
            self.waiting_since = None
            self._header_bytes = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.waiting_since = time.monotonic()
        self._header_bytes = 0

    def _headers_too_large(self, data: bytes) -> bool:
        """Count the bytes of the request's head received so far, up to its blank line if it is in ``data``."""
        before = self._header_bytes
        self._header_bytes += len(data)
        end = data.find(b"\r\n\r\n")
        return (before + end if end >= 0 else self._header_bytes) > self.max_header_bytes

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        self.waiting_since = None
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is None and not self.transport.is_closing():
            self._header_deadline = self.loop.call_later(self.header_timeout_s, self._close)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _close(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _make_room(self) -> None:
        waiting = [c for c in self.connections if c is not self and getattr(c, "waiting_since", None) is not None]
        victim = min(waiting, key=lambda c: c.waiting_since, default=self)
        victim._close()
