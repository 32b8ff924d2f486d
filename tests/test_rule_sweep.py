"""Every elementwise rule in the table, every input, checked against finite differences.

A rule is tested just by being declared: the parametrisation walks ``dualad.rules.RULES`` and
reads each declaration (its domain, the inputs it is differentiable in, its dtypes).  The small
sweep stays below the kernel threshold (NumPy evaluation of the rule); the large sweep runs
every rule on arrays above it, so forward and reverse mode go through the compiled kernels.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from scipy import special

import dualad as ad
from dualad.kernels import cpu
from dualad.rules import FUNCTION_RULES, IMPLEMENTATIONS, RULES, UFUNC_RULES, elementwise

SHAPES = {
    "scalar": lambda nin: [()] * nin,
    "vector": lambda nin: [(5,)] * nin,
    "broadcast": lambda nin: [(3, 1)] + [(4,)] * (nin - 1),
}
TOL = {np.float64: dict(rtol=1e-6, atol=1e-6), np.float32: dict(rtol=1e-3, atol=1e-3)}
TOL[np.complex128], TOL[np.complex64] = TOL[np.float64], TOL[np.float32]
STEP = 1e-6
CASES = [(rule, dt.type) for rule in RULES.values() for dt in rule.dtypes if dt.kind == "f"]
IDS = [f"{np.dtype(dt).name}-{rule.name}" for rule, dt in CASES]
COMPLEX_CASES = [(rule, dt.type) for rule in RULES.values() for dt in rule.dtypes if dt.kind == "c"]
COMPLEX_IDS = [f"{np.dtype(dt).name}-{rule.name}" for rule, dt in COMPLEX_CASES]


def _points(rule, shapes, dtype, seed_extra: str):
    """Points of the rule's domain; complex ones get an imaginary part of 0.2 to 0.7 either way
    (off the real axis, where NumPy's branch cuts lie, and away from the kinks of |z|)."""
    rng = np.random.default_rng(zlib.crc32(f"{rule.name}/{seed_extra}".encode()))
    out = []
    for (lo, hi), shape in zip(rule.domain, shapes):
        x = rng.uniform(lo, hi, size=shape)
        if np.dtype(dtype).kind == "c":
            x = x + 1j * rng.uniform(0.2, 0.7, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        out.append(np.asarray(x, dtype=dtype))
    return out


def test_declarations_are_complete():
    """Every rule says what it differentiates, how traces print it and its opcode."""
    for k, rule in enumerate(RULES.values()):
        assert rule.opcode == k
        assert set(rule.argnums) <= set(range(rule.nin)) and rule.argnums
        assert rule.dtypes and all(np.dtype(d).kind in "fc" for d in rule.dtypes)
        assert rule.wirtinger is None or rule.takes_complex, f"{rule.name}: Wirtinger partials of a real-only rule"
        assert rule.function is not None or rule.name in ("relu", "sigmoid", "softplus")
        assert rule.text is not None or rule.name == "relu", f"{rule.name}: no trace text"


@pytest.mark.parametrize("shape_kind", list(SHAPES))
@pytest.mark.parametrize("rule,dtype", CASES, ids=IDS)
def test_rule_forward_derivative(rule, dtype, shape_kind):
    nin = rule.nin
    assert len(rule.domain) == nin
    shapes = SHAPES[shape_kind](nin)
    xs = _points(rule, shapes, dtype, shape_kind)
    xs64 = [x.astype(np.float64) for x in xs]
    out_shape = np.broadcast_shapes(*shapes)
    f = lambda *a: rule(*a)  # noqa: E731

    # reference value, in float64 on the same points
    with np.errstate(all="ignore"):
        ref = np.asarray(rule(*xs64), dtype=np.float64)

    for i in rule.argnums:
        tangents = tuple(np.full(x.shape, 1.0 if j == i else 0.0, dtype=dtype) for j, x in enumerate(xs))
        y, ydot = ad.jvp(f, tuple(xs), tangents)
        y, ydot = np.asarray(y), np.asarray(ydot)
        assert y.dtype == dtype, f"{rule.name}: value dtype {y.dtype}, inputs {np.dtype(dtype)}"
        assert ydot.dtype == dtype, f"{rule.name}: tangent dtype {ydot.dtype}, inputs {np.dtype(dtype)}"
        assert y.shape == out_shape and ydot.shape == out_shape
        np.testing.assert_allclose(y, ref, **TOL[dtype], err_msg=f"{rule.name}: value")

        plus = [x.copy() for x in xs64]
        minus = [x.copy() for x in xs64]
        plus[i] = plus[i] + STEP
        minus[i] = minus[i] - STEP
        with np.errstate(all="ignore"):
            fd = (np.asarray(rule(*plus), np.float64) - np.asarray(rule(*minus), np.float64)) / (2 * STEP)
        fd = np.broadcast_to(fd, out_shape)
        np.testing.assert_allclose(
            ydot.astype(np.float64), fd, **TOL[dtype], err_msg=f"{rule.name}: d/dx{i} ({shape_kind}, {np.dtype(dtype)})"
        )


def _fd(rule, xs, i, d, step=STEP):
    """Central difference of the rule's value along direction ``d`` of input i (complex128)."""
    plus, minus = list(xs), list(xs)
    plus[i], minus[i] = xs[i] + step * d, xs[i] - step * d
    with np.errstate(all="ignore"):
        return (np.asarray(rule(*plus), np.complex128) - np.asarray(rule(*minus), np.complex128)) / (2 * step)


@pytest.mark.parametrize("shape_kind", ["vector", "broadcast"])
@pytest.mark.parametrize("rule,dtype", COMPLEX_CASES, ids=COMPLEX_IDS)
def test_rule_complex_derivative(rule, dtype, shape_kind):
    """Complex inputs: forward mode along a real and an imaginary direction against central
    differences (the real-linear derivative: ``f'(z)`` and ``i f'(z)`` when holomorphic),
    reverse mode as its plain transpose (``Re Σ ȳ·ẏ = Re Σ x̄·ẋ``), and one nesting level
    (the jvp of the pullback against differences of the pullback)."""
    shapes = SHAPES[shape_kind](rule.nin)
    xs = _points(rule, shapes, dtype, shape_kind)
    x128 = [x.astype(np.complex128) for x in xs]
    out_shape = np.broadcast_shapes(*shapes)
    tol = TOL[dtype]
    f = lambda *a: rule(*a)  # noqa: E731
    y, pullback = ad.vjp(f, *xs)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(np.asarray(y), np.asarray(rule(*x128)), **tol, err_msg=f"{rule.name}: value")
    rng = np.random.default_rng(zlib.crc32(rule.name.encode()))
    gbar = (rng.uniform(0.5, 1.5, out_shape) + 1j * rng.uniform(-1, 1, out_shape)).astype(dtype)
    if np.asarray(y).dtype.kind != "c":
        gbar = gbar.real  # a real output (abs, real, imag, angle) takes a real cotangent
    bars = pullback(gbar)
    for i in rule.argnums:
        for d in (1.0, 1j):
            tangents = tuple(np.full(x.shape, d if j == i else 0.0, dtype=dtype) for j, x in enumerate(xs))
            _, ydot = ad.jvp(f, tuple(xs), tangents)
            fd = np.broadcast_to(_fd(rule, x128, i, d), out_shape)
            np.testing.assert_allclose(np.asarray(ydot), fd, **tol, err_msg=f"{rule.name}: d/dx{i} along {d} ({np.dtype(dtype)})")
            lhs = np.real(np.sum(gbar * np.asarray(ydot)))
            rhs = np.real(np.sum(np.asarray(bars[i]) * tangents[i]))
            np.testing.assert_allclose(lhs, rhs, **tol, err_msg=f"{rule.name}: reverse is not the transpose of forward")
    # nesting: forward over reverse, the pullback differentiated along v against differences
    i = rule.argnums[0]
    v = np.full(xs[i].shape, 0.6 - 0.8j, dtype=dtype)

    def pulled(xi):
        args = list(xs)
        args[i] = xi
        return ad.vjp(f, *args)[1](gbar)[i]

    _, hv = ad.jvp(pulled, (xs[i],), (v,))
    with np.errstate(all="ignore"):
        h = 1e-5
        fd2 = (np.asarray(pulled(x128[i] + h * v), np.complex128) - np.asarray(pulled(x128[i] - h * v), np.complex128)) / (2 * h)
    np.testing.assert_allclose(np.asarray(hv), fd2, rtol=max(tol["rtol"], 1e-5), atol=max(tol["atol"], 1e-5),
                               err_msg=f"{rule.name}: second order (forward over reverse)")


# --- above the kernel threshold -------------------------------------------------------------------

#: Larger than the size (256) from which value types call the compiled kernels.
LARGE = 384
# Every rule in float64, both modes; float32 compiles the same loops, so a few rules cover it
# (each kernel compiles once per rule, pattern and dtype: the full product is slow on a cold cache).
LARGE_CASES = [(name, np.float64) for name in RULES] + [(name, np.float32) for name in ("multiply", "tanh", "power", "clip")]
# complex: every rule that takes complex values; complex64 compiles the same loops
LARGE_CASES += [(name, np.complex128) for name, r in RULES.items() if r.takes_complex]
LARGE_CASES += [(name, np.complex64) for name in ("multiply", "exp", "power")]


def _kernel_built(rule, kind: str, complex_: bool = False) -> bool:
    return any(key[0] == rule.name and key[2] == kind and (key[3][-1] == "complex") == complex_ for key in cpu._KERNELS)


def _check_large(rule, dtype, n: int = LARGE):
    """Forward mode against central differences along one random direction of all inputs, and
    reverse mode against forward mode element by element (Σ_i x̄_i ⊙ ẋ_i = ȳ ⊙ ẏ)."""
    rng = np.random.default_rng(zlib.crc32(f"{rule.name}/large".encode()))
    cplx = np.dtype(dtype).kind == "c"
    wide = np.complex128 if cplx else np.float64
    xs = _points(rule, [(n,)] * rule.nin, dtype, "large")
    ts = [rng.uniform(-1.0, 1.0, size=n) + (1j * rng.uniform(-1.0, 1.0, size=n) if cplx else 0.0) for _ in range(rule.nin)]
    ts = [t.astype(dtype) if i in rule.argnums else np.zeros(n, dtype) for i, t in enumerate(ts)]
    f = lambda *a: rule(*a)  # noqa: E731
    y, ydot = (np.asarray(v) for v in ad.jvp(f, tuple(xs), tuple(ts)))
    real_out = cplx and y.dtype.kind != "c"  # abs, real, imag, angle
    assert (y.dtype == dtype or real_out) and ydot.dtype == y.dtype and ydot.shape == (n,)
    x64, t64 = [x.astype(wide) for x in xs], [t.astype(wide) for t in ts]
    ref = np.asarray(rule.evaluate(*x64)[0], wide)
    plus = rule.evaluate(*[x + STEP * t for x, t in zip(x64, t64)])[0]
    minus = rule.evaluate(*[x - STEP * t for x, t in zip(x64, t64)])[0]
    fd = (np.asarray(plus, wide) - np.asarray(minus, wide)) / (2 * STEP)
    np.testing.assert_allclose(y, ref, **TOL[dtype], err_msg=f"{rule.name}: value ({n} elements)")
    np.testing.assert_allclose(ydot.astype(wide), fd, **TOL[dtype], err_msg=f"{rule.name}: forward vs FD ({n} elements)")
    _, pullback = ad.vjp(f, *xs)
    g = rng.uniform(0.5, 1.5, size=n) + (1j * rng.uniform(-1.0, 1.0, size=n) if cplx and not real_out else 0.0)
    g = g.astype(y.dtype)
    bars = pullback(g)
    lhs = sum(np.asarray(b, wide) * t for b, t in zip(bars, t64))
    rhs = g * ydot.astype(wide)
    if rule.wirtinger is not None and cplx:  # not holomorphic: the transpose for the real pairing
        lhs, rhs = lhs.real, rhs.real
    np.testing.assert_allclose(lhs, rhs, **TOL[dtype], err_msg=f"{rule.name}: reverse vs forward ({n} elements)")
    kernels = not cplx or (rule.wirtinger is None and cpu.compiles_complex(rule))
    if any(p is None for p in rule.constant_partials) and kernels:  # constant partials only scale: no kernel
        assert _kernel_built(rule, "jvp", cplx) and _kernel_built(rule, "vjp", cplx), f"{rule.name}: the kernels were not used"


@pytest.mark.parametrize("name,dtype", LARGE_CASES, ids=[f"{n}-{np.dtype(d).name}" for n, d in LARGE_CASES])
def test_rule_through_kernels(name, dtype):
    _check_large(RULES[name], dtype)


# --- a declaration is all a function needs ----------------------------------------------------------


@pytest.fixture
def declared():
    """Declare rules for the test only: removed from every table afterwards."""
    before = (dict(RULES), dict(UFUNC_RULES), dict(FUNCTION_RULES), dict(IMPLEMENTATIONS))
    yield elementwise
    for table, saved in zip((RULES, UFUNC_RULES, FUNCTION_RULES, IMPLEMENTATIONS), before):
        table.clear()
        table.update(saved)


_TWO_OVER_SQRT_PI = 1.1283791670955126


def test_scipy_ufunc_rule_with_a_scalar_implementation(declared):
    """scipy.special.erf does not compile in Numba; ``scalar=math.erf`` is what the kernels call.
    Dispatch finds the rule through ``__array_ufunc__``, no handler written."""

    @declared(special.erf, scalar=math.erf, text=("erf {a}", ("((2/√π) × exp(−{a}²))",)))
    def erf(x):
        return special.erf(x), _TWO_OVER_SQRT_PI * np.exp(-x * x)

    assert erf.kernel_fn is not erf.fn and erf.kernel_fn.__code__ is erf.fn.__code__
    x = np.linspace(-2.0, 2.0, 1000)
    g = ad.grad(lambda x: np.sum(special.erf(x)))(x)
    np.testing.assert_allclose(g, _TWO_OVER_SQRT_PI * np.exp(-x * x), rtol=1e-13)
    assert _kernel_built(erf, "vjp")
    _check_large(erf, np.float64, n=1000)
    small = ad.grad(lambda x: np.sum(special.erf(x)))(x[:2])  # the NumPy path agrees
    np.testing.assert_allclose(small, g[:2], rtol=1e-15)
    assert "erf" in ad.trace(lambda x: special.erf(x) * x, 0.5).primal_rows[1][1]


def test_numpy_function_rule_without_a_handler(declared):
    """np.sinc is no ufunc: its declaration routes it through ``__array_function__``.  (dualad
    declares np.sinc itself; the test declares its own in its place, the fixture restores it.)"""
    RULES.pop("sinc", None)
    FUNCTION_RULES.pop(np.sinc, None)

    @declared(np.sinc, domain=((0.3, 2.0),), nondiff="smooth; sinc'(0) = 0", text=("sinc {a}", None))
    def sinc(x):
        d = x + (x == 0)
        return np.sinc(x), (np.cos(np.pi * x) - np.sinc(x)) / d * (x != 0)

    x = np.linspace(0.3, 2.0, 400)
    g = ad.grad(lambda x: np.sum(np.sinc(x)))(x)
    want = (np.cos(np.pi * x) - np.sinc(x)) / x
    np.testing.assert_allclose(g, want, rtol=1e-12)
    assert float(ad.grad(lambda x: np.sinc(x))(0.0)) == 0.0  # the declared convention at 0
    _check_large(sinc, np.float64)


# A ctypes pointer is a dynamic global: Numba compiles such a kernel per process, uncached.
@pytest.mark.filterwarnings("ignore:Cannot cache compiled function")
def test_native_binding_in_the_scalar_slot(declared):
    """The ``scalar=`` slot takes a binding to a compiled native function: SciPy's own C
    implementation of erfc (``scipy.special.cython_special``), called from the kernels."""
    ctypes = pytest.importorskip("ctypes")
    numba = pytest.importorskip("numba")
    from numba.extending import get_cython_function_address

    addr = get_cython_function_address("scipy.special.cython_special", "__pyx_fuse_1erfc")
    c_erfc = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double, ctypes.c_int)(addr)

    @numba.njit
    def native_erfc(x):
        return c_erfc(x, 0)  # (double x, int skip_dispatch)

    @declared(special.erfc, scalar=native_erfc)
    def erfc(x):
        return special.erfc(x), -_TWO_OVER_SQRT_PI * np.exp(-x * x)

    x = np.linspace(-2.0, 2.0, 1000)
    y, ydot = ad.jvp(lambda x: special.erfc(x), (x,), (np.ones_like(x),))
    np.testing.assert_allclose(y, special.erfc(x), rtol=1e-15)
    np.testing.assert_allclose(ydot, -_TWO_OVER_SQRT_PI * np.exp(-x * x), rtol=1e-13)
    assert _kernel_built(erfc, "jvp")
