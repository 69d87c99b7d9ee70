"""ASGI middlewares that stand in front of the routes and refuse, in the API's ``{"error"}`` form:

- ``HostGuard``: a ``Host`` header not on the allowlist (400: stops DNS rebinding, where a page elsewhere
  points its own name at 127.0.0.1), and a cross-origin request that changes something (403: an ``Origin``
  that is not this server's own). No CORS headers are ever sent, so browsers keep other sites' pages from
  reading any answer.
- ``ConcurrencyLimit``: more than ``limit`` requests in flight at once (503, at once, instead of queueing).
- ``BodyGuard``: a body over ``max_bytes`` (413, by ``Content-Length`` or counted while it streams in) or
  one that has not fully arrived ``timeout`` seconds after the request started (408, then the connection
  is closed): a client trickling its upload cannot hold a worker.

Each answers with ``Connection: close`` when the client may still be sending, so the connection ends.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Iterable

from fastapi.responses import JSONResponse

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")  # cannot change anything, so no Origin check


def error_response(status: int, message: str, *, close: bool = False,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The one refusal form: ``{"error": "<one line>"}``."""
    headers = dict(headers or {})
    if close:
        headers["Connection"] = "close"
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def host_name(host: str) -> str:
    """A host as it appears in a ``Host`` header, without the port: IPv6 addresses in brackets, lower case."""
    host = host.strip().lower().rstrip(".")
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


class HostGuard:
    def __init__(self, app: App, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = {host_name(h) for h in (*LOCAL_HOSTS, *allowed) if h.strip()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host", "")
        name = _without_port(host)
        if name not in self.allowed:
            shown = host[:80] if host.isprintable() else repr(host[:80])
            message = (f"this server does not answer to the Host {shown!r}; use one of "
                       f"{', '.join(sorted(self.allowed))} (cnnlab serve --allow-host NAME adds one)") if host else (
                "the request has no Host header; send one (HTTP/1.1 requires it)")
            await error_response(400, message, close=True)(scope, receive, send)
            return
        origin = headers.get("origin")
        if origin is not None and scope["method"] not in SAFE_METHODS and _netloc(origin) != host.lower():
            message = (f"cross-origin requests are refused (Origin {origin[:80]!r} is not this server, "
                       f"http://{host}); use the page this server serves, or call the API without a browser")
            await error_response(403, message, close=True)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class ConcurrencyLimit:
    def __init__(self, app: App, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0  # touched only from the event loop's thread: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            message = f"the server is busy ({self.limit} requests at once); try again in a moment"
            await error_response(503, message, close=True, headers={"Retry-After": "1"})(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class BodyGuard:
    slack = 64 * 1024  # multipart headers and boundaries around the file itself

    def __init__(self, app: App, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limit = max_bytes + self.slack
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _headers(scope).get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            await self._too_large()(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        received = 0
        complete = False
        refusal: JSONResponse | None = None
        started = False

        async def guarded_receive() -> dict[str, Any]:
            nonlocal received, complete, refusal
            if complete:  # after the body, only a disconnect can come: no deadline on waiting for it
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.001))
            except asyncio.TimeoutError:
                refusal = error_response(408, f"the request body did not arrive within {self.timeout:g} s; "
                                              "send it at once, or check the connection", close=True)
                raise _Refused() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    refusal = self._too_large()
                    raise _Refused()
                complete = not message.get("more_body", False)
            else:
                complete = True  # http.disconnect
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if refusal is not None:
                return  # the app's own answer to an aborted body (often a 400): ours is sent instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except _Refused:
            pass  # the framework let it through: answered below
        if refusal is not None and not started:
            await refusal(scope, receive, send)

    def _too_large(self) -> JSONResponse:
        return error_response(413, f"the request is larger than {self.max_bytes / (1024 * 1024):g} MB; "
                                   "send a smaller image", close=True)


class _Refused(Exception):
    """Raised into the app from ``receive`` to stop it reading a body that is refused."""


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}


def _without_port(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1:]
        return host[:end + 1] if end > 0 and (rest == "" or (rest[:1] == ":" and rest[1:].isdigit())) else ""
    if host.count(":") > 1:
        return ""  # an IPv6 address must be in brackets
    return host.split(":", 1)[0].rstrip(".")


def _netloc(origin: str) -> str:
    """``scheme://host[:port]`` -> ``host[:port]``; anything else (``null``) -> an empty string."""
    scheme, sep, rest = origin.strip().lower().partition("://")
    return rest.rstrip("/") if sep and scheme in ("http", "https") and "/" not in rest.rstrip("/") else ""
