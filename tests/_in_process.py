"""Run a command-line entry point in this process, as the ``cli`` and ``bench_cli`` fixtures do."""

from __future__ import annotations

from typing import Callable


def run_main(main: Callable[[list[str]], int], capsys, argv: tuple[str, ...]) -> tuple[int, str, str]:
    """``main(argv)``'s exit code (argparse's ``SystemExit`` included) with what it printed: (code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse usage errors and --help
        code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err
