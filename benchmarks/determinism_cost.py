"""What TensorFlow's op determinism costs a CPU training run: the default recipe trained with it on and off, the
two alternating in fresh processes (op determinism cannot be turned off once on), images per second of each.

cnnlab turns op determinism on only on a GPU (``cnnlab.runtime.seed_everything``): on a CPU its one effect is that
tf.data runs the training pipeline, which reads the epoch variable, synchronously, so augmentation waits for the
step instead of overlapping it. Each setting repeats its own history exactly (tests/test_training.py checks the off
case); the two differ in the last digits, as some kernels sum in another order under op determinism.

    .venv/bin/python benchmarks/determinism_cost.py [--images 12800] [--epochs 2] [--rounds 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = """
import json, sys, tempfile
from cnnlab.runtime import import_tensorflow_quietly
import_tensorflow_quietly()
import tensorflow as tf
if sys.argv[1] == "on":
    tf.config.experimental.enable_op_determinism()
from cnnlab.config import TrainConfig
from cnnlab.training.train import train
config = TrainConfig.from_recipe("default", limit=int(sys.argv[2]), epochs=int(sys.argv[3]), val_split=0)
with tempfile.TemporaryDirectory() as folder:
    history = train(config, folder + "/run", evaluate_test=False).history
print(json.dumps({"images_per_second": history["images_per_second"].tolist(), "loss": history["loss"].tolist()}))
"""


def measure(setting: str, images: int, epochs: int) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, setting, str(images), str(epochs)], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12800, help="training images (default 12,800)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run; the last one's speed counts")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; each setting's fastest counts")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    best: dict[str, float] = {}
    losses: dict[str, list] = {}
    with tempfile.TemporaryDirectory():
        for round_ in range(args.rounds):
            for setting in ("on", "off"):
                result = measure(setting, args.images, args.epochs)
                best[setting] = max(best.get(setting, 0.0), result["images_per_second"][-1])
                losses[setting] = result["loss"]
                print(f"round {round_ + 1}: op determinism {setting:3s} {result['images_per_second'][-1]:8,.0f} "
                      "images/s", file=sys.stderr)
    summary = {"images_per_second": best, "off_over_on": best["off"] / best["on"], "losses": losses}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"op determinism on {best['on']:,.0f} images/s, off {best['off']:,.0f} images/s: "
              f"{summary['off_over_on']:.2f}x")


if __name__ == "__main__":
    main()
