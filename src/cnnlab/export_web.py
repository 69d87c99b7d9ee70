"""Export a run's model as a static web folder: a drawing page that runs the model in the browser, no Python.

The folder holds the page (``index.html``, ``app.js``, ``preprocess.js``, ``model.js``, and ``style.css``, the
served page's own), the model as ``model.json`` (its layers in order, class names, weight index) plus
``weights.bin`` (float32, little-endian), and the vendored TensorFlow.js runtime (``vendor/``: core and CPU
backend, their licence and a manifest with versions and sha256s). Every path is relative, so any static file host
serves it.

The model description is this module's own small format, not a TensorFlow.js LayersModel: each Keras layer of
the run's model becomes one entry (rescale, layer_norm, conv2d, max_pool, batch_norm, activation, flatten, dense)
that ``model.js`` runs with TensorFlow.js ops and ``forward`` runs with NumPy. A layer with no entry is refused
by name. The page computes in float32, so the check compares it with the model computed in float32 (the model
itself, or a float32 copy of a mixed-precision model).

Example:
    >>> write_web(run, run.load_model(), Path("site"))  # doctest: +SKIP
    >>> load_web("site")(images_uint8).shape  # doctest: +SKIP
    (16, 10)
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cnnlab.errors import CnnlabError

FORMAT_NAME = "cnnlab-web-model"
FORMAT_VERSION = 1
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.bin"
PAGE_FILES = ("index.html", "app.js", "preprocess.js", "model.js")
STYLE = ("serve", "static", "style.css")  # the served drawing page's stylesheet: one look for both pages
VENDOR = "vendor"
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")
IDENTITY_LAYERS = ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "InputLayer")
BATCH = 100  # images per NumPy forward step: bounds the memory of the im2col windows

Predict = Callable[[np.ndarray], np.ndarray]


class WebExportError(CnnlabError):
    """The model has a layer the web page cannot run, or a web export folder cannot be read."""


# ==================================================================== writing


def write_web(run, model, folder: Path) -> None:
    """Write the page, the vendored runtime and ``model`` (raw pixels in, logits out) into a new ``folder``."""
    layers, weights = describe_model(model)
    folder.mkdir(parents=True)
    assets = resources.files("cnnlab") / "web"
    for name in PAGE_FILES:
        (folder / name).write_bytes((assets / name).read_bytes())
    (folder / STYLE[-1]).write_bytes(resources.files("cnnlab").joinpath(*STYLE).read_bytes())
    (folder / VENDOR).mkdir()
    for item in (assets / VENDOR).iterdir():
        if item.is_file():
            (folder / VENDOR / item.name).write_bytes(item.read_bytes())
    index, blob = _pack(weights)
    (folder / WEIGHTS_FILE).write_bytes(blob)
    metrics = run.metrics or {}
    description = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "model": run.config.model,
        "dataset": run.config.dataset,
        "run": run.path.name,
        "class_names": list(run.class_names),
        "test_accuracy": metrics.get("accuracy"),
        "preprocessing": "fashion" if run.config.dataset == "fashion-mnist" else "digits",
        "input_shape": [28, 28, 1],
        "layers": layers,
        "weights_file": WEIGHTS_FILE,
        "weights": index,
    }
    (folder / MODEL_FILE).write_text(json.dumps(description, indent=1) + "\n")


def describe_model(model) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """The model's layers as plain descriptions, and their float32 weights by name.

    Raises ``WebExportError`` naming the first layer (or option) the page cannot run.
    """
    layers: list[dict[str, Any]] = []
    weights: dict[str, np.ndarray] = {}
    for layer in _flat_layers(model):
        entry = _describe(layer, weights)
        if entry is not None:
            layers.append(entry)
    return layers, weights


def _flat_layers(model) -> list:
    """A Sequential model's layers, nested Sequentials opened; any other graph is refused."""
    import keras

    if not isinstance(model, keras.Sequential):
        raise WebExportError(f"the web export runs Sequential models only; {model.name} is a "
                             f"{type(model).__name__}")
    flat = []
    for layer in model.layers:
        flat += _flat_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return flat


def _describe(layer, weights: dict[str, np.ndarray]) -> dict[str, Any] | None:
    kind, config, name = type(layer).__name__, layer.get_config(), layer.name

    def weight(suffix: str, value) -> str:
        key = f"{name}/{suffix}"
        weights[key] = np.asarray(value, dtype=np.float32)
        return key

    if kind in IDENTITY_LAYERS:  # inference does nothing in these
        return None
    if config.get("data_format", "channels_last") != "channels_last":
        _refuse(layer, "data_format channels_first")
    if kind == "Rescaling":
        return {"type": "rescale", "name": name, "scale": weight("scale", layer.scale),
                "offset": weight("offset", layer.offset)}
    if kind == "Conv2D":
        if tuple(config["dilation_rate"]) != (1, 1) or config.get("groups", 1) != 1:
            _refuse(layer, "dilated or grouped convolution")
        entry = {"type": "conv2d", "name": name, "kernel": weight("kernel", layer.kernel),
                 "strides": list(config["strides"]), "padding": config["padding"]}
        if config["use_bias"]:
            entry["bias"] = weight("bias", layer.bias)
        return _with_activation(layer, entry, config["activation"])
    if kind == "MaxPooling2D":
        return {"type": "max_pool", "name": name, "pool_size": list(config["pool_size"]),
                "strides": list(config["strides"] or config["pool_size"]), "padding": config["padding"]}
    if kind == "BatchNormalization":
        if config["axis"] not in (-1, 3, [-1], [3]):
            _refuse(layer, f"normalization over axis {config['axis']}")
        channels = layer.moving_mean.shape[0]
        return {"type": "batch_norm", "name": name, "epsilon": float(config["epsilon"]),
                "mean": weight("moving_mean", layer.moving_mean),
                "variance": weight("moving_variance", layer.moving_variance),
                "gamma": weight("gamma", layer.gamma if config["scale"] else np.ones(channels)),
                "beta": weight("beta", layer.beta if config["center"] else np.zeros(channels))}
    if kind == "LayerNormalization":
        return _layer_norm(layer, config, weight)
    if kind == "ReLU":
        if config.get("max_value") is not None or config.get("negative_slope") or config.get("threshold"):
            _refuse(layer, "a capped, leaky or thresholded ReLU")
        return {"type": "activation", "name": name, "activation": "relu"}
    if kind == "Activation":
        return _with_activation(layer, {"type": "activation", "name": name}, config["activation"])
    if kind == "Flatten":
        return {"type": "flatten", "name": name}
    if kind == "Dense":
        entry = {"type": "dense", "name": name, "kernel": weight("kernel", layer.kernel)}
        if config["use_bias"]:
            entry["bias"] = weight("bias", layer.bias)
        return _with_activation(layer, entry, config["activation"])
    _refuse(layer, f"its type {kind}")


def _layer_norm(layer, config: dict[str, Any], weight) -> dict[str, Any]:
    """Normalization over some axes of each image (cnnlab's ``per_image`` normalization is one, over all three).

    Keras keeps gamma and beta in the shape of the normalized axes; they are stored here in the input's own
    rank (ones along the others) so that both runtimes broadcast them as they are.
    """
    if config.get("rms_scaling"):
        _refuse(layer, "RMS scaling")
    rank = len(layer.input.shape)
    axes = sorted(a % rank for a in (config["axis"] if isinstance(config["axis"], (list, tuple)) else [config["axis"]]))
    if 0 in axes:
        _refuse(layer, "normalization across the batch axis")
    shape = [layer.input.shape[a] if a in axes else 1 for a in range(1, rank)]
    entry = {"type": "layer_norm", "name": layer.name, "axes": axes, "epsilon": float(config["epsilon"])}
    if config["scale"]:
        entry["gamma"] = weight("gamma", np.reshape(layer.gamma, shape))
    if config["center"]:
        entry["beta"] = weight("beta", np.reshape(layer.beta, shape))
    return entry


def _with_activation(layer, entry: dict[str, Any], activation: Any) -> dict[str, Any]:
    if activation not in ACTIVATIONS:
        _refuse(layer, f"activation {activation!r} (supported: {', '.join(ACTIVATIONS)})")
    entry["activation"] = activation
    return entry


def _refuse(layer, what: str) -> None:
    raise WebExportError(f"the web export cannot run layer {layer.name!r}: {what} is not supported; export "
                         "another format (savedmodel, tflite, onnx) for this model")


def _pack(weights: dict[str, np.ndarray]) -> tuple[list[dict[str, Any]], bytes]:
    """One little-endian float32 blob and its index: name, shape, offset (in float32 values), count."""
    index, parts, offset = [], [], 0
    for name, value in weights.items():
        flat = np.ascontiguousarray(value, dtype="<f4").ravel()
        index.append({"name": name, "shape": list(value.shape), "offset": offset, "count": int(flat.size)})
        parts.append(flat.tobytes())
        offset += flat.size
    return index, b"".join(parts)


# ==================================================================== reading and checking


def is_web_export(path: Path) -> bool:
    """Whether ``path`` is a folder written by ``write_web`` (or empty), judged by its model.json."""
    if not path.is_dir():
        return False
    if not any(path.iterdir()):
        return True
    try:
        return json.loads((path / MODEL_FILE).read_text()).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


def load_web(path: str | Path) -> Predict:
    """``predict(uint8 images (N, 28, 28) or (N, 784)) -> probabilities`` from a web export's model.json and
    weights.bin, computed with NumPy the way ``model.js`` computes them with TensorFlow.js."""
    path = Path(path)
    description, weights = read_description(path)

    def predict(images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28, 1)
        logits = np.concatenate([forward(description["layers"], weights, x[start:start + BATCH])
                                 for start in range(0, len(x), BATCH)]) if len(x) else np.zeros((0, 10), np.float32)
        return _softmax(logits)

    return predict


def read_description(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """model.json and the weights it indexes in weights.bin; ``WebExportError`` for anything inconsistent."""
    try:
        description = json.loads((path / MODEL_FILE).read_text())
        blob = np.frombuffer((path / WEIGHTS_FILE).read_bytes(), dtype="<f4")
        if description.get("format") != FORMAT_NAME or description.get("version") != FORMAT_VERSION:
            raise ValueError("not a cnnlab web model of this version")
        weights = {}
        for item in description["weights"]:
            start, count = int(item["offset"]), int(item["count"])
            if start < 0 or start + count > blob.size or count != int(np.prod(item["shape"], dtype=np.int64)):
                raise ValueError(f"weight {item['name']} lies outside weights.bin")
            weights[item["name"]] = blob[start:start + count].reshape(item["shape"]).astype(np.float32)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise WebExportError(f"{path} is not a readable web export ({err}); export it again with "
                             "'cnnlab export RUN --format web --overwrite'") from None
    return description, weights


def reference_model(model):
    """The model computing in float32, as the page does: ``model`` itself, or a float32 copy of a
    mixed-precision model with the same weights."""
    import keras

    if all(layer.dtype_policy.compute_dtype == "float32" for layer in _flat_layers(model)):
        return model

    def float32_layer(layer):
        return type(layer).from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=float32_layer)
    copy.set_weights(model.get_weights())
    return copy


# ==================================================================== the NumPy forward pass


def forward(layers: list[dict[str, Any]], weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Run the described layers on float32 images ``(N, 28, 28, 1)`` (raw pixels); returns the logits."""
    for layer in layers:
        kind = layer["type"]
        if kind == "rescale":
            x = x * weights[layer["scale"]] + weights[layer["offset"]]
        elif kind == "conv2d":
            x = _activate(_conv2d(x, weights[layer["kernel"]], layer["strides"], layer["padding"])
                          + (weights[layer["bias"]] if "bias" in layer else 0), layer["activation"])
        elif kind == "max_pool":
            x = _max_pool(x, layer["pool_size"], layer["strides"], layer["padding"])
        elif kind == "batch_norm":
            scale = weights[layer["gamma"]] / np.sqrt(weights[layer["variance"]] + np.float32(layer["epsilon"]))
            x = (x - weights[layer["mean"]]) * scale + weights[layer["beta"]]
        elif kind == "layer_norm":
            x = _layer_norm_forward(x, layer, weights)
        elif kind == "activation":
            x = _activate(x, layer["activation"])
        elif kind == "flatten":
            x = x.reshape(len(x), -1)  # NHWC order, as Keras flattens
        elif kind == "dense":
            x = _activate(x @ weights[layer["kernel"]] + (weights[layer["bias"]] if "bias" in layer else 0),
                          layer["activation"])
        else:
            raise WebExportError(f"unknown layer type {kind!r} in the web model; export it again")
        x = x.astype(np.float32, copy=False)
    return x


def _layer_norm_forward(x: np.ndarray, layer: dict[str, Any], weights: dict[str, np.ndarray]) -> np.ndarray:
    axes = tuple(layer["axes"])
    mean = x.mean(axis=axes, keepdims=True)
    variance = np.square(x - mean).mean(axis=axes, keepdims=True)
    x = (x - mean) / np.sqrt(variance + np.float32(layer["epsilon"]))
    if "gamma" in layer:
        x = x * weights[layer["gamma"]]
    return x + weights[layer["beta"]] if "beta" in layer else x


def _padding(size: int, window: int, stride: int, padding: str) -> tuple[int, int]:
    """TensorFlow's padding: none for VALID; for SAME, enough for ceil(size / stride) outputs, the odd pixel after."""
    if padding == "valid":
        return 0, 0
    total = max((-(-size // stride) - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def _windows(x: np.ndarray, window: tuple[int, int], strides: list[int], padding: str, fill: float) -> np.ndarray:
    """(N, H', W', C, kh, kw) views of the padded input, one per output pixel."""
    (top, bottom), (left, right) = (_padding(x.shape[axis], window[axis - 1], strides[axis - 1], padding)
                                    for axis in (1, 2))
    padded = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    views = np.lib.stride_tricks.sliding_window_view(padded, window, axis=(1, 2))
    return views[:, ::strides[0], ::strides[1]]


def _conv2d(x: np.ndarray, kernel: np.ndarray, strides: list[int], padding: str) -> np.ndarray:
    windows = _windows(x, kernel.shape[:2], strides, padding, 0.0)  # (N, H', W', C, kh, kw)
    return np.tensordot(windows, kernel, axes=((4, 5, 3), (0, 1, 2)))  # kernel (kh, kw, C, out)


def _max_pool(x: np.ndarray, pool: list[int], strides: list[int], padding: str) -> np.ndarray:
    return _windows(x, tuple(pool), strides, padding, -np.inf).max(axis=(4, 5))


def _activate(x: np.ndarray, activation: str) -> np.ndarray:
    if activation == "relu":
        return np.maximum(x, 0)
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if activation == "tanh":
        return np.tanh(x)
    if activation == "softmax":
        return _softmax(x)
    return x


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)
