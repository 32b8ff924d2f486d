"""Shapes, selection, grids, differences, quadrature, interpolation, convolution, polynomials
and array methods (issue 16): values against NumPy, forward mode against finite differences,
reverse mode against forward mode; float32 kept where NumPy keeps it."""

import numpy as np
import pytest

import dualad as ad
from tests.helpers import check_jacfwd

X = np.array([0.3, -1.2, 2.55, 0.75, 1.9, -0.45])


def both_modes(f, x, rtol=1e-5, atol=1e-6):
    jf = check_jacfwd(f, x, rtol=rtol, atol=atol)
    jr = ad.jacrev(f)(x)
    if isinstance(jf, (list, tuple)):
        for a, b in zip(jr, jf):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    else:
        np.testing.assert_allclose(jr, jf, rtol=1e-10, atol=1e-12)
    y, _ = ad.jvp(f, (x,), (np.ones_like(x),))
    ys, fs = (y, f(x)) if isinstance(y, (list, tuple)) else ([y], [f(x)])
    for a, b in zip(ys, fs):
        np.testing.assert_allclose(ad.primal(a), b, rtol=1e-12, atol=1e-14)
        assert np.shape(ad.primal(a)) == np.shape(b)


def _partition_sorted_around_kth(x):
    p = np.partition(x, 2)
    return np.concatenate([np.sort(p[:2]), p[2:3], np.sort(p[3:])])


CASES = {
    "meshgrid_xy": lambda x: np.meshgrid(x[:2], x[2:5]),
    "meshgrid_ij_sparse": lambda x: np.meshgrid(x[:2], x[2:5], x[5:], indexing="ij", sparse=True),
    "diagflat": lambda x: np.diagflat(x[:3], 1),
    "append": lambda x: np.append(x, [1.0, 2.0]),
    "append_axis": lambda x: np.append(x.reshape(2, 3), x.reshape(2, 3)[:1] * 2.0, axis=0),
    "insert_scalar": lambda x: np.insert(x, 2, 7.0),
    "insert_active": lambda x: np.insert(x[:4], [1, 3], x[4:]),
    "insert_axis": lambda x: np.insert(x.reshape(2, 3), 1, x[:3] * 2.0, axis=0),
    "insert_2d_flat": lambda x: np.insert(x.reshape(2, 3), 4, 1.5),
    "delete": lambda x: np.delete(x, [0, 3]),
    "delete_axis": lambda x: np.delete(x.reshape(2, 3), 1, axis=1),
    "vsplit": lambda x: np.vsplit(x.reshape(2, 3), 2),
    "hsplit": lambda x: np.hsplit(x, [1, 4]),
    "hsplit_2d": lambda x: np.hsplit(x.reshape(2, 3), 3),
    "dsplit": lambda x: np.dsplit(x.reshape(1, 3, 2), 2),
    "rot90": lambda x: np.rot90(x.reshape(2, 3)),
    "rot90_k2": lambda x: np.rot90(x.reshape(2, 3), 2),
    "rot90_k3_axes": lambda x: np.rot90(x.reshape(1, 2, 3), -1, axes=(2, 1)),
    "kron": lambda x: np.kron(x[:2], x[2:]),
    "kron_2d": lambda x: np.kron(x.reshape(2, 3), np.array([[1.0, 2.0], [3.0, 4.0]])),
    "kron_mixed_ndim": lambda x: np.kron(x[:2], x.reshape(2, 3)),
    "atleast_3d": lambda x: np.atleast_3d(x),
    "atleast_3d_2d": lambda x: np.atleast_3d(x.reshape(2, 3)),
    "rollaxis": lambda x: np.rollaxis(x.reshape(1, 2, 3), 2),
    "rollaxis_start": lambda x: np.rollaxis(x.reshape(1, 2, 3), 0, 3),
    "partition_kth": lambda x: np.partition(x, 2)[2],
    "partition_sorted": _partition_sorted_around_kth,
    "select": lambda x: np.select([x > 1.0, x < 0.0], [x * 2.0, x**2], default=x),
    "select_default_scalar": lambda x: np.select([x > 1.0], [np.sin(x)]),
    "piecewise": lambda x: np.piecewise(x, [x < 0, x >= 0], [lambda v: -v, lambda v: v**2]),
    "piecewise_otherwise": lambda x: np.piecewise(x, [x < 0], [lambda v: v**3, lambda v: np.exp(v)]),
    "piecewise_constant": lambda x: np.piecewise(x, [x < 0], [0.5, lambda v: v]),
    "linspace": lambda x: np.linspace(x[0], x[1], 5),
    "linspace_noend": lambda x: np.linspace(x[0], x[2], 4, endpoint=False),
    "linspace_arrays": lambda x: np.linspace(x[:2], x[2:4], 3, axis=1),
    "linspace_retstep": lambda x: np.linspace(0.0, x[2], 6, retstep=True),
    "logspace": lambda x: np.logspace(x[0], x[3], 4),
    "logspace_base": lambda x: np.logspace(0.0, 1.0, 4, base=x[2]),
    "geomspace": lambda x: np.geomspace(x[3], x[2], 5),
    "geomspace_negative": lambda x: np.geomspace(x[1], -x[2], 4),
    "gradient": lambda x: np.gradient(x),
    "gradient_spacing": lambda x: np.gradient(x, 0.5),
    "gradient_coords": lambda x: np.gradient(x, np.array([0.0, 0.5, 1.5, 1.7, 3.0, 4.0])),
    "gradient_edge2": lambda x: np.gradient(x, np.array([0.0, 0.5, 1.5, 1.7, 3.0, 4.0]), edge_order=2),
    "gradient_2d": lambda x: np.gradient(x.reshape(2, 3)),
    "gradient_axis": lambda x: np.gradient(x.reshape(2, 3), axis=1, edge_order=2),
    "gradient_active_spacing": lambda x: np.gradient(np.array([1.0, 4.0, 2.0, 8.0]), x[3]),
    "trapezoid": lambda x: np.trapezoid(x),
    "trapezoid_dx": lambda x: np.trapezoid(x, dx=0.3),
    "trapezoid_x": lambda x: np.trapezoid(np.sin(x), x),
    "trapezoid_2d": lambda x: np.trapezoid(x.reshape(2, 3), np.array([0.0, 1.0, 3.0]), axis=1),
    "interp_x": lambda x: np.interp(x, [-2.0, 0.0, 3.0], [1.0, 2.0, 0.0]),
    "interp_fp": lambda x: np.interp([0.5, 1.5, -1.0, 9.0], [0.0, 1.0, 2.0], x[:3]),
    "interp_xp": lambda x: np.interp([0.5, 1.1, 2.0], np.array([-1.0, 1.0, 3.0]) + x[:3] * 0.1, [1.0, 2.0, 4.0]),
    "interp_left_right": lambda x: np.interp(x, [-1.0, 1.0], [0.0, 2.0], left=-3.0, right=x[0]),
    "interp_period_x": lambda x: np.interp(x * 100.0 + 7.0, [190.0, -190.0, 350.0, -350.0], [5.0, 10.0, 3.0, 4.0], period=360.0),
    "interp_period_xp_fp": lambda x: np.interp([-165.0, -95.0, 5.0, 100.0, 181.0, 400.0], np.array([190.0, -190.0, 350.0, -350.0]) + 10.0 * x[:4],
                                               x[2:], period=-360.0),
    "interp_period_active": lambda x: np.interp(x, [0.1, 0.5, 0.9], [1.0, 3.0, 2.0], period=x[3] + 1.0),
    "convolve": lambda x: np.convolve(x, [1.0, 2.0, 3.0]),
    "convolve_both": lambda x: np.convolve(x[:4], x[4:]),
    "convolve_same": lambda x: np.convolve(x, [1.0, -2.0, 0.5, 4.0], "same"),
    "convolve_same_short": lambda x: np.convolve(x[:2], np.arange(5.0), "same"),
    "convolve_valid": lambda x: np.convolve(x, [1.0, 2.0], "valid"),
    "convolve_valid_short": lambda x: np.convolve(x[:2], np.arange(5.0), "valid"),
    "correlate": lambda x: np.correlate(x, [1.0, 2.0]),
    "correlate_full": lambda x: np.correlate(x, [1.0, 2.0, -1.0], "full"),
    "correlate_same": lambda x: np.correlate(x, [1.0, 2.0, -1.0, 3.0], "same"),
    "correlate_same_short": lambda x: np.correlate(x[:2], np.arange(5.0), "same"),
    "correlate_full_short": lambda x: np.correlate(x[:2], np.arange(5.0), "full"),
    "correlate_valid_short": lambda x: np.correlate(x[:3], np.arange(5.0), "valid"),
    "polyval": lambda x: np.polyval(x[:3], 0.7),
    "polyval_x": lambda x: np.polyval([1.0, -2.0, 0.5], x),
    "polyval_both": lambda x: np.polyval(x[:3], x[3:]),
    "polyfit": lambda x: np.polyfit(np.arange(6.0), x, 2),
    "polyfit_x": lambda x: np.polyfit(x + np.arange(6.0) * 3.0, np.arange(6.0) ** 2, 1),
    "polyfit_w": lambda x: np.polyfit(np.arange(6.0), x, 3, w=np.array([1.0, 2.0, 1.0, 0.5, 1.0, 1.0])),
    "polyfit_2d": lambda x: np.polyfit(np.arange(3.0), x.reshape(3, 2), 1),
    "polyfit_full": lambda x: [v for v in np.polyfit(x, np.sin(np.arange(6.0)), 2, full=True) if not np.isscalar(v)],
    "polyfit_full_y": lambda x: [v for v in np.polyfit(np.arange(6.0), x, 2, full=True) if not np.isscalar(v)],
    "polyfit_full_2d": lambda x: list(np.polyfit(np.arange(3.0), x.reshape(3, 2), 1, full=True)[:2]),
    "polyfit_cov": lambda x: list(np.polyfit(x, np.cos(np.arange(6.0)), 2, cov=True)),
    "polyfit_cov_w": lambda x: list(np.polyfit(np.arange(6.0), x, 2, cov=True, w=np.array([1.0, 2.0, 1.0, 0.5, 1.0, 1.0]))),
    "polyfit_cov_unscaled": lambda x: np.polyfit(x, np.arange(6.0), 1, cov="unscaled")[1],
    "polyfit_cov_2d": lambda x: list(np.polyfit(np.arange(3.0), x.reshape(3, 2), 1, cov=True)),
    "vdot": lambda x: np.vdot(x, x[::-1]),
    "einsum_optimize": lambda x: np.einsum("ij,jk,k->i", x.reshape(2, 3), np.ones((3, 2)), x[:2], optimize="greedy"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_function_both_modes_and_fd(name):
    both_modes(CASES[name], X)


@pytest.mark.parametrize("name", ["linspace", "kron", "convolve", "interp_x", "gradient", "trapezoid", "polyval_x", "insert_active"])
def test_float32(name):
    f = CASES[name]
    x = X.astype(np.float32)
    y, t = ad.jvp(f, (x,), (np.ones_like(x),))
    assert ad.primal(y).dtype == f(x).dtype and t.dtype == f(x).dtype
    np.testing.assert_allclose(ad.jacrev(f)(x), ad.jacfwd(f)(X), rtol=2e-4, atol=2e-5)


def test_partition_matches_numpy_values():
    y, _ = ad.jvp(lambda x: np.partition(x, 2), (X,), (X,))
    np.testing.assert_array_equal(ad.primal(y), X[np.argpartition(X, 2)])


def _fill(x):
    y = x * 1.0
    y.fill(2.0)
    return y + x


def _fill_active(x):
    y = x[:3] * 1.0
    y.fill(x[4])
    return y


METHODS = {
    "fill": _fill,
    "fill_active": _fill_active,
    "conj": lambda x: x.conj() * x.conjugate(),
    "real": lambda x: x.real + x.imag,
    "clip": lambda x: x.clip(-1.0, 1.0),
    "round": lambda x: x - x.round(),
    "astype": lambda x: x.astype(np.float64) ** 2,
    "cumsum": lambda x: x.reshape(2, 3).cumsum(axis=1),
    "repeat": lambda x: x.repeat(2),
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_array_methods(name):
    both_modes(METHODS[name], X)


def test_astype_float32_method():
    y, t = ad.jvp(lambda x: x.astype(np.float32), (X,), (np.ones_like(X),))
    assert ad.primal(y).dtype == np.float32 and t.dtype == np.float32
    np.testing.assert_array_equal(ad.jacrev(lambda x: x.astype(np.float32))(X), np.eye(6, dtype=np.float32))


def test_fill_on_a_leaf_says_how():
    def f(x):
        x.fill(1.0)
        return x

    with pytest.raises(RuntimeError, match="copy"):
        ad.jacrev(f)(X)


def test_interp_period_zero_says_so():
    with pytest.raises(ValueError, match="period must be a non-zero value"):
        ad.grad(lambda x: np.sum(np.interp(x, [0.0, 1.0], [0.0, 1.0], period=0.0)))(X)


def test_polyfit_full_matches_numpy():
    """``full=True``: coefficients, residuals, rank, singular values and rcond as NumPy's."""
    y = np.sin(np.arange(6.0))
    out, _ = ad.jvp(lambda x: np.polyfit(x, y, 2, full=True)[:2] + np.polyfit(x, y, 2, full=True)[3:4], (X,), (X,))
    ref = np.polyfit(X, y, 2, full=True)
    for got, want in zip(out, ref[:2] + ref[3:4]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert np.polyfit(ad.Dual(X, X), y, 2, full=True)[2] == ref[2] and np.polyfit(ad.Dual(X, X), y, 2, full=True)[4] == ref[4]


def test_linspace_second_order():
    f = lambda a: np.sum(np.linspace(a, a**2, 5) ** 2)
    h = 1e-4
    fd = (f(1.3 + h) - 2 * f(1.3) + f(1.3 - h)) / h**2
    np.testing.assert_allclose(ad.derivative(f, order=2)(1.3), fd, rtol=1e-5)
    np.testing.assert_allclose(ad.hessian(lambda v: f(v[0]), mode="reverse-over-reverse")(np.array([1.3]))[0, 0], fd, rtol=1e-5)
