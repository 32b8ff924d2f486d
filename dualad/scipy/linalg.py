"""``scipy.linalg`` for dualad's values, as ``jax.scipy.linalg``.

SciPy's own functions turn their inputs into plain arrays (``np.asarray``), so they cannot see
derivatives; these take the same arguments and return SciPy's values on plain arrays, and on
active values are differentiable in every mode and nesting order.  Decompositions bind the
primitives of :mod:`dualad.rules.linalg` (through :mod:`numpy.linalg` on active values); the rest
are compositions.  The structured-matrix constructors (``toeplitz``, ``hankel``, ...) gather their
arguments' elements where SciPy's own function places their positions.  ``overwrite_*`` and
``check_finite`` are accepted and change nothing.

Examples
--------
>>> import dualad as ad, dualad.scipy.linalg as dsl, numpy as np
>>> a = np.array([[4.0, 1.0], [1.0, 3.0]])
>>> x = np.linalg.solve(a, np.ones(2))
>>> g = ad.grad(lambda m: np.sum(dsl.cho_solve(dsl.cho_factor((m + m.T) / 2), np.ones(2))))(a)
>>> bool(np.allclose(g, -np.outer(x, x)))
True
"""

from __future__ import annotations

import math

import numpy as np

from ..core.dispatch import is_active, observe, strip
from ..core.linalg_api import matrix_power
from ..rules import linalg as L
from ..rules import structural as S

__all__ = [
    "solve_triangular",
    "cho_factor",
    "cho_solve",
    "lu",
    "lu_factor",
    "lu_solve",
    "expm",
    "sqrtm",
    "solve_sylvester",
    "solve_banded",
    "eigh",
    "block_diag",
    "inv",
    "det",
    "solve",
    "cholesky",
    "qr",
    "svd",
    "toeplitz",
    "hankel",
    "circulant",
    "convolution_matrix",
    "leslie",
    "fiedler",
    "companion",
    "fiedler_companion",
    "hadamard",
    "hilbert",
    "invhilbert",
    "pascal",
    "invpascal",
    "dft",
    "helmert",
    "polar",
    "expm_frechet",
    "funm",
    "qr_multiply",
    "eigh_tridiagonal",
]

_H = L.conj_transpose


def _column(b):
    """``b`` as a stack of columns, and whether it was a vector."""
    b = b if is_active(b) else np.asarray(b)
    return (np.reshape(b, tuple(b.shape) + (1,)), True) if b.ndim == 1 else (b, False)


def _uncolumn(x, vec: bool):
    return np.reshape(x, tuple(x.shape[:-1])) if vec else x


def _float(a):
    a = a if is_active(a) else np.asarray(a)
    return a.astype(np.float64) if a.dtype.kind in "biu" else a


def _trans(trans) -> int:
    codes = {0: 0, 1: 1, 2: 2, "N": 0, "T": 1, "C": 2}
    if trans not in codes:
        raise ValueError(f"trans must be 0, 1, 2 or 'N', 'T', 'C', got {trans!r}")
    return codes[trans]


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False, check_finite=True):
    """Solve ``a x = b`` for triangular ``a``, as :func:`scipy.linalg.solve_triangular`.

    Parameters
    ----------
    a : (..., n, n) array_like
        Only its ``lower`` (or upper) triangle is read; with ``unit_diagonal`` not its diagonal.
    b : (..., n) or (..., n, k) array_like
    trans : {0, 1, 2, 'N', 'T', 'C'}
        Solve ``a x = b``, ``aᵀ x = b`` or ``aᴴ x = b``.
    lower, unit_diagonal : bool
    overwrite_b, check_finite : bool
        Accepted; change nothing.

    Returns
    -------
    x : array of ``b``'s shape

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import solve_triangular
    >>> a = np.array([[2.0, 0.0], [1.0, 1.0]])
    >>> solve_triangular(a, np.array([2.0, 3.0]), lower=True)
    array([1., 2.])
    >>> ad.grad(lambda m: np.sum(solve_triangular(m, np.array([2.0, 3.0]), lower=True)))(a) + 0.0
    array([[ 0.,  0.],
           [-1., -2.]])
    """
    a, (b, vec) = _float(a), _column(b)
    n = a.shape[-1]
    if unit_diagonal:
        tri = (np.tril(a, -1) if lower else np.triu(a, 1)) + np.eye(n, dtype=a.dtype)
    else:
        tri = np.tril(a) if lower else np.triu(a)
    code = _trans(trans)
    if code:
        tri, lower = (_H(tri) if code == 2 else np.swapaxes(tri, -1, -2)), not lower
    return _uncolumn(L.triangular_solve(tri, b, lower=bool(lower)), vec)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """The Cholesky factor in one triangle of ``a`` (the other holds ``a``'s entries), as
    :func:`scipy.linalg.cho_factor`.

    Returns
    -------
    c : array
    lower : bool

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.linalg import cho_factor
    >>> cho_factor(np.array([[4.0, 2.0], [2.0, 5.0]]))[0]
    array([[2., 1.],
           [2., 2.]])
    """
    a = _float(a)
    if lower:
        return np.linalg.cholesky(a) + np.triu(a, 1), True
    # SciPy's factor reads the triangle it computes (LAPACK's potrf): here the upper one
    return np.linalg.cholesky(a, upper=True) + np.tril(a, -1), False


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """Solve ``A x = b`` from ``cho_factor(A)``, as :func:`scipy.linalg.cho_solve`.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.linalg import cho_factor, cho_solve
    >>> a = np.array([[4.0, 2.0], [2.0, 5.0]])
    >>> cho_solve(cho_factor(a), np.array([6.0, 7.0]))
    array([1., 1.])
    """
    c, lower = c_and_lower
    c, (b, vec) = _float(c), _column(b)
    lo = np.tril(c) if lower else _H(np.triu(c))
    y = L.triangular_solve(lo, b, lower=True)
    return _uncolumn(L.triangular_solve(_H(lo), y, lower=False), vec)


def _pivot_matrix(a):
    from scipy.linalg import lu as _scipy_lu

    return _scipy_lu(a)[0]


def lu(a, permute_l=False, overwrite_a=False, check_finite=True, p_indices=False):
    """LU decomposition with partial pivoting, ``a = p @ l @ u``, as :func:`scipy.linalg.lu`.

    The permutation is piecewise constant (no derivative); ``l`` and ``u`` are differentiable,
    for rectangular matrices too (``l`` is ``m × k`` and ``u`` is ``k × n``, ``k = min(m, n)``).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import lu
    >>> p, l, u = lu(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> bool(np.allclose(p @ l @ u, [[1.0, 2.0], [3.0, 4.0]]))
    True
    >>> ad.grad(lambda m: np.sum(lu(m)[2]))(np.eye(2)).shape
    (2, 2)
    """
    a = _float(a)
    p = observe(_pivot_matrix, a)
    lo, up = _lu_in_order(np.matmul(np.swapaxes(p, -1, -2), a))
    if permute_l:
        return np.matmul(p, lo), up
    if p_indices:
        return np.argmax(p, axis=-2), lo, up
    return p, lo, up


def _lu_in_order(pa):
    """``pa = l @ u`` for rows already in LAPACK's pivot order: the square LU of the leading
    ``k × k`` block; a tall matrix's remaining rows of ``l`` solve ``l₂ u = pa₂``, a wide
    matrix's remaining columns of ``u`` solve ``l u₂ = pa₂``."""
    m, n = pa.shape[-2:]
    k = min(m, n)
    lo, up = L.lu.unpack(L.lu.bind(pa[..., :k, :k]), k, k, {})
    if m > n:
        if observe(_zero_pivot, up):
            raise NotImplementedError(
                f"lu of a rank-deficient tall {m}×{n} matrix: a zero pivot leaves the last rows of l "
                "undetermined by a = p l u (SciPy's values there are LAPACK's convention), so they have no "
                "derivative; perturb the matrix to full column rank, or take dualad.primal(a) for values only")
        rest = L.triangular_solve(np.swapaxes(up, -1, -2), np.swapaxes(pa[..., k:, :], -1, -2), lower=True)
        lo = np.concatenate([lo, np.swapaxes(rest, -1, -2)], axis=-2)
    elif n > m:
        up = np.concatenate([up, L.triangular_solve(lo, pa[..., :, k:], lower=True)], axis=-1)
    return lo, up


def _zero_pivot(up) -> bool:
    return bool(np.any(np.diagonal(up, axis1=-2, axis2=-1) == 0))


def _lapack_pivots(a):
    from scipy.linalg import lu_factor as _scipy_lu_factor

    return _scipy_lu_factor(a)[1]


def lu_factor(a, overwrite_a=False, check_finite=True):
    """``(lu, piv)`` as :func:`scipy.linalg.lu_factor`: ``l`` (unit diagonal dropped) and
    ``u`` in one matrix, LAPACK's row interchanges (plain integers).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.linalg import lu_factor
    >>> lu_factor(np.array([[1.0, 2.0], [3.0, 4.0]]))[1]
    array([1, 1], dtype=int32)
    """
    a = _float(a)
    piv = observe(_lapack_pivots, a)
    _, lo, up = lu(a)
    m, n = a.shape[-2:]
    k, lead = min(m, n), [(0, 0)] * (a.ndim - 2)
    return np.pad(np.tril(lo, -1), lead + [(0, 0), (0, n - k)]) + np.pad(up, lead + [(0, m - k), (0, 0)]), piv


def _row_order(piv) -> np.ndarray:
    """The row permutation LAPACK's interchanges ``piv`` apply, as indices."""
    order = np.arange(len(piv))
    for i, p in enumerate(piv):
        order[i], order[p] = order[p], order[i]
    return order


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """Solve ``a x = b`` (or ``aᵀ x = b``) from ``lu_factor(a)``, as :func:`scipy.linalg.lu_solve`.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.linalg import lu_factor, lu_solve
    >>> factors = lu_factor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> lu_solve(factors, np.array([3.0, 7.0]), trans=0)
    array([1., 1.])
    """
    packed, (b, vec) = _float(lu_and_piv[0]), _column(b)
    piv = lu_and_piv[1]
    n = packed.shape[-1]
    lo = np.tril(packed, -1) + np.eye(n, dtype=packed.dtype)
    up = np.triu(packed)
    order = _row_order(np.asarray(strip(piv)))
    code = _trans(trans)
    if code == 0:
        y = L.triangular_solve(lo, b[..., order, :], lower=True)
        return _uncolumn(L.triangular_solve(up, y, lower=False), vec)
    tr = _H if code == 2 else (lambda m: np.swapaxes(m, -1, -2))
    z = L.triangular_solve(tr(up), b, lower=True)
    w = L.triangular_solve(tr(lo), z, lower=False)
    return _uncolumn(w[..., np.argsort(order), :], vec)


# Padé coefficients b_k of degree 3, 5, 7, 9, 13 and the 1-norm bounds θ_m below which each
# is accurate to double precision (Higham, SIAM J. Matrix Anal. Appl. 26(4), 2005).
_PADE = {
    3: (1.495585217958292e-2, (120.0, 60.0, 12.0, 1.0)),
    5: (2.539398330063230e-1, (30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0)),
    7: (9.504178996162932e-1, (17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0, 1.0)),
    9: (2.097847961257068e0, (17643225600.0, 8821612800.0, 2075673600.0, 302702400.0, 30270240.0,
                              2162160.0, 110880.0, 3960.0, 90.0, 1.0)),
    13: (5.371920351148152e0, (64764752532480000.0, 32382376266240000.0, 7771770303897600.0,
                               1187353796428800.0, 129060195264000.0, 10559470521600.0, 670442572800.0,
                               33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0)),
}


def _one_norm(a):
    return float(np.max(np.sum(np.abs(a), axis=-2))) if a.size else 0.0


def _pade(a, coeffs):
    """``(V + U)⁻¹... `` the [m/m] Padé approximant of exp(a): ``solve(V − U, V + U)``."""
    n = a.shape[-1]
    eye = np.broadcast_to(np.eye(n, dtype=a.dtype), tuple(a.shape))
    a2 = np.matmul(a, a)
    odd, even, power = coeffs[1] * eye, coeffs[0] * eye, eye
    for k in range(2, len(coeffs), 2):
        power = np.matmul(power, a2)
        even = even + coeffs[k] * power
        if k + 1 < len(coeffs):
            odd = odd + coeffs[k + 1] * power
    u = np.matmul(a, odd)
    return np.linalg.solve(even - u, even + u)


def expm(A):
    """The matrix exponential, as :func:`scipy.linalg.expm` (scaling and squaring with a Padé
    approximant; on active values its derivative is that of the approximant).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import expm
    >>> bool(np.allclose(expm(np.diag([0.0, 1.0])), np.diag([1.0, np.e])))
    True
    >>> float(ad.grad(lambda t: np.sum(expm(t * np.array([[0.0, 1.0], [0.0, 0.0]]))))(1.0))
    1.0
    """
    a = _float(A)
    if not is_active(a):
        from scipy.linalg import expm as _scipy_expm

        return _scipy_expm(a)
    norm = observe(_one_norm, a)
    for m in (3, 5, 7, 9):
        if norm <= _PADE[m][0]:
            return _pade(a, _PADE[m][1])
    s = max(0, math.ceil(math.log2(norm / _PADE[13][0])))
    r = _pade(a * (0.5**s), _PADE[13][1])
    return matrix_power(r, 2**s) if s else r


def sqrtm(A, disp=True, blocksize=64):
    """The principal matrix square root, as :func:`scipy.linalg.sqrtm`; its derivative solves
    the Sylvester equation ``X Ẋ + Ẋ X = Ȧ``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import sqrtm
    >>> sqrtm(np.diag([4.0, 9.0]))
    array([[2., 0.],
           [0., 3.]])
    >>> ad.grad(lambda a: np.trace(sqrtm(a)))(np.diag([4.0, 9.0]))
    array([[0.25      , 0.        ],
           [0.        , 0.16666667]])
    """
    return L.sqrtm.bind(_float(A))


def solve_sylvester(a, b, q):
    """``X`` solving ``a X + X b = q``, as :func:`scipy.linalg.solve_sylvester`.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.linalg import solve_sylvester
    >>> solve_sylvester(np.eye(2), 2 * np.eye(2), 3 * np.ones((2, 2)))
    array([[1., 1.],
           [1., 1.]])
    """
    return L.sylvester(_float(a), _float(b), _float(q))


def solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    """Solve ``a x = b`` for a banded ``a`` given in LAPACK's band storage ``ab``, as
    :func:`scipy.linalg.solve_banded` (through the dense matrix: ``O(n³)``).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.linalg import solve_banded
    >>> ab = np.array([[0.0, 1.0, 1.0], [4.0, 4.0, 4.0], [1.0, 1.0, 0.0]])
    >>> bool(np.allclose(solve_banded((1, 1), ab, np.array([5.0, 6.0, 5.0])), 1.0))
    True
    """
    low, up = (int(v) for v in l_and_u)
    ab = _float(ab)
    n = ab.shape[-1]
    if ab.shape[0] != low + up + 1:
        raise ValueError(f"invalid values for the number of lower and upper diagonals: "
                         f"l+u+1 ({low + up + 1}) does not equal ab.shape[0] ({ab.shape[0]})")
    dense = None
    for k in range(-low, up + 1):  # diagonal k (j − i = k) is row u − k of ab
        if abs(k) >= n:
            continue
        band = np.diag(ab[up - k, max(0, k): n + min(0, k)], k)
        dense = band if dense is None else dense + band
    return np.linalg.solve(dense, b if is_active(b) else np.asarray(b))


def eigh(a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False, type=1,
         check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    """Eigenvalues (and vectors) of a symmetric ``a``, or of the pencil ``(a, b)`` with ``b``
    positive definite (``a v = λ b v``, ``vᵀ b v = I``), as :func:`scipy.linalg.eigh`.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.linalg import eigh
    >>> eigh(np.diag([2.0, 6.0]), np.diag([1.0, 2.0]), eigvals_only=True)
    array([2., 3.])
    """
    if type != 1 or subset_by_index is not None or subset_by_value is not None:
        raise NotImplementedError("dualad.scipy.linalg.eigh supports type=1 without subsets; compute all and select")
    a = _float(a)
    uplo = "L" if lower else "U"
    if b is None:
        return np.linalg.eigvalsh(a, UPLO=uplo) if eigvals_only else tuple(np.linalg.eigh(a, UPLO=uplo))
    b = _float(b)
    half = np.tril(a) + _H(np.tril(a, -1)) if lower else np.triu(a) + _H(np.triu(a, 1))
    lo = np.linalg.cholesky(b if lower else _H(b), upper=False)
    c = L.triangular_solve(lo, _H(L.triangular_solve(lo, half, lower=True)), lower=True)
    if eigvals_only:
        return np.linalg.eigvalsh(c)
    w, y = np.linalg.eigh(c)
    return w, L.triangular_solve(_H(lo), y, lower=False)


def block_diag(*arrs):
    """A block-diagonal matrix of the given arrays, as :func:`scipy.linalg.block_diag`.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.linalg import block_diag
    >>> block_diag(np.ones((1, 2)), 2.0)
    array([[1., 1., 0.],
           [0., 0., 2.]])
    """
    if not arrs:
        return np.empty((1, 0))
    blocks = [np.reshape(x, (1,) * (2 - np.ndim(x)) + tuple(np.shape(x))) if np.ndim(x) < 2 else x
              for x in (a if is_active(a) else np.asarray(a) for a in arrs)]
    if any(x.ndim != 2 for x in blocks):
        raise ValueError("arguments in the following positions have dimension greater than 2: "
                         f"{[i for i, x in enumerate(blocks) if x.ndim > 2]}")
    dtype = np.result_type(*(strip(x) for x in blocks))
    cols = sum(x.shape[1] for x in blocks)
    rows, left = [], 0
    for x in blocks:
        r, c = x.shape
        parts = [np.zeros((r, left), dtype=dtype), x, np.zeros((r, cols - left - c), dtype=dtype)]
        rows.append(np.concatenate(parts, axis=1))
        left += c
    return np.concatenate(rows, axis=0)


def inv(a, overwrite_a=False, check_finite=True, *, assume_a=None, lower=False):
    """The inverse, as :func:`scipy.linalg.inv` (``assume_a`` and ``lower`` select LAPACK's
    routine there; the result is the same).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.linalg import inv
    >>> inv(np.diag([2.0, 4.0]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    return np.linalg.inv(_float(a))


def det(a, overwrite_a=False, check_finite=True):
    """The determinant, as :func:`scipy.linalg.det`.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.linalg import det
    >>> float(det(np.diag([2.0, 4.0])))
    8.0
    """
    return np.linalg.det(_float(a))


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True, assume_a=None, transposed=False):
    """Solve ``a x = b`` (``aᵀ x = b`` when ``transposed``), as :func:`scipy.linalg.solve`.

    With ``assume_a`` of a symmetric kind only the ``lower`` (or upper) triangle is read, as
    SciPy does.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.linalg import solve
    >>> solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([2.0, 4.0]))
    array([1., 1.])
    """
    a, (b, vec) = _float(a), _column(b)
    if assume_a in ("sym", "her", "pos", "symmetric", "hermitian", "positive definite"):
        a = np.tril(a) + _H(np.tril(a, -1)) if lower else np.triu(a) + _H(np.triu(a, 1))
    if transposed:
        a = np.swapaxes(a, -1, -2)
    return _uncolumn(np.linalg.solve(a, b), vec)


# --------------------------------------------------------------------------------------------
# Decompositions in SciPy's conventions


def _scipy_linalg():
    import scipy.linalg

    return scipy.linalg


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """The Cholesky factor of a Hermitian positive-definite ``a``, as :func:`scipy.linalg.cholesky`:
    the upper ``u`` with ``a = uᴴ u`` by default, the lower ``l`` with ``a = l lᴴ`` when ``lower``.

    Only the triangle the factor is computed from is read (the upper one by default), as SciPy
    (LAPACK's ``potrf``) does; the derivative is the one of the Hermitian matrix that triangle
    stands for (see ``docs/linalg.md``).  Stacks of matrices are factored one by one.

    Parameters
    ----------
    a : (..., n, n) array_like
    lower : bool
    overwrite_a, check_finite : bool
        Accepted; change nothing.

    Returns
    -------
    c : (..., n, n) array
        Upper or lower triangular; integers are promoted to float64, float32 stays float32.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import cholesky
    >>> a = np.array([[4.0, 2.0], [2.0, 5.0]])
    >>> cholesky(a)
    array([[2., 1.],
           [0., 2.]])
    >>> cholesky(a, lower=True)
    array([[2., 0.],
           [1., 2.]])
    >>> logdet = lambda m: 2.0 * np.sum(np.log(np.diagonal(cholesky(m, lower=True))))
    >>> bool(np.allclose(ad.grad(lambda m: logdet((m + m.T) / 2))(a), np.linalg.inv(a)))
    True
    """
    a = _float(a)
    if not is_active(a):
        return _scipy_linalg().cholesky(a, lower=lower)
    return np.linalg.cholesky(a, upper=not lower)


_QR_MODES = ("full", "r", "economic", "raw")


def _qr_pivots(a):
    return _scipy_linalg().qr(a, mode="r", pivoting=True)[1]


def qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    """QR decomposition ``a = q r`` (``a[:, p] = q r`` with ``pivoting``), as :func:`scipy.linalg.qr`.

    Parameters
    ----------
    a : (..., m, n) array_like
    mode : {'full', 'economic', 'r'}
        ``'full'``: ``q`` is ``m × m`` and ``r`` is ``m × n``; ``'economic'``: ``q`` is ``m × k``
        and ``r`` is ``k × n`` (``k = min(m, n)``); ``'r'``: the tuple ``(r,)`` with ``r``
        ``m × n``, as SciPy returns it.  ``'raw'`` (Householder reflectors) raises
        ``NotImplementedError``.
    pivoting : bool
        Also return the column permutation ``p`` (plain integers, as SciPy's): it is LAPACK's
        choice on the plain values, and ``q``, ``r`` are the factors of ``a[..., p]``, so they
        are differentiable where the permutation does not change.
    overwrite_a, lwork, check_finite
        Accepted; change nothing.

    Returns
    -------
    q, r : arrays (``(r,)`` for ``mode='r'``), followed by ``p`` with ``pivoting``.
        A tuple for stacks of matrices too (SciPy 1.17 returns a stack's ``r`` bare for
        ``mode='r'``, which ``(r,) = qr(a, mode='r')`` would unpack along the stack).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import qr
    >>> a = np.array([[3.0, 1.0], [4.0, 2.0], [0.0, 2.0]])
    >>> q, r = qr(a, mode="economic")
    >>> bool(np.allclose(q @ r, a)), q.shape, r.shape
    (True, (3, 2), (2, 2))
    >>> qr(a, mode="r")[0].shape
    (3, 2)
    >>> float(ad.grad(lambda m: np.abs(qr(m, mode="r")[0][0, 0]))(a)[1, 0])
    0.8
    """
    if mode not in _QR_MODES:
        raise ValueError(f"Mode argument should be one of {list(_QR_MODES)}")
    a = _float(a)
    if not is_active(a):
        out = _scipy_linalg().qr(a, mode=mode, pivoting=pivoting)
        # SciPy 1.17 returns a stack's ``r`` bare for mode='r' (and lists with pivoting): the tuple, as documented
        return (out,) if isinstance(out, np.ndarray) else tuple(out)
    if mode == "raw":
        raise NotImplementedError("qr(mode='raw') returns Householder reflectors, which dualad does not differentiate; "
                                  "use mode='full', 'economic' or 'r'")
    if a.ndim < 2:
        raise ValueError(f"Expected at least ndim=2, got ndim={a.ndim}")
    piv = None
    if pivoting:
        piv = observe(_qr_pivots, a)  # LAPACK's column order: piecewise constant
        a = np.take_along_axis(a, np.broadcast_to(piv[..., None, :], tuple(a.shape)).astype(np.intp), axis=-1)
    if mode == "r":
        r = np.linalg.qr(a, mode="complete")[1]
        return (r,) if piv is None else (r, piv)
    q, r = np.linalg.qr(a, mode="complete" if mode == "full" else "reduced")
    return (q, r) if piv is None else (q, r, piv)


def svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True, lapack_driver="gesdd"):
    """Singular value decomposition ``a = u @ diag(s) @ vh``, as :func:`scipy.linalg.svd`.

    On active values the factors are NumPy's, each pair of real singular vectors signed as
    SciPy's ``lapack_driver`` signs it (a plain, piecewise-constant choice); complex vectors keep
    NumPy's phases, which may differ from SciPy's by a unit factor per pair.  As for :func:`numpy.linalg.svd`, the derivative of the
    vectors needs distinct singular values; ``s`` alone (``compute_uv=False``) is differentiable
    everywhere but at repeated values.  The extra columns of ``u`` (or rows of ``vh``) that
    ``full_matrices=True`` adds for a non-square ``a`` are any basis of a complement and have no
    derivative: on active values that raises ``NotImplementedError`` (use ``full_matrices=False``),
    as JAX does.

    Parameters
    ----------
    a : (..., m, n) array_like
    full_matrices : bool
        ``u`` ``m × m`` and ``vh`` ``n × n`` (else ``m × k`` and ``k × n``, ``k = min(m, n)``).
    compute_uv : bool
        Return ``(u, s, vh)``; else ``s`` alone.
    lapack_driver : {'gesdd', 'gesvd'}
    overwrite_a, check_finite : bool
        Accepted; change nothing.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import svd
    >>> a = np.array([[3.0, 0.0], [0.0, 4.0], [0.0, 0.0]])
    >>> svd(a, compute_uv=False)
    array([4., 3.])
    >>> [m.shape for m in svd(a)]
    [(3, 3), (2,), (2, 2)]
    >>> ad.grad(lambda m: svd(m, compute_uv=False)[0])(a)
    array([[0., 0.],
           [0., 1.],
           [0., 0.]])
    """
    if lapack_driver not in ("gesdd", "gesvd"):
        raise ValueError(f'lapack_driver must be "gesdd" or "gesvd", not "{lapack_driver}"')
    a = _float(a)
    if not is_active(a):
        return _scipy_linalg().svd(a, full_matrices=full_matrices, compute_uv=compute_uv, lapack_driver=lapack_driver)
    if a.ndim < 2:
        raise ValueError(f"Expected at least ndim=2, got ndim={a.ndim}")
    if not compute_uv:
        return np.linalg.svd(a, compute_uv=False)
    u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
    if a.dtype.kind == "c":
        return u, s, vh
    signs = observe(_svd_signs, a, u, full_matrices=full_matrices, lapack_driver=lapack_driver)
    k = min(a.shape[-2:])  # the signs SciPy's LAPACK chose for the vector pairs (piecewise constant)
    return u[..., :, :k] * signs[..., None, :] if u.shape[-1] == k else np.concatenate(
        [u[..., :, :k] * signs[..., None, :], u[..., :, k:]], axis=-1), s, _signed_rows(vh, signs, k)


def _signed_rows(vh, signs, k):
    head = vh[..., :k, :] * signs[..., :, None]
    return head if vh.shape[-2] == k else np.concatenate([head, vh[..., k:, :]], axis=-2)


def _svd_signs(a, u, full_matrices, lapack_driver):
    """±1 per singular-vector pair: SciPy's (``lapack_driver``'s) vectors against NumPy's ``u``."""
    ref = _scipy_linalg().svd(a, full_matrices=full_matrices, lapack_driver=lapack_driver)[0]
    k = min(a.shape[-2:])
    dots = np.sum(ref[..., :, :k] * u[..., :, :k], axis=-2)
    return np.where(dots < 0, -1.0, 1.0).astype(u.dtype)


# --------------------------------------------------------------------------------------------
# Structured matrices: where each element goes is SciPy's own layout of positions


def _array(x):
    return x if is_active(x) else np.asarray(x)


def _gather_layout(fn, arrays, dtype=None, **kwargs):
    """``fn(*arrays, **kwargs)`` for a SciPy constructor that only places elements of its
    array arguments (and zeros): ``fn`` applied to the elements' positions (counted from 1, so
    0 marks a zero) gives SciPy's layout, shapes, batching and errors; the result gathers from
    the arrays, flattened and joined in SciPy's result dtype."""
    probes, start = [], 1
    for x in arrays:
        probes.append(np.arange(start, start + x.size, dtype=np.intp).reshape(tuple(x.shape)))
        start += x.size
    layout = np.asarray(fn(*probes, **kwargs)).astype(np.intp)
    dtype = np.result_type(*(strip(x) for x in arrays)) if dtype is None else dtype
    parts = [np.zeros(1, dtype=dtype)] + [np.ravel(x if x.dtype == dtype else x.astype(dtype)) for x in arrays]
    return S.gather.bind(np.concatenate(parts, axis=0), flat=layout, batch=0)


def _plain(*arrays) -> bool:
    return not any(is_active(x) for x in arrays)


def toeplitz(c, r=None):
    """The Toeplitz matrix of first column ``c`` and first row ``r``, as :func:`scipy.linalg.toeplitz`.

    ``r`` defaults to ``conj(c)``; ``r[0]`` is ignored (the diagonal is ``c[0]``).  N-D inputs
    are stacks of vectors along their last axis, as in SciPy 1.17.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import toeplitz
    >>> toeplitz(np.array([1.0, 2.0, 3.0]), np.array([1.0, 4.0]))
    array([[1., 4.],
           [2., 1.],
           [3., 2.]])
    >>> ad.grad(lambda c: np.sum(toeplitz(c)))(np.array([1.0, 2.0, 3.0]))
    array([3., 4., 2.])
    """
    if _plain(c, r):
        return _scipy_linalg().toeplitz(c, r)
    c = _array(c)
    r = np.conj(c) if r is None else _array(r)
    return _gather_layout(_scipy_linalg().toeplitz, (c, r))


def hankel(c, r=None):
    """The Hankel matrix of first column ``c`` and last row ``r``, as :func:`scipy.linalg.hankel`.

    ``r`` defaults to zeros; ``r[0]`` is ignored (the anti-diagonal is ``c[-1]``).  N-D inputs
    are flattened, with SciPy 1.17's ``FutureWarning``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import hankel
    >>> hankel(np.array([1.0, 2.0, 3.0]))
    array([[1., 2., 3.],
           [2., 3., 0.],
           [3., 0., 0.]])
    >>> ad.grad(lambda c: np.sum(hankel(c)))(np.array([1.0, 2.0, 3.0]))
    array([1., 2., 3.])
    """
    if _plain(c, r):
        return _scipy_linalg().hankel(c, r)
    c = _array(c)
    r = np.zeros_like(strip(c)) if r is None else _array(r)
    return _gather_layout(_scipy_linalg().hankel, (c, r))


def circulant(c):
    """The circulant matrix of first column ``c``, as :func:`scipy.linalg.circulant` (N-D
    inputs: a stack along the last axis).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import circulant
    >>> circulant(np.array([1.0, 2.0, 3.0]))
    array([[1., 3., 2.],
           [2., 1., 3.],
           [3., 2., 1.]])
    >>> ad.grad(lambda c: circulant(c)[0, 1])(np.array([1.0, 2.0, 3.0]))
    array([0., 0., 1.])
    """
    if _plain(c):
        return _scipy_linalg().circulant(c)
    return _gather_layout(_scipy_linalg().circulant, (_array(c),))


def convolution_matrix(a, n, mode="full"):
    """The matrix ``A`` with ``A @ v == np.convolve(a, v, mode)`` for ``v`` of length ``n``, as
    :func:`scipy.linalg.convolution_matrix` (N-D ``a``: a stack along the last axis).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import convolution_matrix
    >>> convolution_matrix(np.array([1.0, 2.0]), 3, mode="same")
    array([[1., 0., 0.],
           [2., 1., 0.],
           [0., 2., 1.]])
    >>> ad.grad(lambda a: np.sum(convolution_matrix(a, 3)))(np.array([1.0, 2.0]))
    array([3., 3.])
    """
    if _plain(a):
        return _scipy_linalg().convolution_matrix(a, n, mode)
    return _gather_layout(_scipy_linalg().convolution_matrix, (_array(a),), n=n, mode=mode)


def leslie(f, s):
    """The Leslie matrix of fecundities ``f`` (first row) and survival rates ``s`` (the
    subdiagonal), as :func:`scipy.linalg.leslie` (N-D inputs: stacks along the last axis).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import leslie
    >>> leslie(np.array([0.1, 2.0, 1.0]), np.array([0.2, 0.8]))
    array([[0.1, 2. , 1. ],
           [0.2, 0. , 0. ],
           [0. , 0.8, 0. ]])
    >>> float(ad.grad(lambda s: np.max(np.abs(np.linalg.eigvals(leslie(np.array([0.1, 2.0, 1.0]), s)))))(
    ...     np.array([0.2, 0.8]))[0]) > 0
    True
    """
    if _plain(f, s):
        return _scipy_linalg().leslie(f, s)
    return _gather_layout(_scipy_linalg().leslie, (_array(f), _array(s)))


def fiedler(a):
    """The symmetric Fiedler matrix ``|a[i] − a[j]|``, as :func:`scipy.linalg.fiedler` (N-D
    ``a``: a stack along the last axis).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import fiedler
    >>> fiedler(np.array([1.0, 4.0, 2.0]))
    array([[0., 3., 1.],
           [3., 0., 2.],
           [1., 2., 0.]])
    >>> ad.grad(lambda a: np.sum(fiedler(a)))(np.array([1.0, 4.0, 2.0]))
    array([-4.,  4.,  0.])
    """
    if _plain(a):
        return _scipy_linalg().fiedler(a)
    a = _array(a)
    if a.ndim == 0 or a.size == 0:
        return _scipy_linalg().fiedler(strip(a))
    return np.abs(a[..., :, None] - a[..., None, :])


def _leading_zero(a) -> bool:
    return bool(np.any(a[..., 0] == 0)) if a.ndim and a.shape[-1] else False


def _monic_layout(fn, a, message):
    """``fn(a)`` for SciPy's ``companion``/``fiedler_companion``, whose entries are
    ``−a[k]/a[0]``, ones and zeros: ``fn`` of a probe with ``a[0] = 1`` and ``a[k] = k + 10``
    (exact in floats) gives the layout; the result gathers from ``−a/a[..., :1]``, 0 and 1."""
    a = _float(_array(a))
    if observe(_leading_zero, a):
        raise ValueError(message)
    m = a.shape[-1] if a.ndim else 1
    probe = np.broadcast_to(np.concatenate([[1.0], np.arange(11.0, 10.0 + m)]), tuple(a.shape))
    out = np.asarray(fn(probe))
    rows = (np.arange(a.size // max(m, 1), dtype=np.intp) * m).reshape(tuple(a.shape[:-1]) + (1,) * (out.ndim - a.ndim + 1))
    coef = (np.rint(-out) - 10).astype(np.intp) + rows if out.size else out.astype(np.intp)
    layout = np.where(out < 0, coef + 2, np.where(out == 1, 1, 0)) if out.size else coef
    scaled = -a / a[..., :1]
    dtype = strip(scaled).dtype
    return S.gather.bind(np.concatenate([np.array([0, 1], dtype=dtype), np.ravel(scaled)]), flat=layout, batch=0)


def companion(a):
    """The companion matrix of the polynomial with coefficients ``a`` (highest degree first),
    as :func:`scipy.linalg.companion` (N-D ``a``: a stack along the last axis).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import companion
    >>> companion(np.array([2.0, -6.0, 4.0]))
    array([[ 3., -2.],
           [ 1.,  0.]])
    >>> ad.grad(lambda a: np.trace(companion(a)))(np.array([2.0, -6.0, 4.0]))
    array([-1.5, -0.5,  0. ])
    """
    if _plain(a):
        return _scipy_linalg().companion(a)
    return _monic_layout(_scipy_linalg().companion, a,
                         "The first coefficient(s) of `a` (i.e. elements of `a[..., 0]`) must not be zero.")


def fiedler_companion(a):
    """The Fiedler companion matrix of the polynomial with coefficients ``a`` (highest degree
    first; pentadiagonal, with the same eigenvalues as :func:`companion`), as
    :func:`scipy.linalg.fiedler_companion` (N-D ``a``: a stack along the last axis).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import fiedler_companion
    >>> fiedler_companion(np.array([1.0, -6.0, 11.0, -6.0]))
    array([[  6., -11.,   1.],
           [  1.,   0.,   0.],
           [  0.,   6.,   0.]])
    >>> ad.grad(lambda a: np.trace(fiedler_companion(a)))(np.array([1.0, -6.0, 11.0, -6.0]))
    array([-6., -1.,  0.,  0.])
    """
    if _plain(a):
        return _scipy_linalg().fiedler_companion(a)
    return _monic_layout(_scipy_linalg().fiedler_companion, a, "Leading coefficient is zero.")


# Constructors of integer arguments alone: SciPy's plain arrays (nothing to differentiate)


def hadamard(n, dtype=int):
    """The ``n × n`` Hadamard matrix (``n`` a power of 2), SciPy's plain array
    (:func:`scipy.linalg.hadamard`).

    Examples
    --------
    >>> from dualad.scipy.linalg import hadamard
    >>> hadamard(2)
    array([[ 1,  1],
           [ 1, -1]])
    """
    return _scipy_linalg().hadamard(n, dtype=dtype)


def hilbert(n):
    """The ``n × n`` Hilbert matrix ``1 / (i + j + 1)``, SciPy's plain array (:func:`scipy.linalg.hilbert`).

    Examples
    --------
    >>> from dualad.scipy.linalg import hilbert
    >>> hilbert(2)
    array([[1.        , 0.5       ],
           [0.5       , 0.33333333]])
    """
    return _scipy_linalg().hilbert(n)


def invhilbert(n, exact=False):
    """The inverse of the ``n × n`` Hilbert matrix, SciPy's plain array (:func:`scipy.linalg.invhilbert`).

    Examples
    --------
    >>> from dualad.scipy.linalg import invhilbert
    >>> invhilbert(2)
    array([[ 4., -6.],
           [-6., 12.]])
    """
    return _scipy_linalg().invhilbert(n, exact=exact)


def pascal(n, kind="symmetric", exact=True):
    """The ``n × n`` Pascal matrix (``kind`` ``'symmetric'``, ``'lower'`` or ``'upper'``), SciPy's
    plain array (:func:`scipy.linalg.pascal`).

    Examples
    --------
    >>> from dualad.scipy.linalg import pascal
    >>> pascal(3)
    array([[1, 1, 1],
           [1, 2, 3],
           [1, 3, 6]], dtype=uint64)
    """
    return _scipy_linalg().pascal(n, kind=kind, exact=exact)


def invpascal(n, kind="symmetric", exact=True):
    """The inverse of the ``n × n`` Pascal matrix, SciPy's plain array (:func:`scipy.linalg.invpascal`).

    Examples
    --------
    >>> from dualad.scipy.linalg import invpascal
    >>> invpascal(3)
    array([[ 3, -3,  1],
           [-3,  5, -2],
           [ 1, -2,  1]])
    """
    return _scipy_linalg().invpascal(n, kind=kind, exact=exact)


def dft(n, scale=None):
    """The ``n × n`` discrete Fourier transform matrix, SciPy's plain array
    (:func:`scipy.linalg.dft`); ``dft(n) @ x`` of an active ``x`` is differentiable.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.linalg import dft
    >>> bool(np.allclose(dft(4) @ np.arange(4.0), np.fft.fft(np.arange(4.0))))
    True
    """
    return _scipy_linalg().dft(n, scale=scale)


def helmert(n, full=False):
    """The ``n × n`` Helmert matrix (its last ``n − 1`` rows unless ``full``), SciPy's plain array
    (:func:`scipy.linalg.helmert`).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.linalg import helmert
    >>> helmert(3).shape
    (2, 3)
    >>> bool(np.allclose(helmert(3, full=True) @ helmert(3, full=True).T, np.eye(3)))
    True
    """
    return _scipy_linalg().helmert(n, full=full)


# --------------------------------------------------------------------------------------------
# Functions of decompositions


def polar(a, side="right"):
    """The polar decomposition ``a = u p`` (``side='right'``) or ``a = p u`` (``'left'``), as
    :func:`scipy.linalg.polar`: ``u`` has orthonormal columns (or rows), ``p`` is Hermitian
    positive semi-definite.  Computed from the reduced SVD, as SciPy does, so its derivative needs
    distinct singular values (``u`` of a full-rank square ``a`` is unique, its derivative too, but
    the SVD route divides by ``σᵢ² − σⱼ²``).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import polar
    >>> a = np.array([[2.0, 1.0], [0.0, 3.0]])
    >>> u, p = polar(a)
    >>> bool(np.allclose(u @ p, a)), bool(np.allclose(u.T @ u, np.eye(2)))
    (True, True)
    >>> bool(np.allclose(ad.grad(lambda m: np.trace(polar(m)[1]))(a), polar(a)[0]))  # d tr(p) = u
    True
    """
    if side not in ("right", "left"):
        raise ValueError("`side` must be either 'right' or 'left'")
    a = _float(_array(a))
    if not is_active(a):
        return _scipy_linalg().polar(a, side=side)
    if a.ndim < 2:
        raise ValueError("`a` must be a 2-D array.")
    w, s, vh = svd(a, full_matrices=False)
    u = np.matmul(w, vh)
    if side == "right":
        return u, np.matmul(_H(vh) * s[..., None, :], vh)
    return u, np.matmul(w * s[..., None, :], _H(w))


def expm_frechet(A, E, method=None, compute_expm=True, check_finite=True):
    """The Fréchet derivative of the matrix exponential at ``A`` in the direction ``E`` (and
    ``expm(A)``), as :func:`scipy.linalg.expm_frechet`.

    On active values it is the upper-right block of :func:`expm` of ``[[A, E], [0, A]]`` (SciPy's
    ``method='blockEnlarge'``), differentiable in ``A`` and ``E``; on plain arrays SciPy's values.

    Parameters
    ----------
    A, E : (..., n, n) array_like
    method : {None, 'SPS', 'blockEnlarge'}
        SciPy's algorithm on plain arrays; the block matrix on active values.
    compute_expm : bool
        Return ``(expm(A), frechet)``; else the derivative alone.
    check_finite : bool
        Accepted; changes nothing.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import expm, expm_frechet
    >>> a, e = np.array([[0.0, 1.0], [0.0, 0.5]]), np.array([[1.0, 0.0], [0.0, 0.0]])
    >>> expm_a, frechet = expm_frechet(a, e)
    >>> bool(np.allclose(frechet, ad.jvp(expm, (a,), (e,))[1]))
    True
    >>> float(ad.grad(lambda t: np.sum(expm_frechet(t * a, e, compute_expm=False)))(1.0)) > 0
    True
    """
    if method not in (None, "SPS", "blockEnlarge"):
        raise ValueError(f"Unknown implementation {method}")
    A, E = _float(_array(A)), _float(_array(E))
    if _plain(A, E):
        return _scipy_linalg().expm_frechet(A, E, method=method, compute_expm=compute_expm)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError("expected A to be a square matrix")
    if tuple(A.shape) != tuple(E.shape):
        raise ValueError("expected A and E to be the same shape")
    dtype = np.result_type(strip(A), strip(E), np.float64)  # SciPy's result: float64 or complex128
    A, E = A.astype(dtype), E.astype(dtype)
    n = A.shape[-1]
    zeros = np.zeros(tuple(A.shape), dtype=dtype)
    big = expm(np.concatenate([np.concatenate([A, E], axis=-1), np.concatenate([zeros, A], axis=-1)], axis=-2))
    frechet = big[..., :n, n:]
    return (big[..., :n, :n], frechet) if compute_expm else frechet


def funm(A, func, disp=True):
    """``func`` of the matrix ``A`` (Schur-Parlett), as :func:`scipy.linalg.funm`, on plain arrays.

    Active values raise ``NotImplementedError``: the algorithm applies ``func`` to the Schur form,
    which dualad does not differentiate.  For a symmetric ``A`` use the eigendecomposition
    (``w, v = eigh(A)``; ``(v * func(w)) @ v.T``), which is differentiable; for ``exp`` and
    ``sqrt``, :func:`expm` and :func:`sqrtm`.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.linalg import funm
    >>> funm(np.diag([1.0, 4.0]), np.sqrt)
    array([[1., 0.],
           [0., 2.]])
    """
    if is_active(A):
        raise NotImplementedError(
            "dualad.scipy.linalg.funm: SciPy's Schur-Parlett algorithm is not differentiable in dualad; for a "
            "symmetric A write w, v = np.linalg.eigh(A); (v * func(w)) @ v.T (differentiable), or use expm / sqrtm")
    return _scipy_linalg().funm(A, func, disp=disp)


def qr_multiply(a, c, mode="right", pivoting=False, conjugate=False, overwrite_a=False, overwrite_c=False):
    """``c @ q`` (``mode='right'``) or ``q @ c`` (``'left'``) with ``q`` of ``qr(a, mode='economic')``
    (conjugated with ``conjugate``), and ``r``, as :func:`scipy.linalg.qr_multiply`; with
    ``pivoting`` the column permutation too (plain integers).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import qr, qr_multiply
    >>> a = np.array([[3.0, 1.0], [4.0, 2.0], [0.0, 2.0]])
    >>> cq, r = qr_multiply(a, np.ones((1, 3)))
    >>> bool(np.allclose(cq, np.ones((1, 3)) @ qr(a, mode="economic")[0]))
    True
    >>> ad.grad(lambda m: np.sum(qr_multiply(m, np.ones(3))[0] ** 2))(a).shape
    (3, 2)
    """
    if mode not in ("left", "right"):
        raise ValueError(f"Mode argument can only be 'left' or 'right' but not '{mode}'")
    a, c = _float(_array(a)), _float(_array(c))
    if _plain(a, c):
        return _scipy_linalg().qr_multiply(a, c, mode=mode, pivoting=pivoting, conjugate=conjugate)
    q, r, *piv = qr(a, mode="economic", pivoting=pivoting)
    q = np.conj(q) if conjugate else q
    return (np.matmul(c, q) if mode == "right" else np.matmul(q, c), r, *piv)


def _tridiagonal_signs(d, e, v, select, select_range):
    """±1 per eigenvector: SciPy's (LAPACK's ``stemr``/``stebz``) against NumPy's ``v``."""
    ref = _scipy_linalg().eigh_tridiagonal(d, e, select=select, select_range=select_range)[1]
    return np.where(np.sum(ref * v, axis=-2) < 0, -1.0, 1.0).astype(v.dtype)


def _in_range(w, low, high):
    return np.flatnonzero((w > low) & (w <= high))


def eigh_tridiagonal(d, e, eigvals_only=False, select="a", select_range=None, check_finite=True, tol=0.0, lapack_driver="auto"):
    """Eigenvalues (and vectors) of the real symmetric tridiagonal matrix of diagonal ``d`` and
    off-diagonal ``e``, as :func:`scipy.linalg.eigh_tridiagonal`.

    On active values: :func:`numpy.linalg.eigh` of the dense matrix (``O(n³)``), each eigenvector
    signed as SciPy's LAPACK routine signs it (a plain, piecewise-constant choice); the derivative
    of the vectors needs distinct eigenvalues.  ``select='i'`` takes the eigenvalues at the
    indices ``select_range = (lo, hi)`` (inclusive), ``'v'`` those in ``(lo, hi]`` (which ones is a
    plain choice; 1-D ``d`` only).  ``tol`` and ``lapack_driver`` select SciPy's routine on plain
    arrays.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.linalg import eigh_tridiagonal
    >>> d, e = np.array([2.0, 2.0, 2.0]), np.array([1.0, 1.0])
    >>> eigh_tridiagonal(d, e, eigvals_only=True)
    array([0.58578644, 2.        , 3.41421356])
    >>> ad.grad(lambda d: eigh_tridiagonal(d, e, eigvals_only=True)[0])(d)
    array([0.25, 0.5 , 0.25])
    """
    d, e = _array(d), _array(e)
    if _plain(d, e):
        return _scipy_linalg().eigh_tridiagonal(d, e, eigvals_only=eigvals_only, select=select, select_range=select_range,
                                                tol=tol, lapack_driver=lapack_driver)
    if select not in ("a", "i", "v", 0, 1, 2, "all", "value", "index"):
        raise ValueError("invalid argument for select")
    if d.dtype.kind == "c" or e.dtype.kind == "c":
        raise TypeError("Only real arrays currently supported")
    if d.ndim < 1 or e.shape[-1] != d.shape[-1] - 1:
        raise ValueError(f"d ({d.shape[-1] if d.ndim else 0}) must have one more element than e ({e.shape[-1]})")
    d, e = _float(d), _float(e)
    t = d[..., :, None] * np.eye(d.shape[-1], dtype=strip(d).dtype) + _off_diagonals(e)
    w, v = np.linalg.eigh(t)
    kind = {0: "a", "all": "a", 1: "v", "value": "v", 2: "i", "index": "i"}.get(select, select)
    if kind == "i":
        lo, hi = (int(x) for x in select_range)
        w, v = w[..., lo:hi + 1], v[..., lo:hi + 1]
    elif kind == "v":
        if d.ndim != 1:
            raise NotImplementedError("eigh_tridiagonal(select='v') of a stack: the count differs per matrix; loop over the stack")
        keep = observe(_in_range, w, *(float(x) for x in select_range))
        w, v = w[keep], v[:, keep]
    if eigvals_only:
        return w
    return w, v * observe(_tridiagonal_signs, d, e, v, select, select_range)[..., None, :]


def _off_diagonals(e):
    """The symmetric matrix with ``e`` on the first super- and subdiagonal, as a gather."""
    n = e.shape[-1] + 1
    layout = np.zeros((n, n), dtype=np.intp)
    layout[np.arange(n - 1), np.arange(1, n)] = layout[np.arange(1, n), np.arange(n - 1)] = np.arange(1, n)
    padded = np.concatenate([np.zeros(tuple(e.shape[:-1]) + (1,), dtype=strip(e).dtype), e], axis=-1)
    return S.gather.bind(padded, flat=layout, batch=e.ndim - 1)
