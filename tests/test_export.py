"""Export: every format is loaded back with its own runtime and compared with the Keras model.

The parity figures are recomputed here from the exported files, not taken from the export's own report,
and the run is trained well enough (one epoch on 10,000 images, ~96 %) that "int8 within 0.3 points of
Keras" is a real test rather than two near-random models agreeing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

FLOAT_TOLERANCE = 1e-4
INT8_POINTS = 0.003


@pytest.fixture(scope="module")
def run(tmp_path_factory, mnist):
    from cnnlab.config import TrainConfig
    from cnnlab.training.train import train

    config = TrainConfig.from_recipe("default", epochs=1, limit=10_000, val_split=1000, seed=1)
    return train(config, tmp_path_factory.mktemp("export") / "run", dataset=mnist)


@pytest.fixture(scope="module")
def reference(run, mnist):
    """The Keras model's probabilities on the first 1,000 test images, and their labels."""
    from cnnlab.evaluation import Predictor

    images, labels = mnist.x_test[:1000], mnist.y_test[:1000]
    return images, labels, Predictor(run.load_model()).probabilities(images)


_exports: dict = {}


@pytest.fixture(scope="module")
def exported(run):
    """export(format, quantize) -> the export's result, each format exported once for the whole module."""
    from cnnlab.export import export_run

    def export(format: str, quantize: str | None = None) -> dict:
        key = (str(run.path), format, quantize)
        if key not in _exports:
            _exports[key] = export_run(run, format, quantize=quantize)
        return _exports[key]

    return export


def _accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float((probabilities.argmax(axis=1) == labels).mean())


# ------------------------------------------------------------------ float formats: parity <= 1e-4


def test_savedmodel_takes_raw_uint8_and_matches_keras(run, exported, reference):
    import tensorflow as tf

    result = exported("savedmodel")
    assert result["path"] == str(run.path / "export" / "savedmodel" / "1")
    images, labels, keras_probs = reference
    signature = tf.saved_model.load(result["path"]).signatures["serving_default"]
    outputs = signature(images=tf.constant(images.reshape(-1, 28, 28)))  # raw pixels, no normalizer
    probabilities = outputs["probabilities"].numpy()
    assert np.abs(probabilities - keras_probs).max() <= FLOAT_TOLERANCE
    np.testing.assert_array_equal(outputs["class_id"].numpy(), keras_probs.argmax(axis=1))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    check = result["check"]
    assert check["passed"] and check["num_images"] == 1000
    assert check["keras_accuracy"] == pytest.approx(_accuracy(keras_probs, labels))
    assert check["export_accuracy"] == pytest.approx(_accuracy(probabilities, labels))
    assert check["keras_accuracy"] > 0.9  # the run is good enough for the int8 test to mean something


def test_savedmodel_has_what_tf_serving_needs(exported, reference):
    """TF Serving loads the 'serve' tag and calls 'serving_default' with the request's 'instances'."""
    import tensorflow as tf
    from tensorflow.python.tools import saved_model_utils

    path = exported("savedmodel")["path"]
    meta_graph = saved_model_utils.get_meta_graph_def(path, "serve")
    signature = meta_graph.signature_def["serving_default"]
    assert signature.method_name == "tensorflow/serving/predict"
    image_input = signature.inputs["images"]
    assert image_input.dtype == tf.uint8.as_datatype_enum
    assert [d.size for d in image_input.tensor_shape.dim] == [-1, 28, 28]
    assert set(signature.outputs) == {"probabilities", "class_id"}

    # Run it the way a model server does: a graph session over the MetaGraph's tensor names (the TF1
    # loader), fed a REST body {"instances": [...]}, a JSON list of 28x28 integer lists.
    images, _, keras_probs = reference
    body = json.loads(json.dumps({"instances": images[:3].reshape(3, 28, 28).tolist()}))
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        loaded = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
        served = loaded.signature_def["serving_default"]
        class_ids = session.run(served.outputs["class_id"].name,
                                {served.inputs["images"].name: np.asarray(body["instances"], np.uint8)})
    np.testing.assert_array_equal(class_ids, keras_probs[:3].argmax(axis=1))


def test_load_exported_finds_the_highest_version_like_tf_serving(run, exported, reference):
    from cnnlab.export import load_exported

    exported("savedmodel")
    images, _, keras_probs = reference
    predict = load_exported(run.path / "export" / "savedmodel")  # the base path, as given to TF Serving
    assert np.abs(predict(images[:50]) - keras_probs[:50]).max() <= FLOAT_TOLERANCE


def test_tflite_float_matches_keras(exported, reference):
    from ai_edge_litert.interpreter import Interpreter

    result = exported("tflite")
    assert result["path"].endswith("model.tflite") and result["check"]["passed"]
    images, labels, keras_probs = reference
    runner = Interpreter(model_path=result["path"]).get_signature_runner("serving_default")
    probabilities = runner(images=images.reshape(-1, 28, 28))["probabilities"]
    assert np.abs(probabilities - keras_probs).max() <= FLOAT_TOLERANCE
    assert result["check"]["max_prob_diff"] == pytest.approx(float(np.abs(probabilities - keras_probs).max()),
                                                             abs=1e-6)


def test_onnx_through_the_cli_matches_keras(run, cli, reference, tmp_path):
    import onnxruntime

    out = tmp_path / "digits.onnx"
    code, stdout, stderr = cli("export", str(run.path), "--format", "onnx", "--out", str(out), "--json")
    assert code == 0, stderr
    result = json.loads(stdout)  # exactly one JSON object on stdout
    assert result["path"] == str(out) and result["check"]["passed"]
    assert result["size_bytes"] == out.stat().st_size

    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    [image_input] = session.get_inputs()
    assert (image_input.name, image_input.type) == ("images", "tensor(uint8)")
    images, _, keras_probs = reference
    probabilities = session.run(["probabilities"], {"images": images.reshape(-1, 28, 28)})[0]
    assert np.abs(probabilities - keras_probs).max() <= FLOAT_TOLERANCE
    assert not list(tmp_path.glob(".*")), "no temporary files are left beside the export"


# ------------------------------------------------------------------ int8: accuracy within 0.3 points


@pytest.mark.parametrize("format", ["tflite", "onnx"])
def test_int8_keeps_accuracy_within_a_third_of_a_point(format, run, exported, reference):
    from cnnlab.export import load_exported

    result = exported(format, "int8")
    assert result["path"].endswith(f"model-int8.{format}")
    images, labels, keras_probs = reference
    probabilities = load_exported(result["path"])(images)
    assert abs(_accuracy(probabilities, labels) - _accuracy(keras_probs, labels)) <= INT8_POINTS + 1e-12  # as the check
    assert result["check"]["passed"]
    assert result["check"]["export_accuracy"] == pytest.approx(_accuracy(probabilities, labels))
    float32_bytes = 4 * run.load_model().count_params()
    assert result["size_bytes"] < 0.4 * float32_bytes  # int8 weights: about a quarter of float32


def test_int8_tflite_computes_in_integers(exported):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=exported("tflite", "int8")["path"])
    dtypes = {d["dtype"] for d in interpreter.get_tensor_details()}
    assert np.int8 in dtypes and np.int32 in dtypes  # int8 weights/activations, int32 biases
    [image_input] = interpreter.get_input_details()
    assert image_input["dtype"] == np.uint8  # the same raw pixels as the float model


def test_serving_function_runs_a_scale_normalized_model_too(mnist):
    """Runs normalized by x / 255 export the same way as standardized ones (an untrained model is enough)."""
    from cnnlab.config import TrainConfig
    from cnnlab.data.normalize import Normalizer
    from cnnlab.evaluation import Predictor
    from cnnlab.export import serving_function
    from cnnlab.training.train import build_model

    model = build_model(TrainConfig(model="layerscnn"), Normalizer.fit("scale", mnist.x_train[:10]))
    images = mnist.x_test[:64].reshape(-1, 28, 28)
    served = serving_function(model)(images)
    expected = Predictor(model).probabilities(images)
    assert np.abs(served["probabilities"].numpy() - expected).max() <= FLOAT_TOLERANCE


# ------------------------------------------------------------------ the check itself can fail


def test_parity_check_fails_for_a_different_model(run, reference):
    from scipy.special import softmax

    from cnnlab.export import check_parity

    images, labels, keras_probs = reference
    rng = np.random.default_rng(0)

    def wrong(batch):  # a model that guesses
        return softmax(rng.normal(size=(len(batch), 10)).astype(np.float32), axis=1)

    model = run.load_model()
    check = check_parity(wrong, model, images, labels)
    assert not check["passed"] and check["max_prob_diff"] > 0.1
    int8_check = check_parity(wrong, model, images, labels, quantized=True)
    assert not int8_check["passed"] and int8_check["export_accuracy"] < 0.5


# ------------------------------------------------------------------ bad inputs


def test_unknown_format_is_refused(run, cli):
    from cnnlab.errors import ConfigError
    from cnnlab.export import export_run

    code, stdout, stderr = cli("export", str(run.path), "--format", "pytorch")
    assert code == 2 and stdout == ""
    assert "invalid choice: 'pytorch'" in stderr and len(stderr.strip().splitlines()) == 1
    with pytest.raises(ConfigError, match="unknown export format 'coreml'"):
        export_run(run, "coreml")


def test_int8_savedmodel_is_refused(run, cli):
    code, _, stderr = cli("export", str(run.path), "--format", "savedmodel", "--quantize", "int8")
    assert code == 2
    assert stderr.startswith("cnnlab: error: --quantize int8 is for --format tflite or onnx")
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


def test_not_a_run_directory(cli, tmp_path):
    code, stdout, stderr = cli("export", str(tmp_path), "--format", "tflite")
    assert code == 4 and stdout == ""
    assert "is not a run directory" in stderr and len(stderr.strip().splitlines()) == 1


def test_unwritable_out_is_refused(run, cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, stderr = cli("export", str(run.path), "--format", "tflite", "--out", str(blocker / "model.tflite"))
    assert code == 1
    assert "is a file, not a folder; choose another --out" in stderr and len(stderr.strip().splitlines()) == 1
    assert blocker.read_text() == "not a folder"


def test_existing_export_needs_overwrite_and_other_folders_are_never_replaced(run, cli, tmp_path):
    out = tmp_path / "model.tflite"
    out.write_bytes(b"an earlier export?")
    code, _, stderr = cli("export", str(run.path), "--format", "tflite", "--out", str(out))
    assert code == 1 and "already exists; pass --overwrite" in stderr
    assert out.read_bytes() == b"an earlier export?"

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    code, _, stderr = cli("export", str(run.path), "--format", "savedmodel", "--out", str(precious), "--overwrite")
    assert code == 1 and "is not a savedmodel export, so it will not be replaced" in stderr
    assert (precious / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("format", ["tflite", "onnx"])
def test_overwrite_never_replaces_a_file_that_is_no_export(run, cli, format):
    """--out RUN/model.keras --overwrite used to replace the run's own model with the export."""
    for victim in (run.path / "model.keras", run.path / "config.json"):
        before = victim.read_bytes()
        code, _, stderr = cli("export", str(run.path), "--format", format, "--out", str(victim), "--overwrite")
        _assert_one_line(code, stderr, f"is not {'an' if format == 'onnx' else 'a'} {format} export, so it will not")
        assert victim.read_bytes() == before


def test_overwrite_replaces_an_earlier_tflite_export(run, cli, exported, tmp_path):
    earlier = tmp_path / "model.tflite"
    earlier.write_bytes(Path(exported("tflite")["path"]).read_bytes())
    code, _, stderr = cli("export", str(run.path), "--format", "tflite", "--out", str(earlier), "--overwrite")
    assert code == 0, stderr


def _assert_one_line(code: int, stderr: str, fragment: str) -> None:
    assert code == 1 and fragment in stderr and len(stderr.strip().splitlines()) == 1, stderr


def test_a_failed_conversion_leaves_nothing_behind(run, tmp_path, monkeypatch):
    import cnnlab.export as export
    from cnnlab.errors import CnnlabError

    def broken_converter(*args, **kwargs):
        raise RuntimeError("converter crashed half-way")

    monkeypatch.setattr(export, "_tflite_bytes", broken_converter)
    out = tmp_path / "out" / "model.tflite"
    with pytest.raises(CnnlabError, match="tflite conversion of .* failed .*converter crashed half-way"):
        export.export_run(run, "tflite", out=out)
    assert list((tmp_path / "out").iterdir()) == []


def test_load_exported_refuses_bad_input(exported, tmp_path):
    from cnnlab.errors import CnnlabError, ConfigError
    from cnnlab.export import load_exported

    predict = load_exported(exported("tflite")["path"])
    with pytest.raises(ConfigError, match="uint8"):
        predict(np.zeros((2, 28, 28), dtype=np.float32))
    with pytest.raises(ConfigError, match="not 28x28"):
        predict(np.zeros((2, 27, 27), dtype=np.uint8))
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(CnnlabError, match="cannot load it as tflite"):
        load_exported(garbage)
    with pytest.raises(CnnlabError, match="does not exist"):
        load_exported(tmp_path / "missing.onnx")


def test_each_export_carries_the_runs_model_card(run, exported):
    card = (run.path / "MODEL_CARD.md").read_text()
    assert card.startswith(f"# Model card: {run.config.model} on mnist")
    for format in ("savedmodel", "tflite"):
        path = Path(exported(format)["path"])
        folder = path if path.is_dir() else path.parent
        assert (folder / "MODEL_CARD.md").read_text() == card
