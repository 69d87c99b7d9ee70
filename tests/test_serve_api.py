"""The HTTP API, in-process (FastAPI's TestClient): answers, limits, bad inputs, one model load."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from _photos import encode, ink_from_mnist, photograph, to_16bit_grey


@pytest.fixture(scope="module")
def loads():
    return []


@pytest.fixture(scope="module")
def client(tiny_run, loads):
    from fastapi.testclient import TestClient

    from cnnlab.serve.app import create_app
    from cnnlab.run import Run

    original = Run.load_model

    def counting(self, which="final"):
        loads.append(which)
        return original(self, which)

    Run.load_model = counting  # count model loads for the whole module
    try:
        app = create_app(tiny_run.path, allowed_hosts=["testserver"])  # the Host TestClient sends
    finally:
        Run.load_model = original
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def photo(mnist):
    return photograph(ink_from_mnist(mnist.x_test[0], 140), np.random.default_rng(3), size=(320, 240))


def _post(client, data: bytes, name="image", filename="x.png"):
    return client.post("/api/predict", files={name: (filename, data, "application/octet-stream")})


def test_health_model_docs_and_page(client, tiny_run):
    assert client.get("/api/health").json()["status"] == "ok"
    info = client.get("/api/model").json()
    assert info["model"] == tiny_run.config.model and info["class_names"] == list("0123456789")
    assert info["max_bytes"] == 5 * 1024 * 1024 and info["max_side"] == 4096
    assert info["run"] == tiny_run.path.name and client.get("/api/health").json()["run"] == tiny_run.path.name
    assert "/api/predict" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    for static in ("app.js", "style.css"):
        assert client.get(f"/static/{static}").status_code == 200


@pytest.mark.parametrize("fmt", ["png", "jpeg", "png16"])
def test_predict_answers(client, photo, fmt):
    data = {"png": lambda: encode(photo), "jpeg": lambda: encode(photo, "JPEG"),
            "png16": lambda: encode(to_16bit_grey(photo))}[fmt]()
    response = _post(client, data)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"label", "class_name", "probabilities", "preview"} <= set(body)
    assert len(body["probabilities"]) == 10 and sum(body["probabilities"]) == pytest.approx(1, abs=1e-4)
    assert body["label"] == int(np.argmax(body["probabilities"])) and body["class_name"] == str(body["label"])
    header, payload = body["preview"].split(",", 1)
    assert header == "data:image/png;base64"
    assert Image.open(io.BytesIO(base64.b64decode(payload))).size == (28, 28)


def test_the_same_image_gives_the_same_answer_as_the_library(client, tiny_run, photo):
    from cnnlab.images.preprocess import preprocess_image

    expected = tiny_run.load_model()(preprocess_image(photo).model_input[None]).numpy()
    body = _post(client, encode(photo)).json()
    assert body["label"] == int(expected.argmax())


@pytest.mark.parametrize("case, status, words", [
    ("empty", 400, "empty"),
    ("text", 400, "not an image"),
    ("truncated", 400, "damaged"),
    ("blank", 422, "no ink"),
    ("too-wide", 413, "4096"),
    ("too-big", 413, "5 MB"),
    ("wrong-field", 400, "'image'"),  # was 422; SERVING.md promises 400 for a body without the field (issue 24)
    ("json-body", 400, "'image'"),
    ("form-body", 400, "'image'"),
])
def test_bad_inputs_get_a_json_error_and_the_server_keeps_serving(client, photo, case, status, words):
    png = encode(photo)
    if case == "wrong-field":
        response = _post(client, png, name="file")
    elif case == "json-body":
        response = client.post("/api/predict", json={"image": "7"})
    elif case == "form-body":
        response = client.post("/api/predict", data={"image": "7"})
    else:
        data = {
            "empty": b"",
            "text": b"hello, this is not a picture",
            "truncated": png[: len(png) // 3],
            "blank": encode(Image.new("RGB", (200, 200), (240, 240, 240))),
            "too-wide": encode(Image.new("L", (4097, 8), 255)),
            "too-big": b"\0" * (5 * 1024 * 1024 + 1),
        }[case]
        response = _post(client, data)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert _post(client, png).status_code == 200  # still serving


@pytest.mark.parametrize("method, path, body, status, words", [
    ("GET", "/api/nope", None, 404, "no such endpoint: GET /api/nope"),
    ("GET", "/api/predict", None, 405, "GET /api/predict is not allowed"),
    ("POST", "/api/predict", b"not multipart at all", 400, "not valid multipart/form-data"),
])
def test_fastapis_own_refusals_use_the_same_error_form(client, method, path, body, status, words):
    """The documented contract: every refusal is {"error": "<one line>"}, FastAPI's {"detail"} ones included."""
    headers = {"content-type": "multipart/form-data; boundary=xx"} if body else {}
    response = client.request(method, path, content=body, headers=headers)
    assert response.status_code == status and set(response.json()) == {"error"}
    assert words in response.json()["error"]


def test_a_huge_body_is_refused_from_its_length(client):
    response = client.post("/api/predict", content=b"\0" * (6 * 1024 * 1024),
                           headers={"content-type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413 and "MB" in response.json()["error"]


def test_a_huge_streamed_body_is_refused_while_it_arrives(client):
    def chunks():  # a well-formed multipart upload, sent without Content-Length (chunked transfer)
        yield b'--x\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n\r\n'
        for _ in range(7):
            yield b"\0" * (1024 * 1024)
        yield b"\r\n--x--\r\n"
    headers = {"content-type": "multipart/form-data; boundary=x"}
    response = client.post("/api/predict", content=chunks(), headers=headers)
    assert response.status_code == 413, response.text


def test_the_model_is_loaded_once(client, photo, loads):
    for _ in range(3):
        assert _post(client, encode(photo)).status_code == 200
    assert loads == ["final"]


def test_not_a_run_is_refused(tmp_path):
    from cnnlab.errors import RunError
    from cnnlab.serve.app import create_app

    with pytest.raises(RunError):
        create_app(tmp_path)


def test_serve_command_refuses_a_taken_port(cli, tiny_run):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, out, err = cli("serve", str(tiny_run.path), "--port", str(port))
    assert code == 2 and "cannot listen" in err and err.count("\n") == 1
