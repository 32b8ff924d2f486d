"""Costly partials kept from the value's pass: reverse mode computes ``sin``'s ``cos`` (or any
partial that calls a function of its own) in the kernel that computes the value, while
recording, and its sweep only multiplies.

Checked against closed forms, forward mode and NumPy: values and gradients of large arrays in
float64 and float32, broadcast operands (a partial of the output's shape summed back), strong
zeros against infinite kept partials, a cotangent that is active at an outer level (the
sweep then differentiates the rule's partials on the operands), constant operands, adding
into adjoint buffers, and which rules count as costly.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import dualad as ad
import dualad.rules.special  # noqa: F401  (SciPy's rules join the table)
from dualad.kernels import backend
from dualad.reverse.tape import Kept
from dualad.rules import RULES
from dualad.rules.derive import costly_partials

N = 5000  # above backend.SMALL: the kernels' path


def _entries(f, x):
    tape = ad.Tape()
    f(tape.variable(x))
    return tape.entries


def test_which_rules_keep_their_partials():
    costly = {name for name, rule in RULES.items() if costly_partials(rule)}
    assert {"sin", "cos", "sinh", "cosh", "erf", "xlogy", "gammaln"} <= costly
    # arithmetic, cheap calls (sqrt, sign, where), partials read from the value: in the sweep
    assert not {"add", "multiply", "divide", "exp", "tanh", "sqrt", "absolute", "arcsin", "maximum", "log", "log1p"} & costly


def test_sin_keeps_cos_and_matches_numpy():
    x = np.random.default_rng(0).uniform(-10.0, 10.0, N)
    value, g = ad.value_and_grad(lambda x: np.sum(np.sin(x) * x))(x)
    np.testing.assert_allclose(value, np.sum(np.sin(x) * x), rtol=1e-12)
    np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-13, atol=1e-13)
    (entry,) = [e for e in _entries(np.sin, x) if e.op is RULES["sin"]]
    assert type(entry.residual) is Kept and np.array_equal(entry.residual[0], x)  # the operands stay, for replays
    np.testing.assert_allclose(entry.residual.partials[0], np.cos(x), rtol=1e-15, atol=1e-16)


def test_small_arrays_and_cheap_partials_are_not_kept():
    small = np.linspace(-1.0, 1.0, backend.SMALL - 1)
    assert type(_entries(np.sin, small)[0].residual) is not Kept
    large = np.linspace(-1.0, 1.0, N)
    assert type(_entries(np.exp, large)[0].residual) is not Kept  # exp′ is its value
    assert type(_entries(np.arcsin, large)[0].residual) is not Kept  # 1/sqrt(1 − x²): cheap


def test_float32_values_and_gradients():
    x = np.random.default_rng(1).uniform(-3.0, 3.0, N).astype(np.float32)
    value, g = ad.value_and_grad(lambda x: np.sum(np.cos(x)))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, -np.sin(x.astype(np.float64)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(value, np.sum(np.cos(x.astype(np.float64))), rtol=1e-5)


def test_broadcast_operand_gets_its_partial_summed():
    """xlogy(x, y) with a scalar y: ∂/∂y = x / y over the output, summed back to ()."""
    x = np.random.default_rng(2).uniform(0.5, 2.0, N)
    gx, gy = ad.grad(lambda x, y: np.sum(special.xlogy(x, y)), argnums=(0, 1))(x, 1.7)
    np.testing.assert_allclose(gx, np.full(N, np.log(1.7)), rtol=1e-14)
    np.testing.assert_allclose(gy, np.sum(x) / 1.7, rtol=1e-12)
    gy_only = ad.grad(lambda y: np.sum(special.xlogy(x, y)))(1.7)  # x a constant: only ∂/∂y kept
    np.testing.assert_allclose(gy_only, np.sum(x) / 1.7, rtol=1e-12)


def test_strong_zero_against_an_infinite_kept_partial():
    """xlogy's ∂/∂x = log y is −inf at y = 0: a zero cotangent there contributes 0, not NaN."""
    y = np.random.default_rng(3).uniform(0.5, 2.0, N)
    y[::7] = 0.0
    w = np.where(y == 0.0, 0.0, 1.0)
    with np.errstate(invalid="ignore"):  # the value is 0 · (−inf) = NaN there
        g = ad.grad(lambda x: np.sum(w * special.xlogy(x, y)))(np.ones(N))
    assert not np.isnan(g).any() and np.all(g[y == 0.0] == 0.0)
    np.testing.assert_allclose(g, np.log(np.where(y == 0.0, 1.0, y)), rtol=1e-14, atol=1e-15)


def test_kept_contribution_accumulates_with_others():
    """sin(x) + sin(x)·x + x: several contributions to one adjoint, some added into its buffer."""
    x = np.random.default_rng(4).uniform(-2.0, 2.0, N)
    g = ad.grad(lambda x: np.sum(np.sin(x) + np.sin(x) * x + np.cos(x) ** 2))(x)
    np.testing.assert_allclose(g, np.cos(x) + np.cos(x) * x + np.sin(x) - 2 * np.cos(x) * np.sin(x), rtol=1e-12, atol=1e-12)


def test_reverse_matches_forward_over_lanes():
    x = np.random.default_rng(5).uniform(-2.0, 2.0, 300)

    def f(x):
        return np.sinh(x) * np.cos(x[::-1]) + special.erf(x)

    np.testing.assert_allclose(ad.jacrev(f)(x), ad.jacfwd(f)(x), rtol=1e-13, atol=1e-13)


def test_active_cotangent_differentiates_the_partials_on_the_operands():
    """d/dḡ of the pullback ḡ ↦ ḡ·cos x is cos x; the cotangent is a Variable of the outer
    level while the kept partials are plain."""
    x = np.random.default_rng(6).uniform(-2.0, 2.0, N)
    _, pullback = ad.vjp(np.sin, x)
    jac_diag = ad.grad(lambda g: np.sum(pullback(g)[0]))(np.ones(N))
    np.testing.assert_allclose(jac_diag, np.cos(x), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse"])
def test_second_order_through_kept_rules(mode):
    """Nested levels do not keep partials (their values are active); hvp and the Hessian
    diagonal of sum(sin x) at large n are −sin x."""
    x = np.random.default_rng(7).uniform(-2.0, 2.0, N)
    v = np.random.default_rng(8).uniform(-1.0, 1.0, N)
    np.testing.assert_allclose(ad.hvp(lambda x: np.sum(np.sin(x)), x, v), -np.sin(x) * v, rtol=1e-13, atol=1e-14)
    h = ad.hessian(lambda x: np.sum(np.sin(x)), mode=mode)(x[:300])
    np.testing.assert_allclose(h, np.diag(-np.sin(x[:300])), atol=1e-14)
