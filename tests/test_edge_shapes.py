"""Edge shapes and arguments NumPy accepts: empty matrix stacks through the decompositions,
products over an empty axis, ``diff(n=0)``, ``trapezoid`` with N-D sample points, ``dstack``,
complex ``float_power`` — values against NumPy, derivatives against central differences and
the other mode."""

import numpy as np
import pytest

import dualad as ad
import dualad.scipy.linalg
from tests.helpers import check_modes_against_fd, fd_directional

RNG = np.random.default_rng(11)


def _spd(shape):
    a = RNG.standard_normal(shape)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


def _outputs(y):
    return y if isinstance(y, tuple) else (y,)


EMPTY = {
    "cholesky": (np.linalg.cholesky, (0, 3, 3)),
    "cholesky_upper": (lambda a: np.linalg.cholesky(a, upper=True), (2, 0, 0)),
    "qr": (lambda a: tuple(np.linalg.qr(a)), (0, 4, 3)),
    "qr_wide_empty": (lambda a: tuple(np.linalg.qr(a)), (3, 0)),
    "eigh": (lambda a: tuple(np.linalg.eigh(a)), (0, 3, 3)),
    "eigvalsh": (np.linalg.eigvalsh, (0, 0)),
    "eig": (lambda a: tuple(np.linalg.eig(a)), (0, 0)),
    "svd": (lambda a: tuple(np.linalg.svd(a, full_matrices=False)), (0, 3, 3)),
    "svdvals": (lambda a: np.linalg.svd(a, compute_uv=False), (2, 0, 0)),
    "det": (np.linalg.det, (0, 0)),
    "det_stack": (np.linalg.det, (0, 2, 2)),
    "slogdet": (lambda a: np.linalg.slogdet(a)[1], (3, 0, 0)),
}


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_linalg_on_empty_stacks_matches_numpy_shapes(name):
    """The value and both derivatives exist, with NumPy's shapes, on zero-size stacks."""
    f, shape = EMPTY[name]
    a = np.zeros(shape)
    expected = _outputs(f(a))
    y, ty = ad.jvp(f, (a,), (a,))
    for got, want, t in zip(_outputs(y), expected, _outputs(ty)):
        np.testing.assert_array_equal(got, want)
        assert t.shape == np.shape(want)
    (ct,) = ad.vjp(f, a)[1](y)
    assert ct.shape == a.shape


def test_determinant_of_zero_by_zero_matrix_is_one_with_no_derivative():
    assert ad.grad(np.linalg.det)(np.zeros((0, 0))).shape == (0, 0)
    assert np.linalg.det(np.zeros((0, 0))) == 1.0


@pytest.mark.parametrize("b_shape", [(3, 0), (0, 3, 2)])
def test_triangular_solve_with_empty_right_hand_sides(b_shape):
    """A triangular solve with zero right-hand sides: an empty result and zero cotangents."""
    a = _spd((3, 3))
    b = np.zeros(b_shape)

    def f(a):
        return dualad.scipy.linalg.solve_triangular(np.linalg.cholesky(a), b, lower=True)

    y, ty = ad.jvp(f, (a,), (a,))
    assert y.shape == ty.shape == b_shape
    np.testing.assert_array_equal(ad.vjp(f, a)[1](y)[0], np.zeros((3, 3)))


@pytest.mark.parametrize("shape,axis", [((0,), 0), ((3, 0), 1), ((3, 0), None), ((0, 4), 0)])
def test_prod_over_an_empty_axis(shape, axis):
    """An empty product is 1 and constant: zero cotangents of the input's own shape."""
    x = np.zeros(shape)
    np.testing.assert_array_equal(ad.jvp(lambda x: np.prod(x, axis=axis), (x,), (x,))[0], np.prod(x, axis=axis))
    g = ad.vjp(lambda x: np.prod(x, axis=axis), x)[1](np.ones(np.shape(np.prod(x, axis=axis))))[0]
    assert g.shape == shape
    np.testing.assert_array_equal(g, np.zeros(shape))


def test_prod_over_an_empty_axis_next_to_a_full_one():
    x = RNG.standard_normal((3, 2))
    check_modes_against_fd(lambda x: np.prod(x[:, :0], axis=1) * np.prod(x, axis=1), x)


@pytest.mark.parametrize("kw", [{"prepend": np.ones((1, 4))}, {"append": np.ones((2, 4))},
                                {"prepend": 2.0, "append": np.ones((1, 4))}])
def test_diff_of_order_zero_ignores_prepend_and_append(kw):
    """NumPy returns the input itself for ``n=0``; prepend/append are not joined."""
    x = RNG.standard_normal((3, 4))
    y = ad.jvp(lambda x: np.diff(x, 0, axis=0, **kw), (x,), (x,))[0]
    np.testing.assert_array_equal(y, np.diff(x, 0, axis=0, **kw))
    np.testing.assert_array_equal(ad.jacrev(lambda x: np.diff(x, 0, axis=0, **kw))(x), np.eye(12).reshape(3, 4, 3, 4))


@pytest.mark.parametrize("axis", [0, 1, -2])
def test_trapezoid_with_nd_sample_points_along_any_axis(axis):
    y = RNG.standard_normal((3, 4))
    t = np.cumsum(RNG.uniform(0.5, 1.5, (3, 4)), axis=axis)
    np.testing.assert_allclose(ad.jvp(lambda y: np.trapezoid(y, x=t, axis=axis), (y,), (y,))[0],
                               np.trapezoid(y, x=t, axis=axis))
    check_modes_against_fd(lambda y: np.trapezoid(y, x=t, axis=axis), y)
    check_modes_against_fd(lambda t: np.trapezoid(y, x=t, axis=axis), t)


@pytest.mark.parametrize("shapes", [[(3,), (3,)], [(2, 3), (2, 3)], [(2, 3, 2), (2, 3, 1)], [(), ()]])
def test_dstack_matches_numpy(shapes):
    arrays = [RNG.standard_normal(s) for s in shapes]
    sizes = np.cumsum([a.size for a in arrays])[:-1]
    flat = np.concatenate([a.ravel() for a in arrays])

    def f(v):
        return np.dstack([np.reshape(p, s) for p, s in zip(np.split(v, sizes), shapes)])

    np.testing.assert_array_equal(ad.jvp(f, (flat,), (flat,))[0], np.dstack(arrays))
    check_modes_against_fd(f, flat)


def test_float_power_of_complex_values_is_complex128():
    """As NumPy: complex operands are computed in complex128; the derivative is holomorphic."""
    z = np.array([1.0 + 0.5j, -0.3 + 2.0j])
    v = np.array([0.2 - 1.0j, 0.7 + 0.1j])

    def f(z):
        return np.float_power(z, 1.5)

    y, jv = ad.jvp(f, (z,), (v,))
    np.testing.assert_allclose(y, np.float_power(z, 1.5), rtol=1e-14)
    assert y.dtype == np.complex128
    np.testing.assert_allclose(jv, fd_directional(f, z, v), rtol=1e-6)
    u = np.array([1.0 - 2.0j, 0.5 + 0.5j])
    (jtu,) = ad.vjp(f, z)[1](u)
    np.testing.assert_allclose(np.sum(u * jv), np.sum(jtu * v), rtol=1e-12)


def test_float_power_of_complex64_widens_to_complex128():
    z = np.array([1.0 + 0.5j], dtype=np.complex64)
    y = ad.jvp(lambda z: np.float_power(z, 2.0), (z,), (np.ones_like(z),))[0]
    assert y.dtype == np.float_power(z, 2.0).dtype == np.complex128
