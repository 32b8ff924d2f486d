"""The vectorisable exp, log, log1p, expm1, sin, cos and tanh of dualad.rules.vecmath.

Each is compiled in a Numba loop (as the kernels compile it) and compared in ulps with NumPy and
with the C library (``math``), on dense sweeps over its domain, log-spaced magnitudes of both
signs, random bit patterns (hypothesis) and the special values of IEEE 754 (signed zeros,
infinities, NaN, subnormals, overflow and underflow thresholds, huge arguments of sin and cos).
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dualad  # noqa: F401  (installs the dispatcher the kernels' rules need)
from dualad import kernels
from dualad.rules import RULES, vecmath

NAMES = vecmath.FUNCTIONS

#: The largest error in ulps each function may have against NumPy's float64 result.
MAX_ULP = {"exp": 2, "log": 2, "log1p": 2, "expm1": 3, "sin": 2, "cos": 2, "tanh": 4}

#: Each function's domain (where its value is neither NaN nor saturated), for dense sweeps.
DOMAINS = {
    "exp": (-745.2, 709.8),
    "log": (0.0, 1e6),
    "log1p": (-1.0, 1e6),
    "expm1": (-40.0, 709.8),
    "sin": (-1e6, 1e6),
    "cos": (-1e6, 1e6),
    "tanh": (-20.0, 20.0),
}

SPECIAL = np.array(
    [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225e-308, -1e-310, 1e-300,
     1.0, -1.0, 2.0, 0.5, 1e-8, -1e-8, 2.0**-54, 2.0**-53, 2.0**-30, np.finfo(np.float64).max, -np.finfo(np.float64).max,
     709.782712893384, 709.7827128933841, 709.79, 710.0, 745.0, -708.4, -708.5, -745.13, -745.14, -746.0, -1000.0,
     -1.0 + 2.0**-53, -0.9999999, -2.0, 1e6, 1048575.9999999999, 1048576.0, 1e22, 1e300, -1e300,
     1.5707963267948966, 3.141592653589793, 4.71238898038469, 6.283185307179586, 355.0, 103993.0,
     20.0, -20.0, 19.06, 40.0, 44.0, 50.0, 0.35, -0.35,
     0.34657359027997264, 0.3465735902799727, 1e-20, -1e-20]
)


@functools.cache
def loop(name: str):
    """A Numba loop applying the kernels' version of ``name`` elementwise."""
    f = vecmath.kernel_function(name)

    @numba.njit(error_model="numpy")
    def apply(a, out):
        for i in range(a.shape[0]):
            out[i] = f(a[i])

    return apply


def run(name: str, x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    loop(name)(x, out)
    return out


def ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units in the last place (float64 or float32); NaN against NaN is 0."""
    ints = {np.dtype(np.float64): np.int64, np.dtype(np.float32): np.int32}[a.dtype]
    sign_bit = np.iinfo(ints).min

    def ordered(v):
        i = v.view(ints).astype(np.int64)
        return np.where(i < 0, np.int64(sign_bit) - i, i)

    d = np.abs(ordered(a) - ordered(b)).astype(np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    d[both_nan] = 0.0
    d[np.isnan(a) != np.isnan(b)] = np.inf
    return d


def reference(name: str, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return getattr(np, name)(x)


def assert_close(name: str, x: np.ndarray, bound: float | None = None):
    got = run(name, x)
    want = reference(name, x)
    u = ulps(got, want)
    bound = MAX_ULP[name] if bound is None else bound
    worst = int(np.argmax(u))
    assert u[worst] <= bound, f"{name}({x[worst]!r}) = {got[worst]!r}, NumPy {want[worst]!r}: {u[worst]} ulp"
    zeros = want == 0
    assert np.array_equal(np.signbit(got[zeros]), np.signbit(want[zeros])), f"{name}: sign of zero"


def test_ulps_helper_counts_units_in_the_last_place():
    a = np.array([1.0, 0.0, -0.0, np.nan, 1.0])
    b = np.array([np.nextafter(np.nextafter(1.0, 2), 2), 5e-324, 5e-324, np.nan, np.nan])
    assert ulps(a, b).tolist() == [2.0, 1.0, 1.0, 0.0, np.inf]


@pytest.mark.parametrize("name", NAMES)
def test_dense_sweep_of_the_domain(name):
    lo, hi = DOMAINS[name]
    assert_close(name, np.linspace(lo, hi, 400_001))
    assert_close(name, np.linspace(-4.0, 4.0, 200_001))


@pytest.mark.parametrize("name", NAMES)
def test_log_spaced_magnitudes_of_both_signs(name):
    mags = np.logspace(-323, 308, 200_000)
    assert_close(name, np.concatenate([mags, -mags]))


@pytest.mark.parametrize("name", NAMES)
def test_special_values(name):
    assert_close(name, SPECIAL)


def _libm(f, v: float) -> float:
    try:
        return f(v)
    except ValueError:  # outside the domain
        return -math.inf if (f is math.log and v == 0.0) or (f is math.log1p and v == -1.0) else math.nan
    except OverflowError:
        return math.inf


@pytest.mark.parametrize("name", NAMES)
def test_agrees_with_the_c_library(name):
    x = np.random.default_rng(3).uniform(*DOMAINS[name], 20_000)
    x = np.concatenate([x, np.random.default_rng(4).standard_normal(20_000)])
    libm = np.array([_libm(getattr(math, name), v) for v in x])
    assert ulps(run(name, x), libm).max() <= MAX_ULP[name]


_bits = hnp.arrays(np.uint64, st.integers(1, 64), elements=st.integers(0, 2**64 - 1))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(bits=_bits)
def test_random_bit_patterns(name, bits):
    assert_close(name, bits.view(np.float64))


@pytest.mark.parametrize("name", NAMES)
def test_many_random_bit_patterns(name):
    bits = np.random.default_rng(5).integers(0, 2**63, 400_000, dtype=np.int64, endpoint=False)
    x = np.where(np.arange(bits.size) % 2, bits.view(np.float64), -bits.view(np.float64))
    assert_close(name, x)


def test_exact_values():
    assert run("exp", np.array([0.0, -0.0, 710.0, -746.0, 709.78]))[:4].tolist() == [1.0, 1.0, np.inf, 0.0]
    assert run("exp", np.array([-745.0]))[0] == 5e-324
    assert run("log", np.array([1.0, 0.0, -0.0, np.inf]))[:4].tolist() == [0.0, -np.inf, -np.inf, np.inf]
    assert np.isnan(run("log", np.array([-1.0, -np.inf, -5e-324]))).all()
    assert run("log1p", np.array([-1.0, np.inf]))[:2].tolist() == [-np.inf, np.inf]
    assert run("expm1", np.array([-np.inf, -50.0, np.inf])).tolist() == [-1.0, -1.0, np.inf]
    assert run("tanh", np.array([np.inf, -np.inf, 30.0, -400.0])).tolist() == [1.0, -1.0, 1.0, -1.0]
    for name in ("sin", "cos"):
        assert np.isnan(run(name, np.array([np.inf, -np.inf, np.nan]))).all()
    # beyond the cheap reduction: sin(1e22), and the double closest to a multiple of π/2
    # (Muller, Elementary Functions: cos = −4.68716592425462761112e−19; the C library here
    # returns ...462e−19, 8 ulp away, so NumPy cannot be the reference there)
    assert math.isclose(run("sin", np.array([1e22]))[0], -0.8522008497671888, rel_tol=1e-15)
    hardest = np.array([6381956970095103 * 2.0**797])
    assert ulps(run("cos", hardest), np.array([-4.68716592425462761112e-19]))[0] <= 1
    assert ulps(run("sin", hardest), np.array([1.0]))[0] <= 1


@pytest.mark.parametrize("name", NAMES)
def test_float32(name):
    lo, hi = DOMAINS[name]
    with np.errstate(over="ignore"):
        x = np.concatenate([np.linspace(lo, hi, 100_001), np.linspace(-4, 4, 100_001), SPECIAL]).astype(np.float32)
    x = np.concatenate([x, np.random.default_rng(6).integers(0, 2**32, 100_000, dtype=np.uint32).view(np.float32)])
    got = run(name, x)
    assert got.dtype == np.float32
    with np.errstate(all="ignore"):
        rounded = reference(name, x.astype(np.float64)).astype(np.float32)
    assert ulps(got, rounded).max() <= 1  # float64 rounded once
    assert ulps(got, reference(name, x)).max() <= 4  # NumPy's own float32


def test_complex_arguments_keep_numpys_functions():
    f = vecmath.kernel_function("exp")
    g = numba.njit(lambda z: f(z))
    assert g(1.0 + 2.0j) == np.exp(1.0 + 2.0j)


def test_the_loop_vectorises():
    """LLVM turns the loop over each function into packed (vector) arithmetic with no calls."""
    for name in NAMES:
        apply = loop(name)
        run(name, np.ones(8))
        llvm = apply.inspect_llvm(apply.signatures[0])
        body = llvm[llvm.index("define"):]
        packed = re.findall(r"fmul <(\d+) x double>", body)
        assert packed, f"{name}: no vector multiply in the loop"
        called = set(re.findall(r"call [^@]*@\"?([\w.]+)", body))
        libm = {"exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "llvm.sin.f64", "llvm.cos.f64", "llvm.exp.f64", "llvm.log.f64"}
        assert not called & libm, f"{name} calls {called & libm}"


@pytest.mark.parametrize("name", NAMES)
def test_kernels_compute_values_and_partials_with_them(name):
    """The rule's jvp kernel (above the NumPy threshold) uses the vectorisable functions: its
    value and derivative agree with NumPy, also where only the exact reduction is right."""
    rule = RULES[name]
    lo, hi = {"log": (0.01, 50.0), "log1p": (-0.9, 50.0)}.get(name, (-30.0, 30.0))
    x = np.random.default_rng(7).uniform(lo, hi, 4096)
    if name in ("sin", "cos"):
        x[:64] = np.logspace(6, 300, 64)
    y, ty = kernels.jvp(rule, [x], [np.ones((1,) + x.shape)], np.float64)
    assert ulps(y, reference(name, x)).max() <= MAX_ULP[name]
    with np.errstate(all="ignore"):
        derivative = rule.evaluate(x)[1]  # the rule on NumPy
    np.testing.assert_allclose(ty[0], derivative, rtol=4e-15, atol=4e-15)
    assert rule.kernel_fn is not rule.fn


def test_the_cache_key_names_the_implementation():
    """The kernels' cache key of a rule that uses them records a hash of their source."""
    source = (Path(vecmath.__file__).parent / "vecmath_impl.py").read_bytes()
    assert vecmath.scalar("sin").key == f"dualad.rules.vecmath.sin@{hashlib.sha1(source).hexdigest()[:12]}"


def test_unknown_name_is_refused():
    with pytest.raises(ValueError, match="has no 'tan'"):
        vecmath.scalar("tan")




@pytest.mark.parametrize("two_prod", ["two_prod_fma", "two_prod_dekker"])
def test_exact_products_of_the_reduction(two_prod):
    """Both ways to an exact product (FMA, and Dekker's splitting on CPUs without FMA) give
    ``p + e = a · b`` exactly, for the operands of the sin/cos reduction: 53-bit integers
    times the table's parts."""
    from fractions import Fraction

    from dualad.rules import vecmath_impl

    f = getattr(vecmath_impl, two_prod)
    rng = np.random.default_rng(8)
    ints = rng.integers(2**52, 2**53, 200).astype(np.float64)
    for a, b in zip(ints, vecmath_impl.TABLE[rng.integers(0, vecmath_impl.TABLE.shape[0], 200), rng.integers(0, 4, 200)]):
        p, e = f(a, b)
        assert p == a * b and Fraction(p) + Fraction(e) == Fraction(a) * Fraction(b)
