"""``DigitCNN``: the first tutorial's class, rebuilt from TensorFlow 2's low-level pieces.

The tutorial (TensorFlow 1) built a graph of placeholders and ran it in a session. Here the same network is
a handful of ``tf.Variable``s and plain functions of tensors: ``tf.nn.conv2d``, ``tf.nn.max_pool2d``, dropout
and ``tf.matmul``, with a ``tf.function`` training step that takes gradients with ``tf.GradientTape`` and
applies Adam. Nothing is hidden in Keras layers, so it shows what the registry's Keras ``digitcnn`` does
under the hood; given the same weights both compute the same logits (``tests/test_lowlevel.py``).

Like the tutorial, the class prints while it builds and trains (``verbose=False`` silences it) and expects
inputs already standardized the way it was trained: use ``cnnlab.Normalizer.fit("standardize", X_train)``
and apply the *training* statistics to every later image, including your own digits.

Example:
    >>> from cnnlab import DigitCNN, Normalizer, load_dataset
    >>> data = load_dataset("mnist")  # doctest: +SKIP
    >>> norm = Normalizer.fit("standardize", data.x_train)  # doctest: +SKIP
    >>> cnn = DigitCNN(epochs=1, random_seed=27)  # doctest: +SKIP
    >>> cnn.train((norm.apply(data.x_train[:50000]), data.y_train[:50000]),
    ...           validation_set=(norm.apply(data.x_train[50000:]), data.y_train[50000:]))  # doctest: +SKIP
    Epoch 01: Training Avg. Loss: 0.4055, Validation Acc: 0.9717
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from cnnlab.data.pipeline import batch_generator
from cnnlab.errors import ConfigError, DataError, RunError
from cnnlab.runtime import import_tensorflow_quietly

import_tensorflow_quietly()
import tensorflow as tf  # noqa: E402  (after the quiet import above)

NUM_CLASSES = 10
_EVAL_BATCH = 1000  # images per forward pass when predicting (memory, not results)
_IMAGE_SPEC = tf.TensorSpec([None, 28, 28, 1], tf.float32, name="tf_x")
_LABEL_SPEC = tf.TensorSpec([None], tf.int32, name="tf_y")
HISTORY_COLUMNS = ["Epoch", "Loss", "Accuracy"]


class DigitCNN:
    """Two 5x5 VALID convolutions with 2x2 max-pooling, a ReLU fully-connected layer, dropout, 10 logits.

    Args:
        batchsize: images per training step.
        epochs: passes over the training set per call of ``train``.
        learning_rate: Adam's step size.
        conv_1_output_channels, conv_2_output_channels: channels of the two convolutions.
        dropout: probability of *dropping* a unit of fc_3 while training. (The tutorial fed this number to
            ``keep_prob``, the probability of keeping one; at the default 0.5 both readings agree.)
        fc_3_output_units: units of the hidden fully-connected layer.
        shuffle: draw a new order of the training images every epoch.
        random_seed: fixes the initial weights, the shuffling and the dropout masks, so two instances with
            the same seed train identically on the same machine. ``None`` draws a fresh seed.
        verbose: print the layers while building and one line an epoch while training, as the tutorial did.

    Images may be ``(N, 784)`` or ``(N, 28, 28[, 1])``, uint8 or float; they are fed to the network as
    given (cast to float32), so standardize them first.
    """

    def __init__(self, batchsize: int = 100, epochs: int = 10, learning_rate: float = 1e-4,
                 conv_1_output_channels: int = 32, conv_2_output_channels: int = 64, dropout: float = 0.5,
                 fc_3_output_units: int = 1024, shuffle: bool = True, random_seed: int | None = None,
                 verbose: bool = True) -> None:
        _check_int("batchsize", batchsize)
        _check_int("epochs", epochs)
        _check_int("conv_1_output_channels", conv_1_output_channels)
        _check_int("conv_2_output_channels", conv_2_output_channels)
        _check_int("fc_3_output_units", fc_3_output_units)
        if not learning_rate > 0:
            raise ConfigError(f"learning_rate {learning_rate!r} is out of range: use a number > 0")
        if not 0 <= dropout < 1:
            raise ConfigError(f"dropout {dropout!r} is out of range: use a probability of dropping in [0, 1)")
        if random_seed is not None and (not _is_int(random_seed) or random_seed < 0):
            raise ConfigError(f"random_seed must be a whole number >= 0 or None, got {random_seed!r}")

        self.batchsize = batchsize
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.conv_1_output_channels = conv_1_output_channels
        self.conv_2_output_channels = conv_2_output_channels
        self.dropout = dropout
        self.fc_3_output_units = fc_3_output_units
        self.shuffle = shuffle
        self.random_seed = random_seed
        self.verbose = verbose
        # one 31-bit seed drives everything random (TensorFlow's stateless ops take int32/int64 pairs)
        seed = int(random_seed if random_seed is not None else np.random.SeedSequence().entropy) % 2**31
        # a variable, so checkpoints carry it and a loaded model goes on shuffling and dropping as it would have
        self._seed_var = tf.Variable(seed, dtype=tf.int64, trainable=False, name="random_seed")
        self.history = _empty_history()
        self.variables: dict[str, tf.Variable] = {}  # "conv_1/_weights" -> variable, in layer order
        self._epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_trained")
        self._build_log: set[str] | None = None  # lines printed so far while building; None when not building
        self.build()

    # ---------------------------------------------------------------- building

    def build(self) -> None:
        """Create the variables by tracing the network once on a ``(?, 28, 28, 1)`` input (printing it)."""
        self._build_log = set()
        try:
            # autograph=False: the graph has no tensor-dependent Python control flow to convert
            self._logits_fn = tf.function(self._logits_graph, input_signature=[_IMAGE_SPEC], autograph=False)
            self._logits_fn.get_concrete_function()  # the trace creates the variables and prints each layer
        finally:
            self._build_log = None
        self._new_optimizer()

    def _forward(self, x: tf.Tensor, dropout_seed: tf.Tensor | None = None) -> tf.Tensor:
        """Normalized images ``(B, 28, 28, 1)`` -> logits ``(B, 10)``; dropout only when given a seed."""
        self._say_building("\nBuilding Conv_1 Layer:")
        h1 = self.conv_layer(x, name="conv_1", kernel_size=(5, 5), padding="VALID",
                             n_output_channels=self.conv_1_output_channels)
        h1_pool = tf.nn.max_pool2d(h1, ksize=2, strides=2, padding="SAME")
        self._say_building("\nBuilding Conv_2 Layer:")
        h2 = self.conv_layer(h1_pool, name="conv_2", kernel_size=(5, 5), padding="VALID",
                             n_output_channels=self.conv_2_output_channels)
        h2_pool = tf.nn.max_pool2d(h2, ksize=2, strides=2, padding="SAME")
        self._say_building("\nBuilding fc_3 layer:")
        h3 = self.fc_layer(h2_pool, name="fc_3", n_output_units=self.fc_3_output_units, activation_fn=tf.nn.relu)
        if dropout_seed is not None and self.dropout > 0:
            # the stateless twin of tf.nn.dropout: the mask depends on (seed, step) only, so a seed repeats
            # a run exactly without touching TensorFlow's global random state
            h3 = tf.nn.experimental.stateless_dropout(h3, rate=self.dropout, seed=dropout_seed,
                                                      name="dropout_layer")
        self._say_building("\nBuilding 4th layer:")
        return self.fc_layer(h3, name="fc_4", n_output_units=NUM_CLASSES, activation_fn=None)

    def conv_layer(self, input_tensor: tf.Tensor, name: str, kernel_size: tuple[int, int],
                   n_output_channels: int, padding: str = "SAME",
                   strides: tuple[int, int, int, int] = (1, 1, 1, 1)) -> tf.Tensor:
        """A convolution with bias and ReLU; its variables are ``<name>/_weights`` (HWIO) and ``<name>/_biases``."""
        with tf.name_scope(name):
            n_input_channels = int(input_tensor.shape[-1])
            weights = self._variable(f"{name}/_weights", [*kernel_size, n_input_channels, n_output_channels])
            biases = self._variable(f"{name}/_biases", [n_output_channels])
            conv = self._show(tf.nn.conv2d(input_tensor, weights, strides=list(strides), padding=padding))
            conv = self._show(tf.nn.bias_add(conv, biases, name="net_pre-activation"))
            return self._show(tf.nn.relu(conv, name="activation"))

    def fc_layer(self, input_tensor: tf.Tensor, name: str, n_output_units: int,
                 activation_fn: Callable | None = None) -> tf.Tensor:
        """A fully-connected layer (flattening its input first); variables ``<name>/_weights``, ``<name>/_biases``."""
        with tf.name_scope(name):
            n_input_units = int(np.prod(input_tensor.shape[1:]))
            if input_tensor.shape.rank > 2:
                input_tensor = tf.reshape(input_tensor, (-1, n_input_units))  # NHWC order, as Keras's Flatten
            weights = self._variable(f"{name}/_weights", [n_input_units, n_output_units])
            biases = self._variable(f"{name}/_biases", [n_output_units])
            layer = self._show(tf.matmul(input_tensor, weights))
            layer = self._show(tf.nn.bias_add(layer, biases, name="net_pre-activation"))
            if activation_fn is None:
                return layer
            return self._show(activation_fn(layer, name="activation"))

    def _variable(self, name: str, shape: list[int]) -> tf.Variable:
        """The variable ``name``, created on first use: Glorot-uniform weights (TF1's default), zero biases."""
        if name in self.variables:
            return self.variables[name]
        with tf.init_scope():  # create it eagerly, outside the function being traced
            # inside the layer's name scope already, so "_weights" becomes "conv_1/_weights"
            variable = tf.Variable(self._initial_value(name, shape, len(self.variables)), name=name.split("/")[-1])
        self.variables[name] = variable
        shape, dtype = _shape(variable.shape), variable.dtype.name
        self._say_building(f"<tf.Variable '{variable.name}' shape={shape} dtype={dtype}>")
        return variable

    def _initial_value(self, name: str, shape: list[int], index: int) -> tf.Tensor:
        """Zeros for biases; Glorot-uniform weights from the stream ``(seed, index)`` of the ``index``-th variable."""
        if name.endswith("_biases"):
            return tf.zeros(shape)
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return tf.random.stateless_uniform(shape, seed=[self._seed, index], minval=-limit, maxval=limit)

    def initialize(self) -> None:
        """Reset the weights to their initial values (the same ones for the same seed) and Adam's state."""
        for index, (name, variable) in enumerate(self.variables.items()):
            variable.assign(self._initial_value(name, variable.shape.as_list(), index))
        self._epochs_done.assign(0)
        self.history = _empty_history()
        self._new_optimizer()

    def _new_optimizer(self) -> None:
        import keras

        # TF1's AdamOptimizer used epsilon 1e-8 (Keras's default is 1e-7)
        self._optimizer = keras.optimizers.Adam(learning_rate=self.learning_rate, epsilon=1e-8)
        self._optimizer.build(self.trainable_variables)
        self._train_step_fn = tf.function(self._train_step, input_signature=[_IMAGE_SPEC, _LABEL_SPEC],
                                          autograph=False)

    @property
    def _seed(self) -> int:
        return int(self._seed_var.numpy())

    @property
    def trainable_variables(self) -> list[tf.Variable]:
        return list(self.variables.values())

    # ---------------------------------------------------------------- training

    def _logits_graph(self, x: tf.Tensor) -> tf.Tensor:
        return self._forward(x)

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        step = tf.cast(tf.convert_to_tensor(self._optimizer.iterations), tf.int64)
        seed = tf.stack([self._seed_var, step])
        with tf.GradientTape() as tape:
            logits = self._forward(x, dropout_seed=seed)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits),
                                  name="cross_entropy_loss")
        gradients = tape.gradient(loss, self.trainable_variables)
        self._optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return loss

    def train(self, training_set: tuple, validation_set: tuple | None = None, initialize: bool = True) -> pd.DataFrame:
        """Train for ``self.epochs`` epochs on ``(X, y)``; returns ``self.history``.

        Prints ``Epoch NN: Training Avg. Loss: ..., Validation Acc: ...`` each epoch, where the loss is the mean
        cross-entropy per training image over the epoch (dropout on). ``initialize=False`` continues from the
        current weights, optimizer state and epoch count; ``initialize=True`` starts again from the initial
        weights with an empty history.
        """
        x_train, y_train = _check_labelled(training_set, "training_set")
        validation = _check_labelled(validation_set, "validation_set") if validation_set is not None else None
        if initialize:
            self.initialize()
        for _ in range(self.epochs):
            epoch = int(self._epochs_done.numpy()) + 1
            loss = self._train_epoch(x_train, y_train, epoch)
            accuracy = float(np.mean(self.predict(validation[0]) == validation[1])) if validation else math.nan
            self._epochs_done.assign(epoch)
            self.history = pd.concat([self.history, _history_row(epoch, loss, accuracy)], ignore_index=True)
            line = f"Epoch {epoch:02d}: Training Avg. Loss: {loss:.4f}"
            self._say(line + (f", Validation Acc: {accuracy:.4f}" if validation else ""))
        return self.history

    def _train_epoch(self, x: np.ndarray, y: np.ndarray, epoch: int) -> float:
        # each epoch's order comes from (seed, epoch) alone, so continued training shuffles as a long run would
        order_seed = int(np.random.SeedSequence([self._seed, epoch]).generate_state(1)[0])
        total, count = 0.0, 0
        for batch_x, batch_y in batch_generator(x, y, self.batchsize, shuffle=self.shuffle, random_seed=order_seed):
            loss = self._train_step_fn(batch_x, batch_y)
            total += float(loss) * len(batch_y)  # a true average: weight each batch's mean by its size
            count += len(batch_y)
        return total / count

    # ---------------------------------------------------------------- using

    def logits(self, X: np.ndarray) -> np.ndarray:
        """The network's raw outputs ``(N, 10)`` float32 for images ``X`` (dropout off)."""
        x = _check_images(X, "X")
        if len(x) == 0:
            return np.zeros((0, NUM_CLASSES), np.float32)
        return np.concatenate([self._logits_fn(x[i:i + _EVAL_BATCH]).numpy()
                               for i in range(0, len(x), _EVAL_BATCH)])

    def predict(self, X: np.ndarray, return_proba: bool = False) -> np.ndarray:
        """Predicted labels ``(N,)``, or with ``return_proba`` the class probabilities ``(N, 10)`` (rows sum to 1)."""
        logits = self.logits(X)
        if return_proba:
            return tf.nn.softmax(logits).numpy()
        return logits.argmax(axis=1).astype(np.int32)

    # ---------------------------------------------------------------- files

    def save(self, epoch: int, path: str | os.PathLike = "./digitCNN-model/") -> str:
        """Write weights, Adam's state, the epoch count and the seed to ``<path>/model.ckpt-<epoch>.*``.

        Returns the checkpoint prefix.

        The history goes beside it as ``model.ckpt-<epoch>.history.csv``.
        """
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        self._say(f"Saving model in {directory}")
        prefix = str(directory / f"model.ckpt-{int(epoch)}")
        self._checkpoint().write(prefix)
        self.history.to_csv(prefix + ".history.csv", index=False)
        return prefix

    def load(self, epoch: int, path: str | os.PathLike = "./digitCNN-model/") -> None:
        """Restore what ``save(epoch, path)`` wrote; predictions afterwards equal those at saving time.

        The optimizer state, epoch count, seed and history come back too, so ``train(..., initialize=False)``
        continues exactly as the saved model would have.
        """
        prefix = str(Path(path) / f"model.ckpt-{int(epoch)}")
        if not os.path.exists(prefix + ".index"):
            saved = sorted(p.name.split(".index")[0] for p in Path(path).glob("model.ckpt-*.index"))
            raise RunError(f"no checkpoint {prefix}; saved there: {', '.join(saved) or 'none'}")
        self._say(f"Loading model from {path}")
        try:
            self._checkpoint().read(prefix).assert_consumed()
        except (AssertionError, ValueError, tf.errors.OpError) as err:
            raise RunError(f"{prefix} does not fit this DigitCNN (different layer sizes?): "
                           f"{str(err).splitlines()[0]}") from None
        history_file = prefix + ".history.csv"
        self.history = _read_history(history_file) if os.path.exists(history_file) else _empty_history()

    def _checkpoint(self) -> tf.train.Checkpoint:
        # the checkpoint keys follow the tutorial's variable names (slashes are not allowed in attribute keys)
        layers = {name.replace("/", "."): variable for name, variable in self.variables.items()}
        return tf.train.Checkpoint(optimizer=self._optimizer, epochs_trained=self._epochs_done,
                                   random_seed=self._seed_var, **layers)

    def export_logs(self, logdir: str | os.PathLike = "./logs/") -> Path:
        """Write a TensorBoard event file holding the training step's graph (forward, loss, gradients, Adam)."""
        logdir = Path(logdir)
        graph = self._train_step_fn.get_concrete_function().graph
        writer = tf.summary.create_file_writer(str(logdir))
        with writer.as_default():
            tf.summary.graph(graph)
        writer.flush()
        writer.close()
        return logdir

    # ---------------------------------------------------------------- printing

    def _say(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    def _say_building(self, text: str) -> None:
        # tf.function traces twice when its first trace creates variables: print each line once
        if self._build_log is not None and text not in self._build_log:
            self._build_log.add(text)
            self._say(text)

    def _show(self, tensor: tf.Tensor) -> tf.Tensor:
        """Print a layer's symbolic output the tutorial's way while building; return it unchanged."""
        self._say_building(f'Tensor("{tensor.name}", shape={_shape(tensor.shape)}, dtype={tensor.dtype.name})')
        return tensor


# -------------------------------------------------------------------- helpers


def _shape(shape: tf.TensorShape) -> str:
    dims = ["?" if d is None else str(d) for d in shape.as_list()]
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_int(name: str, value: object) -> None:
    if not _is_int(value) or value < 1:
        raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")


def _check_images(X: object, what: str) -> np.ndarray:
    """Images as float32 ``(N, 28, 28, 1)``; refuses all but uint8/float ``(N, 784)`` or ``(N, 28, 28[, 1])``."""
    x = np.asarray(X)
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{what} has dtype {x.dtype}; DigitCNN takes uint8 or float images")
    shape_ok = ((x.ndim == 2 and x.shape[1] == 784) or (x.ndim == 3 and x.shape[1:] == (28, 28))
                or (x.ndim == 4 and x.shape[1:] == (28, 28, 1)))
    if not shape_ok:
        raise DataError(f"{what} has shape {x.shape}; DigitCNN takes images as (N, 784), (N, 28, 28) "
                        "or (N, 28, 28, 1)")
    x = x.astype(np.float32).reshape(-1, 28, 28, 1)
    if not np.isfinite(x).all():
        raise DataError(f"{what} contains NaN or infinite pixels")
    return x


def _check_labelled(pair: object, what: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise DataError(f"{what} must be a pair (X, y) of images and labels")
    x = _check_images(pair[0], f"{what} images")
    y = np.asarray(pair[1])
    if y.ndim != 1 or len(y) != len(x) or len(y) == 0:
        raise DataError(f"{what} needs one label per image: {len(x)} images, labels of shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= NUM_CLASSES:
        raise DataError(f"{what} labels must be whole numbers 0-9, got dtype {y.dtype}")
    return x, y.astype(np.int32)


def _empty_history() -> pd.DataFrame:
    return pd.DataFrame({"Epoch": pd.Series(dtype="int64"), "Loss": pd.Series(dtype="float64"),
                         "Accuracy": pd.Series(dtype="float64")})


def _history_row(epoch: int, loss: float, accuracy: float) -> pd.DataFrame:
    return pd.DataFrame({"Epoch": [epoch], "Loss": [loss], "Accuracy": [accuracy]}).astype(
        {"Epoch": "int64", "Loss": "float64", "Accuracy": "float64"})


def _read_history(path: str) -> pd.DataFrame:
    frame = pd.read_csv(path)
    return pd.concat([_empty_history(), frame[HISTORY_COLUMNS]], ignore_index=True).astype(
        {"Epoch": "int64", "Loss": "float64", "Accuracy": "float64"})
