"""Part ``anatomy``: where one training step of DigitCNN (batch 100, the tutorial's recipe) spends its time, in
float32 and in the precision ``auto`` picks on this CPU.

Each convolution and dense layer's three matrix kernels — forward, input gradient, weight gradient (the first
layer needs no input gradient) — are timed alone at the step's shapes, and so is a whole training step
(forward, backward, cnnlab's fused Adam) of the Keras model on one batch held in memory, in a compiled loop: no
data pipeline and no ``fit``. The step minus its kernels is the rest: activations and their gradients,
pooling, dropout, bias gradients, dtype casts and the optimizer. A large matrix product gives each dtype's peak.

This is what bounds the tutorial goal: bfloat16 speeds up the kernels by at most the peak ratio and leaves the
rest as it is, so a step can only get as much faster as these two parts allow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from cnnlab_bench.context import BenchContext
from cnnlab_bench.settings import AnatomySettings
from cnnlab.models.registry import layer_macs

PEAK_SIZE = 2048  # the square matrix product that stands for each dtype's peak


@dataclass(frozen=True)
class Kernel:
    name: str  # "conv_2 weight gradient"
    macs: int  # multiply-accumulates for the whole batch
    build: Callable[[Any], Callable[[], Any]]  # dtype -> a function computing the kernel once


def run_anatomy(settings: AnatomySettings, context: BenchContext) -> dict[str, Any]:
    """Kernel, step and peak timings for float32 and (when it differs) ``auto``'s precision.

    Every timed loop is compiled first; then the precisions take turns, one timed loop of each item a round, and
    each item keeps its fastest round. A disturbance from outside (another tenant of the host) that lasts a few
    seconds then slows a round of both columns, not one column alone, and a later round replaces it.
    """
    from cnnlab.runtime import resolve_precision

    precisions = list(dict.fromkeys(["float32", resolve_precision("auto")]))
    loops = {}
    for precision in precisions:
        context.say("anatomy", f"{precision}: compiling {settings.model}'s kernels, a whole step, the matmul peak")
        loops[precision] = _loops(settings, precision)
    best = {precision: dict.fromkeys(loops[precision], float("inf")) for precision in precisions}
    for round_ in range(settings.repeats):
        context.say("anatomy", f"round {round_ + 1}/{settings.repeats}: {' and '.join(precisions)} in turn")
        for precision in precisions:
            for name, loop in loops[precision].items():
                best[precision][name] = min(best[precision][name], loop.time_ms())
    columns = {precision: _column(settings, loops[precision], best[precision]) for precision in precisions}
    return {"model": settings.model, "batch_size": settings.batch_size, "precisions": precisions,
            "repeats": settings.repeats, "columns": columns}


@dataclass
class _Loop:
    """A compiled loop of ``calls`` calls of one computation, traced and run once already."""

    run: Callable[[], Any]
    calls: int
    macs: int | None = None  # for a matrix kernel: multiply-accumulates of one call

    def time_ms(self) -> float:
        """Milliseconds per call in one timed run of the loop."""
        start = time.perf_counter()
        self.run().numpy()
        return 1000 * (time.perf_counter() - start) / self.calls


STEP, PEAK = "whole step", "matmul peak"
OPTIMIZERS = ("keras_adam", "fused_adam")


def _loops(settings: AnatomySettings, precision: str) -> dict[str, _Loop]:
    """Every timed loop of one precision: the matrix kernels, the whole step, the two Adam updates, the peak."""
    import tensorflow as tf

    dtype = tf.bfloat16 if precision == "mixed_bfloat16" else tf.float32
    loops = {kernel.name: _compiled(kernel.build(dtype), settings.calls, kernel.macs)
             for kernel in model_kernels(settings.model, settings.batch_size)}
    loops[STEP] = _compiled(_step(settings, precision), settings.steps)
    for name, update in _optimizer_updates(settings, precision).items():
        loops[name] = _compiled(update, settings.calls)
    loops[PEAK] = _compiled(_peak_product(dtype), 10, PEAK_SIZE ** 3)
    return loops


def _column(settings: AnatomySettings, loops: dict[str, _Loop], best_ms: dict[str, float]) -> dict[str, Any]:
    """One precision's figures from its fastest rounds."""
    kernels = [{"name": name, "macs": loop.macs, "ms": round(best_ms[name], 4),
                "gflops": _significant(2 * loop.macs / best_ms[name] / 1e6)}
               for name, loop in loops.items() if name not in (STEP, PEAK, *OPTIMIZERS)]
    step_ms = round(best_ms[STEP], 3)
    kernels_ms = round(sum(k["ms"] for k in kernels), 3)  # rounded first, so rest = step - kernels as printed
    return {"kernels": kernels, "kernels_ms": kernels_ms, "step_ms": step_ms,
            "optimizer_ms": {name: round(best_ms[name], 4) for name in OPTIMIZERS},
            "rest_ms": round(step_ms - kernels_ms, 3),
            "images_per_second": round(1000 * settings.batch_size / step_ms, 1),
            "peak_gflops": round(2 * loops[PEAK].macs / best_ms[PEAK] / 1e6, 1)}


def kernels_at_peak_ms(column: dict[str, Any]) -> float:
    """Milliseconds the column's matrix kernels would take if each ran at that precision's measured peak.

    With the rest of the step unchanged, ``kernels_at_peak_ms(c) + c["rest_ms"]`` bounds how short a step can get
    by faster matrix kernels alone.
    """
    return 2 * sum(k["macs"] for k in column["kernels"]) / column["peak_gflops"] / 1e6


def model_kernels(model_name: str, batch: int) -> list[Kernel]:
    """The matrix kernels of a training step of a registered model of Conv2D and Dense layers, at ``batch``."""
    import keras

    from cnnlab.models import create_model

    model = create_model(model_name)
    kernels: list[Kernel] = []
    first = True
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernels += _conv_kernels(layer, batch, first)
        elif isinstance(layer, keras.layers.Dense):
            kernels += _dense_kernels(layer, batch, first)
        else:
            continue
        first = False
    return kernels


def _conv_kernels(layer, batch: int, first: bool) -> list[Kernel]:
    import tensorflow as tf

    in_shape, out_shape = (batch, *layer.input.shape[1:]), (batch, *layer.output.shape[1:])
    kernel_shape = tuple(layer.kernel.shape)
    padding = layer.padding.upper()
    macs = batch * layer_macs(layer)
    strides = [1, 1, 1, 1]

    def forward(dtype):
        x, w = _random(in_shape, dtype), _random(kernel_shape, dtype)
        return lambda: tf.nn.conv2d(x, w, 1, padding)

    def input_gradient(dtype):
        w, dy = _random(kernel_shape, dtype), _random(out_shape, dtype)
        return lambda: tf.raw_ops.Conv2DBackpropInput(input_sizes=list(in_shape), filter=w, out_backprop=dy,
                                                       strides=strides, padding=padding)

    def weight_gradient(dtype):
        x, dy = _random(in_shape, dtype), _random(out_shape, dtype)
        return lambda: tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=list(kernel_shape), out_backprop=dy,
                                                        strides=strides, padding=padding)

    return _forward_and_gradients(layer.name, macs, forward, input_gradient, weight_gradient, first)


def _dense_kernels(layer, batch: int, first: bool) -> list[Kernel]:
    import tensorflow as tf

    units_in, units_out = layer.kernel.shape
    macs = batch * layer_macs(layer)

    def forward(dtype):
        x, w = _random((batch, units_in), dtype), _random((units_in, units_out), dtype)
        return lambda: tf.matmul(x, w)

    def input_gradient(dtype):
        dy, w = _random((batch, units_out), dtype), _random((units_in, units_out), dtype)
        return lambda: tf.matmul(dy, w, transpose_b=True)

    def weight_gradient(dtype):
        x, dy = _random((batch, units_in), dtype), _random((batch, units_out), dtype)
        return lambda: tf.matmul(x, dy, transpose_a=True)

    return _forward_and_gradients(layer.name, macs, forward, input_gradient, weight_gradient, first)


def _forward_and_gradients(name: str, macs: int, forward, input_gradient, weight_gradient,
                           first: bool) -> list[Kernel]:
    kernels = [Kernel(f"{name} forward", macs, forward)]
    if not first:  # nothing upstream of the first layer needs its input gradient
        kernels.append(Kernel(f"{name} input gradient", macs, input_gradient))
    return kernels + [Kernel(f"{name} weight gradient", macs, weight_gradient)]


def _random(shape, dtype):
    import tensorflow as tf

    return tf.cast(tf.random.stateless_normal(shape, seed=[0, len(shape)]), dtype)


def _compiled(compute: Callable[[], Any], calls: int, macs: int | None = None) -> _Loop:
    """``compute`` called ``calls`` times in one ``tf.function``, traced and warmed up.

    Each call feeds one element of its result into a running sum, so no call can be optimized away or merged
    with another (identical calls outside a loop would be).
    """
    import tensorflow as tf

    @tf.function
    def loop():
        total = tf.constant(0.0)
        for _ in tf.range(calls):
            total += tf.cast(tf.reshape(compute(), [-1])[0], tf.float32)
        return total

    loop().numpy()  # trace and warm up
    return _Loop(loop, calls, macs)


def _step(settings: AnatomySettings, precision: str) -> Callable[[], Any]:
    """One training step of the model under the tutorial's recipe (Adam 1e-4, its dropout), on one batch."""
    import keras
    import tensorflow as tf

    from cnnlab.models import create_model
    from cnnlab.runtime import precision_policy
    from cnnlab.training.optimizers import fused_adam

    with precision_policy(precision):
        keras.utils.set_random_seed(0)
        model = create_model(settings.model)
    optimizer = fused_adam(1e-4)  # cnnlab's
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    images = tf.random.stateless_normal((settings.batch_size, *model.input_shape[1:]), seed=[1, 0])
    labels = tf.random.stateless_uniform((settings.batch_size,), seed=[1, 1], maxval=10, dtype=tf.int32)

    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    return step


def _optimizer_updates(settings: AnatomySettings, precision: str) -> dict[str, Callable[[], Any]]:
    """One Adam update of all the model's weights alone, with Keras's Adam and with cnnlab's fused one."""
    import keras
    import tensorflow as tf

    from cnnlab.models import create_model
    from cnnlab.runtime import precision_policy
    from cnnlab.training.optimizers import fused_adam

    with precision_policy(precision):
        weights = create_model(settings.model).trainable_variables
    gradients = [_random(tuple(w.shape), tf.float32) for w in weights]
    updates = {}
    for name, optimizer in zip(OPTIMIZERS, (keras.optimizers.Adam(1e-4), fused_adam(1e-4))):
        optimizer.build(weights)
        updates[name] = lambda o=optimizer: [o.apply(gradients, weights), weights[0].value][-1]
    return updates


def _peak_product(dtype) -> Callable[[], Any]:
    import tensorflow as tf

    a = _random((PEAK_SIZE, PEAK_SIZE), dtype)
    return lambda: tf.matmul(a, a)


def _significant(value: float, digits: int = 4) -> float:
    """``value`` to ``digits`` significant figures: a slow small kernel keeps a non-zero rate."""
    return float(f"{value:.{digits}g}")
