"""The import graph of the project: the layers as the architecture draws them, and no import cycle.

- `xdscore` (the protocol core) imports nothing of ours; `xdsservice` (service plumbing) only the core; the
  actors (registry, repository, audit sink) the core and the plumbing, never each other (the one exception:
  the registry mounts the DMP actor's services, `dmp`, which knows nothing of the registry); clients and tools
  neither the servers nor the tests; `bench` reaches services through `harness`, never `tests`.
- No cycle between modules (imports at module level; an import inside a function is deliberately lazy and
  is only held to the package rules).
Read from the source with `ast`, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> the packages of ours it may import (anything not listed is refused)
ALLOWED: dict[str, set[str]] = {
    "xdscore": set(),
    "xdsservice": {"xdscore"},
    "registry": {"xdscore", "xdsservice", "dmp"},  # the registry serves the DMP actor's services (dmp/app.py)
    "dmp": {"xdscore", "xdsservice"},  # the DMP actor: reaches the registry only through dmp.ports
    "repository": {"xdscore", "xdsservice"},
    "audit": {"xdscore", "xdsservice"},
    "xuatool": {"xdscore"},
    "xdsclient": {"xdscore", "xuatool"},
    "conformance": {"xdscore", "xuatool"},
    "harness": {"xdscore", "xuatool"},
    "bench": {"xdscore", "xdsservice", "xuatool", "xdsclient", "harness", "registry", "repository", "audit", "dmp"},
}
OURS = {*ALLOWED, "tests"}
# sub-packages with a wider reach than their package: the fuzz harness feeds the actors' parsers in process
# (hypothesis needs thousands of inputs a second; over HTTP it checks the served path separately)
ALLOWED_SUBPACKAGES: dict[str, set[str]] = {
    "harness.fuzz": ALLOWED["harness"] | {"xdsservice", "registry", "repository", "audit"},
}


def modules() -> Iterator[tuple[str, Path]]:
    for package in ALLOWED:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imports(path: Path, module_level_only: bool) -> set[str]:
    """Our modules `path` imports (for `from a.b import c`: a.b, and a.b.c when that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {name for name in found if name.split(".")[0] in OURS}


def test_every_package_imports_only_what_its_layer_allows() -> None:
    wrong = []
    for module, path in modules():
        package = module.split(".")[0]
        allowed = next((extra for sub, extra in ALLOWED_SUBPACKAGES.items()
                        if module == sub or module.startswith(sub + ".")), ALLOWED[package])
        for name in sorted(imports(path, module_level_only=False)):
            target = name.split(".")[0]
            if target != package and target not in allowed:
                wrong.append(f"{module} imports {name}")
    assert wrong == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by depth-first search (one per back edge)."""
    found, state, stack = [], dict.fromkeys(graph, 0), []

    def visit(node: str) -> None:
        state[node], _ = 1, stack.append(node)
        for nxt in sorted(graph[node]):
            if state[nxt] == 1:
                found.append([*stack[stack.index(nxt):], nxt])
            elif state[nxt] == 0:
                visit(nxt)
        state[node], _ = 2, stack.pop()

    for node in sorted(graph):
        if state[node] == 0:
            visit(node)
    return found


def test_no_module_imports_itself_back() -> None:
    names = dict(modules())
    graph = {m: {n for n in imports(p, module_level_only=True) if n in names and n != m} for m, p in names.items()}
    assert cycles(graph) == []


def test_no_cycle_between_packages() -> None:
    graph = {package: set(allowed) & set(ALLOWED) for package, allowed in ALLOWED.items()}
    assert cycles(graph) == []


@pytest.mark.parametrize(("graph", "expected"), [
    ({"a": {"b"}, "b": {"a"}}, [["a", "b", "a"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
])
def test_the_cycle_finder_finds_cycles(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected
