"""Run the real ``cnnlab`` CLI in a child process and measure its peak memory.

The child's peak resident set comes from ``os.wait4`` (its own ``ru_maxrss``, not that of every child this
process ever had, which is what ``resource.RUSAGE_CHILDREN`` would give). Its progress lines (stderr) are passed
on to the bench's progress callback as they come, so a ten-minute child shows it is alive.
"""

from __future__ import annotations

import collections
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable

from cnnlab.errors import RunError


def run_cnnlab(arguments: list[str], progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """``python -m cnnlab ARGUMENTS --json`` in a child; returns its JSON output, peak RSS and wall seconds.

    Raises RunError with the child's last stderr line when it fails.

    Example:
        >>> child = run_cnnlab(["train", "--limit", "1000", "--epochs", "1", "--run-dir", "runs/x"])  # doctest: +SKIP
        >>> child["max_rss_bytes"] > 0, child["output"]["test_accuracy"] > 0
        (True, True)
    """
    command = [sys.executable, "-m", "cnnlab", *arguments, "--json"]
    tail: collections.deque[str] = collections.deque(maxlen=3)
    with tempfile.TemporaryFile() as stdout:  # a file, not a pipe: the child never blocks on a full pipe
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True)
        reader = threading.Thread(target=_forward, args=(child.stderr, progress, tail), daemon=True)
        reader.start()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
        reader.join()
        child.stderr.close()
        wall = time.perf_counter() - start
        stdout.seek(0)
        text = stdout.read().decode("utf-8", "replace")
    if child.returncode != 0:
        last = tail[-1] if tail else "no message"
        raise RunError(f"'{shlex.join(command[1:])}' failed with exit code {child.returncode}: {last}")
    return {"output": json.loads(text), "max_rss_bytes": usage.ru_maxrss * 1024,  # Linux reports KiB
            "wall_seconds": round(wall, 2), "command": shlex.join(["cnnlab", *arguments])}


def _forward(stream, progress: Callable[[str], None], tail: collections.deque) -> None:
    for line in stream:
        line = line.rstrip()
        if line:
            tail.append(line)
            progress(line)
