"""``cnnlab serve RUN``: the drawing page and the prediction API for one run, on 127.0.0.1 by default."""

from __future__ import annotations

import socket

from cnnlab.commands._output import note
from cnnlab.commands._tensorflow import load_tensorflow


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve a run: a drawing page and a JSON prediction API",
        description="Serve a run over HTTP: GET / (draw or upload a digit), POST /api/predict, GET /api/health, "
                    "GET /api/model, OpenAPI docs at /docs.")
    parser.add_argument("run", metavar="RUN", help="a run directory written by 'cnnlab train'")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 picks a free one)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    import uvicorn

    from cnnlab.serve.app import create_app

    load_tensorflow(args.debug)
    app = create_app(args.run)  # loads the model once, before the first request
    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    note(f"serving {args.run} on http://{host}:{port}/ (API docs at /docs; Ctrl-C to stop)")
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, so a taken port is a one-line error, not a log and an exit."""
    from cnnlab.errors import ConfigError

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} must be between 0 and 65535")
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as err:
        raise ConfigError(f"cannot listen on {host}:{port} ({err.strerror or err}); "
                          "choose another --port or --host") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
