"""The house stays standing: imports flow one way between the four packages, and there is no
import cycle anywhere, function-level imports included."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGES = ("provenance", "generators", "detectors", "service")
# Lower index = lower layer; a module may import its own layer or lower ones.
LAYER = {name: index for index, name in enumerate(PACKAGES)}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            modules[module_name(path)] = path
    return modules


def resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every project module `name` imports, at any depth of its code."""

    def nearest_known(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve(name, path.name == "__init__.py", node)
            # `from pkg import module` names a module; `from module import name` does not.
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            module = nearest_known(target)
            if module is not None and module != name:
                found.add(module)
    return found


def import_graph() -> dict[str, set[str]]:
    known = project_modules()
    graph = {name: imported_modules(name, path, known) for name, path in known.items()}
    # A package's __init__ re-exporting its children is not a dependency of the children.
    for name in graph:
        graph[name] = {target for target in graph[name] if not name.startswith(target + ".")}
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{importer} -> {target}"
        for importer, targets in import_graph().items()
        for target in targets
        if LAYER[target.split(".")[0]] > LAYER[importer.split(".")[0]]
    ]
    assert upward == []


def test_there_is_no_import_cycle():
    assert strongly_connected(import_graph()) == []


def test_bias_library_imports_nothing_else_from_service():
    leaks = [
        f"{importer} -> {target}"
        for importer, targets in import_graph().items()
        if importer.startswith("service.bias")
        for target in targets
        if target.startswith("service.") and not target.startswith("service.bias")
    ]
    assert leaks == []


def test_the_analysis_sees_function_level_imports_and_cycles(tmp_path: Path):
    # The guard guards: an import inside a function body counts, and a cycle is found.
    hidden = tmp_path / "inference.py"
    hidden.write_text("def f():\n    from detectors import checkpoint\n    from . import spec\n")
    known = dict.fromkeys(["detectors.inference", "detectors.checkpoint", "detectors.spec"], hidden)
    assert imported_modules("detectors.inference", hidden, known) == {
        "detectors.checkpoint",
        "detectors.spec",
    }
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(graph) == [["a", "b", "c"]]
