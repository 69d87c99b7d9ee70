"""The model registry: architectures are small functions registered by name.

The registry is a leaf: it imports nothing of the networks. Each module of networks registers its functions
when ``cnnlab.models`` (this package's ``__init__``) imports it, so importing anything from ``cnnlab.models``
makes every built-in network available.

``create_model(name, **options)`` builds one (unknown names and options are refused with a clear message);
``list_models()`` describes each with its parameter count and multiply-accumulates per image. The built-in
networks' sizes come from ``sizes.json`` (written by ``python -m cnnlab.models.sizes``, checked by a test), so
listing them needs no TensorFlow; a network registered elsewhere is built once to be measured.
"""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from cnnlab.errors import ConfigError

_REGISTRY: dict[str, Callable[..., Any]] = {}
SIZES_FILE = Path(__file__).with_name("sizes.json")  # the built-in networks' sizes at their default options


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    params: int
    macs: int  # multiply-accumulates for one 28x28 image, forward pass
    options: dict[str, Any]  # option name -> default


def register_model(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: register ``fn`` under its name. ``fn(**options)`` must return a ``keras.Model``."""
    if fn.__name__ in _REGISTRY:
        raise ValueError(f"model {fn.__name__!r} is registered twice")
    _REGISTRY[fn.__name__] = fn
    return fn


def model_options(name: str) -> dict[str, Any]:
    """The options a model accepts, with their defaults."""
    fn = _lookup(name)
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()}


def create_model(name: str, **options: Any):
    """Build a registered model by name.

    Example:
        >>> model = create_model("digitcnn", dropout=0.3)
        >>> model.count_params()
        1111946
    """
    import tensorflow as tf

    fn = _lookup(name)
    check_model_options(name, options)
    given = ", ".join(f"{k}={v}" for k, v in options.items())
    try:
        return fn(**options)
    except ValueError as err:  # e.g. a kernel larger than the image it would slide over
        raise ConfigError(f"model {name!r} cannot be built with {given} ({str(err)[:200]}); "
                          "choose other values for these options") from None
    except (MemoryError, tf.errors.ResourceExhaustedError):  # its weights alone do not fit
        raise ConfigError(f"model {name!r} with {given or 'its defaults'} does not fit in memory; "
                          "choose smaller values for these options") from None


def check_model_options(name: str, options: dict[str, Any]) -> None:
    """Raise ConfigError for an option the model lacks or a value unlike its default: counts and sizes are
    whole numbers >= 1, ``dropout`` a probability in [0, 1), switches true or false."""
    allowed = model_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"model {name!r} has no option(s) {', '.join(unknown)}; its options are: {', '.join(allowed)}"
        )
    for key, value in options.items():
        wanted = _option_rule(key, allowed[key], value)
        if wanted:
            raise ConfigError(f"model option {key}={value!r} is not allowed: use {wanted}")


def _option_rule(key: str, default: Any, value: Any) -> str | None:
    """What ``value`` should be, given the option's default; None when it is fine."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if number and isinstance(value, int) and value >= 1 else "a whole number >= 1"
    if key == "dropout":
        return None if number and 0 <= value < 1 else "a probability in [0, 1)"
    return None if number else "a number"


def list_models() -> list[ModelInfo]:
    """Every registered model with its size at the default options: a built-in network's from ``sizes.json``
    (no TensorFlow needed), any other's by building it once.

    Example:
        >>> {m.name: m.params for m in list_models()}["digitcnn"]
        1111946
    """
    shipped = {name: shipped_sizes()[name] for name in builtin_model_names() if name in shipped_sizes()}
    infos = []
    for name, fn in _REGISTRY.items():
        size = shipped.get(name) or measure_size(name)
        doc = (inspect.getdoc(fn) or "").splitlines()
        infos.append(ModelInfo(name, doc[0] if doc else "", size["params"], size["macs"], model_options(name)))
    return infos


def model_names() -> list[str]:
    return list(_REGISTRY)


def builtin_model_names() -> list[str]:
    """The networks cnnlab itself registers (those ``sizes.json`` describes)."""
    return [name for name, fn in _REGISTRY.items() if fn.__module__.startswith("cnnlab.")]


def measure_size(name: str) -> dict[str, int]:
    """``{"params": ..., "macs": ...}`` of a registered model at its default options, by building it."""
    from cnnlab.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    model = _lookup(name)()
    return {"params": int(model.count_params()), "macs": count_macs(model)}


@functools.cache
def shipped_sizes() -> dict[str, dict[str, int]]:
    """The sizes in ``sizes.json``: model name -> ``{"params": ..., "macs": ...}`` (empty if the file is missing,
    so every model is then built instead)."""
    try:
        return json.loads(SIZES_FILE.read_text())["models"]
    except (OSError, ValueError, KeyError):
        return {}


def count_macs(model) -> int:
    """Multiply-accumulates of one forward pass for one image, counting Conv2D and Dense layers."""
    return sum(layer_macs(layer) for layer in _flat_layers(model))


def layer_macs(layer) -> int:
    """Multiply-accumulates of one Conv2D or Dense layer for one image (0 for any other layer)."""
    import keras

    if isinstance(layer, keras.layers.Conv2D):
        _, out_h, out_w, out_c = layer.output.shape
        kernel_h, kernel_w, in_c, _ = layer.kernel.shape
        return int(out_h * out_w * out_c * kernel_h * kernel_w * in_c)
    if isinstance(layer, keras.layers.Dense):
        in_units, out_units = layer.kernel.shape
        return int(in_units * out_units)
    return 0


def _flat_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _flat_layers(layer)
        else:
            yield layer


def _lookup(name: str) -> Callable[..., Any]:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]

