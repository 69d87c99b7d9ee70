"""``cnnlab data list | verify DATASET | fetch DATASET``."""

from __future__ import annotations

from cnnlab.commands._output import print_json, print_table
from cnnlab.errors import DataError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("data", help="list, verify and fetch datasets")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    for name, help_text in (("list", "the datasets cnnlab knows and where each was found"),
                            ("verify", "check every local copy of a dataset against its sha256"),
                            ("fetch", "put a verified copy in the cache (or --data-dir)")):
        sub = actions.add_parser(name, help=help_text, description=help_text)
        if name != "list":
            sub.add_argument("dataset", metavar="DATASET", help="mnist or fashion-mnist")
        sub.add_argument("--data-dir", metavar="DIR", help="a folder with the four IDX files (or to fetch into)")
        sub.add_argument("--json", action="store_true", help="print one JSON object")
        sub.set_defaults(handler=globals()[f"_{name}"])


def _list(args) -> int:
    from cnnlab.data.catalog import DATASETS
    from cnnlab.data.sources import survey_sources

    rows = []
    for spec in DATASETS.values():
        found = [r for r in survey_sources(spec.name, args.data_dir) if r.ok]
        rows.append({"name": spec.name, "title": spec.title, "classes": list(spec.class_names),
                     "license": spec.license, "available": bool(found),
                     "source": f"{found[0].source}: {found[0].location}" if found else None})
    if args.json:
        print_json({"datasets": rows})
    else:
        print_table([(r["name"], r["title"], r["source"] or "not found locally") for r in rows],
                    ["dataset", "title", "found at"])
    return 0


def _verify(args) -> int:
    from cnnlab.data.sources import survey_sources

    reports = survey_sources(args.dataset, args.data_dir)
    verified = any(r.ok for r in reports)
    if args.json:
        print_json({"dataset": args.dataset, "verified": verified,
                    "sources": [r.__dict__ for r in reports]})
    else:
        print_table([(r.source, r.location, "ok" if r.ok else r.detail) for r in reports],
                    ["source", "location", "result"])
    bad_explicit = [r for r in reports if r.source == "data-dir" and not r.ok]
    if bad_explicit:
        raise DataError(f"--data-dir {bad_explicit[0].location}: {bad_explicit[0].detail}")
    if not verified:
        raise DataError(f"no verified local copy of {args.dataset}; run 'cnnlab data fetch {args.dataset}'")
    return 0


def _fetch(args) -> int:
    from cnnlab.data.sources import fetch_dataset

    folder, origin = fetch_dataset(args.dataset, args.data_dir)
    if args.json:
        print_json({"dataset": args.dataset, "folder": str(folder), "origin": origin})
    else:
        print(f"{args.dataset}: verified copy in {folder} ({origin})")
    return 0
