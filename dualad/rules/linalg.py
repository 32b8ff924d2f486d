"""Matrix decompositions and triangular solves, each declared once with its derivative.

A :class:`Decomposition` is a primitive whose several outputs (``eigh``'s eigenvalues and
eigenvectors, ``svd``'s ``u``, ``s``, ``vh``) travel *packed* into one array: each output
flattened over its core axes and concatenated along the last axis.  The NumPy handlers
(:mod:`dualad.core.linalg_api`) unpack them with basic indexing, a linear op, so an output that
is not used receives a zero cotangent; the derivative formulas multiply by the divided
differences ``1/(λⱼ − λᵢ)`` with strong zeros, so an unused eigenvector costs nothing and stays
finite at repeated eigenvalues.

Each decomposition declares two formulas, both written with NumPy calls on values that may be
active at older nesting levels (so they are differentiated again when nested):

``tangent(x, full, t, **params)``
    The JVP: output tangents from the input tangent ``t`` (one leading lane axis).
``cotangent(x, full, cts, **params)``
    Its transpose: the input cotangent from output cotangents (one leading lane axis; None
    for outputs the primitive does not return).

``full`` holds every factor the formulas need, which may be more than the op returns
(``eigvalsh`` needs the eigenvectors).  Conventions are JAX's: the symmetric (Hermitian)
decompositions symmetrise the input tangent, ``(Ȧ + Ȧᴴ)/2``, and their cotangent likewise.
Formulas use the conjugate transpose ``_H``, the plain transpose on real values.
"""

from __future__ import annotations

import functools
import importlib.util
import math

import numpy as np

from .arith import unbroadcast
from .base import Primitive, dispatcher

__all__ = [
    "conj_transpose",
    "plain_transpose",
    "Decomposition",
    "TriangularSolve",
    "triangular_solve",
    "triangular_product",
    "common_batch",
    "Sylvester",
    "sylvester",
    "solve_sylvester",
    "MatrixSqrt",
    "sqrtm",
    "lu",
    "solve_triangular",
    "cholesky",
    "eigh",
    "eig",
    "svd",
    "qr",
    "PseudoInverse",
    "pinv",
]


def conj_transpose(x):
    """Conjugate transpose of the last two axes (the transpose for real values).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.rules.linalg import conj_transpose
    >>> conj_transpose(np.array([[1.0, 2.0]]))
    array([[1.],
           [2.]])
    """
    y = np.swapaxes(x, -1, -2)
    return np.conj(y) if np.dtype(y.dtype).kind == "c" else y


_H = conj_transpose


def _T(x):
    """The plain transpose of the last two axes: what a complex-linear map's transpose takes
    under JAX's convention (reverse mode does not conjugate; docs/complex.md)."""
    return np.swapaxes(x, -1, -2)


@functools.lru_cache(maxsize=64)
def _strict_mask(n: int, dtype: str, uplo: str):
    mask = (np.tril(np.ones((n, n)), -1) if uplo == "L" else np.triu(np.ones((n, n)), 1)).astype(dtype)
    mask.flags.writeable = False
    return mask


def _from_triangle(t, uplo: str):
    """The Hermitian matrix that the ``uplo`` triangle of ``t`` stands for, what LAPACK reads
    (the other triangle and the diagonal's imaginary part are ignored): the derivative of
    NumPy's ``eigh``/``eigvalsh``/``cholesky`` follows the triangle their value reads."""
    lo = t * _strict_mask(t.shape[-1], np.dtype(t.dtype).char, uplo)
    return lo + _H(lo) + _real(t) * _eye(t.shape[-1], _real(t).dtype)


def _to_triangle(g, uplo: str):
    """The adjoint of :func:`_from_triangle`: ``g + gᴴ`` on the strict triangle, ``Re g`` on
    the diagonal, zero on the triangle the value does not read."""
    both = (g + _H(g)) * _strict_mask(g.shape[-1], np.dtype(g.dtype).char, uplo)
    return both + _real(g) * _eye(g.shape[-1], _real(g).dtype)


def _half_to_triangle(c, uplo: str):
    """:func:`_to_triangle` of the Hermitian ``H`` whose lower triangle (diagonal included) one
    plain matrix ``c`` holds, as BLAS/LAPACK leave it (the other triangle is not read): ``2 H``
    on the strict triangle, ``Re H`` on the diagonal, in one product with ``tril(c)`` (no mirrored
    copy of ``H``)."""
    t = np.tril(c)
    t *= _twice_lower(t.shape[-1], t.dtype.char)
    if _is_complex(t):
        np.fill_diagonal(t, np.real(np.diagonal(t)))
    return t if uplo == "L" else np.ascontiguousarray(_H(t))


@functools.lru_cache(maxsize=64)
def _twice_lower(n: int, dtype: str):
    mask = 2.0 * _phi_mask(n, dtype)  # 2 on the strict lower triangle, 1 on the diagonal
    mask.flags.writeable = False
    return mask


def _column_dots(a, b):
    """``diag(aᴴ b)``: the inner products of matching columns, without the whole product."""
    return np.sum((np.conj(a) if np.dtype(a.dtype).kind == "c" else a) * b, axis=-2)


def _eye(n: int, dtype):
    return np.eye(n, dtype=dtype)


def _diag_matrix(d):
    """The diagonal matrices with the vectors ``d`` (last axis) on their diagonals."""
    return d[..., :, None] * _eye(d.shape[-1], d.dtype)


def _gap_inverse(w):
    """``F[..., i, j] = 1 / (w_j − w_i)`` off the diagonal, 0 on it (inf where w repeats)."""
    n = w.shape[-1]
    eye = _eye(n, w.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 / (w[..., None, :] - w[..., :, None] + eye) - eye


def _divided(f, m):
    """``F ∘ M``, a plain product: where eigenvalues (singular values) repeat, ``F`` is inf and
    the result inf or NaN, as in JAX — never a finite number the derivative does not have."""
    with np.errstate(invalid="ignore", over="ignore"):
        return f * m


def _unused(ct) -> bool:
    """Whether an output's cotangent is absent or exactly zero (the output was not used):
    its term is skipped, so unused eigenvectors cost nothing and stay finite when repeated."""
    if ct is None:
        return True
    plain = dispatcher().strip(ct)
    return type(plain) is np.ndarray and not plain.any()


def _is_complex(x) -> bool:
    return np.dtype(x.dtype).kind == "c"


def _conj(x):
    return np.conj(x) if _is_complex(x) else x


def _real(x):
    return np.real(x) if _is_complex(x) else x


def plain_transpose(x, adjoint):
    """JAX's cotangent of the input ``x`` from ``adjoint``, the Hermitian adjoint of the JVP
    (for the inner product ``Re Σ conj(u)·v``) applied to the *conjugated* output cotangents:
    JAX's transpose is ``conj ∘ adjoint ∘ conj`` (no conjugate overall, docs/complex.md), and
    a real input keeps the real part.  The formulas below are written as Hermitian adjoints,
    which on real values are the plain transposes.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.rules.linalg import plain_transpose
    >>> plain_transpose(np.zeros(1), np.array([1.0 - 2.0j]))
    array([1.])
    """
    if not _is_complex(adjoint):
        return adjoint
    return np.real(adjoint) if not _is_complex(x) else np.conj(adjoint)


# --------------------------------------------------------------------------------------------
# Triangular solve


class TriangularSolve(Primitive):
    """``x = A⁻¹ b`` for triangular ``A`` (its other triangle is ignored), ``b`` of shape
    ``(..., n, k)`` with the same batch axes as ``A``.

    ``ẋ = A⁻¹(ḃ − tri(Ȧ) x)``; ``b̄ = A⁻ᴴ x̄``, ``Ā = −tri(b̄ xᴴ)``.  Callers go through
    :func:`triangular_solve`, which broadcasts the batch axes (lanes included) explicitly.
    """

    def __init__(self):
        super().__init__("triangular_solve")

    def impl(self, a, b, *, lower):
        if a.size == 0 or b.size == 0:  # (SciPy refuses zero-size batches)
            return np.zeros(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + tuple(b.shape[-2:]), np.result_type(a, b))
        if type(a) is not np.ndarray or type(b) is not np.ndarray:  # device arrays
            return np.linalg.solve(np.tril(a) if lower else np.triu(a), b)
        return _side_by_side(lambda m, r: _blas_triangular("trsm", m, r, lower), _one_matrix(a), b)

    def jvp(self, primals, tangents, params):
        a, b = primals
        ta, tb = tangents
        lower = params["lower"]
        x = self.bind(a, b, **params)
        rhs = tb
        if ta is not None:
            ax = np.matmul(np.tril(ta) if lower else np.triu(ta), x)
            rhs = -ax if rhs is None else rhs - ax
        return x, triangular_solve(a, rhs, lower=lower)

    def forward(self, primals, params):
        a, b = primals
        x = self.bind(a, b, **params)
        return x, (a, x, tuple(a.shape), tuple(b.shape))

    def backward(self, res, ct, params, needed):
        a, x, a_shape, b_shape = res
        lower = params["lower"]
        bbar = triangular_solve(_T(a), ct, lower=not lower)
        abar = None
        if needed[0]:
            outer = -np.matmul(bbar, _T(x))
            abar = unbroadcast(np.tril(outer) if lower else np.triu(outer), a_shape, 1)
        return abar, (unbroadcast(bbar, b_shape, 1) if needed[1] else None)


def _one_matrix(a):
    """A stack that is one matrix broadcast over its batch axes (lanes): that matrix."""
    lead = a.shape[:-2]
    return a[(0,) * len(lead)] if lead and a.size and not any(a.strides[:-2]) else a


def _side_by_side(fn, a, b):
    """``fn(a, b)`` with every right-hand side of the stack ``b`` side by side in one block,
    when ``a`` is one matrix: one BLAS call for all lanes."""
    if a.ndim == 2 and b.ndim > 2:
        n, m = b.shape[-2:]
        x = fn(a, np.moveaxis(b, -2, 0).reshape(n, math.prod(b.shape[:-2]) * m))  # (n may be 0)
        return np.moveaxis(x.reshape((n,) + tuple(b.shape[:-2]) + (m,)), 0, -2)
    return fn(a, b)


def _blas_triangular(kind: str, a, b, lower: bool):
    """``tri(A)⁻¹ b`` (``kind="trsm"``) or ``tri(A) b`` (``"trmm"``) on NumPy arrays: one
    matrix and one block of right-hand sides go to BLAS directly, as ``bᵀ A⁻ᵀ`` (``bᵀ A``ᵀ)
    with ``b`` C-ordered (OpenBLAS's right-side solve is the faster), a C-ordered ``A`` as its
    transpose, without copying either; stacks go to SciPy's solver or ``matmul``."""
    from scipy.linalg import solve_triangular as _scipy_solve  # SciPy only once used
    from scipy.linalg.blas import get_blas_funcs

    if a.ndim != 2 or b.ndim != 2 or not b.size or np.result_type(a, b).char not in "fdFD":
        if kind == "trmm":
            return np.matmul(np.tril(a) if lower else np.triu(a), b)
        return _scipy_solve(a, b, lower=lower, check_finite=False)
    if kind == "trsm":
        zero = np.flatnonzero(np.diagonal(a) == 0)
        if zero.size:
            raise np.linalg.LinAlgError(f"singular matrix: resolution failed at diagonal {zero[0]}")
    routine = get_blas_funcs(kind, (a, b))
    m, flip = (a, False) if a.flags.f_contiguous else (a.T, True)  # m is A, or Aᵀ when flip
    b = np.ascontiguousarray(b)  # Xᵀ = bᵀ op(A)ᵀ with bᵀ Fortran-ordered: BLAS's faster right side
    return routine(1.0, m, b.T, side=1, lower=lower != flip, trans_a=0 if flip else 1).T


def triangular_product(a, b, *, lower: bool):
    """``tri(A) b``: BLAS's triangular product on NumPy arrays, ``matmul`` on active ones.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.rules.linalg import triangular_product
    >>> triangular_product(np.ones((2, 2)), np.ones((2, 1)), lower=True)
    array([[1.],
           [2.]])
    """
    if type(a) is np.ndarray and type(b) is np.ndarray:
        return _side_by_side(lambda m, r: _blas_triangular("trmm", m, r, lower), _one_matrix(a), b)
    return np.matmul(np.tril(a) if lower else np.triu(a), b)


solve_triangular = TriangularSolve()


def common_batch(*mats):
    """Stacks of matrices broadcast explicitly to one batch shape (lanes in front of any of
    them then line up at every nesting level; the broadcast transposes to a sum).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.rules.linalg import common_batch
    >>> [m.shape for m in common_batch(np.ones((2, 3, 3)), np.ones((3, 1)))]
    [(2, 3, 3), (2, 3, 1)]
    """
    batch = np.broadcast_shapes(*(tuple(m.shape[:-2]) for m in mats))
    return [m if tuple(m.shape[:-2]) == batch else np.broadcast_to(m, batch + tuple(m.shape[-2:])) for m in mats]


def triangular_solve(a, b, *, lower: bool):
    """``A⁻¹ b`` for triangular ``A``, the batch axes of both broadcast explicitly first.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.rules.linalg import triangular_solve
    >>> triangular_solve(np.array([[2.0, 0.0], [1.0, 1.0]]), np.array([[2.0], [3.0]]), lower=True)
    array([[1.],
           [2.]])
    """
    return solve_triangular.bind(*common_batch(a, b), lower=lower)


# --------------------------------------------------------------------------------------------
# Decompositions with packed outputs


class Decomposition(Primitive):
    """A decomposition of the matrices in ``x`` (``(..., m, n)``), its outputs packed.

    Parameters
    ----------
    name : str
        The primitive's name.
    compute : callable
        ``compute(x, **params) -> tuple`` of outputs on plain arrays (NumPy's function).
    cores : callable
        ``cores(m, n, **params) -> list`` of each output's core shape (the axes after the
        batch axes).
    tangent, cotangent : callable
        The JVP and its transpose (see the module docstring).
    full : callable, optional
        ``full(x, **params) -> tuple``: the factors the formulas need, as values of ``x``'s
        level, when they are more than the outputs (default: the outputs themselves).
    check : callable, optional
        ``check(x, **params)`` raises where the derivative is refused.
    """

    def __init__(self, name, compute, cores, tangent, cotangent, full=None, select=None, check=None):
        super().__init__(name)
        self.compute, self.cores = compute, cores
        self.tangent, self.cotangent = tangent, cotangent
        self._full, self._select, self._check = full, select, check

    def impl(self, x, **params):
        return self.pack(self.compute(x, **params), params)

    def pack(self, outs, params: dict):
        """One array from the outputs: each flattened over its core axes, concatenated."""
        if len(outs) == 1:
            return outs[0]
        ncore = [len(c) for c in self.cores(1, 1, **params)]
        return np.concatenate([np.reshape(o, tuple(o.shape[:len(o.shape) - k]) + (math.prod(o.shape[len(o.shape) - k:]),))
                               for o, k in zip(outs, ncore)], axis=-1)

    def unpack(self, y, m: int, n: int, params: dict) -> tuple:
        """The outputs from the packed ``y`` (any leading axes), as views or linear ops.

        Examples
        --------
        >>> import numpy as np
        >>> from dualad.rules.linalg import eigh
        >>> a = np.array([[2.0, 1.0], [1.0, 2.0]])
        >>> w, v = eigh.unpack(eigh.bind(a, uplo="L", vectors=True), 2, 2, {"uplo": "L", "vectors": True})
        >>> w
        array([1., 3.])
        """
        cores = self.cores(m, n, **params)
        if len(cores) == 1:
            return (y,)
        lead = tuple(y.shape[:-1])
        outs, start = [], 0
        for core in cores:
            size = int(np.prod(core, dtype=np.int64))
            outs.append(np.reshape(y[..., start:start + size], lead + tuple(core)))
            start += size
        return tuple(outs)

    def outputs(self, x, params: dict) -> tuple:
        """The decomposition's outputs at ``x``: NumPy's own arrays for a host array (no packing),
        else the bound op unpacked (an active value's level then differentiates it).

        Examples
        --------
        >>> import numpy as np
        >>> from dualad.rules.linalg import eigh
        >>> w, v = eigh.outputs(np.array([[2.0, 1.0], [1.0, 2.0]]), {"uplo": "L", "vectors": True})
        >>> w
        array([1., 3.])
        """
        if type(x) is np.ndarray:
            return tuple(self.compute(x, **params))
        m, n = x.shape[-2:]
        return self.unpack(self.bind(x, **params), m, n, params)

    def _factors(self, x, params):
        """``(y, full)``: the op's packed value and the factors the formulas read."""
        if self._check is not None:
            self._check(x, **params)
        m, n = x.shape[-2:]
        if self._full is None:
            y = self.bind(x, **params)
            return y, self.unpack(y, m, n, params)
        full = self._full(x, **params)
        return self.pack(self.select(full, params), params), full

    def select(self, full, params):
        """The op's outputs among ``full`` (all of them by default)."""
        return full if self._select is None else self._select(full, **params)

    def jvp(self, primals, tangents, params):
        (x,), (t,) = primals, tangents
        y, full = self._factors(x, params)
        return y, self.pack(self.tangent(x, full, t, **params), params)

    def forward(self, primals, params):
        (x,) = primals
        y, full = self._factors(x, params)
        return y, (x, full)

    def backward(self, res, ct, params, needed):
        x, full = res
        m, n = x.shape[-2:]
        cts = self.unpack(_conj(ct), m, n, params)
        return (plain_transpose(x, self.cotangent(x, full, cts, **params)),)



# --------------------------------------------------------------------------------------------
# Cholesky: A = L Lᴴ


def _phi(m):
    """The lower triangle of ``m`` with its diagonal halved (self-adjoint, elementwise)."""
    return m * _phi_mask(m.shape[-1], np.dtype(m.dtype).char)


@functools.lru_cache(maxsize=64)
def _phi_mask(n: int, dtype: str):
    mask = (np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)).astype(dtype)
    mask.flags.writeable = False
    return mask


def _cholesky_tangent(x, full, t):
    """``L̇ = L Φ(L⁻¹ sym(Ȧ) L⁻ᴴ)``."""
    (lo,) = full
    s = _from_triangle(t, "L")
    m = triangular_solve(lo, _H(triangular_solve(lo, s, lower=True)), lower=True)
    return (np.matmul(lo, _phi(m)),)


def _cholesky_cotangent(x, full, cts):
    """``Ā = tri(L⁻ᴴ Φ(Lᴴ L̄) L⁻¹)``, ``tri`` the adjoint of reading the lower triangle."""
    (lo,), (lbar,) = full, cts
    lh = _H(lo)
    if _lapack_ready(lo, lbar, 2):
        return _stack_lanes([_cholesky_lane(lo, lh, lb) for lb in lbar])
    p = _phi(triangular_product(lh, lbar, lower=False))
    return _to_triangle(_H(triangular_solve(lh, _H(triangular_solve(lh, p, lower=False)), lower=False)), "L")


def _cholesky_lane(lo, lh, lb):
    """One lane of the adjoint on host arrays, ``tri(L⁻ᴴ S L⁻¹)`` with ``S = sym(Φ(Lᴴ L̄))``.  A
    diagonal ``L̄`` (a loss on the diagonal only, as logdet) makes ``S = diag(s)``; with ``s ≥ 0``
    that is ``Nᴴ N`` for ``N = √S L⁻¹`` (LAPACK's ``trtri`` and ``lauum``, as ``potri`` forms
    ``A⁻¹``).  Otherwise ``Lᴴ L̄`` (the diagonal case: ``Lᴴ``'s columns scaled) and ``sygst``."""
    d = np.diagonal(lb)
    if np.count_nonzero(lb) == np.count_nonzero(d):
        s = 0.5 * np.real(np.conj(np.diagonal(lo)) * d)
        if np.all(s >= 0):
            return _inverse_gram(lo, np.sqrt(s))
        x = lh * d
    else:
        x = triangular_product(lh, lb, lower=False)
    return _to_triangle(_inverse_congruence(lo, 0.5 * _H(x)), "L")


def _inverse_gram(lo, r):
    """``tri(Nᴴ N)`` (:func:`_to_triangle`, lower) for ``N = diag(r) L⁻¹``: the inverse by
    ``trtri``, its rows scaled, then ``lauum``."""
    from scipy.linalg.lapack import get_lapack_funcs

    trtri, lauum = get_lapack_funcs(("trtri", "lauum"), (lo,))
    m, info = trtri(lo, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"{trtri.__name__} failed (info = {info})")
    m *= r[:, None]
    p, _ = lauum(m, lower=1, overwrite_c=1)
    return _half_to_triangle(p, "L")


def _lapack_ready(mat, ct, core: int) -> bool:
    """Whether BLAS/LAPACK can take a formula on one plain matrix ``mat`` (no batch axes) and
    plain lanes ``ct`` (one lane axis before ``core`` axes), both of ``mat``'s dtype, a LAPACK
    one, with SciPy installed (it is optional: without it, the NumPy formulas)."""
    if type(mat) is not np.ndarray or type(ct) is not np.ndarray or mat.ndim != 2 or ct.ndim != core + 1:
        return False
    if mat.dtype.char not in "fdFD" or np.result_type(mat, ct) != mat.dtype:
        return False
    return _have_scipy()


@functools.cache
def _have_scipy() -> bool:
    # asked once, not at every backward step; find_spec imports nothing (import dualad stays
    # free of SciPy)
    return importlib.util.find_spec("scipy") is not None


def _inverse_congruence(lo, s_upper):
    """``L⁻ᴴ S L⁻¹`` for the Hermitian ``S`` whose *upper* triangle ``s_upper`` holds (its other
    triangle is not read), by LAPACK's ``sygst``/``hegst`` (half the work of two triangular
    solves).  ``sygst`` forms ``M⁻¹ S M⁻ᴴ`` for a lower-triangular ``M``: with the reversal ``J``
    of rows and columns, ``L⁻ᴴ S L⁻¹ = J (M⁻¹ (J S J) M⁻ᴴ) J`` for ``M = J Lᴴ J``, and the lower
    triangle of ``J S J`` is ``S``'s upper one."""
    from scipy.linalg.lapack import get_lapack_funcs

    complex_ = np.dtype(lo.dtype).kind == "c"
    m = np.asfortranarray(_H(lo)[::-1, ::-1])
    a = np.asfortranarray(s_upper[::-1, ::-1])
    if complex_:
        np.fill_diagonal(a, np.real(np.diagonal(a)))
    routine = get_lapack_funcs("hegst" if complex_ else "sygst", (m,))
    r, info = routine(a, m, itype=1, lower=1, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"{routine.__name__} failed (info = {info})")
    # J H J for the Hermitian H whose lower triangle r holds: the strict upper triangle of r reversed
    return _hermitian_copy(r[::-1, ::-1], _phi_mask(r.shape[-1], "d").T > 0.75)


def _stack_lanes(lanes: list):
    """The lanes' results as one array (one lane: a view, no copy)."""
    return lanes[0][None] if len(lanes) == 1 else np.stack(lanes)


def _scaled_gram(v, d, uplo: str):
    """``tri(V diag(d) Vᴴ)`` (:func:`_to_triangle`) for real ``d``: ``A₊ A₊ᴴ − A₋ A₋ᴴ`` with
    ``A± = V[:, ±d > 0] √|d|``, BLAS's ``syrk``/``herk`` (half the work of a general product;
    columns with ``d = 0`` dropped), its half result taken to the triangle directly."""
    from scipy.linalg.blas import get_blas_funcs

    if not np.all(np.isfinite(d)):  # (NaN has no sign: the general product carries it)
        return _to_triangle(np.matmul(v * d, _H(v)), uplo)
    real = np.dtype(v.dtype).kind != "c"
    rank_k = get_blas_funcs("syrk" if real else "herk", (v,))
    c = None
    for sign, cols in ((1.0, d > 0), (-1.0, d < 0)):
        if not cols.any():
            continue
        a = v * np.sqrt(np.abs(d)) if cols.all() else v[:, cols] * np.sqrt(np.abs(d[cols]))
        a, trans = (a.T, 1) if real else (np.asfortranarray(a), 0)  # (A Aᵀ as (Aᵀ)ᵀ Aᵀ: no copy)
        c = rank_k(sign, a, trans=trans, lower=1) if c is None else rank_k(sign, a, beta=1.0, c=c, trans=trans, lower=1, overwrite_c=1)
    if c is None:
        return np.zeros(v.shape[:1] * 2, dtype=v.dtype)
    return _half_to_triangle(c, uplo)


def _hermitian_copy(tri, keep):
    """The Hermitian matrix, C-ordered, that agrees with ``tri`` where ``keep`` (a triangle) is
    set: a copy of ``triᴴ`` with ``tri`` copied over it there."""
    out = np.ascontiguousarray(_H(tri))
    np.copyto(out, tri, where=keep)
    return out


cholesky = Decomposition(
    "cholesky",
    lambda x: (np.linalg.cholesky(x),),
    lambda m, n: [(n, n)],
    _cholesky_tangent,
    _cholesky_cotangent,
)


# --------------------------------------------------------------------------------------------
# Symmetric eigendecomposition: A = V diag(w) Vᴴ


def _eigh_compute(x, *, uplo, vectors):
    if vectors:
        w, v = np.linalg.eigh(x, UPLO=uplo)
        return (w, v)
    return (np.linalg.eigvalsh(x, UPLO=uplo),)


def _eigh_full(x, *, uplo, vectors):
    w, v = eigh.outputs(x, {"uplo": uplo, "vectors": True})
    return np.real(w), v  # real eigenvalues (packed with complex eigenvectors, they are complex)


def _eigh_tangent(x, full, t, *, uplo, vectors):
    """``M = Vᴴ sym(Ȧ) V``: ``ẇ = diag(M)``, ``V̇ = V (F ∘ M)`` with ``F = 1/(w_j − w_i)``."""
    w, v = full
    sv = np.matmul(_from_triangle(t, uplo), v)
    if not vectors:  # diag(Vᴴ S V) without the product
        return (_real(_column_dots(v, sv)),)
    m = np.matmul(_H(v), sv)
    return (_real(np.diagonal(m, axis1=-2, axis2=-1)), np.matmul(v, _divided(_gap_inverse(w), m)))


def _eigh_cotangent(x, full, cts, *, uplo, vectors):
    """``Ā = tri(V (diag(w̄) + F ∘ (Vᴴ V̄)) Vᴴ)``, ``tri`` the adjoint of reading the triangle."""
    w, v = full
    wbar = _real(cts[0])
    if not vectors or _unused(cts[1]):  # V diag(w̄) Vᴴ in one product
        if _lapack_ready(v, wbar, 1):
            return _stack_lanes([_scaled_gram(v, d, uplo) for d in wbar])
        return _to_triangle(np.matmul(v * wbar[..., None, :], _H(v)), uplo)
    inner = wbar[..., :, None] * _eye(w.shape[-1], wbar.dtype)
    inner = inner + _divided(_gap_inverse(w), np.matmul(_H(v), cts[1]))
    return _to_triangle(np.matmul(v, np.matmul(inner, _H(v))), uplo)


eigh = Decomposition(
    "eigh",
    _eigh_compute,
    lambda m, n, *, uplo, vectors: [(n,), (n, n)] if vectors else [(n,)],
    _eigh_tangent,
    _eigh_cotangent,
    full=_eigh_full,
    select=lambda full, *, uplo, vectors: full if vectors else full[:1],
)


# --------------------------------------------------------------------------------------------
# General eigendecomposition: A V = V diag(w), each column of V of unit norm with its largest
# component real (LAPACK's geev, NumPy's and JAX's normalisation)


def _eig_compute(x, *, vectors):
    if vectors:
        w, v = np.linalg.eig(x)
        return (w, v)
    return (np.linalg.eigvals(x),)


def _eig_full(x, *, vectors):
    return eig.outputs(x, {"vectors": True})


def _largest(v):
    """A plain 0/1 mask of each column's largest-magnitude component, which LAPACK makes real
    (the first of equal ones, as JAX's ``argmax``)."""
    plain = np.abs(dispatcher().strip(v))
    if plain.shape[-2] == 0:  # 0×0 matrices: no components
        return plain
    k = np.argmax(plain, axis=-2)
    return (np.arange(plain.shape[-2])[:, None] == k[..., None, :]).astype(plain.dtype)


def _eig_tangent(x, full, t, *, vectors):
    """``P = V⁻¹ Ȧ V``: ``ẇ = diag(P)``; ``V̇ = U + V diag(c)`` with ``U = V (F ∘ P)`` and
    ``c_j = −Re(v_jᴴ u_j) − i Im(u_kj) / Re(v_kj)`` (``k`` the largest component), which keeps
    each column's norm and its largest component's phase (JAX's ``_eig_vec_jvp``)."""
    w, v = full
    vinv_t = np.linalg.solve(v, t)
    if not vectors:  # diag(V⁻¹ Ȧ V) without the product
        return (np.sum(vinv_t * _T(v), axis=-1),)
    p = np.matmul(vinv_t, v)
    u = np.matmul(v, _divided(_gap_inverse(w), p))
    c = -_real(_column_dots(v, u))
    if _is_complex(v):
        mask = _largest(v)
        c = c - 1j * np.imag(np.sum(mask * u, axis=-2)) / np.real(np.sum(mask * v, axis=-2))
    return (np.diagonal(p, axis1=-2, axis2=-1), u + v * c[..., None, :])


def _eig_cotangent(x, full, cts, *, vectors):
    """The Hermitian adjoint: ``h = diag(Vᴴ V̄)``, ``Ū = V̄ − V diag(Re h) − i E_k diag(Im h / Re v_k)``,
    ``Ā = V⁻ᴴ (diag(w̄) + conj(F) ∘ (Vᴴ Ū)) Vᴴ``."""
    w, v = full
    inner = _diag_matrix(cts[0])
    if vectors and not _unused(cts[1]):
        vbar = cts[1]
        h = _column_dots(v, vbar)
        ubar = vbar - v * _real(h)[..., None, :]
        if _is_complex(v):
            mask = _largest(v)
            ubar = ubar - 1j * mask * (np.imag(h) / np.real(np.sum(mask * v, axis=-2)))[..., None, :]
        inner = inner + _divided(_conj(_gap_inverse(w)), np.matmul(_H(v), ubar))
    vh = _H(v)
    return np.linalg.solve(vh, np.matmul(inner, vh))


eig = Decomposition(
    "eig",
    _eig_compute,
    lambda m, n, *, vectors: [(n,), (n, n)] if vectors else [(n,)],
    _eig_tangent,
    _eig_cotangent,
    full=_eig_full,
    select=lambda full, *, vectors: full if vectors else full[:1],
)


# --------------------------------------------------------------------------------------------
# Singular value decomposition: A = U diag(s) Vᴴ (reduced: k = min(m, n) columns)


def _svd_compute(x, *, full_matrices, compute_uv):
    if compute_uv:
        u, s, vh = np.linalg.svd(x, full_matrices=full_matrices, compute_uv=True)
        return (u, s, vh)
    return (np.linalg.svd(x, compute_uv=False),)


def _svd_cores(m, n, *, full_matrices, compute_uv):
    k = min(m, n)
    if not compute_uv:
        return [(k,)]
    if full_matrices:
        return [(m, m), (k,), (n, n)]
    return [(m, k), (k,), (k, n)]


def _svd_check(x, *, full_matrices, compute_uv):
    m, n = x.shape[-2:]
    if compute_uv and full_matrices and m != n:
        raise NotImplementedError(
            f"the derivative of svd(full_matrices=True) on a non-square {m}×{n} matrix is not defined "
            "for the extra singular vectors (JAX refuses it too); use full_matrices=False"
        )


def _svd_full(x, *, full_matrices, compute_uv):
    u, s, vh = svd.outputs(x, {"full_matrices": False, "compute_uv": True})
    return u, np.real(s), vh


def _inverse(s):
    with np.errstate(divide="ignore"):
        return 1.0 / s


def _phase_rate(d, s):
    """``i Im(d) / s``, 0 where ``s`` is 0 (as JAX): the rotation of a complex singular pair's
    phase, put on ``U``.  Its own adjoint for the real inner product."""
    zero = dispatcher().strip(s) == 0
    return 1j * np.imag(d) * np.where(zero, 0.0, 1.0 / np.where(zero, 1.0, s))


def _svd_tangent(x, full, t, *, full_matrices, compute_uv):
    """``dP = Uᴴ Ȧ V``: ``ṡ = diag(dP)``, ``U̇ = U (F ∘ (dP S + S dPᴴ)) + (I − UUᴴ) Ȧ V S⁻¹``,
    ``V̇ = V (F ∘ (S dP + dPᴴ S)) + (I − VVᴴ) Ȧᴴ U S⁻¹`` with ``F = 1/(s_j² − s_i²)``."""
    u, s, vh = full
    v = _H(vh)
    tv = np.matmul(t, v)
    if not compute_uv:  # diag(Uᴴ Ȧ V) without the product
        return (_real(_column_dots(u, tv)),)
    dp = np.matmul(_H(u), tv)
    sdot = _real(np.diagonal(dp, axis1=-2, axis2=-1))
    f = _gap_inverse(s * s)
    dps = dp * s[..., None, :]
    sdp = s[..., :, None] * dp
    du = np.matmul(u, _divided(f, dps + _H(dps)))
    if _is_complex(dp):  # the phase of each pair of singular vectors moves with U (JAX's choice)
        du = du + u * _phase_rate(np.diagonal(dp, axis1=-2, axis2=-1), s)[..., None, :]
    dv = np.matmul(v, _divided(f, sdp + _H(sdp)))
    m, n = x.shape[-2:]
    inv = _inverse(s)[..., None, :]
    if m > n:
        du = du + _divided(tv - np.matmul(u, dp), inv)
    if n > m:
        dv = dv + _divided(np.matmul(_H(t), u) - np.matmul(v, _H(dp)), inv)
    return (du, sdot, _H(dv))


def _svd_cotangent(x, full, cts, *, full_matrices, compute_uv):
    """The transpose of :func:`_svd_tangent`: ``Ā = U dP̄ Vᴴ`` plus the terms of the
    complements, ``dP̄ = diag(s̄) + (G + Gᴴ) S + S (H + Hᴴ)``, ``G = F ∘ (Uᴴ Ū)``,
    ``H = F ∘ (Vᴴ V̄)``."""
    u, s, vh = full
    sbar = _real(cts[0] if not compute_uv else cts[1])
    if not compute_uv:  # U diag(s̄) Vᴴ in one product
        return np.matmul(u * sbar[..., None, :], vh)
    dpbar = sbar[..., :, None] * _eye(s.shape[-1], sbar.dtype)
    v = _H(vh)
    f = _gap_inverse(s * s)
    inv = _inverse(s)[..., None, :]
    m, n = x.shape[-2:]
    if not _unused(cts[0]):
        ubar = cts[0]
        uhubar = np.matmul(_H(u), ubar)
        g = _divided(f, uhubar)
        dpbar = dpbar + (g + _H(g)) * s[..., None, :]
        if _is_complex(uhubar):
            dpbar = dpbar + _diag_matrix(_phase_rate(np.diagonal(uhubar, axis1=-2, axis2=-1), s))
        if m > n:
            abar_u = np.matmul(_divided(ubar - np.matmul(u, np.matmul(_H(u), ubar)), inv), vh)
    if not _unused(cts[2]):
        vbar = _H(cts[2])
        h = _divided(f, np.matmul(vh, vbar))
        dpbar = dpbar + s[..., :, None] * (h + _H(h))
        if n > m:
            abar_v = np.matmul(_divided(u, inv), _H(vbar - np.matmul(v, np.matmul(vh, vbar))))
    abar = np.matmul(u, np.matmul(dpbar, vh))
    if m > n and not _unused(cts[0]):
        abar = abar + abar_u
    if n > m and not _unused(cts[2]):
        abar = abar + abar_v
    return abar


svd = Decomposition(
    "svd",
    _svd_compute,
    _svd_cores,
    _svd_tangent,
    _svd_cotangent,
    full=_svd_full,
    select=lambda full, *, full_matrices, compute_uv: full if compute_uv else full[1:2],
    check=_svd_check,
)


# --------------------------------------------------------------------------------------------
# QR: A = Q R (reduced, m ≥ n)


def _qr_compute(x, *, mode):
    if mode == "r":
        return (np.linalg.qr(x, mode="r"),)
    q, r = np.linalg.qr(x, mode=mode)
    return (q, r)


def _qr_cores(m, n, *, mode):
    k = min(m, n)
    if mode == "r":
        return [(k, n)]
    return [(m, m), (m, n)] if mode == "complete" else [(m, k), (k, n)]


def _qr_check(x, *, mode):
    m, n = x.shape[-2:]
    if m < n or (mode == "complete" and m != n):
        raise NotImplementedError(
            f"the derivative of qr(mode={mode!r}) on a {m}×{n} matrix is not defined "
            "(JAX refuses it too): it needs m ≥ n and, for mode='complete', a square matrix"
        )


def _qr_full(x, *, mode):
    return qr.outputs(x, {"mode": "reduced"})


def _qr_tangent(x, full, t, *, mode):
    """``B = Ȧ R⁻¹``, ``C = Qᴴ B``, ``Ω = tril(C, −1) − tril(C, −1)ᴴ``:
    ``Q̇ = Q (Ω − C) + B``, ``Ṙ = (C − Ω) R``."""
    q, r = full
    b = _H(triangular_solve(_H(r), _H(t), lower=True))
    c = np.matmul(_H(q), b)
    low = np.tril(c, -1)
    omega = low - _H(low)
    if _is_complex(c):  # keeps R's diagonal real, as LAPACK's (JAX's correction)
        omega = omega + _diag_matrix(1j * np.imag(np.diagonal(c, axis1=-2, axis2=-1)))
    rdot = np.matmul(c - omega, r)
    if mode == "r":
        return (rdot,)
    return (np.matmul(q, omega - c) + b, rdot)


def _qr_cotangent(x, full, cts, *, mode):
    """The transpose: ``M = R̄ Rᴴ − Qᴴ Q̄``, ``C̄ = M − tril(M − Mᴴ, −1)``,
    ``Ā = (Q̄ + Q C̄) R⁻ᴴ``."""
    q, r = full
    qbar, rbar = (None, cts[0]) if mode == "r" else cts
    mm = np.matmul(rbar, _H(r))
    if qbar is not None:
        mm = mm - np.matmul(_H(q), qbar)
    cbar = mm - np.tril(mm - _H(mm), -1)
    if _is_complex(mm):
        cbar = cbar - _diag_matrix(1j * np.imag(np.diagonal(mm, axis1=-2, axis2=-1)))
    bbar = np.matmul(q, cbar)
    if qbar is not None:
        bbar = bbar + qbar
    return _H(triangular_solve(r, _H(bbar), lower=False))


qr = Decomposition(
    "qr",
    _qr_compute,
    _qr_cores,
    _qr_tangent,
    _qr_cotangent,
    full=_qr_full,
    select=lambda full, *, mode: full[1:] if mode == "r" else full,
    check=_qr_check,
)


# --------------------------------------------------------------------------------------------
# Pseudo-inverse: its own derivative, smooth where the rank is locally constant


class PseudoInverse(Primitive):
    """``P = A⁺`` with singular values below ``rcond · s_max`` cut (``rcond`` per matrix).

    ``Ṗ = −P Ȧ P + P Pᴴ Ȧᴴ (I − A P) + (I − P A) Ȧᴴ Pᴴ P`` (Golub and Pereyra), valid where
    the rank does not change; its transpose
    ``Ā = −Pᴴ P̄ Pᴴ + (I − A P) P̄ᴴ P Pᴴ + Pᴴ P P̄ᴴ (I − P A)``.
    """

    def __init__(self):
        super().__init__("pinv")

    def impl(self, a, *, rcond):
        return np.linalg.pinv(a, rcond=rcond)

    def jvp(self, primals, tangents, params):
        (a,), (t,) = primals, tangents
        p = self.bind(a, **params)
        th = _H(t)
        kk, ll = _complements(a, p)
        dp = -np.matmul(p, np.matmul(t, p))
        dp = dp + np.matmul(np.matmul(p, _H(p)), np.matmul(th, kk)) + np.matmul(ll, np.matmul(th, np.matmul(_H(p), p)))
        return p, dp

    def forward(self, primals, params):
        (a,) = primals
        p = self.bind(a, **params)
        return p, (a, p)

    def backward(self, res, ct, params, needed):
        a, p = res
        ct = _conj(ct)
        ph, cth = _H(p), _H(ct)
        kk, ll = _complements(a, p)
        abar = -np.matmul(ph, np.matmul(ct, ph))
        abar = abar + np.matmul(kk, np.matmul(cth, np.matmul(p, ph))) + np.matmul(np.matmul(ph, p), np.matmul(cth, ll))
        return (plain_transpose(a, abar),)


def _complements(a, p):
    """``I − A P`` (m × m) and ``I − P A`` (n × n)."""
    m, n = a.shape[-2:]
    return _eye(m, p.dtype) - np.matmul(a, p), _eye(n, p.dtype) - np.matmul(p, a)


pinv = PseudoInverse()


# --------------------------------------------------------------------------------------------
# Sylvester equations and the matrix square root


def _per_matrix(fn, *mats):
    """``fn`` applied matrix by matrix over the common batch axes of plain stacks."""
    mats = np.broadcast_arrays(*mats) if len({m.shape[:-2] for m in mats}) > 1 else mats
    batch = mats[0].shape[:-2]
    if not batch:
        return fn(*mats)
    outs = [fn(*(m[idx] for m in mats)) for idx in np.ndindex(batch)]
    return np.stack(outs).reshape(batch + outs[0].shape)


class Sylvester(Primitive):
    """``X`` solving ``A X + X B = Q``.

    ``Ẋ = syl(A, B, Q̇ − Ȧ X − X Ḃ)``; the operator's adjoint is ``Z ↦ Aᴴ Z + Z Bᴴ``, so
    ``Q̄ = syl(Aᴴ, Bᴴ, X̄)``, ``Ā = −Q̄ Xᴴ``, ``B̄ = −Xᴴ Q̄``.
    """

    def __init__(self):
        super().__init__("solve_sylvester")

    def impl(self, a, b, q):
        from scipy.linalg import solve_sylvester as _scipy_sylvester

        return _per_matrix(_scipy_sylvester, a, b, q)

    def jvp(self, primals, tangents, params):
        a, b, q = primals
        ta, tb, tq = tangents
        x = self.bind(a, b, q)
        rhs = tq
        for term in (None if ta is None else np.matmul(ta, x), None if tb is None else np.matmul(x, tb)):
            if term is not None:
                rhs = -term if rhs is None else rhs - term
        return x, sylvester(a, b, rhs)

    def forward(self, primals, params):
        a, b, q = primals
        x = self.bind(a, b, q)
        return x, (a, b, x, [tuple(m.shape) for m in primals])

    def backward(self, res, ct, params, needed):
        a, b, x, shapes = res
        qbar = sylvester(_T(a), _T(b), ct)
        abar = unbroadcast(-np.matmul(qbar, _T(x)), shapes[0], 1) if needed[0] else None
        bbar = unbroadcast(-np.matmul(_T(x), qbar), shapes[1], 1) if needed[1] else None
        return abar, bbar, (unbroadcast(qbar, shapes[2], 1) if needed[2] else None)


solve_sylvester = Sylvester()


def sylvester(a, b, q):
    """``X`` with ``A X + X B = Q``, the batch axes broadcast explicitly first.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.rules.linalg import sylvester
    >>> sylvester(np.eye(2), np.eye(2), np.ones((2, 2)))
    array([[0.5, 0.5],
           [0.5, 0.5]])
    """
    return solve_sylvester.bind(*common_batch(a, b, q))


class MatrixSqrt(Primitive):
    """``X = sqrtm(A)`` (SciPy's principal square root); ``X Ẋ + Ẋ X = Ȧ``, so
    ``Ẋ = syl(X, X, Ȧ)`` and ``Ā = syl(Xᴴ, Xᴴ, X̄)``."""

    def __init__(self):
        super().__init__("sqrtm")

    def impl(self, a):
        from scipy.linalg import sqrtm as _scipy_sqrtm

        return _per_matrix(_scipy_sqrtm, a)

    def jvp(self, primals, tangents, params):
        (a,), (t,) = primals, tangents
        x = self.bind(a)  # complex where a real A has negative eigenvalues, as SciPy's
        return x, sylvester(x, x, t)

    def forward(self, primals, params):
        (a,) = primals
        x = self.bind(a)
        return x, (a, x)

    def backward(self, res, ct, params, needed):
        a, x = res
        xt = _T(x)
        abar = sylvester(xt, xt, ct)  # holomorphic: the plain transpose is JAX's cotangent
        return (np.real(abar) if _is_complex(abar) and not _is_complex(a) else abar,)


sqrtm = MatrixSqrt()


# --------------------------------------------------------------------------------------------
# LU of a matrix whose rows are already in pivot order: A = L U, L unit lower triangular


def _lu_compute(x):
    from scipy.linalg import lu as _scipy_lu

    p, lo, up = _scipy_lu(x)
    return (np.matmul(p, lo), up)  # rows already pivoted: p is the identity


def _lu_check(x):
    m, n = x.shape[-2:]
    if m != n:
        raise NotImplementedError(f"the derivative of lu is implemented for square matrices; got {m}×{n}")


def _lu_tangent(x, full, t):
    """``Ẋ = L⁻¹ Ȧ U⁻¹``: ``L̇ = L tril(Ẋ, −1)``, ``U̇ = triu(Ẋ) U``."""
    lo, up = full
    xdot = _H(triangular_solve(_H(up), _H(triangular_solve(lo, t, lower=True)), lower=True))
    return (np.matmul(lo, np.tril(xdot, -1)), np.matmul(np.triu(xdot), up))


def _lu_cotangent(x, full, cts):
    """``X̄ = tril(Lᴴ L̄, −1) + triu(Ū Uᴴ)``, ``Ā = L⁻ᴴ X̄ U⁻ᴴ``."""
    lo, up = full
    lbar, ubar = cts
    xbar = np.tril(np.matmul(_H(lo), lbar), -1) + np.triu(np.matmul(ubar, _H(up)))
    y = triangular_solve(_H(lo), xbar, lower=False)
    return _H(triangular_solve(up, _H(y), lower=False))


lu = Decomposition(
    "lu",
    _lu_compute,
    lambda m, n: [(n, n), (n, n)],
    _lu_tangent,
    _lu_cotangent,
    check=_lu_check,
)
