"""Test helpers: a real ``cnnlab serve`` process on 127.0.0.1 (its address from its own first line, its log
kept), and plain HTTP calls to it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator


@dataclass
class Served:
    url: str
    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log(self) -> str:
        """Everything the server has written to stderr so far."""
        return "".join(self.lines)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        return request(self.url + path, headers=headers)


@contextlib.contextmanager
def serving(run_path: str | os.PathLike, *options: str) -> Iterator[Served]:
    """``cnnlab serve RUN --port 0 OPTIONS...`` in its own process, healthy; stopped afterwards."""
    command = [sys.executable, "-m", "cnnlab", "serve", str(Path(run_path)), "--port", "0", *options]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    served = Served("", process)
    try:
        deadline = time.monotonic() + 180
        while not served.url and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                raise AssertionError(f"cnnlab serve exited with {process.returncode}: {served.log()}")
            served.lines.append(line)
            match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            served.url = match.group(1) if match else ""
        assert served.url, f"cnnlab serve did not report its address: {served.log()}"
        threading.Thread(target=lambda: served.lines.extend(iter(process.stderr.readline, "")), daemon=True).start()
        for _ in range(300):
            with contextlib.suppress(OSError):
                if served.get("/api/health")[0] == 200:
                    break
            time.sleep(0.1)
        yield served
    finally:
        process.terminate()
        process.wait(timeout=30)


def request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None,
            method: str | None = None, timeout: float = 120) -> tuple[int, Any]:
    """(status, the JSON body or the text) for one request; HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, _body(response.read(), response.headers)
    except urllib.error.HTTPError as err:
        return err.code, _body(err.read(), err.headers)


def multipart(data: bytes, field_name: str = "image", filename: str = "x.png") -> tuple[bytes, str]:
    """A multipart/form-data body holding one file field, and its content type."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post_image(url: str, data: bytes, filename: str = "x.png",
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    body, content_type = multipart(data, filename=filename)
    return request(url + "/api/predict", body, {"Content-Type": content_type, **(headers or {})}, "POST")


def _body(raw: bytes, headers) -> Any:
    if "json" in (headers.get("content-type") or ""):
        return json.loads(raw)
    return raw.decode("utf-8", "replace")
