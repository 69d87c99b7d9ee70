"""The OpenAPI schema says what the server does: every status with the ``{"error"}`` body, real 200 schemas;
then schemathesis against a real ``cnnlab serve`` process with every check it has (``--checks all``), a few
hundred generated requests, and no server error, no undocumented status, no answer that breaks the schema."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _servers import serving

# The schema can say "a file in the field 'image'", not "a decodable image with a digit on it": for data the
# schema calls valid, the server's documented image refusals are right answers, not rejections of valid data.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "413", "422"]
"""


@pytest.fixture(scope="module")
def server(tiny_run):
    with serving(tiny_run.path) as running:
        yield running


def test_the_schema_documents_every_answer(server):
    status, schema = server.get("/openapi.json")
    assert status == 200
    text = json.dumps(schema)
    assert "HTTPValidationError" not in text and '"detail"' not in text
    error_ref = "#/components/schemas/ErrorBody"
    assert schema["components"]["schemas"]["ErrorBody"]["required"] == ["error"]
    predict = schema["paths"]["/api/predict"]["post"]["responses"]
    assert set(predict) == {"200", "400", "403", "408", "413", "422", "503"}
    for code, answer in predict.items():
        ref = answer["content"]["application/json"]["schema"]["$ref"]
        assert ref == ("#/components/schemas/Prediction" if code == "200" else error_ref), code
    prediction = schema["components"]["schemas"]["Prediction"]
    assert set(prediction["required"]) == {"label", "class_name", "confidence", "probabilities", "preview",
                                           "inverted"}
    for path, model in (("/api/health", "Health"), ("/api/model", "ModelInfo")):
        answers = schema["paths"][path]["get"]["responses"]
        assert set(answers) == {"200", "400", "503"}
        assert answers["200"]["content"]["application/json"]["schema"]["$ref"] == f"#/components/schemas/{model}"
        assert answers["400"]["content"]["application/json"]["schema"]["$ref"] == error_ref


def test_schemathesis_finds_nothing(server, tmp_path):
    pytest.importorskip("schemathesis")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
               f"{server.url}/openapi.json", "--checks", "all", "--max-examples", "300", "--seed", "24",
               "--workers", "2", "--no-color", "--report-dir", str(tmp_path / "report")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout, done.stdout[-3000:]
    log = server.log()
    assert "Traceback" not in log and "Exception" not in log, log[-3000:]
