"""``train(config) -> Run``: fit a registered model on a verified dataset into a run directory.

The model a run saves takes raw pixels: :func:`build_model` puts the run's fitted normalization in front of the
registered network as a standard Keras layer, so ``model.keras`` and every checkpoint load and predict in
plain Keras, with no ``normalizer.json`` and no cnnlab.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np

from cnnlab.config import TrainConfig
from cnnlab.data.augment import Augmentation
from cnnlab.data.normalize import IMAGE_SHAPE, Normalizer
from cnnlab.data.pipeline import as_written, make_eval_dataset, make_train_dataset, steps_per_epoch
from cnnlab.data.sources import Dataset, load_dataset
from cnnlab.data.splits import training_split
from cnnlab.errors import RunError
from cnnlab.evaluation import Predictor, metrics_from_logits
from cnnlab.model_card import write_model_card
from cnnlab.models import create_model
from cnnlab.run import CONFIG, RUN_FORMAT, Run, default_run_dir, prepare_output_dir, prepare_run_dir, resumable
from cnnlab.runtime import library_versions, machine_info, precision_policy, seed_everything
from cnnlab.training import distribute
from cnnlab.training.callbacks import (EpochCounter, RunRecorder, StopOnInvalidLoss, restore_seed_generator_states,
                                       save_model_atomically, write_graph_summary)
from cnnlab.training.optimizers import fused_adam
from cnnlab.training.tracking import EpochTensorBoard, log_test_metrics, write_run_hparams


@dataclass(frozen=True)
class Splits:
    """The raw uint8 images a run trains and validates on."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


@dataclass
class _Session:
    """What one training session works with, all of it built before the run directory is touched."""

    config: TrainConfig  # as given (and stored)
    scaled: TrainConfig  # the global batch size and learning rate over all replicas
    placement: distribute.Placement
    precision: str
    splits: Splits
    model: keras.Model
    steps: int  # optimizer steps per epoch


def train(
    config: TrainConfig,
    run_dir: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    data_dir: str | os.PathLike | None = None,
    dataset: Dataset | None = None,
    callbacks: Sequence[Any] = (),
    splits: Splits | None = None,
    evaluate_test: bool = True,
) -> Run:
    """Train ``config`` into ``run_dir`` and evaluate on the test set; returns the Run.

    With ``resume`` the run continues after its last completed epoch, with the optimizer state, the data order
    and the history it had. ``callbacks`` are extra Keras callbacks (the CLI's progress display).
    ``splits`` (raw uint8 images to train and validate on) replaces the config's own split of the dataset
    (cross-validation passes its folds this way); with ``evaluate_test=False`` the final model is not evaluated
    on the test set and no metrics.json is written (a search never looks at the test set).
    With ``config.distribute`` set, only the chief writes ``run_dir`` (see ``cnnlab.training.distribute``).

    Example:
        >>> run = train(TrainConfig.from_recipe("default", epochs=1, limit=2000), "runs/quick")  # doctest: +SKIP
        >>> run.metrics["accuracy"] > 0.8
        True
    """
    placement = distribute.get_placement(config.distribute)  # first: multi-worker needs TF untouched
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(config)
    resume = resume and resumable(run_dir)  # a run stopped before its first epoch ended starts again
    session_start = time.time()
    # Everything that can refuse the config (the data, its split, the network) comes before the run directory
    # is touched: a refused command must neither leave an empty directory nor cost an --overwrite'd run.
    data = dataset if dataset is not None else load_dataset(config.dataset, data_dir)
    splits = splits if splits is not None else Splits(*training_split(config, data))
    normalizer = _stored_normalizer(run_dir) if resume else Normalizer.fit(config.normalization, splits.x_train)
    seed_everything(config.seed)
    with precision_policy(config.precision) as precision:
        scaled = distribute.scale_for_replicas(config, placement.replicas)
        steps = steps_per_epoch(len(splits.x_train), scaled.batch_size)
        with placement.scope():
            model = compile_model(scaled, steps, normalizer)
        session = _Session(config, scaled, placement, precision, splits, model, steps)
        own_dir = distribute.writable_run_dir(run_dir, placement, resume)  # non-chief workers: a private copy
        run = prepare_run_dir(own_dir, resume, overwrite)
        if resume and run.config != config:
            raise RunError(f"--resume with a changed config ({'; '.join(run.config.differences(config))})")
        if not resume:
            run.write_config(config)
            run.write_normalizer(normalizer)
        with placement.scope():  # a checkpoint that cannot be restored is refused before the manifest changes
            restored = _restore(run, model) if resume else ([], None, 0)
        manifest = _start_manifest(run, session, data, session_start, resume)
        _fit(session, run, callbacks, restored)
    if not placement.is_chief:
        distribute.discard_worker_dir(own_dir, placement)
        return Run(run_dir)  # the chief's run, on storage shared by the workers
    final_model = float32_copy(config, run.load_model("latest"), normalizer)
    save_model_atomically(final_model, run.model_path)
    if evaluate_test:
        logits = Predictor(final_model).logits(data.x_test)
        metrics = metrics_from_logits(logits, data.y_test, data.class_names, "test")
        run.write_metrics(metrics)
        log_test_metrics(run.logs_dir, metrics, config.epochs)
    _finish_manifest(run, manifest, session_start)
    write_model_card(run)
    return run


# -------------------------------------------------------------------- the model


def build_model(config: TrainConfig, normalizer: Normalizer) -> keras.Model:
    """The config's registered network with the run's normalization as its first layer: raw pixels in.

    Example:
        >>> model = build_model(TrainConfig(), Normalizer("scale"))  # doctest: +SKIP
        >>> [layer.name for layer in model.layers][:2]
        ['normalize', 'conv_1']
    """
    network = create_model(config.model, **_model_options(config))
    first = [keras.Input(shape=IMAGE_SHAPE, name="image"), normalizer.layer()]
    if isinstance(network, keras.Sequential):  # one flat model: its layers keep their own names
        return keras.Sequential([*first, *network.layers], name=network.name)
    return keras.Sequential([*first, network], name=network.name)


def compile_model(config: TrainConfig, steps: int, normalizer: Normalizer) -> keras.Model:
    """Build the config's model with its optimizer, learning-rate schedule and loss."""
    model = build_model(config, normalizer)
    model.compile(
        optimizer=fused_adam(_learning_rate(config, steps * config.epochs), config.weight_decay),
        loss=_loss(config),
        metrics=[_accuracy(config)],
        steps_per_execution=min(steps, config.steps_per_execution),
        jit_compile=False,  # XLA made these small CNNs slower on CPU
    )
    # Create the optimizer's state now, outside the compiled step: a variable created while tf.function traces
    # makes it trace the whole step a second time.
    model.optimizer.build(model.trainable_variables)
    return model


def float32_copy(config: TrainConfig, model: keras.Model, normalizer: Normalizer) -> keras.Model:
    """The same network and weights with every layer in float32 (no optimizer): the run's ``model.keras``.

    Mixed-precision training keeps float32 master weights, so nothing is lost; prediction, export (TFLite,
    ONNX) and other programs then get a plain float32 model whatever precision trained it.
    """
    with precision_policy("float32"):
        copy = build_model(config, normalizer)
    copy.set_weights(model.get_weights())
    return copy


def check_network(config: TrainConfig) -> None:
    """Build the config's network once and drop it: a ConfigError (e.g. a kernel larger than the image) comes
    now, before a caller that trains many runs (search, repeat) writes anything."""
    create_model(config.model, **_model_options(config))


def _model_options(config: TrainConfig) -> dict[str, Any]:
    options = dict(config.model_options)
    if config.dropout is not None:
        options["dropout"] = config.dropout
    return options


def _learning_rate(config: TrainConfig, total_steps: int) -> Any:
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=total_steps)
    if config.lr_schedule == "onecycle":
        warmup = int(total_steps * config.warmup_fraction)
        return keras.optimizers.schedules.CosineDecay(
            config.learning_rate / 25, decay_steps=max(total_steps - warmup, 1), warmup_target=config.learning_rate,
            warmup_steps=warmup)
    return config.learning_rate


def _one_hot_labels(config: TrainConfig) -> bool:
    """Whether the pipelines feed one-hot labels: Keras's loss smooths labels only in that form."""
    return config.label_smoothing > 0


def _accuracy(config: TrainConfig) -> keras.metrics.Metric:
    """The accuracy metric for the labels the pipelines feed, created here so that its variables, too, exist
    before the step is traced (Keras's ``"accuracy"`` makes them inside it)."""
    if _one_hot_labels(config):
        return keras.metrics.CategoricalAccuracy(name="accuracy")
    return keras.metrics.SparseCategoricalAccuracy(name="accuracy")


def _loss(config: TrainConfig) -> keras.losses.Loss:
    if _one_hot_labels(config):
        return keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


# -------------------------------------------------------------------- the data


def _stored_normalizer(run_dir: Path) -> Normalizer:
    """A resumed run keeps the normalization it was started with (its model was built with it); the run is
    checked whole first, so a damaged file is refused before anything is trained or written. Only read here:
    every worker of a cluster reads the chief's run, and only the chief prepares it."""
    prepare_output_dir(run_dir, CONFIG, "run", "--run-dir", resume=True, overwrite=False)  # or "nothing to resume"
    run = Run.load(run_dir)
    run.commit_point()  # there, complete, or a refusal that says why
    return run.normalizer


def _datasets(session: _Session, first_epoch: int, epoch_counter: EpochCounter | None):
    """The training pipeline from ``first_epoch`` and the validation pipeline (None without a validation set)."""
    config, splits = session.scaled, session.splits
    train_data = make_train_dataset(splits.x_train, splits.y_train, config.batch_size, config.seed, first_epoch,
                                    config.epochs, augmentation_of(config),
                                    epoch_counter.variable if epoch_counter else None)
    val_data = make_eval_dataset(splits.x_val, splits.y_val, batch_size=1000) if len(splits.x_val) else None
    if _one_hot_labels(config):
        train_data = train_data.map(_with_one_hot_labels)
        val_data = val_data.map(_with_one_hot_labels) if val_data is not None else None
    return train_data, val_data


def augmentation_of(config: TrainConfig) -> Augmentation:
    """The training pipeline's augmentation, from the config's ``augment_*`` settings."""
    return Augmentation(shift=config.augment_shift, rotate=config.augment_rotate, flip=config.augment_flip,
                        scale=config.augment_scale, elastic=config.augment_elastic, corrupt=config.augment_corrupt)


@as_written
def _with_one_hot_labels(images, labels):
    import tensorflow as tf

    return images, tf.one_hot(labels, 10)


# -------------------------------------------------------------------- fitting


def _fit(session: _Session, run: Run, callbacks: Sequence[Any], restored: tuple[list[dict], dict | None, int]) -> None:
    """Train the epochs that are left after ``restored`` (history, best, epoch; none left when a resumed run had
    finished them)."""
    placement, model, config = session.placement, session.model, session.config
    history, best, first_epoch = restored
    if first_epoch >= config.epochs:
        return
    epoch_counter = None if placement.kind == "multiworker" else EpochCounter(first_epoch)  # outside the scope
    with placement.scope():
        train_data, val_data = _datasets(session, first_epoch, epoch_counter)
        if first_epoch == 0:
            write_graph_summary(model, run.logs_dir / "train")
            write_run_hparams(config, run.logs_dir)
        recorder = RunRecorder(run, len(session.splits.x_train), history, best)
        board = EpochTensorBoard(log_dir=str(run.logs_dir), write_graph=True, update_freq="epoch")
        own = [epoch_counter.callback()] if epoch_counter else []
        fit = distribute.fit_function(model, session.scaled, placement)
        fit(train_data, epochs=config.epochs, initial_epoch=first_epoch,
            steps_per_epoch=None if epoch_counter else session.steps,  # one-epoch dataset: its own length
            validation_data=val_data, verbose=0, shuffle=False,
            callbacks=[*own, recorder, board, StopOnInvalidLoss(), *callbacks])
    last_loss = recorder.rows[-1]["loss"] if recorder.rows else None
    if last_loss is not None and not np.isfinite(last_loss):
        raise RunError(f"training diverged (loss is {last_loss}); lower --learning-rate")


def _restore(run: Run, model: keras.Model) -> tuple[list[dict], dict | None, int]:
    """Load weights and optimizer state of the last completed epoch; return (history, best, epoch)."""
    state = run.commit_point()
    if state is None:
        return [], None, 0  # not reached: train() starts a run with no completed epoch again
    saved = run.load_model("latest", compile=True)
    if len(model.weights) != len(saved.weights) or any(
            a.shape != b.shape for a, b in zip(model.weights, saved.weights)):
        raise RunError(f"{run.latest_checkpoint()}: the checkpoint's network is not the config's; restore it, or "
                       "train the run again into a new --run-dir")
    model.set_weights(saved.get_weights())
    if len(model.optimizer.variables) != len(saved.optimizer.variables):
        raise RunError(f"{run.latest_checkpoint()}: optimizer state does not match the config; restore it, or "
                       "train the run again into a new --run-dir")
    for target, source in zip(model.optimizer.variables, saved.optimizer.variables):
        target.assign(source)
    restore_seed_generator_states(model, state.get("seed_generators", []))
    history = run.history
    rows = history[history["epoch"] <= state["epoch"]].to_dict("records")
    rows = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()} for row in rows]
    return rows, state.get("best") or None, int(state["epoch"])


# -------------------------------------------------------------------- the manifest


def _start_manifest(run: Run, session: _Session, data: Dataset, start: float, resume: bool) -> dict:
    previous = run.manifest if resume else {}
    manifest = {
        "cnnlab_run": RUN_FORMAT,
        "created": previous.get("created") or _iso(start),
        "sessions": previous.get("sessions", []) + [{"start": _iso(start)}],
        "versions": library_versions(),
        "machine": machine_info(),
        "data": {"dataset": data.name, "source": data.source, "sha256": data.sha256},
        "seed": session.config.seed,
        "params": int(session.model.count_params()),
        "wall_seconds": previous.get("wall_seconds", 0.0),
        "distribute": session.placement.describe(),
        "precision": session.precision,
    }
    run.write_manifest(manifest)
    return manifest


def _finish_manifest(run: Run, manifest: dict, start: float) -> None:
    end = time.time()
    manifest["sessions"][-1].update({"end": _iso(end), "wall_seconds": round(end - start, 2)})
    manifest["wall_seconds"] = round(sum(s.get("wall_seconds", 0.0) for s in manifest["sessions"]), 2)
    history = run.history
    manifest["train_seconds"] = round(float(history["seconds"].sum()), 2) if len(history) else 0.0
    run.write_manifest(manifest)


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(timespec="seconds")
