#!/usr/bin/env bash
# The package as a new user gets it: build the sdist and the wheel, install the wheel with its core requirements
# only into a fresh virtual environment, and use it from a folder outside the repository.
# Usage: .ci/wheel_smoke.sh [PYTHON]   (default python3; building uses the repository's .venv, made by make setup)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { printf 'wheel smoke test FAILED: %s\n' "$*" >&2; exit 1; }

step "build the sdist and the wheel"
"$repo/.venv/bin/python" -m build --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; fail "build"; }
ls "$work/dist"

step "install the wheel, core only, into a fresh virtual environment"
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$work"/dist/cnnlab-*.whl
for package in fastapi uvicorn onnx onnxruntime tf2onnx ai-edge-litert mlflow-skinny playwright tensorflow-cpu; do
    if "$work/venv/bin/pip" show --quiet "$package" >/dev/null 2>&1; then fail "the core install brought $package"; fi
done
export PATH="$work/venv/bin:$PATH"

mkdir "$work/elsewhere" && cd "$work/elsewhere"  # no repository, no src/ on the path: only the installed wheel
step "cnnlab --help, models, data verify"
cnnlab --help >/dev/null
cnnlab models
cnnlab data verify mnist

step "train one epoch on 2,000 images"
cnnlab train --recipe fast --epochs 1 --limit 2000 --run-dir run --quiet
test -f run/model.keras -a -f run/MODEL_CARD.md || fail "the run has no model.keras or MODEL_CARD.md"

step "predict a test image written here"
python - <<'PY'
from PIL import Image
from cnnlab.data.sources import load_dataset

data = load_dataset("mnist", download=False)
Image.fromarray(data.x_test[0].reshape(28, 28)).save("digit.png")  # the test set's first image: a 7
print("wrote digit.png, label", int(data.y_test[0]))
PY
for model in run mnist; do  # the run just trained, and the pretrained model bundled in the wheel
    cnnlab predict "$model" digit.png --json >"predict-$model.json"
    python -c "import json, sys; p = json.load(open(sys.argv[1]))['predictions'][0]; \
print(sys.argv[2], 'says', p['label'], 'with probability', round(p['confidence'], 3))" "predict-$model.json" "$model"
done
python -c "import json; assert json.load(open('predict-mnist.json'))['predictions'][0]['label'] == 7" \
    || fail "the bundled mnist model did not read the 7"

step "commands that need an extra say which"
for command in "serve run:serve" "export run --format onnx:export"; do
    argv="${command%%:*}" extra="${command##*:}"
    set +e; message="$(cnnlab $argv 2>&1 >/dev/null)"; code=$?; set -e
    echo "cnnlab $argv -> exit $code: $message"
    [ "$code" -eq 2 ] || fail "cnnlab $argv exited $code, not 2"
    case "$message" in *"pip install 'cnnlab[$extra]'"*) ;; *) fail "cnnlab $argv did not name the $extra extra" ;; esac
    case "$message" in *Traceback*) fail "cnnlab $argv printed a traceback" ;; esac
done
printf '\nwheel smoke test passed\n'
