"""Forward-over-reverse through indexing: the backward sweep adds the adjoints of several
slices of one array into one buffer in place, on Dual cotangents too (primal and lanes).
Checked against finite differences of the gradient and against reverse over forward, and for
never writing into the caller's arrays or into a cotangent it was handed."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import fd_directional

import dualad as ad


def overlapping(x):
    head, tail, mid = x[:-1], x[1:], x[2:-2]
    return (np.sum(100.0 * (tail - head**2) ** 2 + (1.0 - head) ** 2) + np.sum(np.sin(mid) * x[::3][1:3].sum())
            + np.sum(x[1:] * x[1:]) + x[3] * x[-2] + np.sum(np.exp(0.1 * x[::-2])))


@pytest.mark.parametrize("n", [9, 400])
def test_hvp_through_overlapping_slices(n):
    rng = np.random.default_rng(n)
    x, v = rng.standard_normal(n), rng.standard_normal(n)
    x0, v0 = x.copy(), v.copy()
    got = ad.hvp(overlapping, x, v)
    fd = fd_directional(ad.grad(overlapping), x, v)
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-5)
    rof = ad.grad(lambda y: ad.jvp(overlapping, (y,), (v,))[1])(x)  # the other nesting order
    np.testing.assert_allclose(got, rof, rtol=1e-11, atol=1e-9)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(v, v0)
    # Several directions in one pass: the lanes accumulate as the primal does.
    vs = rng.standard_normal((3, n))
    np.testing.assert_allclose(ad.hvp(overlapping, x, vs), [ad.hvp(overlapping, x, w) for w in vs], rtol=1e-12, atol=1e-10)


def test_dual_cotangent_is_not_written():
    """A vjp under jvp: the cotangent handed to the pullback is a Dual pulled through two
    overlapping slices; neither it nor its parts change, and the result is the closed form."""
    rng = np.random.default_rng(1)
    x, dx = rng.standard_normal(6), rng.standard_normal(6)
    u = rng.standard_normal(5)
    u0 = u.copy()

    def pulled(y):
        ct = np.sin(y[1:]) * u  # a Dual cotangent under jvp
        _, back = ad.vjp(lambda z: z[1:] + z[:-1] * 3.0, y)
        (g,) = back(ct)
        return g

    val, tan = ad.jvp(pulled, (x,), (dx,))
    c, dc = np.sin(x[1:]) * u, np.cos(x[1:]) * dx[1:] * u
    exp_val, exp_tan = np.zeros(6), np.zeros(6)
    exp_val[1:] += c
    exp_val[:-1] += 3.0 * c
    exp_tan[1:] += dc
    exp_tan[:-1] += 3.0 * dc
    np.testing.assert_allclose(val, exp_val, rtol=1e-13)
    np.testing.assert_allclose(tan, exp_tan, rtol=1e-13)
    np.testing.assert_array_equal(u, u0)


@pytest.mark.parametrize("n", [6, 300])
def test_plain_and_dual_cotangents_mix(n):
    """Slices whose cotangents are plain (linear terms) and Dual (curved terms) meet in one
    adjoint, in both orders: H v = diag(6 x[:-1]) v on the head, whatever the linear terms."""
    rng = np.random.default_rng(2)
    x, v = rng.standard_normal(n), rng.standard_normal(n)
    expected = np.zeros(n)
    expected[:-1] = 6.0 * x[:-1] * v[:-1]
    for f in (lambda y: np.sum(y[1:]) + np.sum(y[:-1] ** 3) + np.sum(y[2:]),
              lambda y: np.sum(y[:-1] ** 3) + np.sum(y[1:]) - np.sum(y[::2])):
        np.testing.assert_allclose(ad.hvp(f, x, v), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("gval", [0.7, 0.0])
def test_hvp_kernel_reads_a_broadcast_cotangent_once(k, gval):
    """A sum's cotangent reaches the forward-over-reverse kernel as one value broadcast to every
    element; the kernel reads that value instead of a materialised copy, with the same result
    (strong zeros included) as for the full array."""
    from dualad import kernels
    from dualad.rules.base import RULES

    rng = np.random.default_rng(k)
    x, y = rng.standard_normal(500), rng.standard_normal(500)
    tx, ty = rng.standard_normal((k, 500)), rng.standard_normal((k, 500))
    gt = rng.standard_normal((k, 500))
    x[:5] = np.inf  # ∞ partials meet a zero cotangent: strong zeros either way
    for rule, xs, ts in ((RULES["square"], [x], [tx]), (RULES["multiply"], [x, y], [tx, None]), (RULES["multiply"], [x, y], [tx, ty]),
                       (RULES["sin"], [x], [tx])):
        for g_t in (None, gt):
            bro = np.broadcast_to(np.array(gval), (500,))
            full = np.full(500, gval)
            got = kernels.hvp(rule, xs, ts, bro, g_t, [True] * len(xs), np.float64)
            want = kernels.hvp(rule, xs, ts, full, g_t, [True] * len(xs), np.float64)
            for (gp_, gl), (wp, wl) in zip(got, want):
                np.testing.assert_array_equal(gp_, wp)
                np.testing.assert_array_equal(gl, wl)
