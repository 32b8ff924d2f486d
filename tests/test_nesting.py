"""Nesting forward and reverse mode: all four Hessian orders, perturbation confusion, third
derivatives, and second derivatives of every unary rule."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from helpers import TABLE_RULES as RULES  # dualad's own rules (SciPy's: test_rule_sweep)
from scipy.optimize import rosen, rosen_der, rosen_hess

import dualad as ad


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


X0 = np.array([-1.2, 1.0, 0.5, 2.0, -0.3])

HESSIANS = {
    "fwd_over_fwd": lambda f: ad.jacfwd(ad.jacfwd(f)),
    "fwd_over_rev": lambda f: ad.jacfwd(ad.grad(f)),
    "rev_over_rev": lambda f: ad.jacrev(ad.grad(f)),
    "rev_over_fwd": lambda f: ad.jacrev(ad.jacfwd(f)),
}


def test_rosenbrock_value_and_gradient():
    value, g = ad.value_and_grad(rosenbrock)(X0)
    assert float(value) == pytest.approx(rosen(X0), rel=1e-14)
    np.testing.assert_allclose(g, rosen_der(X0), rtol=1e-13)
    np.testing.assert_allclose(ad.jacfwd(rosenbrock)(X0), rosen_der(X0), rtol=1e-13)


@pytest.mark.parametrize("order", list(HESSIANS))
def test_rosenbrock_hessian_all_orders(order):
    H = HESSIANS[order](rosenbrock)(X0)
    assert isinstance(H, np.ndarray) and H.shape == (5, 5) and H.dtype == np.float64
    np.testing.assert_allclose(H, rosen_hess(X0), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("order", list(HESSIANS))
def test_rosenbrock_hessian_matrix_input(order):
    """S_in = (2, 3) gives a Hessian of shape (2, 3, 2, 3)."""
    x = X0[:4].reshape(2, 2)
    f = lambda M: rosenbrock(M.reshape(-1))
    H = HESSIANS[order](f)(x)
    assert H.shape == (2, 2, 2, 2)
    np.testing.assert_allclose(H.reshape(4, 4), rosen_hess(X0[:4]), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("order", list(HESSIANS))
def test_hessian_float32(order):
    x = X0.astype(np.float32)
    H = HESSIANS[order](rosenbrock)(x)
    assert H.dtype == np.float32
    np.testing.assert_allclose(H, rosen_hess(X0), rtol=1e-4, atol=1e-2)


def test_hessian_two_arguments_mixed_block():
    f = lambda x, y: np.sum(np.sin(x) * y**2)
    x, y = np.array([0.3, -0.7]), np.array([1.1, 2.0])
    # d/dy (d/dx f) = 2 y cos x on the diagonal
    expected = np.diag(2.0 * y * np.cos(x))
    H_rr = ad.jacrev(ad.grad(f, argnums=0), argnums=1)(x, y)
    H_fr = ad.jacfwd(ad.grad(f, argnums=0), argnums=1)(x, y)
    H_rf = ad.jacrev(ad.jacfwd(f, argnums=0), argnums=1)(x, y)
    for H in (H_rr, H_fr, H_rf):
        np.testing.assert_allclose(H, expected, rtol=1e-13)


# --------------------------------------------------------------------------------------------
# perturbation confusion (Siskind & Pearlmutter)
# --------------------------------------------------------------------------------------------


def test_perturbation_confusion_reverse_over_reverse():
    assert float(ad.grad(lambda x: x * ad.grad(lambda y: x * y)(1.0))(4.0)) == 8.0


def test_perturbation_confusion_forward_over_reverse():
    assert float(ad.derivative(lambda x: x * ad.grad(lambda y: x * y)(2.0))(1.0)) == 2.0


def test_perturbation_confusion_reverse_over_forward():
    assert float(ad.grad(lambda x: x * ad.derivative(lambda y: x * y)(2.0))(1.0)) == 2.0


def test_perturbation_confusion_forward_over_forward():
    assert float(ad.derivative(lambda x: x * ad.derivative(lambda y: x + y)(1.0))(1.0)) == 1.0


def test_perturbation_confusion_reverse_sum():
    # d/dx [x * d/dy (x + y)] = 1, in reverse over reverse and reverse over forward
    assert float(ad.grad(lambda x: x * ad.grad(lambda y: x + y)(1.0))(1.0)) == 1.0
    assert float(ad.grad(lambda x: x * ad.derivative(lambda y: x + y)(1.0))(1.0)) == 1.0
    assert float(ad.derivative(lambda x: x * ad.grad(lambda y: x + y)(1.0))(1.0)) == 1.0


def test_perturbation_confusion_variable_inside_grad():
    """A hand-made Variable closed over by a transform is a constant to the inner tape."""
    x = ad.Variable(3.0)
    inner = ad.grad(lambda y: x * y**2)(2.0)  # 4x, still depends on x
    assert isinstance(inner, ad.Variable)
    inner.backward()
    assert float(x.grad) == 4.0


def test_nested_three_levels():
    # d/dx [ x * d/dy [ y * d/dz (x*y*z) ] ] with d/dz = x*y, y*x*y -> d/dy = 2xy,
    # x * 2xy at y=1 -> 2x^2, d/dx -> 4x
    f = lambda x: x * ad.grad(lambda y: y * ad.derivative(lambda z: x * y * z)(1.0))(1.0)
    assert float(ad.grad(f)(3.0)) == pytest.approx(12.0)
    assert float(ad.derivative(f)(3.0)) == pytest.approx(12.0)


# --------------------------------------------------------------------------------------------
# third derivatives
# --------------------------------------------------------------------------------------------


def _third_fd(f, x, eps=1e-4):
    """Central differences of the Hessian (computed exactly) along each input direction."""
    hess = ad.jacfwd(ad.jacfwd(f))
    T = np.zeros((x.size,) * 3)
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = eps
        T[:, :, k] = (hess(x + e) - hess(x - e)) / (2 * eps)
    return T


THIRD_CASES = {
    "rosenbrock": (rosenbrock, X0[:4]),
    "trig_exp": (lambda x: np.sum(np.sin(x) * np.exp(x[::-1])) + x[0] * x[1] * x[2], np.array([0.3, -0.5, 1.1])),
    "log_softmax": (lambda x: ad.logsumexp(x) + np.sum(np.tanh(x) ** 3), np.array([0.2, -1.0, 0.7])),
}


@pytest.mark.parametrize("name", list(THIRD_CASES))
def test_third_derivative_rev_fwd_rev(name):
    f, x = THIRD_CASES[name]
    T = ad.jacrev(ad.jacfwd(ad.grad(f)))(x)
    assert T.shape == (x.size,) * 3
    expected = _third_fd(f, x)
    np.testing.assert_allclose(T, expected, rtol=1e-6, atol=1e-6 * max(1.0, np.max(np.abs(expected))))
    # symmetric in all index orders
    np.testing.assert_allclose(T, np.transpose(T, (1, 0, 2)), atol=1e-9)
    np.testing.assert_allclose(T, np.transpose(T, (2, 1, 0)), atol=1e-9)


def test_third_derivative_all_reverse():
    f, x = THIRD_CASES["trig_exp"]
    T = ad.jacrev(ad.jacrev(ad.grad(f)))(x)
    np.testing.assert_allclose(T, ad.jacrev(ad.jacfwd(ad.grad(f)))(x), rtol=1e-12, atol=1e-12)


def test_scalar_high_order_reverse():
    # d^4/dx^4 sin = sin, by four nested reverse levels
    g = ad.grad(ad.grad(ad.grad(ad.grad(np.sin))))
    assert float(g(0.7)) == pytest.approx(np.sin(0.7), rel=1e-13)
    assert float(ad.grad(ad.grad(ad.grad(lambda x: x**4)))(2.0)) == pytest.approx(48.0)


# --------------------------------------------------------------------------------------------
# second derivative of every unary rule: grad(grad) == derivative(f, 2) == FD of f'
# --------------------------------------------------------------------------------------------

UNARY = [r for r in RULES.values() if r.nin == 1]


@pytest.mark.parametrize("rule", UNARY, ids=[r.name for r in UNARY])
def test_unary_rule_second_derivative(rule):
    lo, hi = rule.domain[0]
    rng = np.random.default_rng(zlib.crc32(rule.name.encode()))
    for x in rng.uniform(lo, hi, size=3):
        x = float(x)
        f = lambda t: rule(t)
        rr = float(ad.grad(ad.grad(f))(x))
        ff = float(ad.derivative(f, 2)(x))
        fr = float(ad.derivative(ad.grad(f))(x))
        rf = float(ad.grad(ad.derivative(f))(x))
        d1 = ad.grad(f)
        eps = 1e-5
        fd = (float(d1(x + eps)) - float(d1(x - eps))) / (2 * eps)
        tol = 1e-5 * max(1.0, abs(fd))
        assert abs(rr - fd) <= tol, f"{rule.name}''({x}): grad(grad) {rr}, FD {fd}"
        assert abs(ff - rr) <= 1e-10 * max(1.0, abs(rr)), f"{rule.name}''({x}): derivative(2) {ff}, grad(grad) {rr}"
        assert abs(fr - rr) <= 1e-10 * max(1.0, abs(rr)), f"{rule.name}''({x}): derivative(grad) {fr}, grad(grad) {rr}"
        assert abs(rf - rr) <= 1e-10 * max(1.0, abs(rr)), f"{rule.name}''({x}): grad(derivative) {rf}, grad(grad) {rr}"


@pytest.mark.parametrize("rule", [r for r in RULES.values() if r.nin == 2], ids=[r.name for r in RULES.values() if r.nin == 2])
def test_binary_rule_hessian_orders(rule):
    rng = np.random.default_rng(zlib.crc32(("bin" + rule.name).encode()))
    x = np.array([rng.uniform(lo, hi) for lo, hi in rule.domain])
    f = lambda v: rule(v[0], v[1])
    hs = {k: h(f)(x) for k, h in HESSIANS.items()}
    ref = hs["fwd_over_fwd"]
    for k, H in hs.items():
        np.testing.assert_allclose(H, ref, rtol=1e-10, atol=1e-12, err_msg=f"{rule.name}: {k}")
    g = ad.grad(f)
    eps = 1e-5
    fd = np.stack([(g(x + e) - g(x - e)) / (2 * eps) for e in np.eye(2) * eps], axis=-1)
    np.testing.assert_allclose(ref, fd, rtol=1e-5, atol=1e-5, err_msg=f"{rule.name}: FD")
