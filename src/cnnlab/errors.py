"""Errors a user can cause, each with the one-line message the CLI shows and an exit code.

Library code raises these; the CLI catches ``CnnlabError`` and prints ``cnnlab: error: <message>``
without a traceback (unless ``--debug``).
"""

from __future__ import annotations


class CnnlabError(Exception):
    """Base class: a problem the user can fix. ``str(error)`` is one line: what is wrong, what to do."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        # Keep messages on one line whatever the caller passed in.
        super().__init__(" ".join(str(message).split()))


def first_line(err: BaseException, limit: int = 200) -> str:
    """The first line of another library's error message, cut to ``limit`` characters, to quote inside ours."""
    return (str(err).strip().splitlines() or [""])[0][:limit]


class ConfigError(CnnlabError):
    """An option is unknown, ill-typed or out of range."""

    exit_code = 2


class DataError(CnnlabError):
    """A data file is missing, truncated, corrupt or fails its checksum."""

    exit_code = 3


class RunError(CnnlabError):
    """A run directory is missing, not a run, already exists, or does not match the config."""

    exit_code = 4
