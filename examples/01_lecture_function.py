"""The lecture function y = ln x1 + x1 x2 − sin x2 at (x1, x2) = (2, 5), worked both ways.

Prints the value, the gradient in forward mode (one pass per input direction) and in reverse
mode (one backward sweep for both inputs, also PyTorch style), and the three traces of the
lecture notes: the forward primal trace, the forward tangent trace for ẋ = (1, 0) and the
reverse adjoint trace.  Writes the computation graph as SVG when Graphviz is installed.

Run: ``python examples/01_lecture_function.py [OUTPUT_DIR]`` (default: the current folder)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import dualad as ad
from dualad.explain import trace


def f(x1, x2):
    """ln x1 + x1 x2 − sin x2, one elementary operation per line as in the lecture."""
    v1 = np.log(x1)
    v2 = x1 * x2
    v3 = np.sin(x2)
    v4 = v1 + v2
    return v4 - v3


def main(small: bool = False, out: str | Path | None = None) -> dict:
    """Run the example; ``small`` changes nothing here (it is already tiny)."""
    x1, x2 = 2.0, 5.0
    y = f(x1, x2)
    print(f"y = f({x1:g}, {x2:g}) = {y:.6f}")

    # Forward mode: one pass per input direction gives one partial derivative each.
    _, dy_dx1 = ad.jvp(f, (x1, x2), (1.0, 0.0))
    _, dy_dx2 = ad.jvp(f, (x1, x2), (0.0, 1.0))
    print(f"forward mode:  ∂y/∂x1 = {float(dy_dx1):.6f}   ∂y/∂x2 = {float(dy_dx2):.6f}   (two passes)")

    # Reverse mode: one backward sweep gives the whole gradient.
    g1, g2 = ad.grad(f, argnums=(0, 1))(x1, x2)
    print(f"reverse mode:  ∂y/∂x1 = {float(g1):.6f}   ∂y/∂x2 = {float(g2):.6f}   (one sweep)")

    # The same sweep, PyTorch style.
    a, b = ad.Variable(x1), ad.Variable(x2)
    f(a, b).backward()
    print(f"Variable.backward(): x1.grad = {float(a.grad):.6f}   x2.grad = {float(b.grad):.6f}")

    print()
    t = trace(f, x1, x2)
    print(t)

    graph = None
    out_dir = Path(out) if out is not None else Path.cwd()  # where the user runs it
    try:
        graph = t.render(out_dir / "lecture_graph.svg")
        print(f"\ncomputation graph written to {graph}")
    except RuntimeError as e:  # Graphviz is optional
        print(f"\n(no graph drawn: {e})")
    return {
        "value": float(y),
        "forward": (float(dy_dx1), float(dy_dx2)),
        "reverse": (float(g1), float(g2)),
        "variable": (float(a.grad), float(b.grad)),
        "trace": t,
        "graph": graph,
    }


if __name__ == "__main__":
    main(out=sys.argv[1] if len(sys.argv) > 1 else None)
