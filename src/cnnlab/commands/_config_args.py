"""The flags shared by ``train``, ``repeat`` and ``search``: the training config's, generated from its field
metadata (one flag a field), and those of the directory they write (resume, overwrite, data, output)."""

from __future__ import annotations

import json
from typing import Any, Iterable

from cnnlab.config import ConfigField, TrainConfig, config_fields, recipe_defaults
from cnnlab.errors import ConfigError


def yes_no(text: str) -> bool:
    """argparse type for a boolean option: yes/no, true/false, 1/0."""
    value = text.strip().lower()
    if value in ("yes", "true", "1", "on"):
        return True
    if value in ("no", "false", "0", "off"):
        return False
    raise ValueError(text)


yes_no.__name__ = "yes/no"  # argparse names the type in its one-line error

_PARSERS = {int: int, float: float, bool: yes_no, str: str}  # field type -> argparse type
_METAVARS = {int: "N", float: "X", bool: "YES/NO", str: "NAME"}


def add_config_arguments(parser, skip: Iterable[str] = (), notes: dict[str, str] | None = None) -> None:
    """Add ``--config``, ``--recipe``, one flag per config field (except ``skip``) and ``--option``.

    Every flag defaults to None (= not given), so a recipe or a saved config fills in the rest; ``--help`` shows
    the default recipe's value. ``notes`` adds a command's own words to a field's help."""
    notes = notes or {}
    parser.add_argument("--config", metavar="FILE",
                        help="start from a saved config (RUN/config.json of an earlier run) instead of a recipe; "
                             "the flags given override its values")
    parser.add_argument("--recipe", default=None, help="default (accurate in minutes), fast (seconds), "
                        "best (highest accuracy, ~10-15 min) or seed (the tutorial's own); the defaults shown "
                        "below are the default recipe's, which this or --config changes")
    defaults = recipe_defaults()
    fields = [spec for spec in config_fields() if spec.option.flag and spec.name not in set(skip)]
    for spec in fields:
        parser.add_argument("--" + spec.label, dest=spec.name, type=_PARSERS[spec.kind], default=None,
                            metavar=_metavar(spec), help=_help(spec, defaults[spec.name], notes.get(spec.name, "")))
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a model option, e.g. dense_units=512 (repeatable; see 'cnnlab models --json')")
    parser.set_defaults(config_fields=tuple(spec.name for spec in fields))


def _metavar(spec: ConfigField) -> str:
    return "{" + ",".join(spec.option.choices) + "}" if spec.option.choices else _METAVARS[spec.kind]


def _help(spec: ConfigField, default: Any, note: str) -> str:
    """``help; note (range; default: value)``, %-escaped for argparse."""
    if default is None:
        shown = spec.option.unset
    elif spec.kind is bool:
        shown = "yes" if default else "no"
    else:
        shown = default
    details = [text for text in (spec.range_text(), f"default: {shown}") if text]
    return f"{spec.option.help}{note} ({'; '.join(details)})".replace("%", "%%")


def config_from_args(args) -> TrainConfig:
    """The config the flags describe: ``--config FILE`` or ``--recipe`` (default: the default recipe), with the
    config flags given on top. Validated, and no TensorFlow needed."""
    explicit = explicit_overrides(args)
    if args.config is None:
        return TrainConfig.from_recipe(args.recipe or "default", **explicit)
    if args.recipe is not None:
        raise ConfigError("--config and --recipe both give every setting; use one of them (the other flags "
                          "override single values)")
    return TrainConfig.from_file(args.config, **explicit)


def add_output_arguments(parser, dir_flag: str, thing: str, default_dir: str, resume_help: str,
                         quiet_help: str = "no progress display") -> None:
    """Add the directory flag (``--run-dir`` or ``--out``) for the ``thing`` written (a run, a group, a search),
    ``--resume``, ``--overwrite``, ``--data-dir``, ``--quiet`` and ``--json``."""
    parser.add_argument(dir_flag, metavar="DIR", help=f"where to write the {thing} (default {default_dir})")
    parser.add_argument("--resume", action="store_true", help=resume_help)
    parser.add_argument("--overwrite", action="store_true", help=f"replace the {thing} in {dir_flag}")
    parser.add_argument("--data-dir", metavar="DIR", help="a folder with the four IDX files")
    parser.add_argument("--quiet", action="store_true", help=quiet_help)
    parser.add_argument("--json", action="store_true", help="print one JSON object with the results")


def explicit_overrides(args) -> dict[str, Any]:
    """The config values the user gave (None = not given), with ``--option`` pairs as ``model_options``."""
    explicit = {name: getattr(args, name) for name in args.config_fields}
    if args.option:
        explicit["model_options"] = parse_options(args.option)
    return explicit


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["dense_units=512", "dropout=0.3"]`` -> ``{"dense_units": 512, "dropout": 0.3}`` (JSON values)."""
    options = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {pair!r} is not KEY=VALUE, e.g. --option dense_units=512")
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = text
    return options
