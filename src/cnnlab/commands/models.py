"""``cnnlab models``: the registered networks with parameters and multiply-accumulates per image."""

from __future__ import annotations

from cnnlab.commands._output import print_json, print_table


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "models", help="list the registered networks",
        description="List every registered network with its parameters and multiply-accumulates per 28x28 image "
                    "at its default options.")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from cnnlab.models import list_models  # sizes from the shipped table: no TensorFlow for the built-in networks

    models = list_models()
    if args.json:
        print_json({"models": [m.__dict__ for m in models]})
        return 0
    print_table([(m.name, m.params, m.macs, m.description) for m in models],
                ["model", "params", "MACs/image", "description"])
    return 0
