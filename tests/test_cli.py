"""The command line: JSON outputs, and one clear line with a non-zero exit for every user mistake."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys

import pytest

from cnnlab.data.catalog import MNIST
from cnnlab.data.sources import bundled_dir

TINY = ["--model", "digitcnn", "--limit", "600", "--epochs", "1", "--batch-size", "50", "--option", "conv_1_channels=4",
        "--option", "conv_2_channels=8", "--option", "dense_units=32", "--quiet"]


def _assert_one_line_error(code, out, err, *fragments):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_models_json(cli):
    code, out, _ = cli("models", "--json")
    models = {m["name"]: m for m in json.loads(out)["models"]}
    assert code == 0 and models["digitcnn"]["params"] == 1_111_946 and models["digitcnn"]["macs"] > 0


@pytest.mark.parametrize("command, dir_flag", [("train", "--run-dir"), ("repeat", "--out"), ("search", "--out")])
def test_commands_that_write_a_directory_share_its_flags(cli, command, dir_flag):
    code, out, _ = cli(command, "--help")
    assert code == 0 and "%%" not in out  # argparse does not %-format a description: no doubled percent shown
    for flag in (dir_flag, "--resume", "--overwrite", "--data-dir", "--quiet", "--json", "--recipe", "--option",
                 "--config"):
        assert f"  {flag}" in out, flag


def test_train_help_shows_each_config_flag_once_with_its_default_and_choices(cli):
    from cnnlab.config import config_fields

    code, out, _ = cli("train", "--help")
    assert code == 0
    flags = [spec for spec in config_fields() if spec.option.flag]
    for spec in flags:
        assert out.count(f"\n  --{spec.label} ") == 1, spec.label  # each option's own line in the help
    help_text = " ".join(out.split())  # argparse wraps lines
    assert help_text.count("default: ") == len(flags)
    assert "--lr-schedule {constant,onecycle,cosine}" in help_text and "default: onecycle" in help_text
    assert "--dropout X probability of dropping a hidden unit (in [0, 1); default: the model's own)" in help_text
    assert "--augment-flip YES/NO" in help_text and "default: no" in help_text
    assert "--model-options" not in out and "--option KEY=VALUE" in out  # model options have their own flag


def test_data_list_and_verify(cli):
    code, out, _ = cli("data", "list", "--json")
    datasets = {d["name"]: d for d in json.loads(out)["datasets"]}
    assert code == 0 and datasets["mnist"]["available"] and datasets["mnist"]["source"].startswith("bundled")
    code, out, _ = cli("data", "verify", "mnist", "--json")
    assert code == 0 and json.loads(out)["verified"]


def test_data_fetch_copies_a_verified_set_into_a_folder(cli, tmp_path):
    code, out, _ = cli("data", "fetch", "mnist", "--data-dir", str(tmp_path / "copy"), "--json")
    assert code == 0 and json.loads(out)["origin"].startswith("copied from")
    code, out, _ = cli("data", "verify", "mnist", "--data-dir", str(tmp_path / "copy"), "--json")
    assert code == 0 and json.loads(out)["sources"][0] == {
        "source": "data-dir", "location": str(tmp_path / "copy"), "ok": True, "detail": "all 4 files verified"}


def test_train_and_evaluate_json(cli, tmp_path):
    run_dir = str(tmp_path / "run")
    code, out, err = cli("train", *TINY, "--run-dir", run_dir, "--json")
    assert code == 0, err
    result = json.loads(out)
    for key in ("run_dir", "epochs", "val_accuracy", "test_accuracy", "wall_seconds", "images_per_second"):
        assert result[key] is not None, key
    assert result["epochs"] == 1 and 0 < result["test_accuracy"] <= 1
    code, out, _ = cli("evaluate", run_dir, "--json")
    metrics = json.loads(out)
    assert code == 0 and metrics["accuracy"] == result["test_accuracy"]
    assert len(metrics["per_class"]) == 10 and len(metrics["confusion_matrix"]) == 10

    code, out, err = cli("train", *TINY, "--run-dir", run_dir)  # a finished run: --overwrite would lose its model
    _assert_one_line_error(code, out, err, "already holds a finished run", "another --run-dir")
    assert "--overwrite" not in err
    talkative = [arg for arg in TINY if arg != "--quiet"]  # the progress display announces nothing before it
    code, out, err = cli("train", *talkative, "--run-dir", run_dir)
    _assert_one_line_error(code, out, err, "already holds a finished run", "another --run-dir")
    code, out, err = cli("train", "--run-dir", run_dir, "--resume", "--epochs", "5")
    _assert_one_line_error(code, out, err, "--resume with a changed config", "epochs: 1 -> 5")
    code, out, err = cli("train", "--run-dir", run_dir, "--resume", "--quiet", "--json")
    assert code == 0 and json.loads(out)["epochs"] == 1  # already complete: nothing more to train


@pytest.mark.parametrize("args, fragments", [
    (["train", "--dataset", "cifar10"], ["unknown dataset 'cifar10'", "mnist"]),
    (["train", "--model", "resnet"], ["unknown model 'resnet'", "digitcnn"]),
    (["train", "--learning-rate", "-0.01"], ["learning-rate -0.01 is out of range"]),
    (["train", "--dropout", "1"], ["dropout 1.0 is out of range"]),
    (["train", "--batch-size", "0"], ["batch-size 0 is out of range"]),
    (["train", "--recipe", "turbo"], ["unknown recipe 'turbo'"]),
    (["train", "--option", "dense_units"], ["is not KEY=VALUE"]),
    (["train", "--epochs", "three"], ["invalid int value: 'three'", "--help"]),
    (["train", "--frobnicate"], ["unrecognized arguments: --frobnicate"]),
    (["train", "--resume"], ["--resume needs --run-dir"]),
    (["evaluate"], ["required: RUN"]),
    (["data", "verify", "imagenet"], ["unknown dataset 'imagenet'"]),
])
def test_bad_options_get_one_line_and_a_non_zero_exit(cli, args, fragments):
    code, out, err = cli(*args)
    _assert_one_line_error(code, out, err, *fragments)


def test_train_re_runs_a_saved_config_with_the_flags_given_on_top(cli, tmp_path):
    from cnnlab.config import TrainConfig
    from cnnlab.run import Run

    saved = TrainConfig.from_recipe("default", model="digitcnn", epochs=3, limit=600, batch_size=50, seed=4,
                                    model_options={"conv_1_channels": 4, "conv_2_channels": 8, "dense_units": 32})
    path = tmp_path / "config.json"
    path.write_text(saved.to_json())  # written by hand, as a user would edit one
    code, out, err = cli("train", "--config", str(path), "--epochs", "1", "--option", "dense_units=16",
                         "--run-dir", str(tmp_path / "run"), "--quiet", "--json")
    assert code == 0, err
    expected = saved.replace(epochs=1, model_options={**saved.model_options, "dense_units": 16})
    assert Run.load(tmp_path / "run").config == expected and json.loads(out)["epochs"] == 1


@pytest.mark.parametrize("text, fragment", [
    (None, "does not exist"),
    ("{bad", "is not valid JSON"),
    ('"a string"', "holds no config"),
    ('{"epochs": 0}', "config.json: epochs 0 is out of range"),
])
def test_a_bad_config_file_is_one_line_that_names_it(cli, tmp_path, text, fragment):
    path = tmp_path / "config.json"
    if text is not None:
        path.write_text(text)
    for command in (["train"], ["repeat"], ["search", "--grid", "dropout=0,0.5"]):
        code, out, err = cli(*command, "--config", str(path))
        _assert_one_line_error(code, out, err, str(path), fragment)
        assert code == 2


def test_config_and_recipe_together_and_config_with_resume_are_refused(cli, tmp_path):
    code, out, err = cli("train", "--config", str(tmp_path / "c.json"), "--recipe", "fast")
    _assert_one_line_error(code, out, err, "--config and --recipe")
    code, out, err = cli("train", "--config", str(tmp_path / "c.json"), "--resume", "--run-dir", str(tmp_path))
    _assert_one_line_error(code, out, err, "--resume continues with the run's own config.json")


def test_bad_run_directories(cli, tmp_path):
    code, out, err = cli("evaluate", str(tmp_path))
    _assert_one_line_error(code, out, err, "not a run directory")
    code, out, err = cli("train", *TINY, "--run-dir", str(tmp_path / "x"), "--resume")
    _assert_one_line_error(code, out, err, "is not a directory; pass a run directory")
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    code, out, err = cli("train", *TINY, "--run-dir", str(in_the_way / "run"))
    _assert_one_line_error(code, out, err, str(in_the_way / "run"), "a file is in the way")
    assert "internal error" not in err


@pytest.mark.parametrize("damage, fragment", [("{bad", "is not valid JSON"),
                                               ('{"kind": "standardize"}', "not a valid normalizer")])
def test_a_damaged_run_file_is_named_once(cli, tiny_run, tmp_path, damage, fragment):
    run = tmp_path / "run"
    shutil.copytree(tiny_run.path, run)
    (run / "normalizer.json").write_text(damage)
    code, out, err = cli("train", "--run-dir", str(run), "--resume")  # resuming rebuilds the model from it
    _assert_one_line_error(code, out, err, fragment)
    assert err.count(str(run / "normalizer.json")) == 1, err  # the path once, not twice


@pytest.mark.parametrize("damage", ['garbage"\n', "epoch,loss\none,0.5\n", ""])
def test_a_damaged_history_is_one_line_for_compare_and_resume(cli, tiny_run, tmp_path, damage):
    run = tmp_path / "run"
    shutil.copytree(tiny_run.path, run)
    (run / "history.csv").write_text(damage)
    for argv in (["compare", str(run), str(tiny_run.path), "--out", str(tmp_path / "cmp")],
                 ["train", "--resume", "--run-dir", str(run)]):
        code, out, err = cli(*argv)
        _assert_one_line_error(code, out, err, f"{run / 'history.csv'} is damaged", "--run-dir NEW_DIR")


def test_a_model_too_large_for_memory_is_one_line(cli, tmp_path):
    code, out, err = cli("train", *TINY, "--option", "dense_units=1000000000", "--run-dir", str(tmp_path / "r"))
    _assert_one_line_error(code, out, err, "does not fit in memory", "dense_units=1000000000")
    assert "internal error" not in err and not (tmp_path / "r").exists()


def test_running_out_of_memory_while_training_is_one_line(cli, tmp_path, monkeypatch):
    """Memory that runs out during fit (a huge batch of a wide model), not while building: the CLI's last line."""
    import tensorflow as tf

    import cnnlab.training.train as fit

    def exhausted(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[60000,28,28,512]")

    monkeypatch.setattr(fit, "train", exhausted)
    code, out, err = cli("train", *TINY, "--run-dir", str(tmp_path / "r"))
    _assert_one_line_error(code, out, err, "out of memory; use a smaller --batch-size")


def test_a_diverging_training_says_so_in_one_line(cli, tmp_path):
    code, out, err = cli("train", *TINY, "--learning-rate", "1e10", "--run-dir", str(tmp_path / "r"))
    _assert_one_line_error(code, out, err, "training diverged", "lower --learning-rate")
    assert "Invalid loss" not in out  # Keras's TerminateOnNaN printed this to stdout


def test_a_refused_training_touches_no_run_directory(cli, tmp_path):
    code, out, err = cli("train", *TINY, "--val-split", "600", "--run-dir", str(tmp_path / "r"))
    _assert_one_line_error(code, out, err, "val-split 600 must be at least 0 and less than the 600")
    assert not (tmp_path / "r").exists()  # else 'cnnlab compare runs/*' would meet a folder that is no run

    code, _, err = cli("train", *TINY, "--run-dir", str(tmp_path / "r"))
    assert code == 0, err
    before = sorted(p.name for p in (tmp_path / "r").iterdir())
    for refused, words in ((["--val-split", "600"], "val-split 600"),  # found out only by trying
                           (["--option", "kernel_size=40"], "cannot be built with")):
        code, out, err = cli("train", *TINY, *refused, "--run-dir", str(tmp_path / "r"), "--overwrite")
        _assert_one_line_error(code, out, err, words)
        assert sorted(p.name for p in (tmp_path / "r").iterdir()) == before  # --overwrite replaced nothing


def _copy_mnist(dest):
    dest.mkdir()
    for f in bundled_dir(MNIST).glob("*.gz"):
        shutil.copy(f, dest / f.name)
    return dest


def test_corrupt_and_mismatched_data_files(cli, tmp_path):
    folder = _copy_mnist(tmp_path / "data")
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:100])  # truncated download
    code, out, err = cli("train", *TINY, "--data-dir", str(folder), "--run-dir", str(tmp_path / "r"))
    _assert_one_line_error(code, out, err, "t10k-labels-idx1-ubyte.gz", "corrupt gzip")

    raw = bytearray(gzip.decompress((bundled_dir(MNIST) / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[-1] ^= 1  # one flipped label: still a valid IDX file, but not MNIST
    labels.write_bytes(gzip.compress(bytes(raw)))
    code, out, err = cli("train", *TINY, "--data-dir", str(folder), "--run-dir", str(tmp_path / "r"))
    _assert_one_line_error(code, out, err, "sha256", "--data-dir must hold the mnist files")
    assert not (tmp_path / "r").exists() or not (tmp_path / "r" / "model.keras").exists()

    code, out, err = cli("data", "verify", "mnist", "--data-dir", str(folder))
    assert code == 3 and "sha256" in err


def test_the_installed_command_prints_no_traceback_or_tensorflow_banner(tmp_path):
    result = subprocess.run([sys.executable, "-m", "cnnlab", "evaluate", str(tmp_path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 4
    assert result.stderr.strip().splitlines() == [
        f"cnnlab: error: {tmp_path} is not a run directory (no config.json); pass one written by 'cnnlab train'"]


def test_training_from_the_installed_command_writes_no_tensorflow_log_lines(tmp_path):
    # TensorFlow's C++ logger writes lines such as "E0000 00:00:... node_def_util.cc:682] ..." straight to stderr
    result = subprocess.run([sys.executable, "-m", "cnnlab", "train", *TINY, "--run-dir", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    log_lines = [line for line in result.stderr.splitlines() if re.match(r"[EWIF]\d{4} ", line)]
    assert log_lines == []
