"""The package's shape: no import cycles, no benchmark code, a registry that is a leaf."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cnnlab"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imported(node: ast.AST, module: str, is_package: bool, known: set[str]) -> list[str]:
    """The cnnlab modules one import statement names (a ``from X import name`` of a submodule names it)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in known]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:  # relative: resolve against this module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    targets = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
    return targets or ([base] if base in known else [])


def import_graph() -> dict[str, set[str]]:
    """Module -> the cnnlab modules it imports anywhere in its source (top level, functions, TYPE_CHECKING)."""
    modules = _modules()
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[name] = {target for node in ast.walk(tree)
                       for target in _imported(node, name, is_package, known) if target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 30 and any(graph.values())  # the walk found the package and its imports
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_imports_inside_functions_are_walked(tmp_path):
    source = "def f():\n    from cnnlab.run import Run\n"
    tree = ast.parse(source)
    names = {t for node in ast.walk(tree) for t in _imported(node, "cnnlab.x", False, {"cnnlab.run"})}
    assert names == {"cnnlab.run"}


def test_the_model_registry_imports_nothing_of_the_zoo():
    assert "cnnlab.models.zoo" not in import_graph()["cnnlab.models.registry"]


@pytest.mark.parametrize("needle", ["compat.v1", "cnnlab.bench", "cnnlab_bench"])
def test_the_package_holds_no_benchmark_code(needle):
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if needle in p.read_text()]
    assert not offenders, f"{needle!r} in {offenders}"
    assert not (PACKAGE / "bench").exists()
