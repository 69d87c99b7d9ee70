"""``cnnlab serve RUN``: the drawing page and the prediction API for one run, on 127.0.0.1 by default."""

from __future__ import annotations

import socket

from cnnlab.commands._output import note
from cnnlab.commands._tensorflow import RUN_HELP, load_tensorflow

# The defaults live with the code they limit; these mirror them for --help (a test checks they agree).
_DEFAULTS = {"max_mb": 5, "max_side": 4096, "max_concurrent": 64, "header_timeout": 10.0, "body_timeout": 20.0}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve a run: a drawing page and a JSON prediction API",
        description="Serve a run over HTTP: GET / (draw or upload a digit), POST /api/predict, GET /api/health, "
                    "GET /api/model, OpenAPI docs at /docs. Requests whose Host header is not 127.0.0.1, "
                    "localhost, [::1], the --host address or an --allow-host name are refused (DNS rebinding); "
                    "cross-origin POSTs are refused and no CORS headers are sent. See docs/SERVING.md.")
    parser.add_argument("run", metavar="RUN", help=RUN_HELP)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 picks a free one)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="also answer requests whose Host header names NAME (a host name or address, no port; "
                             "repeatable), e.g. this machine's name when serving on --host 0.0.0.0")
    parser.add_argument("--max-mb", type=int, default=_DEFAULTS["max_mb"], metavar="MB",
                        help="the largest upload, in MiB (default %(default)s)")
    parser.add_argument("--max-side", type=int, default=_DEFAULTS["max_side"], metavar="PX",
                        help="the widest or tallest image, in pixels (default %(default)s)")
    parser.add_argument("--max-concurrent", type=int, default=_DEFAULTS["max_concurrent"], metavar="N",
                        help="requests in flight at once; more are answered 503 (default %(default)s)")
    parser.add_argument("--header-timeout", type=float, default=_DEFAULTS["header_timeout"], metavar="S",
                        help="seconds a client has to send its request headers (default %(default)s)")
    parser.add_argument("--body-timeout", type=float, default=_DEFAULTS["body_timeout"], metavar="S",
                        help="seconds from a request's start until its body must have arrived; else 408 "
                             "(default %(default)s)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from cnnlab.extras import require_extra

    require_extra("serve", "cnnlab serve")  # before FastAPI is imported below
    from cnnlab.pretrained import resolve_run
    from cnnlab.serve.app import create_app
    from cnnlab.serve.server import make_server

    _check(args)
    load_tensorflow(args.debug)
    app = create_app(resolve_run(args.run), max_bytes=args.max_mb * 1024 * 1024, max_side=args.max_side,
                     max_concurrent=args.max_concurrent, body_timeout=args.body_timeout,
                     allowed_hosts=[args.host, *args.allow_host])  # loads the model once, before the first request
    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    note(f"serving {args.run} on http://{shown}:{port}/ (API docs at /docs; Ctrl-C to stop)")
    make_server(app, header_timeout=args.header_timeout).run(sockets=[sock])
    return 0


def _check(args) -> None:
    from cnnlab.errors import ConfigError

    for flag, value in (("--max-mb", args.max_mb), ("--max-side", args.max_side),
                        ("--max-concurrent", args.max_concurrent)):
        if value < 1:
            raise ConfigError(f"{flag} {value} must be at least 1")
    for flag, value in (("--header-timeout", args.header_timeout), ("--body-timeout", args.body_timeout)):
        if not 0 < value <= 3600:
            raise ConfigError(f"{flag} {value:g} must be more than 0 and at most 3600 seconds")
    for name in args.allow_host:
        if not name.strip() or any(c in name for c in "/ \t") or name.count(":") == 1:
            raise ConfigError(f"--allow-host {name!r} must be a host name or address without a port or scheme, "
                              "e.g. --allow-host mybox.local")


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
