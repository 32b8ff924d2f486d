"""Differential testing: random programs over the rule table and structural ops, with
broadcasting, in float64 and float32 — forward, reverse, all four Hessian orders and finite
differences agree.

``HYPOTHESIS_PROFILE=long`` runs thousands of examples; CI runs the default, short profile.
"""

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dualad as ad

settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Smooth unary maps with a safe domain: each is applied after squashing into (-1, 1).
UNARY = [np.sin, np.cos, np.tanh, np.exp, np.arctan, np.sinh, ad.sigmoid, ad.softplus,
         lambda x: np.log1p(0.5 * x + 1.0), lambda x: np.sqrt(x + 2.0), lambda x: 1.0 / (x + 3.0),
         lambda x: x ** 3, lambda x: np.arcsin(0.9 * x)]
# Structural steps on a (3, 4) array that keep a (3, 4) array.
STRUCT = [
    lambda a: a.T.reshape(3, 4),
    lambda a: np.flip(a, axis=1),
    lambda a: np.roll(a, 1, axis=0),
    lambda a: np.cumsum(a, axis=1) / 4.0,
    lambda a: a - np.mean(a, axis=0, keepdims=True),
    lambda a: a * np.sum(a, axis=1, keepdims=True) / 4.0,
    lambda a: np.concatenate([a[:, 2:], a[:, :2]], axis=1),
    lambda a: np.where(a > 0.1, a, 0.5 * a),
    lambda a: (a @ np.linspace(-1.0, 1.0, 16).reshape(4, 4)) / 4.0,
    lambda a: a * np.linspace(0.5, 1.5, 4),  # broadcasting a row
    lambda a: a + np.linspace(-0.2, 0.2, 3)[:, None],  # broadcasting a column
    lambda a: np.stack([a[0], a[1] * a[2], a[2]]),
    lambda a: np.einsum("ij,kj->ik", a, a)[:, :1] * a,
]
REDUCE = [
    lambda a: np.sum(a**2),
    lambda a: ad.logsumexp(a),
    lambda a: np.sum(np.tanh(a) * np.arange(12.0).reshape(3, 4)),
    lambda a: np.linalg.norm(a),
]


@st.composite
def programs(draw):
    steps = draw(st.lists(st.tuples(st.sampled_from(range(len(UNARY))), st.sampled_from(range(len(STRUCT)))),
                          min_size=1, max_size=3))
    red = draw(st.sampled_from(range(len(REDUCE))))
    seed = draw(st.integers(0, 2**16))

    def f(x):
        a = x
        for u, s in steps:
            a = UNARY[u](np.tanh(a))
            a = STRUCT[s](a)
        return REDUCE[red](a)

    x = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(3, 4))
    return f, x, (steps, red)


def _fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        g[idx] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@given(programs())
def test_random_programs_forward_reverse_fd(prog):
    f, x, desc = prog
    g_rev = ad.grad(f)(x)
    g_fwd = ad.jacfwd(f)(x)
    np.testing.assert_allclose(g_fwd, g_rev, rtol=1e-10, atol=1e-12, err_msg=str(desc))
    g_fd = _fd_grad(f, x)
    scale = max(1.0, float(np.max(np.abs(g_rev))))
    np.testing.assert_allclose(g_rev, g_fd, rtol=1e-5, atol=1e-6 * scale, err_msg=str(desc))
    g32 = ad.grad(f)(x.astype(np.float32))
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, g_rev, rtol=2e-2, atol=2e-3 * scale, err_msg=str(desc))


@settings(max_examples=10 if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci" else 500)
@given(programs())
def test_random_programs_all_hessian_orders_agree(prog):
    f, x, desc = prog
    hs = [ad.hessian(f, mode=m)(x).reshape(12, 12) for m in
          ("forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward")]
    scale = max(1.0, float(np.max(np.abs(hs[0]))))
    for h in hs[1:]:
        np.testing.assert_allclose(h, hs[0], rtol=1e-9, atol=1e-11 * scale, err_msg=str(desc))
    np.testing.assert_allclose(hs[0], hs[0].T, rtol=1e-9, atol=1e-11 * scale, err_msg=str(desc))
    # finite differences of the gradient, one column
    e = np.zeros_like(x)
    e[1, 2] = 1e-6
    col = (ad.grad(f)(x + e) - ad.grad(f)(x - e)).reshape(-1) / 2e-6
    np.testing.assert_allclose(hs[0][:, 6], col, rtol=1e-4, atol=1e-5 * scale, err_msg=str(desc))
