"""dualad.trace: the lecture's evaluation, tangent and adjoint traces, reproduced exactly.

The reference is the worked example of Baydin et al. (seed lecture notes 004): f(x1, x2) =
ln x1 + x1 x2 − sin x2 at (2, 5), with the tangent trace for ẋ = (1, 0).
"""

from __future__ import annotations

import re
import shutil
import sys
import unicodedata

import numpy as np
import pytest

import dualad as ad
from dualad.explain.trace import Trace, summarize, trace

trace_module = sys.modules["dualad.explain.trace"]  # the package's ``trace`` is the function


def nfc(x):
    """Text compared in Unicode NFC (ẋ and ȳ have precomposed forms, v̇ and x̄ do not)."""
    if isinstance(x, str):
        return unicodedata.normalize("NFC", x)
    return type(x)(nfc(v) for v in x)


def lecture(x1, x2):
    v1 = np.log(x1)
    v2 = x1 * x2
    v3 = np.sin(x2)
    v4 = v1 + v2
    return v4 - v3


@pytest.fixture(scope="module")
def t():
    return trace(lecture, 2.0, 5.0)


# The lecture's tables, row by row: (lhs, expression, numbers substituted, value).
PRIMAL = [
    ("v₋₁", "x₁", "", "2"),
    ("v₀", "x₂", "", "5"),
    ("v₁", "ln v₋₁", "ln 2", "0.693"),
    ("v₂", "v₋₁ × v₀", "2 × 5", "10"),
    ("v₃", "sin v₀", "sin 5", "-0.959"),
    ("v₄", "v₁ + v₂", "0.693 + 10", "10.693"),
    ("v₅", "v₄ − v₃", "10.693 + 0.959", "11.652"),
    ("y", "v₅", "", "11.652"),
]
TANGENT = [
    ("v̇₋₁", "ẋ₁", "", "1"),
    ("v̇₀", "ẋ₂", "", "0"),
    ("v̇₁", "v̇₋₁ / v₋₁", "1 / 2", "0.5"),
    ("v̇₂", "v̇₋₁ × v₀ + v̇₀ × v₋₁", "1 × 5 + 0 × 2", "5"),
    ("v̇₃", "v̇₀ × cos v₀", "0 × cos 5", "0"),
    ("v̇₄", "v̇₁ + v̇₂", "0.5 + 5", "5.5"),
    ("v̇₅", "v̇₄ − v̇₃", "5.5 − 0", "5.5"),
    ("ẏ", "v̇₅", "", "5.5"),
]
ADJOINT = [
    ("v̄₅", "ȳ", "", "1"),
    ("v̄₄", "v̄₅ ∂v₅/∂v₄", "v̄₅ × 1", "1"),
    ("v̄₃", "v̄₅ ∂v₅/∂v₃", "v̄₅ × (−1)", "-1"),
    ("v̄₁", "v̄₄ ∂v₄/∂v₁", "v̄₄ × 1", "1"),
    ("v̄₂", "v̄₄ ∂v₄/∂v₂", "v̄₄ × 1", "1"),
    ("v̄₀", "v̄₃ ∂v₃/∂v₀", "v̄₃ × cos v₀", "-0.284"),
    ("v̄₋₁", "v̄₂ ∂v₂/∂v₋₁", "v̄₂ × v₀", "5"),
    ("v̄₀", "v̄₀ + v̄₂ ∂v₂/∂v₀", "v̄₀ + v̄₂ × v₋₁", "1.716"),
    ("v̄₋₁", "v̄₋₁ + v̄₁ ∂v₁/∂v₋₁", "v̄₋₁ + v̄₁ / v₋₁", "5.5"),
    ("x̄₁", "v̄₋₁", "", "5.5"),
    ("x̄₂", "v̄₀", "", "1.716"),
]


def test_lecture_primal_trace(t):
    assert t.primal_rows == nfc(PRIMAL)


def test_lecture_tangent_trace(t):
    assert t.tangent_rows == nfc(TANGENT)


def test_lecture_adjoint_trace(t):
    assert t.adjoint_rows == nfc(ADJOINT)


def test_lecture_numbers_match_the_notes(t):
    # The numbers printed in the lecture notes (seeds/004), in their order.
    assert [r[3] for r in t.primal_rows] == ["2", "5", "0.693", "10", "-0.959", "10.693", "11.652", "11.652"]
    assert [r[3] for r in t.adjoint_rows] == ["1", "1", "-1", "1", "1", "-0.284", "5", "1.716", "5.5", "5.5", "1.716"]
    assert float(t.value) == pytest.approx(11.652071455223084)
    assert float(t.tangent) == 5.5
    assert float(t.grad[0]) == 5.5 and float(t.grad[1]) == pytest.approx(2.0 - np.cos(5.0))


def test_printed_tables_are_aligned(t):
    text = str(t)
    assert text.startswith("Trace of lecture(x₁, x₂) at x₁ = 2, x₂ = 5")
    for heading in ("Forward primal trace", "Forward tangent trace (ẋ₁ = 1, ẋ₂ = 0)", "Reverse adjoint trace (ȳ = 1)"):
        assert nfc(heading) in text
    for table in (t.primal_table(), t.tangent_table(), t.adjoint_table()):
        lines = table.splitlines()
        # The value column ("= value" at the end) starts at the same display column on every line.
        cols = {trace_module._width(line[: line.rindex("= ")]) for line in lines}
        assert len(cols) == 1, table
    assert nfc("v₅  = v₄ − v₃  = 10.693 + 0.959 = 11.652") in text
    assert nfc("v̄₀  = v̄₀ + v̄₂ ∂v₂/∂v₀   = v̄₀ + v̄₂ × v₋₁  = 1.716") in text


def test_one_line_lecture_function_records_in_python_order():
    # Python evaluates ln x1 + x1 x2 first, then sin x2: the same numbers, numbered in that order.
    t = trace(lambda x1, x2: np.log(x1) + x1 * x2 - np.sin(x2), 2.0, 5.0)
    assert [r[1] for r in t.primal_rows[2:7]] == ["ln v₋₁", "v₋₁ × v₀", "v₁ + v₂", "sin v₀", "v₃ − v₄"]
    assert t.primal_rows[-1][3] == "11.652"
    assert t.adjoint_rows[-2:] == nfc([("x̄₁", "v̄₋₁", "", "5.5"), ("x̄₂", "v̄₀", "", "1.716")])


def test_direction_and_hvp(t):
    t2 = trace(lecture, 2.0, 5.0, direction=(0.0, 1.0))
    assert float(t2.tangent) == pytest.approx(2.0 - np.cos(5.0))
    assert t2.tangent_rows[0] == nfc(("v̇₋₁", "ẋ₁", "", "0"))
    # The adjoint sweep ran on dual numbers: its tangents are a Hessian-vector product.
    H = ad.hessian(lambda x: lecture(x[0], x[1]))(np.array([2.0, 5.0]))
    np.testing.assert_allclose([float(h) for h in t.hvp], H @ [1.0, 0.0])
    np.testing.assert_allclose([float(h) for h in t2.hvp], H @ [0.0, 1.0])


def g(x, W):
    return np.sum(np.tanh(W @ x) ** 2) + x[0] * 3.0


def test_arrays_are_summarised_and_derivatives_exact():
    x = np.array([1.0, 2.0, 3.0])
    W = np.arange(6.0).reshape(2, 3) / 10
    v = np.array([0.5, -1.0, 2.0])
    t = trace(g, x, W, direction=(v, np.zeros_like(W)))
    np.testing.assert_allclose(t.grad[0], ad.grad(g)(x, W))
    np.testing.assert_allclose(t.grad[1], ad.grad(g, argnums=1)(x, W))
    np.testing.assert_allclose(t.tangent, ad.jvp(g, (x, W), (v, np.zeros_like(W)))[1])
    np.testing.assert_allclose(t.hvp[0], ad.hvp(lambda x: g(x, W), x, v))
    assert t.primal_rows[0] == ("v₋₁", "x₁", "", "(3,) [1, 2, 3]")
    assert t.primal_rows[1] == ("v₀", "x₂", "", "(2, 3) [0, 0.1, 0.2, …, 0.5]")
    # Array rows have no "numbers substituted" column; scalar rows keep it.
    text = str(t)
    assert "tanh v" in text and nfc("(1 − tanh² v") in text
    scalar_rows = [r for r in t.primal_rows if r[2]]
    assert scalar_rows and all(not r[3].startswith("(") for r in scalar_rows)
    assert t.adjoint_rows[-2][0] == nfc("x̄₁")
    assert t.adjoint_rows[-2][3] == summarize(t.grad[0])


def test_array_output_with_cotangent():
    x = np.array([0.0, 1.0, 2.0])
    ct = np.array([1.0, 2.0, 3.0])
    t = trace(np.sin, x, cotangent=ct)
    np.testing.assert_allclose(t.grad[0], ct * np.cos(x))
    assert nfc("ȳ = (3,) [1, 2, 3]") in str(t)
    with pytest.raises(ValueError, match="cotangent shape"):
        trace(np.sin, x, cotangent=np.ones(2))


def test_summarize():
    assert summarize(2.0) == "2"
    assert summarize(np.log(2.0)) == "0.693"
    assert summarize(-0.0) == "0"
    assert summarize(1e-7) == "1e-07"
    assert summarize(np.inf) == "inf"
    assert summarize(np.arange(4.0)) == "(4,) [0, 1, 2, 3]"
    assert summarize(np.arange(10.0)) == "(10,) [0, 1, 2, …, 9]"
    assert summarize(np.ones((2, 0))) == "(2, 0) []"


def test_float32_and_integer_inputs():
    t = trace(lambda x: np.sum(x * x), np.array([1.0, 2.0], dtype=np.float32))
    assert t.grad[0].dtype == np.float32
    np.testing.assert_allclose(t.grad[0], [2.0, 4.0])
    t = trace(lambda x: x * x, 3)
    assert float(t.grad[0]) == 6.0


def test_edge_cases():
    t = trace(lambda x: x, 3.0)  # the output is the input
    assert float(t.grad[0]) == 1.0 and t.primal_rows[-1] == ("y", "v₀", "", "3")
    t = trace(lambda x: np.float64(2.0), 3.0)  # constant output
    assert float(t.grad[0]) == 0.0 and float(t.tangent) == 0.0
    t = trace(lambda x: ad.relu(x) * x, 3.0)  # a rule without a text template
    assert t.tangent_rows[1] == nfc(("v̇₁", "v̇₀ × relu′(v₀)", "1 × 1", "1"))
    assert float(t.grad[0]) == 6.0
    with pytest.raises(TypeError, match="one array"):
        trace(lambda x: (x, x), 1.0)
    with pytest.raises(TypeError, match="at least one"):
        trace(np.sin)
    with pytest.raises(TypeError, match="callable"):
        trace(3.0, 1.0)
    with pytest.raises(ValueError, match="one tangent per argument"):
        trace(lecture, 2.0, 5.0, direction=(1.0,))
    with pytest.raises(TypeError, match="plain arrays"):
        trace(np.sin, ad.Dual(1.0, 1.0))


def test_trace_leaves_no_state_behind():
    # Hand-made Duals and Variables are unaffected by a trace running in between.
    d = ad.Dual(2.0, 1.0)
    t = trace(lambda x: x * d, 3.0)  # a Dual of another tag is a constant to the trace
    assert float(t.grad[0]) == 2.0
    assert float((d * d).tangent) == 4.0


# -- the graph -------------------------------------------------------------------------------


def test_dot_text(t):
    dot = t.to_dot()
    assert dot.startswith("digraph trace {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    nodes = set(re.findall(r"^\s+(n\d+) \[label=", dot, flags=re.M))
    assert len(nodes) == 2 + 5  # two inputs, five operations
    edges = re.findall(r"^\s+(n\d+) -> (n\d+|y)", dot, flags=re.M)
    assert len(edges) == 8 + 1  # each operation's operands, and the output
    for text in ("x₁ = v₋₁", "v₁ = ln v₋₁", "v₂ = v₋₁ × v₀", "v₅ = v₄ − v₃", "11.652", "doublecircle"):
        assert nfc(text) in dot
    assert nfc('label="∂ 0.5"') in dot  # ∂v₁/∂v₋₁ = 1/2 on the edge
    plain = t.to_dot(values=False)
    assert "11.652" not in plain and nfc("v₁ = ln v₋₁") in plain


def test_dot_constants_and_quotes():
    t = trace(lambda x: np.sum(x * 2.0) + np.ones(2) @ x, np.array([1.0, 2.0]))
    dot = t.to_dot()
    assert "shape=plaintext" in dot and "style=dashed" in dot
    assert '\\"' not in dot or dot.count('"') % 2 == 0


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_render(t, tmp_path, fmt):
    path = t.render(tmp_path / f"lecture.{fmt}")
    data = path.read_bytes()
    assert data.startswith(b"<?xml") or b"<svg" in data[:500] if fmt == "svg" else data.startswith(b"\x89PNG")


def test_render_without_graphviz(t, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # the Python package: import fails
    monkeypatch.setattr(trace_module.shutil, "which", lambda name: None)  # no dot program
    with pytest.raises(RuntimeError, match=r"dualad\[graphviz\]"):
        t.render(tmp_path / "g.svg")
    with pytest.raises(ValueError, match="unsupported format"):
        t.render(tmp_path / "g.gif")


def test_trace_type(t):
    assert isinstance(t, Trace)
    assert repr(t) == str(t)


def test_closed_over_arrays_stay_writable():
    W = np.ones((2, 2))
    t = trace(lambda x: np.sum(W @ x), np.array([1.0, 2.0]))
    W[0, 0] = 5.0  # the trace is made: the caller may write into its arrays again
    np.testing.assert_allclose(t.grad[0], [2.0, 2.0])
