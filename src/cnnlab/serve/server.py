"""The uvicorn server around the app, with a deadline for each request's headers.

uvicorn times out an idle keep-alive connection only after a response: a client that connects and sends
nothing, or sends its headers a byte at a time, holds the connection for ever. ``HeaderDeadline`` closes a
connection whose request headers are not complete ``header_timeout`` seconds after it opened (or after
its previous answer), and one that is still sending a body to a request already answered. The body's own
deadline is ``guards.BodyGuard``'s.

Example:
    >>> server = make_server(create_app("runs/demo"), header_timeout=10)  # doctest: +SKIP
    >>> server.run(sockets=[sock])  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0  # seconds a client has to send its request line and headers
KEEP_ALIVE = 5  # seconds an idle connection is kept after an answer (uvicorn's default)


class HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol, closing connections that do not send a complete request in time."""

    def __init__(self, *args: Any, header_timeout: float = HEADER_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.header_timeout, self._expired)

    def _expired(self) -> None:
        self._deadline = None
        waiting = self.conn.their_state is h11.IDLE  # no complete request line and headers yet
        answered = self.cycle is not None and self.cycle.response_complete  # and the client still sends
        if (waiting or answered) and not self.transport.is_closing():
            self.transport.close()


def make_server(app: Any, *, header_timeout: float = HEADER_TIMEOUT, log_level: str = "warning") -> uvicorn.Server:
    """A uvicorn server for ``app`` (run it with ``server.run(sockets=[sock])``)."""
    # A malformed multipart body is the client's mistake, answered 400; python-multipart's warning for each
    # one would let any client fill the server's log.
    logging.getLogger("python_multipart").setLevel(logging.ERROR)
    protocol = functools.partial(HeaderDeadline, header_timeout=header_timeout)
    config = uvicorn.Config(app, http=protocol, log_level=log_level, access_log=False, timeout_keep_alive=KEEP_ALIVE,
                            lifespan="off")
    return uvicorn.Server(config)
