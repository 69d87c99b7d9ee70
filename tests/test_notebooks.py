"""The notebooks in notebooks/ run from top to bottom in a real Jupyter kernel (their short version, chosen by
CNNLAB_NOTEBOOK_QUICK=1), and the training progress display draws a bar there as on a terminal."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnnlab.training import progress
from cnnlab.training.progress import TrainingProgress

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
TIMEOUT = 900  # seconds a cell may take: far above the quick versions' needs, on a loaded machine too


def _read(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4)


def _stderr(notebook) -> str:
    return "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
                   if o.get("name") == "stderr")


def _progress_drawn(notebook) -> bool:
    """tqdm's bar in the kernel: a widget where ipywidgets is installed (the notebook extra), else text on stderr."""
    widgets = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    return bool(widgets) or "batch" in _stderr(notebook)  # "batch": tqdm's unit


@pytest.fixture(scope="module")
def kernel():
    """The python3 kernel spec of this interpreter, installed into its prefix if Jupyter does not find one."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix"], check=True,
                       capture_output=True)
    return "python3"


@pytest.fixture
def quick(monkeypatch, tmp_path):
    """The notebooks' short version, run in an empty folder (the kernel inherits this environment)."""
    monkeypatch.setenv("CNNLAB_NOTEBOOK_QUICK", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ------------------------------------------------------------------ the notebooks as committed


def test_there_are_at_least_four_notebooks_committed_without_outputs():
    pytest.importorskip("nbformat")
    assert len(NOTEBOOKS) >= 4
    for path in NOTEBOOKS:
        notebook = _read(path)
        assert notebook.metadata["kernelspec"]["name"] == "python3", path.name
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear its outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_a_notebook_runs_from_top_to_bottom(path, kernel, quick):
    from nbclient import NotebookClient

    notebook = _read(path)
    NotebookClient(notebook, kernel_name=kernel, timeout=TIMEOUT, resources={"metadata": {"path": str(quick)}},
                   ).execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} showed no figure"
    if "TrainingProgress()" in "".join(c.source for c in notebook.cells):
        assert _progress_drawn(notebook), "the progress bar did not draw in the kernel"


@pytest.mark.slow
def test_jupyter_nbconvert_executes_a_notebook(kernel, quick):
    pytest.importorskip("nbconvert")
    jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent))
    if jupyter is None:
        pytest.skip("no jupyter command beside this interpreter")
    source = next(p for p in NOTEBOOKS if "photos" in p.name)  # the quickest: no training
    done = subprocess.run([jupyter, "nbconvert", "--to", "notebook", "--execute", str(source), "--output-dir",
                           str(quick), f"--ExecutePreprocessor.timeout={TIMEOUT}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    executed = _read(quick / source.name)
    assert all(o.output_type != "error" for c in executed.cells if c.cell_type == "code" for o in c.outputs)


# ------------------------------------------------------------------ the progress display


def _one_epoch(display: TrainingProgress) -> None:
    """What Keras calls during one epoch of 10 batches run 5 at a time."""
    display.set_params({"epochs": 2, "steps": 10})
    display.on_train_begin()
    display.on_epoch_begin(0)
    display.on_train_batch_end(4, {"loss": 0.75})
    display.on_train_batch_end(9, {"loss": 0.5})
    display.on_epoch_end(0, {"loss": 0.5, "accuracy": 0.9, "val_loss": 0.6, "val_accuracy": 0.85})


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_a_bar_on_a_terminal_and_only_lines_elsewhere(monkeypatch):
    monkeypatch.setattr(progress, "in_jupyter_kernel", lambda: False)
    terminal, log = _Terminal(), io.StringIO()
    _one_epoch(TrainingProgress(stream=terminal))
    _one_epoch(TrainingProgress(stream=log))
    assert "\repoch 1/2 [" in terminal.getvalue() and "10/10 loss 0.5000" in terminal.getvalue()
    assert log.getvalue() == "epoch 1/2  loss 0.5000  acc 90.00%  val_loss 0.6000  val_acc 85.00%  " \
                             f"{log.getvalue().split()[-1]}\n"


def test_progress_in_a_jupyter_kernel_uses_tqdm(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(progress, "in_jupyter_kernel", lambda: True)
    _one_epoch(TrainingProgress())
    err = capsys.readouterr().err
    assert "5/10" in err and "batch" in err and "loss=0.7500" in err  # tqdm's bar, then the summary line
    assert "epoch 1/2  loss 0.5000" in err


def test_progress_in_a_jupyter_kernel_without_tqdm_uses_keras_progbar(monkeypatch, capsys):
    monkeypatch.setattr(progress, "in_jupyter_kernel", lambda: True)
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if the notebook extra were not installed
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    _one_epoch(TrainingProgress())
    out, err = capsys.readouterr()
    assert "10/10" in out and "loss: 0.5" in out  # Keras's Progbar writes to stdout
    assert "epoch 1/2  loss 0.5000" in err


def test_outside_a_kernel_no_jupyter_display_is_chosen():
    assert progress.in_jupyter_kernel() is False
