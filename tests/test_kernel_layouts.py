"""Every rule through every kernel layout: one lane, blocked lanes, and wide (many lanes over few
elements), forward and adjoint, against single-direction runs of the small NumPy path."""

import numpy as np
import pytest
from helpers import TABLE_RULES as RULES  # dualad's own rules (SciPy's: test_rule_sweep)

import dualad as ad
from dualad import kernels
from dualad.kernels import backend
from dualad.rules.arith import pull_terms


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


# --- rules that are not holomorphic, on complex values: their Wirtinger kernels -------------------

WIRTINGER = [name for name, rule in RULES.items() if rule.wirtinger is not None]


@pytest.mark.parametrize("name", WIRTINGER)
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("n,m,g_kind", [(300, 1, "full"), (300, 1, "broadcast"), (300, 7, "full"), (9000, 3, "full"), (9000, 3, "broadcast")])
def test_wirtinger_kernels_match_numpy_evaluation(name, dtype, n, m, g_kind):
    """``ȳ ∂ + conj(ȳ ∂̄)`` from the compiled kernel (every layout, written and added into a
    buffer) against the same declaration evaluated by NumPy on whole arrays; z = 0 and ȳ = 0
    included (strong zeros)."""
    rule = RULES[name]
    rng = np.random.default_rng(3)
    z = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dtype)
    # tiny and huge moduli (a subnormal one for complex128: complex64 partials there overflow in
    # float32 arithmetic, which the kernels do in float64)
    z[:3] = [0.0, 1e-310, 2.0**600 - 3j] if dtype == np.complex128 else [0.0, 1e-30, 2.0**100 - 3j]
    z[3] = np.inf
    complex_out = np.iscomplexobj(rule.evaluate(z)[0])
    g = rng.standard_normal((m, 1 if g_kind == "broadcast" else n)) + (1j * rng.standard_normal(1) if complex_out else 0.0)
    g = g.astype(dtype if complex_out else np.finfo(dtype).dtype)
    if g_kind == "broadcast":
        g = np.broadcast_to(g, (m, n))
    else:
        g[:, 5] = 0.0
    want = np.asarray(pull_terms(rule, [z], g, [True])[0], dtype=np.complex128)
    assert kernels.compiles_wirtinger(rule)
    (got,) = backend.pull_wirtinger(rule, [z], g, [True], None)
    buf = (rng.standard_normal((m, n)) + 1j * rng.standard_normal((m, n))).astype(got.dtype)
    start = buf.copy()
    (added,) = backend.pull_wirtinger(rule, [z], g, [True], [buf])
    assert added is buf and got.dtype == np.result_type(g.dtype, np.complex64)
    tol = 1e-5 if dtype == np.complex64 else 1e-13
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(added - start, want, rtol=tol, atol=tol)


def test_kernel_modulus_is_numpys_abs():
    """The complex modulus the Wirtinger kernels compile (in place of Numba's slow hypot) agrees
    with NumPy's ``abs`` from tiny to huge values (no overflow or underflow in between), and at
    0, a subnormal and infinities."""
    rng = np.random.default_rng(5)
    scale = 10.0 ** rng.uniform(-300, 300, 4000)
    z = scale * (rng.standard_normal(4000) + 1j * rng.standard_normal(4000))
    z = np.concatenate([z, [0, 1e-320, 1e-320j, 1e308 + 1e308j, np.inf, complex(np.inf, np.inf), -3 + 4j]])
    d = backend.pull_wirtinger(RULES["absolute"], [z], np.ones((1, z.size)), [True], None)[0][0]
    # ∂|z|·1 + conj(∂̄|z|·1) = conj(z) / |z| (0 at 0), of modulus 1 wherever |z| is finite
    finite = np.isfinite(z) & (z != 0)
    np.testing.assert_allclose(np.abs(d[finite]), 1.0, rtol=1e-15)
    a = np.abs(z[finite])
    np.testing.assert_allclose(d[finite].real, z[finite].real / a, rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(d[finite].imag, -z[finite].imag / a, rtol=1e-15, atol=1e-300)
    assert d[z == 0] == 0 and d[-1] == (-3 - 4j) / 5 and d[-6] == 1 and d[-5] == -1j
