"""The non-differentiable-point table (docs/coverage.md), in every mode and nesting order, and strong
zeros through every mode."""

import numpy as np
import pytest

import dualad as ad

# (name, f, x0, f'(x0) by the published table)
TABLE = [
    ("relu'(0) = 0", ad.relu, 0.0, 0.0),
    ("abs'(0) = 0", np.abs, 0.0, 0.0),
    ("maximum tie splits 0.5", lambda x: np.maximum(x, 1.0), 1.0, 0.5),
    ("minimum tie splits 0.5", lambda x: np.minimum(x, 1.0), 1.0, 0.5),
    ("maximum of x with itself", lambda x: np.maximum(x, x), 0.3, 1.0),
    ("sqrt'(0) = +inf", np.sqrt, 0.0, np.inf),
    ("floor' = 0", np.floor, 2.0, 0.0),
    ("round' = 0", np.rint, 2.5, 0.0),
    ("sign'(0) = 0", np.sign, 0.0, 0.0),
    ("clip at a bound splits 0.5", lambda x: np.clip(x, 0.0, 1.0), 1.0, 0.5),
]

FIRST = {
    "jvp": lambda f, x: ad.jvp(f, (x,), (1.0,))[1],
    "grad": lambda f, x: ad.grad(f)(x),
    "jacfwd": lambda f, x: ad.jacfwd(f)(x),
    "jacrev": lambda f, x: ad.jacrev(f)(x),
    "derivative": lambda f, x: ad.derivative(f)(x),
    "Variable": lambda f, x: _variable_grad(f, x),
}


def _variable_grad(f, x):
    v = ad.Variable(x)
    y = f(v)
    y.backward()
    return v.grad


@pytest.mark.parametrize("way", sorted(FIRST))
@pytest.mark.parametrize("name,f,x0,want", TABLE, ids=[t[0] for t in TABLE])
def test_table_in_every_mode(name, f, x0, want, way):
    got = float(FIRST[way](f, x0))
    assert got == want, f"{name} via {way}: {got}"


@pytest.mark.parametrize("outer", ["forward", "reverse"])
@pytest.mark.parametrize("inner", ["forward", "reverse"])
@pytest.mark.parametrize("name,f,x0,want", [t for t in TABLE if np.isfinite(t[3])], ids=[t[0] for t in TABLE if np.isfinite(t[3])])
def test_table_inside_and_outside_nesting(name, f, x0, want, outer, inner):
    d_in = ad.derivative if inner == "forward" else ad.grad
    d_out = ad.derivative if outer == "forward" else ad.grad
    # the rule evaluated at an inner level while an outer level is active
    assert float(d_out(lambda y: y * d_in(f)(x0))(1.0)) == want
    # the rule's value differentiated by the outer level through an inner one
    assert float(d_out(lambda x: d_in(lambda y: y * f(x))(1.0))(x0)) == want


@pytest.mark.parametrize("way", sorted(FIRST))
def test_strong_zeros_in_every_mode(way):
    f = lambda x: x * np.sqrt(x)  # (d/dx at 0 is 0; 0 · inf must not give NaN)
    assert float(FIRST[way](f, 0.0)) == 0.0
    g = lambda x: np.where(x > 0, np.sqrt(x), 0.0)  # (unselected branch has inf/nan)
    assert float(FIRST[way](g, 0.0)) == 0.0
    assert float(FIRST[way](g, -1.0)) == 0.0


def test_strong_zeros_at_second_order():
    h = ad.hessian(lambda x: np.sum(np.where(x > 0, x**1.5, 0.0)), mode="reverse-over-reverse")(np.array([-1.0, 0.0, 4.0]))
    assert not np.isnan(h).any()
    for mode in ("forward-over-reverse", "forward-over-forward", "reverse-over-forward"):
        np.testing.assert_array_equal(
            ad.hessian(lambda x: np.sum(np.where(x > 0, x**1.5, 0.0)), mode=mode)(np.array([-1.0, 4.0])),
            ad.hessian(lambda x: np.sum(np.where(x > 0, x**1.5, 0.0)), mode="reverse-over-reverse")(np.array([-1.0, 4.0])),
        )


def test_ieee_inputs_propagate_and_never_crash():
    x = np.array([np.inf, -np.inf, np.nan, 1.0])
    g = ad.grad(lambda x: np.sum(np.exp(-x)))(x)
    assert np.isnan(g[2]) and g[3] == -np.exp(-1.0)
    assert g[0] == 0.0 and g[1] == -np.inf
    y, t = ad.jvp(np.sin, (x,), (np.ones(4),))
    assert np.isnan(t[:3]).all() and t[3] == np.cos(1.0)
