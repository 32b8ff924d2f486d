"""Blocks, windows, in-place writes, ``.flat`` and polynomials on active values.

``block``, ``sliding_window_view``, ``trim_zeros``, ``sort_complex``, ``einsum_path`` (plain),
``fill_diagonal``/``put``/``put_along_axis``/``copyto`` in place into an active array, ``x.flat``
(reading, iteration, assignment), and ``polyadd``/``polysub``/``polymul``/``polyder``/``polyint``/
``polydiv``/``poly``/``roots``.  Values and dtypes against NumPy, forward mode against central
differences, reverse against forward, ``jit`` at new points against the plain transform, and
the errors.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import dualad as ad
from tests.test_numpy_stats import both_modes

RNG = np.random.default_rng(11)
X = RNG.standard_normal((3, 4))
P = np.array([1.5, -0.7, 2.0, 0.3, -1.1])
Z = np.array([1 + 2j, 0.5 - 1j, -0.3 + 0.2j])
windows = np.lib.stride_tricks.sliding_window_view


def _in_place(fill):
    """A function that writes into a copy of its input with ``fill(z, x)`` and returns the copy."""

    def f(x):
        z = x * 1.0
        fill(z, x)
        return z

    return f


def _flat_set(z, x):
    z.flat[1:8] = x[0, :3] * 3
    z.flat[[0, 11, 0]] = x[2, 1:3]


CASES = {
    "block_2x2": lambda x: np.block([[x[:2, :2], x[:2, 2:]], [x[2:, :2], x[2:, 2:]]]),
    "block_1d_with_scalars": lambda x: np.block([x[0], 2.0, x[1, :1], np.arange(2.0)]),
    "block_deeper_than_arrays": lambda x: np.block([[[x[0]]], [[x[1] * 2]]]),
    "block_mixed_ndim": lambda x: np.block([[x[0, :2], 1.5], [x[1, :3]]]),
    "block_one_array": lambda x: np.block(x),
    "sliding_window_view": lambda x: windows(x, (2, 3)),
    "sliding_window_view_axis": lambda x: windows(x, 2, axis=1),
    "sliding_window_view_axes": lambda x: windows(x, (2, 2), axis=(1, 0)),
    "trim_zeros": lambda x: np.trim_zeros(np.concatenate([np.zeros(2), x[0], np.zeros(3)])),
    "trim_zeros_front": lambda x: np.trim_zeros(np.concatenate([np.zeros(2), x[0], np.zeros(3)]), "f"),
    "trim_zeros_2d": lambda x: np.trim_zeros(np.pad(x, 1)),
    "trim_zeros_axis": lambda x: np.trim_zeros(np.pad(x, 1), trim="b", axis=1),
    "sort_complex": lambda x: np.real(np.sort_complex(x)),
    "fill_diagonal": _in_place(lambda z, x: np.fill_diagonal(z, x[0, :2] ** 2)),
    "fill_diagonal_wrap": lambda x: (lambda z: (np.fill_diagonal(z, x[0, 0], wrap=True), z)[1])(np.outer(x.ravel(), x[0, :3])),
    "fill_diagonal_3d": lambda x: (lambda z: (np.fill_diagonal(z, x[1]), z)[1])(np.einsum("i,j,k->ijk", x[0, :2], x[1, :2], x[2, :2])),
    "put": _in_place(lambda z, x: np.put(z, [0, 5, 7, 5], x[1, :3] ** 2)),
    "put_clip": _in_place(lambda z, x: np.put(z, [0, 50, -30], x[1, :2], mode="clip")),
    "put_wrap_plain_value": _in_place(lambda z, x: np.put(z, [13, -1], 2.5, mode="wrap")),
    "put_along_axis": _in_place(lambda z, x: np.put_along_axis(z, np.array([[0], [2], [1]]), x[:, :1] ** 2, axis=1)),
    "put_along_axis_none": _in_place(lambda z, x: np.put_along_axis(z, np.array([3, 9]), x[0, :2] * 3, axis=None)),
    "copyto": _in_place(lambda z, x: np.copyto(z, x[0] ** 2)),
    "copyto_where": _in_place(lambda z, x: np.copyto(z, x[::-1] ** 2, where=x > 0)),
    "copyto_scalar": _in_place(lambda z, x: np.copyto(z, 1.5, where=np.eye(3, 4, dtype=bool))),
    "flat_item": lambda x: np.stack([x.flat[5], x.flat[-1]]),
    "flat_slice_and_array": lambda x: x.flat[2:8:2] * x.T.flat[[1, 3, 2]],
    "flat_index_array_2d": lambda x: x.flat[np.array([[0, 5], [11, 5]])],
    "flat_iteration": lambda x: np.stack(list(x.flat)[3:7]) * len(x.flat),
    "flat_assignment": _in_place(_flat_set),
    "polyadd": lambda x: np.polyadd(x[0], x[1, :2] ** 2),
    "polyadd_plain_longer": lambda x: np.polyadd([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], x[0]),
    "polysub": lambda x: np.polysub(x[0, :3], x[1] ** 2),
    "polymul": lambda x: np.polymul(x[0], x[1, :3] * 2),
    "polymul_leading_zeros": lambda x: np.polymul(np.concatenate([np.zeros(2), x[0]]), x[1, :2]),
    "polyder": lambda x: np.polyder(x[0]),
    "polyder_3": lambda x: np.polyder(x.ravel(), 3),
    "polyint": lambda x: np.polyint(x[0]),
    "polyint_k": lambda x: np.polyint(x[0, :3], 2, k=x[1, :2]),
    "polyint_scalar_k": lambda x: np.polyint(x[0, :3], 3, k=x[1, 0]),
    "polydiv_quotient": lambda x: np.polydiv(x.ravel()[:6], x[1, :3] + np.array([2.0, 0, 0]))[0],
    "polydiv_remainder": lambda x: np.polydiv(x.ravel()[:6], x[1, :3] + np.array([2.0, 0, 0]))[1],
    "polydiv_by_longer": lambda x: np.polydiv(x[0, :2], x[1])[1],
    "poly": lambda x: np.poly(x[0]),
    "poly_of_matrix": lambda x: np.poly(x[:, :3] + 3 * np.eye(3)),
    "roots_real": lambda x: np.roots(np.poly(x[0])),
    "roots_complex_real_part": lambda x: np.real(np.roots(x[0] + np.array([2.0, 0, 0, 0]))),
    "roots_complex_imag_part": lambda x: np.imag(np.roots(x[0] + np.array([2.0, 0, 0, 0]))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_function(name):
    both_modes(CASES[name], X)


@pytest.mark.parametrize("name", ["block_mixed_ndim", "put", "copyto_where", "flat_assignment", "trim_zeros", "polydiv_remainder",
                                  "polymul", "poly", "roots_real"])
def test_function_under_jit_at_new_points(name):
    f = CASES[name]

    def loss(x):
        return np.sum(f(x) ** 2)

    fast = ad.jit(ad.value_and_grad(loss))
    for shift in (0.0, 0.3, -0.2):
        x = X + shift
        value, g = fast(x)
        want_value, want_g = ad.value_and_grad(loss)(x)
        np.testing.assert_allclose(value, want_value, rtol=1e-12)
        np.testing.assert_allclose(g, want_g, rtol=1e-10, atol=1e-12)


def _value_and_dtype(f, x):
    y, _ = ad.jvp(f, (x,), (np.ones_like(x),))
    want = f(x)
    np.testing.assert_allclose(ad.primal(y), want, rtol=1e-5, atol=1e-6)
    assert np.asarray(ad.primal(y)).dtype == np.asarray(want).dtype


POLY_DTYPES = {
    "polyadd": lambda p: np.polyadd(p, p[:2]),
    "polymul": lambda p: np.polymul(p, p[:2]),
    "polyder": np.polyder,
    "polyint": np.polyint,
    "polydiv_quotient": lambda p: np.polydiv(p, p[:2])[0],
    "polydiv_remainder": lambda p: np.polydiv(p, p[:2])[1],
    "poly": np.poly,
    "poly_conjugate_pairs": lambda p: np.poly(np.concatenate([p, np.conj(p)])),
    "roots": np.roots,
    "sort_complex": np.sort_complex,
    "block": lambda p: np.block([p, 1.0]),
    "sliding_window_view": lambda p: windows(p, 2),
}


@pytest.mark.parametrize("dtype", [np.float32, np.complex128, np.complex64])
@pytest.mark.parametrize("name", sorted(POLY_DTYPES))
def test_dtypes_and_complex_values_match_numpy(name, dtype):
    x = (P[:3] if dtype == np.float32 else Z).astype(dtype)
    _value_and_dtype(POLY_DTYPES[name], x)


def test_float32_kept():
    x = X.astype(np.float32)
    for name in ("block_mixed_ndim", "put", "copyto_where", "flat_assignment", "sliding_window_view", "poly", "polymul"):
        assert ad.jacrev(CASES[name])(x).dtype == np.float32, name


@pytest.mark.parametrize("f", [np.poly, np.roots, lambda z: np.polymul(z, z[:2]), lambda z: np.polydiv(z, z[:2])[0]],
                         ids=["poly", "roots", "polymul", "polydiv"])
def test_complex_holomorphic_jacobians(f):
    """Holomorphic in the coefficients (or zeros): jacfwd against jacrev, and against central
    differences along the real axis."""
    jf = ad.jacfwd(f, holomorphic=True)(Z)
    np.testing.assert_allclose(ad.jacrev(f, holomorphic=True)(Z), jf, rtol=1e-10, atol=1e-12)
    eps = 1e-6
    for j in range(Z.size):
        e = np.zeros(Z.size)
        e[j] = eps
        np.testing.assert_allclose((f(Z + e) - f(Z - e)) / (2 * eps), jf[:, j], rtol=1e-5, atol=1e-7)


def test_roots_order_and_kind_match_numpy():
    for p in (np.array([1.0, -6.0, 11.0, -6.0]), np.array([2.0, 0.5, 3.0, -1.0, 0.7]), np.array([3.0, 1.0])):
        y, _ = ad.jvp(np.roots, (p,), (np.ones_like(p),))
        np.testing.assert_array_equal(ad.primal(y), np.roots(p))
    assert ad.primal(ad.jvp(np.roots, (P[:1],), (np.ones(1),))[0]).shape == (0,)


def test_einsum_path_is_plain():
    def f(v):
        path, text = np.einsum_path("ij,jk,kl", v, v.T, v, optimize="greedy")
        assert path == np.einsum_path("ij,jk,kl", ad.primal(v), ad.primal(v).T, ad.primal(v), optimize="greedy")[0]
        return np.einsum("ij,jk,kl", v, v.T, v, optimize=path)

    both_modes(f, X[:, :3])


def test_fill_diagonal_matches_numpy_in_place():
    a = np.outer(X[0], X[1])
    np.fill_diagonal(a, [7.0, 8.0])

    def f(x):
        z = np.outer(x[0], x[1])
        np.fill_diagonal(z, x[2, :2] * 0 + np.array([7.0, 8.0]))
        return z

    np.testing.assert_array_equal(ad.primal(ad.jvp(f, (X,), (np.ones_like(X),))[0]), a)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=3, max_size=7), st.lists(st.floats(-3, 3), min_size=1, max_size=3),
       st.floats(0.5, 3), st.booleans())
def test_polydiv_inverts_polymul(n, d, lead, negative):
    """``q·d + r == n`` in value, and so in derivative: the map n ↦ q(n)·d + r(n) is the identity."""
    n, d = np.array(n), np.array([-lead if negative else lead] + d)
    n[0] = n[0] if abs(n[0]) > 0.1 else 1.0
    n = n[: max(len(n), len(d))]
    # NumPy drops remainder terms that are (near) zero on the values: there the output's length
    # is decided by the values and a dropped term carries no derivative; the property is for
    # the points where no term is dropped
    assume(len(np.polydiv(n, d)[1]) == max(len(d) - 1, 1))

    def back(v):
        q, r = np.polydiv(v, d)
        return np.polyadd(np.polymul(q, d), r)

    y, t = ad.jvp(back, (n,), (np.ones_like(n),))
    np.testing.assert_allclose(ad.primal(y)[-len(n):], n, rtol=1e-9, atol=1e-9)
    jac = ad.jacrev(back)(n)
    np.testing.assert_allclose(jac[-len(n):], np.eye(len(n)), atol=1e-9)


def _write(fill):
    return lambda x: np.sum(_in_place(fill)(x))


ERRORS = [
    ("block of a tuple", lambda x: np.block((x, x)), TypeError, "tuple"),
    ("block depths", lambda x: np.block([x[0], [x[1]]]), ValueError, "List depths are mismatched"),
    ("block empty list", lambda x: np.block([[x[0]], []]), ValueError, "cannot be empty"),
    ("block shapes", lambda x: np.block([[x[0]], [x[1, :2]]]), ValueError, "must match exactly"),
    ("fill_diagonal 1-d", _write(lambda z, x: np.fill_diagonal(z[0], x[1, 0])), ValueError, "at least 2-d"),
    ("fill_diagonal 3-d unequal", _write(lambda z, x: np.fill_diagonal(z.reshape(3, 2, 2), 1.0)), ValueError, "equal length"),
    ("put out of range", _write(lambda z, x: np.put(z, [40], x[0, 0])), IndexError, "out of bounds"),
    ("put complex into real", _write(lambda z, x: np.put(z, [1], x[0, 0] * 1j)), TypeError, "imaginary part"),
    ("put_along_axis shape", _write(lambda z, x: np.put_along_axis(z, np.array([0, 1]), x[0, 0], axis=0)), ValueError, "same number of dimensions"),
    ("copyto casting", _write(lambda z, x: np.copyto(z, x[0] * 1j)), TypeError, "Cannot cast"),
    ("copyto shape", _write(lambda z, x: np.copyto(z, x[0, :3])), ValueError, "broadcast"),
    ("flat active index", lambda x: x.flat[x[0, 0]], TypeError, "cannot index with an active value"),
    ("flat out of range", lambda x: x.flat[40], IndexError, "out of bounds"),
    ("sliding writeable", lambda x: windows(x, 2, axis=0, writeable=True), TypeError, "writeable"),
    ("sliding too large", lambda x: windows(x, 5, axis=0), ValueError, "window shape cannot be larger"),
    ("trim_zeros trim", lambda x: np.trim_zeros(x[0], trim="x"), ValueError, "unexpected character"),
    ("polyder negative", lambda x: np.polyder(x[0], -1), ValueError, "Order of derivative"),
    ("polyint negative", lambda x: np.polyint(x[0], -1), ValueError, "Order of integral"),
    ("polyint k too short", lambda x: np.polyint(x[0], 3, k=x[1, :2]), ValueError, "k must be"),
    ("polymul 2-d", lambda x: np.polymul(x, x[0]), ValueError, "1d only"),
    ("polyadd poly1d", lambda x: np.polyadd(np.poly1d([1.0, 2.0]), x[0]), TypeError, "coeffs"),
    ("poly 3-d", lambda x: np.poly(x.reshape(3, 2, 2)), ValueError, "1d or non-empty square"),
    ("roots 2-d", lambda x: np.roots(x), ValueError, "rank-1"),
    ("roots trailing zero", lambda x: np.roots(np.concatenate([x[0], [0.0]])), ValueError, "exactly 0"),
    ("roots leading zero", lambda x: np.roots(np.concatenate([[0.0], x[0]])), ValueError, "exactly 0"),
]


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors_are_numpys_or_name_the_problem(case):
    _, f, exc, match = case
    with pytest.raises(exc, match=match):
        ad.grad(lambda x: np.sum(np.real(f(x))))(X)


def test_in_place_into_a_plain_target_refused():
    """NumPy's ``fill_diagonal`` does not dispatch on ``val``: NumPy's own write meets the escape."""
    for write in (lambda z, v: np.fill_diagonal(z, v[:2]), lambda z, v: np.put(z, [0], v[0]),
                  lambda z, v: np.put_along_axis(z, np.array([[0]]), v[:1, None], axis=1), lambda z, v: np.copyto(z, v[0])):
        with pytest.raises(TypeError, match="in place|would drop its derivative"):
            ad.grad(lambda x: np.sum((lambda z: (write(z, x[0]), z)[1])(np.zeros((3, 4)))))(X)


def test_flat_assignment_into_a_leaf_refused():
    def f(x):
        x.flat[0] = 1.0
        return np.sum(x)

    with pytest.raises(RuntimeError, match="leaf"):
        ad.grad(f)(X)


def test_histogram2d_still_unsupported():
    with pytest.raises(TypeError, match="no derivative rule for numpy.histogram2d"):
        ad.grad(lambda v: np.sum(np.histogram2d(v, v, weights=v)[0]))(P)
