"""Decompositions of complex matrices (cholesky, eigh, eigvalsh, svd, svdvals, qr, pinv,
SciPy's lu) with JAX's conventions: forward mode against central differences in real and
imaginary directions, reverse mode against the gradient ``∂L/∂x − i∂L/∂y`` of real losses that
do not depend on an eigenvector's (singular vector's) phase, the bilinear identity
``Re Σ u·(Jv) = Re Σ (Jᵀu)·v`` for complex ``u`` and ``v`` (the plain transpose, no
conjugate), complex64, stacks, and the four Hessian orders of real losses of complex matrices."""

from __future__ import annotations

import numpy as np
import pytest

import dualad as ad
import dualad.scipy.linalg as dsl
from tests.helpers import fd_complex_grad, fd_directional, fd_jacobian


def crandn(rng, shape, dtype=np.complex128):
    return (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(dtype)


def herm(x):
    """A Hermitian positive definite matrix (stack) from an unconstrained square one."""
    n = x.shape[-1]
    return np.matmul(x, np.conj(np.swapaxes(x, -1, -2))) + n * np.eye(n, dtype=x.dtype)


def flat(*outs):
    return np.concatenate([np.reshape(o, (-1,)) for o in outs])


def _svd_parts(x):
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    return flat(np.abs(u) ** 2, s, np.abs(vh) ** 2, np.matmul(u, vh))  # phase-free


# name: (function of one complex array, phase-free output, input shape)
CASES = {
    "cholesky": (lambda x: np.linalg.cholesky(herm(x)), (3, 3)),
    "cholesky_upper_stack": (lambda x: np.linalg.cholesky(herm(x), upper=True), (2, 3, 3)),
    "eigvalsh": (lambda x: np.linalg.eigvalsh(herm(x)), (3, 3)),
    # not Hermitian: NumPy reads one triangle and the diagonal's real part; so does the derivative
    "cholesky_reads_lower": (lambda x: np.linalg.cholesky(x + 6.0 * np.eye(3)), (3, 3)),
    "cholesky_upper_reads_upper": (lambda x: np.linalg.cholesky(x + 6.0 * np.eye(3), upper=True), (3, 3)),
    "eigh_U_reads_upper": (lambda x: flat(*[(w, np.abs(v) ** 2) for w, v in [np.linalg.eigh(x, UPLO="U")]][0]), (3, 3)),
    "eigvalsh_reads_lower_stack": (lambda x: np.linalg.eigvalsh(x), (2, 3, 3)),
    "eigh": (lambda x: flat(*[(w, np.abs(v) ** 2) for w, v in [np.linalg.eigh(herm(x))]][0]), (3, 3)),
    "eigh_U_stack": (lambda x: flat(*[(w, np.abs(v) ** 4) for w, v in [np.linalg.eigh(herm(x), UPLO="U")]][0]), (2, 3, 3)),
    "eigh_projector": (lambda x: (lambda v: v[:, :1] * np.conj(v[:, :1]).T)(np.linalg.eigh(herm(x))[1]), (3, 3)),
    "svd_square": (_svd_parts, (3, 3)),
    "svd_tall": (_svd_parts, (4, 3)),
    "svd_wide_stack": (_svd_parts, (2, 3, 4)),
    "svdvals": (lambda x: np.linalg.svdvals(x), (2, 4, 3)),
    "svd_hermitian": (lambda x: np.linalg.svd(herm(x), compute_uv=False, hermitian=True), (3, 3)),
    "qr_tall": (lambda x: flat(*np.linalg.qr(x)), (4, 3)),
    "qr_r_stack": (lambda x: np.linalg.qr(x, mode="r"), (2, 4, 3)),
    "qr_wide": (lambda x: flat(*np.linalg.qr(x)), (2, 3)),
    "pinv_tall": (lambda x: np.linalg.pinv(x), (4, 3)),
    "pinv_wide_stack": (lambda x: np.linalg.pinv(x), (2, 3, 4)),
    "lstsq": (lambda x: np.linalg.lstsq(x[:, :2], x[:, 2])[0], (4, 3)),
    "norm_nuc": (lambda x: np.linalg.norm(x, "nuc"), (3, 4)),
    "scipy_lu": (lambda x: flat(*dsl.lu(x)[1:]), (3, 3)),
    "slogdet_stack": (lambda x: flat(*np.linalg.slogdet(x)), (2, 3, 3)),
    "det_inv_solve": (lambda x: flat(np.linalg.det(x), np.linalg.inv(x), np.linalg.solve(x, x[..., 0])), (3, 3)),
    "scipy_sqrtm": (lambda x: dsl.sqrtm(x + 3 * np.eye(3)), (3, 3)),
    "scipy_expm": (lambda x: dsl.expm(x), (3, 3)),
    "scipy_eigh_b": (lambda x: flat(*[(w, np.abs(v) ** 2) for w, v in [dsl.eigh(herm(x), herm(x[::-1]))]][0]), (3, 3)),
    "scipy_lu_solve": (lambda x: dsl.lu_solve(dsl.lu_factor(x), x[:, 0]), (3, 3)),
    "scipy_solve_triangular": (lambda x: dsl.solve_triangular(x + 3 * np.eye(3), x.T, lower=True), (3, 3)),
    "scipy_sylvester": (lambda x: dsl.solve_sylvester(x + 3 * np.eye(3), x.T + 3 * np.eye(3), x), (3, 3)),
    "scipy_cho_solve": (lambda x: dsl.cho_solve(dsl.cho_factor(herm(x)), x[:, 0]), (3, 3)),
}


def _point(shape, seed):
    return crandn(np.random.default_rng(seed), shape) + 0.1


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_against_fd_real_and_imaginary_directions(name):
    f, shape = CASES[name]
    x = _point(shape, len(name))
    rng = np.random.default_rng(0)
    for v in (rng.normal(size=shape), 1j * rng.normal(size=shape), crandn(rng, shape)):
        _, jv = ad.jvp(f, (x,), (v,))
        np.testing.assert_allclose(jv, fd_directional(f, x, v), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_reverse_gradient_of_a_real_loss_against_fd(name):
    """``grad`` of a real loss is ``∂L/∂x − i ∂L/∂y`` (JAX's convention)."""
    f, shape = CASES[name]
    x = _point(shape, len(name))
    w = crandn(np.random.default_rng(1), np.shape(f(x)))

    def loss(z):
        y = f(z)
        return np.sum(np.real(w * y)) + np.sum(np.abs(y) ** 2) * 0.1

    np.testing.assert_allclose(ad.grad(loss)(x), fd_complex_grad(loss, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bilinear_identity_complex(name):
    """``Re Σ u·(J v) = Re Σ (Jᵀ u)·v`` with complex ``u`` and ``v``: JAX's vjp is the plain
    transpose, not the conjugate one."""
    f, shape = CASES[name]
    x = _point(shape, len(name))
    rng = np.random.default_rng(2)
    v = crandn(rng, shape)
    y, jv = ad.jvp(f, (x,), (v,))
    u = crandn(rng, np.shape(y)) if np.iscomplexobj(y) else rng.normal(size=np.shape(y))
    (jtu,) = ad.vjp(f, x)[1](u)
    assert jtu.dtype == x.dtype
    np.testing.assert_allclose(np.real(np.sum(u * jv)), np.real(np.sum(jtu * v)), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", ["cholesky", "eigh", "svd_tall", "qr_tall", "pinv_tall", "scipy_lu"])
def test_complex64(name):
    f, shape = CASES[name]
    x = _point(shape, len(name))
    v = crandn(np.random.default_rng(3), shape)
    expected = fd_directional(f, x, v)
    _, jv = ad.jvp(f, (x.astype(np.complex64),), (v.astype(np.complex64),))
    assert jv.dtype in (np.complex64, np.float32)
    np.testing.assert_allclose(jv, expected, rtol=2e-2, atol=2e-3)
    (jtu,) = ad.vjp(f, x.astype(np.complex64))[1](np.ones(np.shape(jv), dtype=jv.dtype))
    assert jtu.dtype == np.complex64


# Real scalar losses of a complex matrix z = x[0] + i x[1], so every Hessian order applies.
SCALARS = {
    "logdet_cholesky": lambda z: 2.0 * np.sum(np.log(np.real(np.diagonal(np.linalg.cholesky(herm(z)))))),
    "sum_eigvalsh_sq": lambda z: np.sum(np.linalg.eigvalsh(herm(z)) ** 2),
    "eigvec_quartic": lambda z: np.sum(np.abs(np.linalg.eigh(herm(z))[1]) ** 4),
    "nuc_norm": lambda z: np.linalg.norm(z, "nuc"),
    "svd_u_quartic": lambda z: np.sum(np.abs(np.linalg.svd(z, full_matrices=False)[0]) ** 4),
    "qr_abs": lambda z: np.sum(np.abs(np.linalg.qr(z)[0]) ** 4) + np.sum(np.real(np.linalg.qr(z)[1]) ** 2),
    "pinv_sq": lambda z: np.sum(np.abs(np.linalg.pinv(z)) ** 2),
}
MODES = ["forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(SCALARS))
def test_hessian_all_orders(name, mode):
    g = SCALARS[name]
    shape = (2, 3, 3) if name in ("logdet_cholesky", "sum_eigvalsh_sq", "eigvec_quartic") else (2, 4, 3)

    def f(x):
        return g(x[0] + 1j * x[1])

    x = np.random.default_rng(7).normal(size=shape) + 0.1
    H = ad.hessian(f, mode=mode)(x)
    expected = fd_jacobian(lambda p: ad.grad(f)(p), [x], 0, eps=1e-5)
    np.testing.assert_allclose(H, expected, rtol=1e-5, atol=1e-6)


def test_closed_forms():
    """``d logdet / dA`` and ``d Σ eigvalsh / dA`` and the nuclear norm's ``U Vᴴ``, in JAX's
    convention (the conjugate of the Wirtinger gradient, hence the transposes)."""
    z = _point((4, 4), 5)
    a = herm(z)
    logdet = lambda m: 2.0 * np.sum(np.log(np.real(np.diagonal(np.linalg.cholesky(m)))))
    ainv = np.linalg.inv(a)
    g = ad.grad(logdet)(a)
    # cholesky reads the lower triangle (and the diagonal's real part): the Hermitian gradient
    # counts twice below the diagonal, not at all above it
    np.testing.assert_allclose(g, np.conj(2.0 * np.tril(ainv, -1) + np.diag(np.real(np.diag(ainv)))), atol=1e-12)
    np.testing.assert_allclose(ad.grad(lambda m: np.sum(np.linalg.eigvalsh(m)))(a), np.eye(4), atol=1e-12)
    u, s, vh = np.linalg.svd(z)
    np.testing.assert_allclose(ad.grad(lambda m: np.linalg.norm(m, "nuc"))(z), np.conj(u @ vh), atol=1e-12)
    # the eigenvalues of a Hermitian matrix are real, as NumPy returns them
    w, v = ad.jvp(lambda m: np.linalg.eigh(m)[0], (a,), (np.eye(4, dtype=complex),))
    assert w.dtype == np.float64 and v.dtype == np.float64


def test_sqrtm_of_a_real_matrix_with_a_complex_root():
    """SciPy's principal root of a real matrix with negative eigenvalues is complex; its
    derivative along real directions matches central differences, and a real input's
    cotangent is real (the real part, JAX's convention)."""
    a = np.array([[-2.0, 1.0], [0.5, 3.0]])
    assert np.iscomplexobj(dsl.sqrtm(a))
    v = np.random.default_rng(4).normal(size=(2, 2))
    _, jv = ad.jvp(dsl.sqrtm, (a,), (v,))
    np.testing.assert_allclose(jv, fd_directional(dsl.sqrtm, a, v), rtol=1e-6, atol=1e-8)
    loss = lambda m: np.sum(np.abs(dsl.sqrtm(m)) ** 2)
    g = ad.grad(loss)(a)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, fd_jacobian(loss, [a], 0), rtol=1e-6, atol=1e-8)


def test_slogdet_sign_moves_with_a_complex_matrix():
    """``sign = det/|det|`` has the derivative ``i Im tr(A⁻¹Ȧ) · sign`` (JAX's), and the log
    of the absolute value ``Re tr(A⁻¹Ȧ)``."""
    z = _point((3, 3), 6)
    v = crandn(np.random.default_rng(5), (3, 3))
    (sign, logabs), (dsign, dlogabs) = ad.jvp(np.linalg.slogdet, (z,), (v,))
    np.testing.assert_allclose(sign, np.linalg.slogdet(z)[0], rtol=1e-14)
    trace = np.trace(np.linalg.solve(z, v))
    np.testing.assert_allclose(dsign, 1j * trace.imag * sign, rtol=1e-10)
    np.testing.assert_allclose(dlogabs, trace.real, rtol=1e-10)
    assert np.isrealobj(dlogabs)

