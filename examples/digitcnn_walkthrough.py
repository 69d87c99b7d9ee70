"""Walk-through: the first tutorial's notebook, cell by cell, with cnnlab's low-level ``DigitCNN``.

Load MNIST, look at some digits, standardize with the training statistics, build the network, export its
graph for TensorBoard, train with the last 10,000 images held out, save, plot loss and validation accuracy,
retrain on all 60,000, measure test accuracy, look at misclassified digits, and finally predict a folder of
your own digit images. Figures are written to ``--out`` instead of being shown.

    python examples/digitcnn_walkthrough.py                             # the tutorial: 30 + 30 epochs (slow on CPU)
    python examples/digitcnn_walkthrough.py --epochs 1 --limit 3000     # a one-minute tour
    python examples/digitcnn_walkthrough.py --own-digits my_digits/    # files named like 3_anything.png

Without ``--own-digits`` the last step writes ten test digits as PNG files (dark ink on white, like a photo
of paper) into a temporary folder and predicts those.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # write files; no display needed
import matplotlib.pyplot as plt  # noqa: E402

from cnnlab import CnnlabError, DigitCNN, Normalizer, load_dataset, load_mnist  # noqa: E402

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The DigitCNN tutorial, end to end, with figures saved to files.")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of each of the two trainings (tutorial: 30)")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N training images (the last sixth of them, at most 10,000, "
                             "for validation) to keep the tour fast")
    parser.add_argument("--mnist-dir", type=Path, default=None,
                        help="a folder of MNIST IDX files (default: cnnlab's verified bundled copy)")
    parser.add_argument("--own-digits", type=Path, default=None,
                        help="a folder of your own digit images; a leading digit in a file name is its label")
    parser.add_argument("--out", type=Path, default=Path("digitcnn-walkthrough"),
                        help="folder for the figures, the TensorBoard logs and the saved model")
    parser.add_argument("--seed", type=int, default=27, help="the tutorial's random_seed")
    args = parser.parse_args(argv)
    if args.epochs < 1 or (args.limit is not None and args.limit < 100):
        parser.error("--epochs must be >= 1 and --limit >= 100")
    return args


# -------------------------------------------------------------------- 1. data


def load_data(mnist_dir: Path | None, limit: int | None) -> tuple[np.ndarray, ...]:
    if mnist_dir is not None:
        X_train, y_train = load_mnist(mnist_dir, kind="train")
        X_test, y_test = load_mnist(mnist_dir, kind="t10k")
    else:
        data = load_dataset("mnist")
        X_train, y_train, X_test, y_test = data.x_train, data.y_train, data.x_test, data.y_test
    if limit is not None:
        X_train, y_train = X_train[:limit], y_train[:limit]
    print(f"Training Set --> Rows: {X_train.shape[0]}, Columns: {X_train.shape[1]}")
    print(f"Test Set     --> Rows: {X_test.shape[0]}, Columns: {X_test.shape[1]}")
    return X_train, y_train, X_test, y_test


# -------------------------------------------------------------------- figures


def digit_row_figure(images: np.ndarray, captions: list[str] | None = None, title: str = ""):
    """One row of up to ten 28x28 digits, dark ink on light (the tutorial's 'Greys' colour map)."""
    count = min(len(images), 10)
    fig, axes = plt.subplots(1, max(count, 1), figsize=(14, 2.4), squeeze=False)
    for i, ax in enumerate(axes[0]):
        if i < count:
            ax.imshow(np.asarray(images[i]).reshape(28, 28), cmap="Greys", interpolation="nearest")
            if captions:
                ax.set_xlabel(captions[i])
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def sample_grid_figure(X: np.ndarray, y: np.ndarray, rows: int = 5):
    """``rows`` examples of each digit: each column one digit, each row another writer."""
    fig, axes = plt.subplots(rows, 10, figsize=(14, 8), sharex=True, sharey=True)
    for digit in range(10):
        examples = X[y == digit]
        for row in range(rows):
            ax = axes[row, digit]
            if row < len(examples):
                ax.imshow(examples[row].reshape(28, 28), cmap="Greys", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


def history_figure(history):
    """Training loss (left axis, red) and validation accuracy (right axis, blue) against the epoch."""
    fig, loss_ax = plt.subplots(figsize=(12, 6))
    loss_ax.plot(history["Epoch"], history["Loss"], "r-o")
    loss_ax.set_xlabel("Training Epochs")
    loss_ax.set_ylabel("Training loss (mean cross-entropy)", color="r")
    loss_ax.tick_params("y", colors="r")
    acc_ax = loss_ax.twinx()
    acc_ax.plot(history["Epoch"], history["Accuracy"], "b-o")
    acc_ax.set_ylabel("Validation Accuracy", color="b", labelpad=20)
    acc_ax.tick_params("y", colors="b")
    fig.tight_layout()
    return fig


def save(fig, out: Path, name: str) -> None:
    fig.savefig(out / name, dpi=80)
    plt.close(fig)
    print(f"  wrote {out / name}")


# -------------------------------------------------------------------- own digits


def write_example_digits(folder: Path, X_test: np.ndarray, y_test: np.ndarray) -> None:
    """Ten test digits (one of each class) as 56x56 PNGs of dark ink on white, named ``<label>_test.png``."""
    from PIL import Image

    for digit in range(10):
        index = int(np.flatnonzero(y_test == digit)[0])
        ink_on_paper = 255 - X_test[index].reshape(28, 28)
        Image.fromarray(ink_on_paper).resize((56, 56), Image.NEAREST).save(folder / f"{digit}_test.png")


def read_own_digits(folder: Path) -> tuple[np.ndarray, list[int | None], list[str]]:
    """Each image in ``folder`` as a 28x28 uint8 MNIST-style digit, its label (leading digit of the name) and name.

    ``cnnlab.preprocess_image`` turns a photo or drawing into what MNIST looks like (light ink on black,
    20-pixel digit centred by mass); images it cannot use (blank, unreadable) are skipped with a note.
    """
    from cnnlab.images.preprocess import preprocess_image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    pixels, used = [], []
    for path in files:
        try:
            pixels.append(np.asarray(preprocess_image(path, style="digits").pixels, dtype=np.uint8).reshape(28, 28))
        except CnnlabError as err:
            print(f"  skipped {path.name}: {err}")
            continue
        used.append(path)
    if not used:
        raise CnnlabError(f"{folder} holds no usable digit images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                          "add some or leave out --own-digits")
    labels = [int(p.name[0]) if p.name[0].isdigit() else None for p in used]
    return np.stack(pixels), labels, [p.name for p in used]


# -------------------------------------------------------------------- the tutorial, in order


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    print("\n1. Importing the image dataset")
    X_train, y_train, X_test, y_test = load_data(args.mnist_dir, args.limit)

    print("\n2. Data visualization")
    save(sample_grid_figure(X_train, y_train), out, "sample_digits.png")
    save(digit_row_figure(X_train[y_train == 5][:10], title="Fives from the training set"), out, "fives.png")

    print("\n3. Standardizing with the training set's per-pixel mean and global std")
    normalizer = Normalizer.fit("standardize", X_train)
    X_train_std, X_test_std = normalizer.apply(X_train), normalizer.apply(X_test)
    n_valid = min(10_000, len(X_train) // 6)  # the tutorial's last 10,000 of 60,000
    X_fit, y_fit = X_train_std[:-n_valid], y_train[:-n_valid]
    X_valid, y_valid = X_train_std[-n_valid:], y_train[-n_valid:]
    print(f"  training on {len(X_fit):,} images, validating on the last {n_valid:,}")

    print("\n4. Building the CNN")
    cnn = DigitCNN(epochs=args.epochs, random_seed=args.seed)
    logdir = cnn.export_logs(out / "logs")
    print(f"  graph for TensorBoard in {logdir}  (tensorboard --logdir {logdir})")

    print("\n5. Training with validation")
    cnn.train(training_set=(X_fit, y_fit), validation_set=(X_valid, y_valid), initialize=True)
    cnn.save(epoch=args.epochs, path=out / "digitCNN-model")
    save(history_figure(cnn.history), out, "loss_and_validation_accuracy.png")

    print(f"\n6. Retraining from scratch on all {len(X_train_std):,} training images")
    cnn.train(training_set=(X_train_std, y_train), initialize=True)

    print("\n7. Testing on unseen data")
    y_test_preds = cnn.predict(X_test_std)
    print(f"Test Accuracy: {100 * np.mean(y_test_preds == y_test):.2f}%")
    save(digit_row_figure(X_test[:10], [str(p) for p in y_test_preds[:10]], "Predicted class below each image"),
         out, "test_examples.png")
    wrong = np.flatnonzero(y_test_preds != y_test)
    print(f"Misclassified digits: {len(wrong)} of {len(y_test):,}")
    captions = [f"{y_test_preds[i]} (was {y_test[i]})" for i in wrong[:10]]
    save(digit_row_figure(X_test[wrong[:10]], captions, "Misclassified digits"), out, "misclassified.png")

    print("\n8. Predicting your own digits")
    predict_own_digits(cnn, normalizer, args.own_digits, X_test, y_test, out)
    return 0


def predict_own_digits(cnn: DigitCNN, normalizer: Normalizer, folder: Path | None, X_test: np.ndarray,
                       y_test: np.ndarray, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if folder is None:
            folder = Path(tmp)
            write_example_digits(folder, X_test, y_test)
            print(f"  no --own-digits folder given: wrote ten test digits as PNG photos of paper to {folder}")
        pixels, labels, names = read_own_digits(folder)
    # the *training* statistics, not the own digits' (the tutorial standardized them with their own)
    predictions = cnn.predict(normalizer.apply(pixels))
    for name, label, predicted in zip(names, labels, predictions):
        print(f"  {name}: predicted {predicted}" + ("" if label is None else f" (label {label})"))
    known = [(label, p) for label, p in zip(labels, predictions) if label is not None]
    if known:
        print(f"Own-digit Accuracy: {100 * np.mean([label == p for label, p in known]):.2f}%")
    captions = [f"{p}" + ("" if label is None else f" (is {label})") for label, p in zip(labels, predictions)]
    save(digit_row_figure(pixels, captions, "Your digits: predicted class below each"), out, "own_digits.png")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CnnlabError as err:
        sys.exit(f"digitcnn_walkthrough: error: {err}")
