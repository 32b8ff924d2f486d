"""The transforms package keeps to its layout (issue 14): no import circles among its modules,
no underscore-prefixed name imported from another dualad module, no function body over 80
lines, and every module says in a docstring what it holds."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "dualad" / "transforms"
MODULES = sorted(p for p in ROOT.glob("*.py") if p.name != "__init__.py")


def _tree(p):
    return ast.parse(p.read_text(encoding="utf-8"))


def _local_imports(p):
    """(module imported, names) for every ``from .x import ...`` inside the transforms package."""
    for node in ast.walk(_tree(p)):
        if isinstance(node, ast.ImportFrom) and node.level:
            yield node.level, node.module, [a.name for a in node.names]


def test_no_import_circles_among_transforms():
    names = {p.stem for p in MODULES}
    edges = {p.stem: {mod for level, mod, _ in _local_imports(p) if level == 1 and mod in names} for p in MODULES}
    state: dict = {}

    def visit(u, path):
        state[u] = "open"
        for v in edges[u]:
            if state.get(v) == "open":
                pytest.fail(f"import circle: {' -> '.join(path[path.index(v):] + [v])}")
            if v not in state:
                visit(v, path + [v])
        state[u] = "done"

    for m in sorted(names):
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_private_names_imported_across_modules(path):
    private = [(mod, n) for _, mod, ns in _local_imports(path) for n in ns if n.startswith("_") and not n.startswith("__")]
    assert not private, f"{path.name} imports private names {private}; give them public package-internal names"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_function_bodies_at_most_80_lines(path):
    long = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                body = body[1:]
            if body and body[-1].end_lineno - body[0].lineno + 1 > 80:
                long.append((node.name, body[-1].end_lineno - body[0].lineno + 1))
    assert not long, f"{path.name}: function bodies over 80 lines: {long}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_every_module_has_a_docstring(path):
    assert ast.get_docstring(_tree(path)), f"{path.name} has no module docstring"
