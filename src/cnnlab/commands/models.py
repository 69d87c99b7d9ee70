"""``cnnlab models``: the registered networks with parameters and multiply-accumulates per image, then the
pretrained models bundled in the package."""

from __future__ import annotations

from cnnlab.commands._output import percent, print_json, print_table


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "models", help="list the registered networks and the bundled pretrained models",
        description="List every registered network with its parameters and multiply-accumulates per 28x28 image "
                    "at its default options, then the pretrained models shipped in the package: their names work "
                    "wherever a run directory does (cnnlab predict mnist photo.png).")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from cnnlab.models import list_models  # sizes from the shipped table: no TensorFlow for the built-in networks
    from cnnlab.pretrained import bundled_models

    models, pretrained = list_models(), bundled_models()
    if args.json:
        print_json({"models": [m.__dict__ for m in models], "pretrained": [p.__dict__ for p in pretrained]})
        return 0
    print_table([(m.name, m.params, m.macs, m.description) for m in models],
                ["model", "params", "MACs/image", "description"])
    print("\npretrained models (use the name as RUN):")
    print_table([(p.name, p.dataset, p.network, percent(p.test_accuracy), f"{p.size_bytes / 1024:.0f} KiB")
                 for p in pretrained], ["name", "dataset", "network", "test accuracy", "size"])
    return 0
