"""Baselines that cnnlab's training speed is compared against, written for the benchmark only.

* ``Tf1GraphDigitCNN`` — the tutorial's way, through ``tf.compat.v1``: a static graph with placeholders, one
  ``Session.run`` per batch of 100, fp32. Same layers as the registry's ``digitcnn``.
* ``keras_fit_on_numpy`` — plain Keras ``model.fit`` on in-memory numpy arrays.

Both train from a fresh model and return their training seconds, so the bench can time them beside cnnlab in the
same process and report ratios rather than absolute times alone. Both take normalized float32 images
(``Normalizer.apply``): they are the tutorials' code, which normalizes in NumPy, not cnnlab's raw-pixel models.
"""

from __future__ import annotations

import time

import numpy as np


class Tf1GraphDigitCNN:
    """DigitCNN as a TensorFlow-1 graph run through ``tf.compat.v1.Session`` (one run per batch)."""

    def __init__(self, seed: int = 0, learning_rate: float = 1e-4, dropout: float = 0.5) -> None:
        import tensorflow as tf

        v1 = tf.compat.v1
        self.graph = tf.Graph()
        self.dropout = dropout
        with self.graph.as_default():
            v1.set_random_seed(seed)
            self.images = v1.placeholder(tf.float32, (None, 28, 28, 1), name="images")
            self.labels = v1.placeholder(tf.int64, (None,), name="labels")
            self.rate = v1.placeholder_with_default(0.0, (), name="dropout_rate")
            h = self._conv(self.images, "conv_1", 5, 1, 32)
            h = tf.nn.max_pool2d(h, 2, 2, "SAME")
            h = self._conv(h, "conv_2", 5, 32, 64)
            h = tf.nn.max_pool2d(h, 2, 2, "SAME")
            h = tf.reshape(h, (-1, 4 * 4 * 64))
            h = tf.nn.relu(self._dense(h, "fc_3", 1024, 1024))
            h = tf.nn.dropout(h, rate=self.rate)
            self.logits = self._dense(h, "fc_4", 1024, 10)
            self.loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=self.labels, logits=self.logits))
            self.step = v1.train.AdamOptimizer(learning_rate).minimize(self.loss)
            self.predicted = tf.argmax(self.logits, axis=1)
            init = v1.global_variables_initializer()
        self.session = v1.Session(graph=self.graph)
        self.session.run(init)

    def close(self) -> None:
        """Free the session (a benchmark builds one baseline per round in one process)."""
        self.session.close()

    @staticmethod
    def _conv(x, name, size, channels_in, channels_out):
        import tensorflow as tf

        v1 = tf.compat.v1
        with v1.variable_scope(name):
            w = v1.get_variable("weights", (size, size, channels_in, channels_out),
                                initializer=v1.glorot_uniform_initializer())
            b = v1.get_variable("biases", (channels_out,), initializer=v1.zeros_initializer())
        return tf.nn.relu(tf.nn.conv2d(x, w, strides=1, padding="VALID") + b)

    @staticmethod
    def _dense(x, name, units_in, units_out):
        import tensorflow as tf

        v1 = tf.compat.v1
        with v1.variable_scope(name):
            w = v1.get_variable("weights", (units_in, units_out), initializer=v1.glorot_uniform_initializer())
            b = v1.get_variable("biases", (units_out,), initializer=v1.zeros_initializer())
        return tf.matmul(x, w) + b

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int = 100, seed: int = 0) -> float:
        """One epoch of mini-batches (normalized float32 images); returns training seconds."""
        order = np.random.default_rng(seed).permutation(len(x))
        start = time.perf_counter()
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            self.session.run(self.step, {self.images: x[idx], self.labels: y[idx], self.rate: self.dropout})
        return time.perf_counter() - start

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        """Test accuracy of the current weights on normalized float32 images (dropout off)."""
        predicted = np.concatenate([self.session.run(self.predicted, {self.images: x[i:i + 1000]})
                                    for i in range(0, len(x), 1000)])
        return float((predicted == y).mean())


def keras_fit_on_numpy(x: np.ndarray, y: np.ndarray, epochs: int = 1, batch_size: int = 100,
                       learning_rate: float = 1e-4, seed: int = 0):
    """Plain ``model.fit`` on numpy arrays (the usual Keras tutorial code); returns (model, seconds per epoch).

    The model is float32 whatever global dtype policy an earlier cnnlab run in this process left behind: the
    baseline is the tutorial's fp32 code.
    """
    import keras

    from cnnlab.models import create_model  # the bare network: normalized images in, as the tutorial feeds it
    from cnnlab.runtime import set_precision

    keras.utils.set_random_seed(seed)
    set_precision("float32")
    model = create_model("digitcnn")
    model.compile(keras.optimizers.Adam(learning_rate),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=True)
        seconds.append(time.perf_counter() - start)
    return model, seconds


def keras_accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy of ``keras_fit_on_numpy``'s model on normalized float32 images (plain ``model.predict``)."""
    logits = model.predict(x, batch_size=1000, verbose=0)
    return float((np.asarray(logits).argmax(axis=1) == np.asarray(y)).mean())
