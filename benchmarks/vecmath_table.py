"""Per-element cost and accuracy of the kernels' vectorisable transcendental functions (issue 18).

For each of ``exp``, ``log``, ``log1p``, ``expm1``, ``sin``, ``cos``, ``tanh`` and each float
dtype, on ``n`` = 1e6 points of a typical range: ns per element of NumPy's ufunc, of a Numba
loop calling ``math.<name>`` (what a kernel compiled before :mod:`dualad.rules.vecmath`), and of
a Numba loop calling the vectorisable version; process CPU time, minimum of ``--repeat`` runs.
Then the largest error in ulps against NumPy over a dense sweep, log-spaced magnitudes and
random bit patterns.  Run from the repository root::

    python -m benchmarks.vecmath_table
"""

from __future__ import annotations

import argparse
import math
import time

import numba
import numpy as np

from dualad.rules import vecmath

from .timing import best_of

RANGES = {"exp": (-5, 5), "log": (0.01, 100), "log1p": (-0.5, 10), "expm1": (-5, 5), "sin": (-10, 10), "cos": (-10, 10), "tanh": (-5, 5)}


def _loop(f):
    @numba.njit(error_model="numpy")
    def apply(a, out):
        for i in range(a.shape[0]):
            out[i] = f(a[i])

    return apply


def _best(fn, repeat: int) -> float:
    return best_of(fn, repeat, time.process_time)


def _max_ulp(apply, name: str) -> float:
    rng = np.random.default_rng(0)
    mags = np.logspace(-323, 308, 100_000)
    bits = rng.integers(0, 2**63, 200_000, dtype=np.int64).view(np.float64)
    x = np.concatenate([np.linspace(*RANGES[name], 200_001), mags, -mags, bits, -bits])
    out = np.empty_like(x)
    apply(x, out)
    with np.errstate(all="ignore"):
        ref = getattr(np, name)(x)
    a, b = out.view(np.int64), ref.view(np.int64)
    a = np.where(a < 0, np.iinfo(np.int64).min - a, a)
    b = np.where(b < 0, np.iinfo(np.int64).min - b, b)
    d = np.abs(a - b).astype(np.float64)
    d[np.isnan(out) & np.isnan(ref)] = 0.0
    return float(d.max())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    print(f"{'function':9s} {'dtype':8s} {'NumPy':>7s} {'math.*':>7s} {'vecmath':>8s}  max ulp   (ns per element)")
    for dtype in (np.float64, np.float32):
        for name in vecmath.FUNCTIONS:
            x = np.random.default_rng(1).uniform(*RANGES[name], args.n).astype(dtype)
            out = np.empty_like(x)
            libm, vec = _loop(getattr(math, name)), _loop(vecmath.kernel_function(name))
            libm(x, out)
            vec(x, out)
            ufunc = getattr(np, name)
            cost = [_best(run, args.repeat) / args.n * 1e9 for run in (lambda: ufunc(x, out=out), lambda: libm(x, out), lambda: vec(x, out))]
            ulp = _max_ulp(vec, name) if dtype is np.float64 else float("nan")
            print(f"{name:9s} {np.dtype(dtype).name:8s} {cost[0]:7.2f} {cost[1]:7.2f} {cost[2]:8.2f}  {ulp:7.0f}")


if __name__ == "__main__":
    main()
