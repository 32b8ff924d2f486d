"""NumPy's elementwise functions on active values: ufunc calls, the ufuncs with two outputs,
the ufunc methods, and elementwise NumPy functions that are compositions of rules.

``np.sin(x)`` finds its rule in the table; ``np.divmod``/``np.modf`` (two outputs) and
``np.float_power``/``np.heaviside`` are compositions of rules; ``reduce``, ``accumulate``,
``outer``, ``reduceat`` and ``at`` are built from the structural handlers of
:mod:`dualad.core.numpy_api` and the ufunc's own rule.  Ufuncs whose results carry no derivative
(comparisons, predicates, ``floor_divide``) return plain arrays.  No derivative is written here.
"""

from __future__ import annotations

import numpy as np

from ..rules import UFUNC_RULES, load_scipy_rules, ufunc_name
from ..rules import structural as S
from . import numpy_api as api
from .dispatch import Active, apply_elementwise, observe, strip
from .observed import observe_index
from .views import write

__all__ = ["handle_ufunc", "PLAIN_UFUNCS", "nan_to_num", "fix", "i0", "real_if_close"]

#: Ufuncs whose results carry no derivative: applied to the plain values.
PLAIN_UFUNCS = {
    np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_xor, np.logical_not,
    np.isnan, np.isinf, np.isfinite, np.signbit, np.floor_divide, np.isnat,
}

# Associative ufuncs whose ``accumulate`` is a parallel scan (others run element by element).
_ASSOCIATIVE = {np.add, np.multiply, np.maximum, np.minimum, np.fmax, np.fmin, np.logaddexp, np.logaddexp2}


def handle_ufunc(ufunc, method, inputs, kwargs):
    """``ufunc.method(*inputs, **kwargs)`` with an active operand (``__array_ufunc__``)."""
    if kwargs.get("out") is not None:
        raise TypeError(
            f"np.{ufunc.__name__}(..., out=...) cannot write derivatives into an existing array; "
            "drop out= and use the returned value"
        )
    kwargs.pop("out", None)
    if method == "__call__":
        return _call(ufunc, inputs, kwargs)
    if ufunc.nin != 2 and method != "at":
        raise ValueError(f"{method} only supported for binary functions")
    methods = {"reduce": _reduce, "accumulate": _accumulate, "outer": _outer, "reduceat": _reduceat, "at": _at}
    if method not in methods:
        raise TypeError(f"np.{ufunc.__name__}.{method} is not supported on active values")
    if method != "at" and ufunc not in UFUNC_RULES and ufunc not in PLAIN_UFUNCS and not (
            load_scipy_rules() and ufunc in UFUNC_RULES):
        _no_rule(ufunc)
    return methods[method](ufunc, *inputs, **kwargs)


def _no_rule(ufunc):
    raise TypeError(
        f"dualad has no derivative rule for {ufunc_name(ufunc)}; declare one with "
        "dualad.rules.elementwise, or apply it to dualad.primal(x) if no derivative is wanted"
    )


# Ufuncs that compute the same function as another's rule.
_ALIASES = {np.radians: np.deg2rad, np.degrees: np.rad2deg}


def _call(ufunc, inputs, kwargs):
    ufunc = _ALIASES.get(ufunc, ufunc)
    if ufunc is np.matmul:
        return api.matmul(*inputs)
    if ufunc is np.vecdot:
        return _vecdot(*inputs, **kwargs)
    if ufunc in _COMPOSED:
        if kwargs:
            inputs = _plain_keywords(ufunc, inputs, kwargs)
        return _COMPOSED[ufunc](*[api.operand(x) for x in inputs])
    rule = UFUNC_RULES.get(ufunc)
    if rule is None and load_scipy_rules():  # a SciPy ufunc: its rules load on first use
        rule = UFUNC_RULES.get(ufunc)
    if rule is not None:
        if kwargs:
            inputs = _plain_keywords(ufunc, inputs, kwargs)
        return apply_elementwise(rule, [x if isinstance(x, Active) else api.operand(x) for x in inputs])
    if ufunc in PLAIN_UFUNCS:
        if ufunc is not np.floor_divide and ufunc.nout == 1 and not kwargs:
            return observe_index(ufunc, *inputs)  # a mask np.where computes again at each replay
        return observe(ufunc, *inputs, **kwargs)
    _no_rule(ufunc)


# Keywords that never change a ufunc's values when no out= is given: accepted as they are.
_NEUTRAL_KEYWORDS = frozenset({"casting", "order", "subok"})


def _plain_keywords(ufunc, inputs, kwargs) -> list:
    """A ufunc call's keywords on active values: ``dtype=`` casts the inputs first (as NumPy
    computes in that dtype); ``where=`` and anything else that would change the values raises."""
    kwargs = dict(kwargs)
    where = kwargs.pop("where", True)
    if where is not True:
        raise TypeError(
            f"np.{ufunc.__name__}(..., where=...) is not supported on active values (it leaves the other "
            f"elements uninitialised); write np.where(mask, np.{ufunc.__name__}(...), fallback) instead"
        )
    dtype = kwargs.pop("dtype", None)
    unknown = sorted(k for k in kwargs if k not in _NEUTRAL_KEYWORDS)
    if unknown:
        raise TypeError(f"np.{ufunc.__name__}: keyword arguments {unknown} are not supported on active values")
    if dtype is None:
        return list(inputs)
    return [api.astype(x, dtype) if isinstance(x, Active) else np.asarray(x, dtype=dtype) for x in inputs]


# --------------------------------------------------------------------------------------------
# Ufuncs that are compositions of rules


def _divmod(x, y):
    """``(x // y, x % y)``: the quotient is piecewise constant (no derivative)."""
    return observe(np.floor_divide, x, y), np.remainder(x, y)


def _modf(x):
    """``(fractional part, integral part)``: ``fmod(x, 1)`` and ``trunc(x)``."""
    return np.fmod(x, 1.0), np.trunc(x)


def _float_power(x, y):
    """``x ** y`` computed in float64 (complex128 for complex operands), as NumPy's
    ``float_power`` does."""
    wide = np.complex128 if any(np.iscomplexobj(strip(v)) for v in (x, y)) else np.float64
    x, y = (api.astype(v, wide) if isinstance(v, Active) else np.asarray(v, dtype=wide) for v in (x, y))
    return np.power(x, y)


def _heaviside(x, h0):
    """0 below zero, 1 above, ``h0`` at zero: a derivative in ``h0`` only (where x == 0)."""
    at_zero = observe(np.equal, x, 0)
    step = observe(np.heaviside, x, 0.0)
    h0 = api.as_array(h0)
    shape = np.broadcast_shapes(np.shape(at_zero), tuple(h0.shape))
    dt = np.result_type(step, strip(h0))
    return api.where(np.broadcast_to(at_zero, shape), h0, np.broadcast_to(step, shape).astype(dt))


def _vecdot(x1, x2, /, *, axis=-1, axes=None, keepdims=False):
    """``Σ conj(x1)·x2`` over ``axis`` (after broadcasting), as NumPy's ``vecdot`` gufunc."""
    x1, x2 = api.operand(x1), api.operand(x2)
    if axes is not None:
        if list(axes[0]) != list(axes[1]):
            raise TypeError("np.vecdot(axes=...): give the same axis for both operands (axis=k)")
        axis = axes[0][0] if isinstance(axes[0], (tuple, list)) else axes[0]
    prod = np.conjugate(x1) * x2 if np.iscomplexobj(strip(x1)) else x1 * x2
    return np.sum(prod, axis=axis, keepdims=keepdims)


def _ldexp(x, n):
    """``x · 2ⁿ`` for integer exponents ``n`` (exact, as NumPy's): a derivative in x alone."""
    if isinstance(n, Active) or np.asarray(n).dtype.kind not in "iub":
        raise TypeError("np.ldexp(x, n): the exponent n must be a plain integer array or int "
                        "(it has no derivative); pass np.asarray(n, dtype=int)")
    x = api.as_array(x) if not isinstance(x, Active) else x
    one = np.ones((), dtype=np.result_type(strip(x).dtype, np.float16))
    half = observe(np.floor_divide, n, 2)  # two factors: each finite where 2ⁿ alone is not (subnormals)
    return x * observe(np.ldexp, one, half) * observe(np.ldexp, one, observe(np.subtract, n, half))


def _frexp_exponent(x):
    return np.frexp(x)[1]


def _frexp(x):
    """``(m, e)`` with ``x = m · 2ᵉ``, ``0.5 ≤ |m| < 1``: the exponent is piecewise constant, so
    the mantissa's derivative is ``2⁻ᵉ``."""
    e = observe(_frexp_exponent, x)
    return _ldexp(x, -e), e


_COMPOSED = {np.divmod: _divmod, np.modf: _modf, np.float_power: _float_power, np.heaviside: _heaviside,
             np.ldexp: _ldexp, np.frexp: _frexp}


# --------------------------------------------------------------------------------------------
# Methods


def _reduce(ufunc, a, axis=0, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=True):
    """``ufunc.reduce``: the four with structural reductions (``where=`` and ``initial=`` as
    theirs), any other binary ufunc in turn."""
    api.no_out(out, f"{ufunc.__name__}.reduce")
    if ufunc in PLAIN_UFUNCS:
        return observe(ufunc.reduce, a, axis=axis, dtype=dtype, keepdims=keepdims, initial=initial, where=where)
    a = api.as_array(a)
    reducers = {np.add: api.sum_, np.multiply: api.prod, np.maximum: api.amax, np.minimum: api.amin}
    if ufunc in reducers:
        initial = None if initial is np._NoValue else initial
        y = reducers[ufunc](a, axis=axis, keepdims=keepdims, initial=initial, where=None if where is True else where)
        return api.astype(y, dtype) if dtype is not None else y
    if where is not True:
        raise TypeError(f"np.{ufunc.__name__}.reduce: where= is not supported on active values")
    if axis is None:
        a, axis = api.reshape(a, (-1,)), 0
    ax = api.axis_of(axis, a.ndim) if a.ndim else None
    y = a if ax is None else _fold(ufunc, a, ax, keepdims)
    if initial is not np._NoValue and initial is not None:
        y = ufunc(initial, y)
    return api.astype(y, dtype) if dtype is not None else y


def _fold(ufunc, a, ax, keepdims):
    n = a.shape[ax]
    if n == 0:
        raise ValueError(f"zero-size array to reduction operation {ufunc.__name__} which has no identity")
    y = api.slice_along(a, ax, 0, 1)
    for i in range(1, n):
        y = ufunc(y, api.slice_along(a, ax, i, i + 1))
    return y if keepdims else api.squeeze(y, axis=ax)


def _accumulate(ufunc, a, axis=0, dtype=None, out=None):
    a = api.as_array(a)
    if ufunc in PLAIN_UFUNCS:
        return observe(ufunc.accumulate, a, axis=axis, dtype=dtype)
    ax = api.axis_of(axis, a.ndim)
    if ufunc is np.add:
        y = api.cumsum(a, axis=ax)
    elif ufunc in _ASSOCIATIVE:
        y = api.scan(ufunc, a, ax)
    else:
        parts = [api.slice_along(a, ax, 0, 1)]
        for i in range(1, a.shape[ax]):
            parts.append(ufunc(parts[-1], api.slice_along(a, ax, i, i + 1)))
        y = api.concatenate(parts, axis=ax)
    return api.astype(y, dtype) if dtype is not None else y


def _outer(ufunc, a, b, **kwargs):
    """``ufunc.outer(a, b)``: ``a`` with ``b.ndim`` trailing axes, broadcast against ``b``."""
    a, b = api.as_array(a), api.as_array(b)
    return ufunc(api.reshape(a, tuple(a.shape) + (1,) * b.ndim), b, **kwargs)


def _reduceat(ufunc, a, indices, axis=0, dtype=None, out=None):
    a = api.as_array(a)
    ax = api.axis_of(axis, a.ndim)
    idx = [int(i) for i in np.asarray(strip(indices)).ravel()]
    n = a.shape[ax]
    parts = []
    for k, lo in enumerate(idx):
        hi = idx[k + 1] if k + 1 < len(idx) else n
        if not 0 <= lo < n:
            raise IndexError(f"index {lo} out-of-bounds in {ufunc.__name__}.reduceat [0, {n})")
        if hi <= lo:
            hi = lo + 1
        parts.append(_reduce(ufunc, api.slice_along(a, ax, lo, hi), axis=ax, keepdims=True))
    y = api.concatenate(parts, axis=ax)
    return api.astype(y, dtype) if dtype is not None else y


def _at(ufunc, a, indices, b=None):
    """``ufunc.at(a, indices, b)``: ``a`` is updated in place, repeated indices applied in turn."""
    if not isinstance(a, Active):
        raise TypeError(
            f"np.{ufunc.__name__}.at cannot write active values into a plain array in place; make the "
            "target active first (e.g. a = np.zeros_like(x, shape=n), then np.add.at(a, idx, v))"
        )
    if ufunc not in UFUNC_RULES:
        _no_rule(ufunc)
    flat = api.flat_positions(tuple(a.shape), indices, a)
    if ufunc in (np.add, np.subtract):
        v = api.as_array(b)
        v = api.broadcast_to(v, flat.shape) if tuple(v.shape) != flat.shape else v
        v = S.scatter_add.bind(v, flat=flat, shape=tuple(a.shape), batch=0)
        write(a, ufunc(a, v))
        return None
    _at_in_rounds(ufunc, a, flat, b)
    return None


def _at_in_rounds(ufunc, a, flat, b):
    """Other ufuncs: repeated positions are applied in rounds of distinct positions, in order."""
    flat = np.asarray(flat).ravel()
    args = []
    if b is not None:
        bb = api.as_array(b)
        shape = np.broadcast_shapes(tuple(bb.shape), (flat.size,))
        bb = api.reshape(api.broadcast_to(bb, shape), (-1,)) if bb.ndim else bb
        args = [bb]
    order = np.argsort(flat, kind="stable")
    rank = np.empty_like(order)
    sorted_flat = flat[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_flat)) + 1]
    rank[order] = np.arange(flat.size) - np.repeat(starts, np.diff(np.r_[starts, flat.size]))
    y = api.reshape(a, (-1,))
    for r in range(int(rank.max(initial=-1)) + 1):
        sel = np.flatnonzero(rank == r)
        pos = flat[sel]
        vals = [api.getitem(v, sel) if v.ndim else v for v in args]
        y = api.setitem_value(y, pos, ufunc(api.getitem(y, pos), *vals))
    write(a, api.reshape(y, tuple(a.shape)))


# --------------------------------------------------------------------------------------------
# Elementwise NumPy functions that are not ufuncs


@api.implements(np.nan_to_num)
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """Finite elements as they are (derivative 1), the others replaced by constants;
    ``copy=False`` replaces them in ``x`` itself, as NumPy does (recorded copy-on-write)."""
    a = api.as_array(x)
    fixed = observe(np.nan_to_num, a, nan=nan, posinf=posinf, neginf=neginf)
    y = api.where(observe(np.isfinite, a), a, fixed)
    if not copy and isinstance(x, Active):
        write(x, y)
        return x
    return y


@api.implements(np.fix)
def fix(x, out=None):
    """Rounding toward zero: ``np.trunc`` (derivative 0)."""
    api.no_out(out, "fix")
    return np.trunc(x)


@api.implements(np.real_if_close)
def real_if_close(a, tol=100):
    """The real part when every imaginary part is within ``tol`` machine epsilons of zero (NumPy's
    test, on the values), else ``a`` itself."""
    a = api.as_array(a)
    if np.dtype(a.dtype).kind != "c":
        return a
    return np.real(a) if np.isrealobj(np.real_if_close(strip(a), tol=tol)) else a


@api.implements(np.i0)
def i0(x):
    """The modified Bessel function of order 0: ``scipy.special.i0``'s rule (same function)."""
    from scipy import special

    return special.i0(x)


for _f in (
    np.iscomplex, np.isreal, np.isposinf, np.isneginf, np.argpartition, np.digitize, np.nanargmax,
    np.nanargmin, np.isin, np.array_equiv, np.lexsort, np.shares_memory, np.may_share_memory,
):
    api.plain(_f)
