"""Run the real ``cnnlab`` CLI in a child process and measure its peak memory.

The child's peak resident set comes from ``os.wait4`` (its own ``ru_maxrss``, not that of every child this
process ever had, which is what ``resource.RUSAGE_CHILDREN`` would give) — taken in a small launcher process, not
here: Linux counts the memory of the process a child was forked from into the child's ``ru_maxrss``, so a child
of this process (TensorFlow and the datasets loaded, 1.5 GB) would never report less than this process's own
peak. Forked from a bare Python launcher (~15 MB), the figure is the CLI's own.

The child's progress lines (stderr) are passed on to the bench's progress callback as they come, so a
ten-minute child shows it is alive.
"""

from __future__ import annotations

import collections
import json
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
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
    with tempfile.TemporaryDirectory(prefix="cnnlab-child-") as folder:
        stdout_path, usage_path = Path(folder) / "stdout", Path(folder) / "usage"
        with open(stdout_path, "wb") as stdout:  # a file, not a pipe: the child never blocks on a full pipe
            start = time.perf_counter()
            launcher = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(usage_path), *command],
                                        stdout=stdout, stderr=subprocess.PIPE, text=True)
            reader = threading.Thread(target=_forward, args=(launcher.stderr, progress, tail), daemon=True)
            reader.start()
            launcher.wait()
            reader.join()
            launcher.stderr.close()
            wall = time.perf_counter() - start
        text = stdout_path.read_text(encoding="utf-8", errors="replace")
        code, max_rss_kib = (int(v) for v in usage_path.read_text().split()) if usage_path.exists() else (-1, 0)
    if code != 0:
        last = tail[-1] if tail else "no message"
        raise RunError(f"'{shlex.join(['cnnlab', *arguments])}' failed with exit code {code}: {last}")
    return {"output": json.loads(text), "max_rss_bytes": max_rss_kib * 1024,  # Linux reports KiB
            "wall_seconds": round(wall, 2)}


# Runs in a bare Python: starts the command, waits for it with os.wait4, writes "exit-code max-rss-KiB" to the file
# named first. A Ctrl-C reaches the command too (same process group); the launcher waits for it to stop.
_LAUNCHER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
while True:
    try:
        _, status, usage = os.wait4(child.pid, 0)
        break
    except KeyboardInterrupt:
        pass
child.returncode = code = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as f:
    f.write(f"{code} {usage.ru_maxrss}")
sys.exit(min(max(code, 0), 255))
"""


def _forward(stream, progress: Callable[[str], None], tail: collections.deque) -> None:
    for line in stream:
        line = line.rstrip()
        if line:
            tail.append(line)
            progress(line)
