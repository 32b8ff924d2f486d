"""The layout keeps to the architecture (docs/architecture.md), read from the source itself.

- Layers: rules → kernels → core → forward / reverse → transforms / explain → the top
  (``functions``, ``optim``, ``__init__``).  A module imports only from its own layer or below,
  lazy imports inside functions included.
- No import circles between dualad's modules, lazy imports included.
- No underscore-prefixed name is imported from another dualad module.
- No function body is longer than 80 lines (docstring excluded).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "dualad"

LAYERS = {
    "rules": 0,
    "kernels": 1,
    "core": 2,
    "forward": 3,
    "reverse": 3,
    "transforms": 4,
    "explain": 4,
}
TOP = 5  # dualad/__init__.py, functions.py, optim.py and other top-level modules
MAX_BODY = 80


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    return {_module_name(p): (p, ast.parse(p.read_text(), str(p))) for p in sorted(ROOT.rglob("*.py"))}


MODULES = _modules()


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in LAYERS:
        return LAYERS[parts[1]]
    return TOP


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str | None:
    if node.level == 0:
        return node.module if node.module and node.module.split(".")[0] == "dualad" else None
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every dualad import in ``module``."""
    path, tree = MODULES[module]
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names if a.name.split(".")[0] == "dualad"]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node, is_package)
            if target is None:
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in MODULES:  # `from . import device`: the submodule itself
                    found.append((sub, None, node.lineno))
                else:
                    found.append((target, a.name, node.lineno))
    return found


def _edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for target, _, _ in _imports(m):
            if target in MODULES and target != m and not m.startswith(target + "."):
                graph[m].add(target)  # a package's own __init__ is not a dependency of its parts
    return graph


def test_no_upward_imports():
    bad = []
    for m in MODULES:
        for target, name, line in _imports(m):
            if target in MODULES and _layer(target) > _layer(m):
                bad.append(f"{m}:{line} imports {target}{'.' + name if name else ''} (layer {_layer(target)} > {_layer(m)})")
    assert not bad, "imports that go up a layer:\n" + "\n".join(bad)


def test_no_import_circles():
    graph = _edges()
    state: dict[str, int] = {}
    cycles = []

    def visit(m, stack):
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert not cycles, "import circles:\n" + "\n".join(cycles)


def test_no_private_names_imported_across_modules():
    bad = [
        f"{m}:{line} imports {name} from {target}"
        for m in MODULES
        for target, name, line in _imports(m)
        if name is not None and name.startswith("_") and target != m
    ]
    assert not bad, "underscore names imported from another module:\n" + "\n".join(bad)


def _body_length(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = fn.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        if len(body) == 1:
            return 0
        first = body[1]
    return fn.end_lineno - first.lineno + 1


def test_no_long_functions():
    long = []
    for m, (path, tree) in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_length(node) > MAX_BODY:
                long.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name} ({_body_length(node)} lines)")
    assert not long, f"function bodies over {MAX_BODY} lines:\n" + "\n".join(long)


@pytest.mark.parametrize("module", ["dualad.transforms.jacobian", "dualad.reverse.tape"])
def test_the_checks_see_imports(module):
    """The reader finds imports at all (a check that finds nothing would pass vacuously)."""
    assert _imports(module)
    assert any(_edges().values())
