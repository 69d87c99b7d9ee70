"""The web export: a static folder whose page runs the model in the browser.

Without a browser: every registered network's layers, described for the page and run with NumPy, give the Keras
model's logits; what the page cannot run is refused by name; the vendored runtime matches its manifest.
With a browser (Debian's headless Chromium through Playwright): the exported folder is served by a plain static
HTTP server on 127.0.0.1, a stroke is drawn with the mouse, and the page's 28x28 input and probabilities are
compared with the Python model's on the same input; every request the page makes stays on that server.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
TOLERANCE = 1e-4  # largest allowed |p_browser - p_python|
VENDOR = Path(__file__).resolve().parents[1] / "src" / "cnnlab" / "web" / "vendor"


# ==================================================================== no browser, no training


def _randomized(model, rng):
    """Batch-norm statistics away from their initial 0 and 1, so a wrong formula shows."""
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.moving_mean.assign(rng.normal(0, 0.2, layer.moving_mean.shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, layer.moving_variance.shape).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.2, layer.beta.shape).astype("float32"))
    return model


def _network(name: str, precision: str = "float32", **options):
    from cnnlab.config import TrainConfig
    from cnnlab.data.normalize import Normalizer
    from cnnlab.runtime import precision_policy
    from cnnlab.training.train import build_model

    rng = np.random.default_rng(3)
    normalizer = Normalizer.fit("standardize", rng.integers(0, 256, (64, 784), dtype=np.uint8))
    with precision_policy(precision):
        return _randomized(build_model(TrainConfig(model=name, model_options=options), normalizer), rng)


def _all_networks():
    from cnnlab.models.registry import list_models

    return [(info.name, {}) for info in list_models()] + [("fastcnn", {"batch_norm": True})]


@pytest.mark.parametrize("name, options", _all_networks(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_registered_network_runs_the_same_in_the_page_description(name, options, mnist):
    from cnnlab.evaluation import Predictor
    from cnnlab.export_web import describe_model, forward

    model = _network(name, **options)
    layers, weights = describe_model(model)
    images = mnist.x_test[:64]
    logits = forward(layers, weights, images.astype(np.float32).reshape(-1, 28, 28, 1))
    expected = Predictor(model).logits(images)
    assert layers[0]["type"] == "rescale" and layers[-1]["type"] == "dense"
    assert np.abs(logits - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())


def test_a_mixed_precision_model_is_checked_against_its_float32_copy(mnist):
    from cnnlab.evaluation import Predictor
    from cnnlab.export_web import describe_model, forward, reference_model

    model = _network("fastcnn", "mixed_bfloat16", batch_norm=True)
    reference = reference_model(model)
    assert reference is not model
    assert {layer.dtype_policy.compute_dtype for layer in reference.layers} == {"float32"}
    layers, weights = describe_model(model)
    logits = forward(layers, weights, mnist.x_test[:32].astype(np.float32).reshape(-1, 28, 28, 1))
    assert np.abs(logits - Predictor(reference).logits(mnist.x_test[:32])).max() <= 1e-4


def _every_layer_kind(rng):
    """A model with every layer kind and option the page runs, random weights, batch-norm statistics moved."""
    import keras

    layers = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Rescaling(1 / 255, offset=rng.normal(0, 0.1, (28, 28, 1)).astype("float32")),
        layers.LayerNormalization(axis=[1, 2, 3], epsilon=1e-3, center=False, scale=False),  # per_image's layer
        layers.Conv2D(6, 3, strides=2, padding="same", activation="relu"),
        layers.BatchNormalization(), layers.ReLU(),
        layers.Conv2D(8, 3, padding="valid", use_bias=False, activation="sigmoid"),
        layers.MaxPooling2D(3, strides=2, padding="same"),  # an odd input: a partial window at the edge
        layers.Activation("tanh"), layers.Flatten(),
        layers.LayerNormalization(axis=-1), layers.Dense(32, activation="relu"), layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    for layer in model.layers:
        if isinstance(layer, layers.LayerNormalization) and layer.scale:
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.3, layer.beta.shape).astype("float32"))
    return _randomized(model, rng)


def test_every_layer_kind_runs_the_same_in_numpy(mnist):
    from cnnlab.evaluation import Predictor
    from cnnlab.export_web import describe_model, forward

    model = _every_layer_kind(np.random.default_rng(5))
    layers, weights = describe_model(model)
    assert [layer["type"] for layer in layers][:3] == ["rescale", "layer_norm", "conv2d"]
    images = mnist.x_test[:64]
    logits = forward(layers, weights, images.astype(np.float32).reshape(-1, 28, 28, 1))
    assert np.abs(logits - Predictor(model).logits(images)).max() <= 1e-5


def test_a_layer_the_page_cannot_run_is_refused_by_name():
    import keras

    from cnnlab.export_web import WebExportError, describe_model

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.AveragePooling2D(2, name="smooth"),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(WebExportError, match="layer 'smooth': its type AveragePooling2D is not supported"):
        describe_model(model)
    leaky = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10, activation="gelu", name="fc")])
    with pytest.raises(WebExportError, match="layer 'fc': activation 'gelu'"):
        describe_model(leaky)


def test_the_vendored_runtime_matches_its_manifest_and_is_small():
    manifest = json.loads((VENDOR / "manifest.json").read_text())
    files = [item for package in manifest["packages"] for item in package["files"]] + [manifest["license"]]
    for item in files:
        assert hashlib.sha256((VENDOR / item["file"]).read_bytes()).hexdigest() == item["sha256"], item["file"]
    assert "Apache License" in (VENDOR / manifest["license"]["file"]).read_text()
    assert {p["package"] for p in manifest["packages"]} == {"@tensorflow/tfjs-core", "@tensorflow/tfjs-backend-cpu"}
    assert sum(path.stat().st_size for path in VENDOR.iterdir()) < 1_000_000


def test_a_damaged_web_export_is_refused_in_one_line(tmp_path):
    from cnnlab.export_web import WebExportError, load_web

    (tmp_path / "model.json").write_text(json.dumps({"format": "cnnlab-web-model", "version": 1, "weights": [
        {"name": "w", "shape": [100], "offset": 0, "count": 100}]}))
    (tmp_path / "weights.bin").write_bytes(b"\0" * 40)  # 10 floats, not 100
    with pytest.raises(WebExportError, match="not a readable web export .*weight w lies outside"):
        load_web(tmp_path)


# ==================================================================== exported runs


def _train(folder: Path, mnist, **settings):
    """One float32 epoch on 2,000 MNIST images: the Keras model itself is then the float32 reference."""
    from cnnlab.config import TrainConfig
    from cnnlab.training.train import train

    config = TrainConfig.from_recipe("default", epochs=1, limit=2000, val_split=200, seed=2, precision="float32",
                                     **settings)
    return train(config, folder, dataset=mnist)


@pytest.fixture(scope="module")
def exports(tmp_path_factory, mnist):
    """Two runs exported for the web by the CLI, {model name: (run, the export's --json answer)}: fastcnn with
    batch norm (conv, batch norm, ReLU, no hidden dense) and the default recipe's normalization, and the
    tutorial's digitcnn (hidden dense, dropout) with the tutorial's standardization (a Rescaling layer)."""
    folder = tmp_path_factory.mktemp("web")
    runs = {"fastcnn": _train(folder / "fast", mnist, model="fastcnn", model_options={"batch_norm": True}),
            "digitcnn": _train(folder / "digit", mnist, model="digitcnn", normalization="standardize")}
    return {name: (run, _export(run)) for name, run in runs.items()}


def _export(run) -> dict:
    """``cnnlab export RUN --format web --json`` in this process (a module-scoped fixture cannot use capsys)."""
    import io
    from contextlib import redirect_stdout

    from cnnlab.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["export", str(run.path), "--format", "web", "--json"])
    assert code == 0, out.getvalue()
    return json.loads(out.getvalue())


@pytest.mark.slow
def test_the_export_writes_a_self_contained_folder_and_checks_it(exports):
    for name, (run, result) in exports.items():
        folder = Path(result["path"])
        assert folder == run.path / "export" / "web"
        assert result["check"]["passed"] and result["check"]["max_prob_diff"] <= TOLERANCE, result["check"]
        assert result["check"]["num_images"] == 1000
        names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert {"index.html", "app.js", "model.js", "preprocess.js", "model.json", "weights.bin",
                "vendor/tf-core.min.js", "vendor/tf-backend-cpu.min.js", "vendor/LICENSE-tfjs.txt"} <= names
        page = (folder / "index.html").read_text() + (folder / "app.js").read_text() + (folder / "model.js").read_text()
        assert "http://" not in page.replace("http://localhost:8000/", "") and "https://" not in page
        description = json.loads((folder / "model.json").read_text())
        assert description["model"] == name and description["class_names"] == list(run.class_names)


@pytest.mark.slow
def test_the_export_refuses_int8_and_an_existing_folder_without_overwrite(exports, cli):
    run, result = exports["fastcnn"]
    code, _, err = cli("export", str(run.path), "--format", "web", "--quantize", "int8")
    assert code != 0 and "web is exported in float32" in err and "Traceback" not in err
    code, _, err = cli("export", str(run.path), "--format", "web")
    assert code != 0 and "already exists; pass --overwrite" in err
    code, _, err = cli("export", str(run.path), "--format", "web", "--overwrite", "--json")
    assert code == 0, err
    site = run.path.parent / "my-site"  # a folder of the user's own: never replaced
    site.mkdir()
    (site / "index.html").write_text("mine")
    code, _, err = cli("export", str(run.path), "--format", "web", "--out", str(site), "--overwrite")
    assert code != 0 and "is not a web export, so it will not be replaced" in err
    assert (site / "index.html").read_text() == "mine"


@pytest.mark.slow
def test_the_web_export_needs_only_the_core_install(exports, tmp_path):
    """No [export] or [serve] extra: their packages are made unimportable in a fresh interpreter."""
    import subprocess
    import sys

    run, _ = exports["fastcnn"]
    blocked = ["ai_edge_litert", "tf2onnx", "onnx", "onnxruntime", "fastapi", "uvicorn"]
    script = (f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
              "from cnnlab.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    answer = subprocess.run([sys.executable, "-c", script, "export", str(run.path), "--format", "web", "--out",
                             str(tmp_path / "site"), "--json"], capture_output=True, text=True, timeout=600)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["check"]["passed"]


# ==================================================================== in the browser


@contextlib.contextmanager
def _static_server(folder: Path):
    """A plain static file server (Python's http.server) for ``folder`` on 127.0.0.1; yields its base URL."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1000, "height": 760})
        yield context
        context.close()


@contextlib.contextmanager
def _opened(browser, url: str):
    """A new tab on ``url`` once the model is loaded; yields (page, every URL requested, page errors)."""
    page = browser.new_page()
    requests, errors = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(url)
        page.wait_for_function("document.body.dataset.ready !== '0'", timeout=60_000)
        yield page, requests, errors
    finally:
        page.close()


def _draw(page, points) -> None:
    """One mouse stroke through ``points`` (canvas coordinates 0..280)."""
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=10)
    page.mouse.up()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fastcnn", "digitcnn"])
def test_the_page_draws_and_answers_like_the_python_model(name, exports, browser, mnist):
    run, result = exports[name]
    pixels = _draw_and_compare(browser, Path(result["path"]), run, mnist.x_test[:200])
    _assert_mnist_like(pixels)


@pytest.mark.slow
def test_a_fashion_mnist_page_prepares_drawings_as_fashion_mnist_was_made(browser, fashion, cli, tmp_path):
    """The bundled Fashion-MNIST model: the drawing's longest side is scaled to 28 px and its box centred."""
    from cnnlab.pretrained import resolve_run
    from cnnlab.run import Run

    code, _, err = cli("export", "fashion-mnist", "--format", "web", "--out", str(tmp_path / "site"))
    assert code == 0, err
    pixels = _draw_and_compare(browser, tmp_path / "site", Run.load(resolve_run("fashion-mnist")), fashion.x_test[:200])
    rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
    assert (rows[0], rows[-1]) == (0, 27)  # the drawing is taller than wide: it fills the frame's height
    assert abs((cols[0] + cols[-1]) / 2 - 13.5) <= 1  # and its box is centred across


def _draw_and_compare(browser, folder: Path, run, images: np.ndarray) -> np.ndarray:
    """Serve ``folder``, draw a stroke, and check the page against the Python model (float32): the drawing's
    probabilities, label and class name, then ``images`` through the page's model; no request leaves the server.
    Returns the page's 28x28 input."""
    from cnnlab.evaluation import Predictor
    from cnnlab.export_web import reference_model

    predictor = Predictor(reference_model(run.load_model()))  # the Keras model itself when trained in float32
    with _static_server(folder) as base, _opened(browser, base) as (page, requests, errors):
        assert page.evaluate("document.body.dataset.ready") == "1", page.locator("#message").text_content()
        _draw(page, [(120, 60), (170, 55), (160, 140), (130, 230)])  # a "7"-like stroke
        page.wait_for_function("document.querySelector('#prediction').dataset.label !== ''", timeout=30_000)
        pixels = np.asarray(page.evaluate("window.cnnlabLastInput"), dtype=np.uint8)
        shown = np.asarray(page.evaluate("window.cnnlabLastProbabilities"), dtype=np.float32)
        label = int(page.locator("#prediction").get_attribute("data-label"))

        expected = predictor.probabilities(pixels.reshape(1, 28, 28))[0]
        assert np.abs(shown - expected).max() <= TOLERANCE
        assert label == int(expected.argmax()) == page.evaluate("window.cnnlabLastLabel")
        assert page.locator("#prediction").text_content() == run.class_names[label]

        in_page = np.asarray(page.evaluate("pixels => window.cnnlabPredict(pixels)", images.ravel().tolist()))
        assert np.abs(in_page - predictor.probabilities(images)).max() <= TOLERANCE
        assert not errors, errors
        assert requests and all(url.startswith(base) for url in requests), requests
    return pixels.reshape(28, 28)


def _assert_mnist_like(image: np.ndarray) -> None:
    """Drawn ink cropped, its longest side 20 px, its centre of mass at the frame's centre (within a pixel)."""
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 20
    mass = image.astype(np.float64)
    y, x = np.indices(image.shape)
    centre = ((y * mass).sum() / mass.sum(), (x * mass).sum() / mass.sum())
    assert abs(centre[0] - 14) <= 1 and abs(centre[1] - 14) <= 1, centre
    assert image.max() == 255


@pytest.mark.slow
def test_every_layer_kind_runs_the_same_in_the_browser(browser, mnist, tmp_path):
    """model.js against the Python model, layer kind by layer kind, with no training: a hand-built model."""
    from types import SimpleNamespace

    from cnnlab.evaluation import Predictor
    from cnnlab.export_web import write_web

    model = _every_layer_kind(np.random.default_rng(5))
    run = SimpleNamespace(config=SimpleNamespace(model="every-layer", dataset="mnist"), path=tmp_path / "run",
                          class_names=tuple("0123456789"), metrics=None)
    write_web(run, model, tmp_path / "site")
    images = mnist.x_test[:100]
    with _static_server(tmp_path / "site") as base, _opened(browser, base) as (page, _, errors):
        in_page = np.asarray(page.evaluate("pixels => window.cnnlabPredict(pixels)", images.ravel().tolist()))
        assert not errors, errors
    assert np.abs(in_page - Predictor(model).probabilities(images)).max() <= TOLERANCE


@pytest.mark.slow
def test_opened_from_a_file_the_page_says_to_serve_it_over_http(exports, browser):
    folder = Path(exports["fastcnn"][1]["path"])
    with _opened(browser, (folder / "index.html").as_uri()) as (page, _, _):
        assert page.evaluate("document.body.dataset.ready") == "error"
        assert "python -m http.server" in page.locator("#message").text_content()
