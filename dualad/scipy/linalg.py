"""``scipy.linalg`` for dualad's values, as ``jax.scipy.linalg``.

SciPy's own functions turn their inputs into plain arrays (``np.asarray``), so they cannot see
derivatives; these take the same arguments and return SciPy's values on plain arrays, and on
active values are differentiable in every mode and nesting order.  Decompositions bind the
primitives of :mod:`dualad.rules.linalg`; the rest are compositions.  ``overwrite_*`` and
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
