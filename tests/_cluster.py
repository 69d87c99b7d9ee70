"""Local multi-worker clusters for the distribution tests: TF_CONFIG values and free ports on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from typing import Sequence


def tf_config_for(addresses: Sequence[str], index: int) -> str:
    """The ``TF_CONFIG`` value for worker ``index`` of a cluster of ``addresses`` (``host:port`` each)."""
    return json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}})


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` TCP ports that are free on ``host`` right now (for local multi-worker jobs and tests)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
