"""Distributed training: TF_CONFIG parsing, chief detection, the scaling rule, MirroredStrategy on the CPU,
and a real two-process MultiWorkerMirroredStrategy job on 127.0.0.1 that is killed and resumed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cnnlab.config import TrainConfig
from cnnlab.errors import ConfigError
from _cluster import free_ports, tf_config_for
from cnnlab.training.distribute import is_chief_task, read_tf_config, scale_for_replicas

SMALL = {"conv_1_channels": 4, "conv_2_channels": 8, "dense_units": 16}


def _small_config(**changes) -> TrainConfig:
    values = dict(model="layerscnn", model_options=SMALL, epochs=1, limit=600, val_split=100, batch_size=32,
                  steps_per_execution=4, augment_shift=0, seed=3)
    values.update(changes)
    return TrainConfig.from_recipe("default", **values)


# -------------------------------------------------------------------- TF_CONFIG and the chief


def test_chief_is_worker_zero_unless_the_cluster_names_one():
    workers = {"worker": ["a:1", "b:1"]}
    assert is_chief_task("worker", 0, workers)
    assert not is_chief_task("worker", 1, workers)
    assert is_chief_task("chief", 0, {"chief": ["c:1"], **workers})
    assert not is_chief_task("worker", 0, {"chief": ["c:1"], **workers})
    assert is_chief_task(None, None, {})  # no TF_CONFIG: a single process is its own chief


def test_tf_config_round_trip_and_refusals():
    text = tf_config_for(["127.0.0.1:1", "127.0.0.1:2"], 1)
    assert read_tf_config({"TF_CONFIG": text})["task"] == {"type": "worker", "index": 1}
    assert read_tf_config({}) == {}
    for bad, words in [("{not json", "not valid JSON"), ('{"cluster": {}}', "'cluster' and a 'task'"),
                       (tf_config_for(["a:1"], 3), "not in the cluster"),
                       ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "not supported")]:
        with pytest.raises(ConfigError, match=words):
            read_tf_config({"TF_CONFIG": bad})


def test_scaling_rule_multiplies_batch_and_learning_rate_by_replicas():
    config = _small_config(learning_rate=1e-3)
    assert scale_for_replicas(config, 1) is config
    scaled = scale_for_replicas(config, 4)
    assert (scaled.batch_size, scaled.learning_rate) == (128, pytest.approx(4e-3))
    assert config.differences(scaled) == ["batch_size: 32 -> 128", "learning_rate: 0.001 -> 0.004"]


def test_distribute_is_validated_like_every_option(cli):
    code, _, err = cli("train", "--distribute", "ring", "--epochs", "1", "--limit", "100")
    assert code != 0 and "distribute 'ring' is not one of: none, mirrored, multiworker" in err
    assert "Traceback" not in err


# -------------------------------------------------------------------- MirroredStrategy on the CPU


def test_mirrored_on_the_cpu_trains_like_the_default(cli, tmp_path):
    """One CPU replica: the scaling rule is the identity and the history matches the undistributed run."""
    common = ["--model", "layerscnn", "--epochs", "1", "--limit", "600", "--val-split", "100", "--batch-size", "32",
              "--augment-shift", "0", "--seed", "3", "--quiet", "--json",
              *[f"--option={k}={v}" for k, v in SMALL.items()]]
    code, out, err = cli("train", *common, "--distribute", "mirrored", "--run-dir", str(tmp_path / "mirrored"))
    assert code == 0, err
    result = json.loads(out)
    assert 0.0 < result["test_accuracy"] <= 1.0
    manifest = json.loads((tmp_path / "mirrored" / "manifest.json").read_text())
    assert manifest["distribute"] == {"strategy": "mirrored", "replicas": 1, "workers": 1, "worker_index": 0,
                                      "chief": True}
    code, _, err = cli("train", *common, "--run-dir", str(tmp_path / "plain"))
    assert code == 0, err
    import pandas as pd

    mirrored, plain = (pd.read_csv(tmp_path / name / "history.csv") for name in ("mirrored", "plain"))
    np.testing.assert_allclose(mirrored["loss"], plain["loss"], rtol=1e-4)
    np.testing.assert_allclose(mirrored["val_accuracy"], plain["val_accuracy"], atol=0.02)


# -------------------------------------------------------------------- two workers on 127.0.0.1

WORKER = textwrap.dedent('''
    """One worker of the test cluster: trains, dumps its weights after every epoch, may 'crash' after one."""
    import json, os, sys
    import keras, numpy as np
    from cnnlab.config import TrainConfig
    from cnnlab.training.train import train

    out, run_dir, resume, crash_after = sys.argv[1], sys.argv[2], sys.argv[3] == "resume", int(sys.argv[4])
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]

    class Dump(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            np.savez(os.path.join(out, f"worker{index}-epoch{epoch + 1}.npz"), *self.model.get_weights())
            if epoch + 1 == crash_after:
                os._exit(75)  # die right after the chief committed this epoch's checkpoint, like a killed job

    config = TrainConfig.from_dict(json.loads(os.environ["CNNLAB_TEST_CONFIG"]))
    train(config, run_dir, resume=resume, callbacks=[Dump()])
''')


def _launch_cluster(tmp_path: Path, run_dir: Path, config: TrainConfig, resume: bool, crash_after: int) -> list[int]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    (tmp_path / "tmp").mkdir(exist_ok=True)  # where worker 1 keeps its private checkpoints
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": tf_config_for(addresses, index), "TF_CPP_MIN_LOG_LEVEL": "2",
               "CNNLAB_TEST_CONFIG": config.to_json(), "TMPDIR": str(tmp_path / "tmp")}
        log = open(tmp_path / f"worker{index}-{'resume' if resume else 'first'}.log", "w")
        processes.append(subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), str(run_dir), "resume" if resume else "new", str(crash_after)],
            env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        return [p.wait(timeout=400) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()


def _weights(path: Path) -> list[np.ndarray]:
    with np.load(path) as archive:
        return [archive[f"arr_{i}"] for i in range(len(archive.files))]


def _assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_two_workers_stay_identical_and_resume_from_the_chiefs_checkpoint(tmp_path):
    import keras

    run_dir = tmp_path / "run"
    config = _small_config(epochs=2, limit=520, val_split=100, distribute="multiworker")  # 420 images: 7 steps of 64

    codes = _launch_cluster(tmp_path, run_dir, config, resume=False, crash_after=1)
    assert codes == [75, 75], (tmp_path / "worker0-first.log").read_text()[-3000:]
    state = json.loads((run_dir / "checkpoints" / "latest.json").read_text())
    assert state["epoch"] == 1 and not (run_dir / "metrics.json").exists()
    first = [_weights(tmp_path / f"worker{i}-epoch1.npz") for i in range(2)]
    _assert_same(first[0], first[1])  # the all-reduce kept both replicas identical
    checkpoint = keras.models.load_model(run_dir / "checkpoints" / state["file"], compile=False)
    _assert_same(checkpoint.get_weights(), first[0])  # only the chief wrote, and it wrote the trained weights

    codes = _launch_cluster(tmp_path, run_dir, config, resume=True, crash_after=0)
    assert codes == [0, 0], (tmp_path / "worker1-resume.log").read_text()[-3000:]
    second = [_weights(tmp_path / f"worker{i}-epoch2.npz") for i in range(2)]
    _assert_same(second[0], second[1])  # worker 1 restored the chief's checkpoint, not fresh weights
    assert not any(np.array_equal(a, b) for a, b in zip(first[0], second[0]))  # and it trained on

    import pandas as pd

    history = pd.read_csv(run_dir / "history.csv")
    assert history["epoch"].tolist() == [1, 2]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert len(manifest["sessions"]) == 2
    assert manifest["distribute"] == {"strategy": "multiworker", "replicas": 2, "workers": 2, "worker_index": 0,
                                      "chief": True}
    assert json.loads((run_dir / "metrics.json").read_text())["num_images"] == 10000
    private = [p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith("cnnlab-worker")]
    # the crashed session's directory is left; the finished one cleaned up after itself
    assert len(private) == 1 and private[0].startswith("cnnlab-worker1-")
