"""``numpy.linalg`` on active values: which call becomes which primitive or composition.

This module holds no derivative.  Decompositions (``cholesky``, ``eigh``, ``svd``, ``qr``) and
``pinv`` bind the primitives of :mod:`dualad.rules.linalg`, ``solve``/``inv``/``det``/``slogdet``
those of :mod:`dualad.rules.structural`; the rest (``lstsq``, ``norm`` in every order,
``matrix_power``, ``tensorsolve``, ``multi_dot``, ``cross``, ``vander``, ...) are compositions
of them, so their derivatives follow.  Stacks of matrices are accepted wherever NumPy accepts
them.  See ``docs/linalg.md`` for the conventions at degenerate points.
"""

from __future__ import annotations

import functools

import numpy as np

from ..rules import linalg as L
from ..rules import structural as S
from .dispatch import observe, strip
from .numpy_api import abs_squared, as_array, implements
from .observed import observe_index

__all__ = ["matrix_norm", "vector_norm", "EighResult", "EigResult", "SVDResult", "QRResult", "SlogdetResult"]

EighResult = type(np.linalg.eigh(np.eye(1)))
EigResult = type(np.linalg.eig(np.eye(1)))
SVDResult = type(np.linalg.svd(np.eye(1)))
QRResult = type(np.linalg.qr(np.eye(1)))
SlogdetResult = type(np.linalg.slogdet(np.eye(1)))


def _matrices(a, name: str):
    """``a`` as an array of at least two dimensions, float (integers promoted)."""
    a = as_array(a)
    if a.ndim < 2:
        raise np.linalg.LinAlgError(f"{name}: {a.ndim}-dimensional array given. Array must be at least two-dimensional")
    if a.dtype.kind in "biu":
        a = a.astype(np.float64)
    return a


def _square(a, name: str):
    a = _matrices(a, name)
    if a.shape[-1] != a.shape[-2]:
        raise np.linalg.LinAlgError(f"{name}: last 2 dimensions of the array must be square")
    return a


def _to_batch(x, batch: tuple):
    return x if tuple(x.shape[:-2]) == batch else np.broadcast_to(x, batch + tuple(x.shape[-2:]))


def _factors(prim, a, **params):
    m, n = a.shape[-2:]
    return prim.unpack(prim.bind(a, **params), m, n, params)


def _mT(x):
    return np.swapaxes(x, -1, -2)


def _real_values(x):
    """Eigenvalues or singular values unpacked next to complex vectors are complex with a zero
    imaginary part; NumPy returns them real."""
    return np.real(x) if x.dtype.kind == "c" else x


# --------------------------------------------------------------------------------------------
# Solve, inverse, determinants


@implements(np.linalg.solve)
def solve(a, b):
    a, b = _square(a, "solve"), as_array(b)
    vec = b.ndim == 1
    if vec:
        b = np.reshape(b, tuple(b.shape) + (1,))
    batch = np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    x = S.solve.bind(_to_batch(a, batch), _to_batch(b, batch))
    return np.reshape(x, tuple(x.shape[:-1])) if vec else x


@implements(np.linalg.inv)
def inv(a):
    a = _square(a, "inv")
    return S.solve.bind(a, np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), tuple(a.shape)))


def _slogdet_sign(a):
    return np.linalg.slogdet(a)[0]


@implements(np.linalg.slogdet)
def slogdet(a):
    a = _square(a, "slogdet")
    sign = observe(_slogdet_sign, a)  # plain, but it steers the value: a guard in recordings
    if a.dtype.kind == "c":  # the phase det/|det| moves with A: ṡ = i Im tr(A⁻¹Ȧ) s, as JAX
        sign = _complex_sign(a)
    return SlogdetResult(sign, S.logabsdet.bind(a, axis=(-2, -1), keepdims=False))


def _complex_sign(a):
    """``det(A)/|det(A)|`` of complex matrices, from ``det(cA)`` with the plain ``c = |det A|^(−1/n)``
    (no overflow: ``|det(cA)|`` is 1)."""
    logabs = observe(_slogdet_logabs, a)
    scale = np.exp(-logabs / a.shape[-1])[..., None, None]
    d = S.det.bind(a * scale, axis=(-2, -1), keepdims=False)
    return d / np.abs(d)


def _slogdet_logabs(a):
    return np.linalg.slogdet(a)[1]


@implements(np.linalg.det)
def det(a):
    return S.det.bind(_square(a, "det"), axis=(-2, -1), keepdims=False)


@implements(np.linalg.matrix_power)
def matrix_power(a, n):
    a = _square(a, "matrix_power")
    n = int(n)
    if n == 0:
        return np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), tuple(a.shape)).copy()
    if n < 0:
        a, n = inv(a), -n
    result, power = None, a
    while n:  # binary powering, as NumPy does
        if n & 1:
            result = power if result is None else np.matmul(result, power)
        n >>= 1
        if n:
            power = np.matmul(power, power)
    return result


# --------------------------------------------------------------------------------------------
# Decompositions


@implements(np.linalg.cholesky)
def cholesky(a, /, *, upper=False):
    a = _square(a, "cholesky")
    if upper:  # NumPy reads the upper triangle: that of aᴴ is the lower one
        return L.conj_transpose(L.cholesky.bind(L.conj_transpose(a)))
    return L.cholesky.bind(a)


def _uplo(UPLO) -> str:
    if UPLO not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    return UPLO


@implements(np.linalg.eigh)
def eigh(a, UPLO="L"):
    w, v = _factors(L.eigh, _square(a, "eigh"), uplo=_uplo(UPLO), vectors=True)
    return EighResult(_real_values(w), v)


@implements(np.linalg.eigvalsh)
def eigvalsh(a, UPLO="L"):
    return L.eigh.bind(_square(a, "eigvalsh"), uplo=_uplo(UPLO), vectors=False)


@implements(np.linalg.eig)
def eig(a):
    w, v = _factors(L.eig, _square(a, "eig"), vectors=True)
    return EigResult(w, v)


@implements(np.linalg.eigvals)
def eigvals(a):
    return L.eig.bind(_square(a, "eigvals"), vectors=False)


def _hermitian_svd(a, compute_uv: bool):
    """NumPy's SVD of a Hermitian matrix, from its eigendecomposition (same values, same
    vectors), composed of differentiable ops."""
    if not compute_uv:
        s = np.abs(eigvalsh(a))
        order = observe_index(np.argsort, -s, axis=-1, kind="stable")
        return np.take_along_axis(s, order, axis=-1)
    w, u = eigh(a)
    sgn = observe(np.sign, w)
    s = np.abs(w)
    order = observe_index(np.argsort, -s, axis=-1, kind="stable")
    sgn = np.take_along_axis(sgn, order, axis=-1)
    s = np.take_along_axis(s, order, axis=-1)
    u = np.take_along_axis(u, np.broadcast_to(order[..., None, :], tuple(u.shape)), axis=-1)
    return SVDResult(u, s, L.conj_transpose(u * sgn[..., None, :]))


@implements(np.linalg.svd)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    a = _matrices(a, "svd")
    if hermitian:
        return _hermitian_svd(_square(a, "svd(hermitian=True)"), compute_uv)
    if not compute_uv:
        return L.svd.bind(a, full_matrices=False, compute_uv=False)
    square = a.shape[-1] == a.shape[-2]  # full and reduced agree: the differentiable one
    u, s, vh = _factors(L.svd, a, full_matrices=bool(full_matrices) and not square, compute_uv=True)
    return SVDResult(u, _real_values(s), vh)


@implements(np.linalg.svdvals)
def svdvals(x, /):
    return svd(x, compute_uv=False)


@implements(np.linalg.qr)
def qr(a, mode="reduced"):
    a = _matrices(a, "qr")
    if mode == "full":
        mode = "reduced"
    if mode in ("raw", "economic"):
        raise NotImplementedError(
            f"qr(mode={mode!r}) returns Householder reflectors, which dualad does not differentiate; "
            "use mode='reduced', 'complete' or 'r'"
        )
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"Unrecognized mode '{mode}'")
    if mode == "complete" and a.shape[-1] == a.shape[-2]:
        mode = "reduced"
    m, n = a.shape[-2:]
    if m < n:  # wide: Q from the leading square block, R = Qᴴ A (Householder gives the same)
        q, _ = _factors(L.qr, a[..., :, :m], mode="reduced")
        r = np.matmul(L.conj_transpose(q), a)
        return r if mode == "r" else QRResult(q, r)
    if mode == "r":
        return L.qr.bind(a, mode="r")
    if mode == "complete" and n == 0:  # no columns: Q = I, nothing to differentiate
        batch = tuple(a.shape[:-2])
        return QRResult(np.broadcast_to(np.eye(m, dtype=strip(a).dtype), batch + (m, m)).copy(), a[..., :, :0] * 0)
    if mode == "complete":  # tall: the reduced factors, Householder's completion of Q
        q, r = _factors(L.qr, a, mode="reduced")
        zeros = np.zeros(tuple(r.shape[:-2]) + (m - n, n), dtype=strip(r).dtype)
        return QRResult(np.concatenate([q, _householder_completion(q)], axis=-1), np.concatenate([r, zeros], axis=-2))
    q, r = _factors(L.qr, a, mode=mode)
    return QRResult(q, r)


def _householder_completion(q):
    """The last m − n columns of LAPACK's complete Q whose first n columns are ``q`` (m × n,
    m > n), as a differentiable function of ``q``.  Householder's Q is ``I − Y T Yᴴ`` with Y
    unit lower trapezoidal; eliminating Y and T leaves ``[(Q₁ − I) W; I + Q₂ W]`` with
    ``W = (Q₁ − I)⁻ᴴ Q₂ᴴ``, Q₁ the top n × n block of ``q`` and Q₂ the rest (the completion
    JAX differentiates too, arXiv:2409.13374); it reproduces LAPACK's columns to rounding."""
    m, n = q.shape[-2:]
    d = q[..., :n, :] - np.eye(n, dtype=strip(q).dtype)
    w = np.linalg.solve(L.conj_transpose(d), L.conj_transpose(q[..., n:, :]))
    return np.concatenate([np.matmul(d, w), np.eye(m - n, dtype=strip(q).dtype) + np.matmul(q[..., n:, :], w)], axis=-2)


# --------------------------------------------------------------------------------------------
# Pseudo-inverse and least squares


def _cutoff(a, rcond, rtol):
    """NumPy's ``rcond`` for pinv, per matrix (a plain array)."""
    if rcond is None:
        if rtol is np._NoValue:
            rcond = 1e-15
        elif rtol is None:
            rcond = max(a.shape[-2:]) * np.finfo(a.dtype).eps
        else:
            rcond = rtol
    return np.asarray(rcond, dtype=np.float64)


def _lower_hermitian(a):
    """The Hermitian matrix LAPACK's ``*heevd`` sees in ``a``: the strict lower triangle, its
    conjugate transpose above, the real part of the diagonal (so a derivative along any
    direction is the derivative of what NumPy computes)."""
    half = np.tril(a, -1) + 0.5 * np.triu(np.tril(a))
    return half + L.conj_transpose(half)


@implements(np.linalg.pinv)
def pinv(a, rcond=None, hermitian=False, *, rtol=np._NoValue):
    a = _matrices(a, "pinv")
    if rcond is not None and rtol is not np._NoValue:
        raise ValueError("`rtol` and `rcond` can't be both set.")
    cut = _cutoff(a, rcond, rtol)
    if hermitian:  # NumPy's Hermitian algorithm (eigh) reads the lower triangle alone
        a = _lower_hermitian(_square(a, "pinv(hermitian=True)"))
    if np.ndim(cut) and cut.shape != tuple(a.shape[:-2]):
        cut = np.broadcast_to(cut, tuple(a.shape[:-2]))
    return L.pinv.bind(a, rcond=float(cut) if np.ndim(cut) == 0 else cut)


def _lstsq_plain(a, b, rcond):
    x, res, rank, s = np.linalg.lstsq(a, b, rcond=rcond)
    return rank


@implements(np.linalg.lstsq)
def lstsq(a, b, rcond=None):
    a, b = _matrices(a, "lstsq"), as_array(b)
    m, n = a.shape
    if b.shape[0] != m:
        raise np.linalg.LinAlgError("Incompatible dimensions")
    rc = np.finfo(np.result_type(strip(a), strip(b), np.float32)).eps * max(m, n) if rcond is None else float(rcond)
    x = np.matmul(L.pinv.bind(a, rcond=rc), b)
    rank = observe(_lstsq_plain, a, b, rc)
    if rank == n and m > n:
        r = b - np.matmul(a, x)
        residuals = np.sum(r * r, axis=0)
        residuals = np.reshape(residuals, (1,)) if b.ndim == 1 else residuals
    else:
        residuals = np.zeros((0,), dtype=x.dtype)
    return x, residuals, rank, svd(a, compute_uv=False)


@implements(np.linalg.matrix_rank)
def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    return observe(np.linalg.matrix_rank, A, tol=tol, hermitian=hermitian, rtol=rtol)


@implements(np.linalg.cond)
def cond(x, p=None):
    x = _matrices(x, "cond")
    if p is None or p in (2, -2):
        s = svd(x, compute_uv=False)
        return s[..., 0] / s[..., -1] if p != -2 else s[..., -1] / s[..., 0]
    return norm(x, p, axis=(-2, -1)) * norm(inv(x), p, axis=(-2, -1))


# --------------------------------------------------------------------------------------------
# Norms


def _norm_axes(ndim: int, axis) -> tuple:
    """``axis`` as a tuple of negative axes in the order given (a matrix norm's rows, columns)."""
    axes = tuple(range(-ndim, 0)) if axis is None else tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(a, ndim)
        out.append(a % ndim - ndim)
    if len(set(out)) != len(out):
        raise ValueError("Duplicate axes given.")
    return tuple(out)


def _restore(y, axes: tuple, ndim: int, keepdims: bool):
    """A reduction over ``axes`` given back its size-1 axes when ``keepdims``."""
    return np.expand_dims(y, tuple(sorted(a % ndim for a in axes))) if keepdims else y


def _count_nonzero(x, axis):
    return np.sum(x != 0, axis=axis).astype(x.dtype)


def _vector(x, ord, axis: int):
    """The vector norm of order ``ord`` over one axis (the axis removed)."""
    if isinstance(ord, str):
        raise ValueError("Invalid norm order for vectors.")
    if ord is None or ord == 2:
        return np.sqrt(np.sum(abs_squared(x), axis=axis))
    ax = np.abs(x)
    if ord == np.inf:
        return np.max(ax, axis=axis)
    if ord == -np.inf:
        return np.min(ax, axis=axis)
    if ord == 0:
        return observe(_count_nonzero, x, axis)  # piecewise constant: a guard
    if ord == 1:
        return np.sum(ax, axis=axis)
    return np.sum(ax**ord, axis=axis) ** (1.0 / ord)


def _matrix(x, ord, axes: tuple):
    """The matrix norm of order ``ord`` over the (row, column) ``axes`` (both removed)."""
    if ord in (None, "fro"):
        return np.sqrt(np.sum(abs_squared(x), axis=axes))
    xm = np.moveaxis(x, axes, (-2, -1))
    if ord == "nuc":
        return np.sum(svd(xm, compute_uv=False), axis=-1)
    if ord in (2, -2):
        s = svd(xm, compute_uv=False)
        return np.max(s, axis=-1) if ord == 2 else np.min(s, axis=-1)  # ties share, as in JAX
    if ord in (1, -1, np.inf, -np.inf):
        red = np.max if ord > 0 else np.min
        return red(np.sum(np.abs(xm), axis=-2 if ord in (1, -1) else -1), axis=-1)
    raise ValueError("Invalid norm order for matrices.")


@implements(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    x = as_array(x)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    nd = x.ndim
    if axis is None and ord is None:
        y = np.sqrt(np.sum(abs_squared(x)))
        return np.reshape(y, (1,) * nd) if keepdims else y
    if axis is None and nd > 2:
        raise ValueError("Improper number of dimensions to norm.")
    axes = _norm_axes(nd, axis)
    if len(axes) == 1:
        return _restore(_vector(x, ord, axes[0]), axes, nd, keepdims)
    if len(axes) == 2:
        return _restore(_matrix(x, ord, axes), axes, nd, keepdims)
    raise ValueError("Improper number of dimensions to norm.")


@implements(np.linalg.matrix_norm)
def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """``np.linalg.matrix_norm``: :func:`norm` over the last two axes.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> g = ad.grad(lambda a: np.linalg.matrix_norm(a, ord="nuc"))(np.diag([3.0, 2.0]))
    >>> g
    array([[1., 0.],
           [0., 1.]])
    """
    return norm(_matrices(x, "matrix_norm"), ord=ord, axis=(-2, -1), keepdims=keepdims)


@implements(np.linalg.vector_norm)
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """``np.linalg.vector_norm``: the norm of the vectors along ``axis`` (all axes, or a tuple
    of axes, taken as one).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> ad.grad(lambda v: np.linalg.vector_norm(v, ord=1))(np.array([1.0, -2.0]))
    array([ 1., -1.])
    """
    x = as_array(x)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    nd = x.ndim
    axes = _norm_axes(nd, axis)
    flat = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
    flat = np.reshape(flat, tuple(flat.shape[: nd - len(axes)]) + (-1,))
    return _restore(_vector(flat, ord, -1), axes, nd, keepdims)


# --------------------------------------------------------------------------------------------
# Products, tensor solves and the array-API names


@implements(np.linalg.multi_dot)
def multi_dot(arrays, *, out=None):
    if out is not None:
        raise TypeError("np.linalg.multi_dot(..., out=...) cannot write derivatives into an existing array; drop out=")
    ops = [as_array(a) for a in arrays]
    if len(ops) < 2:
        raise ValueError("Expecting at least two arrays.")
    first_vec, last_vec = ops[0].ndim == 1, ops[-1].ndim == 1
    if first_vec:
        ops[0] = np.reshape(ops[0], (1, -1))
    if last_vec:
        ops[-1] = np.reshape(ops[-1], (-1, 1))
    y = functools.reduce(np.matmul, ops)
    if first_vec and last_vec:
        return y[0, 0]
    if first_vec or last_vec:
        return np.reshape(y, (-1,))
    return y


@implements(np.linalg.tensorsolve)
def tensorsolve(a, b, axes=None):
    a, b = as_array(a), as_array(b)
    an = a.ndim
    if axes is not None:
        order = [k for k in range(an) if k not in [ax % an for ax in axes]] + [ax % an for ax in axes]
        a = np.transpose(a, order)
    oldshape = tuple(a.shape[-(an - b.ndim):])
    size = int(np.prod(oldshape, dtype=np.int64))
    if int(np.prod(a.shape[: b.ndim], dtype=np.int64)) != size:
        raise np.linalg.LinAlgError("Input arrays must satisfy the requirement prod(a.shape[b.ndim:]) == prod(a.shape[:b.ndim])")
    x = solve(np.reshape(a, (size, size)), np.reshape(b, (size,)))
    return np.reshape(x, oldshape)


@implements(np.linalg.tensorinv)
def tensorinv(a, ind=2):
    a = as_array(a)
    ind = int(ind)
    if ind <= 0:
        raise ValueError("Invalid ind argument.")
    shape = tuple(a.shape)
    size = int(np.prod(shape[:ind], dtype=np.int64))
    return np.reshape(inv(np.reshape(a, (size, -1))), shape[ind:] + shape[:ind])


def _cross_parts(a, b):
    """The cross product of vectors along the last axis (2 or 3 components each)."""
    na, nb = a.shape[-1], b.shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n(dimension must be 2 or 3)")
    a0, a1, b0, b1 = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    z = a0 * b1 - a1 * b0
    if na == 2 and nb == 2:
        return z, False
    if na == 3 and nb == 3:
        a2, b2 = a[..., 2], b[..., 2]
        return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, z], axis=-1), True
    if na == 2:
        b2 = b[..., 2]
        return np.stack([a1 * b2, -(a0 * b2), z], axis=-1), True
    a2 = a[..., 2]
    return np.stack([-(a2 * b1), a2 * b0, z], axis=-1), True


@implements(np.cross)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    a, b = as_array(a), as_array(b)
    if axis is not None:
        axisa = axisb = axisc = axis
    y, vector = _cross_parts(np.moveaxis(a, axisa, -1), np.moveaxis(b, axisb, -1))
    return np.moveaxis(y, -1, axisc) if vector else y


@implements(np.linalg.cross)
def linalg_cross(x1, x2, /, *, axis=-1):
    x1, x2 = as_array(x1), as_array(x2)
    if x1.shape[axis] != 3 or x2.shape[axis] != 3:
        raise ValueError("Both input arrays must be (arrays of) 3-dimensional vectors")
    return cross(x1, x2, axis=axis)


@implements(np.vander)
def vander(x, N=None, increasing=False):
    x = as_array(x)
    if x.ndim != 1:
        raise ValueError("x must be a one-dimensional array or sequence.")
    n = x.shape[0] if N is None else int(N)
    cols, power = [], None
    for _ in range(n):  # repeated products: exact derivatives, x**0 included
        power = np.ones(tuple(x.shape), dtype=x.dtype if x.dtype.kind == "f" else np.float64) if power is None else power * x
        cols.append(power)
    if not cols:
        return np.zeros((x.shape[0], 0), dtype=x.dtype)
    return np.stack(cols if increasing else cols[::-1], axis=-1)


@implements(np.linalg.matrix_transpose, *( [np.matrix_transpose] if hasattr(np, "matrix_transpose") else []))
def matrix_transpose(x, /):
    x = as_array(x)
    if x.ndim < 2:
        raise ValueError(f"Input array must be at least 2-dimensional, but it is {x.ndim}")
    return _mT(x)


@implements(np.linalg.outer)
def linalg_outer(x1, x2, /):
    x1, x2 = as_array(x1), as_array(x2)
    if x1.ndim != 1 or x2.ndim != 1:
        raise ValueError(f"Input arrays must be one-dimensional, but they are x1.ndim={x1.ndim} and x2.ndim={x2.ndim}")
    return x1[:, None] * x2[None, :]


@implements(np.linalg.trace)
def linalg_trace(x, /, *, offset=0, dtype=None):
    return np.trace(as_array(x), offset=offset, axis1=-2, axis2=-1, dtype=dtype)


@implements(np.linalg.diagonal)
def linalg_diagonal(x, /, *, offset=0):
    return np.diagonal(as_array(x), offset=offset, axis1=-2, axis2=-1)


@implements(np.linalg.matmul)
def linalg_matmul(x1, x2, /):
    return np.matmul(x1, x2)


@implements(np.linalg.tensordot)
def linalg_tensordot(x1, x2, /, *, axes=2):
    return np.tensordot(x1, x2, axes=axes)


@implements(np.linalg.vecdot, *([np.vecdot] if hasattr(np, "vecdot") else []))
def vecdot(x1, x2, /, *, axis=-1):
    x1, x2 = as_array(x1), as_array(x2)
    if x1.dtype.kind == "c":
        x1 = np.conj(x1)
    return np.sum(x1 * x2, axis=axis)
