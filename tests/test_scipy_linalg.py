"""dualad.scipy.linalg: SciPy's values on plain arrays, derivatives against central differences
in both modes, the bilinear identity, and Hessians in all four orders."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg as sl

import dualad as ad
import dualad.scipy.linalg as dsl
from tests.helpers import check_bilinear, check_modes_against_fd, fd_jacobian

RNG = np.random.default_rng(99)


def spd(x):
    n = x.shape[-1]
    return np.matmul(x, np.swapaxes(x, -1, -2)) + n * np.eye(n, dtype=x.dtype)


B = RNG.normal(size=(3, 2))
V = RNG.normal(size=3)
CASES = {
    "solve_triangular_lower": (lambda x: dsl.solve_triangular(spd(x), B, lower=True), (3, 3)),
    "solve_triangular_upper_T_unit": (lambda x: dsl.solve_triangular(x, V, trans="T", unit_diagonal=True), (3, 3)),
    "solve_triangular_rhs": (lambda x: dsl.solve_triangular(spd(np.ones((3, 3))), x, trans=2), (3, 2)),
    "cho_factor_upper": (lambda x: dsl.cho_factor(spd(x))[0], (3, 3)),
    "cho_factor_lower": (lambda x: dsl.cho_factor(spd(x), lower=True)[0], (3, 3)),
    "cho_solve": (lambda x: dsl.cho_solve(dsl.cho_factor(spd(x)), B), (3, 3)),
    "cho_solve_lower_vec": (lambda x: dsl.cho_solve(dsl.cho_factor(spd(x), lower=True), V), (3, 3)),
    "lu_l_u": (lambda x: np.concatenate([np.ravel(m) for m in dsl.lu(x)[1:]]), (3, 3)),
    "lu_permute_l": (lambda x: dsl.lu(x, permute_l=True)[0], (3, 3)),
    "lu_factor": (lambda x: dsl.lu_factor(x)[0], (3, 3)),
    "lu_solve": (lambda x: dsl.lu_solve(dsl.lu_factor(x), B), (3, 3)),
    "lu_solve_T": (lambda x: dsl.lu_solve(dsl.lu_factor(x), V, trans=1), (3, 3)),
    "expm_small": (lambda x: dsl.expm(0.01 * x), (3, 3)),
    "expm": (lambda x: dsl.expm(x), (3, 3)),
    "expm_large": (lambda x: dsl.expm(4.0 * x), (3, 3)),
    "sqrtm": (lambda x: dsl.sqrtm(spd(x)), (3, 3)),
    "solve_sylvester": (lambda x: dsl.solve_sylvester(spd(x), spd(x.T) + 1.0, x), (3, 3)),
    "solve_banded": (lambda x: dsl.solve_banded((1, 1), x + np.array([[0.0], [6.0], [0.0]]), V), (3, 3)),
    "eigh": (lambda x: dsl.eigh(x + x.T, eigvals_only=True), (3, 3)),
    "eigh_b": (lambda x: np.concatenate([np.ravel(m) for m in [(w, v * v) for w, v in [dsl.eigh(x + x.T, spd(x))]][0]]), (3, 3)),
    "eigh_b_upper_values": (lambda x: dsl.eigh(x + x.T, spd(x), lower=False, eigvals_only=True), (3, 3)),
    "block_diag": (lambda x: dsl.block_diag(x[0], x[1, :2], 2.0), (2, 3)),
    "inv": (lambda x: dsl.inv(spd(x)), (3, 3)),
    "det": (lambda x: dsl.det(x), (3, 3)),
    "solve": (lambda x: dsl.solve(spd(x), B), (3, 3)),
    "solve_pos_lower": (lambda x: dsl.solve(spd(x), V, assume_a="pos", lower=True), (3, 3)),
    "solve_transposed": (lambda x: dsl.solve(x + 3 * np.eye(3), V, transposed=True), (3, 3)),
}


def _point(shape, seed):
    return np.random.default_rng(seed).normal(size=shape) * 0.5 + 0.1


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_reverse_against_fd(name):
    f, shape = CASES[name]
    check_modes_against_fd(f, _point(shape, len(name)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_bilinear_identity(name):
    f, shape = CASES[name]
    check_bilinear(f, _point(shape, len(name)), RNG)


A = RNG.normal(size=(4, 4))
S = A @ A.T + 4 * np.eye(4)
PLAIN = {
    "solve_triangular": (lambda m: dsl.solve_triangular(m, A[:, :2], lower=True), lambda m: sl.solve_triangular(m, A[:, :2], lower=True)),
    "cho_factor": (lambda m: dsl.cho_factor(m)[0], lambda m: sl.cho_factor(m)[0]),
    "lu": (lambda m: np.stack(dsl.lu(m)), lambda m: np.stack(sl.lu(m))),
    "lu_factor": (lambda m: dsl.lu_factor(m)[0], lambda m: sl.lu_factor(m)[0]),
    "expm": (dsl.expm, sl.expm),
    "sqrtm": (dsl.sqrtm, sl.sqrtm),
    "eigh_b": (lambda m: dsl.eigh(m, S)[0], lambda m: sl.eigh(m, S)[0]),
    "inv": (dsl.inv, sl.inv),
    "det": (dsl.det, sl.det),
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_values_equal_scipy(name):
    ours, theirs = PLAIN[name]
    np.testing.assert_allclose(ours(S), theirs(S), rtol=1e-12, atol=1e-12)


def test_active_values_equal_scipy():
    for f, g in [(dsl.expm, sl.expm), (lambda m: dsl.expm(m / 50), lambda m: sl.expm(m / 50)), (dsl.sqrtm, sl.sqrtm)]:
        np.testing.assert_allclose(ad.jvp(f, (S,), (A,))[0], g(S), rtol=1e-10)


@pytest.mark.parametrize("lower", [False, True])
def test_cho_factor_reads_scipys_triangle(lower):
    """On a non-symmetric matrix SciPy's factor reads one triangle (the upper one by default):
    the value and the derivative (against differences of SciPy's own functions) follow it."""
    a = np.random.default_rng(3).normal(size=(3, 3)) + 5.0 * np.eye(3)
    b = np.arange(1.0, 4.0)
    c = ad.jvp(lambda m: dsl.cho_factor(m, lower=lower)[0], (a,), (np.ones((3, 3)),))[0]
    np.testing.assert_allclose(c, sl.cho_factor(a, lower=lower)[0], rtol=1e-13)
    ours = lambda m: dsl.cho_solve(dsl.cho_factor(m, lower=lower), b)
    theirs = lambda m: sl.cho_solve(sl.cho_factor(m, lower=lower), b)
    expected = fd_jacobian(theirs, [a], 0)
    np.testing.assert_allclose(ad.jacfwd(ours)(a), expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ad.jacrev(ours)(a), expected, rtol=1e-6, atol=1e-8)


MODES = ["forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"]
SCALARS = {
    "logdet_cho_factor": lambda x: 2.0 * np.sum(np.log(np.diagonal(dsl.cho_factor(spd(x), lower=True)[0]))),
    "expm_trace": lambda x: np.trace(dsl.expm(0.5 * x)),
    "sqrtm_sum": lambda x: np.sum(dsl.sqrtm(spd(x))),
    "lu_solve_sq": lambda x: np.sum(dsl.lu_solve(dsl.lu_factor(x + 3 * np.eye(3)), V) ** 2),
    "logdet_cholesky_upper": lambda x: 2.0 * np.sum(np.log(np.diagonal(dsl.cholesky(spd(x))))),
    "qr_r_companion": lambda x: np.sum(dsl.qr(x, mode="r")[0] ** 2) + np.sum(dsl.companion(x[0] + 2.0) ** 2),
    "expm_frechet_polar": lambda x: np.sum(dsl.expm_frechet(0.5 * x, x.T, compute_expm=False)) + np.trace(dsl.polar(x)[1]),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(SCALARS))
def test_hessian_all_orders(name, mode):
    f = SCALARS[name]
    x = _point((3, 3), 5)
    H = ad.hessian(f, mode=mode)(x)
    np.testing.assert_allclose(H, fd_jacobian(lambda z: ad.grad(f)(z), [x], 0, eps=1e-5), rtol=1e-5, atol=1e-6)


def test_refusals():
    neg = np.diag([-1.0, 4.0])  # a complex root (tests/test_linalg_complex.py): grad's output must be real
    with pytest.raises(TypeError, match="real-valued outputs"):
        ad.grad(lambda m: np.sum(dsl.sqrtm(m)))(neg)
    with pytest.raises(NotImplementedError, match="rank-deficient tall"):
        ad.grad(lambda m: np.sum(dsl.lu(m)[2]))(np.ones((3, 2)))
    with pytest.raises(NotImplementedError, match="subset"):
        dsl.eigh(S, subset_by_index=[0, 1])
    with pytest.raises(ValueError, match="trans"):
        dsl.solve_triangular(S, V[:1].repeat(4), trans="X")


def test_import_dualad_does_not_import_scipy():
    code = "import sys, dualad, dualad.scipy; assert not [m for m in sys.modules if m.split('.')[0] == 'scipy']"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("a_order,b_order", [("C", "C"), ("F", "C"), ("C", "F"), ("F", "F")])
def test_blas_triangular_solve_and_product_every_layout(dtype, lower, a_order, b_order):
    """The BLAS path (one matrix; lanes side by side) against NumPy, the other triangle ignored."""
    from dualad.rules.linalg import triangular_product, triangular_solve

    rng = np.random.default_rng(3)
    a = (rng.normal(size=(4, 4)) + 4 * np.eye(4)).astype(dtype)
    b = rng.normal(size=(2, 4, 3)).astype(dtype)
    if np.dtype(dtype).kind == "c":
        a, b = a + 1j * rng.normal(size=(4, 4)), b + 1j * rng.normal(size=(2, 4, 3))
    tri = np.tril(a) if lower else np.triu(a)
    a, b = np.asarray(a, order=a_order), np.asarray(b, order=b_order)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(tri @ triangular_solve(a, b, lower=lower), b, rtol=tol, atol=tol)
    np.testing.assert_allclose(triangular_solve(a, b[0], lower=lower), np.linalg.solve(tri, b[0]), rtol=tol, atol=tol)
    np.testing.assert_allclose(triangular_product(a, b, lower=lower), tri @ b, rtol=tol, atol=tol)


def test_blas_triangular_solve_refuses_a_singular_matrix():
    from dualad.rules.linalg import triangular_solve

    with pytest.raises(np.linalg.LinAlgError, match="singular matrix: resolution failed at diagonal 1"):
        triangular_solve(np.diag([1.0, 0.0]), np.ones((2, 1)), lower=True)



@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (2, 5, 3), (2, 3, 5)])
def test_lu_of_rectangular_matrices_matches_scipy_and_differences(shape):
    """Tall and wide matrices: ``l`` is m×k, ``u`` is k×n as SciPy's; both differentiable."""
    a = np.random.default_rng(5).standard_normal(shape)
    for got, want in zip(dsl.lu(a), sl.lu(a)):
        np.testing.assert_allclose(got, want, atol=1e-12)
    check_modes_against_fd(lambda a: dsl.lu(a)[1], a)
    check_modes_against_fd(lambda a: dsl.lu(a)[2], a)


@pytest.mark.parametrize("shape", [(6, 4), (4, 6)])
def test_lu_factor_of_rectangular_matrices_matches_scipy(shape):
    a = np.random.default_rng(6).standard_normal(shape)
    lu, piv = dsl.lu_factor(a)
    np.testing.assert_allclose(lu, sl.lu_factor(a)[0], atol=1e-12)
    np.testing.assert_array_equal(piv, sl.lu_factor(a)[1])
    check_modes_against_fd(lambda a: dsl.lu_factor(a)[0], a)


# --------------------------------------------------------------------------------------------
# cholesky, qr, svd in SciPy's conventions

DECOMP = {
    "cholesky_upper": (lambda x: dsl.cholesky(spd(x)), (3, 3)),
    "cholesky_lower": (lambda x: dsl.cholesky(spd(x), lower=True), (3, 3)),
    "cholesky_stack": (lambda x: dsl.cholesky(spd(x)), (2, 3, 3)),
    "qr_full_q": (lambda x: dsl.qr(x)[0], (4, 3)),
    "qr_full_r": (lambda x: dsl.qr(x)[1], (4, 3)),
    "qr_economic": (lambda x: np.concatenate([np.ravel(m) for m in dsl.qr(x, mode="economic")]), (4, 3)),
    "qr_r": (lambda x: dsl.qr(x, mode="r")[0], (4, 3)),
    "qr_r_wide": (lambda x: dsl.qr(x, mode="r")[0], (3, 4)),
    "qr_pivoting": (lambda x: np.concatenate([np.ravel(m) for m in dsl.qr(x, pivoting=True)[:2]]), (4, 3)),
    "qr_stack_pivoting_r": (lambda x: dsl.qr(x, mode="r", pivoting=True)[0], (2, 4, 3)),
    "svd_values": (lambda x: dsl.svd(x, compute_uv=False), (4, 3)),
    "svd_square": (lambda x: np.concatenate([np.ravel(m) for m in dsl.svd(x)]), (3, 3)),
    "svd_reduced": (lambda x: np.concatenate([np.ravel(m) for m in dsl.svd(x, full_matrices=False)]), (4, 3)),
    "svd_gesvd_stack": (lambda x: dsl.svd(x, full_matrices=False, lapack_driver="gesvd")[2], (2, 3, 4)),
}


@pytest.mark.parametrize("name", sorted(DECOMP))
def test_decompositions_against_fd_and_bilinear(name):
    f, shape = DECOMP[name]
    x = _point(shape, len(name))
    check_modes_against_fd(f, x)
    check_bilinear(f, x, RNG)


def _active_value(f, x):
    return ad.jvp(f, (x,), (np.ones_like(x),))[0]


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (3, 3), (2, 4, 3)])
@pytest.mark.parametrize("mode", ["full", "economic", "r"])
@pytest.mark.parametrize("pivoting", [False, True])
def test_qr_matches_scipy(shape, mode, pivoting):
    x = np.random.default_rng(7).normal(size=shape)
    want = sl.qr(x, mode=mode, pivoting=pivoting)
    want = (want,) if isinstance(want, np.ndarray) else tuple(want)  # SciPy 1.17: a stack's r bare
    floats = len(want) - pivoting  # jvp takes the float outputs; the permutation is checked below
    for got in (dsl.qr(x, mode=mode, pivoting=pivoting), _active_value(lambda m: dsl.qr(m, mode=mode, pivoting=pivoting)[:floats], x)):
        assert isinstance(got, tuple) and len(got) in (floats, len(want))
        for g, w in zip(got[:floats], want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, atol=1e-12)
    if pivoting:
        np.testing.assert_array_equal(dsl.qr(x, mode=mode, pivoting=True)[-1], want[-1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_cholesky_qr_svd_values_and_dtypes(dtype):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(3, 3)) + (1j * rng.normal(size=(3, 3)) if dtype == np.complex128 else 0)
    a = (x @ np.conj(x.T) + 3 * np.eye(3)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for lower in (False, True):
        for got in (dsl.cholesky(a, lower=lower), _active_value(lambda m: dsl.cholesky(m, lower=lower), a)):
            assert got.dtype == sl.cholesky(a, lower=lower).dtype
            np.testing.assert_allclose(got, sl.cholesky(a, lower=lower), rtol=tol, atol=tol)
    for got in (dsl.qr(a), _active_value(dsl.qr, a)):
        for g, w in zip(got, sl.qr(a)):
            assert g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    for got in (dsl.svd(a), _active_value(dsl.svd, a)):
        want = sl.svd(a)
        assert [g.dtype for g in got] == [w.dtype for w in want]
        np.testing.assert_allclose(got[1], want[1], rtol=tol, atol=tol)
        np.testing.assert_allclose(np.abs(got[0]), np.abs(want[0]), rtol=tol, atol=tol)  # phases: LAPACK's on both
    assert dsl.cholesky(np.eye(2, dtype=int)).dtype == np.float64


def test_cholesky_reads_scipys_triangle():
    a = np.random.default_rng(3).normal(size=(3, 3)) + 5.0 * np.eye(3)
    for lower in (False, True):
        np.testing.assert_allclose(_active_value(lambda m: dsl.cholesky(m, lower=lower), a), sl.cholesky(a, lower=lower), rtol=1e-13)
        expected = fd_jacobian(lambda m: sl.cholesky(m, lower=lower), [a], 0)
        np.testing.assert_allclose(ad.jacfwd(lambda m: dsl.cholesky(m, lower=lower))(a), expected, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(ad.jacrev(lambda m: dsl.cholesky(m, lower=lower))(a), expected, rtol=1e-6, atol=1e-8)


def test_gp_marginal_likelihood_with_cholesky():
    """A GP's negative log marginal likelihood in its length scale, as users write it with SciPy."""
    t = np.linspace(0.0, 3.0, 6)
    y = np.sin(t)

    def nll(ell):
        k = np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / ell**2) + 0.1 * np.eye(6)
        c = dsl.cholesky(k, lower=True)
        alpha = dsl.solve_triangular(c, y, lower=True)
        return 0.5 * np.sum(alpha**2) + np.sum(np.log(np.diagonal(c)))

    def plain(ell):
        k = np.exp(-0.5 * (t[:, None] - t[None, :]) ** 2 / ell**2) + 0.1 * np.eye(6)
        c = sl.cholesky(k, lower=True)
        return 0.5 * np.sum(sl.solve_triangular(c, y, lower=True) ** 2) + np.sum(np.log(np.diagonal(c)))

    np.testing.assert_allclose(ad.grad(nll)(0.7), (plain(0.7 + 1e-6) - plain(0.7 - 1e-6)) / 2e-6, rtol=1e-6)
    jitted = ad.jit(ad.grad(nll))
    for ell in (0.9, 1.2):
        np.testing.assert_allclose(jitted(ell), ad.grad(nll)(ell), rtol=1e-12)


def test_decomposition_refusals():
    x = np.random.default_rng(2).normal(size=(4, 3))
    with pytest.raises(ValueError, match="Mode argument"):
        dsl.qr(x, mode="reduced")
    with pytest.raises(NotImplementedError, match="mode='raw'"):
        ad.grad(lambda m: np.sum(dsl.qr(m, mode="raw")[0]))(x)
    with pytest.raises(ValueError, match="lapack_driver"):
        dsl.svd(x, lapack_driver="gesvdx")
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        ad.grad(lambda m: np.sum(dsl.svd(m)[0]))(x)
    with pytest.raises(np.linalg.LinAlgError):
        ad.grad(lambda m: np.sum(dsl.cholesky(m)))(-np.eye(2))


# --------------------------------------------------------------------------------------------
# Structured matrices


V3, V4 = RNG.normal(size=3), RNG.normal(size=4)
M23 = RNG.normal(size=(2, 3))
STRUCTURED = {
    "toeplitz_c": (dsl.toeplitz, sl.toeplitz, (V3,), 0),
    "toeplitz_c_r": (dsl.toeplitz, sl.toeplitz, (V3, V4), 0),
    "toeplitz_r": (dsl.toeplitz, sl.toeplitz, (V3, V4), 1),
    "toeplitz_stack": (dsl.toeplitz, sl.toeplitz, (M23, M23 + 1.0), 1),
    "hankel_c": (dsl.hankel, sl.hankel, (V3,), 0),
    "hankel_r": (dsl.hankel, sl.hankel, (V3, V4), 1),
    "circulant": (dsl.circulant, sl.circulant, (V4,), 0),
    "circulant_stack": (dsl.circulant, sl.circulant, (M23,), 0),
    "convolution_full": (lambda a: dsl.convolution_matrix(a, 5), lambda a: sl.convolution_matrix(a, 5), (V3,), 0),
    "convolution_same": (lambda a: dsl.convolution_matrix(a, 4, "same"), lambda a: sl.convolution_matrix(a, 4, "same"), (M23,), 0),
    "convolution_valid": (lambda a: dsl.convolution_matrix(a, 5, "valid"), lambda a: sl.convolution_matrix(a, 5, "valid"), (V3,), 0),
    "leslie_f": (dsl.leslie, sl.leslie, (V3, V3[:2]), 0),
    "leslie_s_stack": (dsl.leslie, sl.leslie, (M23, M23[:, :2]), 1),
    "fiedler": (dsl.fiedler, sl.fiedler, (V4,), 0),
    "fiedler_stack": (dsl.fiedler, sl.fiedler, (M23,), 0),
    "companion": (dsl.companion, sl.companion, (V4,), 0),
    "companion_stack": (dsl.companion, sl.companion, (M23,), 0),
    "fiedler_companion": (dsl.fiedler_companion, sl.fiedler_companion, (RNG.normal(size=6),), 0),
    "fiedler_companion_2": (dsl.fiedler_companion, sl.fiedler_companion, (V3[:2],), 0),
    "fiedler_companion_stack": (dsl.fiedler_companion, sl.fiedler_companion, (M23,), 0),
}


def _in(f, args, k):
    return lambda x: f(*args[:k], x, *args[k + 1:])


@pytest.mark.parametrize("name", sorted(STRUCTURED))
def test_structured_matrices(name):
    ours, theirs, args, k = STRUCTURED[name]
    want = theirs(*args)
    for got in (ours(*args), _active_value(_in(ours, args, k), args[k])):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    check_modes_against_fd(_in(ours, args, k), args[k])
    check_bilinear(_in(ours, args, k), args[k], RNG)


@pytest.mark.parametrize("name", ["toeplitz", "hankel", "circulant", "companion", "fiedler", "fiedler_companion"])
@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_structured_matrices_keep_dtype(name, dtype):
    c = (V4 + (1j * V4[::-1] if dtype == np.complex128 else 0)).astype(dtype)
    want = getattr(sl, name)(c)
    got = _active_value(getattr(dsl, name), c)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_hankel_of_a_stack_flattens_with_scipys_warning():
    with pytest.warns(FutureWarning, match="ravel"):
        got = _active_value(dsl.hankel, M23)
    with pytest.warns(FutureWarning):
        np.testing.assert_array_equal(got, sl.hankel(M23))


def test_structured_jit_and_errors():
    loss = lambda a: np.sum(np.linalg.eigvals(dsl.companion(a)).real ** 2) + np.sum(dsl.toeplitz(a, a[::-1]) ** 3)
    jitted = ad.jit(ad.grad(loss))
    for a in (V4 + 2.0, V4 - 1.0):
        np.testing.assert_allclose(jitted(a), ad.grad(loss)(a), rtol=1e-10)
    with pytest.raises(ValueError, match="must not be zero"):
        ad.grad(lambda a: np.sum(dsl.companion(a)))(np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="at least 2"):
        ad.grad(lambda a: np.sum(dsl.companion(a)))(np.array([1.0]))
    with pytest.raises(ValueError, match="Leading coefficient is zero"):
        ad.grad(lambda a: np.sum(dsl.fiedler_companion(a)))(np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="Incorrect lengths"):
        ad.grad(lambda a: np.sum(dsl.leslie(a, a)))(V3)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        ad.grad(lambda a: np.sum(dsl.convolution_matrix(a, 0)))(V3)


def test_integer_constructors_are_scipys():
    for name, args in [("hadamard", (4,)), ("hilbert", (3,)), ("invhilbert", (3,)), ("pascal", (4,)),
                       ("invpascal", (4, "lower")), ("dft", (4,)), ("helmert", (4, True))]:
        got, want = getattr(dsl, name)(*args), getattr(sl, name)(*args)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_least_squares_with_qr_and_svd_under_jit():
    t = np.linspace(0.0, 1.0, 7)
    y = np.cos(3 * t)

    def loss(p):
        x = np.stack([np.ones_like(t), np.sin(p[0] * t), t**2 * p[1]], axis=-1)
        q, r = dsl.qr(x, mode="economic")
        coef = dsl.solve_triangular(r, q.T @ y)
        u, s, vh = dsl.svd(x, full_matrices=False, lapack_driver="gesvd")
        return np.sum((x @ coef - y) ** 2) + np.sum(s) + np.sum(u[:, 0] * np.sum(vh, axis=1)[0]) + np.sum(dsl.qr(x, pivoting=True)[1])

    jitted = ad.jit(ad.grad(loss))
    for p in (np.array([1.0, 2.0]), np.array([1.3, 1.7])):  # recorded at the first, replayed at the second
        np.testing.assert_allclose(jitted(p), ad.grad(loss)(p), rtol=1e-10)
    np.testing.assert_allclose(ad.grad(loss)(np.array([1.0, 2.0])), fd_jacobian(loss, [np.array([1.0, 2.0])], 0), rtol=1e-6)


# --------------------------------------------------------------------------------------------
# polar, expm_frechet, qr_multiply, eigh_tridiagonal, funm

E3 = RNG.normal(size=(3, 3))
C2 = RNG.normal(size=(2, 4))
D4, O3 = RNG.normal(size=4), RNG.normal(size=3)
FUNCTIONS = {
    "polar_right": (lambda x: np.concatenate([np.ravel(m) for m in dsl.polar(x)]), (4, 3)),
    "polar_left": (lambda x: np.concatenate([np.ravel(m) for m in dsl.polar(x, side="left")]), (3, 4)),
    "polar_stack": (lambda x: dsl.polar(x)[0], (2, 3, 3)),
    "expm_frechet_A": (lambda x: np.concatenate([np.ravel(m) for m in dsl.expm_frechet(x, E3)]), (3, 3)),
    "expm_frechet_E": (lambda x: dsl.expm_frechet(E3, x, compute_expm=False), (3, 3)),
    "expm_frechet_large": (lambda x: dsl.expm_frechet(3.0 * x, x, compute_expm=False), (3, 3)),
    "qr_multiply_right": (lambda x: np.concatenate([np.ravel(m) for m in dsl.qr_multiply(x, C2)]), (4, 3)),
    "qr_multiply_left_conj": (lambda x: dsl.qr_multiply(x, C2.T[:3], mode="left", conjugate=True)[0], (4, 3)),
    "qr_multiply_c": (lambda x: dsl.qr_multiply(np.tril(np.ones((4, 3))), x, pivoting=True)[0], (2, 4)),
    "eigh_tridiagonal_d": (lambda x: np.concatenate([np.ravel(m) for m in dsl.eigh_tridiagonal(x, O3)]), (4,)),
    "eigh_tridiagonal_e": (lambda x: dsl.eigh_tridiagonal(D4, x, select="i", select_range=(1, 2))[1], (3,)),
    "eigh_tridiagonal_v": (lambda x: dsl.eigh_tridiagonal(x, O3, eigvals_only=True, select="v", select_range=(-0.5, 5.0)), (4,)),
    "eigh_tridiagonal_stack": (lambda x: dsl.eigh_tridiagonal(x, np.ones((2, 3)))[1], (2, 4)),
}
FUNCTIONS_SCIPY = {
    "polar_right": lambda x: np.concatenate([np.ravel(m) for m in sl.polar(x)]),
    "polar_left": lambda x: np.concatenate([np.ravel(m) for m in sl.polar(x, side="left")]),
    "polar_stack": lambda x: sl.polar(x)[0],
    "expm_frechet_A": lambda x: np.concatenate([np.ravel(m) for m in sl.expm_frechet(x, E3)]),
    "expm_frechet_E": lambda x: sl.expm_frechet(E3, x, compute_expm=False),
    "expm_frechet_large": lambda x: sl.expm_frechet(3.0 * x, x, compute_expm=False),
    "qr_multiply_right": lambda x: np.concatenate([np.ravel(m) for m in sl.qr_multiply(x, C2)]),
    "qr_multiply_left_conj": lambda x: sl.qr_multiply(x, C2.T[:3], mode="left", conjugate=True)[0],
    "qr_multiply_c": lambda x: sl.qr_multiply(np.tril(np.ones((4, 3))), x, pivoting=True)[0],
    "eigh_tridiagonal_d": lambda x: np.concatenate([np.ravel(m) for m in sl.eigh_tridiagonal(x, O3)]),
    "eigh_tridiagonal_e": lambda x: sl.eigh_tridiagonal(D4, x, select="i", select_range=(1, 2))[1],
    "eigh_tridiagonal_v": lambda x: sl.eigh_tridiagonal(x, O3, eigvals_only=True, select="v", select_range=(-0.5, 5.0)),
    "eigh_tridiagonal_stack": lambda x: sl.eigh_tridiagonal(x, np.ones((2, 3)))[1],
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_functions_of_decompositions(name):
    f, shape = FUNCTIONS[name]
    x = _point(shape, len(name))
    want = FUNCTIONS_SCIPY[name](x)
    for got in (f(x), _active_value(f, x)):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)
    check_modes_against_fd(f, x)  # differences of dualad's plain path: SciPy's values
    check_bilinear(f, x, RNG)


def test_expm_frechet_is_the_derivative_of_expm_and_jits():
    a = _point((3, 3), 1)
    np.testing.assert_allclose(_active_value(lambda m: dsl.expm_frechet(m, E3, compute_expm=False), a),
                               ad.jvp(dsl.expm, (a,), (E3,))[1], rtol=1e-10)
    loss = lambda m: np.sum(dsl.expm_frechet(m, E3)[1] ** 2) + np.sum(dsl.polar(m)[1]) + np.sum(dsl.eigh_tridiagonal(m[0], m[1, :2])[1][0])
    jitted = ad.jit(ad.grad(loss))
    for x in (a, _point((3, 3), 2)):
        np.testing.assert_allclose(jitted(x), ad.grad(loss)(x), rtol=1e-10)
    assert _active_value(lambda m: dsl.expm_frechet(m, E3.astype(np.float32))[1], a.astype(np.float32)).dtype == np.float64
    c = a + 1j * E3
    np.testing.assert_allclose(_active_value(lambda m: dsl.expm_frechet(m, E3)[1], c), sl.expm_frechet(c, E3)[1], rtol=1e-10)


def test_functions_refusals():
    with pytest.raises(NotImplementedError, match="eigh"):
        ad.grad(lambda m: np.sum(dsl.funm(m, np.sin)))(S)
    np.testing.assert_allclose(dsl.funm(S, np.sin), sl.funm(S, np.sin))
    with pytest.raises(ValueError, match="side"):
        dsl.polar(S, side="up")
    with pytest.raises(ValueError, match="same shape"):
        ad.grad(lambda m: np.sum(dsl.expm_frechet(m, np.eye(3))))(S)
    with pytest.raises(ValueError, match="Unknown implementation"):
        dsl.expm_frechet(S, S, method="pade")
    with pytest.raises(ValueError, match="left' or 'right"):
        dsl.qr_multiply(S, S, mode="up")
    with pytest.raises(ValueError, match="one more element"):
        ad.grad(lambda d: np.sum(dsl.eigh_tridiagonal(d, d, eigvals_only=True)))(D4)
