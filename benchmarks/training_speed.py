"""Training speed of DigitCNN under the tutorial's recipe: the TF1-style graph baseline, plain Keras ``fit`` on
numpy arrays and cnnlab's ``train``, alternating in one process. A thin wrapper over the ``tutorial`` part of
``benchmarks/bench.py`` (``cnnlab_bench.tutorial``), for trying other sizes without touching the bench's results.

    .venv/bin/python benchmarks/training_speed.py --images 20000 --epochs 1 --rounds 2 [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from cnnlab.runtime import import_tensorflow_quietly


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=None, help="training images per epoch (default all 60,000)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per contender and round (default 2)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import_tensorflow_quietly()

    from cnnlab_bench.context import BenchContext
    from cnnlab_bench.settings import TutorialSettings
    from cnnlab_bench.tutorial import run_tutorial

    with tempfile.TemporaryDirectory() as folder:
        context = BenchContext(out=Path(folder), scratch=Path(folder),
                               progress=lambda line: print(line, file=sys.stderr))
        result = run_tutorial(TutorialSettings(images=args.images, epochs=args.epochs, rounds=args.rounds), context)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name, median in result["median"].items():
        print(f"{name:16s} {median['images_per_second']:8,.0f} images/s  "
              f"test accuracy {100 * median['test_accuracy']:.2f} %")
    print(f"cnnlab / tf1 graph = {result['cnnlab_vs_tf1']:.2f}x; cnnlab / keras fit on numpy = "
          f"{result['cnnlab_vs_keras_numpy']:.2f}x; accuracy vs tf1 {result['accuracy_points_vs_tf1']:+.2f} points")


if __name__ == "__main__":
    main()
