"""Repeat groups and their statistics: intervals and Welch's test against SciPy, a real group, resume, compare."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy import stats

from cnnlab.config import TrainConfig
from cnnlab.errors import CnnlabError
from cnnlab.experiments.groups import load_group
from cnnlab.experiments.repeat import run_repeat
from cnnlab.experiments.groups import compare_groups
from cnnlab.experiments.stats import mean_interval, paired_test, welch_test

SMALL = {"conv_1_channels": 4, "conv_2_channels": 8, "dense_units": 16}
TINY = ["--model", "layerscnn", *[f"--option={k}={v}" for k, v in SMALL.items()], "--epochs", "1",
        "--limit", "400", "--val-split", "100", "--batch-size", "32", "--augment-shift", "0", "--quiet"]


def test_mean_interval_matches_scipy():
    values = [0.971, 0.975, 0.969, 0.980]
    result = mean_interval(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert result["mean"] == pytest.approx(np.mean(values))
    assert result["std"] == pytest.approx(np.std(values, ddof=1))
    assert result["ci95"] == pytest.approx([low, high])
    assert mean_interval([0.9])["std"] != mean_interval([0.9])["std"]  # one value: no spread (NaN)


def test_welch_test_matches_scipy_and_sees_a_real_difference():
    a, b = [0.90, 0.91, 0.92, 0.905], [0.95, 0.96, 0.955, 0.962]
    result = welch_test(a, b)
    reference = stats.ttest_ind(b, a, equal_var=False)
    assert result["p_value"] == pytest.approx(reference.pvalue)
    assert result["df"] == pytest.approx(reference.df)
    assert result["ci95"] == pytest.approx(list(reference.confidence_interval(0.95)))
    assert result["difference"] == pytest.approx(np.mean(b) - np.mean(a)) and result["significant"]
    noisy = welch_test([0.90, 0.95, 0.92], [0.91, 0.94, 0.93])
    assert not noisy["significant"] and noisy["ci95"][0] < 0 < noisy["ci95"][1]
    with pytest.raises(ValueError, match="at least two"):
        welch_test([0.9], [0.8, 0.7])
    assert paired_test([0.90, 0.91], [0.92, 0.94])["p_value"] == pytest.approx(
        stats.ttest_rel([0.92, 0.94], [0.90, 0.91]).pvalue)


def _config(**changes) -> TrainConfig:
    return TrainConfig.from_recipe("default", model="layerscnn", model_options=SMALL, epochs=1, limit=400,
                                   val_split=100, batch_size=32, augment_shift=0, **changes)


def test_group_runs_one_run_per_seed_and_resumes(mnist, tmp_path):
    finished = []

    def killed_after_first(entry):
        finished.append(entry["seed"])
        raise KeyboardInterrupt  # killed right after seed 0's run was finished, before group.json saw it

    with pytest.raises(KeyboardInterrupt):
        run_repeat(_config(), [0, 1], tmp_path / "g", dataset=mnist, on_run=killed_after_first)
    assert load_group(tmp_path / "g")["finished"] == 0

    group = run_repeat(_config(), [0, 1], tmp_path / "g", resume=True, dataset=mnist,
                       on_run=lambda entry: finished.append(entry["seed"]))
    assert finished == [0, 1]  # seed 0 was not trained again
    assert [r["seed"] for r in group["runs"]] == [0, 1] and group["finished"] == 2
    for entry in group["runs"]:
        run_dir = tmp_path / "g" / entry["run_dir"]
        assert json.loads((run_dir / "config.json").read_text())["seed"] == entry["seed"]
        assert json.loads((run_dir / "metrics.json").read_text())["accuracy"] == entry["test_accuracy"]
    accuracies = [r["test_accuracy"] for r in group["runs"]]
    assert group["test_accuracy"]["mean"] == pytest.approx(np.mean(accuracies))
    # TensorBoard HParams: one session a seed, its hparams and its test accuracy (tests/test_tracking.py reads
    # such sessions through a real TensorBoard server)
    assert sorted(p.name for p in (tmp_path / "g" / "logs").iterdir()) == ["seed-0", "seed-1"]
    assert "seed" not in group["config"] and group["config"]["limit"] == 400

    with pytest.raises(CnnlabError, match="already holds a repeat group"):
        run_repeat(_config(), [0, 1], tmp_path / "g", dataset=mnist)
    with pytest.raises(CnnlabError, match="holds a different repeat group"):
        run_repeat(_config(dropout=0.3), [0, 1], tmp_path / "g", resume=True, dataset=mnist)
    with pytest.raises(CnnlabError, match="at least 2 seeds"):
        run_repeat(_config(), [0], tmp_path / "h", dataset=mnist)


def test_repeat_cli_and_compare_of_two_groups(cli, tmp_path):
    for dropout in ("0", "0.5"):
        code, out, err = cli("repeat", *TINY, "--seeds", "2", "--dropout", dropout, "--out", str(tmp_path / dropout))
        assert code == 0, err
        assert "test accuracy over 2 seeds:" in out and "95 % interval" in out
    code, out, err = cli("compare", str(tmp_path / "0"), str(tmp_path / "0.5"), "--out", str(tmp_path / "cmp"),
                         "--json")
    assert code == 0, err
    result = json.loads(out)
    a = [r["test_accuracy"] for r in load_group(tmp_path / "0")["runs"]]
    b = [r["test_accuracy"] for r in load_group(tmp_path / "0.5")["runs"]]
    assert result["difference"] == pytest.approx(np.mean(b) - np.mean(a))
    if np.std(a) + np.std(b) > 0:
        assert result["p_value"] == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    assert result["differences"] == ["dropout: 0.0 -> 0.5"]
    assert json.loads((tmp_path / "cmp" / "welch.json").read_text())["p_value"] == result["p_value"]
    assert compare_groups(tmp_path / "0", tmp_path / "0.5")["difference"] == result["difference"]

    code, out, err = cli("compare", str(tmp_path / "0"), str(tmp_path / "0.5"), "--out", str(tmp_path / "cmp"))
    assert code == 0, err
    assert "Welch's t-test" in out and "p = " in out
    code, _, err = cli("repeat", *TINY, "--seeds", "1", "--out", str(tmp_path / "one"))
    assert code != 0 and "at least 2 seeds" in err and "Traceback" not in err
    code, _, err = cli("repeat", "--model", "digitcnn", "--option", "kernel_size=40", "--seeds", "2", "--out",
                       str(tmp_path / "unbuildable"))
    assert code == 2 and "cannot be built with kernel_size=40" in err
    assert not (tmp_path / "unbuildable").exists()  # refused before the group directory is made
    group = (tmp_path / "0" / "group.json").read_text()
    code, _, err = cli("repeat", *TINY, "--seeds", "2", "--val-split", "400", "--out", str(tmp_path / "0"),
                       "--overwrite")
    assert code == 2 and "val-split 400" in err
    assert (tmp_path / "0" / "group.json").read_text() == group  # a refused --overwrite deletes nothing


def test_paired_test_of_a_constant_difference_warns_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SciPy's precision warning would reach the user's terminal
        result = paired_test([0.50, 0.60, 0.70], [0.55, 0.65, 0.75])
    assert result["difference"] == pytest.approx(0.05) and result["p_value"] < 0.05
