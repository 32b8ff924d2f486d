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
import dualad.rules.special  # noqa: F401  (SciPy's rules join the table: the sweep runs them too)
from dualad.kernels import cpu
from dualad.rules import FUNCTION_RULES, IMPLEMENTATIONS, RULES, UFUNC_RULES, elementwise
from dualad.rules.derive import costly_partials

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


def _draw(rng, lo, hi, size):
    """Points of one input's domain: integers where its bounds are ints (an integer order)."""
    if isinstance(lo, int) and isinstance(hi, int):
        return rng.integers(lo, hi + 1, size=size).astype(np.float64)
    return rng.uniform(lo, hi, size=size)


def _points(rule, shapes, dtype, seed_extra: str):
    """Points of the rule's domain; complex ones get an imaginary part of 0.2 to 0.7 either way
    (off the real axis, where NumPy's branch cuts lie, and away from the kinks of |z|)."""
    rng = np.random.default_rng(zlib.crc32(f"{rule.name}/{seed_extra}".encode()))
    out = []
    for (lo, hi), shape in zip(rule.domain, shapes):
        x = _draw(rng, lo, hi, shape)
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

    # reference value, in float64 on the same points
    with np.errstate(all="ignore"):
        ref = np.asarray(rule(*xs64), dtype=np.float64)

    for i in rule.argnums:
        f = _in(rule, xs, (i,))
        y, ydot = ad.jvp(f, (xs[i],), (np.ones(xs[i].shape, dtype=dtype),))
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
    f = lambda *a: rule(*a)
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
LARGE_CASES = [(name, np.float64) for name, r in RULES.items() if np.dtype(np.float64) in r.dtypes]  # (wofz: complex only)
LARGE_CASES += [(name, np.float32) for name in ("multiply", "tanh", "power", "clip")]
# complex: every rule that takes complex values; complex64 compiles the same loops
LARGE_CASES += [(name, np.complex128) for name, r in RULES.items() if r.takes_complex]
LARGE_CASES += [(name, np.complex64) for name in ("multiply", "exp", "power")]


def _in(rule, xs, argnums):
    """The rule as a function of the inputs ``argnums`` (the others fixed at ``xs``): inputs a
    rule is not differentiable in (an order) are never active."""

    def f(*active):
        args = list(xs)
        for i, a in zip(argnums, active):
            args[i] = a
        return rule(*args)

    return f


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
    f = _in(rule, xs, rule.argnums)
    y, ydot = (np.asarray(v) for v in ad.jvp(f, tuple(xs[i] for i in rule.argnums), tuple(ts[i] for i in rule.argnums)))
    real_out = cplx and y.dtype.kind != "c"  # abs, real, imag, angle
    assert (y.dtype == dtype or real_out) and ydot.dtype == y.dtype and ydot.shape == (n,)
    x64, t64 = [x.astype(wide) for x in xs], [t.astype(wide) for t in ts]
    ref = np.asarray(rule.evaluate(*x64)[0], wide)
    plus = rule.evaluate(*[x + STEP * t for x, t in zip(x64, t64)])[0]
    minus = rule.evaluate(*[x - STEP * t for x, t in zip(x64, t64)])[0]
    fd = (np.asarray(plus, wide) - np.asarray(minus, wide)) / (2 * STEP)
    np.testing.assert_allclose(y, ref, **TOL[dtype], err_msg=f"{rule.name}: value ({n} elements)")
    np.testing.assert_allclose(ydot.astype(wide), fd, **TOL[dtype], err_msg=f"{rule.name}: forward vs FD ({n} elements)")
    yv, pullback = ad.vjp(f, *(xs[i] for i in rule.argnums))
    np.testing.assert_allclose(np.asarray(yv), ref, **TOL[dtype], err_msg=f"{rule.name}: reverse mode's value ({n} elements)")
    g = rng.uniform(0.5, 1.5, size=n) + (1j * rng.uniform(-1.0, 1.0, size=n) if cplx and not real_out else 0.0)
    g = g.astype(y.dtype)
    bars = pullback(g)
    lhs = sum(np.asarray(b, wide) * t64[i] for b, i in zip(bars, rule.argnums))
    rhs = g * ydot.astype(wide)
    if rule.wirtinger is not None and cplx:  # not holomorphic: the transpose for the real pairing
        lhs, rhs = lhs.real, rhs.real
    np.testing.assert_allclose(lhs, rhs, **TOL[dtype], err_msg=f"{rule.name}: reverse vs forward ({n} elements)")
    kernels = not cplx or (rule.wirtinger is None and cpu.compiles_complex(rule))
    if any(p is None for p in rule.constant_partials) and kernels:  # constant partials only scale: no kernel
        # reverse mode: costly partials are computed with the value and kept, the others in the sweep
        backward = "partials" if costly_partials(rule) and not cplx else "vjp"
        assert _kernel_built(rule, "jvp", cplx) and _kernel_built(rule, backward, cplx), f"{rule.name}: the kernels were not used"
    if cplx and rule.wirtinger is not None:  # reverse mode: the Wirtinger partials' kernel
        assert _kernel_built(rule, "wvjp", True), f"{rule.name}: the Wirtinger kernel was not used"


@pytest.mark.parametrize("name,dtype", LARGE_CASES, ids=[f"{n}-{np.dtype(d).name}" for n, d in LARGE_CASES])
def test_rule_through_kernels(name, dtype):
    _check_large(RULES[name], dtype)


# --- second order: SciPy's rules, whose partials are rules again ---------------------------------

SPECIAL = [rule for rule in RULES.values() if rule.fn.__module__ == "dualad.rules.special" and rule.dtypes[0].kind == "f"]
SECOND = [(rule, i, n) for rule in SPECIAL for i in rule.argnums for n in (5, LARGE)]


@pytest.mark.parametrize("rule,i,n", SECOND, ids=[f"{r.name}-x{i}-{n}" for r, i, n in SECOND])
def test_special_rule_second_order(rule, i, n):
    """Hessian-vector products (forward over reverse: the fused kernel above the threshold) and
    reverse over reverse against central differences of the gradient."""
    rng = np.random.default_rng(zlib.crc32(f"{rule.name}/second/{i}/{n}".encode()))
    xs = [_draw(rng, lo, hi, n) for lo, hi in rule.domain]
    g = _in(rule, xs, (i,))
    f = lambda x: np.sum(g(x))
    v = rng.uniform(-1.0, 1.0, size=n)
    grad = ad.grad(f)
    not_offered = {("gammainc_da", 0): "gammainc_da2 is not differentiable in its argument 'a'",  # d³P/da³
                   ("boxcox", 1): "boxcox_dlambda is not differentiable in its argument 'lmbda'",  # d²/dλ²
                   ("boxcox1p", 1): "boxcox_dlambda is not differentiable in its argument 'lmbda'",
                   ("_zeta", 0): "zeta_ds is not differentiable in its argument 's'",
                   ("zetac", 0): "zeta_ds is not differentiable in its argument 's'",
                   ("inv_boxcox", 1): "boxcox_dlambda is not differentiable in its argument 'lmbda'",
                   ("inv_boxcox1p", 1): "boxcox_dlambda is not differentiable in its argument 'lmbda'",
                   ("hyp1f1", 0): "hyp1f1_d. is not differentiable in its argument 'a'",  # in the parameters
                   ("hyp1f1", 1): "hyp1f1_d. is not differentiable in its argument 'b'",
                   ("hyp2f1", 0): "hyp2f1_d. is not differentiable in its argument 'a'",
                   ("hyp2f1", 1): "hyp2f1_d. is not differentiable in its argument 'b'",
                   ("hyp2f1", 2): "hyp2f1_d. is not differentiable in its argument 'c'"}
    if (rule.name, i) in not_offered:  # not offered, and said so
        with pytest.raises(TypeError, match=not_offered[rule.name, i]):
            ad.hvp(f, xs[i], v)
        return
    h = 1e-5
    fd = (np.asarray(grad(xs[i] + h * v)) - np.asarray(grad(xs[i] - h * v))) / (2 * h)
    np.testing.assert_allclose(ad.hvp(f, xs[i], v), fd, rtol=1e-6, atol=1e-6, err_msg=f"{rule.name}: hvp")
    rr = ad.grad(lambda x: np.sum(grad(x) * v))(xs[i])
    np.testing.assert_allclose(rr, fd, rtol=1e-6, atol=1e-6, err_msg=f"{rule.name}: reverse over reverse")


def test_gammainc_in_a_on_both_branches():
    """d/da gammainc: the series (x < a + 20 + 2√a) and the quadrature of Q (above), against
    central differences of SciPy's gammainc, on small arrays (NumPy) and through the kernels."""
    a, x = np.meshgrid([0.1, 0.7, 3.0, 40.0], [0.01, 1.0, 10.0, 30.0, 80.0, 200.0])
    a, x = a.ravel(), x.ravel()
    h = 1e-5 * a
    # differences of whichever of P and Q = 1 − P is the smaller (the other has lost the digits)
    fd_p = (special.gammainc(a + h, x) - special.gammainc(a - h, x)) / (2 * h)
    fd_q = -(special.gammaincc(a + h, x) - special.gammaincc(a - h, x)) / (2 * h)
    fd = np.where(special.gammainc(a, x) < 0.5, fd_p, fd_q)
    for reps in (1, 20):  # 24 elements, then 480 (the kernels)
        g = ad.grad(lambda a: np.sum(special.gammainc(a, np.tile(x, reps))))(np.tile(a, reps))
        np.testing.assert_allclose(g, np.tile(fd, reps), rtol=1e-6, atol=1e-11)
        gc = ad.grad(lambda a: np.sum(special.gammaincc(a, np.tile(x, reps))))(np.tile(a, reps))
        np.testing.assert_allclose(gc, -g, rtol=1e-15)


# d²P/da² at 40 digits (mpmath 1.3's diff of gammainc(a, 0, x, regularized=True), dps=40)
_MP_D2 = [(0.1, 10.0, -3.47948281832405e-5), (0.7, 10.0, -1.74347292157263e-4), (40.0, 0.01, 8.37141742299667e-127),
          (120.0, 1.0, 1.27274589839249e-198), (3.0, 10.0, -5.06319079275152e-3), (0.7, 0.01, 0.978095821293962)]


def test_gammainc_second_derivative_in_a():
    """d²/da² gammainc (gammainc_da's partial in a): against second differences of SciPy's own
    gammainc / gammaincc, against 40-digit values, in every nesting order and through the kernels."""
    a, x = np.meshgrid([0.1, 0.7, 3.0, 12.0, 40.0], [0.01, 1.0, 10.0, 30.0, 80.0, 200.0])
    a, x = a.ravel(), x.ravel()
    h = 2e-3 * a
    with np.errstate(all="ignore"):
        fd_p = (special.gammainc(a + h, x) - 2 * special.gammainc(a, x) + special.gammainc(a - h, x)) / h**2
        fd_q = -(special.gammaincc(a + h, x) - 2 * special.gammaincc(a, x) + special.gammaincc(a - h, x)) / h**2
    fd = np.where(special.gammainc(a, x) < 0.5, fd_p, fd_q)
    for reps in (1, 20):  # NumPy, then the kernels
        aa, xx = np.tile(a, reps), np.tile(x, reps)
        for mode in ("forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"):
            for f, sign in ((special.gammainc, 1.0), (special.gammaincc, -1.0)):
                d2 = np.diag(ad.hessian(lambda a: np.sum(f(a, xx)), mode=mode)(aa)) if reps == 1 or mode == "forward-over-reverse" \
                    else ad.hvp(lambda a: np.sum(f(a, xx)), aa, np.ones_like(aa))
                np.testing.assert_allclose(sign * d2, np.tile(fd, reps), rtol=2e-5, atol=1e-8, err_msg=mode)
    ma, mx, mv = (np.array(c) for c in zip(*_MP_D2))
    np.testing.assert_allclose(ad.hvp(lambda a: np.sum(special.gammainc(a, mx)), ma, np.ones_like(ma)), mv, rtol=1e-9)
    np.testing.assert_allclose(ad.derivative(lambda a: special.chdtr(2.0 * a, 20.0), order=2)(0.7), _MP_D2[1][2], rtol=1e-9)  # P(a, 10)


def test_special_rules_have_derived_tangents():
    """The fused second-order kernels read every SciPy rule's source, except those whose
    partials call a rule not differentiable in some input (gammainc_da's gammainc_da2 in a; the
    parameter derivatives of boxcox, boxcox1p, inv_boxcox, inv_boxcox1p, hyp1f1, hyp2f1 and zeta and zetac
    in s): their sweeps
    evaluate them on dual numbers, where an active parameter raises.  The outputs of SciPy's
    two-output functions (sici, fresnel) call their own function, which has its rule: derived."""
    from dualad.rules.derive import check_all

    missing = {name for name, _ in check_all().items() if RULES[name] in SPECIAL}
    assert missing == {"gammainc_da", "boxcox", "boxcox1p", "inv_boxcox", "inv_boxcox1p", "hyp1f1", "hyp2f1", "_zeta", "zetac"}
    from dualad.rules import special as rule_special

    x = np.linspace(0.3, 3.0, 5000)  # large: the fused kernels run the derived tangents
    second = {"sici_si": (x * np.cos(x) - np.sin(x)) / x**2, "sici_ci": -(x * np.sin(x) + np.cos(x)) / x**2,
              "fresnel_s": np.pi * x * np.cos(0.5 * np.pi * x * x), "fresnel_c": -np.pi * x * np.sin(0.5 * np.pi * x * x)}
    for name, want in second.items():
        fn = getattr(rule_special, name)
        np.testing.assert_allclose(ad.hvp(lambda t, fn=fn: np.sum(fn(t)), x, np.ones_like(x)), want, rtol=1e-10, atol=1e-12)
    d2 = ad.derivative(lambda x: special.hyp2f1(0.3, 0.4, 0.5, x), order=2)(0.3)  # on duals: ab(a+1)(b+1)/(c(c+1)) ₂F₁(a+2, b+2; c+2; x)
    np.testing.assert_allclose(d2, 0.3 * 0.4 * 1.3 * 1.4 / (0.5 * 1.5) * special.hyp2f1(2.3, 2.4, 2.5, 0.3), rtol=1e-12)


def test_host_only_functions_are_refused_on_the_gpu_naming_them():
    """SciPy's compiled functions run on the CPU: a rule calling one (here or in its partials)
    has no device function, and says so before any CUDA compilation is tried."""
    from dualad.kernels import cuda as kc

    assert kc.host_only(RULES["erf"]) == [] and kc.host_only(RULES["sin"]) == []  # math.erf: a CUDA twin
    assert kc.host_only(RULES["gammaln"]) == ["psi"]
    with pytest.raises(NotImplementedError, match=r"scipy.special.jv, which dualad computes .* CPU only"):
        kc.device_rule(RULES["jv"])


def test_not_differentiable_inputs_raise_naming_them():
    with pytest.raises(TypeError, match=r"scipy.special.jv is not differentiable in its argument 'v'"):
        ad.grad(lambda v: special.jv(v, 1.5))(0.5)
    with pytest.raises(TypeError, match=r"scipy.special.betainc is not differentiable in its argument 'a'"):
        ad.grad(lambda a: special.betainc(a, 2.0, 0.5))(1.5)
    with pytest.raises(TypeError, match=r"no derivative rule for scipy.special.struve"):
        ad.grad(lambda x: special.struve(x, 1.5))(0.5)


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


def test_scipy_ufunc_rule_with_a_scalar_implementation():
    """scipy.special.erf does not compile in Numba; its declaration's ``scalar=math.erf`` is
    what the kernels call.  Dispatch finds the rule through ``__array_ufunc__``, no handler."""
    erf = UFUNC_RULES[special.erf]
    assert erf.scalar is math.erf
    assert erf.kernel_fn is not erf.fn and erf.kernel_fn.__code__ is erf.fn.__code__
    x = np.linspace(-2.0, 2.0, 1000)
    g = ad.grad(lambda x: np.sum(special.erf(x)))(x)
    np.testing.assert_allclose(g, _TWO_OVER_SQRT_PI * np.exp(-x * x), rtol=1e-13)
    assert _kernel_built(erf, "partials")  # its partial calls exp: computed with the value, kept for the sweep
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


def test_native_binding_in_the_scalar_slot():
    """The ``scalar=`` slot of scipy.special.erfcx names SciPy's compiled implementation
    (``scipy.special.cython_special``): the kernels call it, with SciPy's own values."""
    from dualad.rules.native import Scalar

    rule = UFUNC_RULES[special.erfcx]
    assert isinstance(rule.scalar, Scalar) and rule.scalar.key == "scipy.special.cython_special.erfcx"
    x = np.linspace(-2.0, 2.0, 1000)
    y, ydot = ad.jvp(lambda x: special.erfcx(x), (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(y, special.erfcx(x))  # the very same C function
    np.testing.assert_allclose(ydot, 2.0 * x * special.erfcx(x) - _TWO_OVER_SQRT_PI, rtol=1e-13)
    assert _kernel_built(rule, "jvp")


def test_fused_variants_are_picked_by_their_signature():
    """Fused functions (erfinv, psi, jv) exist only as ``__pyx_fuse_N<name>``; N does not name
    one dtype, so the binding reads each variant's C signature."""
    from dualad.rules import native

    assert native._find_variant("erfinv", 1) == "__pyx_fuse_0erfinv"
    assert native._find_variant("psi", 1) == "__pyx_fuse_1psi"
    assert native._find_variant("yn", 2) == "__pyx_fuse_0yn"  # not (long, double) nor (Py_ssize_t, double)
    assert native._find_variant("gammaln", 1) == "gammaln"
    with pytest.raises(LookupError, match="no variant"):
        native._find_variant("erf", 2)


CACHED = r"""
import numpy as np
from scipy import special
import dualad as ad
from dualad.kernels import cpu
x = np.linspace(0.5, 2.0, 1000)
np.testing.assert_allclose(ad.grad(lambda x: np.sum(special.gammaln(x) + special.jv(1.5, x)))(x),
                           special.psi(x) + 0.5 * (special.jv(0.5, x) - special.jv(2.5, x)), rtol=1e-12)
print(sum(k.stats.cache_hits.get(sig, 0) for k in cpu._KERNELS.values() for sig in k.signatures))
"""


def test_native_kernels_are_cached_on_disk(tmp_path):
    """The bindings are symbols, not pointers baked into the code: Numba caches the kernels
    that call them, and a fresh process loads them (registering the symbols first)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, DUALAD_CACHE_DIR=str(tmp_path), PYTHONWARNINGS="error::numba.NumbaWarning")
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", CACHED], env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append(int(out.stdout.split()[-1]))
    assert runs[0] == 0 and runs[1] > 0, runs
