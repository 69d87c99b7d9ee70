"""The progress display for training: a live bar on a terminal or in a Jupyter notebook, and one summary line per
epoch, written to stderr so ``--json`` keeps stdout clean.

In a Jupyter kernel stderr is no terminal, yet the notebook redraws a bar: there the bar is tqdm's (``tqdm.auto``:
a widget with the ``notebook`` extra's ipywidgets, text otherwise) or, without tqdm, Keras's own ``Progbar``.
"""

from __future__ import annotations

import sys
import time

import keras


def in_jupyter_kernel() -> bool:
    """Whether this process is a Jupyter kernel (an IPython shell with a kernel), not a terminal or a script."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class _TerminalBar:
    """One line redrawn in place with a carriage return."""

    def __init__(self, stream, label: str, steps: int) -> None:
        self.stream, self.label, self.steps = stream, label, steps
        self._start = time.perf_counter()

    def update(self, done: int, loss: float | None) -> None:
        width = 30
        filled = int(width * done / self.steps)
        eta = (time.perf_counter() - self._start) / done * (self.steps - done)
        loss_text = f" loss {loss:.4f}" if loss is not None else ""
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.steps}{loss_text} "
                          f"eta {eta:4.0f}s ")
        self.stream.flush()

    def close(self) -> str:
        return "\r\033[K"  # the summary line replaces the bar


class _TqdmBar:
    def __init__(self, label: str, steps: int) -> None:
        import importlib.util

        if importlib.util.find_spec("ipywidgets"):  # a widget; without ipywidgets tqdm.auto warns, then draws text
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm

        # redrawn at every update: Keras reports once per compiled call (many steps), never too often
        self.bar = tqdm(total=steps, desc=label, unit="batch", leave=False, file=sys.stderr, mininterval=0)

    def update(self, done: int, loss: float | None) -> None:
        if loss is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> str:
        self.bar.close()
        return ""


class _KerasBar:
    """Keras's Progbar, which redraws itself in a notebook too (it writes to stdout)."""

    def __init__(self, label: str, steps: int) -> None:
        print(label)
        self.bar = keras.utils.Progbar(steps, unit_name="batch")

    def update(self, done: int, loss: float | None) -> None:
        self.bar.update(done, values=[("loss", loss)] if loss is not None else None)

    def close(self) -> str:
        return ""


def _jupyter_bar(label: str, steps: int):
    try:
        return _TqdmBar(label, steps)
    except ImportError:  # tqdm comes with the notebook extra
        return _KerasBar(label, steps)


class TrainingProgress(keras.callbacks.Callback):
    """A live bar per epoch (updated every compiled call) on a terminal or in a Jupyter notebook, and one summary
    line per epoch; elsewhere (a log file, a pipe) only the summary lines.

    The number of epochs and of batches per epoch come from the trainer (``self.params``), so the display
    needs no knowledge of the data. ``header`` is written when training starts: after the run directory, the
    data and the model were checked, so a mistake found there is reported alone.

    Example (in a notebook):
        >>> run = cnnlab.train(config, "runs/nb", callbacks=[TrainingProgress()])  # doctest: +SKIP
    """

    def __init__(self, stream=None, header: str | None = None) -> None:
        super().__init__()
        self.stream = stream or sys.stderr
        self.header = header
        self.terminal = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.jupyter = stream is None and not self.terminal and in_jupyter_kernel()
        self.live = self.terminal or self.jupyter
        self.epochs = self.steps = 0
        self._start = 0.0
        self._bar = None

    def on_train_begin(self, logs=None) -> None:
        self.epochs = int(self.params.get("epochs") or 0)
        self.steps = max(int(self.params.get("steps") or 0), 1)
        if self.header:
            self.stream.write(self.header + "\n")
            self.stream.flush()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._start = time.perf_counter()
        label = f"epoch {epoch + 1}/{self.epochs}"
        if self.terminal:
            self._bar = _TerminalBar(self.stream, label, self.steps)
        elif self.jupyter:
            self._bar = _jupyter_bar(label, self.steps)

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if self._bar is None:
            return
        loss = (logs or {}).get("loss")
        self._bar.update(min(batch + 1, self.steps), None if loss is None else float(loss))

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        parts = [f"epoch {epoch + 1}/{self.epochs}", f"loss {logs.get('loss', float('nan')):.4f}",
                 f"acc {100 * logs.get('accuracy', float('nan')):.2f}%"]
        if "val_accuracy" in logs:
            parts += [f"val_loss {logs['val_loss']:.4f}", f"val_acc {100 * logs['val_accuracy']:.2f}%"]
        parts.append(f"{time.perf_counter() - self._start:.1f}s")
        prefix = self._bar.close() if self._bar is not None else ""
        self._bar = None
        self.stream.write(prefix + "  ".join(parts) + "\n")
        self.stream.flush()
