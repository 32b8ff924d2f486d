"""dualad.scipy.integrate.odeint: reverse mode by the adjoint method, against closed forms,
central differences of SciPy's own solver, and second derivatives (reverse over reverse)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate as si

import dualad as ad
from dualad.scipy.integrate import odeint
from tests.helpers import fd_jacobian

TIGHT = dict(rtol=1e-11, atol=1e-11)
T = np.array([0.2, 0.5, 1.1, 1.6])


def decay(y, t, k):
    return -k * y


def pendulum(y, t, w, damp):
    return np.array([y[1], -w[0] * np.sin(y[0]) - damp * y[1] + 0.3 * np.cos(t)])


def test_plain_inputs_are_scipys_own():
    y0 = np.array([1.0, 0.0])
    np.testing.assert_array_equal(odeint(pendulum, y0, T, (np.array([2.0]), 0.1)),
                                  si.odeint(pendulum, y0, T, args=(np.array([2.0]), 0.1)))


def test_exponential_decay_closed_forms():
    """y(t) = y0 exp(−k (t − t0)): every derivative in y0, k and each time has a closed form."""
    y0, k = np.array([2.0, -1.0]), 0.7
    loss = lambda y0, t, k: np.sum(odeint(decay, y0, t, (k,), **TIGHT) * np.arange(1.0, 5.0)[:, None])
    w = np.arange(1.0, 5.0)
    e = np.exp(-k * (T - T[0]))
    gy0, gt, gk = ad.grad(loss, argnums=(0, 1, 2))(y0, T, k)
    np.testing.assert_allclose(gy0, np.sum(w * e) * np.ones(2), rtol=1e-8)
    dt = -k * np.sum(y0) * w * e  # ∂/∂t_i of Σ_j w_i y_j(t_i)
    np.testing.assert_allclose(gt, np.concatenate([[-np.sum(dt[1:])], dt[1:]]), rtol=1e-8)
    np.testing.assert_allclose(gk, np.sum(-(T - T[0]) * w * e) * np.sum(y0), rtol=1e-8)


@pytest.mark.parametrize("argnum", [0, 1, 2, 3])
def test_jacobians_against_central_differences(argnum):
    args = [np.array([0.4, -0.2]), T, np.array([1.5]), 0.2]
    f = lambda y0, t, w, damp: odeint(pendulum, y0, t, (w, damp), **TIGHT)
    fd = fd_jacobian(f, [np.asarray(a, dtype=float) for a in args], argnum, eps=1e-5)
    np.testing.assert_allclose(ad.jacrev(f, argnums=argnum)(*args), fd, rtol=1e-6, atol=1e-8)


def test_hessian_reverse_over_reverse():
    """The backward solve is differentiable again (the adjoint of the adjoint system)."""
    t = np.array([0.0, 0.4, 0.9])

    def loss(p):
        ys = odeint(pendulum, p[:2], t, (p[2:3], p[3]), **TIGHT)
        return np.sum(ys[1:] ** 2)

    p = np.array([0.4, -0.2, 1.5, 0.2])
    H = ad.hessian(loss, mode="reverse-over-reverse")(p)
    np.testing.assert_allclose(H, fd_jacobian(ad.grad(loss), [p], 0, eps=1e-5), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(H, H.T, atol=1e-8)


def test_forward_mode_and_full_output_refuse_clearly():
    y0 = np.array([1.0])
    with pytest.raises(TypeError, match="forward-mode.*reverse mode"):
        ad.jacfwd(lambda y: odeint(decay, y, T, (0.5,)))(y0)
    with pytest.raises(ValueError, match="full_output"):
        ad.grad(lambda y: odeint(decay, y, T, (0.5,), full_output=True)[0][-1, 0])(y0)
    with pytest.raises(ValueError, match="1-D"):
        ad.grad(lambda y: np.sum(odeint(decay, y, T, (0.5,))))(np.ones((1, 1)))
