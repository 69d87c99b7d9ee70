"""Fetch the browser runtime that `cnnlab export RUN --format web` copies into its folder, with `npm pack`.

Run it from the repository root when the pinned versions change; it rewrites src/cnnlab/web/vendor/:

    python scripts/vendor_web_runtime.py

It takes the minified UMD bundles of TensorFlow.js core and its CPU backend (about 430 kB together) from the npm
registry, the Apache-2.0 licence they are published under (the npm tarballs carry no LICENSE file: the text
comes from Debian's /usr/share/common-licenses), and records each package's name, version and npm integrity
and each file's sha256 in vendor/manifest.json. The package then needs no network to export or to run a page.

The CPU backend's bundle names `seedrandom` as an external dependency; it is used only by random-number ops,
which the exported page never calls, so it is not vendored.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# package, version, files taken from its tarball (path inside the tarball -> name in vendor/)
PACKAGES = (
    ("@tensorflow/tfjs-core", "4.22.0", {"package/dist/tf-core.min.js": "tf-core.min.js"}),
    ("@tensorflow/tfjs-backend-cpu", "4.22.0", {"package/dist/tf-backend-cpu.min.js": "tf-backend-cpu.min.js"}),
)
LICENSE_SOURCE = Path("/usr/share/common-licenses/Apache-2.0")
LICENSE_FILE = "LICENSE-tfjs.txt"
VENDOR = Path(__file__).resolve().parents[1] / "src" / "cnnlab" / "web" / "vendor"


def main() -> int:
    if shutil.which("npm") is None:
        sys.exit("npm is not installed; install Node.js (apt-get install npm) and run this again")
    if not LICENSE_SOURCE.is_file():
        sys.exit(f"{LICENSE_SOURCE} is missing (Debian's base-files has it); put the Apache-2.0 text there")
    VENDOR.mkdir(parents=True, exist_ok=True)
    records = []
    with tempfile.TemporaryDirectory(prefix="cnnlab-vendor-") as scratch:
        for name, version, files in PACKAGES:
            records.append(_vendor(name, version, files, Path(scratch)))
    _write_license([record["package"] for record in records])
    manifest = {"packages": records, "license": {"file": LICENSE_FILE, "sha256": _sha256(VENDOR / LICENSE_FILE)},
                "made_by": "scripts/vendor_web_runtime.py"}
    (VENDOR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum(path.stat().st_size for path in VENDOR.iterdir())
    print(f"wrote {VENDOR} ({total / 1e3:.0f} kB)")
    return 0


def _vendor(name: str, version: str, files: dict[str, str], scratch: Path) -> dict:
    spec = f"{name}@{version}"
    answer = subprocess.run(["npm", "pack", spec, "--json", "--pack-destination", str(scratch)],
                            check=True, capture_output=True, text=True)
    packed = json.loads(answer.stdout)[0]
    with tarfile.open(scratch / packed["filename"]) as archive:
        license_name = json.load(archive.extractfile("package/package.json"))["license"]
        for inner, outer in files.items():
            (VENDOR / outer).write_bytes(archive.extractfile(inner).read())
    return {"package": name, "version": version, "license": license_name, "npm_integrity": packed["integrity"],
            "files": [{"file": outer, "from": inner.removeprefix("package/"), "sha256": _sha256(VENDOR / outer)}
                      for inner, outer in files.items()]}


def _write_license(packages: list[str]) -> None:
    header = (f"{', '.join(packages)} (TensorFlow.js), copyright Google LLC, are licensed under the Apache\n"
              "License, Version 2.0 (each bundle's own header says so); their npm packages carry no LICENSE\n"
              "file, so the licence's text follows.\n\n")
    (VENDOR / LICENSE_FILE).write_text(header + LICENSE_SOURCE.read_text())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    sys.exit(main())
