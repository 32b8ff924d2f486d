"""NumPy's statistics on active values: quantiles, NaN-ignoring reductions, cov, corrcoef, ptp,
weighted counts (``bincount``, ``histogram`` with active weights).

All are compositions of the structural handlers of :mod:`dualad.core.numpy_api` and the rules:
a quantile is a gather of two order statistics of the sorted values and their interpolation
(NumPy's every ``method``: where NumPy's method puts the quantile between order statistics is
read off NumPy itself, applied to the positions ``0 .. n-1``); a NaN-ignoring reduction replaces
the NaNs by the reduction's identity (a plain mask).  No derivative is written here.
"""

from __future__ import annotations

import numpy as np

from ..rules import structural as S
from . import numpy_api as api
from .dispatch import Active, observe, strip

__all__ = [
    "quantile", "percentile", "median", "nanquantile", "nanpercentile", "nanmedian", "nansum", "nanmean",
    "nanmax", "nanmin", "nanprod", "nanvar", "nanstd", "nancumsum", "nancumprod", "ptp", "cov", "corrcoef",
    "bincount", "histogram",
]


def _plain_q(q, name):
    if isinstance(q, Active):
        raise TypeError(f"np.{name}: q carries no derivative in dualad; pass dualad.primal(q)")
    return np.asarray(q, dtype=np.float64)


def _rows(a, axis):
    """``a`` with the reduced axes moved last and merged: ``(rows, kept shape, keepdims shape)``."""
    nd = a.ndim
    axes = [ax % nd for ax in api.axes_of(axis, nd)] if nd else []
    keep = [i for i in range(nd) if i not in axes]
    moved = api.transpose(a, keep + axes) if nd else api.reshape(a, (1,))
    kept = tuple(a.shape[i] for i in keep)
    keepdims_shape = tuple(1 if i in axes else a.shape[i] for i in range(nd))
    return api.reshape(moved, kept + (-1,)), kept, keepdims_shape


def _positions(counts, q, method):
    """Per row (``counts`` non-NaN values each), where each quantile lies among the order
    statistics: NumPy's own quantile of the positions ``0 .. k-1``."""
    v = np.full(counts.shape + (q.size,), np.nan)
    for k in np.unique(counts):
        if k > 0:
            v[counts == k] = np.quantile(np.arange(k, dtype=np.float64), q.ravel(), method=method)
    return v


def _quantile(a, q, axis, method, keepdims, skip_nan, name):
    q_given = q  # as given: NumPy promotes with a Python float weakly
    q = _plain_q(q, name)
    out_dtype = np.quantile(np.zeros(1, dtype=api.as_array(a).dtype), q_given, method=method).dtype  # NumPy's promotion
    if np.any((q < 0) | (q > 1)):
        raise ValueError("Quantiles must be in the range [0, 1]")
    a = api.as_array(a)
    rows, kept, keepdims_shape = _rows(a, axis)
    s = api.sort(rows, axis=-1)
    n = rows.shape[-1]
    counts = observe(lambda r: np.sum(~np.isnan(r), axis=-1), rows) if skip_nan else np.full(kept, n)
    v = _positions(np.asarray(counts), q, method)
    empty = np.isnan(v)
    v = np.where(empty, 0.0, v)
    lo = np.floor(v).astype(np.intp)
    hi = np.minimum(lo + 1, np.maximum(np.asarray(counts)[..., None] - 1, 0))
    g = (v - lo).astype(out_dtype)
    s = api.astype(s, out_dtype) if s.dtype != out_dtype else s
    y = api.take_along_axis(s, lo, axis=-1) * (1 - g) + api.take_along_axis(s, hi, axis=-1) * g
    if empty.any():  # no values in a row: NaN, as NumPy
        y = api.where(empty, np.full(empty.shape, np.nan, dtype=g.dtype), y)
    return _arrange(y, q, kept, keepdims_shape, keepdims)


def _arrange(y, q, kept, keepdims_shape, keepdims):
    """Per-row quantiles ``(rows, q.size)`` in NumPy's layout: ``q.shape + kept shape``."""
    y = api.reshape(y, (keepdims_shape if keepdims else kept) + q.shape)
    nd = y.ndim
    return api.transpose(y, tuple(range(nd - q.ndim, nd)) + tuple(range(nd - q.ndim))) if q.ndim else y


def _weight_rows(weights, shape, axis, name):
    """The weights as plain rows matching :func:`_rows` of the data (1-D weights go along an
    integer ``axis``, as NumPy takes them)."""
    w = np.asarray(strip(weights), dtype=np.float64)
    if w.shape != shape:
        if w.ndim != 1 or not isinstance(axis, (int, np.integer)) or w.shape[0] != shape[axis]:
            raise ValueError(f"np.{name}: weights must have the shape of a, or be 1-D along an integer axis; "
                             f"got {w.shape} for a of shape {shape} and axis={axis!r}")
        w = np.broadcast_to(np.expand_dims(w, [i for i in range(len(shape)) if i != axis % len(shape)]), shape)
    if np.any(w < 0):
        raise ValueError("Weights must be non-negative.")
    rows, _, _ = _rows(w, axis)
    return np.asarray(rows)


def _weighted_quantile(a, q, axis, method, keepdims, skip_nan, weights, name):
    """NumPy's weighted ``inverted_cdf``: per row the first order statistic whose cumulative
    weight reaches ``q`` of the total, a gather of ``a`` (the weights select; they carry no
    derivative: the quantile is piecewise constant in them)."""
    if method != "inverted_cdf":
        raise ValueError(f"np.{name}: only method='inverted_cdf' supports weights (NumPy's rule); got method={method!r}")
    q_given, q = q, _plain_q(q, name)
    if np.any((q < 0) | (q > 1)):
        raise ValueError("Quantiles must be in the range [0, 1]")
    a = api.as_array(a)
    out_dtype = np.quantile(np.zeros(1, dtype=a.dtype), q_given, method=method).dtype
    rows, kept, keepdims_shape = _rows(a, axis)
    w = _weight_rows(weights, tuple(a.shape), axis, name)
    values = np.asarray(strip(rows))
    if skip_nan:  # NaNs sort last; with no weight they are never picked
        w = np.where(np.isnan(values), 0.0, w)
    order = np.argsort(values, axis=-1, kind="stable")
    cdf = np.cumsum(np.take_along_axis(w, order, axis=-1), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cdf = (cdf / cdf[..., -1:]).astype(q.dtype)
    cdf[cdf == 0] = -1  # leading zero weights: q = 0 picks the first value of positive weight
    n = rows.shape[-1]
    flat = cdf.reshape(-1, n)
    picks = np.stack([np.minimum(np.searchsorted(c, q.ravel(), side="left"), n - 1) for c in flat])
    positions = np.take_along_axis(order.reshape(-1, n), picks, axis=-1).reshape(kept + (q.size,))
    y = api.take_along_axis(rows, positions, axis=-1)
    y = api.astype(y, out_dtype) if isinstance(y, Active) and y.dtype != out_dtype else y
    return _arrange(y, q, kept, keepdims_shape, keepdims)


def _quantile_handler(func, percent: bool, skip_nan: bool):
    """The handler of ``np.quantile`` and its three relatives (percent: q in [0, 100])."""
    name = func.__name__

    def handler(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *, weights=None,
                interpolation=None):
        api.no_out(out, name)
        q = _plain_q(q, name) / 100.0 if percent else q
        if weights is not None:
            return _weighted_quantile(a, q, axis, interpolation or method, keepdims, skip_nan, weights, name)
        return _quantile(a, q, axis, interpolation or method, keepdims, skip_nan, name)

    handler.__name__ = handler.__qualname__ = name
    return api.implements(func)(handler)


quantile = _quantile_handler(np.quantile, False, False)
percentile = _quantile_handler(np.percentile, True, False)
nanquantile = _quantile_handler(np.nanquantile, False, True)
nanpercentile = _quantile_handler(np.nanpercentile, True, True)


@api.implements(np.median)
def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    api.no_out(out, "median")
    return _quantile(a, 0.5, axis, "linear", keepdims, False, "median")


@api.implements(np.nanmedian)
def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    api.no_out(out, "nanmedian")
    return _quantile(a, 0.5, axis, "linear", keepdims, True, "nanmedian")


# --------------------------------------------------------------------------------------------
# NaN-ignoring reductions: NaNs replaced by the identity (a plain mask)


def _filled(a, value):
    a = api.as_array(a)
    nan = observe(np.isnan, a)
    return api.where(nan, np.asarray(value, dtype=a.dtype if a.dtype.kind == "f" else np.float64), a), nan


def _given(x):
    """A keyword NumPy's nan-functions default to ``np._NoValue``: None when not given."""
    return None if x is np._NoValue else x


def _selected(nan, where):
    """The elements a nan-reduction reads: not NaN, and picked by ``where=`` (if given)."""
    keep = ~nan
    return keep if where is None else np.logical_and(keep, np.asarray(where, dtype=bool))


@api.implements(np.nansum)
def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    api.no_out(out, "nansum")
    return api.sum_(_filled(a, 0.0)[0], axis=axis, dtype=dtype, keepdims=keepdims, initial=_given(initial), where=_given(where))


@api.implements(np.nanprod)
def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    api.no_out(out, "nanprod")
    return api.prod(_filled(a, 1.0)[0], axis=axis, dtype=dtype, keepdims=keepdims, initial=_given(initial), where=_given(where))


@api.implements(np.nancumsum)
def nancumsum(a, axis=None, dtype=None, out=None):
    return api.cumsum(_filled(a, 0.0)[0], axis=axis, dtype=dtype, out=out)


@api.implements(np.nancumprod)
def nancumprod(a, axis=None, dtype=None, out=None):
    return api.cumprod(_filled(a, 1.0)[0], axis=axis, dtype=dtype, out=out)


@api.implements(np.nanmean)
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, where=np._NoValue):
    api.no_out(out, "nanmean")
    filled, nan = _filled(a, 0.0)
    with np.errstate(all="ignore"):  # an all-NaN slice is NaN (NumPy warns; the mean is 0/0)
        return api.mean(filled, axis=axis, dtype=dtype, keepdims=keepdims, where=_selected(nan, _given(where)))


@api.implements(np.nanvar)
def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=np._NoValue, mean=np._NoValue,
           correction=np._NoValue):
    api.no_out(out, "nanvar")
    filled, nan = _filled(a, 0.0)
    with np.errstate(all="ignore"):
        return api.var(filled, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims, where=_selected(nan, _given(where)),
                       mean=_given(mean), correction=_given(correction))


@api.implements(np.nanstd)
def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=np._NoValue, mean=np._NoValue,
           correction=np._NoValue):
    return np.sqrt(nanvar(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, where=where, mean=mean,
                          correction=correction))


def _nan_extreme(a, axis, keepdims, fill, reduce, initial, where):
    filled, nan = _filled(a, fill)
    initial, where = _given(initial), _given(where)
    y = reduce(filled, axis=axis, keepdims=keepdims, initial=initial, where=where)
    if initial is None:  # (with initial= an all-NaN slice is initial, as in NumPy)
        all_nan = np.all(~_selected(nan, where), axis=axis, keepdims=keepdims)
        if np.any(all_nan):  # NumPy's result there is NaN
            y = api.where(all_nan, np.full(np.shape(all_nan), np.nan, dtype=filled.dtype), y)
    return y


@api.implements(np.nanmax)
def nanmax(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    api.no_out(out, "nanmax")
    return _nan_extreme(a, axis, keepdims, -np.inf, api.amax, initial, where)


@api.implements(np.nanmin)
def nanmin(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
    api.no_out(out, "nanmin")
    return _nan_extreme(a, axis, keepdims, np.inf, api.amin, initial, where)


@api.implements(np.ptp)
def ptp(a, axis=None, out=None, keepdims=False):
    api.no_out(out, "ptp")
    return api.amax(a, axis=axis, keepdims=keepdims) - api.amin(a, axis=axis, keepdims=keepdims)


# --------------------------------------------------------------------------------------------
# Covariance


@api.implements(np.cov)
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    """NumPy's estimator, weights included: ``(X − avg)·w (X − avg)ᵀ / fact``."""
    x = api.atleast_2d(api.as_array(m))
    dt = np.result_type(x.dtype, np.float64) if dtype is None else np.dtype(dtype)  # NumPy computes in float64
    x = api.astype(x, dt) if isinstance(x, Active) else np.asarray(x, dtype=dt)
    if not rowvar and x.shape[0] != 1:
        x = api.transpose(x)
    if y is not None:
        y = api.atleast_2d(api.as_array(y))
        if not rowvar and y.shape[0] != 1:
            y = api.transpose(y)
        x = api.concatenate([x, y], axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    w = None
    for weights in (fweights, aweights):
        if weights is not None:
            weights = api.as_array(weights)
            w = weights if w is None else w * weights
    n = x.shape[1]
    if w is None:
        avg, v1, fact = api.mean(x, axis=1, keepdims=True), None, n - ddof
    else:
        v1 = api.sum_(w)
        avg = api.sum_(x * w, axis=1, keepdims=True) / v1
        fact = v1 - ddof if aweights is None else v1 - ddof * api.sum_(w * api.as_array(aweights)) / v1
    xc = x - avg
    xt = api.transpose(xc)
    if np.dtype(xt.dtype).kind == "c":  # NumPy's estimator conjugates the second factor
        xt = np.conjugate(xt)
    c = api.matmul(xc if w is None else xc * w, xt) / fact
    return api.squeeze(c)


@api.implements(np.corrcoef)
def corrcoef(x, y=None, rowvar=True, bias=np._NoValue, ddof=np._NoValue, *, dtype=None):
    c = cov(x, y, rowvar, dtype=dtype)
    if c.ndim == 0:
        return c / c
    d = api.diagonal(c)
    std = np.sqrt(d)
    c = c / api.reshape(std, (-1, 1)) / api.reshape(std, (1, -1))
    return np.clip(c, -1.0, 1.0)


# --------------------------------------------------------------------------------------------
# Weighted counts: the weights are summed per bin (a scatter-add); which bin is plain


@api.implements(np.bincount)
def bincount(x, weights=None, minlength=0):
    """With active ``weights``: their sums per value of ``x`` (derivative 1 into the value's bin).
    ``x`` itself is a count of integers: it carries no derivative."""
    idx = np.asarray(observe(np.asarray, x) if isinstance(x, Active) else x)
    if weights is None or not isinstance(weights, Active):
        return np.bincount(idx, weights=None if weights is None else np.asarray(weights), minlength=minlength)
    # NumPy's own checks (negative or non-integer x, mismatched lengths) on the plain values
    counts = np.bincount(idx, weights=np.zeros(np.shape(strip(weights))), minlength=minlength)
    w = api.as_array(weights)
    return S.scatter_add.bind(w, flat=idx.astype(np.intp, copy=False), shape=counts.shape, batch=0)


@api.implements(np.histogram)
def histogram(a, bins=10, range=None, density=None, weights=None):
    """NumPy's histogram; with active ``weights`` the weights summed per bin.  The bin edges and
    which bin an element falls in are NumPy's, on the plain values (no derivative in ``a``:
    the counts are piecewise constant in it)."""
    values = np.asarray(observe(np.asarray, a) if isinstance(a, Active) else a)
    if weights is None or not isinstance(weights, Active):
        return np.histogram(values, bins=bins, range=range, density=density,
                            weights=None if weights is None else np.asarray(weights))
    w = api.as_array(weights)
    if tuple(w.shape) != values.shape:
        raise ValueError("weights should have the same shape as a.")
    edges = np.histogram_bin_edges(values, bins=bins, range=range)
    flat_values, flat_w = values.ravel(), api.ravel(w)
    # NumPy's bins: [e_i, e_i+1), the last one closed; values outside the edges are not counted
    inside = (flat_values >= edges[0]) & (flat_values <= edges[-1])
    where_in = np.flatnonzero(inside)
    which = np.clip(np.searchsorted(edges, flat_values[where_in], side="right") - 1, 0, edges.size - 2)
    hist = S.scatter_add.bind(api.getitem(flat_w, where_in), flat=which, shape=(edges.size - 1,), batch=0)
    if density:
        hist = hist / np.diff(edges) / api.sum_(hist)
    return hist, edges
