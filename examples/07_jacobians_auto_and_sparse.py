"""Jacobians with the mode picked for you, and a sparse Jacobian by colouring.

A tall function (8 inputs, 2000 outputs) and a wide one (2000 inputs, 8 outputs), both written
as ``tanh(A @ x) * (B @ sin(x))``: ``dualad.jacobian(f, mode="auto")`` measures both modes once and
picks forward for the tall one, reverse for the wide one (``jac.decision`` says why).  Then a
banded function whose Jacobian is tridiagonal: ``sparsity="auto"`` finds the pattern, colours the
columns (3 colours, whatever n is) and returns a ``scipy.sparse`` matrix from 3 lanes.

Run: ``python examples/07_jacobians_auto_and_sparse.py``
"""

from __future__ import annotations

import time

import numpy as np

import dualad as ad
from dualad.transforms.sparsity import color_columns


def make(n: int, m: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(n)
    B = rng.standard_normal((m, n)) / np.sqrt(n)
    return (lambda x: np.tanh(A @ x) * (B @ np.sin(x))), rng.standard_normal(n)


def banded(x):
    """A 1-D stencil: each output depends on its neighbours only."""
    inner = x[1:-1] ** 2 - x[:-2] * np.sin(x[2:])
    return np.concatenate([x[:1], inner, x[-1:] ** 3])


def timed(fn, repeat: int = 5) -> float:
    fn()
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(small: bool = False) -> dict:
    n_big = 400 if small else 2000
    out = {}
    for name, (n, m) in {"tall": (8, n_big), "wide": (n_big, 8)}.items():
        f, x = make(n, m)
        jac = ad.jacobian(f)  # mode="auto"
        J = jac(x)
        ref = ad.jacfwd(f)(x)
        assert np.allclose(J, ref, rtol=1e-12, atol=1e-14)
        times = {mode: timed(lambda mode=mode: ad.jacobian(f, mode=mode)(x)) for mode in ("forward", "reverse")}
        t_auto = timed(lambda: jac(x))
        print(f"{name:4} {n}->{m}: auto chose {jac.decision.mode:7}  auto {t_auto * 1e3:7.3f} ms   "
              f"forward {times['forward'] * 1e3:7.3f} ms   reverse {times['reverse'] * 1e3:7.3f} ms")
        out[name] = {"mode": jac.decision.mode, "auto": t_auto, **times}

    n = 1000 if small else 100_000
    x = np.linspace(-1.0, 1.0, n)
    S = ad.jacobian(banded, sparsity="auto")(x)
    dense_check = ad.jacfwd(banded)(x[:50])
    S_small = ad.jacobian(banded, sparsity="auto")(x[:50])
    assert np.allclose(S_small.toarray(), dense_check, rtol=1e-13, atol=0)
    pattern = ad.jacobian_sparsity(banded, x)
    _, n_colours = color_columns(pattern)
    print(f"sparse {n}x{n} tridiagonal Jacobian: {S.nnz} nonzeros from {n_colours} forward lanes "
          f"(one per colour), returned as {type(S).__name__}")
    out["sparse"] = {"nnz": int(S.nnz), "shape": S.shape, "colours": int(n_colours)}
    return out


if __name__ == "__main__":
    main()
