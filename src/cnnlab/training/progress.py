"""A terminal progress display for training, written to stderr so ``--json`` keeps stdout clean."""

from __future__ import annotations

import sys
import time

import keras


class TrainingProgress(keras.callbacks.Callback):
    """A live bar per epoch on a terminal (updated every compiled call), and one summary line per epoch.

    The number of epochs and of batches per epoch come from the trainer (``self.params``), so the display
    needs no knowledge of the data. ``header`` is written when training starts: after the run directory, the
    data and the model were checked, so a mistake found there is reported alone.
    """

    def __init__(self, stream=None, header: str | None = None) -> None:
        super().__init__()
        self.stream = stream or sys.stderr
        self.header = header
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.epochs = self.steps = 0
        self._start = 0.0

    def on_train_begin(self, logs=None) -> None:
        self.epochs = int(self.params.get("epochs") or 0)
        self.steps = max(int(self.params.get("steps") or 0), 1)
        if self.header:
            self.stream.write(self.header + "\n")
            self.stream.flush()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch = epoch
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if not self.live:
            return
        done = min(batch + 1, self.steps)
        width = 30
        filled = int(width * done / self.steps)
        elapsed = time.perf_counter() - self._start
        eta = elapsed / done * (self.steps - done)
        loss = (logs or {}).get("loss")
        loss_text = f" loss {float(loss):.4f}" if loss is not None else ""
        self.stream.write(f"\repoch {self._epoch + 1}/{self.epochs} [{'#' * filled}{'.' * (width - filled)}] "
                          f"{done}/{self.steps}{loss_text} eta {eta:4.0f}s ")
        self.stream.flush()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        parts = [f"epoch {epoch + 1}/{self.epochs}", f"loss {logs.get('loss', float('nan')):.4f}",
                 f"acc {100 * logs.get('accuracy', float('nan')):.2f}%"]
        if "val_accuracy" in logs:
            parts += [f"val_loss {logs['val_loss']:.4f}", f"val_acc {100 * logs['val_accuracy']:.2f}%"]
        parts.append(f"{time.perf_counter() - self._start:.1f}s")
        prefix = "\r\033[K" if self.live else ""
        self.stream.write(prefix + "  ".join(parts) + "\n")
        self.stream.flush()
