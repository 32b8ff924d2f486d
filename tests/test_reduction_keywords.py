"""NumPy's reduction keywords on active values: ``where=``, ``initial=`` and ``var``'s ``mean=``.

Each was once accepted and ignored (a silent wrong value and gradient).  Values against NumPy,
forward mode against central differences, reverse against forward, ``jit`` replays at new
inputs and new masks against the plain transforms.
"""

import numpy as np
import pytest

import dualad as ad
from tests.test_numpy_stats import both_modes

RNG = np.random.default_rng(11)
X = RNG.permutation(np.linspace(-2.0, 2.0, 12)).reshape(3, 4) + 0.01 * RNG.standard_normal((3, 4))
MASK = np.array([[True, False, True, True], [False, True, True, False], [True, True, False, True]])
ROW = np.array([True, False, True, True])  # broadcast against every row
EMPTY_ROW = np.array([[True, True, False, True], [False] * 4, [True, False, True, True]])
NAN = np.where(np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]) == 1, np.nan, 0.0)

CASES = {
    "sum_where": lambda x: np.sum(x**2, where=MASK),
    "sum_where_axis": lambda x: np.sum(np.sin(x), axis=1, where=MASK),
    "sum_where_row_keepdims": lambda x: np.sum(x, axis=0, where=ROW, keepdims=True),
    "sum_initial": lambda x: np.sum(x, axis=1, initial=1.5),
    "sum_where_initial": lambda x: np.sum(x**3, axis=0, where=MASK, initial=-0.5),
    "sum_where_false": lambda x: np.sum(x, axis=1, where=False) + np.sum(x, where=True),
    "mean_where": lambda x: np.mean(x**2, where=MASK),
    "mean_where_axis": lambda x: np.mean(np.exp(x), axis=1, where=MASK),
    "mean_where_keepdims": lambda x: np.mean(x, axis=0, where=MASK, keepdims=True),
    "var_where": lambda x: np.var(x, axis=1, where=MASK),
    "var_where_ddof": lambda x: np.var(x, where=MASK, ddof=1),
    "var_mean": lambda x: np.var(x, axis=1, mean=np.mean(x, axis=1, keepdims=True) * 0.5),
    "std_where": lambda x: np.std(x, axis=0, where=MASK),
    "std_mean": lambda x: np.std(x, axis=0, mean=np.max(x, axis=0, keepdims=True)),
    "max_initial": lambda x: np.max(x, axis=0, initial=0.25),
    "max_where_initial": lambda x: np.max(x, axis=1, where=MASK, initial=-5.0),
    "max_empty_row": lambda x: np.max(x**2, axis=1, where=EMPTY_ROW, initial=0.5),
    "min_where_initial": lambda x: np.min(x, axis=1, where=MASK, initial=5.0),
    "min_initial_all": lambda x: np.min(x, initial=-0.75),
    "prod_where": lambda x: np.prod(x, axis=1, where=MASK),
    "prod_where_initial": lambda x: np.prod(x, axis=0, where=MASK, initial=2.0),
    "method_sum": lambda x: x.sum(axis=0, where=MASK, initial=1.0),
    "method_mean": lambda x: x.mean(axis=1, where=MASK),
    "method_var_std": lambda x: x.var(where=MASK, ddof=1) + x.std(axis=0, where=MASK),
    "method_max_min": lambda x: x.max(axis=1, where=MASK, initial=-3.0) - x.min(axis=1, initial=0.1),
    "method_prod": lambda x: x.prod(axis=1, where=MASK, initial=0.5),
    "nansum_where": lambda x: np.nansum(x + NAN, axis=1, where=MASK),
    "nansum_initial": lambda x: np.nansum(x + NAN, axis=0, initial=2.0),
    "nanprod_where": lambda x: np.nanprod(x + NAN, axis=1, where=MASK, initial=1.5),
    "nanmean_where": lambda x: np.nanmean(x + NAN, axis=1, where=MASK),
    "nanvar_where": lambda x: np.nanvar(x + NAN, axis=0, where=MASK),
    "nanstd_where_ddof": lambda x: np.nanstd(x + NAN, where=MASK, ddof=1),
    "nanvar_mean": lambda x: np.nanvar(x + NAN, axis=1, mean=np.zeros((3, 1))),
    "nanmax_where": lambda x: np.nanmax(x + NAN, axis=1, where=MASK, initial=-9.0),
    "nanmin_initial": lambda x: np.nanmin(x + NAN, axis=0, initial=0.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reduction_keyword(name):
    both_modes(CASES[name], X)


@pytest.mark.parametrize("name", ["sum_where_initial", "mean_where_axis", "var_where", "max_where_initial", "nanmean_where"])
def test_reduction_keyword_float32(name):
    x = X.astype(np.float32)
    y = ad.jacrev(CASES[name])(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, ad.jacrev(CASES[name])(X), rtol=1e-5, atol=1e-6)


def test_where_mask_from_the_input_replays_under_jit():
    """A mask computed from the input itself changes between calls: each jit call equals the
    plain transform at its own point."""

    def f(x):
        return np.mean(x**2, where=x > 0) + np.sum(np.cos(x), axis=1, where=x < 0.5).sum() + np.max(x, where=x < 1.0, initial=-2.0)

    fast = ad.jit(ad.value_and_grad(f))
    for shift in (0.0, 0.7, -0.4, 1.1):
        x = X + shift
        value, g = fast(x)
        want_value, want_g = ad.value_and_grad(f)(x)
        np.testing.assert_allclose(value, f(x), rtol=1e-13)
        np.testing.assert_allclose(value, want_value, rtol=1e-13)
        np.testing.assert_allclose(g, want_g, rtol=1e-12, atol=1e-14)


def test_max_where_needs_initial_as_in_numpy():
    with pytest.raises(ValueError):
        np.max(X, where=MASK)  # NumPy's own rule
    with pytest.raises(ValueError, match="initial="):
        ad.grad(lambda x: np.max(x, where=MASK))(X)
    with pytest.raises(ValueError, match="initial="):
        ad.grad(lambda x: np.min(x, axis=0, where=MASK))(X)


def test_initial_is_differentiated_where_it_wins():
    """An active initial= gets derivative 1 where it is the result, 0 where an element wins.
    (NumPy dispatches on the array argument only, so the array is active here too.)"""

    def f(x, c):
        return np.sum(np.max(x, axis=1, where=MASK, initial=c))

    c = 1.0  # above row 1's selected values only
    want = float(np.sum(np.max(X, axis=1, where=MASK, initial=-np.inf) < c))
    assert ad.grad(f, argnums=(0, 1))(X, c)[1] == pytest.approx(want)
    _, gc = ad.grad(lambda x, c: np.sum(x, initial=c) + np.prod(x[0], initial=c), argnums=(0, 1))(X, c)
    assert gc == pytest.approx(1.0 + np.prod(X[0]))
