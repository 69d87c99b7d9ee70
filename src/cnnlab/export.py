"""Export a run's model as a SavedModel, a TFLite flat buffer (float or int8), an ONNX graph or a static web page
(``cnnlab.export_web``: the drawing page running the model in the browser).

Every exported model takes **raw uint8 images** ``(N, 28, 28)``: the run's model already starts with its
normalization, so a caller (TF Serving, a phone, onnxruntime) never needs ``normalizer.json``. Each one returns
``probabilities`` ``(N, classes)`` float32 and ``class_id`` ``(N,)`` int64.

Each export checks itself before it is put in place: the exported file is loaded back with its own
runtime (TensorFlow, LiteRT, onnxruntime), run on the first 1,000 test images, and compared with the Keras
model: the largest absolute probability difference and both accuracies.

Files are written to a temporary sibling of the target and renamed into place, so a failed export leaves
nothing half-written behind.

Example:
    >>> result = export_run(Run.load("runs/demo"), "tflite", quantize="int8")  # doctest: +SKIP
    >>> result["check"]["passed"], result["path"]
    (True, 'runs/demo/export/model-int8.tflite')
    >>> predict = load_exported(result["path"])  # doctest: +SKIP
    >>> predict(images_uint8).shape
    (16, 10)
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from cnnlab import export_web as _web
from cnnlab.data.sources import load_dataset
from cnnlab.data.splits import limited_training_images
from cnnlab.errors import CnnlabError, ConfigError, first_line
from cnnlab.evaluation import Predictor
from cnnlab.model_card import copy_model_card
from cnnlab.runtime import silenced_stderr

FORMATS = ("savedmodel", "tflite", "onnx", "web")
QUANTIZATIONS = ("int8",)
SIGNATURE = "serving_default"  # the signature TF Serving calls when a request names none
INPUT_NAME = "images"
PARITY_IMAGES = 1000  # first N test images used by every self-check
FLOAT_TOLERANCE = 1e-4  # largest allowed |p_export - p_keras| for float exports
INT8_ACCURACY_TOLERANCE = 0.003  # int8: accuracy may differ from Keras by at most 0.3 points
CALIBRATION_IMAGES = 500  # training images that set the int8 activation ranges
ONNX_OPSET = 17

Predict = Callable[[np.ndarray], np.ndarray]


class ExportError(CnnlabError):
    """The export target cannot be written, or an exported file cannot be read."""


# ==================================================================== public API


def export_run(run, format: str, out: str | os.PathLike | None = None, quantize: str | None = None,
               data_dir: str | os.PathLike | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Export ``run``'s final model and check it; returns what was written and the parity figures.

    Args:
        run: a ``Run`` (``Run.load(path)``).
        format: ``savedmodel``, ``tflite`` or ``onnx``.
        out: target path; default ``RUN/export/savedmodel/1`` (a TF Serving version folder),
            ``RUN/export/model[-int8].tflite`` or ``RUN/export/model[-int8].onnx``.
        quantize: ``None`` (float32) or ``"int8"`` (tflite and onnx).
        data_dir: where the run's dataset lives, if not in a standard place.
        overwrite: replace an earlier export at ``out``.

    Returns:
        ``{"run_dir", "format", "quantize", "path", "size_bytes", "seconds", "check": {...}}`` where
        ``seconds`` is the conversion, writing and check (not loading TensorFlow) and ``check`` holds
        ``num_images``, ``max_prob_diff``, ``keras_accuracy``, ``export_accuracy``, ``agreement``,
        ``criterion`` and ``passed``.
    """
    _check_options(format, quantize)
    target = Path(out) if out is not None else default_export_path(run, format, quantize)
    _check_target(target, format, overwrite)
    model = run.load_model()
    test_images, test_labels, train_images = _parity_and_calibration_images(run, data_dir, quantize)
    started = time.perf_counter()  # conversion, writing and the check; not TensorFlow's import

    with _staging(target) as staging:
        try:
            _write(run, format, quantize, model, staging, train_images)
        except CnnlabError:  # e.g. a layer the web page cannot run: already one line for the user
            raise
        except Exception as err:  # a converter's failure is a message, not a traceback
            raise ExportError(f"{format} conversion of {run.path} failed ({type(err).__name__}: {first_line(err)}); "
                              "rerun with --debug for details") from err
        reference = _web.reference_model(model) if format == "web" else model  # the page computes in float32
        check = check_parity(load_exported(staging, format), reference, test_images, test_labels,
                             quantized=quantize is not None)
    copy_model_card(run, target)  # an export travels with what the model is and where it must not be used
    return {
        "run_dir": str(run.path),
        "format": format,
        "quantize": quantize,
        "path": str(target),
        "size_bytes": _size(target),
        "seconds": round(time.perf_counter() - started, 2),
        "check": check,
    }


def default_export_path(run, format: str, quantize: str | None = None) -> Path:
    """Where ``export_run`` writes when no ``out`` is given (inside the run's ``export/`` folder)."""
    _check_options(format, quantize)
    folder = run.path / "export"
    if format == "savedmodel":
        return folder / "savedmodel" / "1"  # TF Serving wants <model_base_path>/<version>/
    if format == "web":
        return folder / "web"  # a folder: the page, model.json, weights.bin, vendor/
    suffix = f"-{quantize}" if quantize else ""
    return folder / f"model{suffix}.{'tflite' if format == 'tflite' else 'onnx'}"


def serving_function(model):
    """A ``tf.function`` from raw uint8 images ``(N, 28, 28)`` to ``{"probabilities", "class_id"}``: the run's
    model (which normalizes its raw-pixel input itself) with a softmax and an argmax."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.uint8, name=INPUT_NAME)])
    def serve(images):
        x = tf.cast(images, tf.float32)[..., tf.newaxis]
        logits = tf.cast(model(x, training=False), tf.float32)
        probabilities = tf.nn.softmax(logits, axis=-1)
        return {"probabilities": probabilities, "class_id": tf.argmax(probabilities, axis=-1)}

    return serve


def load_exported(path: str | os.PathLike, format: str | None = None, num_threads: int | None = None) -> Predict:
    """Load an exported model; returns ``predict(uint8 images) -> probabilities (N, classes)``.

    ``images`` may be ``(N, 784)``, ``(N, 28, 28)`` or ``(N, 28, 28, 1)``, values 0..255. ``format`` is
    guessed from the path when omitted (a folder is a SavedModel, ``.tflite``, ``.onnx``); a SavedModel
    base folder holding version sub-folders (``1/``, ``2/``) loads its highest version, as TF Serving does.
    ``num_threads`` applies to TFLite and ONNX (default: their own choice).
    """
    path = Path(path)
    format = format or _guess_format(path)
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; use one of: {', '.join(FORMATS)}")
    if not path.exists():
        raise ExportError(f"{path} does not exist; export a run first with 'cnnlab export RUN --format {format}'")
    _require_export_extra(format)
    loader = {"savedmodel": _load_savedmodel, "tflite": _load_tflite, "onnx": _load_onnx,
              "web": _load_web}[format]
    try:
        return loader(path, num_threads)
    except CnnlabError:
        raise
    except Exception as err:  # each runtime fails on a damaged file in its own way
        raise ExportError(f"{path}: cannot load it as {format} ({type(err).__name__}); export it again") from None


def check_parity(predict: Predict, model, images: np.ndarray, labels: np.ndarray,
                 quantized: bool = False) -> dict[str, Any]:
    """Compare an exported model's probabilities with the Keras model's on the same raw images."""
    reference = Predictor(model).probabilities(images)
    exported = np.asarray(predict(images), dtype=np.float32)
    labels = np.asarray(labels)
    keras_accuracy = float((reference.argmax(axis=1) == labels).mean())
    export_accuracy = float((exported.argmax(axis=1) == labels).mean())
    max_diff = float(np.abs(exported - reference).max()) if len(images) else 0.0
    if quantized:
        criterion = f"|export_accuracy - keras_accuracy| <= {INT8_ACCURACY_TOLERANCE}"
        passed = abs(export_accuracy - keras_accuracy) <= INT8_ACCURACY_TOLERANCE + 1e-12
    else:
        criterion = f"max_prob_diff <= {FLOAT_TOLERANCE}"
        passed = max_diff <= FLOAT_TOLERANCE
    return {
        "num_images": int(len(images)),
        "max_prob_diff": max_diff,
        "keras_accuracy": keras_accuracy,
        "export_accuracy": export_accuracy,
        "agreement": float((exported.argmax(axis=1) == reference.argmax(axis=1)).mean()),
        "criterion": criterion,
        "passed": bool(passed and np.isfinite(exported).all()),
    }


# ==================================================================== writers


def _write(run, format: str, quantize: str | None, model, path: Path, train_images: np.ndarray | None) -> None:
    if format == "web":
        _web.write_web(run, model, path)
    elif format == "savedmodel":
        _write_savedmodel(model, path)
    elif format == "tflite":
        path.write_bytes(_tflite_bytes(model, train_images if quantize else None))
    elif quantize:
        _write_onnx_int8(_onnx_bytes(model), path, train_images)
    else:
        path.write_bytes(_onnx_bytes(model))


def _write_savedmodel(model, path: Path) -> None:
    """A SavedModel with the ``serve`` tag and a ``serving_default`` signature (what TF Serving loads).

    Keras's ExportArchive saves the variables the endpoint reads as plain TF variables (a bare ``tf.Module``
    holding a Keras 3 model saves them in a form the TFLite converter cannot freeze); ``track(model)`` is
    left out on purpose, as it would store every weight a second time.
    """
    import keras

    archive = keras.export.ExportArchive()  # it tracks the variables the endpoint uses, once each
    serve = serving_function(model)
    archive.add_endpoint(SIGNATURE, serve.python_function, input_signature=serve.input_signature)
    with _quiet():
        archive.write_out(str(path), verbose=False)


def _tflite_bytes(model, calibration: np.ndarray | None) -> bytes:
    """Convert through a SavedModel. With calibration images: full-integer int8 (weights and activations),
    keeping uint8 raw pixels in and float32 probabilities out, so callers feed the same input either way."""
    import tempfile

    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="cnnlab-export-") as scratch:
        saved = Path(scratch) / "savedmodel"
        _write_savedmodel(model, saved)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=[SIGNATURE])
        if calibration is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = _representative(calibration)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]  # refuse float fallbacks
        with _quiet():
            return converter.convert()


def _representative(images: np.ndarray) -> Callable[[], Iterator[dict[str, np.ndarray]]]:
    def batches():
        for image in images.reshape(-1, 1, 28, 28):
            yield {INPUT_NAME: image}
    return batches


def _onnx_bytes(model) -> bytes:
    """tf2onnx traces the same serving function (``from_keras`` does not handle Keras 3 models)."""
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    import tf2onnx

    serve = serving_function(model)
    with _quiet():
        proto, _ = tf2onnx.convert.from_function(serve, input_signature=serve.input_signature, opset=ONNX_OPSET,
                                                 output_path=None)
    return proto.SerializeToString()


def _write_onnx_int8(float_model: bytes, path: Path, calibration: np.ndarray) -> None:
    """onnxruntime's static quantization: QDQ int8 weights (per channel) and activations, calibrated on
    training images; like the TFLite model it keeps uint8 raw pixels in and float32 probabilities out."""
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Calibration(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = _representative(calibration)()

        def get_next(self):
            return next(self._batches, None)

    with tempfile.TemporaryDirectory(prefix="cnnlab-export-") as scratch:
        float_path, prepared = Path(scratch) / "float.onnx", Path(scratch) / "prepared.onnx"
        float_path.write_bytes(float_model)
        with _quiet():
            quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)  # shape inference, folding
            quantize_static(str(prepared), str(path), Calibration(), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)


# ==================================================================== loaders


def _as_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ConfigError(f"exported models take uint8 images (0..255), got {images.dtype}; convert with "
                          "np.asarray(x, np.uint8)")
    if images.size % 784:
        raise ConfigError(f"images of shape {images.shape} are not 28x28; pass (N, 28, 28) or (N, 784)")
    return np.ascontiguousarray(images.reshape(-1, 28, 28))


def _load_savedmodel(path: Path, num_threads: int | None) -> Predict:
    import tensorflow as tf

    path = _savedmodel_version(path)
    signature = tf.saved_model.load(str(path)).signatures[SIGNATURE]

    def predict(images: np.ndarray) -> np.ndarray:
        return signature(**{INPUT_NAME: tf.constant(_as_images(images))})["probabilities"].numpy()

    return predict


def _load_tflite(path: Path, num_threads: int | None) -> Predict:
    from ai_edge_litert.interpreter import Interpreter  # tf.lite.Interpreter is deprecated in TF 2.21

    interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
    runner = interpreter.get_signature_runner(SIGNATURE)
    with _quiet():  # the first call announces the XNNPACK delegate on stderr
        runner(**{INPUT_NAME: np.zeros((1, 28, 28), np.uint8)})

    def predict(images: np.ndarray) -> np.ndarray:
        return runner(**{INPUT_NAME: _as_images(images)})["probabilities"]

    return predict


def _load_onnx(path: Path, num_threads: int | None) -> Predict:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = num_threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def predict(images: np.ndarray) -> np.ndarray:
        return session.run(["probabilities"], {INPUT_NAME: _as_images(images)})[0]

    return predict


def _load_web(path: Path, num_threads: int | None) -> Predict:
    predict = _web.load_web(path)  # NumPy, the same layers the page runs with TensorFlow.js
    return lambda images: predict(_as_images(images))


def _savedmodel_version(path: Path) -> Path:
    """``path`` itself if it holds a SavedModel, else its highest numbered version folder."""
    if (path / "saved_model.pb").is_file():
        return path
    versions = sorted((int(p.name), p) for p in path.iterdir() if p.is_dir() and p.name.isdigit()) \
        if path.is_dir() else []
    for _, folder in reversed(versions):
        if (folder / "saved_model.pb").is_file():
            return folder
    raise ExportError(f"{path} holds no SavedModel (no saved_model.pb, no version folder); "
                      "export one with 'cnnlab export RUN --format savedmodel'")


def _guess_format(path: Path) -> str:
    if path.suffix == ".tflite":
        return "tflite"
    if path.suffix == ".onnx":
        return "onnx"
    if path.is_dir():
        return "web" if (path / _web.MODEL_FILE).is_file() else "savedmodel"
    raise ConfigError(f"cannot tell the format of {path}; name a .tflite or .onnx file or a SavedModel folder, "
                      "or pass the format")


# ==================================================================== helpers


def _check_options(format: str, quantize: str | None) -> None:
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; use one of: {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ConfigError(f"unknown quantization {quantize!r}; use int8 or leave it out for float32")
    if quantize is not None and format in ("savedmodel", "web"):
        raise ConfigError(f"--quantize {quantize} is for --format tflite or onnx; {format} is exported in "
                          "float32, so drop --quantize")
    _require_export_extra(format)


def _require_export_extra(format: str) -> None:
    from cnnlab.extras import EXPORT_FORMAT_MODULES, require_extra

    if format in EXPORT_FORMAT_MODULES:
        require_extra("export", f"the {format} format", EXPORT_FORMAT_MODULES[format])


def _check_target(target: Path, format: str, overwrite: bool) -> None:
    """Refuse to replace anything but an earlier export, and only when asked to."""
    if not target.exists():
        return
    if not overwrite:
        raise ExportError(f"{target} already exists; pass --overwrite to replace it or choose another --out")
    if not _is_export(target, format):
        article = "an" if format == "onnx" else "a"
        raise ExportError(f"{target} exists and is not {article} {format} export, so it will not be replaced; "
                          "choose another --out")


def _is_export(path: Path, format: str) -> bool:
    """Whether ``path`` holds a model of ``format`` (or an empty SavedModel folder), by its contents, not its name:
    so ``--overwrite`` cannot replace a run's ``model.keras`` or a user's other files."""
    if format == "web":
        return _web.is_web_export(path)
    if format == "savedmodel":
        return path.is_dir() and ((path / "saved_model.pb").is_file() or not any(path.iterdir()))
    if not path.is_file():
        return False
    if format == "tflite":
        with open(path, "rb") as file:
            return file.read(8)[4:8] == b"TFL3"  # the FlatBuffer file identifier of TFLite models
    import onnx
    from google.protobuf.message import DecodeError

    if path.stat().st_size >= 2**31:  # protobuf's own limit: no ONNX file this tool writes is that big
        return False
    model = onnx.ModelProto()
    try:
        model.ParseFromString(path.read_bytes())  # the bytes alone: onnx.load would pick a parser by the name
    except (DecodeError, ValueError, RuntimeError):
        return False
    return len(model.graph.node) > 0


def _parity_and_calibration_images(run, data_dir, quantize: str | None):
    """The first 1,000 test images and labels; for int8, a seeded sample of the run's training images."""
    data = load_dataset(run.config.dataset, data_dir)
    test_images, test_labels = data.x_test[:PARITY_IMAGES], data.y_test[:PARITY_IMAGES]
    if quantize is None:
        return test_images, test_labels, None
    train, _ = limited_training_images(run.config, data)
    rng = np.random.default_rng(run.config.seed)
    picks = np.sort(rng.choice(len(train), size=min(CALIBRATION_IMAGES, len(train)), replace=False))
    return test_images, test_labels, train[picks]


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it into place, on failure remove it."""
    for folder in (target.parent, *target.parent.parents):
        if folder.exists() and not folder.is_dir():
            raise ExportError(f"cannot write to {target}: {folder} is a file, not a folder; choose another --out")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        probe = target.parent / f".{target.name}.{os.getpid()}.probe"
        probe.write_bytes(b"")  # fail now, before minutes of conversion, if the folder is not writable
        probe.unlink()
    except OSError as err:
        raise ExportError(f"cannot write to {target.parent} ({err.strerror or err}); choose a writable --out") from None
    staging = target.parent / f".{target.name}.{os.getpid()}.partial"
    _remove(staging)
    try:
        yield staging
        if target.exists():  # an earlier export, allowed by _check_target: move it aside, then swap
            old = target.parent / f".{target.name}.{os.getpid()}.old"
            os.replace(target, old)
            os.replace(staging, target)
            _remove(old)
        else:
            os.replace(staging, target)
    finally:
        _remove(staging)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the converters' chatter: Python warnings, TensorFlow's logger, and C++ lines on stderr."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with silenced_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
