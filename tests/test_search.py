"""Grid search: grid parsing, stratified folds, a real (tiny) search that is interrupted and resumed, the CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from cnnlab.config import TrainConfig
from cnnlab.errors import ConfigError
from cnnlab.experiments.search import SearchSpec, fold_indices, parse_grid, run_search

SMALL = {"conv_1_channels": 4, "conv_2_channels": 8, "dense_units": 16}
TINY = ["--model", "layerscnn", *[f"--option={k}={v}" for k, v in SMALL.items()], "--epochs", "1",
        "--batch-size", "32", "--augment-shift", "0"]


def _base(**changes) -> TrainConfig:
    return TrainConfig.from_recipe("default", model="layerscnn", model_options=SMALL, epochs=1, batch_size=32,
                                   augment_shift=0, seed=5, **changes)


def test_parse_grid_reads_numbers_and_refuses_mistakes():
    assert parse_grid(["learning-rate=1e-3,3e-3", "dense_units=16,32", "lr_schedule=constant,cosine"]) == {
        "learning_rate": [0.001, 0.003], "dense_units": [16, 32], "lr_schedule": ["constant", "cosine"]}
    for bad, words in [(["dropout"], "not KEY=V1,V2"), (["dropout="], "not KEY=V1,V2"),
                       (["dropout=0", "dropout=0.5"], "given twice"), (["dropout=0,0"], "repeats a value"),
                       ([], "at least one --grid")]:
        with pytest.raises(ConfigError, match=words):
            parse_grid(bad)


def test_every_combination_is_checked_before_anything_trains():
    with pytest.raises(ConfigError, match=r"grid combination dropout=1.5: dropout 1.5 is out of range"):
        SearchSpec(_base(), {"dropout": [0.0, 1.5]}, 3).validate()
    with pytest.raises(ConfigError, match="has no option"):
        SearchSpec(_base(), {"no_such_option": [1, 2]}, 3).validate()
    with pytest.raises(ConfigError, match="grid combination kernel_size=40: .* cannot be built"):
        digitcnn = _base().replace(model="digitcnn", model_options={})  # VALID convolutions shrink the image
        SearchSpec(digitcnn, {"kernel_size": [3, 40]}, 3).validate()  # only building it tells
    with pytest.raises(ConfigError, match="seed cannot be searched"):
        SearchSpec(_base(), {"seed": [1, 2]}, 3).validate()
    with pytest.raises(ConfigError, match="use --distribute none or mirrored"):
        SearchSpec(_base(distribute="multiworker"), {"dropout": [0.0]}, 3).validate()
    with pytest.raises(ConfigError, match="folds 1 is out of range"):
        SearchSpec(_base(), {"dropout": [0.0]}, 1).validate()
    spec = SearchSpec(_base(), {"dropout": [0.0, 0.5], "dense_units": [16, 32]}, 3).validate()
    config = spec.config_for({"dropout": 0.5, "dense_units": 32})
    assert (config.dropout, config.model_options["dense_units"], config.val_split, config.limit) == (0.5, 32, 0, None)


def test_folds_are_stratified_partitions_fixed_by_the_seed(mnist):
    labels = mnist.y_train[:3000]
    folds = fold_indices(labels, 3, seed=0)
    held_out = np.concatenate([v for _, v in folds])
    assert sorted(held_out.tolist()) == list(range(3000))  # every image is held out exactly once
    overall = np.bincount(labels, minlength=10) / len(labels)
    for train, val in folds:
        assert not set(train) & set(val)
        assert np.abs(np.bincount(labels[val], minlength=10) / len(val) - overall).max() < 0.005
    again, other = fold_indices(labels, 3, seed=0), fold_indices(labels, 3, seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))
    assert not np.array_equal(folds[0][1], other[0][1])


class _Untouchable:
    """Stands in for the test set: any use of it fails the test."""

    def __getattr__(self, name):
        raise AssertionError("the search touched the test set")

    def __len__(self):
        raise AssertionError("the search touched the test set")

    def __getitem__(self, item):
        raise AssertionError("the search touched the test set")


def test_search_resumes_after_an_interruption_and_never_sees_the_test_set(mnist, tmp_path, cli):
    data = dataclasses.replace(mnist, x_test=_Untouchable(), y_test=_Untouchable())
    spec = SearchSpec(_base(), {"learning_rate": [1e-3, 1e-2]}, folds=2, subset=400)
    seen = []

    def stop_after_two(row):
        seen.append((row["combination"], row["fold"]))
        if len(seen) == 2:
            raise KeyboardInterrupt  # like Ctrl-C (or a kill) after the second finished fold

    with pytest.raises(KeyboardInterrupt):
        run_search(spec, tmp_path / "search", dataset=data, on_fold=stop_after_two)
    before = pd.read_csv(tmp_path / "search" / "results.csv")
    assert list(zip(before["combination"], before["fold"])) == [(0, 0), (1, 0)]

    with pytest.raises(Exception, match="already holds a search"):
        run_search(spec, tmp_path / "search", dataset=data)
    resumed = []
    result = run_search(spec, tmp_path / "search", resume=True, dataset=data,
                        on_fold=lambda row: resumed.append((row["combination"], row["fold"], row["finished"])))
    assert resumed == [(0, 1, 3), (1, 1, 4)]  # only the unfinished folds were trained; progress counts on
    results = result.results
    assert sorted(zip(results["combination"], results["fold"])) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    pd.testing.assert_frame_equal(results.head(2), before)  # finished folds were kept as they were
    for row in results.itertuples():  # the score is the fold's own run, evaluated on its held-out images
        metrics = json.loads((tmp_path / "search" / row.run_dir / "metrics.json").read_text())
        assert metrics["accuracy"] == pytest.approx(row.val_accuracy)
        assert metrics["num_images"] == 200 and metrics["split"].startswith("cv-fold")

    summary = pd.read_csv(tmp_path / "search" / "summary.csv")
    for row in summary.itertuples():
        folds = results[results["combination"] == row.combination]["val_accuracy"]
        assert row.mean_val_accuracy == pytest.approx(folds.mean())
        assert row.std_val_accuracy == pytest.approx(folds.std(ddof=1))
    assert summary["mean_val_accuracy"].is_monotonic_decreasing and summary["rank"].tolist() == [1, 2]
    assert (tmp_path / "search" / "summary.png").stat().st_size > 1000
    assert sorted(p.name for p in (tmp_path / "search" / "logs").iterdir()) == ["c00", "c01"]  # HParams sessions

    code, out, err = cli("search", *TINY, "--seed", "5", "--grid", "learning_rate=0.001,0.01", "--folds", "2",
                         "--limit", "400", "--out", str(tmp_path / "search"), "--resume", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["best"]["label"] == summary["label"][0]
    assert shown["margin"]["difference"] == pytest.approx(summary["mean_val_accuracy"][0]
                                                          - summary["mean_val_accuracy"][1])


def test_search_cli_table_refit_and_errors(cli, tmp_path):
    args = ["search", *TINY, "--grid", "dropout=0,0.5", "--folds", "2", "--limit", "300",
            "--out", str(tmp_path / "s")]
    code, out, err = cli(*args, "--refit", "--quiet")
    assert code == 0, err
    assert "rank" in out and "best: dropout=" in out and "margin over the runner-up" in out
    assert "refit on all training images: test accuracy" in out
    refit = json.loads((tmp_path / "s" / "refit" / "metrics.json").read_text())
    assert refit["split"] == "test" and refit["num_images"] == 10000
    assert json.loads((tmp_path / "s" / "refit" / "config.json").read_text())["limit"] == 300

    code, _, err = cli(*args)
    assert code != 0 and "already holds a search; pass --resume" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1  # the search is announced only once its directory is accepted
    code, _, err = cli(*args, "--resume", "--epochs", "2")
    assert code != 0 and "holds a different search" in err
    code, _, err = cli("search", *TINY, "--grid", "dropout=0,2", "--out", str(tmp_path / "t"))
    assert code != 0 and "dropout 2 is out of range" in err
    assert not (tmp_path / "t").exists()  # refused before anything was written


@pytest.mark.parametrize("file, damage, fragment", [
    ("results.csv", "combination,fold\ngarbage,0\n", "results.csv is damaged"),
    ("results.csv", "run_dir\nfolds/c00-f0\n", "results.csv is damaged (no column combination"),
    ("search.json", "{", "search.json is damaged"),
])
def test_a_damaged_search_is_one_line_and_overwrite_starts_it_again(cli, tmp_path, file, damage, fragment):
    args = ["search", *TINY, "--grid", "dropout=0,0.5", "--folds", "2", "--limit", "100", "--quiet",
            "--out", str(tmp_path / "s")]
    code, _, err = cli(*args)
    assert code == 0, err
    (tmp_path / "s" / file).write_text(damage)
    code, _, err = cli(*args, "--resume")
    assert code != 0 and fragment in err and "start again with --overwrite" in err
    assert len(err.strip().splitlines()) == 1 and "internal error" not in err
    code, _, err = cli(*args, "--overwrite")  # what the message says to do, works
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "s" / "results.csv")) == 4
