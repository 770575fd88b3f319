"""The shape of the code base: small modules and no import cycles.

A cycle between modules is how a layered design quietly stops being one (the lower layer starts
needing the upper), and a module past a few hundred lines is where two concerns have grown
together. Both are read from the source with `ast`, so the check sees lazy imports inside
functions as well as the ones at the top; only imports made for type checking are left out,
since they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MAX_LINES = 800
# Data and history rather than code: the demo's name lists and the state migrations.
EXEMPT = ("manireports/state/migrations/versions/", "manireports/demo/names.py")


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (jobs/ is part of the package when installed)."""
    found: dict[str, Path] = {}
    for folder, prefix in (
        (REPO / "manireports", ("manireports",)),
        (REPO / "jobs", ("manireports", "jobs")),
    ):
        for path in folder.rglob("*.py"):
            parts = prefix + path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that can run: top level, in functions, in branches; not for TYPE_CHECKING."""

    def walk(nodes: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                yield from walk(node.orelse)
                continue
            if isinstance(node, ast.Import | ast.ImportFrom):
                yield node
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    yield from walk([child])

    yield from walk(tree.body)


def _edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names if alias.name in modules)
                continue
            if node.level:
                base = package[: len(package) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:
                    targets.add(submodule)
                elif source in modules:
                    targets.add(source)
        targets.discard(name)
        edges[name] = targets
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_no_import_cycles_inside_the_package() -> None:
    assert _cycles(_edges(_modules())) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    """The check itself can fail: a made-up pair that imports each other is one cycle."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import x\n"
        "def f():\n    from y import z\n"
    )
    assert [ast.unparse(node) for node in _imports(tree)] == [
        "from typing import TYPE_CHECKING",
        "from y import z",
    ]


def _code_files() -> list[str]:
    relative = (path.relative_to(REPO).as_posix() for path in _modules().values())
    return sorted(name for name in relative if not name.startswith(EXEMPT))


@pytest.mark.parametrize("relative", _code_files())
def test_module_is_at_most_800_lines(relative: str) -> None:
    lines = len((REPO / relative).read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{relative} has {lines} lines"
