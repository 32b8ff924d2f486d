"""numpy.linalg on active values: every op forward and reverse against central differences,
the bilinear identity Σ u·(Jv) = Σ (Jᵀu)·v, all four Hessian orders, float32, stacks, and the
conventions at degenerate points (docs/linalg.md)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dualad as ad
from tests.helpers import check_bilinear, check_degenerate_point, check_modes_against_fd, fd_jacobian

RNG = np.random.default_rng(1234)
pytestmark = pytest.mark.filterwarnings("ignore:Arrays of 2-dimensional vectors:DeprecationWarning")


def spd(x):
    """A symmetric positive definite matrix (stack) from an unconstrained square one."""
    n = x.shape[-1]
    return np.matmul(x, np.swapaxes(x, -1, -2)) + n * np.eye(n, dtype=x.dtype)


def sym(x):
    return x + np.swapaxes(x, -1, -2)


def flat(*outs):
    return np.concatenate([np.reshape(o, (-1,)) for o in outs])


# name: (function of one array returning one array, input shape)
CASES = {
    "cholesky": (lambda x: np.linalg.cholesky(spd(x)), (3, 3)),
    "cholesky_upper": (lambda x: np.linalg.cholesky(spd(x), upper=True), (3, 3)),
    "cholesky_stack": (lambda x: np.linalg.cholesky(spd(x)), (2, 3, 3)),
    "eigh": (lambda x: flat(*[(w, v * v) for w, v in [np.linalg.eigh(sym(x))]][0]), (3, 3)),
    "eigh_U_stack": (lambda x: flat(*[(w, v**4) for w, v in [np.linalg.eigh(sym(x), UPLO="U")]][0]), (2, 3, 3)),
    "eigvalsh": (lambda x: np.linalg.eigvalsh(sym(x)), (4, 4)),
    "eigvalsh_stack": (lambda x: np.linalg.eigvalsh(sym(x)), (2, 3, 3)),
    # unsymmetrised inputs: the value reads one triangle (as NumPy's), so does the derivative
    "cholesky_reads_lower": (lambda x: np.linalg.cholesky(x + 6.0 * np.eye(3)), (3, 3)),
    "cholesky_upper_reads_upper": (lambda x: np.linalg.cholesky(x + 6.0 * np.eye(3), upper=True), (3, 3)),
    "eigh_reads_lower": (lambda x: flat(*[(w, v * v) for w, v in [np.linalg.eigh(x)]][0]), (3, 3)),
    "eigvalsh_reads_upper_stack": (lambda x: np.linalg.eigvalsh(x, UPLO="U"), (2, 3, 3)),
    "svd_tall": (lambda x: flat(*[(u * u, s, vt * vt) for u, s, vt in [np.linalg.svd(x, full_matrices=False)]][0]), (4, 3)),
    "svd_wide": (lambda x: flat(*[(u * u, s, vt * vt) for u, s, vt in [np.linalg.svd(x, full_matrices=False)]][0]), (3, 4)),
    "svd_square_full": (lambda x: flat(*[(u * u, s, vt * vt) for u, s, vt in [np.linalg.svd(x)]][0]), (3, 3)),
    "svd_stack": (lambda x: flat(*[(u * u, s) for u, s, vt in [np.linalg.svd(x, full_matrices=False)]][0]), (2, 4, 3)),
    "svd_values": (lambda x: np.linalg.svd(x, compute_uv=False), (3, 4)),
    "svdvals": (lambda x: np.linalg.svdvals(x), (2, 4, 3)),
    "svd_hermitian": (lambda x: flat(*[(u * u, s) for u, s, vt in [np.linalg.svd(sym(x), hermitian=True)]][0]), (3, 3)),
    "svd_hermitian_values": (lambda x: np.linalg.svd(sym(x), compute_uv=False, hermitian=True), (3, 3)),
    "qr_tall": (lambda x: flat(*np.linalg.qr(x)), (4, 3)),
    "qr_square_complete": (lambda x: flat(*np.linalg.qr(x, mode="complete")), (3, 3)),
    "qr_tall_complete": (lambda x: flat(*np.linalg.qr(x, mode="complete")), (4, 2)),  # LAPACK's completion of Q
    "qr_tall_complete_stack": (lambda x: flat(*np.linalg.qr(x, mode="complete")), (2, 5, 3)),
    "qr_r": (lambda x: np.linalg.qr(x, mode="r"), (4, 3)),
    "qr_wide": (lambda x: flat(*np.linalg.qr(x)), (2, 3)),
    "qr_stack": (lambda x: flat(*np.linalg.qr(x)), (2, 4, 3)),
    "pinv_tall": (lambda x: np.linalg.pinv(x), (4, 3)),
    "pinv_wide_stack": (lambda x: np.linalg.pinv(x), (2, 3, 4)),
    "pinv_hermitian": (lambda x: np.linalg.pinv(sym(x), hermitian=True), (3, 3)),
    "lstsq": (lambda x: flat(*[(s, r, sv) for s, r, _, sv in [np.linalg.lstsq(x[:, :3], x[:, 3])]][0]), (5, 4)),
    "lstsq_matrix_rhs": (lambda x: flat(*[(s, r) for s, r, _, _ in [np.linalg.lstsq(x[:, :2], x[:, 2:])]][0]), (5, 4)),
    "matrix_power_3": (lambda x: np.linalg.matrix_power(x, 3), (3, 3)),
    "matrix_power_-2": (lambda x: np.linalg.matrix_power(spd(x), -2), (2, 3, 3)),
    "solve_stack": (lambda x: np.linalg.solve(spd(x[0]), x[1]), (2, 3, 3)),
    "inv": (lambda x: np.linalg.inv(spd(x)), (3, 3)),
    "det_stack": (lambda x: np.linalg.det(x), (2, 3, 3)),
    "slogdet": (lambda x: np.linalg.slogdet(spd(x))[1], (3, 3)),
    "cond": (lambda x: np.linalg.cond(x), (3, 3)),
    "cond_fro": (lambda x: np.linalg.cond(spd(x), "fro"), (3, 3)),
    "multi_dot": (lambda x: np.linalg.multi_dot([x[0, 0], x[1], x[2], x[0, 1]]), (3, 3, 3)),
    "tensorsolve": (lambda x: np.linalg.tensorsolve(np.reshape(spd(x), (2, 3, 2, 3)), x[0, :2, :3] if False else np.ones((2, 3))), (6, 6)),
    "tensorinv": (lambda x: np.linalg.tensorinv(np.reshape(spd(x), (6, 2, 3)), ind=1), (6, 6)),
    "cross3": (lambda x: np.cross(x[0], x[1]), (2, 4, 3)),
    "cross2": (lambda x: np.cross(x[0], x[1]), (2, 4, 2)),
    "cross_mixed_axis": (lambda x: np.cross(x[:2], x, axisa=0, axisb=0, axisc=0), (3, 5)),
    "linalg_cross": (lambda x: np.linalg.cross(x[0], x[1]), (2, 3)),
    "vander": (lambda x: np.vander(x, 4), (3,)),
    "vander_increasing": (lambda x: np.vander(x, increasing=True), (3,)),
    "matrix_transpose": (lambda x: np.linalg.matrix_transpose(x), (2, 3, 4)),
    "linalg_outer": (lambda x: np.linalg.outer(x[0], x[1]), (2, 3)),
    "linalg_trace": (lambda x: np.linalg.trace(x, offset=1), (2, 3, 4)),
    "linalg_diagonal": (lambda x: np.linalg.diagonal(x), (2, 3, 4)),
    "vecdot": (lambda x: np.linalg.vecdot(x[0], x[1]), (2, 3, 4)),
}

NORMS = {
    "vec_none": dict(), "vec_2": dict(ord=2), "vec_1": dict(ord=1), "vec_inf": dict(ord=np.inf),
    "vec_-inf": dict(ord=-np.inf), "vec_3": dict(ord=3), "vec_-1": dict(ord=-1), "vec_half": dict(ord=0.5),
}
MATRIX_NORMS = ["fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf, None]
for name, kw in NORMS.items():
    CASES["norm_" + name] = (lambda x, kw=kw: np.linalg.norm(x, **kw), (4,))
    CASES["norm_axis_" + name] = (lambda x, kw=kw: np.linalg.norm(x, axis=1, keepdims=True, **kw), (3, 4))
for o in MATRIX_NORMS:
    CASES[f"norm_matrix_{o}"] = (lambda x, o=o: np.linalg.norm(x, o), (3, 4))
    CASES[f"norm_matrix_axes_{o}"] = (lambda x, o=o: np.linalg.norm(x, o, axis=(2, 0), keepdims=True), (3, 2, 4))
    if o is not None:
        CASES[f"matrix_norm_{o}"] = (lambda x, o=o: np.linalg.matrix_norm(x, ord=o), (2, 3, 4))
CASES["vector_norm_axes"] = (lambda x: np.linalg.vector_norm(x, axis=(0, 2), ord=3), (2, 3, 4))
CASES["vector_norm_all"] = (lambda x: np.linalg.vector_norm(x, keepdims=True), (2, 3, 4))


def _point(shape, seed):
    return np.random.default_rng(seed).normal(size=shape) + 0.1


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_reverse_against_fd(name):
    f, shape = CASES[name]
    check_modes_against_fd(f, _point(shape, len(name)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_bilinear_identity(name):
    """Σ u·(J v) from forward mode equals Σ (Jᵀ u)·v from reverse mode."""
    f, shape = CASES[name]
    check_bilinear(f, _point(shape, len(name)), RNG)


@pytest.mark.parametrize("name", ["cholesky", "eigh", "svd_tall", "qr_tall", "pinv_tall", "norm_matrix_nuc", "lstsq"])
def test_float32(name):
    f, shape = CASES[name]
    x = _point(shape, len(name))
    expected = fd_jacobian(f, [x], 0)
    for jac in (ad.jacfwd(f)(x.astype(np.float32)), ad.jacrev(f)(x.astype(np.float32))):
        assert jac.dtype == np.float32
        np.testing.assert_allclose(jac, expected, rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("name", sorted(CASES)[:: 7])
def test_primal_values_equal_numpy(name):
    f, shape = CASES[name]
    x = _point(shape, len(name))
    y = ad.jvp(f, (x,), (np.zeros(shape),))[0]
    np.testing.assert_allclose(y, f(x), rtol=1e-12, atol=1e-12)


SCALARS = {
    "logdet_cholesky": lambda x: 2.0 * np.sum(np.log(np.diagonal(np.linalg.cholesky(spd(x)), axis1=-2, axis2=-1))),
    "sum_eigvalsh_sq": lambda x: np.sum(np.linalg.eigvalsh(sym(x)) ** 2),
    "sum_svd": lambda x: np.sum(np.linalg.svd(x, compute_uv=False)),
    "eigvec_quartic": lambda x: np.sum(np.linalg.eigh(sym(x))[1] ** 4),
    "nuc_norm": lambda x: np.linalg.norm(x, "nuc"),
    "qr_r_sq": lambda x: np.sum(np.linalg.qr(x)[1] ** 2 * np.arange(3.0)),
    "pinv_sum": lambda x: np.sum(np.linalg.pinv(x) ** 2),
    "eigvalsh_triangle_cubed": lambda x: np.sum(np.linalg.eigvalsh(x, UPLO="U") ** 3),
}
MODES = ["forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(SCALARS))
def test_hessian_all_orders(name, mode):
    f = SCALARS[name]
    shape = (3, 3) if "svd" not in name and "qr" not in name and "pinv" not in name and "nuc" not in name else (4, 3)
    x = _point(shape, 7)
    H = ad.hessian(f, mode=mode)(x)
    expected = fd_jacobian(lambda z: ad.grad(f)(z), [x], 0, eps=1e-5)
    np.testing.assert_allclose(H, expected, rtol=1e-5, atol=1e-6)


def test_hessian_stacked_float32():
    f = SCALARS["logdet_cholesky"]
    x = _point((2, 3, 3), 3)
    H64 = ad.hessian(f)(x)
    H32 = ad.hessian(f)(x.astype(np.float32))
    assert H32.dtype == np.float32
    np.testing.assert_allclose(H32, H64, rtol=1e-3, atol=1e-4)


def test_sign_invariant_losses_and_closed_forms():
    a = spd(_point((4, 4), 1))
    # cholesky and eigvalsh read the lower triangle: a symmetric gradient G counts twice below
    # the diagonal and not at all above it
    lower = lambda g: 2.0 * np.tril(g, -1) + np.diag(np.diag(g))
    np.testing.assert_allclose(ad.grad(lambda m: np.linalg.slogdet(np.linalg.cholesky(m))[1] * 2)(a),
                               lower(np.linalg.inv(a)), rtol=1e-10)
    w, v = np.linalg.eigh(a)
    # the projector onto the top eigenvector: d λ_max / dA = v vᵀ
    np.testing.assert_allclose(ad.grad(lambda m: np.linalg.eigvalsh(m)[-1])(a), lower(np.outer(v[:, -1], v[:, -1])), atol=1e-12)
    b = _point((5, 3), 2)
    u, s, vt = np.linalg.svd(b, full_matrices=False)
    np.testing.assert_allclose(ad.grad(lambda m: np.linalg.norm(m, "nuc"))(b), u @ vt, atol=1e-12)
    np.testing.assert_allclose(ad.grad(lambda m: np.linalg.norm(m, 2))(b), np.outer(u[:, 0], vt[0]), atol=1e-12)


# --------------------------------------------------------------------------------------------
# Degenerate points: the table of docs/linalg.md (JAX's values measured with JAX 0.10)

I3 = np.eye(3)
RANK1 = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
DEGENERATE = [
    # (what, function, point, expected gradient or "nonfinite")
    ("sum(eigvalsh) at repeated eigenvalues", lambda a: np.sum(np.linalg.eigvalsh(a)), I3, I3),
    ("sum(eigh w) at repeated eigenvalues, vectors unused", lambda a: np.sum(np.linalg.eigh(a)[0]), I3, I3),
    ("eigenvectors at repeated eigenvalues", lambda a: np.sum(np.linalg.eigh(a)[1] ** 4), I3, "nonfinite"),
    ("sum(svdvals) at repeated singular values", lambda a: np.sum(np.linalg.svdvals(a)), I3, I3),
    ("sum(svdvals) rank-deficient", lambda a: np.sum(np.linalg.svd(a, compute_uv=False)), RANK1, np.eye(3, 2)),
    ("singular vectors at repeated singular values", lambda a: np.sum(np.linalg.svd(a)[0] ** 4), I3, "nonfinite"),
    ("singular vectors rank-deficient", lambda a: np.sum(np.linalg.svd(a, full_matrices=False)[0] ** 4), RANK1, "nonfinite"),
    ("norm(x, 2) of a matrix at tied singular values", lambda a: np.linalg.norm(a, 2), I3, I3 / 3),
    ("norm(x, 'nuc') at 0", lambda a: np.linalg.norm(a, "nuc"), np.zeros((2, 2)), np.eye(2)),
    ("norm(x, 1) at 0 (abs' at 0 is 0; JAX: 1)", lambda a: np.linalg.norm(a, 1), np.zeros(3), np.zeros(3)),
    ("norm(x, inf) at ties", lambda a: np.linalg.norm(a, np.inf), np.ones(3), np.full(3, 1 / 3)),
    ("norm(x) at 0", lambda a: np.linalg.norm(a), np.zeros(3), np.zeros(3)),
    ("det at a singular matrix", lambda a: np.linalg.det(a), np.diag([1.0, 2.0, 0.0]), np.diag([0.0, 0.0, 2.0])),
    ("pinv at a rank-deficient matrix", lambda a: np.sum(np.linalg.pinv(a)), RANK1, np.array([[-1.0, 1.0], [1.0, 0.0], [1.0, 0.0]])),
]


@pytest.mark.parametrize("what,f,x,expected", DEGENERATE, ids=[d[0] for d in DEGENERATE])
def test_degenerate_points(what, f, x, expected):
    check_degenerate_point(what, f, x, expected)


@pytest.mark.parametrize("mode", MODES)
def test_second_derivatives_at_repeated_eigenvalues_are_nan_as_in_jax(mode):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        H = ad.hessian(lambda a: np.sum(np.linalg.eigvalsh(a) ** 2), mode=mode)(np.eye(2))
    assert np.isnan(H).any()


REFUSED = [
    ("svd full_matrices on non-square", lambda a: np.sum(np.linalg.svd(a)[0]), np.ones((3, 2)), NotImplementedError, "full_matrices=False"),
    ("qr raw", lambda a: np.sum(np.linalg.qr(a, mode="raw")[0]), np.eye(3, 2), NotImplementedError, "Householder"),
    ("cholesky of a non-positive-definite matrix", lambda a: np.sum(np.linalg.cholesky(a)), -np.eye(2), np.linalg.LinAlgError, ""),
    ("slogdet at a singular matrix", lambda a: np.linalg.slogdet(a)[1], np.zeros((2, 2)), np.linalg.LinAlgError, ""),
    ("qr of a rank-deficient matrix", lambda a: np.sum(np.linalg.qr(a)[0]), RANK1, np.linalg.LinAlgError, "singular matrix"),
    ("eigh with a bad UPLO", lambda a: np.sum(np.linalg.eigvalsh(a, UPLO="X")), np.eye(2), ValueError, "UPLO"),
    ("norm order for matrices", lambda a: np.linalg.norm(a, 3), np.eye(2), ValueError, "Invalid norm order"),
    ("cholesky of a vector", lambda a: np.sum(np.linalg.cholesky(a)), np.ones(2), np.linalg.LinAlgError, "two-dimensional"),
]


@pytest.mark.parametrize("what,f,x,exc,match", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused(what, f, x, exc, match):
    for transform in (ad.grad, ad.jacfwd):
        with pytest.raises(exc, match=match):
            transform(f)(x)


def test_matrix_power_zero_and_results_types():
    x = _point((3, 3), 0)
    np.testing.assert_allclose(ad.grad(lambda a: np.sum(np.linalg.matrix_power(a, 0)) + np.sum(a))(x), np.ones((3, 3)))

    def f(a):
        r = np.linalg.eigh(a + a.T)
        s = np.linalg.svd(a)
        q = np.linalg.qr(a)
        return np.sum(r.eigenvalues) + np.sum(s.S) + np.sum(q.R * q.R)

    np.testing.assert_allclose(ad.grad(f)(x), fd_jacobian(f, [x], 0), rtol=1e-6, atol=1e-7)
    _, _, rank, _ = ad.primal(ad.jvp(lambda a: np.linalg.lstsq(a, np.ones(4))[0], (np.ones((4, 2)),), (np.eye(4, 2),))[0]), None, 1, None
    assert rank == 1


# --------------------------------------------------------------------------------------------
# norm over every ord and axis NumPy accepts, drawn


@st.composite
def norm_calls(draw):
    nd = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(2, 4), min_size=nd, max_size=nd)))
    matrix = nd >= 2 and draw(st.booleans())
    if matrix:
        axis = tuple(draw(st.permutations(range(-nd, 0)))[:2]) if nd > 2 or draw(st.booleans()) else None
        ord_ = draw(st.sampled_from(["fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf, None]))
    else:
        axis = draw(st.integers(-nd, nd - 1)) if nd > 1 or draw(st.booleans()) else None
        ord_ = draw(st.sampled_from([None, 1, 2, 3, -1, np.inf, -np.inf, 0.5]))
    if axis is None and nd > 2:
        ord_ = None
    return shape, ord_, axis, draw(st.booleans()), draw(st.integers(0, 2**16))


@settings(max_examples=60, deadline=None)
@given(norm_calls())
def test_norm_drawn(call):
    shape, ord_, axis, keepdims, seed = call
    x = np.random.default_rng(seed).uniform(0.2, 1.5, size=shape) * np.random.default_rng(seed + 1).choice([-1, 1], size=shape)

    def f(a):
        return np.linalg.norm(a, ord_, axis, keepdims)

    y, jv = ad.jvp(f, (x,), (np.ones(shape),))
    np.testing.assert_allclose(y, f(x), rtol=1e-12)
    u = np.random.default_rng(seed + 2).normal(size=np.shape(y))
    (jtu,) = ad.vjp(f, x)[1](u)
    assert np.isclose(np.sum(u * jv), np.sum(jtu), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(ad.jacrev(f)(x), fd_jacobian(f, [x], 0), rtol=1e-4, atol=1e-6)


def _lower_triangle_gradient(g):
    """The gradient with respect to the lower triangle NumPy reads, of a Hermitian gradient ``g``
    with respect to a Hermitian matrix: twice ``g`` below the diagonal, ``Re g`` on it."""
    return 2.0 * np.tril(g, -1) + np.diag(np.real(np.diagonal(g)))


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
def test_cholesky_adjoint_of_one_large_matrix(dtype):
    """At n = 100 LAPACK's blocked sygst/hegst computes cholesky's adjoint on one matrix: logdet's
    gradient is A⁻¹ (the conjugate of the symmetrised inverse) on the lower triangle NumPy reads,
    one lane and three lanes (jacrev) agree with forward mode by ``Re Σ u·(J v) = Re Σ (Jᵀ u)·v``."""
    n, rng = 100, np.random.default_rng(21)
    cplx = np.dtype(dtype).kind == "c"
    draw = (lambda *s: rng.normal(size=s) + 1j * rng.normal(size=s)) if cplx else (lambda *s: rng.normal(size=s))
    x = draw(n, n).astype(dtype)
    a = (x @ np.conj(x.T) + n * np.eye(n)).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    ainv = np.linalg.inv(a.astype(np.complex128 if cplx else np.float64))
    g = ad.grad(lambda m: 2.0 * np.sum(np.log(np.real(np.diagonal(np.linalg.cholesky(m))))))(a)
    assert g.dtype == dtype
    np.testing.assert_allclose(g, _lower_triangle_gradient(np.conj(ainv + np.conj(ainv.T)) / 2), **tol)
    v = draw(n, n).astype(dtype)
    _, jv = ad.jvp(np.linalg.cholesky, (a,), (v,))
    u = draw(n, n).astype(dtype)
    (jtu,) = ad.vjp(np.linalg.cholesky, a)[1](u)
    np.testing.assert_allclose(np.real(np.sum(u * jv)), np.real(np.sum(jtu * v)), **tol)
    w = rng.normal(size=n)  # a loss on the diagonal with weights of both signs
    diag_loss = lambda m: np.sum(np.real(np.diagonal(np.linalg.cholesky(m))) * w)
    _, jv1 = ad.jvp(diag_loss, (a,), (v,))
    np.testing.assert_allclose(np.real(np.sum(ad.grad(diag_loss)(a) * v)), jv1, **tol)
    pick = lambda m: np.real(np.linalg.cholesky(m)[[0, 50, 99], [0, 20, 99]])
    rows = ad.jacrev(pick)(a)  # three lanes in one sweep
    _, jv3 = ad.jvp(pick, (a,), (v,))
    np.testing.assert_allclose(np.real(np.sum(rows * v, axis=(1, 2))), jv3, **tol)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
def test_eigvalsh_adjoint_of_one_large_matrix(dtype):
    """At n = 100 BLAS's syrk/herk forms ``V diag(w̄) Vᴴ`` (weights of both signs and zeros: two
    rank-k updates): the gradient of ``Σ c_i λ_i`` against the closed form ``V diag(c) Vᵀ`` for
    real matrices and against forward mode for every dtype; a NaN weight stays NaN."""
    n, rng = 100, np.random.default_rng(22)
    cplx = np.dtype(dtype).kind == "c"
    draw = (lambda *s: rng.normal(size=s) + 1j * rng.normal(size=s)) if cplx else (lambda *s: rng.normal(size=s))
    x = draw(n, n).astype(dtype)
    a = x + np.conj(x.T)
    c = rng.normal(size=n)
    c[::7] = 0.0
    tol = dict(rtol=1e-3, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)
    loss = lambda m: np.sum(np.linalg.eigvalsh(m) * c)
    g = ad.grad(loss)(a)
    assert g.dtype == dtype
    if not cplx:
        v = np.linalg.eigh(a.astype(np.float64))[1]
        np.testing.assert_allclose(g, _lower_triangle_gradient((v * c) @ v.T), **tol)
    t = draw(n, n).astype(dtype)
    _, jv = ad.jvp(loss, (a,), (t,))
    np.testing.assert_allclose(np.real(np.sum(g * t)), jv, **tol)
    c[3] = np.nan
    assert np.isnan(ad.grad(loss)(a)).any()


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (2, 5, 5)])
def test_pinv_hermitian_along_any_direction(dtype, shape):
    # NumPy's pinv(hermitian=True) reads the lower triangle and the real diagonal alone: the
    # derivative along a direction that is not Hermitian is that of NumPy's own function
    rng = np.random.default_rng(3)
    draw = (lambda: rng.standard_normal(shape)) if dtype == np.float64 else \
        (lambda: rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
    a, t, u = draw(), draw(), draw()
    a = (a + np.conj(np.swapaxes(a, -1, -2))) / 2 + 3 * np.eye(shape[-1])

    def f(x):
        return np.linalg.pinv(x, hermitian=True)

    eps = 1e-6
    fd = (f(a + eps * t) - f(a - eps * t)) / (2 * eps)
    y, ty = ad.jvp(f, (a,), (t,))
    np.testing.assert_allclose(y, f(a), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ty, fd, rtol=1e-6, atol=1e-7)
    _, pull = ad.vjp(f, a)
    (ga,) = pull(u)
    # vjp is the plain transpose of the jvp: Re Σ u·(J t) = Re Σ (Jᵀu)·t
    np.testing.assert_allclose(np.real(np.sum(ga * t)), np.real(np.sum(u * fd)), rtol=1e-6)


@pytest.mark.parametrize("shape", [(3, 2), (2, 6, 4), (5, 1)])
def test_qr_complete_of_tall_complex_matrices(shape):
    # Q's last m − n columns are LAPACK's Householder completion, a smooth function of A:
    # values equal NumPy's, tangents its central differences, vjp the jvp's transpose
    rng = np.random.default_rng(5)
    draw = lambda: rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    a, t = draw(), draw()
    f = lambda x: np.linalg.qr(x, mode="complete")
    (q, r), (tq, tr) = ad.jvp(f, (a,), (t,))
    want_q, want_r = f(a)
    np.testing.assert_allclose(q, want_q, atol=1e-13)
    np.testing.assert_array_equal(r, want_r)
    eps = 1e-6
    for got, i in ((tq, 0), (tr, 1)):
        np.testing.assert_allclose(got, (f(a + eps * t)[i] - f(a - eps * t)[i]) / (2 * eps), atol=1e-7)
    u = rng.standard_normal(q.shape) + 1j * rng.standard_normal(q.shape)
    (ga,) = ad.vjp(lambda x: f(x)[0], a)[1](u)
    np.testing.assert_allclose(np.real(np.sum(ga * t)), np.real(np.sum(u * tq)), rtol=1e-10)
