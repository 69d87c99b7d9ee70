"""Load check: a real ``cnnlab serve`` process on loopback, N requests from C concurrent clients.

Each request uploads one of a few prepared photos (PNG, 320x240, dark digit on lit paper) to
``POST /api/predict``. Prints the error count, throughput and latency percentiles; ``--json`` prints one
JSON object. Exits non-zero when any request failed.

    python benchmarks/load_check.py runs/demo --requests 2000 --clients 8 [--json]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
from PIL import Image


def make_photos(count: int = 8) -> list[bytes]:
    """A few PNG "photos" of MNIST test digits: dark ink on lit paper with uneven light and noise."""
    from cnnlab.data.sources import load_dataset

    data = load_dataset("mnist")
    rng = np.random.default_rng(0)
    photos = []
    for digit in data.x_test[:count]:
        big = np.asarray(Image.fromarray(digit.reshape(28, 28)).resize((120, 120), Image.Resampling.BICUBIC),
                         dtype=np.float32) / 255
        page = np.full((240, 320), 225.0)
        top, left = rng.integers(10, 110), rng.integers(10, 190)
        page[top:top + 120, left:left + 120] *= 1 - 0.85 * big
        page *= np.linspace(1.0, 0.7, 320)[None, :]  # light falling off across the page
        page += rng.normal(0, 4, page.shape)
        buffer = io.BytesIO()
        Image.fromarray(np.clip(page, 0, 255).astype(np.uint8)).save(buffer, "PNG")
        photos.append(buffer.getvalue())
    return photos


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"digit.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def start_server(run_dir: str) -> tuple[subprocess.Popen, str, int]:
    process = subprocess.Popen([sys.executable, "-m", "cnnlab", "serve", run_dir, "--port", "0"],
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            raise SystemExit(f"cnnlab serve exited with {process.returncode}")
        match = re.search(r"http://([\d.]+):(\d+)/", line)
        if match:
            threading.Thread(target=process.stderr.read, daemon=True).start()  # keep the pipe drained
            return process, match.group(1), int(match.group(2))
    process.terminate()
    raise SystemExit("cnnlab serve did not report its address in time")


def client(host: str, port: int, bodies: list[tuple[bytes, str]], jobs: list[int], lock: threading.Lock,
           latencies: list[float], failures: list[str]) -> None:
    """One client: a keep-alive connection, taking request numbers until none are left."""
    connection = http.client.HTTPConnection(host, port, timeout=60)
    while True:
        with lock:
            if not jobs:
                break
            number = jobs.pop()
        body, content_type = bodies[number % len(bodies)]
        started = time.perf_counter()
        try:
            connection.request("POST", "/api/predict", body=body, headers={"Content-Type": content_type})
            response = connection.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200 or "label" not in json.loads(payload):
                failures.append(f"HTTP {response.status}: {payload[:120]!r}")
            else:
                latencies.append(elapsed)
        except (OSError, http.client.HTTPException, ValueError) as err:
            failures.append(f"{type(err).__name__}: {err}")
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=60)
    connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run directory to serve")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    bodies = [multipart(photo) for photo in make_photos()]
    process, host, port = start_server(args.run)
    try:
        latencies: list[float] = []
        failures: list[str] = []
        client(host, port, bodies, list(range(16)), threading.Lock(), [], [])  # warm up, not counted
        jobs, lock = list(range(args.requests)), threading.Lock()
        threads = [threading.Thread(target=client, args=(host, port, bodies, jobs, lock, latencies, failures))
                   for _ in range(args.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)

    ms = np.asarray(latencies) * 1000
    result = {
        "requests": args.requests, "clients": args.clients, "errors": len(failures),
        "first_errors": failures[:3], "wall_seconds": round(wall, 2),
        "requests_per_second": round(len(latencies) / wall, 1),
        "latency_ms": {name: round(float(np.percentile(ms, q)), 1) for name, q in
                       (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("max", 100))} if len(ms) else None,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['requests']} requests, {args.clients} clients: {result['errors']} errors, "
              f"{result['requests_per_second']} requests/s over {result['wall_seconds']} s")
        if result["latency_ms"]:
            print("latency ms: " + ", ".join(f"{k} {v}" for k, v in result["latency_ms"].items()))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
