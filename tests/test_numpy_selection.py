"""Selection, weighted counts, cumulative sums and ufunc keywords on active values.

``resize``, ``compress``, ``extract``, ``choose``, ``putmask``, ``place``, ``apply_along_axis``,
``ediff1d``, ``cumulative_sum``/``cumulative_prod``, ``unwrap``, ``bincount`` and ``histogram``
with active weights (which once returned a plain count: a silently dropped derivative),
``nan_to_num(copy=False)`` (once not written in place), ``ufunc.reduce`` with ``where=`` and
``initial=``, ``dtype=`` of a ufunc.  Values against NumPy, forward mode against central
differences, reverse against forward, ``jit`` at a new point against the plain transform.
"""

import numpy as np
import pytest

import dualad as ad
from tests.test_numpy_stats import both_modes

RNG = np.random.default_rng(5)
X = RNG.standard_normal((3, 4))


def _in_place(fill):
    """A function that writes into a copy of its input with ``fill(z, x)`` and returns the copy."""

    def f(x):
        z = x * 1.0
        fill(z, x)
        return z

    return f


CASES = {
    "apply_along_axis_scalar": lambda x: np.apply_along_axis(lambda r: np.sum(r**2), 0, x),
    "apply_along_axis_vector": lambda x: np.apply_along_axis(lambda r: np.cumsum(r) * r, 1, x),
    "apply_along_axis_matrix": lambda x: np.apply_along_axis(lambda r: np.outer(r, r[:2]), 0, x),
    "apply_along_axis_3d": lambda x: np.apply_along_axis(lambda r, c: r[::-1] * c, 1, x.reshape(3, 2, 2), np.arange(2.0)),
    "resize": lambda x: np.resize(x, (5, 3)),
    "resize_smaller": lambda x: np.resize(x, 7),
    "compress_axis": lambda x: np.compress([True, False, True], x, axis=0),
    "compress_flat": lambda x: np.compress(x.ravel() > 0, x),
    "extract": lambda x: np.extract(x > 0, x),
    "choose": lambda x: np.choose(np.array([[0, 1, 2, 1]] * 3), [x, x**2, np.sin(x)]),
    "choose_clip": lambda x: np.choose(np.array([0, 3, 1, 2]), [x[0], x[1], x[2]], mode="clip"),
    "choose_wrap_broadcast": lambda x: np.choose(np.array([[4], [1], [0]]), [x, x[0], 2.0], mode="wrap"),
    "putmask": _in_place(lambda z, x: np.putmask(z, z > 0, np.array([1.0, 2.0, 3.0]) * x[0, 0])),
    "place": _in_place(lambda z, x: np.place(z, z > 0, x[0, :3] * 2)),
    "ediff1d": lambda x: np.ediff1d(x, to_begin=x[0, 0], to_end=[1.0, 2.0]),
    "ediff1d_plain": lambda x: np.ediff1d(x[1]),
    "cumulative_sum": lambda x: np.cumulative_sum(x, axis=1, include_initial=True),
    "cumulative_sum_1d": lambda x: np.cumulative_sum(x[2]),
    "cumulative_prod": lambda x: np.cumulative_prod(x[0], include_initial=True),
    "unwrap": lambda x: np.unwrap(x * 3, axis=1),
    "unwrap_period": lambda x: np.unwrap(x * 2, period=3.0, discont=2.0, axis=0),
    "bincount": lambda x: np.bincount(np.array([0, 2, 2, 5]), weights=x[0] ** 2, minlength=7),
    "histogram": lambda x: np.histogram(np.arange(12.0).reshape(3, 4), bins=3, weights=x**2)[0],
    "histogram_edges_outside": lambda x: np.histogram(np.linspace(-1, 2, 12), bins=[0, 0.3, 0.5, 1.0], weights=np.ravel(x))[0],
    "histogram_density": lambda x: np.histogram(np.linspace(0, 1, 12), bins=[0, 0.3, 0.5, 1.0], weights=np.ravel(x) ** 2, density=True)[0],
    "nan_to_num_in_place": _in_place(lambda z, x: np.nan_to_num(z, copy=False, nan=2.0)),
    "add_reduce_where": lambda x: np.add.reduce(x**2, axis=1, where=x > 0),
    "multiply_reduce_initial": lambda x: np.multiply.reduce(x, axis=0, initial=1.5, where=np.array([True, False, True, True])),
    "maximum_reduce_initial": lambda x: np.maximum.reduce(x, axis=0, initial=0.3),
    "minimum_reduce_where": lambda x: np.minimum.reduce(x, axis=1, where=x < 0.5, initial=1.0),
    "ufunc_dtype": lambda x: np.multiply(x, x, dtype=np.float64) + np.add(x, 1, casting="same_kind"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_function(name):
    both_modes(CASES[name], X)


@pytest.mark.parametrize("name", ["compress_flat", "extract", "putmask", "histogram", "add_reduce_where", "unwrap"])
def test_function_under_jit_at_new_points(name):
    f = CASES[name]

    def loss(x):
        return np.sum(f(x) ** 2)

    fast = ad.jit(ad.value_and_grad(loss))
    for shift in (0.0, 0.6, -0.9):
        x = X + shift
        value, g = fast(x)
        want_value, want_g = ad.value_and_grad(loss)(x)
        np.testing.assert_allclose(value, want_value, rtol=1e-13)
        np.testing.assert_allclose(g, want_g, rtol=1e-12, atol=1e-14)


def test_nan_to_num_in_place_matches_numpy():
    x = np.array([1.0, -2.0, 3.0])
    with np.errstate(invalid="ignore"):
        z = np.log(x)
    np.nan_to_num(z, copy=False, nan=7.0)

    def f(v):
        w = np.log(v)
        np.nan_to_num(w, copy=False, nan=7.0)
        return w

    y, t = ad.jvp(f, (x,), (np.ones(3),))
    np.testing.assert_array_equal(ad.primal(y), z)
    np.testing.assert_array_equal(t, [1.0, 0.0, 1 / 3])


def test_float32_kept():
    x = X.astype(np.float32)
    for name in ("bincount", "histogram", "choose", "cumulative_sum", "add_reduce_where"):
        assert ad.jacrev(CASES[name])(x).dtype == np.float32, name


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="where="):
        ad.grad(lambda x: np.sum(np.exp(x, where=x > 0)))(X)
    with pytest.raises(TypeError, match="in place"):
        ad.grad(lambda x: np.sum((lambda z: (np.putmask(z, z > 0, x), z)[1])(np.zeros(12))))(X.ravel())
    with pytest.raises(TypeError, match="out="):
        ad.grad(lambda x: np.add.reduce(x, out=np.zeros(())))(X.ravel())
    with pytest.raises(ValueError, match="axis="):
        ad.grad(lambda x: np.sum(np.cumulative_sum(x)))(X)
    with pytest.raises(TypeError, match="keyword arguments"):
        ad.grad(lambda x: np.sum(np.sin(x, signature="d->d")))(X)
    with pytest.raises(TypeError, match=r"clip: keyword arguments \['where'\]"):
        ad.grad(lambda x: np.sum(np.clip(x, -1, 1, where=x > 0)))(X)
