"""The ``cnnlab`` command: parse arguments, call one library function, print. Nothing else lives here.

Every user mistake ends as one line on stderr (``cnnlab: error: ...``) and a non-zero exit code; a traceback
only with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable

from cnnlab.errors import CnnlabError

COMMANDS = ("data", "models", "train", "evaluate", "report", "compare", "export", "predict", "serve", "search",
            "repeat")


class _Parser(argparse.ArgumentParser):
    """argparse, but usage mistakes are one line that points at --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnnlab", description="Train, evaluate, inspect and use CNNs on MNIST-family images.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and TensorFlow's logs")
    parser.add_argument("--version", action="version", version=f"cnnlab {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"cnnlab.commands.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # a command that needs TensorFlow loads it itself, after checking its arguments (commands/_tensorflow.py)
    return run_with_one_line_errors("cnnlab", lambda: args.handler(args), args.debug)


def run_with_one_line_errors(prog: str, action: Callable[[], int | None], debug: bool = False,
                             interrupted: str = "interrupted") -> int:
    """Call ``action`` and turn what it raises into one line on stderr (``PROG: error: ...``) and an exit code;
    with ``debug`` the exception is raised instead. Shared by the ``cnnlab`` command and ``benchmarks/bench.py``."""
    try:
        return int(action() or 0)
    except CnnlabError as err:
        if debug:
            raise
        print(f"{prog}: error: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:  # e.g. piped into `head`: not an error
        sys.stderr.close()
        return 0
    except OSError as err:  # a path that cannot be made, read or written: permissions, a file in the way, full disk
        if debug:
            raise
        print(f"{prog}: error: {_file_system_message(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
    except Exception as err:  # the last line of defence: still one line, and a way to see more
        if debug:
            raise
        if _out_of_memory(err):
            print(f"{prog}: error: out of memory; use a smaller --batch-size or a smaller model (--option)",
                  file=sys.stderr)
            return 1
        print(f"{prog}: internal error: {type(err).__name__}: {err} (rerun with --debug for details)",
              file=sys.stderr)
        return 1


def _out_of_memory(err: Exception) -> bool:
    """MemoryError, or TensorFlow's (only looked up when TensorFlow is loaded: light commands never import it)."""
    tensorflow = sys.modules.get("tensorflow")
    return isinstance(err, MemoryError) or (
        tensorflow is not None and isinstance(err, tensorflow.errors.ResourceExhaustedError))


def _file_system_message(err: OSError) -> str:
    where = f"{err.filename}: " if err.filename else ""
    if isinstance(err, (FileExistsError, NotADirectoryError)):  # what mkdir says when a file is in the way
        return f"{where}a file is in the way where a folder is needed; choose another path"
    reason = err.strerror or type(err).__name__
    return f"{where}{reason.rstrip('.')}; check the path, its permissions and the free disk space"


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("cnnlab")
    except metadata.PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
