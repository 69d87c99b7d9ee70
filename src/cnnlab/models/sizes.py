"""Write ``sizes.json``: the parameters and multiply-accumulates per image of every built-in network at its
default options, so ``cnnlab models`` lists them without building a network (or importing TensorFlow).

Regenerate it after changing or adding a network in ``zoo.py`` (a test fails until then)::

    python -m cnnlab.models.sizes
"""

from __future__ import annotations

import json

from cnnlab.models import registry


def measure_sizes() -> dict[str, dict[str, int]]:
    """Build every built-in network once: name -> ``{"params": ..., "macs": ...}``."""
    return {name: registry.measure_size(name) for name in registry.builtin_model_names()}


def sizes_document(sizes: dict[str, dict[str, int]]) -> str:
    """The text of ``sizes.json`` for ``sizes``."""
    document = {"generated_by": "python -m cnnlab.models.sizes", "models": sizes}
    return json.dumps(document, indent=2) + "\n"


def main() -> None:
    from cnnlab.fileio import atomic_write_text

    atomic_write_text(registry.SIZES_FILE, sizes_document(measure_sizes()))
    print(f"wrote {registry.SIZES_FILE}")


if __name__ == "__main__":
    main()
