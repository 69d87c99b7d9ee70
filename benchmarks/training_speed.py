"""Training speed of DigitCNN under the tutorial's recipe (batch 100, Adam 1e-4, dropout 0.5): the TF1-style
graph baseline, plain Keras ``fit`` on numpy arrays, and cnnlab's ``train``, measured in one process,
alternating, so the ratios hold even when the machine is busy.

    .venv/bin/python benchmarks/training_speed.py --images 20000 --rounds 2 [--json]

This is a first piece of the performance work (issue 6); its figures are not yet in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cnnlab.runtime import import_tensorflow_quietly  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000, help="training images per measured epoch")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (one epoch each)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import_tensorflow_quietly()

    from baselines import Tf1GraphDigitCNN, keras_fit_on_numpy

    from cnnlab.config import TrainConfig
    from cnnlab.data.prep import Normalizer
    from cnnlab.data.sources import load_dataset
    from cnnlab.training.fit import train

    data = load_dataset("mnist")
    x, y = data.x_train[:args.images], data.y_train[:args.images]
    norm = Normalizer.fit("standardize", x)
    x_float = norm.apply(x)
    tf1 = Tf1GraphDigitCNN()
    tf1.train_epoch(x_float[:1000], y[:1000])  # warm-up
    speeds: dict[str, list[float]] = {"tf1_graph": [], "keras_fit_numpy": [], "cnnlab": []}
    config = TrainConfig.from_recipe("seed", model="digitcnn", epochs=1, limit=args.images, val_split=0)
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            speeds["tf1_graph"].append(len(x) / tf1.train_epoch(x_float, y, seed=round_))
            _, seconds = keras_fit_on_numpy(x_float, y, epochs=1)
            speeds["keras_fit_numpy"].append(len(x) / seconds[0])
            run = train(config.replace(seed=round_), Path(tmp) / f"r{round_}", dataset=data)
            speeds["cnnlab"].append(float(run.history["images_per_second"].iloc[-1]))
    medians = {name: statistics.median(values) for name, values in speeds.items()}
    result = {"machine": platform.processor() or platform.machine(), "images": args.images,
              "images_per_second": medians, "all": speeds,
              "cnnlab_vs_tf1": medians["cnnlab"] / medians["tf1_graph"],
              "cnnlab_vs_keras_numpy": medians["cnnlab"] / medians["keras_fit_numpy"]}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name, value in medians.items():
            print(f"{name:16s} {value:8,.0f} images/s")
        print(f"cnnlab / tf1 graph = {result['cnnlab_vs_tf1']:.2f}x; "
              f"cnnlab / keras fit on numpy = {result['cnnlab_vs_keras_numpy']:.2f}x")


if __name__ == "__main__":
    main()
