"""Shared test helpers: central finite differences and a generic jacfwd checker."""

from __future__ import annotations

import numpy as np

import dualad as ad
from dualad.rules import RULES

FD_EPS = 1e-6

#: dualad's own rules (``dualad/rules/elementwise.py``), which the generic per-rule tests sweep.
#: SciPy's rules (``dualad/rules/special.py``) join the table when SciPy's special functions first
#: meet dualad, and some are not differentiable in every input (an order): tests/test_rule_sweep.py
#: sweeps those, so these tests read the same table whatever ran before them.
TABLE_RULES = {name: rule for name, rule in RULES.items() if rule.fn.__module__ == "dualad.rules.elementwise"}


def fd_jacobian(f, args, argnum, eps=FD_EPS):
    """Central-difference Jacobian of ``f(*args)`` w.r.t. ``args[argnum]``, in float64.

    ``f`` must return an array (or a list/tuple of arrays, giving a list of Jacobians).
    Each Jacobian has shape ``S_out + S_in``.
    """
    args = [np.array(a, dtype=np.float64) for a in args]
    x = args[argnum]
    y0 = f(*args)
    multi = isinstance(y0, (list, tuple))
    outs0 = list(y0) if multi else [y0]
    cols = [[] for _ in outs0]
    for j in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp.flat[j] += eps
        xm.flat[j] -= eps
        ap, am = list(args), list(args)
        ap[argnum], am[argnum] = xp, xm
        yp, ym = f(*ap), f(*am)
        yp = list(yp) if multi else [yp]
        ym = list(ym) if multi else [ym]
        for o, (p, m) in enumerate(zip(yp, ym)):
            cols[o].append((np.asarray(p, dtype=np.float64) - np.asarray(m, dtype=np.float64)) / (2 * eps))
    jacs = []
    for o, y in enumerate(outs0):
        s_out = np.shape(y)
        J = np.stack(cols[o], axis=-1) if cols[o] else np.zeros(s_out + (0,))
        jacs.append(J.reshape(s_out + x.shape))
    return jacs if multi else jacs[0]


def check_jacfwd(f, *args, argnums=0, rtol=1e-5, atol=1e-6, eps=FD_EPS):
    """Compare ``dualad.jacfwd(f, argnums)(*args)`` with central differences.

    Works for array outputs and for list/tuple-of-array outputs, single or tuple ``argnums``.
    Returns the dualad Jacobian.
    """
    jac = ad.jacfwd(f, argnums=argnums)(*args)
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for pos, n in enumerate(nums):
        expected = fd_jacobian(f, args, n, eps)
        got = jac if isinstance(argnums, int) else _pick_arg(jac, pos)
        if isinstance(expected, list):
            assert isinstance(got, (list, tuple)) and len(got) == len(expected)
            for g, e in zip(got, expected):
                _assert_close(g, e, rtol, atol)
        else:
            _assert_close(got, expected, rtol, atol)
    return jac


def _pick_arg(jac, pos):
    """For tuple argnums: each output leaf is a tuple over argnums."""
    if isinstance(jac, list):  # list output: each element a tuple over argnums
        return [j[pos] for j in jac]
    if isinstance(jac, tuple) and jac and isinstance(jac[0], tuple):
        return tuple(j[pos] for j in jac)
    return jac[pos]


def _assert_close(got, expected, rtol, atol):
    got = np.asarray(got)
    assert got.shape == expected.shape, f"Jacobian shape {got.shape}, expected {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def fd_directional(f, z, v, eps=FD_EPS):
    """Central difference of ``f`` at ``z`` along the direction ``v`` (complex values allowed):
    what a jvp of ``f`` (a real-linear map for a non-holomorphic ``f``) must return."""
    z = np.asarray(z)
    return (np.asarray(f(z + eps * v)) - np.asarray(f(z - eps * v))) / (2 * eps)


def fd_complex_grad(f, z, eps=FD_EPS):
    """JAX's gradient of a real-valued ``f`` of a complex array, ``∂f/∂x − i ∂f/∂y``, by central
    differences along each real and imaginary unit."""
    z = np.asarray(z, dtype=np.complex128)
    g = np.zeros(z.shape, dtype=np.complex128)
    for j in range(z.size):
        e = np.zeros(z.shape, dtype=np.complex128)
        e.flat[j] = 1.0
        dx = fd_directional(f, z, e, eps)
        dy = fd_directional(f, z, 1j * e, eps)
        g.flat[j] = dx - 1j * dy
    return g


def check_modes_against_fd(f, x, rtol=1e-5, atol=1e-6):
    """jacfwd and jacrev of ``f`` at ``x`` both equal the central-difference Jacobian."""
    expected = fd_jacobian(f, [x], 0)
    np.testing.assert_allclose(ad.jacfwd(f)(x), expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(ad.jacrev(f)(x), expected, rtol=rtol, atol=atol)


def check_bilinear(f, x, rng, rtol=1e-9, atol=1e-10):
    """Σ u·(J v) from forward mode equals Σ (Jᵀ u)·v from reverse mode, for random u, v."""
    v = rng.normal(size=np.shape(x))
    y, jv = ad.jvp(f, (x,), (v,))
    u = rng.normal(size=np.shape(y))
    (jtu,) = ad.vjp(f, x)[1](u)
    assert np.isclose(np.sum(u * jv), np.sum(jtu * v), rtol=rtol, atol=atol)


def check_degenerate_point(what, f, x, expected):
    """grad and jacfwd of ``f`` at the degenerate point ``x``: ``expected`` (a closed form),
    ``"nan"`` (every entry NaN) or ``"nonfinite"`` (some entry inf or NaN), as the published
    degenerate-point tables say."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for g in (ad.grad(f)(x), ad.jacfwd(f)(x)):
            if isinstance(expected, str) and expected == "nan":
                assert np.isnan(g).all(), what
            elif isinstance(expected, str):
                assert expected == "nonfinite" and not np.all(np.isfinite(g)), what
            else:
                np.testing.assert_allclose(g, expected, atol=1e-12)


def pendulum(p, n):
    """A damped pendulum's ``n`` explicit Euler steps from ``p = (θ₀, g/l, c, dt)``: a long scalar
    loop (the loss θ² + ω² at the end)."""
    theta, omega = p[0], 0.0
    for _ in range(n):
        omega = omega - p[3] * (p[1] * np.sin(theta) + p[2] * omega)
        theta = theta + p[3] * omega
    return theta**2 + omega**2
