"""``np.linalg.eig`` and ``eigvals``: complex eigenvalues of real and complex matrices (and
stacks), eigenvectors normalised as LAPACK returns them (unit norm, largest component real).

Forward mode against central differences of gauge-free functions (an eigenvector's sign or
phase is LAPACK's choice, which may flip between neighbouring points), the bilinear identity
on the raw outputs, closed forms (``Σλ = tr A``, ``Πλ = det A``), every Hessian order, and
the degenerate points of docs/linalg.md (the values JAX 0.10's ``lax.linalg.eig`` gives)."""

from __future__ import annotations

import numpy as np
import pytest

import dualad as ad
from tests.helpers import check_degenerate_point, fd_complex_grad, fd_directional, fd_jacobian


def crandn(rng, shape):
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


def projectors(x):
    """The spectral projectors ``v_j (V⁻¹)_j``: free of each eigenvector's scale and phase."""
    w, v = np.linalg.eig(x)
    return v[..., :, None, :] * np.swapaxes(np.linalg.inv(v), -1, -2)[..., None, :, :]


# name: (gauge-free function, input, directions: "real" or "complex")
CASES = {
    "eigvals_real": (np.linalg.eigvals, (4, 4), "real"),
    "eigvals_complex": (np.linalg.eigvals, (3, 3), "complex"),
    "eigvals_stack": (np.linalg.eigvals, (2, 3, 3), "real"),
    "eig_values": (lambda x: np.linalg.eig(x)[0], (4, 4), "real"),
    "eig_abs_vectors": (lambda x: np.abs(np.linalg.eig(x)[1]) ** 2, (4, 4), "real"),
    "eig_abs_vectors_complex": (lambda x: np.abs(np.linalg.eig(x)[1]) ** 2, (3, 3), "complex"),
    "eig_projectors": (projectors, (3, 3), "real"),
    "eig_projectors_complex_stack": (projectors, (2, 3, 3), "complex"),
}


def _point(name):
    _, shape, kind = CASES[name]
    rng = np.random.default_rng(len(name))
    return crandn(rng, shape) if kind == "complex" else rng.normal(size=shape)


def _directions(name, rng):
    _, shape, kind = CASES[name]
    dirs = [rng.normal(size=shape)]
    return dirs + [1j * rng.normal(size=shape), crandn(rng, shape)] if kind == "complex" else dirs


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_against_fd(name):
    f = CASES[name][0]
    x = _point(name)
    for v in _directions(name, np.random.default_rng(0)):
        _, jv = ad.jvp(f, (x,), (v,))
        np.testing.assert_allclose(jv, fd_directional(f, x, v), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_reverse_gradient_of_a_real_loss_against_fd(name):
    f = CASES[name][0]
    x = _point(name)
    w = crandn(np.random.default_rng(1), np.shape(f(x)))

    def loss(z):
        return np.sum(np.real(w * f(z)))

    expected = fd_complex_grad(loss, x) if np.iscomplexobj(x) else fd_jacobian(loss, [x], 0)
    np.testing.assert_allclose(ad.grad(loss)(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape,kind", [((4, 4), "real"), ((3, 3), "complex"), ((2, 3, 3), "real")])
def test_bilinear_identity_on_raw_outputs(shape, kind):
    """Forward and reverse mode agree on the eigenvectors themselves (normalisation included):
    ``Re Σ u·(J v) = Re Σ (Jᵀ u)·v`` with complex ``u``."""
    rng = np.random.default_rng(2)
    x = crandn(rng, shape) if kind == "complex" else rng.normal(size=shape)
    v = crandn(rng, shape) if kind == "complex" else rng.normal(size=shape)

    def f(a):
        w, vec = np.linalg.eig(a)
        return np.concatenate([w, np.reshape(vec, tuple(vec.shape[:-2]) + (-1,))], axis=-1)

    y, jv = ad.jvp(f, (x,), (v,))
    u = crandn(rng, np.shape(y))
    (jtu,) = ad.vjp(f, x)[1](u)
    assert jtu.dtype == x.dtype
    np.testing.assert_allclose(np.real(np.sum(u * jv)), np.real(np.sum(jtu * v)), rtol=1e-9, atol=1e-10)


def test_closed_forms():
    x = np.random.default_rng(3).normal(size=(4, 4))
    assert np.iscomplexobj(np.linalg.eigvals(x))  # a complex pair: the interesting case
    np.testing.assert_allclose(ad.grad(lambda a: np.sum(np.real(np.linalg.eigvals(a))))(x), np.eye(4), atol=1e-12)
    det_grad = np.linalg.det(x) * np.linalg.inv(x).T
    np.testing.assert_allclose(ad.grad(lambda a: np.real(np.prod(np.linalg.eigvals(a))))(x), det_grad, atol=1e-12)
    z = crandn(np.random.default_rng(4), (3, 3))  # holomorphic: Π λ = det, d det/dZ = det Z⁻ᵀ
    g = ad.grad(lambda a: np.prod(np.linalg.eigvals(a)), holomorphic=True)(z)
    np.testing.assert_allclose(g, np.linalg.det(z) * np.linalg.inv(z).T, atol=1e-12)


def test_values_and_dtypes_as_numpy():
    sym = np.array([[2.0, 1.0], [1.0, 3.0]])  # real eigenvalues: NumPy returns real arrays
    w, v = ad.jvp(lambda a: np.linalg.eig(a)[1], (sym,), (np.eye(2),))
    assert w.dtype == np.float64 and v.dtype == np.float64
    rot = np.array([[0.0, -1.0], [1.0, 0.0]])
    y, _ = ad.jvp(lambda a: np.linalg.eig(a), (rot,), (np.eye(2),))
    np.testing.assert_allclose(y.eigenvalues, np.linalg.eig(rot).eigenvalues)
    np.testing.assert_allclose(y.eigenvectors, np.linalg.eig(rot).eigenvectors)
    assert ad.jvp(np.linalg.eigvals, (np.eye(2, dtype=np.complex64),), (np.eye(2, dtype=np.complex64),))[1].dtype == np.complex64


SCALARS = {
    "eigvals_abs_sq": lambda x: np.sum(np.abs(np.linalg.eigvals(x)) ** 2),
    "eigvals_imag_sq": lambda x: np.sum(np.imag(np.linalg.eigvals(x)) ** 2),
    "eigvec_quartic": lambda x: np.sum(np.abs(np.linalg.eig(x)[1]) ** 4),
}


@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"])
@pytest.mark.parametrize("name", sorted(SCALARS))
def test_hessian_all_orders(name, mode):
    f = SCALARS[name]
    x = np.random.default_rng(3).normal(size=(4, 4))
    H = ad.hessian(f, mode=mode)(x)
    np.testing.assert_allclose(H, fd_jacobian(lambda p: ad.grad(f)(p), [x], 0, eps=1e-5), rtol=1e-5, atol=1e-6)


I3 = np.eye(3)
JORDAN = np.array([[1.0, 1.0], [0.0, 1.0]])
ROT = np.array([[0.0, -1.0], [1.0, 0.0]])
DEGENERATE = [
    # (what, function, point, expected gradient or "nan"): JAX 0.10's lax.linalg.eig gives the same
    ("sum(eigvals) at repeated eigenvalues", lambda a: np.sum(np.real(np.linalg.eigvals(a))), I3, I3),
    ("sum|eigvals|² at repeated eigenvalues", lambda a: np.sum(np.abs(np.linalg.eigvals(a)) ** 2), I3, 2 * I3),
    ("eigenvalues of eig, vectors unused, repeated", lambda a: np.sum(np.real(np.linalg.eig(a)[0])), I3, I3),
    ("eigenvectors at repeated eigenvalues", lambda a: np.sum(np.abs(np.linalg.eig(a)[1]) ** 4), I3, "nan"),
    ("sum(eigvals) of a Jordan block", lambda a: np.sum(np.real(np.linalg.eigvals(a))), JORDAN, np.eye(2)),
    ("eigenvectors of a Jordan block", lambda a: np.sum(np.abs(np.linalg.eig(a)[1]) ** 4), JORDAN, "nan"),
    ("sum|eigvals|² of a rotation", lambda a: np.sum(np.abs(np.linalg.eigvals(a)) ** 2), ROT, 2 * ROT),
]


@pytest.mark.parametrize("what,f,x,expected", DEGENERATE, ids=[d[0] for d in DEGENERATE])
def test_degenerate_points(what, f, x, expected):
    check_degenerate_point(what, f, x, expected)


def test_eigenvectors_at_tied_largest_components_as_jax():
    """A rotation's eigenvectors have two components of equal magnitude: the first is the one
    LAPACK makes real, and the derivative keeps it real (JAX's ``argmax``).  The expected
    gradient is JAX 0.10.2's ``lax.linalg.eig(..., enable_eigvec_derivs=True)``."""
    weights = np.array([[1.0 + 2.0j, 0.5 - 1j], [2.0, 1j]])
    f = lambda a: np.sum(np.real(np.linalg.eig(a)[1] * weights))
    g = ad.grad(f)(ROT)
    np.testing.assert_allclose(g, [[0.707107, -0.441942], [-0.441942, -0.707107]], atol=1e-6)
    np.testing.assert_allclose(ad.jacfwd(f)(ROT), g, atol=1e-12)
