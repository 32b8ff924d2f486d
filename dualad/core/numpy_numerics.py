"""NumPy's numerical routines on active values: grids, finite differences, quadrature,
interpolation, convolution, polynomials, cumulative sums and phase unwrapping.

``linspace``/``logspace``/``geomspace`` with active endpoints, ``gradient``, ``trapezoid``,
``interp`` (in ``x``, ``xp`` and ``fp``), ``convolve``/``correlate``, ``polyval``, ``polyfit``,
``polyadd``/``polysub``/``polymul``/``polyder``/``polyint``/``polydiv``, ``poly`` (a product of
linear factors), ``roots`` (the eigenvalues of the companion matrix), ``ediff1d``,
``cumulative_sum``/``cumulative_prod`` and ``unwrap``: each is NumPy's formula written on the
structural handlers and the rules, so both modes and every nesting order follow.  Which interval
or window an element falls in, and which zero coefficients are stripped, is plain (decided on the
values, a guard on recorded tapes).  No derivative is written here.
"""

from __future__ import annotations

import numpy as np

from ..rules import structural as S
from . import numpy_api as api
from .dispatch import Active, observe, strip

__all__ = ["linspace", "logspace", "geomspace", "gradient", "trapezoid", "interp", "convolve", "correlate",
           "polyval", "polyfit", "ediff1d", "cumulative_sum", "cumulative_prod", "unwrap", "polyadd", "polysub",
           "polymul", "polyder", "polyint", "polydiv", "poly", "roots"]


def _moved_grid(y, axis):
    return api.moveaxis(y, 0, axis) if axis != 0 else y


@api.implements(np.linspace)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    """``start + t·(stop − start)`` with ``t = i / div``; the last point is ``stop`` itself."""
    num = int(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    start, stop = api.as_array(start), api.as_array(stop)
    dt = np.result_type(strip(start), strip(stop), float(num))
    start, stop = (api.astype(v, dt) if isinstance(v, Active) else np.asarray(v, dtype=dt) for v in (start, stop))
    div = (num - 1) if endpoint else num
    delta = stop - start
    nd = max(start.ndim, stop.ndim)
    t = (np.arange(num, dtype=dt) / div if div > 0 else np.zeros(num, dtype=dt)).reshape((num,) + (1,) * nd)
    y = start + t * delta
    if endpoint and num > 1:
        last = api.reshape(api.broadcast_to(stop, tuple(y.shape[1:])), (1,) + tuple(y.shape[1:]))
        y = api.concatenate([api.getitem(y, slice(0, num - 1)), last], axis=0)
    y = _moved_grid(y, api.axis_of(axis, y.ndim) % y.ndim)
    if dtype is not None:
        y = api.astype(y, dtype)
    if retstep:
        return y, (delta / div if div > 0 else delta * np.nan)
    return y


@api.implements(np.logspace)
def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    y = linspace(start, stop, num=num, endpoint=endpoint, axis=0)
    base = api.operand(base)
    if np.ndim(strip(base)):
        base = api.reshape(base, (1,) + tuple(np.shape(strip(base))))
    y = np.power(base, y)
    y = _moved_grid(y, api.axis_of(axis, y.ndim) % y.ndim)
    return api.astype(y, dtype) if dtype is not None else y


@api.implements(np.geomspace)
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """``exp`` of a linspace of logs, with the ends exactly ``start`` and ``stop``, as NumPy."""
    start, stop = api.as_array(start), api.as_array(stop)
    s0, s1 = np.asarray(strip(start)), np.asarray(strip(stop))
    if np.any(s0 == 0) or np.any(s1 == 0):
        raise ValueError("Geometric sequence cannot include zero")
    if np.any(np.sign(s0) != np.sign(s1)):
        raise NotImplementedError("np.geomspace between endpoints of opposite signs is complex: not supported")
    sign = np.sign(s0)
    y = np.exp(linspace(np.log(start * sign), np.log(stop * sign), num=num, endpoint=endpoint, axis=0)) * sign
    num = y.shape[0]
    parts = [api.reshape(api.broadcast_to(start, tuple(y.shape[1:])), (1,) + tuple(y.shape[1:]))] if num else []
    if endpoint and num > 1:
        stop_row = api.reshape(api.broadcast_to(stop, tuple(y.shape[1:])), (1,) + tuple(y.shape[1:]))
        y = api.concatenate(parts + [api.getitem(y, slice(1, num - 1)), stop_row], axis=0)
    elif num:
        y = api.concatenate(parts + [api.getitem(y, slice(1, num))], axis=0)
    y = _moved_grid(y, api.axis_of(axis, y.ndim) % y.ndim)
    return api.astype(y, dtype) if dtype is not None else y


# --------------------------------------------------------------------------------------------
# Finite differences and quadrature


def _along(v, axis, nd):
    """A 1-D ``v`` shaped to broadcast along ``axis`` of an ``nd``-dimensional array."""
    shape = [1] * nd
    shape[axis] = -1
    return api.reshape(v, tuple(shape)) if not isinstance(v, (int, float)) else v


def _gradient_1d(f, dx, axis, edge_order):
    """NumPy's second-order accurate differences along one axis, spacing ``dx`` (n − 1 steps)."""
    n, nd = f.shape[axis], f.ndim
    if n < edge_order + 1:
        raise ValueError("Shape of array too small to calculate a numerical gradient, at least (edge_order + 1) elements are required.")
    sl = lambda a, b: api.slice_along(f, axis, a, b)
    d = lambda a, b: api.getitem(dx, slice(a, b))
    dx1, dx2 = d(0, n - 2), d(1, n - 1)
    a = _along(-dx2 / (dx1 * (dx1 + dx2)), axis, nd)
    b = _along((dx2 - dx1) / (dx1 * dx2), axis, nd)
    c = _along(dx1 / (dx2 * (dx1 + dx2)), axis, nd)
    inner = a * sl(0, n - 2) + b * sl(1, n - 1) + c * sl(2, n)
    if edge_order == 1:
        first = (sl(1, 2) - sl(0, 1)) / d(0, 1)
        last = (sl(n - 1, n) - sl(n - 2, n - 1)) / d(n - 2, n - 1)
    else:
        h1, h2 = d(0, 1), d(1, 2)
        first = (-(2.0 * h1 + h2) / (h1 * (h1 + h2))) * sl(0, 1) + ((h1 + h2) / (h1 * h2)) * sl(1, 2) - (h1 / (h2 * (h1 + h2))) * sl(2, 3)
        h1, h2 = d(n - 3, n - 2), d(n - 2, n - 1)
        last = ((h2 / (h1 * (h1 + h2))) * sl(n - 3, n - 2) - ((h2 + h1) / (h1 * h2)) * sl(n - 2, n - 1)
                + ((2.0 * h2 + h1) / (h2 * (h1 + h2))) * sl(n - 1, n))
    return api.concatenate([first, inner, last], axis=axis)


@api.implements(np.gradient)
def gradient(f, *varargs, axis=None, edge_order=1):
    f = api.as_array(f)
    if edge_order not in (1, 2):
        raise ValueError("'edge_order' greater than 2 not supported")
    axes = [a % f.ndim for a in api.axes_of(axis, f.ndim)] if axis is not None else list(range(f.ndim))
    if isinstance(axis, (int, np.integer)):
        axes = [int(axis) % f.ndim]
    spacing = list(varargs) if varargs else [1.0]
    if len(spacing) == 1 and len(axes) > 1:
        spacing = spacing * len(axes)
    if len(spacing) != len(axes):
        raise TypeError("invalid number of arguments")
    out = []
    for ax, h in zip(axes, spacing):
        n = f.shape[ax]
        h = api.as_array(h)
        if h.ndim == 0:
            dx = api.broadcast_to(api.astype(h, f.dtype) if isinstance(h, Active) else h.astype(f.dtype), (n - 1,))
        elif h.shape[0] != n:
            raise ValueError("when 1d, distances must match the length of the corresponding dimension")
        else:
            dx = api.diff(h)
        out.append(_gradient_1d(f, dx, ax, edge_order))
    return out[0] if len(out) == 1 else tuple(out)


@api.implements(np.trapezoid)
def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = api.as_array(y)
    ax = api.axis_of(axis, y.ndim) % y.ndim
    n = y.shape[ax]
    if x is None:
        d = api.operand(dx)
    else:
        x = api.as_array(x)
        d = api.diff(x, axis=axis if x.ndim > 1 else 0)  # an N-D x along y's axis, as NumPy
        if x.ndim == 1:
            d = _along(d, ax, y.ndim)
    return api.sum_(d * (api.slice_along(y, ax, 1, n) + api.slice_along(y, ax, 0, n - 1)) / 2.0, axis=ax)


# --------------------------------------------------------------------------------------------
# Interpolation


def _interp_index(x, xp):
    """The segment of each ``x``: ``xp[i] <= x < xp[i+1]``, clipped to the valid segments."""
    i = np.searchsorted(xp, x, side="right") - 1
    return np.clip(i, 0, max(len(xp) - 2, 0))


def _periodic(x, xp, fp, period):
    """NumPy's reduction of a periodic ``interp`` to a plain one: ``x`` and ``xp`` modulo the
    period, ``xp`` sorted, one knot wrapped around at each end (differentiable in all four)."""
    if not np.all(strip(period) != 0):
        raise ValueError("period must be a non-zero value")
    period = abs(api.operand(period))
    x, xp = x % period, xp % period
    order = np.asarray(observe(np.argsort, xp))
    xp, fp = api.take(xp, order), api.take(fp, order)
    xp = api.concatenate([api.getitem(xp, slice(-1, None)) - period, xp, api.getitem(xp, slice(0, 1)) + period])
    return x, xp, api.concatenate([api.getitem(fp, slice(-1, None)), fp, api.getitem(fp, slice(0, 1))])


@api.implements(np.interp)
def interp(x, xp, fp, left=None, right=None, period=None):
    """Linear interpolation, differentiable in ``x``, ``xp`` and ``fp`` (and ``period``); at a
    knot the right segment's slope (the side NumPy's search takes); constant outside
    (``left``/``right``), or periodic."""
    x, xp, fp = api.as_array(x), api.as_array(xp), api.as_array(fp)
    if xp.ndim != 1 or fp.ndim != 1 or xp.shape[0] != fp.shape[0]:
        raise ValueError("fp and xp are not of the same length.")
    if period is not None:
        x, xp, fp = _periodic(x, xp, fp, period)
        left = right = None
    i = observe(_interp_index, x, xp)
    i = np.asarray(i)
    if xp.shape[0] == 1:
        return api.broadcast_to(api.reshape(fp, ()), tuple(x.shape)) * 1.0
    x0, x1 = api.take(xp, i), api.take(xp, i + 1)
    f0, f1 = api.take(fp, i), api.take(fp, i + 1)
    y = f0 + (f1 - f0) / (x1 - x0) * (x - x0)
    below = observe(lambda x, xp: x < xp[0], x, xp)
    above = observe(lambda x, xp: x > xp[-1], x, xp)
    lo = api.getitem(fp, 0) if left is None else api.operand(left)
    hi = api.getitem(fp, -1) if right is None else api.operand(right)
    return api.where(above, hi, api.where(below, lo, y))


# --------------------------------------------------------------------------------------------
# Convolution


def _convolve_full(a, v):
    """Full discrete convolution: windows of the zero-padded ``a`` (a gather) against the
    reversed ``v`` (an einsum), bilinear in ``a`` and ``v``."""
    n, m = a.shape[0], v.shape[0]
    padded = api.pad(a, (m - 1, m - 1))
    windows = np.arange(n + m - 1)[:, None] + np.arange(m)[None, :]
    w = S.gather.bind(padded, flat=windows, batch=0)
    return np.einsum("kj,j->k", w, api.flip(v))


def _mode_slice(full, n, m, mode):
    if mode == "full":
        return full
    if mode == "same":
        start = (min(n, m) - 1) // 2
        return api.getitem(full, slice(start, start + max(n, m)))
    if mode == "valid":
        return api.getitem(full, slice(min(n, m) - 1, max(n, m)))
    raise ValueError(f"mode must be one of 'valid', 'same', or 'full' (got {mode!r})")


def _vectors(a, v, name):
    a, v = api.as_array(a), api.as_array(v)
    if a.ndim != 1 or v.ndim != 1:
        raise ValueError(f"np.{name}: object too deep for desired array (1-d inputs expected)")
    if a.shape[0] == 0 or v.shape[0] == 0:
        raise ValueError(f"np.{name}: inputs cannot be empty")
    dt = np.result_type(strip(a), strip(v))
    dt = dt if dt.kind == "f" else np.dtype(np.float64)
    a, v = (api.astype(z, dt) if isinstance(z, Active) else z.astype(dt) for z in (a, v))
    return a, v


@api.implements(np.convolve)
def convolve(a, v, mode="full"):
    a, v = _vectors(a, v, "convolve")
    return _mode_slice(_convolve_full(a, v), a.shape[0], v.shape[0], mode)


@api.implements(np.correlate)
def correlate(a, v, mode="valid"):
    """``c[k] = Σ_n a[n + k]·v[n]``: the convolution with ``v`` reversed (real values)."""
    a, v = _vectors(a, v, "correlate")
    n, m = a.shape[0], v.shape[0]
    full = _convolve_full(a, api.flip(v))
    if m > n and mode == "same":
        start = (n - 1) - (n - 1) // 2
        return api.getitem(full, slice(start, start + m))
    return _mode_slice(full, n, m, mode)


# --------------------------------------------------------------------------------------------
# Polynomials


@api.implements(np.polyval)
def polyval(p, x):
    """Horner's scheme, as NumPy: ``y = y·x + p[i]``."""
    p, x = api.as_array(p), api.operand(x)
    y = np.zeros(np.shape(strip(x)), dtype=np.result_type(strip(p), strip(x), np.float64) if p.dtype.kind != "f" else p.dtype)
    for i in range(p.shape[0]):
        y = y * x + api.getitem(p, i)
    return y


def _polyfit_system(x, y, deg, w):
    """NumPy's least-squares system: the weighted Vandermonde matrix with its columns scaled to
    unit norm, the weighted right-hand side, and the scales."""
    x, y = api.as_array(x), api.as_array(y)
    if x.ndim != 1 or y.ndim not in (1, 2) or x.shape[0] != y.shape[0]:
        raise TypeError("expected 1-D x and 1-D or 2-D y of the same length")
    dt = np.result_type(strip(x), strip(y), np.float64) if x.dtype.kind != "f" or y.dtype.kind != "f" else np.result_type(strip(x), strip(y))
    x = api.astype(x, dt) if isinstance(x, Active) else x.astype(dt)
    lhs = api.stack([x**k if k else np.ones(x.shape[0], dtype=dt) for k in range(deg, -1, -1)], axis=1)
    rhs = y
    if w is not None:
        w = api.as_array(w)
        lhs = lhs * api.reshape(w, (-1, 1))
        rhs = rhs * (w if y.ndim == 1 else api.reshape(w, (-1, 1)))
    scale = np.sqrt(api.sum_(lhs * lhs, axis=0))
    return lhs / scale, rhs, scale


@api.implements(np.polyfit)
def polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    """Least squares on NumPy's scaled Vandermonde matrix: by the normal equations for the
    coefficients alone; with ``full=True`` or ``cov=True`` by ``np.linalg.lstsq`` as NumPy, whose
    residuals, singular values and covariance are differentiable too (the rank is a plain int)."""
    deg = int(deg)
    order = deg + 1
    lhs, rhs, scale = _polyfit_system(x, y, deg, w)
    col = scale if rhs.ndim == 1 else api.reshape(scale, (-1, 1))
    if not (full or cov):
        return np.linalg.solve(api.matmul(api.transpose(lhs), lhs), api.matmul(api.transpose(lhs), rhs)) / col
    n = lhs.shape[0]
    rcond = n * np.finfo(lhs.dtype).eps if rcond is None else rcond
    c, resids, rank, sv = np.linalg.lstsq(lhs, rhs, rcond)
    c = c / col
    if full:
        return c, resids, rank, sv, rcond
    vbase = np.linalg.inv(api.matmul(api.transpose(lhs), lhs)) / api.outer(scale, scale)
    if cov == "unscaled":
        fac = 1.0
    elif n <= order:
        raise ValueError("the number of data points must exceed order to scale the covariance matrix")
    else:
        fac = resids / (n - order)
    return c, (vbase * fac if rhs.ndim == 1 else api.reshape(vbase, tuple(vbase.shape) + (1,)) * fac)


@api.implements(np.ediff1d)
def ediff1d(ary, to_end=None, to_begin=None):
    """The differences of the flattened array, with ``to_begin``/``to_end`` (flattened) around them."""
    a = api.ravel(api.as_array(ary))
    parts = [api.ravel(api.as_array(to_begin))] if to_begin is not None else []
    parts.append(api.getitem(a, slice(1, None)) - api.getitem(a, slice(None, -1)))
    if to_end is not None:
        parts.append(api.ravel(api.as_array(to_end)))
    return api.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]


def _cumulative(name, scan, identity):
    def handler(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        api.no_out(out, name)
        x = api.as_array(x)
        if axis is None:
            if x.ndim > 1:
                raise ValueError(f"np.{name}: axis= is required for arrays of more than one dimension")
            axis = 0
        ax = api.axis_of(axis, max(x.ndim, 1))
        y = scan(x, axis=ax, dtype=dtype)
        if not include_initial:
            return y
        head = list(y.shape)
        head[ax] = 1
        start = np.full(head, identity, dtype=np.result_type(strip(y)))
        return api.concatenate([start, y], axis=ax)

    handler.__name__ = name
    return handler


if hasattr(np, "cumulative_sum"):  # NumPy >= 2.1
    cumulative_sum = api.implements(np.cumulative_sum)(_cumulative("cumulative_sum", api.cumsum, 0))
    cumulative_prod = api.implements(np.cumulative_prod)(_cumulative("cumulative_prod", api.cumprod, 1))


def _unwrap_correction(p, discont, axis, period):
    return np.unwrap(p, discont=discont, axis=axis, period=period) - p


@api.implements(np.unwrap)
def unwrap(p, discont=None, axis=-1, *, period=2 * np.pi):
    """``p`` plus NumPy's piecewise-constant correction (multiples of ``period``), which has no
    derivative: the derivative is 1 everywhere the correction does not jump.  The values equal
    NumPy's up to the rounding of that sum."""
    p = api.as_array(p)
    return p + observe(_unwrap_correction, p, discont=discont, axis=axis, period=period)


def _coefficients(p, name: str):
    """A polynomial's coefficients as a 1-D array (``atleast_1d``, as NumPy)."""
    if isinstance(p, np.poly1d):
        raise TypeError(f"np.{name} of a np.poly1d and active values: pass its coefficients (p.coeffs); "
                        "the result is then a coefficient array")
    p = api.as_array(p)
    return api.reshape(p, (1,)) if p.ndim == 0 else p


def _padded_pair(a1, a2, name: str):
    """Both coefficient arrays, the shorter one with leading zeros of its own dtype (NumPy's way)."""
    a1, a2 = _coefficients(a1, name), _coefficients(a2, name)
    diff = a2.shape[0] - a1.shape[0]
    if diff > 0:
        a1 = api.concatenate([np.zeros(diff, a1.dtype), a1])
    elif diff < 0:
        a2 = api.concatenate([np.zeros(-diff, a2.dtype), a2])
    return a1, a2


@api.implements(np.polyadd)
def polyadd(a1, a2):
    """The sum of two polynomials (the shorter padded with leading zeros)."""
    a1, a2 = _padded_pair(a1, a2, "polyadd")
    return a1 + a2


@api.implements(np.polysub)
def polysub(a1, a2):
    """The difference of two polynomials (the shorter padded with leading zeros)."""
    a1, a2 = _padded_pair(a1, a2, "polysub")
    return a1 - a2


def _leading_zeros_trimmed(p):
    """``p`` without leading zeros (decided on the values, as NumPy's ``poly1d``); ``[0]`` if all are."""
    p = api.as_array(p)
    if p.ndim > 1:
        raise ValueError("Polynomial must be 1d only.")
    first = observe(np.flatnonzero, p)
    if first.size == 0:
        return np.zeros(1, dtype=p.dtype)
    return api.getitem(p, slice(int(first[0]), None)) if first[0] else p


@api.implements(np.polymul)
def polymul(a1, a2):
    """The full convolution of the coefficients, each first stripped of its leading zeros as NumPy
    does (which ones are zero is decided on the values)."""
    a1 = _leading_zeros_trimmed(_coefficients(a1, "polymul"))
    a2 = _leading_zeros_trimmed(_coefficients(a2, "polymul"))
    dt = np.result_type(strip(a1), strip(a2))
    a1, a2 = (api.astype(z, dt) if isinstance(z, Active) else z.astype(dt) for z in (a1, a2))
    return _convolve_full(a1, a2) if a1.shape[0] >= a2.shape[0] else _convolve_full(a2, a1)


@api.implements(np.polyder)
def polyder(p, m=1):
    """NumPy's loop: ``p[:-1] * [n, ..., 1]``, ``m`` times."""
    m = int(m)
    if m < 0:
        raise ValueError("Order of derivative must be positive (see polyint)")
    p = api.as_array(p)
    for _ in range(m):
        n = p.shape[0] - 1
        p = api.getitem(p, slice(None, -1)) * np.arange(n, 0, -1)
    return p


@api.implements(np.polyint)
def polyint(p, m=1, k=None):
    """NumPy's loop: ``p / [n, ..., 1]`` followed by the constant ``k[i]``, ``m`` times
    (differentiable in ``p`` and ``k``)."""
    m = int(m)
    if m < 0:
        raise ValueError("Order of integral must be positive (see polyder)")
    k = np.zeros(m, float) if k is None else api.as_array(k)
    k = api.reshape(k, (1,)) if k.ndim == 0 else k
    if k.shape[0] == 1 and m > 1:
        k = api.getitem(k, 0) * np.ones(m, float)
    if k.shape[0] < m:
        raise ValueError("k must be a scalar or a rank-1 array of length 1 or >m.")
    p = api.as_array(p)
    for i in range(m):
        p = api.concatenate([p / np.arange(p.shape[0], 0, -1), api.getitem(k, slice(i, i + 1))])
    return p


@api.implements(np.polydiv)
def polydiv(u, v):
    """NumPy's long division, step by step: quotient and remainder differentiable in both
    polynomials; the remainder's leading terms NumPy finds close to zero are dropped (decided on
    the values)."""
    u, v = _coefficients(u, "polydiv") + 0.0, _coefficients(v, "polydiv") + 0.0
    w = np.result_type(strip(u), strip(v))
    m, n = u.shape[0] - 1, v.shape[0] - 1
    scale = 1.0 / api.getitem(v, 0)
    r = api.astype(u, w) if isinstance(u, Active) else u.astype(w)
    q = [np.zeros(1, w)] if m - n + 1 <= 0 else []
    for k in range(m - n + 1):
        d = scale * api.getitem(r, k)
        q.append(api.reshape(d, (1,)))
        r = api.setitem_value(r, (slice(k, k + n + 1),), api.getitem(r, slice(k, k + n + 1)) - d * v)
    while r.shape[0] > 1 and observe(np.allclose, api.getitem(r, 0), 0, rtol=1e-14):
        r = api.getitem(r, slice(1, None))
    return api.concatenate(q) if len(q) > 1 else q[0], r


@api.implements(np.poly)
def poly(seq_of_zeros):
    """The coefficients of ``Π (x − zᵢ)``, one linear factor at a time as NumPy; a square matrix's
    eigenvalues are its zeros.  Real when the zeros come in conjugate pairs (decided on the
    values, as NumPy)."""
    z = api.as_array(seq_of_zeros)
    z = api.reshape(z, (1,)) if z.ndim == 0 else z
    if z.ndim == 2 and z.shape[0] == z.shape[1] and z.shape[0] != 0:
        z = np.linalg.eigvals(z)
    elif z.ndim == 1:
        dt = np.dtype(np.mintypecode(np.dtype(z.dtype).char))
        z = api.astype(z, dt) if isinstance(z, Active) else z.astype(dt)
    else:
        raise ValueError("input must be 1d or non-empty square 2d array.")
    if z.shape[0] == 0:
        return 1.0
    dt = np.dtype(z.dtype)
    a = np.ones((1,), dtype=dt)
    for i in range(z.shape[0]):
        zero = api.getitem(z, i)
        a = api.concatenate([a, np.zeros(1, dt)]) - zero * api.concatenate([np.zeros(1, dt), a])
    if dt.kind == "c" and observe(_conjugate_pairs, z):
        a = np.real(a)
    return a


def _conjugate_pairs(z) -> bool:
    roots = np.asarray(z, complex)
    return bool(np.all(np.sort(roots) == np.sort(roots.conjugate())))


@api.implements(np.roots)
def roots(p):
    """The eigenvalues of the companion matrix, as NumPy computes them (same values, same order;
    real when they all are).  Zero leading or trailing coefficients are refused: NumPy strips
    them, which would lose the roots' derivatives in them."""
    p = api.as_array(p)
    p = api.reshape(p, (1,)) if p.ndim == 0 else p
    if p.ndim != 1:
        raise ValueError("Input must be a rank-1 array.")
    nonzero = observe(np.flatnonzero, p)
    if nonzero.size == 0:
        return np.array([])
    if nonzero[0] != 0 or nonzero[-1] != p.shape[0] - 1:
        raise ValueError(
            "np.roots of an active polynomial whose first or last coefficient is exactly 0: NumPy strips "
            "such coefficients, which would lose the roots' derivatives in them. If they are constants, "
            "strip them yourself (the zero roots of trailing zeros are np.zeros(k))"
        )
    n = p.shape[0]
    if n == 1:
        return np.array([])
    row = api.reshape(-api.getitem(p, slice(1, None)) / api.getitem(p, 0), (1, n - 1))
    companion = api.concatenate([row, np.eye(n - 2, n - 1, dtype=p.dtype)], axis=0)
    return np.linalg.eigvals(companion)
