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
