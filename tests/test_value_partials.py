"""Partials that read the rule's value: ``y = f(x); return y, g(y)`` in a rule's source.

Reverse mode keeps such a rule's output on the tape and its adjoint (NumPy, the CPU and CUDA
kernels, nested levels) reads it instead of computing the value again: SciPy's ``jv`` costs
one Bessel function in the sweep, not two.  Checked: the derived partials agree with the
rule's own at points of every such rule's domain; the value really is not recomputed; ``jv``
against closed forms, finite differences, both modes and every nesting order, its limits at
x = 0 and SciPy's NaN domain.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

import dualad as ad
import dualad.rules.special  # noqa: F401  (SciPy's rules join the table)
from dualad.kernels import backend
from dualad.rules import RULES
from dualad.rules.derive import value_partials, with_value

READERS = [name for name, rule in RULES.items() if value_partials(rule) is not None]


def test_rules_that_read_their_value_are_found():
    assert {"exp", "tanh", "sqrt", "expit", "jv", "erfinv"} <= set(READERS)
    assert not {"sin", "log", "add", "erf"} & set(READERS)  # partials that do not read the value


@pytest.mark.parametrize("name", READERS)
@settings(max_examples=20, deadline=None)
@given(u=st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4))  # (hyp2f1 has four inputs)
def test_derived_partials_agree_with_the_rule(name, u):
    """with_value(fn)(*xs, fn(*xs)[0]) is fn(*xs), at points of the rule's domain."""
    rule = RULES[name]
    xs = [np.float64(lo + t * (hi - lo)) for (lo, hi), t in zip(rule.domain, u)]
    xs = [np.round(x) if isinstance(lo, int) else x for x, (lo, _) in zip(xs, rule.domain)]  # integer orders
    with np.errstate(all="ignore"):
        want = rule.fn(*xs)
        got = value_partials(rule)(*xs, want[0])
    dt = complex if rule.takes_complex else float  # (wofz: complex values)
    np.testing.assert_allclose(np.array(got, dtype=dt), np.array(want, dtype=dt), rtol=1e-12, atol=1e-300)


def test_a_value_the_partials_do_not_read_or_that_is_bound_twice_is_not_given():
    def plain(x):
        return np.sin(x), np.cos(x)

    def unread(x):
        y = np.sin(x)
        return y, np.cos(x)

    def rebound(x):
        y = np.exp(x)
        y = y + 1.0
        return y, y - 1.0

    def param(x):
        return x, 1.0

    assert [with_value(f) for f in (plain, unread, rebound, param)] == [None] * 4


@pytest.mark.parametrize("n", [7, 2 * backend.SMALL])  # NumPy evaluation, the CPU kernel
def test_the_adjoint_reads_the_value_it_is_given(n):
    """Given a value other than exp(x), exp's adjoint follows it: the value is read, not
    recomputed (and without one, it is computed)."""
    x = np.linspace(-1.0, 1.0, n)
    g = np.ones((1, n))
    (read,) = backend.pull(RULES["exp"], [x], g, [True], None, y=2.0 * np.exp(x))
    (computed,) = backend.pull(RULES["exp"], [x], g, [True], None)
    np.testing.assert_allclose(read[0], 2.0 * np.exp(x), rtol=1e-15)
    np.testing.assert_allclose(computed[0], np.exp(x), rtol=1e-15)


def test_the_tape_keeps_the_output_of_a_rule_that_reads_it():
    x = ad.Variable(np.linspace(0.1, 1.0, 4))
    y = np.tanh(x)
    s = np.sin(y)
    entries = {e.op.name: e for e in y.tape.entries}
    assert np.shares_memory(entries["tanh"].residual.value, ad.primal(y))  # the output itself, not a copy
    assert not hasattr(entries["sin"].residual, "value")  # sin's partial does not read sin
    np.sum(s).backward()
    np.testing.assert_allclose(x.grad, np.cos(np.tanh(x.value)) * (1.0 - np.tanh(x.value) ** 2), rtol=1e-14)


# --- jv: J′_v = (v/x) J_v − J_{v+1} -------------------------------------------------------------

ORDERS = [0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 1.5, 2.5, 3.0, 7.25]


def _closed_form(v, x):
    return 0.5 * (special.jv(v - 1.0, x) - special.jv(v + 1.0, x))


@pytest.mark.parametrize("v", ORDERS)
@pytest.mark.parametrize("n", [9, 2 * backend.SMALL])  # NumPy evaluation, then the kernels
def test_jv_derivative_against_the_closed_form_in_both_modes(v, n):
    x = np.concatenate([[0.7, 5.0, 30.0, -1.3, -4.0], np.linspace(0.05, 12.0, n - 5)])
    want = _closed_form(v, x)  # NaN where SciPy's J_v is NaN (x < 0, v not an integer)
    g = ad.grad(lambda x: np.sum(special.jv(v, x)))(x)
    _, t = ad.jvp(lambda x: special.jv(v, x), (x,), (np.ones_like(x),))
    np.testing.assert_allclose(g, want, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(t, want, rtol=1e-9, atol=1e-13)
    assert np.array_equal(np.isnan(g), np.isnan(special.jv(v, x)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_jv_derivative_against_finite_differences(dtype):
    v, x = 2.5, np.linspace(0.3, 9.0, 2 * backend.SMALL)
    g = ad.grad(lambda x: np.sum(special.jv(v, x)))(x.astype(dtype))
    fd = (special.jv(v, x + 1e-6) - special.jv(v, x - 1e-6)) / 2e-6
    assert g.dtype == dtype
    np.testing.assert_allclose(g, fd, rtol=1e-6 if dtype is np.float64 else 2e-4, atol=1e-7 if dtype is np.float64 else 1e-5)


# J′_v(0): 0 for v = 0, ±1/2 for v = ±1, 0 for |v| ≥ 2 integer and v > 1; an infinite slope of
# the sign of Γ(v) for v < 1 not an integer (a pole of J_v itself for v < 0)
LIMITS = {0.0: 0.0, 1.0: 0.5, -1.0: -0.5, 2.0: 0.0, -2.0: 0.0, 3.0: 0.0, 1.5: 0.0, 2.5: 0.0,
          0.5: np.inf, -0.5: -np.inf, -1.5: np.inf, -2.5: -np.inf}


@pytest.mark.parametrize("n", [1, 2 * backend.SMALL])
def test_jv_derivative_at_zero_is_the_limit(n):
    for v, want in LIMITS.items():
        x = np.zeros(n)
        assert np.all(ad.grad(lambda x: np.sum(special.jv(v, x)))(x) == want), v
        assert np.all(ad.jvp(lambda x: special.jv(v, x), (x,), (np.ones(n),))[1] == want), v
        if np.isfinite(want):  # one-sided differences agree with a finite limit
            assert abs((special.jv(v, 1e-12) - special.jv(v, 0.0)) / 1e-12 - want) < 1e-5


@pytest.mark.parametrize("v", [0.0, 1.0, -1.0, 2.5, 3.0])
@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"])
def test_jv_second_derivative_solves_bessels_equation(v, mode):
    """J″ = −J′/x − (1 − v²/x²) J, in every nesting order."""
    x = np.linspace(0.3, 8.0, 6)
    h = np.diag(ad.hessian(lambda x: np.sum(special.jv(v, x)), mode=mode)(x))
    want = -_closed_form(v, x) / x - (1.0 - v * v / (x * x)) * special.jv(v, x)
    np.testing.assert_allclose(h, want, rtol=1e-9, atol=1e-12)


def test_jv_hvp_on_the_kernels_solves_bessels_equation():
    v, x = 2.5, np.linspace(0.3, 8.0, 2 * backend.SMALL)
    hv = ad.hvp(lambda x: np.sum(special.jv(v, x)), x, np.ones_like(x))
    want = -_closed_form(v, x) / x - (1.0 - v * v / (x * x)) * special.jv(v, x)
    np.testing.assert_allclose(hv, want, rtol=1e-9, atol=1e-12)


def test_jv_in_a_replayed_recording():
    """A recording's replay keeps the output for the sweep too (fresh inputs, fresh values)."""
    rec = ad.record(lambda x: np.sum(special.jv(1.5, x) * x), np.linspace(0.5, 2.0, 300))
    x = np.linspace(1.0, 4.0, 300)
    want = _closed_form(1.5, x) * x + special.jv(1.5, x)
    np.testing.assert_allclose(rec.grad(x), want, rtol=1e-10, atol=1e-13)


# --- iv, ive: I′_v = I_{v+1} + (v/x) I_v = I_{v−1} − (v/x) I_v ------------------------------------


def _iv_closed_form(v, x):
    return 0.5 * (special.iv(v - 1.0, x) + special.iv(v + 1.0, x))


def _ive_closed_form(v, x):
    return 0.5 * (special.ive(v - 1.0, x) + special.ive(v + 1.0, x)) - np.sign(x) * special.ive(v, x)


IV_ORDERS = ORDERS + [-2.7, 20.5]


@pytest.mark.parametrize("v", IV_ORDERS)
@pytest.mark.parametrize("n", [11, 2 * backend.SMALL])  # NumPy evaluation, then the kernels
def test_iv_and_ive_derivatives_against_the_closed_form_in_both_modes(v, n):
    x = np.concatenate([[0.7, 5.0, 30.0, 700.0, -1.3, -4.0, 1e-3], np.linspace(0.05, 12.0, n - 7)])
    # ive′ = ive_{v±1} − ive_v + O(ive_v/x) cancels where it crosses 0 (either way of writing it):
    # an absolute tolerance there, ive being at most 1
    for fn, closed, atol in ((special.iv, _iv_closed_form, 1e-300), (special.ive, _ive_closed_form, 1e-15)):
        want = closed(v, x)  # NaN where SciPy's value is NaN (x < 0, v not an integer)
        g = ad.grad(lambda x: np.sum(fn(v, x)))(x)
        _, t = ad.jvp(lambda x: fn(v, x), (x,), (np.ones_like(x),))
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=atol, err_msg=fn.__name__)
        np.testing.assert_allclose(t, want, rtol=1e-12, atol=atol, err_msg=fn.__name__)
        assert np.array_equal(np.isnan(g), np.isnan(fn(v, x))), fn.__name__


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_iv_and_ive_derivatives_against_finite_differences(dtype):
    x = np.linspace(0.3, 9.0, 2 * backend.SMALL)
    for fn in (special.iv, special.ive):
        for v in (0.0, 1.5, -2.5):
            g = ad.grad(lambda x: np.sum(fn(v, x)))(x.astype(dtype))
            fd = (fn(v, x + 1e-6) - fn(v, x - 1e-6)) / 2e-6
            assert g.dtype == dtype
            np.testing.assert_allclose(g, fd, rtol=1e-6 if dtype is np.float64 else 2e-4,
                                       atol=1e-7 if dtype is np.float64 else 1e-5, err_msg=f"{fn.__name__}({v}, x)")


# I′_v(0) = ½(I_{v−1}(0) + I_{v+1}(0)): 0 for v = 0, 1/2 for v = ±1, 0 for |v| ≥ 2 integer and
# v > 1, +inf for 0 < v < 1; at the pole of a negative order that is not an integer SciPy gives
# I_v(0) = +inf, and the slope follows its values (+inf).  ive: the same where SciPy's ive(v, 0)
# is finite, NaN at those poles (where SciPy's value is NaN).
IV_LIMITS = {0.0: 0.0, 1.0: 0.5, -1.0: 0.5, 2.0: 0.0, -2.0: 0.0, 3.0: 0.0, 1.5: 0.0, 2.5: 0.0,
             0.5: np.inf, -0.5: np.inf, -1.5: np.inf, -2.5: np.inf}


@pytest.mark.parametrize("n", [1, 2 * backend.SMALL])
def test_iv_and_ive_derivatives_at_zero_are_the_limits(n):
    x = np.zeros(n)
    for v, want in IV_LIMITS.items():
        assert np.all(ad.grad(lambda x: np.sum(special.iv(v, x)))(x) == want), v
        assert np.all(ad.jvp(lambda x: special.iv(v, x), (x,), (np.ones(n),))[1] == want), v
        ive = ad.grad(lambda x: np.sum(special.ive(v, x)))(x)
        assert np.all(ive == want) if np.isfinite(want) else np.all(np.isnan(ive)), v
        if np.isfinite(want):  # one-sided differences agree with a finite limit
            assert abs((special.iv(v, 1e-12) - special.iv(v, 0.0)) / 1e-12 - want) < 1e-5


@pytest.mark.parametrize("dtype, span", [(np.float64, (720.0, 800.0)), (np.float32, (92.0, 100.0))])
def test_iv_derivative_where_iv_overflows_is_inf(dtype, span):
    """I_v overflows to inf (from x ≈ 714 in float64, 91 in float32); so does its slope, for v = 0
    too (whose (v/x)·I_v is 0 · inf)."""
    for n in (3, 2 * backend.SMALL):
        x = np.linspace(*span, n).astype(dtype)
        for v in (0.0, 1.0, -1.0, 2.5, -2.5):
            assert np.all(np.isinf(special.iv(v, x))), v
            g = ad.grad(lambda x: np.sum(special.iv(v, x)))(x)
            assert np.all(g == np.inf), (v, n)


@pytest.mark.parametrize("v", [0.0, 1.0, -1.0, 2.5, -2.7])
@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"])
def test_iv_second_derivative_solves_the_modified_bessel_equation(v, mode):
    """I″ = −I′/x + (1 + v²/x²) I, in every nesting order."""
    x = np.linspace(0.3, 8.0, 6)
    h = np.diag(ad.hessian(lambda x: np.sum(special.iv(v, x)), mode=mode)(x))
    want = -_iv_closed_form(v, x) / x + (1.0 + v * v / (x * x)) * special.iv(v, x)
    np.testing.assert_allclose(h, want, rtol=1e-9, atol=1e-12)


def test_iv_hvp_on_the_kernels_solves_the_modified_bessel_equation():
    v, x = -2.7, np.linspace(0.3, 8.0, 2 * backend.SMALL)
    hv = ad.hvp(lambda x: np.sum(special.iv(v, x)), x, np.ones_like(x))
    want = -_iv_closed_form(v, x) / x + (1.0 + v * v / (x * x)) * special.iv(v, x)
    np.testing.assert_allclose(hv, want, rtol=1e-9, atol=1e-12)


def test_iv_ive_and_y1_partials_read_their_value():
    assert {"iv", "ive", "y1"} <= set(READERS)
    x = np.linspace(0.3, 9.0, 2 * backend.SMALL)
    g = ad.grad(lambda x: np.sum(special.y1(x)))(x)
    np.testing.assert_allclose(g, 0.5 * (special.y0(x) - special.yn(2, x)), rtol=1e-12)
