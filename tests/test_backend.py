"""The backend selector (dualad.kernels.backend) and typed tape entries.

The selector's NumPy path and its compiled-kernel path must give the same numbers (strong zeros
included) on either side of the size threshold, and the threshold is defined in one place.
"""

import ast
import pathlib

import numpy as np
import pytest

import dualad
import dualad as ad
from dualad.kernels import backend
from dualad.reverse.tape import TapeEntry
from dualad.rules import UFUNC_RULES

ROOT = pathlib.Path(dualad.__file__).parent


def test_size_threshold_is_defined_once():
    """``SMALL`` is assigned in kernels/backend.py and nowhere else in dualad."""
    owners = []
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SMALL" for t in node.targets):
                owners.append(path.relative_to(ROOT).as_posix())
    assert owners == ["kernels/backend.py"]


@pytest.mark.parametrize("n", [3, backend.SMALL - 1, backend.SMALL, 3 * backend.SMALL])
@pytest.mark.parametrize("ufunc", [np.sin, np.multiply, np.divide, np.sqrt])
def test_push_and_pull_agree_with_the_rule_across_the_threshold(ufunc, n):
    rule = UFUNC_RULES[ufunc]
    rng = np.random.default_rng(0)
    xs = [rng.uniform(0.5, 2.0, n) for _ in range(rule.nin)]
    ts = [rng.standard_normal((2, n)) for _ in range(rule.nin)]
    y, ty = backend.push(rule, xs, ts, 2, np.dtype(np.float64))
    value, *partials = rule.evaluate(*xs)
    np.testing.assert_allclose(y, value, rtol=1e-14)
    np.testing.assert_allclose(ty, sum(p * t for p, t in zip(partials, ts)), rtol=1e-12)
    g = rng.standard_normal((3, n))
    contribs = backend.pull(rule, xs, g, [True] * rule.nin, None)
    for c, p in zip(contribs, partials):
        np.testing.assert_allclose(c, g * p, rtol=1e-12)


@pytest.mark.parametrize("n", [4, 4 * backend.SMALL])
def test_pull_keeps_strong_zeros_on_both_paths(n):
    """A zero cotangent against an infinite partial (sqrt at 0) contributes 0, not NaN."""
    rule = UFUNC_RULES[np.sqrt]
    x = np.zeros(n)
    g = np.zeros((1, n))
    with np.errstate(all="ignore"):  # as in the backward sweep: 1/0 is expected here
        (c,) = backend.pull(rule, [x], g, [True], None)
    assert np.array_equal(c, np.zeros((1, n)))


def test_pull_scalar_matches_pull():
    rule = UFUNC_RULES[np.multiply]
    x, y = np.float64(2.0), np.float64(-3.0)
    g = np.array([0.5])
    fast = backend.pull_scalar(rule, [x, y], g, [True, True])
    slow = backend.pull(rule, [x, y], g, [True, True], None)
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, np.reshape(b, (1,)))


def test_tape_entries_are_typed():
    tape = ad.Tape()
    x = tape.variable(np.array([0.5, 2.0]))
    np.sum(np.sin(x) * x)
    entries = tape.entries
    assert all(type(e) is TapeEntry for e in entries)
    assert [e.op.name for e in entries] == ["sin", "multiply", "sum"]
    assert entries[1].in_nodes == [entries[0].out_node, x.node]
    assert entries[2].out_shape == () and entries[0].out_shape == (2,)
