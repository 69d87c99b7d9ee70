"""``train(config) -> Run``: fit a registered model on a verified dataset into a run directory."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cnnlab.config import TrainConfig
from cnnlab.data.prep import (Normalizer, as_written, make_eval_dataset, make_train_dataset, split_validation,
                              steps_per_epoch)
from cnnlab.data.sources import Dataset, load_dataset
from cnnlab.errors import RunError
from cnnlab.models.registry import create_model
from cnnlab.runtime import library_versions, machine_info, precision_policy, seed_everything
from cnnlab.training import distribute
from cnnlab.training.callbacks import restore_seed_generator_states, save_model_atomically
from cnnlab.training.run import Run, prepare_run_dir


@dataclasses.dataclass
class _Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def default_run_dir(config: TrainConfig, root: str | os.PathLike = "runs") -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{config.dataset}-{config.model}-{config.recipe}-{stamp}"


def config_for_resume(run_dir: str | os.PathLike, **explicit: Any) -> TrainConfig:
    """The stored config of a run to resume; options given again must equal the stored ones."""
    stored = Run.load(run_dir).config
    explicit = {k: v for k, v in explicit.items() if v is not None}
    changed = stored.differences(stored.replace(**explicit)) if explicit else []
    if changed:
        raise RunError(f"--resume with a changed config ({'; '.join(changed)}); resume with the same options "
                       "or start a new run with --run-dir")
    return stored


def train(
    config: TrainConfig,
    run_dir: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    data_dir: str | os.PathLike | None = None,
    dataset: Dataset | None = None,
    callbacks: Sequence[Any] = (),
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
) -> Run:
    """Train ``config`` into ``run_dir`` and evaluate on the test set; returns the Run.

    With ``resume`` the run continues after its last completed epoch, with the optimizer state, the data order
    and the history it had. ``callbacks`` are extra Keras callbacks (the CLI's progress display).
    ``validation_data=(x_val, y_val)`` (raw uint8 images) replaces the config's validation split: all of the
    dataset's (limited) training images are trained on (k-fold cross-validation passes its folds this way).
    With ``config.distribute`` set, only the chief writes ``run_dir`` (see ``cnnlab.training.distribute``).

    Example:
        >>> run = train(TrainConfig.from_recipe("default", epochs=1, limit=2000), "runs/quick")  # doctest: +SKIP
        >>> run.metrics["accuracy"] > 0.8
        True
    """
    config.validate()
    placement = distribute.get_placement(config.distribute)  # first: multi-worker needs TF untouched
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(config)
    session_start = time.time()
    # Everything that can refuse the config (the data, its split, the network) comes before the run directory
    # is touched: a refused command must neither leave an empty directory nor cost an --overwrite'd run.
    data = dataset if dataset is not None else load_dataset(config.dataset, data_dir)
    splits = _split(config, data, validation_data)
    seed_everything(config.seed)
    with precision_policy(config.precision) as precision:
        scaled = distribute.scale_for_replicas(config, placement.replicas)  # global batch and learning rate
        steps = steps_per_epoch(len(splits.x_train), scaled.batch_size)
        with placement.scope():
            model = compile_model(scaled, steps)
        job = _Job(config, scaled, placement, precision, data, splits, model, steps)
        own_dir = distribute.writable_run_dir(run_dir, placement, resume)  # non-chief workers: a private copy
        run = prepare_run_dir(own_dir, resume, overwrite)
        if resume and run.config != config:
            raise RunError(f"--resume with a changed config ({'; '.join(run.config.differences(config))})")
        return _train(job, run, run_dir, own_dir, session_start, resume=resume, callbacks=callbacks)


@dataclasses.dataclass
class _Job:
    """What a run trains with, all of it built before the run directory is touched."""

    config: TrainConfig
    scaled: TrainConfig  # the global batch size and learning rate over all replicas
    placement: Any
    precision: str
    data: Dataset
    splits: _Splits
    model: Any
    steps: int  # optimizer steps per epoch


def _train(job: _Job, run: Run, run_dir: Path, own_dir: Path, session_start: float, *, resume: bool,
           callbacks: Sequence[Any]) -> Run:
    config, placement, model, data, splits = job.config, job.placement, job.model, job.data, job.splits
    normalizer = run.normalizer if resume else Normalizer.fit(config.normalization, splits.x_train)

    history, best, first_epoch = [], None, 0
    if resume:
        with placement.scope():
            history, best, first_epoch = _restore(run, model)
    else:
        run.write_json("config.json", config.to_dict())
        run.write_json("normalizer.json", normalizer.to_dict())
    manifest = _manifest(run, config, data, model, session_start, resume)
    manifest["distribute"] = placement.describe()
    manifest["precision"] = job.precision
    run.write_json("manifest.json", manifest)

    if first_epoch < config.epochs:
        epoch_counter = None if placement.kind == "multiworker" else EpochCounter(first_epoch)  # outside the scope
        with placement.scope():
            _fit(run, job.scaled, model, normalizer, splits, job.steps, first_epoch, history, best, callbacks,
                 distribute.fit_function(model, job.scaled, placement), epoch_counter)
    if not placement.is_chief:
        distribute.discard_worker_dir(own_dir, placement)
        return Run(run_dir)  # the chief's run, on storage shared by the workers
    final_model = float32_copy(config, run.load_model("latest"))
    save_model_atomically(final_model, run.model_path)

    from cnnlab.evaluation import metrics_from_logits, predict_logits

    logits = predict_logits(final_model, data.x_test, normalizer)
    run.write_metrics(metrics_from_logits(logits, data.y_test, data.class_names, "test"))
    _finish_manifest(run, manifest, session_start)
    return run


# -------------------------------------------------------------------- pieces


def compile_model(config: TrainConfig, steps: int):
    """Build the config's model with its optimizer, learning-rate schedule and loss."""

    model = create_model(config.model, **_model_options(config))
    model.compile(
        optimizer=_optimizer(config, steps * config.epochs),
        loss=_loss(config),
        metrics=[_accuracy(config)],
        steps_per_execution=min(steps, config.steps_per_execution),
        jit_compile=False,  # XLA made these small CNNs slower on CPU
    )
    # Create the optimizer's state now, outside the compiled step: a variable created while tf.function traces
    # makes it trace the whole step a second time (measured: a quarter of a second more in the first epoch).
    model.optimizer.build(model.trainable_variables)
    return model


def float32_copy(config: TrainConfig, model):
    """The same network and weights with every layer in float32 (no optimizer): the run's ``model.keras``.

    Mixed-precision training keeps float32 master weights, so nothing is lost; prediction, export (TFLite,
    ONNX) and other programs then get a plain float32 model whatever precision trained it.
    """
    with precision_policy("float32"):
        copy = create_model(config.model, **_model_options(config))
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


class EpochCounter:
    """The epoch the training data pipeline serves next, as a TF variable the pipeline reads when an epoch's
    iteration starts; a Keras callback sets it at each epoch's beginning.

    Keras's ``fit`` then re-iterates a one-epoch dataset every epoch, and its compiled calls of several steps
    stop at the epoch's end even when the batches of an epoch are no multiple of the steps per call (with one
    endless dataset and ``steps_per_epoch`` they would run on into the next epoch's batches).
    """

    def __init__(self, first_epoch: int) -> None:
        import tensorflow as tf

        self.variable = tf.Variable(first_epoch, dtype=tf.int64, trainable=False, name="data_epoch")

    def callback(self):
        import keras

        variable = self.variable
        return keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs=None: variable.assign(epoch))


def _optimizer(config: TrainConfig, total_steps: int):
    import keras

    rate: Any = config.learning_rate
    if config.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=total_steps)
    elif config.lr_schedule == "onecycle":
        warmup = int(total_steps * config.warmup_fraction)
        rate = keras.optimizers.schedules.CosineDecay(
            config.learning_rate / 25, decay_steps=max(total_steps - warmup, 1), warmup_target=config.learning_rate,
            warmup_steps=warmup)
    from cnnlab.training.optimizers import FusedAdam, FusedAdamW

    if config.weight_decay > 0:
        return FusedAdamW(learning_rate=rate, weight_decay=config.weight_decay)
    return FusedAdam(learning_rate=rate)


def _one_hot_labels(config: TrainConfig) -> bool:
    """Whether the pipelines feed one-hot labels: Keras's loss smooths labels only in that form."""
    return config.label_smoothing > 0


def _accuracy(config: TrainConfig):
    """The accuracy metric for the labels the pipelines feed, created here so that its variables, too, exist
    before the step is traced (Keras's ``"accuracy"`` makes them inside it)."""
    import keras

    if _one_hot_labels(config):
        return keras.metrics.CategoricalAccuracy(name="accuracy")
    return keras.metrics.SparseCategoricalAccuracy(name="accuracy")


def _loss(config: TrainConfig):
    import keras

    if _one_hot_labels(config):
        return keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _split(config: TrainConfig, data: Dataset, validation_data: tuple | None = None) -> _Splits:
    if validation_data is not None:
        x, y = limited_training_images(config, data)
        return _Splits(x, y, *validation_data)
    return _Splits(*training_split(config, data))


def limited_training_images(config: TrainConfig, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The training images a config uses: the first ``limit`` of them, or all."""
    if config.limit is None:
        return data.x_train, data.y_train
    return data.x_train[:config.limit], data.y_train[:config.limit]


def training_split(config: TrainConfig, data: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_val, y_val)`` exactly as a run of ``config`` splits them (limit, then holdout)."""
    x, y = limited_training_images(config, data)
    return split_validation(x, y, config.val_split, config.val_mode, config.seed)


def _fit(run: Run, config: TrainConfig, model, normalizer: Normalizer, splits: _Splits, steps: int,
         first_epoch: int, history: list, best: dict | None, callbacks: Sequence[Any], fit=None,
         epoch_counter: EpochCounter | None = None) -> None:
    import keras

    from cnnlab.training.callbacks import RunRecorder, StopOnInvalidLoss, write_graph_summary

    train_data = make_train_dataset(splits.x_train, splits.y_train, normalizer, config.batch_size, config.seed,
                                    first_epoch, config.epochs, config.augment_shift, config.augment_rotate,
                                    config.augment_flip, epoch_counter.variable if epoch_counter else None)
    one_hot = _one_hot_labels(config)
    if one_hot:
        train_data = train_data.map(_with_one_hot_labels)
    val_data = None
    if len(splits.x_val):
        val_data = make_eval_dataset(splits.x_val, splits.y_val, normalizer, batch_size=1000)
        if one_hot:
            val_data = val_data.map(_with_one_hot_labels)
    if first_epoch == 0:
        write_graph_summary(model, run.path / "logs" / "train")
    recorder = RunRecorder(run, len(splits.x_train), history, best)
    board = keras.callbacks.TensorBoard(log_dir=str(run.path / "logs"), write_graph=True, update_freq="epoch")
    own = [epoch_counter.callback()] if epoch_counter else []
    (fit or model.fit)(train_data, epochs=config.epochs, initial_epoch=first_epoch,
                       steps_per_epoch=None if epoch_counter else steps,  # one-epoch dataset: its own length
                       validation_data=val_data, verbose=0, shuffle=False,
                       callbacks=[*own, recorder, board, StopOnInvalidLoss(), *callbacks])
    if recorder.rows and recorder.rows[-1]["loss"] is not None and not np.isfinite(recorder.rows[-1]["loss"]):
        raise RunError(f"training diverged (loss is {recorder.rows[-1]['loss']}); lower --learning-rate")


@as_written
def _with_one_hot_labels(images, labels):
    import tensorflow as tf

    return images, tf.one_hot(labels, 10)


def _restore(run: Run, model) -> tuple[list[dict], dict | None, int]:
    """Load weights and optimizer state of the last completed epoch; return (history, best, epoch)."""
    import keras

    import cnnlab.training.optimizers  # noqa: F401 - registers the optimizers a checkpoint names

    state = run.latest_state()
    if state is None:
        return [], None, 0  # killed before the first epoch ended: start over in the same directory
    try:
        saved = keras.models.load_model(run.latest_checkpoint(), compile=True)
    except Exception as err:
        raise RunError(f"{run.latest_checkpoint()}: cannot load the checkpoint ({type(err).__name__}); "
                       "start again with --overwrite") from None
    model.set_weights(saved.get_weights())
    if len(model.optimizer.variables) != len(saved.optimizer.variables):
        raise RunError(f"{run.latest_checkpoint()}: optimizer state does not match the config; use --overwrite")
    for target, source in zip(model.optimizer.variables, saved.optimizer.variables):
        target.assign(source)
    restore_seed_generator_states(model, state.get("seed_generators", []))
    history = run.history
    rows = history[history["epoch"] <= state["epoch"]].to_dict("records")
    rows = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()} for row in rows]
    return rows, state.get("best") or None, int(state["epoch"])


def _manifest(run: Run, config: TrainConfig, data: Dataset, model, start: float, resume: bool) -> dict:
    previous = run.manifest if resume else {}
    return {
        "cnnlab_run": 1,
        "created": previous.get("created") or _iso(start),
        "sessions": previous.get("sessions", []) + [{"start": _iso(start)}],
        "versions": library_versions(),
        "machine": machine_info(),
        "data": {"dataset": data.name, "source": data.source, "sha256": data.sha256},
        "seed": config.seed,
        "params": int(model.count_params()),
        "wall_seconds": previous.get("wall_seconds", 0.0),
    }


def _finish_manifest(run: Run, manifest: dict, start: float) -> None:
    end = time.time()
    manifest["sessions"][-1].update({"end": _iso(end), "wall_seconds": round(end - start, 2)})
    manifest["wall_seconds"] = round(sum(s.get("wall_seconds", 0.0) for s in manifest["sessions"]), 2)
    history = run.history
    manifest["train_seconds"] = round(float(history["seconds"].sum()), 2) if len(history) else 0.0
    run.write_json("manifest.json", manifest)


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(timespec="seconds")
