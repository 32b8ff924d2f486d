"""Graph colourings of sparsity patterns and decompression: columns (forward lanes) or rows
(reverse lanes) coloured distance-2, symmetric patterns star-coloured, and the
:class:`Decompressor` that recovers a sparse matrix from its compressed form by one gather.
The colouring loops are compiled by Numba on first use and cached on disk.

Examples
--------
>>> import numpy as np
>>> from dualad.transforms.colouring import color_columns
>>> color_columns(np.eye(3))[1]
1
"""

from __future__ import annotations

import numpy as np

__all__ = ["color_columns", "color_rows", "star_color", "Decompressor", "as_csr", "scipy_sparse"]


def scipy_sparse():
    """``scipy.sparse``, or an ImportError saying how to install SciPy.

    Examples
    --------
    >>> from dualad.transforms.colouring import scipy_sparse
    >>> scipy_sparse().__name__
    'scipy.sparse'
    """
    try:
        import scipy.sparse as sp
    except ImportError as e:  # pragma: no cover - scipy is installed wherever the tests run
        raise ImportError("sparse Jacobians and Hessians need SciPy: pip install scipy (or dualad[sparse])") from e
    return sp


def _d2_color_impl(col_ptr, col_rows, row_ptr, row_cols, order, n):  # pragma: no cover - compiled
    color = np.full(n, -1, np.int64)
    mark = np.full(n + 1, -1, np.int64)
    ncolors = 0
    for t in range(order.shape[0]):
        j = order[t]
        for p in range(col_ptr[j], col_ptr[j + 1]):
            i = col_rows[p]
            for q in range(row_ptr[i], row_ptr[i + 1]):
                c = color[row_cols[q]]
                if c >= 0:
                    mark[c] = j
        c = 0
        while mark[c] == j:
            c += 1
        color[j] = c
        if c + 1 > ncolors:
            ncolors = c + 1
    return color, ncolors


def _star_color_impl(ptr, adj, order, n):  # pragma: no cover - compiled
    color = np.full(n, -1, np.int64)
    mark = np.full(n + 1, -1, np.int64)
    ncolors = 0
    for t in range(order.shape[0]):
        v = order[t]
        for p in range(ptr[v], ptr[v + 1]):
            w = adj[p]
            if w == v:
                continue
            cw = color[w]
            if cw >= 0:
                mark[cw] = v
            for q in range(ptr[w], ptr[w + 1]):
                x = adj[q]
                if x == v or x == w:
                    continue
                cx = color[x]
                if cx < 0:
                    continue
                if cw < 0:
                    mark[cx] = v
                else:
                    for r in range(ptr[x], ptr[x + 1]):
                        y = adj[r]
                        if y != w and y != x and color[y] == cw:
                            mark[cx] = v
                            break
        c = 0
        while mark[c] == v:
            c += 1
        color[v] = c
        if c + 1 > ncolors:
            ncolors = c + 1
    return color, ncolors


_COMPILED: dict = {}


def _compiled(name: str):
    fn = _COMPILED.get(name)
    if fn is None:
        import numba

        py = {"d2": _d2_color_impl, "star": _star_color_impl}[name]
        fn = _COMPILED[name] = numba.njit(cache=True, nogil=True)(py)
    return fn


def as_csr(pattern, what: str = "pattern"):
    """A boolean CSR copy of a pattern (sparse matrix or 2-D array), zeros and duplicates removed.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.colouring import as_csr
    >>> as_csr(np.eye(2)).nnz
    2
    """
    sp = scipy_sparse()
    if not sp.issparse(pattern):
        pattern = np.asarray(pattern)
        if pattern.ndim != 2:
            raise ValueError(f"a sparsity {what} must be a 2-D scipy.sparse matrix or array, got shape {pattern.shape}")
    P = sp.csr_matrix(pattern, dtype=bool, copy=True)  # our own: the caller's matrix stays as it is
    P.eliminate_zeros()
    P.sum_duplicates()
    return P


def color_columns(pattern, order: str = "largest_first") -> tuple[np.ndarray, int]:
    """Greedy distance-2 colouring of the columns of a sparsity pattern.

    Columns with the same colour share no row, so one forward-mode lane seeded with the sum of
    their unit vectors recovers all of them: ``J[i, j] = (J @ S)[i, color[j]]``.

    Parameters
    ----------
    pattern : scipy.sparse matrix or 2-D array
        The ``(m, n)`` pattern (nonzero = structurally nonzero).
    order : {"largest_first", "natural"}
        Visit columns by decreasing number of column neighbours (bounded by the sum of their rows'
        lengths), or in index order.

    Returns
    -------
    (colors, k)
        ``colors[j]`` in ``0 .. k-1`` for each column.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.colouring import color_columns
    >>> tridiagonal = np.eye(6) + np.eye(6, k=1) + np.eye(6, k=-1)
    >>> color_columns(tridiagonal)
    (array([1, 2, 0, 1, 2, 0]), 3)
    """
    P = as_csr(pattern)
    m, n = P.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    C = P.tocsc()
    C.sort_indices()
    if order == "largest_first":
        row_len = np.diff(P.indptr)
        col_of = np.repeat(np.arange(n), np.diff(C.indptr))
        deg = np.bincount(col_of, weights=row_len[C.indices], minlength=n)
        perm = np.argsort(-deg, kind="stable")
    elif order == "natural":
        perm = np.arange(n)
    else:
        raise ValueError(f"unknown colouring order {order!r}; use 'largest_first' or 'natural'")
    colors, k = _compiled("d2")(
        C.indptr.astype(np.int64), C.indices.astype(np.int64), P.indptr.astype(np.int64), P.indices.astype(np.int64),
        perm.astype(np.int64), n,
    )
    return colors, int(k)


def color_rows(pattern, order: str = "largest_first") -> tuple[np.ndarray, int]:
    """Greedy distance-2 colouring of the rows (rows sharing a colour share no column): one
    reverse-mode lane per colour, ``J[i, j] = (Sᵀ J)[color[i], j]``.

    Takes the same ``pattern`` and ``order`` as :func:`color_columns` and returns
    ``(colors, k)`` with ``colors[i]`` in ``0 .. k-1`` for each row.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.colouring import color_rows
    >>> color_rows(np.eye(4))[1]
    1
    """
    return color_columns(as_csr(pattern).T.tocsr(), order)


def star_color(pattern, order: str = "largest_first") -> tuple[np.ndarray, int]:
    """Greedy star colouring of a symmetric pattern (a Hessian's), for direct recovery.

    Adjacent vertices get different colours and every path on four vertices uses at least three,
    so each off-diagonal ``H[i, j]`` is the only entry of its colour class in row i or in row j.

    Parameters
    ----------
    pattern : scipy.sparse matrix or 2-D array
        A square pattern; it is symmetrised, and its diagonal is ignored.
    order : {"largest_first", "natural"}
        Visit vertices by decreasing degree, or in index order.

    Returns
    -------
    (colors, k)
        ``colors[i]`` in ``0 .. k-1`` for each row/column.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.colouring import star_color
    >>> arrow = np.eye(6); arrow[0, :] = arrow[:, 0] = 1
    >>> star_color(arrow)[1]
    2
    """
    P = as_csr(pattern)
    n = P.shape[0]
    if P.shape != (n, n):
        raise ValueError(f"star_color needs a square pattern, got shape {P.shape}")
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    A = (P + P.T).tocsr()
    A.setdiag(False)
    A.eliminate_zeros()
    A.sort_indices()
    if order == "largest_first":
        perm = np.argsort(-np.diff(A.indptr), kind="stable")
    elif order == "natural":
        perm = np.arange(n)
    else:
        raise ValueError(f"unknown colouring order {order!r}; use 'largest_first' or 'natural'")
    colors, k = _compiled("star")(A.indptr.astype(np.int64), A.indices.astype(np.int64), perm.astype(np.int64), n)
    return colors, int(k)


# --------------------------------------------------------------------------------------------
# Decompression


def _nnz_rows(P) -> np.ndarray:
    return np.repeat(np.arange(P.shape[0], dtype=np.int64), np.diff(P.indptr))


class Decompressor:
    """Recovers a sparse matrix with pattern ``P`` from its compressed form, by one gather.

    ``kind="columns"``: ``B = J S`` of shape ``(m, k)``, ``J[i, j] = B[i, color j]``.
    ``kind="rows"``: ``C = Sᵀ J`` of shape ``(k, n)``, ``J[i, j] = C[color i, j]``.
    ``kind="star"``: ``B = H S`` of shape ``(n, k)`` after a star colouring: ``H[i, j]`` is
    ``B[i, color j]`` where j is alone in its colour class in row i, else ``B[j, color i]``.
    The gather indices are computed once per pattern and colouring.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.colouring import Decompressor, color_columns
    >>> J = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]])
    >>> colors, k = color_columns(J != 0)
    >>> S = np.eye(k)[colors]                     # (n, k): column j seeds lane colors[j]
    >>> Decompressor(J != 0, colors, k, "columns")(J @ S).toarray()
    array([[1., 0., 2.],
           [0., 3., 0.]])
    """

    def __init__(self, P, colors: np.ndarray, k: int, kind: str):
        P = as_csr(P)
        self.shape, self.indices, self.indptr = P.shape, P.indices, P.indptr
        rows, cols = _nnz_rows(P), P.indices.astype(np.int64)
        k = max(int(k), 1)
        if kind == "columns":
            self.index = rows * k + colors[cols]
        elif kind == "rows":
            self.index = colors[rows] * P.shape[1] + cols
        elif kind == "star":
            cc = colors[cols]
            key = rows * k + cc
            if P.shape[0] * k <= 4 * P.nnz + (1 << 20):
                counts = np.bincount(key, minlength=P.shape[0] * k)[key]
            else:
                _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
                counts = cnt[inv]
            self.index = np.where(counts == 1, key, cols * k + colors[rows])
        else:
            raise ValueError(f"unknown decompression {kind!r}")
        self.kind = kind

    def __call__(self, B):
        sp = scipy_sparse()
        flat = np.ascontiguousarray(B).reshape(-1)
        vals = flat[self.index] if flat.size else np.zeros(len(self.index))
        return sp.csr_matrix((vals, self.indices, self.indptr), shape=self.shape, copy=False)

