"""The server guards itself: a real ``cnnlab serve`` process with small timeouts and a small concurrency limit.

Stalled and trickling clients are dropped, more requests at once than allowed get 503, a foreign ``Host`` is
refused (DNS rebinding) and so is a cross-origin POST, no CORS header is ever sent, no answer holds a
file-system path, ``/docs`` loads nothing from elsewhere, 405 says what is allowed, and even an internal
error answers ``{"error"}``. No test here asserts a time beyond "the connection was closed"."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from _photos import encode, ink_from_pen, photograph
from _servers import multipart, post_image, request, serving

HEADER_TIMEOUT, BODY_TIMEOUT, MAX_CONCURRENT = 1, 3, 2


@pytest.fixture(scope="module")
def server(tiny_run):
    with serving(tiny_run.path, "--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT),
                 "--max-concurrent", str(MAX_CONCURRENT), "--allow-host", "mybox.local") as running:
        yield running


@pytest.fixture(scope="module")
def png() -> bytes:
    ink = ink_from_pen(3, np.random.default_rng(1), height=120, pen=6)
    return encode(Image.fromarray(photograph(ink, np.random.default_rng(2), size=(200, 160))))


def _connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket's own timeout bounds the wait)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def _raw_headers(server, path: str, extra: str = "", method: str = "GET", length: int | None = None,
                 content_type: str | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


# -------------------------------------------------------------------- slow clients


def test_a_client_that_sends_nothing_is_dropped(server):
    with _connect(server) as sock:
        assert _read_until_closed(sock) == b""  # closed, without an answer
    assert server.get("/api/health")[0] == 200


def test_a_client_that_stalls_in_its_headers_is_dropped(server):
    with _connect(server) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert _read_until_closed(sock) == b""


def test_an_idle_keep_alive_connection_is_dropped(server):
    with _connect(server) as sock:
        sock.sendall(_raw_headers(server, "/api/health"))
        answer = _read_until_closed(sock)  # the answer, then the close (uvicorn's keep-alive, or our deadline)
    assert answer.startswith(b"HTTP/1.1 200")


def test_a_trickling_body_gets_408_and_the_connection_is_closed(server, png):
    body, content_type = multipart(png)
    with _connect(server) as sock:
        sock.sendall(_raw_headers(server, "/api/predict", method="POST", length=len(body), content_type=content_type))
        answer = b""
        for start in range(0, len(body), 20):  # 20 bytes at a time, until the server answers
            try:
                sock.sendall(body[start:start + 20])
            except OSError:  # closed while we were still sending
                break
            sock.settimeout(0.2)
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            finally:
                sock.settimeout(60)
            break
        answer += _read_until_closed(sock)
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower(), answer[:300]
    assert re.fullmatch(rb'\{"error":"[^"\n]+"\}', payload), payload
    assert post_image(server.url, png)[0] == 200


def test_a_body_sent_to_an_answered_request_does_not_hold_the_connection(server):
    """GET with a body it never finishes sending: answered, then dropped (not held while it trickles)."""
    with _connect(server) as sock:
        sock.sendall(_raw_headers(server, "/api/health", length=1000) + b"x" * 10)
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200")


def test_more_requests_at_once_than_allowed_get_503(server, png):
    body, content_type = multipart(png)
    held = [_connect(server) for _ in range(MAX_CONCURRENT)]
    try:
        for sock in held:  # each request is in flight, waiting for the rest of its body
            sock.sendall(_raw_headers(server, "/api/predict", method="POST", length=len(body),
                                      content_type=content_type) + body[:10])
        time.sleep(0.3)  # let the server start both requests
        status, answer = server.get("/api/health")
        assert status == 503 and set(answer) == {"error"} and "busy" in answer["error"], answer
    finally:
        for sock in held:
            sock.close()
    for _ in range(100):  # the held requests end when their connections close
        if server.get("/api/health")[0] == 200:
            break
        time.sleep(0.1)
    assert server.get("/api/health")[0] == 200


# -------------------------------------------------------------------- who may ask


@pytest.mark.parametrize("host, status", [
    ("evil.example", 400),
    ("evil.example:8000", 400),
    ("127.0.0.1.evil.example", 400),
    ("localhost", 200),
    ("LOCALHOST:{port}", 200),
    ("127.0.0.1:{port}", 200),
    ("[::1]:{port}", 200),
    ("mybox.local:{port}", 200),
])
def test_the_host_header_must_be_on_the_allowlist(server, host, status):
    got, answer = server.get("/api/health", headers={"Host": host.format(port=server.port)})
    assert got == status, answer
    if status == 400:
        assert set(answer) == {"error"} and "--allow-host" in answer["error"]


def test_a_request_with_a_foreign_host_never_reaches_the_model(server, png):
    status, answer = post_image(server.url, png, headers={"Host": "evil.example"})
    assert status == 400 and "Host" in answer["error"]


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1", "https://localhost"])
def test_a_cross_origin_post_is_refused(server, png, origin):
    status, answer = post_image(server.url, png, headers={"Origin": origin})
    assert status == 403 and set(answer) == {"error"} and "cross-origin" in answer["error"], answer


def test_a_same_origin_post_is_answered(server, png):
    assert post_image(server.url, png, headers={"Origin": server.url})[0] == 200


def test_no_cors_headers_are_sent(server, png):
    for method, path in (("GET", "/api/health"), ("OPTIONS", "/api/predict"), ("GET", "/api/model")):
        req = urllib.request.Request(server.url + path, method=method,
                                     headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                headers = response.headers
        except urllib.error.HTTPError as err:
            headers = err.headers
        assert not [h for h in headers if h.lower().startswith("access-control-")], (method, path, dict(headers))


# -------------------------------------------------------------------- what the answers say


def test_no_answer_holds_a_file_system_path(server, tiny_run):
    folder = str(tiny_run.path.resolve().parent)
    for path in ("/api/health", "/api/model", "/openapi.json", "/api/nope", "/docs"):
        status, answer = server.get(path)
        text = str(answer)
        assert folder not in text and str(tiny_run.path) not in text, (path, text[:300])
    assert server.get("/api/health")[1]["run"] == tiny_run.path.name
    assert "run_dir" not in server.get("/api/model")[1]


def test_docs_come_from_the_package(server):
    status, html = server.get("/docs")
    assert status == 200 and "SwaggerUIBundle" in html
    outside = [url for url in re.findall(r"""(?:https?:)?//[^\s"'<>)]+""", html)
               if not url.split("//", 1)[1].startswith(f"127.0.0.1:{server.port}")]
    assert not outside, outside
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert len(assets) >= 3
    for asset in assets:
        assert asset.startswith("/"), asset
        status, _ = request(server.url + asset)
        assert status == 200, asset


def test_405_says_which_methods_are_allowed(server):
    for method, path, allowed in (("GET", "/api/predict", "POST"), ("DELETE", "/api/health", "GET")):
        req = urllib.request.Request(server.url + path, method=method)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=60)
        assert caught.value.code == 405 and allowed in caught.value.headers["Allow"]
        assert set(json.loads(caught.value.read())) == {"error"}


def test_a_path_with_control_characters_gets_a_one_line_error(server):
    with _connect(server) as sock:
        sock.sendall(_raw_headers(server, "/api/a%0Ab%0D%00c", extra="Connection: close\r\n"))
        answer = _read_until_closed(sock)
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404")
    error = json.loads(payload)["error"]
    assert error.startswith("no such endpoint: GET /api/a") and error.isprintable(), error  # NUL shown as ?


def test_the_server_logs_no_traceback(server):
    assert "Traceback" not in server.log(), server.log()


# -------------------------------------------------------------------- in-process: the last resort


def test_an_internal_error_answers_in_the_api_form(tiny_run):
    """A route that fails (added here: the app has none) gets the last-resort handler's JSON 500."""
    from cnnlab.serve.app import create_app
    from cnnlab.serve.server import make_server

    app = create_app(tiny_run.path)

    @app.get("/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("forced")

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = make_server(app, log_level="critical")  # the traceback uvicorn logs is expected here
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        status, answer = request(url + "/boom")
        assert status == 500 and set(answer) == {"error"} and "RuntimeError" in answer["error"], answer
        assert request(url + "/api/health")[0] == 200
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


# -------------------------------------------------------------------- the command's options


def test_serve_defaults_in_help_are_the_codes_own():
    from cnnlab.commands import serve
    from cnnlab.serve import app, server

    assert serve._DEFAULTS == {"max_mb": app.MAX_BYTES // (1024 * 1024), "max_side": app.MAX_SIDE,
                               "max_concurrent": app.MAX_CONCURRENT, "header_timeout": server.HEADER_TIMEOUT,
                               "body_timeout": app.BODY_TIMEOUT}


@pytest.mark.parametrize("option, words", [
    (["--max-concurrent", "0"], "--max-concurrent 0 must be at least 1"),
    (["--body-timeout", "0"], "--body-timeout 0 must be more than 0"),
    (["--allow-host", "evil.example:8000"], "without a port"),
    (["--allow-host", "http://x"], "without a port or scheme"),
])
def test_serve_refuses_bad_limits_in_one_line(cli, tiny_run, option, words):
    code, out, err = cli("serve", str(tiny_run.path), *option)
    assert code == 2 and words in err and err.count("\n") == 1, err
