"""Every rule through every kernel layout: one lane, blocked lanes, and wide (many lanes over few
elements), forward and adjoint, against single-direction runs of the small NumPy path."""

import numpy as np
import pytest
from helpers import TABLE_RULES as RULES  # dualad's own rules (SciPy's: test_rule_sweep)

import dualad as ad
from dualad import kernels


def _points(rule, n, rng, dtype):
    return [rng.uniform(lo, hi, size=n).astype(dtype) for lo, hi in rule.domain]


# Every rule in float64; float32 compiles the same loops, so a few rules cover it (each kernel
# variant compiles once per dtype, which is what makes the full product slow on a cold cache).
CASES = [(name, np.float64) for name in RULES] + [(name, np.float32) for name in ("sin", "multiply", "maximum", "clip")]


@pytest.mark.parametrize("name,dtype", CASES, ids=[f"{n}-{np.dtype(d).name}" for n, d in CASES])
@pytest.mark.parametrize("n,k", [(40, 40), (9000, 3)], ids=["wide", "block"])
def test_kernel_layouts_match_numpy_evaluation(name, dtype, n, k):
    rule = RULES[name]
    rng = np.random.default_rng(7)
    xs = _points(rule, n, rng, dtype)
    ts = [rng.standard_normal((k, n)).astype(dtype) for _ in xs]
    y, ty = kernels.jvp(rule, xs, ts, np.dtype(dtype))
    with np.errstate(all="ignore"):
        outs = rule.fn(*[x.astype(np.float64) for x in xs])
    want = np.zeros((k, n))
    for p, t in zip(outs[1:], ts):
        want += np.asarray(p, dtype=np.float64) * t
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, np.asarray(outs[0], dtype=np.float64), rtol=tol, atol=tol)
    np.testing.assert_allclose(ty, want, rtol=tol, atol=tol * 10)
    g = rng.standard_normal((k, n)).astype(dtype)
    cs = kernels.vjp(rule, xs, g, [True] * rule.nin, np.dtype(dtype))
    for c, p in zip(cs, outs[1:]):
        np.testing.assert_allclose(c, g * np.asarray(p, dtype=np.float64), rtol=tol, atol=tol * 10)


def test_wide_jacobians_agree_across_modes():
    x = np.random.default_rng(1).uniform(0.2, 1.5, 60)
    f = lambda x: np.sin(x) * np.log(x) + np.sqrt(x) / (1.0 + x**2)
    np.testing.assert_allclose(ad.jacfwd(f)(x), ad.jacrev(f)(x), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(ad.jacfwd(f)(x), ad.jacfwd(f, chunk_size=1)(x), rtol=1e-13, atol=1e-14)
