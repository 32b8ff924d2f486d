"""Property tests: random programs built from the rule table, reverse mode vs forward mode vs
finite differences.

A program is a chain of steps on a vector ``h`` (initially the input ``x``): a unary rule, or a
binary rule combining ``h`` with ``x``, with ``x`` reversed, or with itself.  Before each rule the
operands are squashed smoothly (tanh) into the rule's declared domain, so every program is smooth
at every input; a reduction ends it.
"""

from __future__ import annotations

import numpy as np
from helpers import TABLE_RULES as RULES  # dualad's own rules (SciPy's: test_rule_sweep)
from hypothesis import given, settings
from hypothesis import strategies as st

import dualad as ad

# piecewise-constant or kinked rules: their derivatives disagree with finite differences on a
# measure-zero set that hypothesis is good at finding (hypot: a kink at the origin, which the
# squashed diagonal hypot(s(x), s(x)) reaches at x = 0), so random smooth programs leave them out
NONSMOOTH = {"hypot", "absolute", "fabs", "sign", "angle", "floor", "ceil", "rint", "trunc", "relu", "maximum", "minimum", "fmax", "fmin", "clip"}
UNARY = sorted(n for n, r in RULES.items() if r.nin == 1 and n not in NONSMOOTH)
BINARY = sorted(n for n, r in RULES.items() if r.nin == 2 and n not in NONSMOOTH)


def squash(h, lo, hi):
    """Smooth map of R onto the inner 80% of (lo, hi)."""
    return lo + (hi - lo) * (0.1 + 0.4 * (np.tanh(h) + 1.0))


def _other(h, x, which):
    if which == "x":
        return x
    if which == "reversed":
        return x[::-1]
    return h


REDUCTIONS = {
    "sum": lambda h: np.sum(h),
    "mean": lambda h: np.mean(h),
    "weighted": lambda h: np.sum(h * np.linspace(-1.0, 2.0, h.shape[0])),
    "sumsq": lambda h: np.sum(h**2),
    "prod_tanh": lambda h: np.prod(np.tanh(h) + 2.0),
    "logsumexp": lambda h: ad.logsumexp(np.tanh(h)),
    "dot_self": lambda h: h @ np.sin(h),
}


def run(program, x):
    h = x
    for step in program:
        if step[0] == "u":
            rule = RULES[step[1]]
            (lo, hi), = rule.domain
            h = rule(squash(h, lo, hi))
        else:
            rule = RULES[step[1]]
            (lo0, hi0), (lo1, hi1) = rule.domain
            h = rule(squash(h, lo0, hi0), squash(_other(h, x, step[2]), lo1, hi1))
    return h


unary_step = st.tuples(st.just("u"), st.sampled_from(UNARY))
binary_step = st.tuples(st.just("b"), st.sampled_from(BINARY), st.sampled_from(["x", "reversed", "self"]))
programs = st.lists(st.one_of(unary_step, unary_step, binary_step), min_size=1, max_size=5)
inputs = st.lists(st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False), min_size=1, max_size=4).map(
    lambda v: np.array(v, dtype=np.float64)
)


def _central(f, x, eps):
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = eps
        cols.append((np.asarray(f(x + e), dtype=np.float64) - np.asarray(f(x - e), dtype=np.float64)) / (2 * eps))
    return np.stack(cols, axis=-1)


def _fd(f, x, eps=1e-6):
    """Central differences and an estimate of their own error: the truncation error of the
    step-eps result is about a third of its distance to the step-2eps result (steep programs,
    e.g. rad2deg twice, have large third derivatives)."""
    with np.errstate(all="ignore"):
        d1 = _central(f, x, eps)
        d2 = _central(f, x, 2 * eps)
    return d1, np.abs(d2 - d1)


def _assert_close_fd(got, fd, err, scale, msg):
    tol = 1e-5 * np.abs(fd) + 1e-6 * scale + err
    bad = np.abs(got - fd) > tol
    assert not np.any(bad), f"{msg}\ngot {got}\nFD  {fd}\ntol {tol}"


@settings(max_examples=30, deadline=None)
@given(program=programs, reduction=st.sampled_from(sorted(REDUCTIONS)), x=inputs)
def test_random_program_gradient(program, reduction, x):
    red = REDUCTIONS[reduction]
    F = lambda v: red(run(program, v))
    value, g_rev = ad.value_and_grad(F)(x)
    g_fwd = ad.jacfwd(F)(x)
    with np.errstate(all="ignore"):
        ref_value = F(x)
    g_fd, g_err = _fd(F, x)
    assert np.all(np.isfinite(g_rev)), (program, reduction, x, g_rev)
    assert g_rev.shape == x.shape and g_rev.dtype == np.float64
    np.testing.assert_allclose(value, ref_value, rtol=1e-12, atol=1e-12)
    scale = max(1.0, float(np.max(np.abs(g_fd))))
    np.testing.assert_allclose(g_rev, g_fwd, rtol=1e-9, atol=1e-11 * scale, err_msg=f"{program} {reduction}: rev vs fwd")
    _assert_close_fd(g_rev, g_fd, g_err, scale, f"{program} {reduction} at {x!r}: rev vs FD")


@settings(max_examples=30, deadline=None)
@given(program=programs, x=inputs)
def test_random_program_jacobian(program, x):
    F = lambda v: run(program, v)
    J_rev = ad.jacrev(F)(x)
    J_fwd = ad.jacfwd(F)(x)
    J_fd, J_err = _fd(F, x)
    assert J_rev.shape == (x.size, x.size)
    scale = max(1.0, float(np.max(np.abs(J_fd))))
    np.testing.assert_allclose(J_rev, J_fwd, rtol=1e-9, atol=1e-11 * scale, err_msg=f"{program}: jacrev vs jacfwd")
    _assert_close_fd(J_rev, J_fd, J_err, scale, f"{program} at {x!r}: jacrev vs FD")
    # a vjp with a random cotangent is a row combination of the Jacobian
    u = np.linspace(-1.0, 1.0, x.size)
    _, pullback = ad.vjp(F, x)
    np.testing.assert_allclose(pullback(u)[0], u @ J_fwd, rtol=1e-9, atol=1e-11 * scale)


@settings(max_examples=30, deadline=None)
@given(program=st.lists(unary_step, min_size=1, max_size=3), x=st.floats(-2.0, 2.0))
def test_random_program_second_derivative(program, x):
    """Scalar programs: grad(grad) vs derivative(., 2) vs FD of the first derivative."""
    F = lambda v: run(program, v)
    x = np.float64(x)
    d2_rr = float(ad.grad(ad.grad(F))(x))
    d2_ff = float(ad.derivative(F, 2)(x))
    d1 = ad.grad(F)
    fd, err = _fd(lambda v: d1(v[0]), np.array([x]), eps=1e-5)
    scale = max(1.0, abs(d2_ff))
    assert abs(d2_rr - d2_ff) <= 1e-9 * scale, (program, x, d2_rr, d2_ff)
    _assert_close_fd(np.array([d2_rr]), fd[0], err[0] * 3, scale * 10, f"{program} at {x!r}: grad(grad) vs FD")
