"""One module per CLI command. Each defines ``add_parser(subparsers)`` and ``run(args) -> int``.

``cli.py`` wires them up in the order of ``COMMANDS``; adding a command is one module and one line there.
"""
