"""Train the pretrained models shipped in the package, from the committed settings in ``pretrained.json``.

Each entry of ``benchmarks/pretrained.json`` names a recipe and the settings that override it (the model, the
epochs, the seed...). Each model trains into a temporary run directory, is evaluated on its test set there, and
only the files a bundled model keeps (``cnnlab.pretrained.BUNDLED_FILES``: no checkpoints, no logs) are copied to
``src/cnnlab/data/bundled/models/<name>/``, replacing the previous ones.

    nice python benchmarks/train_pretrained.py                 # every model in pretrained.json
    nice python benchmarks/train_pretrained.py fashion-mnist   # one of them
    python benchmarks/train_pretrained.py --limit 2000 --out /tmp/models   # a quick check, package untouched
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

SETTINGS = Path(__file__).with_name("pretrained.json")
PACKAGE_MODELS = Path(__file__).resolve().parents[1] / "src" / "cnnlab" / "data" / "bundled" / "models"
MAX_BYTES = 1 << 20  # a bundled model must stay well under 1 MB


def load_settings(path: Path = SETTINGS) -> dict[str, dict]:
    """The entries of ``pretrained.json`` (keys starting with '_' are comments)."""
    return {name: values for name, values in json.loads(path.read_text()).items() if not name.startswith("_")}


def build_config(values: dict, limit: int | None = None):
    from cnnlab.config import TrainConfig

    values = dict(values)
    recipe, model = values.pop("recipe", "default"), values.pop("model", None)
    return TrainConfig.from_recipe(recipe, model=model, **values, **({"limit": limit} if limit else {}))


def train_one(name: str, values: dict, out: Path, limit: int | None) -> Path:
    """Train one bundled model into a temporary run and copy its kept files to ``out/name``."""
    from cnnlab.pretrained import install_bundled
    from cnnlab.training.progress import TrainingProgress
    from cnnlab.training.train import train

    config = build_config(values, limit)
    with tempfile.TemporaryDirectory(prefix=f"cnnlab-pretrained-{name}-") as temporary:
        header = f"{name}: {config.model} on {config.dataset}, {config.recipe} recipe, {config.epochs} epoch(s)"
        run = train(config, Path(temporary) / name, callbacks=[TrainingProgress(header=header)])
        target = install_bundled(run.path, name, out)
    size = sum(p.stat().st_size for p in target.iterdir())
    if size > MAX_BYTES:
        raise SystemExit(f"{target} holds {size:,} bytes, more than {MAX_BYTES:,}: choose a smaller network")
    accuracy = json.loads((target / "metrics.json").read_text())["accuracy"]
    print(f"{name}: test accuracy {100 * accuracy:.2f} %, {size / 1024:.0f} KiB in {target}")
    return target


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"which models (default all: {', '.join(settings)})")
    parser.add_argument("--out", type=Path, default=PACKAGE_MODELS, help="where to put them (default the package)")
    parser.add_argument("--limit", type=int, help="train on the first N images only (a quick check; use --out)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(settings))
    if unknown:
        parser.error(f"not in {SETTINGS.name}: {', '.join(unknown)}")
    if args.limit and args.out.resolve() == PACKAGE_MODELS.resolve():
        parser.error("--limit trains a model not fit to ship: give --out to write it elsewhere")
    for name in args.names or settings:
        train_one(name, settings[name], args.out, args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
