"""NumPy's interface onto dualad: which NumPy call becomes which rule or primitive.

This module holds no derivative.  It translates ``np.sum(x, axis=0)``, ``x[idx]``, ``a @ b``,
``np.linalg.solve`` ... into the primitives of :mod:`dualad.rules.structural` (normalising
axes, expanding subscripts) or into compositions of them (``var``, ``norm``, ``sort``), and
returns plain arrays for functions whose outputs carry no derivative (``argmax``, comparisons).
Anything NumPy offers that is not listed raises ``TypeError`` naming the function.
"""

from __future__ import annotations

import string
from collections.abc import Callable

import numpy as np

from ..rules import FUNCTION_RULES, UFUNC_RULES, load_scipy_rules, ufunc_name
from ..rules import structural as S
from . import device, einsum_spec
from .dispatch import Active, apply_elementwise, observe, strip

__all__ = ["FUNCTIONS", "handle_ufunc", "handle_function", "getitem", "setitem_value"]

FUNCTIONS: dict[Callable, Callable] = {}


def implements(*funcs):
    def deco(handler):
        for f in funcs:
            FUNCTIONS[f] = handler
        return handler

    return deco


def _operand(x):
    """An elementwise operand: Python numbers stay as they are (weakly typed, so a float32
    array times 2.0 stays float32); anything else goes through :func:`_arr`."""
    if isinstance(x, (float, int)) and not isinstance(x, bool):
        return x
    return _arr(x)


def _arr(x):
    """Active values as they are; anything else as a NumPy array of a differentiable dtype."""
    if isinstance(x, Active):
        return x
    a = x if type(x) is not np.ndarray and device.is_device(x) else np.asarray(x)
    if a.dtype.kind not in "fiub":
        if a.dtype.kind == "c":
            raise NotImplementedError("complex values are not supported yet; use real and imaginary parts as two float arrays")
        raise TypeError(f"cannot differentiate through a value of dtype {a.dtype}: {x!r:.60}")
    return a


def as_array(x):
    """What every NumPy handler does to an operand: active values as they are, anything else a
    NumPy (or device) array of a differentiable dtype (for helpers outside this module)."""
    return _arr(x)


def _axes(axis, ndim: int) -> tuple:
    """``axis`` (None, int or tuple) as a sorted tuple of negative axes."""
    if axis is None:
        return tuple(range(-ndim, 0))
    if not isinstance(axis, (tuple, list)):
        axis = (axis,)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(a, ndim)
        out.append(a - ndim if a >= 0 else a)
    return tuple(sorted(out))


def _axis1(axis, ndim: int) -> int:
    return _axes(axis, ndim)[0]


# --------------------------------------------------------------------------------------------
# ufuncs

_PLAIN_UFUNCS = {
    np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.logical_and, np.logical_or, np.logical_xor, np.logical_not,
    np.isnan, np.isinf, np.isfinite, np.signbit, np.floor_divide,
}


def handle_ufunc(ufunc, method, inputs, kwargs):
    if kwargs.get("out") is not None:
        raise TypeError(
            f"np.{ufunc.__name__}(..., out=...) cannot write derivatives into an existing array; "
            "drop out= and use the returned value"
        )
    kwargs.pop("out", None)
    if method == "__call__":
        if ufunc is np.matmul:
            return matmul(*inputs)
        rule = UFUNC_RULES.get(ufunc)
        if rule is None and load_scipy_rules():  # a SciPy ufunc: its rules load on first use
            rule = UFUNC_RULES.get(ufunc)
        if rule is not None:
            if kwargs.pop("where", True) is not True or kwargs:
                raise TypeError(f"np.{ufunc.__name__}: keyword arguments {sorted(kwargs)} are not supported on active values")
            return apply_elementwise(rule, [_operand(x) for x in inputs])
        if ufunc in _PLAIN_UFUNCS:
            return observe(ufunc, *inputs, **kwargs)
        raise TypeError(
            f"dualad has no derivative rule for {ufunc_name(ufunc)}; declare one with "
            "dualad.rules.elementwise, or apply it to dualad.primal(x) if no derivative is wanted"
        )
    if method == "reduce":
        (x,) = inputs
        axis = kwargs.get("axis", 0)
        keepdims = kwargs.get("keepdims", False)
        reducers = {np.add: sum_, np.multiply: prod, np.maximum: amax, np.minimum: amin}
        if ufunc in reducers:
            return reducers[ufunc](x, axis=axis, keepdims=keepdims)
    if method == "accumulate":
        (x,) = inputs
        axis = kwargs.get("axis", 0)
        if ufunc is np.add:
            return cumsum(x, axis=axis)
        if ufunc is np.multiply:
            return cumprod(x, axis=axis)
    raise TypeError(f"np.{ufunc.__name__}.{method} is not supported on active values")


def handle_function(func, args, kwargs):
    handler = FUNCTIONS.get(func)
    if handler is None and func in FUNCTION_RULES:  # a NumPy function declared as a rule
        return _apply_function_rule(FUNCTION_RULES[func], args, kwargs)
    if handler is None:
        name = getattr(func, "__qualname__", repr(func))
        mod = getattr(func, "__module__", "numpy") or "numpy"
        raise TypeError(
            f"dualad has no derivative rule for {mod}.{name}; it cannot be applied to an active "
            "value (apply it to dualad.primal(x) if no derivative is wanted)"
        )
    return handler(*args, **kwargs)


def _apply_function_rule(rule, args, kwargs):
    if rule.parse is not None:
        inputs = rule.parse(*args, **kwargs)
    elif kwargs:
        raise TypeError(f"np.{rule.name}: keyword arguments {sorted(kwargs)} are not supported on active values")
    else:
        inputs = args
    if len(inputs) != rule.nin:
        raise TypeError(f"np.{rule.name} takes {rule.nin} argument(s), got {len(inputs)}")
    return apply_elementwise(rule, [_operand(x) for x in inputs])


# --------------------------------------------------------------------------------------------
# Reductions


@implements(np.sum)
def sum_(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no_out(out, "sum")
    if initial is not None or where is not None:
        raise TypeError("np.sum: initial= and where= are not supported on active values")
    a = _arr(a)
    y = S.sum_.bind(a, axis=_axes(axis, a.ndim), keepdims=bool(keepdims), batch=0)
    return _astype_opt(y, dtype)


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    _no_out(out, "mean")
    a = _arr(a)
    axes = _axes(axis, a.ndim)
    n = int(np.prod([a.shape[ax] for ax in axes], dtype=np.int64))
    s = S.sum_.bind(a, axis=axes, keepdims=bool(keepdims), batch=0)
    return _astype_opt(s / n, dtype)


@implements(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None, correction=None):
    _no_out(out, "var")
    a = _arr(a)
    if correction is not None:
        ddof = correction
    axes = _axes(axis, a.ndim)
    n = int(np.prod([a.shape[ax] for ax in axes], dtype=np.int64))
    m = S.sum_.bind(a, axis=axes, keepdims=True, batch=0) / n
    d = a - m
    return S.sum_.bind(d * d, axis=axes, keepdims=bool(keepdims), batch=0) / (n - ddof)


@implements(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None, correction=None):
    return np.sqrt(var(a, axis=axis, ddof=ddof, keepdims=keepdims, correction=correction))


@implements(np.max, np.amax)
def amax(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    _no_out(out, "max")
    a = _arr(a)
    return S.reduce_max.bind(a, axis=_axes(axis, a.ndim), keepdims=bool(keepdims))


@implements(np.min, np.amin)
def amin(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    _no_out(out, "min")
    a = _arr(a)
    return S.reduce_min.bind(a, axis=_axes(axis, a.ndim), keepdims=bool(keepdims))


@implements(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no_out(out, "prod")
    a = _arr(a)
    axes = _axes(axis, a.ndim)
    y = a
    for ax in axes:
        y = S.prod.bind(y, axis=(ax,), keepdims=True)
    if not keepdims:
        y = squeeze(y, axis=axes) if axes else y
    return _astype_opt(y, dtype)


@implements(np.cumsum)
def cumsum(a, axis=None, dtype=None, out=None):
    _no_out(out, "cumsum")
    a = _arr(a)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    return _astype_opt(S.cumsum.bind(a, axis=_axis1(axis, a.ndim), batch=0), dtype)


@implements(np.cumprod)
def cumprod(a, axis=None, dtype=None, out=None):
    _no_out(out, "cumprod")
    a = _arr(a)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    ax = _axis1(axis, a.ndim)
    if not isinstance(a, Active):
        return np.cumprod(a, axis=ax)
    # A Hillis-Steele scan of products: differentiable through its parts, exact with zeros.
    n = a.shape[ax]
    y, s = a, 1
    while s < n:
        head = _slice_along(y, ax, 0, s)
        tail = _slice_along(y, ax, s, n) * _slice_along(y, ax, 0, n - s)
        y = concatenate([head, tail], axis=ax)
        s *= 2
    return _astype_opt(y, dtype)


def _slice_along(a, axis: int, start: int, stop: int):
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, stop)
    return getitem(a, tuple(index))


@implements(np.diff)
def diff(a, n=1, axis=-1, prepend=None, append=None):
    a = _arr(a)
    ax = _axis1(axis, a.ndim)
    if prepend is not None or append is not None:
        parts = ([np.broadcast_to(prepend, _with(a.shape, ax, 1)) if np.ndim(prepend) == 0 else prepend] if prepend is not None else [])
        parts += [a] + ([np.broadcast_to(append, _with(a.shape, ax, 1)) if np.ndim(append) == 0 else append] if append is not None else [])
        a = concatenate(parts, axis=ax)
    for _ in range(n):
        m = a.shape[ax]
        a = _slice_along(a, ax, 1, m) - _slice_along(a, ax, 0, m - 1)
    return a


def _with(shape, axis, value):
    s = list(shape)
    s[axis] = value
    return tuple(s)


def _no_out(out, name):
    if out is not None:
        raise TypeError(f"np.{name}(..., out=...) cannot write derivatives into an existing array; drop out=")


def _astype_opt(y, dtype):
    if dtype is None:
        return y
    return astype(y, dtype)


def astype(x, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(
            f"casting an active value to {dtype} would drop its derivative; cast dualad.primal(x) instead"
        )
    if dtype == x.dtype:
        return x
    return S.astype.bind(x, dtype=dtype, in_dtype=np.dtype(x.dtype), batch=0)


# --------------------------------------------------------------------------------------------
# Shapes


def _resolve_shape(size: int, shape) -> tuple:
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise ValueError("can only specify one unknown dimension")
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if int(np.prod(shape, dtype=np.int64)) != size:
        raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
    return shape


@implements(np.reshape)
def reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if shape is None:
        shape = newshape
    if order != "C":
        raise NotImplementedError("only order='C' reshapes are supported on active values")
    a = _arr(a)
    shape = _resolve_shape(a.size, shape)
    if shape == tuple(a.shape):
        return a
    return S.reshape.bind(a, shape=shape, batch=0)


@implements(np.ravel)
def ravel(a, order="C"):
    return reshape(a, (-1,), order=order)


@implements(np.transpose)
def transpose(a, axes=None):
    a = _arr(a)
    nd = a.ndim
    axes = tuple(range(nd))[::-1] if axes is None else tuple(int(x) % nd for x in axes)
    if axes == tuple(range(nd)):
        return a
    return S.transpose.bind(a, axes=axes, batch=0)


@implements(np.swapaxes)
def swapaxes(a, axis1, axis2):
    a = _arr(a)
    perm = list(range(a.ndim))
    i, j = int(axis1) % a.ndim, int(axis2) % a.ndim
    perm[i], perm[j] = perm[j], perm[i]
    return transpose(a, perm)


@implements(np.moveaxis)
def moveaxis(a, source, destination):
    a = _arr(a)
    src = [int(s) % a.ndim for s in np.atleast_1d(source)]
    dst = [int(d) % a.ndim for d in np.atleast_1d(destination)]
    order = [n for n in range(a.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


@implements(np.squeeze)
def squeeze(a, axis=None):
    a = _arr(a)
    if axis is None:
        shape = tuple(d for d in a.shape if d != 1)
    else:
        axes = {ax % a.ndim for ax in (axis if isinstance(axis, (tuple, list)) else (axis,))}
        for ax in axes:
            if a.shape[ax] != 1:
                raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
        shape = tuple(d for n, d in enumerate(a.shape) if n not in axes)
    return reshape(a, shape)


@implements(np.expand_dims)
def expand_dims(a, axis):
    a = _arr(a)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    nd = a.ndim + len(axes)
    axes = sorted(ax % nd for ax in axes)
    shape = list(a.shape)
    for ax in axes:
        shape.insert(ax, 1)
    return reshape(a, tuple(shape))


@implements(np.atleast_1d)
def atleast_1d(*arys):
    out = [reshape(a, (1,)) if np.ndim(strip(a)) == 0 else a for a in arys]
    return out[0] if len(out) == 1 else out


@implements(np.atleast_2d)
def atleast_2d(*arys):
    out = []
    for a in arys:
        nd = np.ndim(strip(a))
        out.append(reshape(a, (1, 1)) if nd == 0 else reshape(a, (1,) + tuple(np.shape(strip(a)))) if nd == 1 else a)
    return out[0] if len(out) == 1 else out


@implements(np.broadcast_to)
def broadcast_to(array, shape, subok=False):
    a = _arr(array)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (int(shape),)
    if tuple(a.shape) == shape:
        return a
    np.broadcast_shapes(tuple(a.shape), shape)  # raises NumPy's own error when incompatible
    return S.broadcast_to.bind(a, shape=shape, batch=0)


@implements(np.broadcast_arrays)
def broadcast_arrays(*args, subok=False):
    shape = np.broadcast_shapes(*(np.shape(strip(a)) for a in args))
    return tuple(broadcast_to(a, shape) for a in args)


@implements(np.copy)
def copy(a, order="K", subok=False):
    return a._copy() if isinstance(a, Active) else np.copy(a)


@implements(np.shape)
def shape(a):
    return tuple(np.shape(strip(a)))


@implements(np.ndim)
def ndim(a):
    return np.ndim(strip(a))


@implements(np.size)
def size(a, axis=None):
    return np.size(strip(a), axis)


def _plain(func):
    """A NumPy function whose result carries no derivative: applied to the primal values."""

    def handler(*args, **kwargs):
        return observe(func, *args, **kwargs)

    handler.__name__ = func.__name__
    FUNCTIONS[func] = handler
    return handler


for _f in (
    np.argmax, np.argmin, np.argsort, np.nonzero, np.flatnonzero, np.count_nonzero,
    np.isclose, np.allclose, np.array_equal, np.zeros_like, np.ones_like, np.empty_like,
    np.full_like, np.round, np.around, np.iscomplexobj, np.isrealobj, np.result_type,
    np.searchsorted, np.argwhere, np.any, np.all,
):
    _plain(_f)


def _unique_parts(a, axis, kwargs):
    return np.unique(a, return_index=True, return_inverse=True, return_counts=True, axis=axis, **kwargs)


@implements(np.unique)
def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, **kwargs):
    """The unique values are a gather of the first occurrences (so they carry derivatives);
    indices, inverse and counts are plain results that may steer the computation (guards)."""
    a = _arr(ar)
    values_plain, index, inverse, counts = observe(_unique_parts, a, axis, kwargs)
    if axis is None:
        values = S.gather.bind(reshape(a, (-1,)), flat=index, batch=0)
    else:
        values = take(a, index, axis=axis)
    extra = [r for r, want in ((index, return_index), (inverse, return_inverse), (counts, return_counts)) if want]
    return (values, *extra) if extra else values


# --------------------------------------------------------------------------------------------
# Joining and splitting


@implements(np.concatenate)
def concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    _no_out(out, "concatenate")
    arrays = [_arr(a) for a in arrays]
    if axis is None:
        arrays, axis = [reshape(a, (-1,)) for a in arrays], 0
    nd = arrays[0].ndim
    if nd == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    dt = device.result_type([strip(a) for a in arrays], "np.concatenate")
    arrays = [a if np.dtype(a.dtype) == dt or not isinstance(a, Active) else astype(a, dt) for a in arrays]
    y = S.concatenate.bind(*arrays, axis=_axis1(axis, nd), batch=0)
    return _astype_opt(y, dtype)


@implements(np.stack)
def stack(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    arrays = [_arr(a) for a in arrays]
    nd = arrays[0].ndim + 1
    ax = int(axis) % nd
    return concatenate([expand_dims(a, ax) for a in arrays], axis=ax, out=out, dtype=dtype)


@implements(np.hstack)
def hstack(tup, dtype=None, casting="same_kind"):
    arrs = [atleast_1d(a) for a in tup]
    return concatenate(arrs, axis=0 if arrs[0].ndim == 1 else 1, dtype=dtype)


@implements(np.vstack, np.row_stack) if hasattr(np, "row_stack") else implements(np.vstack)
def vstack(tup, dtype=None, casting="same_kind"):
    return concatenate([atleast_2d(a) for a in tup], axis=0, dtype=dtype)


@implements(np.column_stack)
def column_stack(tup):
    arrs = [reshape(a, (-1, 1)) if np.ndim(strip(a)) < 2 else a for a in tup]
    return concatenate(arrs, axis=1)


@implements(np.split, np.array_split)
def split(ary, indices_or_sections, axis=0):
    a = _arr(ary)
    ax = _axis1(axis, a.ndim)
    n = a.shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        base, extra = divmod(n, k)
        sizes = [base + (1 if i < extra else 0) for i in range(k)]
        bounds = np.cumsum([0] + sizes).tolist()
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    return [_slice_along(a, ax, max(0, min(lo, n)), max(0, min(hi, n))) for lo, hi in zip(bounds[:-1], bounds[1:])]


def _truth(c):
    return c != 0


@implements(np.where)
def where(condition, x=None, y=None):
    if x is None and y is None:
        return observe(np.where, condition)
    # An active condition is tested for truth: a plain result that steers the values (a guard).
    cond = device.asarray(observe(_truth, condition) if isinstance(condition, Active) else condition, dtype=bool)
    x, y = _operand(x), _operand(y)
    dt = device.result_type([strip(x), strip(y)], "np.where")
    if dt.kind != "f":
        dt = np.dtype(np.float64)
    x = astype(x, dt) if isinstance(x, Active) else device.asarray(x, dtype=dt)
    y = astype(y, dt) if isinstance(y, Active) else device.asarray(y, dtype=dt)
    like = device.locate([cond, strip(x), strip(y)], "np.where")
    if like is not None:  # scalar branches go to the device with the rest
        x, y = (device.namespace(like).asarray(v) if type(v) is np.ndarray else v for v in (x, y))
    return S.where.bind(x, y, cond=cond, batch=0)


@implements(np.flip)
def flip(m, axis=None):
    a = _arr(m)
    return S.flip.bind(a, axes=_axes(axis, a.ndim), batch=0)


@implements(np.fliplr)
def fliplr(m):
    return flip(m, 1)


@implements(np.flipud)
def flipud(m):
    return flip(m, 0)


@implements(np.roll)
def roll(a, shift, axis=None):
    a = _arr(a)
    if axis is None:
        return reshape(roll(reshape(a, (-1,)), shift, 0), tuple(a.shape))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,) * len(axes)
    axes = tuple(_axis1(ax, a.ndim) for ax in axes)
    return S.roll.bind(a, shift=tuple(int(s) for s in shifts), axes=axes, batch=0)


# --------------------------------------------------------------------------------------------
# Indexing


def _is_basic(index) -> bool:
    for ix in index:
        if ix is None or ix is Ellipsis or isinstance(ix, slice):
            continue
        if isinstance(ix, (int, np.integer)) and not isinstance(ix, (bool, np.bool_)):
            continue
        return False
    return True


def _norm_index(index):
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for ix in index:
        if isinstance(ix, Active):
            raise TypeError("cannot index with an active value; index with dualad.primal(i) (indices carry no derivative)")
        if isinstance(ix, list):
            ix = np.asarray(ix)
        out.append(ix)
    return tuple(out)


def _flat_positions(shape, index, a=None):
    """Flat positions picked by an advanced ``index``, computed where the index arrays live.

    Host index arrays may index device values (the positions are copied over when used);
    device index arrays must index device values."""
    like = device.locate([ix for ix in index if not isinstance(ix, (slice, type(None), type(Ellipsis)))], "indexing")
    if like is not None and a is not None:
        device.locate([like, strip(a)], "indexing a host array with a device index")
    return device.arange(int(np.prod(shape, dtype=np.int64)), like).reshape(shape)[index]


def getitem(a, index):
    index = _norm_index(index)
    if _is_basic(index):
        return S.getitem.bind(a, index=index, batch=0)
    return S.gather.bind(a, flat=_flat_positions(tuple(a.shape), index, a), batch=0)


def setitem_value(a, index, value):
    """The value of ``a`` after ``a[index] = value``: a new value (copy-on-write)."""
    index = _norm_index(index)
    value = _arr(value)
    if _is_basic(index):
        return S.setitem.bind(a, value, index=index, batch=0)
    return S.setitem_flat.bind(a, value, flat=_flat_positions(tuple(a.shape), index, a), batch=0)


@implements(np.take)
def take(a, indices, axis=None, out=None, mode="raise"):
    _no_out(out, "take")
    a = _arr(a)
    flat = np.take(_positions(a, strip(indices)), strip(indices), axis=axis, mode=mode)
    return S.gather.bind(a, flat=flat, batch=0)


@implements(np.take_along_axis)
def take_along_axis(arr, indices, axis=-1):
    a = _arr(arr)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    return S.gather.bind(a, flat=np.take_along_axis(_positions(a, strip(indices)), strip(indices), axis=axis), batch=0)


def _positions(a, indices=None):
    """The flat positions of ``a``'s elements, where ``indices`` live (host by default)."""
    like = device.locate([indices], "indexing") if indices is not None else None
    if like is not None:
        device.locate([like, strip(a)], "indexing a host array with a device index")
    return device.arange(a.size, like).reshape(tuple(a.shape))


@implements(np.tile)
def tile(A, reps):
    a = _arr(A)
    return S.gather.bind(a, flat=np.tile(_positions(a), reps), batch=0)


@implements(np.repeat)
def repeat(a, repeats, axis=None):
    a = _arr(a)
    return S.gather.bind(a, flat=np.repeat(_positions(a), strip(repeats), axis=axis), batch=0)


@implements(np.pad)
def pad(array, pad_width, mode="constant", **kwargs):
    a = _arr(array)
    if mode != "constant":
        raise NotImplementedError(f"np.pad(mode={mode!r}) on active values: only mode='constant' is supported yet")
    value = kwargs.pop("constant_values", 0)
    if kwargs:
        raise TypeError(f"np.pad: unsupported arguments {sorted(kwargs)}")
    where_from = np.pad(_positions(a), pad_width, mode="constant", constant_values=-1)
    inside = where_from >= 0
    out_pos = np.flatnonzero(inside)[np.argsort(where_from[inside], kind="stable")]
    y = S.scatter_add.bind(a, flat=out_pos.reshape(tuple(a.shape)), shape=where_from.shape, batch=0)
    if np.any(np.asarray(value) != 0):
        y = y + np.pad(device.zeros(tuple(a.shape), a.dtype, strip(a)), pad_width, mode="constant", constant_values=value)
    return y


@implements(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    a = _arr(a)
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        n = a.size if axis is None else int(np.prod([a.shape[ax] for ax in _axes(axis, a.ndim)]))
        return (avg, np.full(np.shape(strip(avg)), float(n))) if returned else avg
    w = _arr(weights)
    if w.ndim != a.ndim:  # 1-D weights along one axis, as NumPy allows
        shape = [1] * a.ndim
        shape[_axis1(axis, a.ndim)] = w.shape[0]
        w = reshape(w, tuple(shape))
    total = sum_(a * w, axis=axis, keepdims=keepdims)
    wsum = sum_(broadcast_to(w, tuple(a.shape)) if tuple(w.shape) != tuple(a.shape) else w, axis=axis, keepdims=keepdims)
    return (total / wsum, wsum) if returned else total / wsum


@implements(np.sort)
def sort(a, axis=-1, kind=None, order=None, stable=None):
    a = _arr(a)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    perm = observe(np.argsort, a, axis=axis, kind="stable")
    return take_along_axis(a, perm, axis=axis)


@implements(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    a = _arr(a)
    pos = np.arange(a.size, dtype=np.intp).reshape(a.shape)
    return S.gather.bind(a, flat=np.diagonal(pos, offset, axis1, axis2).copy(), batch=0)


@implements(np.trace)
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _no_out(out, "trace")
    return sum_(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


@implements(np.diag)
def diag(v, k=0):
    v = _arr(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError("Input must be 1- or 2-d.")
    n = v.shape[0] + abs(k)
    pos = np.diagonal(np.arange(n * n, dtype=np.intp).reshape(n, n), k).copy()
    return S.scatter_add.bind(v, flat=pos, shape=(n, n), batch=0)


def _tri(m, k, upper: bool):
    m = _arr(m)
    r, c = m.shape[-2:]
    mask = np.triu(np.ones((r, c), bool), k) if upper else np.tril(np.ones((r, c), bool), k)
    return S.where.bind(m, device.zeros((), m.dtype, strip(m)), cond=mask, batch=0)


@implements(np.triu)
def triu(m, k=0):
    return _tri(m, k, True)


@implements(np.tril)
def tril(m, k=0):
    return _tri(m, k, False)


# --------------------------------------------------------------------------------------------
# Products: everything multilinear is an einsum with explicit subscripts


def _letters(n: int, skip: str = "") -> str:
    """The first ``n`` letters not in ``skip`` (subscripts for the products below)."""
    return "".join([c for c in string.ascii_letters if c not in skip][:n])


def _einsum(subscripts: str, *operands):
    """Bind the einsum primitive on canonical subscripts, operands cast to one float dtype."""
    ops = [_arr(o) for o in operands]
    dt = device.result_type([strip(o) for o in ops], "einsum/matmul")
    if dt.kind != "f":
        dt = np.dtype(np.float64)
    ops = [o if not isinstance(o, Active) or o.dtype == dt else astype(o, dt) for o in ops]
    return S.einsum.bind(*ops, subscripts=subscripts)


_CASTINGS = ("no", "equiv", "safe", "same_kind", "unsafe")


def _einsum_layout(order, casting) -> None:
    """Refuse ``order=`` and ``casting=`` values that NumPy refuses (same error kinds)."""
    if order is not None:
        if not isinstance(order, str):
            raise TypeError(f"einsum: order must be str, not {type(order).__name__}")
        if order.upper() not in ("C", "F", "A", "K"):
            raise ValueError(f"einsum: order must be one of 'C', 'F', 'A', or 'K' (got {order!r})")
    if not isinstance(casting, str):
        raise TypeError(f"einsum: casting must be str, not {type(casting).__name__}")
    if casting not in _CASTINGS:
        raise ValueError(f"einsum: casting must be one of {', '.join(map(repr, _CASTINGS))} (got {casting!r})")


@implements(np.einsum)
def einsum(*operands, out=None, optimize=False, dtype=None, order="K", casting="safe"):
    """Every form NumPy accepts (see :mod:`dualad.core.einsum_spec`), as one multilinear op.

    ``optimize`` and ``order`` change no value and are accepted (``order`` checked as NumPy
    checks it); ``dtype`` casts the operands first; ``casting`` is checked as NumPy checks
    it, from each operand's dtype to ``dtype`` or, without one, to the operands' common
    dtype. Any other keyword is a TypeError (Python's, naming it)."""
    _no_out(out, "einsum")
    _einsum_layout(order, casting)
    subscripts, ops = einsum_spec.split_arguments(operands)
    ops = [_arr(o) for o in ops]
    form = einsum_spec.canonical(subscripts, [tuple(o.shape) for o in ops])
    # NumPy casts every operand to one dtype under ``casting`` (even without dtype=, so
    # casting='no' refuses float32 with float64).
    dt = np.dtype(dtype) if dtype is not None else device.result_type([strip(o) for o in ops], "einsum")
    for o in ops:
        if not np.can_cast(o.dtype, dt, casting=casting):
            raise TypeError(f"einsum: cannot cast an operand of dtype {o.dtype} to {dt} under casting={casting!r}")
    if dtype is not None:
        ops = [astype(o, dt) if isinstance(o, Active) else device.asarray(o, dtype=dt) for o in ops]
    ops = [o if shape is None else broadcast_to(o, shape) for o, shape in zip(ops, form.broadcast)]
    return _einsum(form.subscripts, *ops)


@implements(np.dot)
def dot(a, b, out=None):
    _no_out(out, "dot")
    a, b = _arr(a), _arr(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    la = _letters(a.ndim)
    lb = _letters(b.ndim, la)
    k = la[-1]
    kb = -2 if b.ndim >= 2 else -1
    lb = lb[:kb] + k + (lb[kb + 1:] if kb == -2 else "")
    out_s = la[:-1] + lb.replace(k, "")
    return _einsum(f"{la},{lb}->{out_s}", a, b)


@implements(np.vdot)
def vdot(a, b):
    return dot(ravel(a), ravel(b))


@implements(np.inner)
def inner(a, b):
    a, b = _arr(a), _arr(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    la = _letters(a.ndim)
    lb = _letters(b.ndim - 1, la) + la[-1]
    return _einsum(f"{la},{lb}->{la[:-1] + lb[:-1]}", a, b)


@implements(np.outer)
def outer(a, b, out=None):
    _no_out(out, "outer")
    return _einsum("i,j->ij", ravel(_arr(a)), ravel(_arr(b)))


@implements(np.tensordot)
def tensordot(a, b, axes=2):
    a, b = _arr(a), _arr(b)
    if isinstance(axes, (int, np.integer)):
        ax_a = list(range(a.ndim - int(axes), a.ndim))
        ax_b = list(range(int(axes)))
    else:
        ax_a, ax_b = axes
        ax_a = [int(x) % a.ndim for x in np.atleast_1d(ax_a)]
        ax_b = [int(x) % b.ndim for x in np.atleast_1d(ax_b)]
    la = list(_letters(a.ndim))
    lb = list(_letters(b.ndim, "".join(la)))
    for i, j in zip(ax_a, ax_b):
        lb[j] = la[i]
    out_s = "".join(c for n, c in enumerate(la) if n not in ax_a) + "".join(c for n, c in enumerate(lb) if n not in ax_b)
    return _einsum(f"{''.join(la)},{''.join(lb)}->{out_s}", a, b)


def _broadcast_stacks(a, b):
    """Two stacks of matrices broadcast to one batch shape (explicit, so that einsum letters
    and solve see equal batch dims; the broadcast is linear and transposes to a sum)."""
    batch = np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    if tuple(a.shape[:-2]) != batch:
        a = broadcast_to(a, batch + tuple(a.shape[-2:]))
    if tuple(b.shape[:-2]) != batch:
        b = broadcast_to(b, batch + tuple(b.shape[-2:]))
    return a, b, batch


def matmul(a, b):
    a, b = _arr(a), _arr(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    if a_vec:
        a = reshape(a, (1,) + tuple(a.shape))
    if b_vec:
        b = reshape(b, tuple(b.shape) + (1,))
    a, b, batch = _broadcast_stacks(a, b)
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: mismatch in core dimension: {tuple(a.shape)} @ {tuple(b.shape)}")
    lb = _letters(len(batch), "ijk")
    y = _einsum(f"{lb}ij,{lb}jk->{lb}ik", a, b)
    if a_vec and b_vec:
        return reshape(y, batch)
    if a_vec:
        return reshape(y, batch + (y.shape[-1],))
    if b_vec:
        return reshape(y, batch + (y.shape[-2],))
    return y


FUNCTIONS[np.matmul] = matmul


# --------------------------------------------------------------------------------------------
# Linear algebra


@implements(np.linalg.solve)
def solve(a, b):
    a, b = _arr(a), _arr(b)
    vec = b.ndim == 1
    if vec:
        b = reshape(b, tuple(b.shape) + (1,))
    a, b, _ = _broadcast_stacks(a, b)
    x = S.solve.bind(a, b)
    return reshape(x, tuple(x.shape[:-1])) if vec else x


@implements(np.linalg.inv)
def inv(a):
    a = _arr(a)
    n = a.shape[-1]
    return S.solve.bind(a, np.broadcast_to(np.eye(n, dtype=np.result_type(strip(a), np.float64) if a.dtype.kind != "f" else a.dtype), tuple(a.shape)))


def _slogdet_sign(a):
    return np.linalg.slogdet(a)[0]


@implements(np.linalg.slogdet)
def slogdet(a):
    a = _arr(a)
    sign = observe(_slogdet_sign, a)  # plain, but it steers the value: a guard in recordings
    return sign, S.logabsdet.bind(a, axis=(-2, -1), keepdims=False)


@implements(np.linalg.det)
def det(a):
    return S.det.bind(_arr(a), axis=(-2, -1), keepdims=False)


def _count_nonzero(x, axes, keepdims):
    return np.sum(x != 0, axis=axes, keepdims=keepdims).astype(x.dtype)


@implements(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    x = _arr(x)
    if axis is None:
        if ord is not None and x.ndim > 2:
            raise ValueError("Improper number of dimensions to norm.")
        axes = tuple(range(-x.ndim, 0))
    else:
        axes = tuple(int(a) - x.ndim if int(a) >= 0 else int(a) for a in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    if ord is None or (ord == "fro" and len(axes) == 2) or (ord == 2 and len(axes) == 1):
        return np.sqrt(sum_(x * x, axis=axes, keepdims=keepdims))
    ax = np.abs(x)
    if len(axes) == 1:
        if ord == np.inf:
            return amax(ax, axis=axes, keepdims=keepdims)
        if ord == -np.inf:
            return amin(ax, axis=axes, keepdims=keepdims)
        if ord == 1:
            return sum_(ax, axis=axes, keepdims=keepdims)
        if ord == 0:
            return observe(_count_nonzero, x, axes, keepdims)  # piecewise constant: a guard
        return sum_(ax**ord, axis=axes, keepdims=keepdims) ** (1.0 / ord)
    if len(axes) == 2 and ord in (1, -1, np.inf, -np.inf):
        inner_axis, outer_axis = (axes[0], axes[1]) if ord in (1, -1) else (axes[1], axes[0])
        red = amax if ord > 0 else amin
        y = red(sum_(ax, axis=inner_axis, keepdims=True), axis=outer_axis, keepdims=True)
        return y if keepdims else squeeze(y, axis=axes)
    raise NotImplementedError(f"np.linalg.norm with ord={ord!r} over {len(axes)} axes is not supported yet")
