"""Quantiles, NaN-ignoring reductions, cov/corrcoef/ptp (issue 16): values against NumPy, forward
mode against finite differences, reverse against forward, float32 kept."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualad as ad
from tests.helpers import check_jacfwd

RNG = np.random.default_rng(7)
X = RNG.permutation(np.linspace(-2.0, 2.0, 12)).reshape(3, 4) + 0.01 * RNG.standard_normal((3, 4))
NAN = np.where(np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]) == 1, np.nan, 0.0)


def both_modes(f, x):
    jf = check_jacfwd(f, x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ad.jacrev(f)(x), jf, rtol=1e-10, atol=1e-12)
    y, _ = ad.jvp(f, (x,), (np.ones_like(x),))
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(ad.primal(y), f(x), rtol=1e-12, atol=1e-14)
        assert np.shape(ad.primal(y)) == np.shape(f(x))


METHODS = ["linear", "lower", "higher", "midpoint", "nearest", "inverted_cdf", "averaged_inverted_cdf",
           "closest_observation", "interpolated_inverted_cdf", "hazen", "weibull", "median_unbiased",
           "normal_unbiased"]


@pytest.mark.parametrize("method", METHODS)
def test_quantile_methods(method):
    both_modes(lambda x: np.quantile(x, [0.1, 0.35, 0.5, 0.9], method=method), X)
    both_modes(lambda x: np.quantile(x, 0.3, axis=1, method=method), X)


CASES = {
    "median": lambda x: np.median(x),
    "median_axis0": lambda x: np.median(x, axis=0),
    "median_keepdims": lambda x: np.median(x, axis=1, keepdims=True),
    "median_axes": lambda x: np.median(x.reshape(3, 2, 2), axis=(0, 2)),
    "percentile": lambda x: np.percentile(x, [25, 75], axis=1),
    "percentile_keepdims": lambda x: np.percentile(x, [25, 75], axis=0, keepdims=True),
    "quantile_2d_q": lambda x: np.quantile(x, [[0.2, 0.4], [0.6, 0.8]], axis=1),
    "nanmedian": lambda x: np.nanmedian(x + NAN, axis=1),
    "nanpercentile": lambda x: np.nanpercentile(x + NAN, 40),
    "nanquantile": lambda x: np.nanquantile(x + NAN, [0.2, 0.7], axis=1, method="nearest"),
    "nansum": lambda x: np.nansum(x + NAN, axis=0),
    "nansum_all": lambda x: np.nansum(x + NAN),
    "nanmean": lambda x: np.nanmean(x + NAN, axis=1),
    "nanmax": lambda x: np.nanmax(x + NAN, axis=1),
    "nanmin": lambda x: np.nanmin(x + NAN, axis=0),
    "nanprod": lambda x: np.nanprod(x + NAN, axis=1),
    "nanvar": lambda x: np.nanvar(x + NAN, axis=1),
    "nanvar_ddof": lambda x: np.nanvar(x + NAN, ddof=1),
    "nanstd": lambda x: np.nanstd(x + NAN, axis=0),
    "nancumsum": lambda x: np.nancumsum(x + NAN, axis=1),
    "nancumprod": lambda x: np.nancumprod(x + NAN),
    "ptp": lambda x: np.ptp(x, axis=1),
    "ptp_all": lambda x: np.ptp(x),
    "cov": lambda x: np.cov(x),
    "cov_cols": lambda x: np.cov(x, rowvar=False),
    "cov_y": lambda x: np.cov(x[0], x[1]),
    "cov_bias": lambda x: np.cov(x, bias=True),
    "cov_fweights": lambda x: np.cov(x, fweights=np.array([1, 2, 1, 3])),
    "cov_aweights": lambda x: np.cov(x, aweights=np.array([0.5, 2.0, 1.0, 1.5]), ddof=1),
    "cov_1d": lambda x: np.cov(x[0]),
    "corrcoef": lambda x: np.corrcoef(x),
    "corrcoef_y": lambda x: np.corrcoef(x[0], x[2]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_statistics(name):
    both_modes(CASES[name], X)


def test_all_nan_rows_give_nan_as_numpy():
    x = X.copy()
    mask = np.zeros_like(x)
    mask[1] = np.nan
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmax(x + mask, axis=1)
    y, t = ad.jvp(lambda x: np.nanmax(x + mask, axis=1), (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(ad.primal(y), expected)
    with pytest.warns(RuntimeWarning):
        expected = np.nanmedian(x + mask, axis=1)
    y, t = ad.jvp(lambda x: np.nanmedian(x + mask, axis=1), (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(ad.primal(y), expected)


@pytest.mark.parametrize("name", ["median", "percentile", "nanmean", "cov", "corrcoef", "nanstd"])
def test_statistics_float32(name):
    f = CASES[name]
    x = X.astype(np.float32)
    y, t = ad.jvp(f, (x,), (np.ones_like(x),))
    with np.errstate(all="ignore"):
        expected = f(x)
    assert ad.primal(y).dtype == expected.dtype and t.dtype == expected.dtype
    np.testing.assert_allclose(ad.jacrev(f)(x), ad.jacfwd(f)(X), rtol=2e-4, atol=2e-5)


def test_quantile_q_must_be_plain():
    with pytest.raises(TypeError, match="q carries no derivative"):
        ad.grad(lambda q: np.quantile(X, q))(0.5)


def test_median_hessian_modes_agree():
    f = lambda x: np.median(x * x)
    x = X.ravel()[:5]
    Hs = [ad.hessian(f, mode=m)(x) for m in ("forward-over-reverse", "reverse-over-reverse", "forward-over-forward")]
    for H in Hs[1:]:
        np.testing.assert_allclose(H, Hs[0], atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(-5, 5), min_size=2, max_size=9, unique=True),
    st.floats(0.0, 1.0),
    st.sampled_from(["linear", "lower", "higher", "midpoint", "nearest", "hazen", "weibull", "median_unbiased"]),
)
def test_quantile_properties(values, q, method):
    """A quantile shifts with its data and scales with it: the gradient sums to 1, and it is a
    convex combination of at most two order statistics (non-negative weights)."""
    x = np.array(values)
    g = ad.grad(lambda x: np.quantile(x, q, method=method))(x)
    np.testing.assert_allclose(np.sum(g), 1.0, rtol=1e-12)
    assert np.all(g >= -1e-15) and np.count_nonzero(g) <= 2
    np.testing.assert_allclose(ad.jvp(lambda x: np.quantile(x, q, method=method), (x,), (x,))[1],
                               np.quantile(x, q, method=method), rtol=1e-10, atol=1e-12)  # Euler: degree 1


W = RNG.uniform(0.0, 2.0, size=(3, 4)) * (np.arange(12).reshape(3, 4) % 5 != 0)  # some zero weights


@pytest.mark.parametrize("kwargs", [
    dict(q=0.3), dict(q=[0.0, 0.45, 1.0]), dict(q=0.6, axis=1), dict(q=[0.2, 0.9], axis=0, keepdims=True),
    dict(q=0.4, axis=1, weights=np.array([0.5, 0.0, 2.0, 1.0])),
], ids=["scalar", "list", "axis1", "axis0_keepdims", "1d_weights"])
@pytest.mark.parametrize("func,scale", [(np.quantile, 1.0), (np.percentile, 100.0), (np.nanquantile, 1.0)])
def test_weighted_inverted_cdf_quantile(kwargs, func, scale):
    """NumPy 2's weighted quantile (``inverted_cdf``): a gather of ``a``, values as NumPy's."""
    if func is np.nanquantile and "weights" in kwargs:
        pytest.skip("NumPy 2.4's own nanquantile raises IndexError for 1-D weights: no reference")
    kwargs = {"weights": W, **kwargs}
    kwargs["q"] = np.asarray(kwargs["q"]) * scale
    f = lambda x: func(x, method="inverted_cdf", **kwargs)
    both_modes(f, X)


def test_weighted_quantile_skips_nan_and_checks_its_arguments():
    x = X + NAN
    f = lambda x: np.nanquantile(x, [0.3, 0.8], axis=1, weights=W, method="inverted_cdf")
    y, t = ad.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(ad.primal(y), f(x))
    np.testing.assert_array_equal(t, np.ones_like(t))
    with pytest.raises(ValueError, match="inverted_cdf"):
        ad.grad(lambda x: np.quantile(x, 0.3, weights=W))(X)
    with pytest.raises(ValueError, match="non-negative"):
        ad.grad(lambda x: np.quantile(x, 0.3, weights=-W, method="inverted_cdf"))(X)
    with pytest.raises(ValueError, match="1-D along an integer axis"):
        ad.grad(lambda x: np.quantile(x, 0.3, weights=W[0], method="inverted_cdf"))(X)
