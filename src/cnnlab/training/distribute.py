"""Distributed training through ``tf.distribute``: where a process stands in a cluster, and how it trains.

Strategies (``TrainConfig.distribute``):

- ``none``: the default single-device path, untouched.
- ``mirrored``: ``tf.distribute.MirroredStrategy`` over every local GPU, or the CPU when there is none.
  Keras's own ``fit`` runs it.
- ``multiworker``: ``tf.distribute.MultiWorkerMirroredStrategy``, configured by the standard ``TF_CONFIG``
  environment variable (one process per worker; collectives over gRPC). Keras 3's ``fit`` cannot run this
  strategy (keras-team/keras#20585: it reduces the first batch as a tuple and reduces scalar metrics along
  axis 0, both of which the collective strategy refuses), so :func:`fit_multiworker` runs the same epochs
  with ``strategy.run`` and drives the same Keras callbacks.

Scaling rule: ``batch_size`` in the config is **per replica**. With ``R`` replicas in sync the global batch
is ``batch_size * R`` and the learning rate is ``learning_rate * R`` (the linear scaling rule of Goyal et
al., 2017, "Accurate, Large Minibatch SGD"; the onecycle schedule's warm-up softens the larger step). With
one replica both are unchanged, so ``mirrored`` on a CPU-only machine trains exactly like ``none``.

Only the chief writes the run directory. A non-chief worker writes its checkpoints into a private temporary
directory (TensorFlow's recommendation: every worker must save, since saving may take part in collectives,
but only one copy is kept) and, to resume, restores from the chief's run directory, which must therefore
be on storage every worker can read.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cnnlab.errors import ConfigError, RunError
from cnnlab.run import CHECKPOINTS, CONFIG, HISTORY, LATEST, NORMALIZER, Run

_STRATEGIES: dict[str, Any] = {}  # one strategy a process: MultiWorkerMirroredStrategy cannot be made twice


@dataclass(frozen=True)
class Placement:
    """This process's place in the training job."""

    kind: str  # none | mirrored | multiworker
    strategy: Any  # a tf.distribute.Strategy, or None for "none"
    replicas: int  # replicas in sync, over all workers
    num_workers: int
    worker_index: int
    is_chief: bool

    def scope(self):
        """Variables (model, optimizer) must be created inside the strategy's scope."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def describe(self) -> dict[str, Any]:
        return {"strategy": self.kind, "replicas": self.replicas, "workers": self.num_workers,
                "worker_index": self.worker_index, "chief": self.is_chief}


def get_placement(kind: str) -> Placement:
    """The strategy for ``kind`` and this process's role in it (created once per process).

    Call it before any other TensorFlow work in the process: ``MultiWorkerMirroredStrategy`` configures
    the collective runtime, which TensorFlow allows only at start-up.

    Example:
        >>> get_placement("none").replicas
        1
    """
    if kind == "none":
        return Placement("none", None, 1, 1, 0, True)
    if kind == "mirrored":
        strategy = _strategy(kind)
        return Placement(kind, strategy, int(strategy.num_replicas_in_sync), 1, 0, True)
    if kind == "multiworker":
        tf_config = read_tf_config()
        strategy = _strategy(kind)
        cluster = tf_config.get("cluster", {})
        task = tf_config.get("task", {})
        workers = len(cluster.get("worker", [])) + len(cluster.get("chief", [])) or 1
        index = int(task.get("index", 0)) + (1 if task.get("type") == "worker" and "chief" in cluster else 0)
        return Placement(kind, strategy, int(strategy.num_replicas_in_sync), workers, index,
                         is_chief_task(task.get("type"), task.get("index"), cluster))
    raise ConfigError(f"distribute {kind!r} is not one of: none, mirrored, multiworker")


def _strategy(kind: str):
    import tensorflow as tf

    if kind not in _STRATEGIES:
        if kind == "mirrored":
            _STRATEGIES[kind] = tf.distribute.MirroredStrategy()
        else:
            try:
                _STRATEGIES[kind] = tf.distribute.MultiWorkerMirroredStrategy()
            except (RuntimeError, ValueError) as err:
                raise ConfigError(f"cannot start MultiWorkerMirroredStrategy ({err}); start each worker in a "
                                  "fresh process with a valid TF_CONFIG") from None
    return _STRATEGIES[kind]


# -------------------------------------------------------------------- TF_CONFIG


def read_tf_config(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The parsed ``TF_CONFIG`` (``{}`` when unset: one local worker); ConfigError if it is malformed."""
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not text:
        return {}
    try:
        values = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({err}); see docs/SCALING.md for its form") from None
    cluster, task = values.get("cluster"), values.get("task")
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ConfigError("TF_CONFIG needs a 'cluster' and a 'task' object, e.g. "
                          '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
                          '"index": 0}}')
    task_type, index = task.get("type"), task.get("index")
    if task_type not in ("chief", "worker"):
        raise ConfigError(f"TF_CONFIG task type {task_type!r} is not supported; use chief or worker")
    members = cluster.get(task_type)
    if not isinstance(members, list) or not isinstance(index, int) or not 0 <= index < len(members):
        raise ConfigError(f"TF_CONFIG task {task_type} {index!r} is not in the cluster's {task_type} list")
    return values


def is_chief_task(task_type: str | None, task_index: int | None, cluster: dict[str, Any]) -> bool:
    """The chief writes the run: the ``chief`` task if the cluster has one, otherwise worker 0.

    Example:
        >>> is_chief_task("worker", 0, {"worker": ["a:1", "b:1"]}), is_chief_task("worker", 0, {"chief": ["c:1"]})
        (True, False)
    """
    if task_type is None:
        return True  # no TF_CONFIG: a single local worker
    if task_type == "chief":
        return True
    return task_type == "worker" and not cluster.get("chief") and int(task_index or 0) == 0


# -------------------------------------------------------------------- scaling and run directories


def scale_for_replicas(config, replicas: int):
    """The config the optimizer and the input pipeline use: global batch and learning rate times ``replicas``."""
    if replicas == 1:
        return config
    return config.replace(batch_size=config.batch_size * replicas, learning_rate=config.learning_rate * replicas)


def writable_run_dir(run_dir: Path, placement: Placement, resume: bool) -> Path:
    """Where this process writes: the run directory on the chief, a private temporary copy elsewhere.

    To resume, a non-chief worker copies what restoring reads (config, normalizer, history, the latest
    checkpoint) from the chief's run directory; the chief changes none of them before all workers train.
    """
    if placement.is_chief:
        return run_dir
    if resume and not (run_dir / CONFIG).is_file():
        raise RunError(f"worker {placement.worker_index} cannot read the chief's run {run_dir}; to resume, every "
                       "worker needs the run directory on shared storage")
    private = Path(tempfile.mkdtemp(prefix=f"cnnlab-worker{placement.worker_index}-"))
    if resume:
        names = [CONFIG, NORMALIZER, HISTORY, f"{CHECKPOINTS}/{LATEST}", f"{CHECKPOINTS}/best.json"]
        checkpoint = Run(run_dir).latest_checkpoint()  # the commit point, checked: a damaged one is one line
        if checkpoint is not None:
            names.append(f"{CHECKPOINTS}/{checkpoint.name}")
        for name in names:
            if (run_dir / name).exists():
                (private / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(run_dir / name, private / name)
    return private


def discard_worker_dir(path: Path, placement: Placement) -> None:
    """Remove a non-chief worker's private directory once training is over."""
    if not placement.is_chief:
        shutil.rmtree(path, ignore_errors=True)


# -------------------------------------------------------------------- training


def fit_function(model, config, placement: Placement):
    """``model.fit``, or, for multi-worker training, :func:`fit_multiworker` with the same keywords."""
    if placement.kind != "multiworker":
        return model.fit
    return functools.partial(fit_multiworker, model, placement.strategy, global_batch=config.batch_size,
                             steps_per_execution=config.steps_per_execution)


def fit_multiworker(model, strategy, x, *, epochs: int, initial_epoch: int = 0, steps_per_epoch: int,
                    global_batch: int, steps_per_execution: int = 1, validation_data=None,
                    callbacks: Sequence[Any] = (), **_ignored: Any) -> None:
    """Train like ``model.fit`` under ``MultiWorkerMirroredStrategy``.

    ``x`` yields global batches of ``global_batch`` images, the same on every worker (same seed); replica
    ``r`` trains on rows ``r * b .. (r + 1) * b`` of each, ``b = global_batch / replicas``, so the cluster
    sees exactly the batches a single process with ``global_batch`` would see. Gradients are summed over
    replicas by the optimizer, so each replica's loss is divided by the global batch. Validation runs
    locally on each worker (all hold the same weights), with no collectives.
    """
    import keras
    import tensorflow as tf

    iterator = iter(_replica_batches(x, strategy, global_batch))
    train_chunk = _train_chunk(model, strategy, global_batch)
    evaluate = _local_evaluation(model) if validation_data is not None else None
    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model, verbose=0, epochs=epochs,
                                                 steps=steps_per_epoch)
    model.stop_training = False
    callback_list.on_train_begin()
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        totals, done = np.zeros(3), 0
        while done < steps_per_epoch:
            count = min(steps_per_execution, steps_per_epoch - done)
            callback_list.on_train_batch_begin(done)
            totals += train_chunk(iterator, tf.constant(count)).numpy()
            done += count
            logs = _logs(totals)
            callback_list.on_train_batch_end(done - 1, logs)
        if evaluate is not None:
            callback_list.on_test_begin()
            val_logs = evaluate(validation_data)
            callback_list.on_test_end(val_logs)
            logs.update({f"val_{k}": v for k, v in val_logs.items()})
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)


def _replica_batches(dataset, strategy, global_batch: int):
    """Cut each global batch into one slice a replica; a worker's pipeline yields its local replicas' slices.

    A smaller last batch is filled up to ``global_batch`` rows by repeating its images with weight 0, so
    every replica gets a full slice in every step: the workers stay in lock-step and no replica sees an
    empty batch (TensorFlow's CPU convolution fails on those). Sharding is done here, so tf.data's
    auto-sharding is turned off explicitly (it cannot shard in-memory tensors by file anyway).
    """
    import tensorflow as tf

    replicas = strategy.num_replicas_in_sync
    per_replica = global_batch // replicas
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF

    def worker_dataset(context):
        local = replicas // context.num_input_pipelines
        first = context.input_pipeline_id * local

        def slices(images, labels):
            rows = tf.range(global_batch)
            real = tf.shape(images)[0]
            images, labels = tf.gather(images, rows % real), tf.gather(labels, rows % real)
            weights = tf.cast(rows < real, tf.float32)
            starts = (first + tf.range(local)) * per_replica

            @tf.autograph.experimental.do_not_convert  # plain slicing: nothing for AutoGraph to rewrite
            def replica_slice(start):
                end = start + per_replica
                return images[start:end], labels[start:end], weights[start:end]

            return tf.data.Dataset.from_tensor_slices(starts).map(replica_slice)

        return dataset.flat_map(slices).with_options(options)

    return strategy.distribute_datasets_from_function(worker_dataset)


def _train_chunk(model, strategy, global_batch: int):
    """A compiled call that runs ``count`` optimizer steps; returns (summed loss, correct, images) of them."""
    import tensorflow as tf

    loss_fn = model.loss
    replicas = strategy.num_replicas_in_sync

    def replica_step(images, labels, weights):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            per_image = loss_fn.call(labels, logits) * weights  # padding rows weigh 0
            loss = tf.reduce_sum(per_image) / global_batch
            if model.losses:  # weight penalties are per replica; the optimizer sums over replicas
                loss += tf.add_n(model.losses) / replicas
        gradients = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return _batch_totals(labels, logits, per_image, weights)

    @tf.function
    def chunk(iterator, count):
        totals = tf.zeros([3])
        for _ in tf.range(count):
            per_replica = strategy.run(replica_step, args=next(iterator))
            totals += strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
        return totals

    return chunk


def _local_evaluation(model):
    """Loss and accuracy over a (non-distributed) validation dataset, on this worker alone."""
    import tensorflow as tf

    loss_fn = model.loss

    @tf.function
    def batch_totals(images, labels):
        logits = model(images, training=False)
        return _batch_totals(labels, logits, loss_fn.call(labels, logits))

    def evaluate(dataset) -> dict[str, float]:
        totals = np.zeros(3)
        for images, labels in dataset:
            totals += batch_totals(images, labels).numpy()
        return _logs(totals)

    return evaluate


def _batch_totals(labels, logits, per_image, weights=None):
    import tensorflow as tf

    if weights is None:
        weights = tf.ones(tf.shape(logits)[:1])
    predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
    truth = tf.argmax(labels, axis=-1, output_type=tf.int32) if labels.shape.rank == 2 else tf.cast(labels, tf.int32)
    correct = tf.reduce_sum(tf.cast(tf.equal(predicted, truth), tf.float32) * weights)
    count = tf.reduce_sum(weights)
    return tf.stack([tf.reduce_sum(tf.cast(per_image, tf.float32)), correct, count])


def _logs(totals: np.ndarray) -> dict[str, float]:
    loss, correct, count = (float(v) for v in totals)
    return {"loss": loss / max(count, 1.0), "accuracy": correct / max(count, 1.0)}

