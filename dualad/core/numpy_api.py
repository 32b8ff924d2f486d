"""NumPy's interface onto dualad: which NumPy call becomes which rule or primitive.

This module holds no derivative.  It translates ``np.sum(x, axis=0)``, ``x[idx]``, ``a @ b``,
``np.dot`` ... into the primitives of :mod:`dualad.rules.structural` (normalising
axes, expanding subscripts) or into compositions of them (``var``, ``norm``, ``sort``), and
returns plain arrays for functions whose outputs carry no derivative (``argmax``, comparisons).
Anything NumPy offers that is not listed raises ``TypeError`` naming the function.
"""

from __future__ import annotations

import functools
import numbers
import string
from collections.abc import Callable

import numpy as np

from ..rules import FUNCTION_RULES
from ..rules import structural as S
from . import device, einsum_spec, elements
from .dispatch import Active, apply_elementwise, observe, strip
from .observed import ObservedIndex, has_observed, observe_index, observed_mask, take_observed
from .observed import plain as plain_value
from .views import VIEW_FUNCTIONS, linked

__all__ = [
    "FUNCTIONS", "implements", "handle_function", "getitem", "setitem_value", "as_array", "operand",
    "axes_of", "axis_of", "slice_along", "no_out", "flat_positions", "scan", "plain", "holds_actives", "joinable", "from_objects",
    "abs_squared", "astype_copy",
]

FUNCTIONS: dict[Callable, Callable] = {}


def implements(*funcs):
    def deco(handler):
        for f in funcs:
            FUNCTIONS[f] = handler
        return handler

    return deco


def _operand(x):
    """An elementwise operand: Python numbers stay as they are (weakly typed, so a float32
    array times 2.0 stays float32 and times 1j complex64); anything else goes through
    :func:`_arr`."""
    if isinstance(x, (float, int, complex)) and not isinstance(x, bool):
        return x
    return _arr(x)


def _arr(x):
    """Active values as they are; anything else as a NumPy array of a differentiable dtype."""
    if isinstance(x, Active):
        return x
    a = x if type(x) is not np.ndarray and device.is_device(x) else np.asarray(x)
    if a.dtype.kind not in "fciub":
        if joinable(a):
            return from_objects(a)
        raise TypeError(f"cannot differentiate through a value of dtype {a.dtype}: {x!r:.60}")
    return a


def holds_actives(x) -> bool:
    """Whether ``x`` is a NumPy object array carrying active values or escaped elements of one
    (what ``np.array([c1, c2])`` of active values builds, :mod:`dualad.core.elements`)."""
    return type(x) is np.ndarray and x.dtype.kind == "O" and any(elements.is_element(e) for e in x.flat)


def joinable(x) -> bool:
    """Whether ``x`` is a NumPy object array that dualad takes as one array: active values,
    escaped elements and numbers.  Numbers alone count too: NumPy's functions on
    ``np.array([[c, 0.5], [0.5, 0.5]])`` (``np.min(..., axis=0)``) may leave only constants.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.core.numpy_api import joinable
    >>> joinable(np.array([0.5, 1], dtype=object)), joinable(np.array([1, "a"], dtype=object))
    (True, False)
    """
    if type(x) is not np.ndarray or x.dtype.kind != "O" or x.size == 0:
        return False
    return all(elements.is_element(e) or isinstance(e, numbers.Number)
               or (type(e) is np.ndarray and e.ndim == 0 and e.dtype.kind in "biufc") for e in x.flat)


def from_objects(x):
    """An object array of active values, escaped elements and plain numbers as one active array.

    NumPy builds such arrays for ``np.array([c1, 2.0, c2])`` and ``np.array([x1, x2])`` (it has
    no hook for ``np.array``); dualad joins them wherever it meets them: as operands, in NumPy's
    functions on active values, in transforms' outputs.  Runs of consecutive elements of one
    source array become one slice of it.  The dtype is NumPy's for the same elements as plain
    arrays (Python floats count as float64).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> ad.jacfwd(lambda x: np.array([x[0] * x[1], 2.0, np.sin(x[0])]))(np.array([1.0, 3.0]))[0]
    array([3., 1.])
    """
    parts = _object_runs(list(x.flat))
    dt = np.result_type(*[strip(p).dtype for p in parts])
    dt = dt if dt.kind == "f" else np.dtype(np.float64)
    parts = [astype(p, dt) if isinstance(p, Active) and p.dtype != dt else p if isinstance(p, Active) else p.astype(dt) for p in parts]
    return reshape(concatenate(parts, axis=0) if len(parts) > 1 else parts[0], x.shape)


def _object_runs(items: list) -> list:
    """1-D parts: slices of escaped elements' sources, runs of active scalars stacked, plain runs."""
    parts: list = []
    plain: list = []
    i = 0
    while i < len(items):
        e = items[i]
        if isinstance(e, elements.EscapedElement):
            j = i + 1
            while j < len(items) and isinstance(items[j], elements.EscapedElement) and items[j].source is e.source \
                    and items[j].index == e.index + (j - i):
                j += 1
            parts += [np.asarray(plain)] if plain else []
            plain = []
            parts.append(getitem(reshape(e.source, (-1,)), slice(e.index, e.index + j - i)))
            i = j
            continue
        if isinstance(e, Active):
            parts += [np.asarray(plain)] if plain else []
            plain = []
            j = i
            while j < len(items) and isinstance(items[j], Active):
                if items[j].ndim:
                    raise ValueError(f"an object array holds an active value of shape {tuple(items[j].shape)} as one "
                                     "element: join arrays with np.stack")
                j += 1
            parts.append(stack(items[i:j]))  # a run of active scalars: one entry
            i = j
            continue
        if np.asarray(e).dtype.kind not in "fiub" or np.ndim(e):
            raise TypeError(f"cannot differentiate an array holding the element {e!r:.60}")
        plain.append(e)
        i += 1
    return parts + ([np.asarray(plain)] if plain else [])


def operand(x):
    """An elementwise operand as handlers pass it to a rule: Python numbers as they are (weakly
    typed), active values as they are, anything else a NumPy array of a differentiable dtype."""
    return _operand(x)


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


def _reduce_axes(axis, ndim: int) -> tuple:
    """A reduction's ``axis``: as :func:`_axes`, and NumPy's ufunc reductions also accept a
    single integer axis 0 or -1 on a 0-d value (reducing nothing)."""
    if ndim == 0 and isinstance(axis, (int, np.integer)) and int(axis) in (0, -1):
        return ()
    return _axes(axis, ndim)


def _axis1(axis, ndim: int) -> int:
    return _axes(axis, ndim)[0]


def axes_of(axis, ndim: int) -> tuple:
    """``axis`` (None, int or tuple) as a sorted tuple of negative axes (AxisError if out of range)."""
    return _axes(axis, ndim)


def axis_of(axis, ndim: int) -> int:
    """One ``axis`` as a negative axis (AxisError if out of range)."""
    return _axis1(axis, ndim)


def slice_along(a, axis: int, start: int, stop: int):
    """``a[..., start:stop, ...]`` along ``axis``."""
    return _slice_along(a, axis, start, stop)


def no_out(out, name: str) -> None:
    """Refuse ``out=``: derivatives cannot be written into an existing array."""
    _no_out(out, name)


def flat_positions(shape, index, a=None):
    """The flat positions of an array of ``shape`` that ``index`` picks (host or device)."""
    return _flat_positions(shape, _norm_index(index), a)


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
    if func in VIEW_FUNCTIONS and args:  # NumPy answers with a view of args[0] where it can
        rest = args[1:]
        return linked(handler(*args, **kwargs), args[0], lambda grid: func(grid, *rest, **kwargs))
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


def _where_mask(where):
    """``where=`` of a reduction: None when it selects every element (NumPy's default True)."""
    if where is None or where is True:
        return None
    if isinstance(where, (bool, np.bool_)) or (isinstance(where, np.ndarray) and where.ndim == 0 and where.dtype == bool):
        return None if bool(where) else where
    return where


def _masked(a, mask, fill):
    """``a`` with the elements ``mask`` leaves out replaced by the constant ``fill``: what a
    reduction with ``where=`` reads (np.where, so that on a replayed tape a mask computed from
    active values is computed again, and an unselected element gets no derivative)."""
    return a if mask is None else where(mask, a, np.asarray(fill, dtype=a.dtype))


def _count(a, mask, axes, keepdims: bool):
    """How many elements ``mask`` selects per output of a reduction of ``a`` over ``axes``
    (a plain array: the mask's value is used as it is, a guard on a replayed tape)."""
    m = np.broadcast_to(np.asarray(mask, dtype=bool), tuple(a.shape))
    return np.sum(m, axis=axes, keepdims=keepdims)


@implements(np.sum)
def sum_(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no_out(out, "sum")
    a = _masked(_arr(a), _where_mask(where), 0)
    y = S.sum_.bind(a, axis=_reduce_axes(axis, a.ndim), keepdims=bool(keepdims), batch=0)
    if initial is not None:  # added once to each output, as NumPy does
        y = y + initial
    return _astype_opt(y, dtype)


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    _no_out(out, "mean")
    a = _arr(a)
    axes = _axes(axis, a.ndim)
    mask = _where_mask(where)
    if mask is None:
        n = int(np.prod([a.shape[ax] for ax in axes], dtype=np.int64))
    else:
        n = _count(a, mask, axes, bool(keepdims))
    s = S.sum_.bind(_masked(a, mask, 0), axis=axes, keepdims=bool(keepdims), batch=0)
    return _astype_opt(s / n, dtype)


@implements(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None, correction=None):
    _no_out(out, "var")
    a = _astype_opt(_arr(a), dtype)
    if correction is not None:
        ddof = correction
    axes = _axes(axis, a.ndim)
    mask = _where_mask(where)
    if mask is None:
        n = n_out = int(np.prod([a.shape[ax] for ax in axes], dtype=np.int64))
    else:
        n, n_out = _count(a, mask, axes, True), _count(a, mask, axes, bool(keepdims))
    # ``mean=``: the mean NumPy is given instead of computing it (with keepdims=True's shape)
    m = S.sum_.bind(_masked(a, mask, 0), axis=axes, keepdims=True, batch=0) / n if mean is None else mean
    d = a - m
    return S.sum_.bind(_masked(abs_squared(d), mask, 0), axis=axes, keepdims=bool(keepdims), batch=0) / (n_out - ddof)


def abs_squared(x):
    """``|x|²``: ``x * x``, or ``Re² + Im²`` for complex ``x`` (real, as NumPy's var and norm)."""
    if np.dtype(x.dtype).kind != "c":
        return x * x
    re, im = np.real(x), np.imag(x)
    return re * re + im * im


@implements(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None, correction=None):
    _no_out(out, "std")
    return np.sqrt(var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims, where=where, mean=mean, correction=correction))


def _extremum(prim, name: str, better, worst: float, a, axis, keepdims, initial, where):
    """``np.max``/``np.min`` with NumPy's ``initial=`` (a bound every output compares with) and
    ``where=`` (which NumPy accepts only together with ``initial``)."""
    a = _arr(a)
    axes = _reduce_axes(axis, a.ndim)
    mask = _where_mask(where)
    if mask is not None and initial is None:
        raise ValueError(
            f"np.{name}(..., where=...) needs initial=: the reduction has no identity for the elements "
            "where= leaves out (NumPy's own rule); pass initial= (e.g. -np.inf for max, np.inf for min)"
        )
    if initial is None:
        return prim.bind(a, axis=axes, keepdims=bool(keepdims))
    if any(a.shape[ax] == 0 for ax in axes):  # nothing to reduce: every output is initial
        out_shape = tuple(1 if i - a.ndim in axes else d for i, d in enumerate(a.shape)) if keepdims else tuple(
            d for i, d in enumerate(a.shape) if i - a.ndim not in axes)
        return broadcast_to(_operand(initial) + np.zeros(out_shape, dtype=a.dtype), out_shape)
    # the left-out elements read as ``worst`` (±inf): they never win against initial
    y = prim.bind(_masked(a, mask, worst), axis=axes, keepdims=bool(keepdims))
    return better(y, initial)


@implements(np.max, np.amax)
def amax(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    # complex values: NumPy's lexicographic order picks the element, whose derivative is 1 (ties
    # split evenly, as for real values and as JAX does)
    _no_out(out, "max")
    return _extremum(S.reduce_max, "max", np.maximum, -np.inf, a, axis, keepdims, initial, where)


@implements(np.min, np.amin)
def amin(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    _no_out(out, "min")
    return _extremum(S.reduce_min, "min", np.minimum, np.inf, a, axis, keepdims, initial, where)


@implements(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    _no_out(out, "prod")
    a = _masked(_arr(a), _where_mask(where), 1)
    axes = _reduce_axes(axis, a.ndim)
    y = a
    for ax in axes:
        y = S.prod.bind(y, axis=(ax,), keepdims=True)
    if not keepdims:
        y = squeeze(y, axis=axes) if axes else y
    if initial is not None:  # multiplied once into each output, as NumPy does
        y = y * initial
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
    return _astype_opt(scan(np.multiply, a, ax), dtype)


def scan(op, a, axis: int):
    """The inclusive scan of an associative binary ``op`` (a ufunc with a rule) along ``axis``:
    a Hillis-Steele scan, differentiable through its parts (exact with zeros for products)."""
    n = a.shape[axis]
    y, s = a, 1
    while s < n:
        head = _slice_along(y, axis, 0, s)
        tail = op(_slice_along(y, axis, s, n), _slice_along(y, axis, 0, n - s))
        y = concatenate([head, tail], axis=axis)
        s *= 2
    return y


def _slice_along(a, axis: int, start: int, stop: int):
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, stop)
    return getitem(a, tuple(index))


@implements(np.diff)
def diff(a, n=1, axis=-1, prepend=None, append=None):
    prepend = None if prepend is np._NoValue else prepend  # NumPy's placeholder for "none given"
    append = None if append is np._NoValue else append
    a = _arr(a)
    ax = _axis1(axis, a.ndim)
    if n == 0:  # NumPy returns the input itself, prepend/append unused
        return a
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
    if dtype.kind not in "fc":
        raise TypeError(
            f"casting an active value to {dtype} would drop its derivative; cast dualad.primal(x) instead"
        )
    if dtype.kind == "f" and np.dtype(x.dtype).kind == "c":
        raise TypeError(
            f"casting a complex active value to {dtype} would discard its imaginary part; take "
            "np.real(z) (or np.abs(z)) explicitly"
        )
    if dtype == x.dtype:
        return x
    return S.astype.bind(x, dtype=dtype, in_dtype=np.dtype(x.dtype), batch=0)


@implements(np.astype)
def astype_copy(x, dtype, /, *, copy=True, device=None):
    """``np.astype`` and the ``.astype`` method: ``copy=True`` gives a value of its own even
    when the dtype is unchanged (item assignment into it must not reach ``x``)."""
    x = _arr(x)
    y = astype(x, dtype) if isinstance(x, Active) else x.astype(dtype, copy=copy)
    return y._copy() if copy and y is x and isinstance(x, Active) else y


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


def plain(func):
    """Register ``func`` as a NumPy function whose result carries no derivative: applied to the
    primal values (a guard on tapes that will be replayed)."""
    return _plain(func)


def _plain(func):
    """A NumPy function whose result carries no derivative: applied to the primal values."""

    def handler(*args, **kwargs):
        return observe(func, *args, **kwargs)

    handler.__name__ = func.__name__
    FUNCTIONS[func] = handler
    return handler


for _f in (
    np.nonzero, np.flatnonzero, np.count_nonzero,
    np.isclose, np.allclose, np.array_equal, np.round, np.around, np.iscomplexobj, np.isrealobj, np.result_type,
    np.searchsorted, np.argwhere, np.any, np.all, np.einsum_path,
):
    _plain(_f)


def _active_like(a, plain, fill=None):
    """``np.zeros_like(a)`` and friends of an active ``a``: NumPy's ``plain`` result (values,
    dtype, shape) as an active constant at ``a``'s level, derivative 0 (or ``fill``'s, when the
    fill value is active), so that active values can be written into it (``out =
    np.zeros_like(x); out[i] = f(x[i])``), as in PyTorch.  Integer and boolean results, empty
    ones and device arrays stay NumPy's plain arrays."""
    a = _arr(a)
    if plain.dtype.kind not in "fc" or plain.size == 0 or type(plain) is not np.ndarray or type(strip(a)) is not np.ndarray:
        return plain
    seed = a
    if np.dtype(seed.dtype).kind == "c" and plain.dtype.kind == "f":
        seed = np.real(seed)
    if seed.dtype != plain.dtype:
        seed = astype(seed, plain.dtype)
    if tuple(seed.shape) != plain.shape:  # shape= given: one element of a, broadcast
        seed = broadcast_to(reshape(getitem(ravel(seed), slice(0, 1)), ()), plain.shape)
    value = plain if fill is None else broadcast_to(astype(_arr(fill), plain.dtype), plain.shape)
    # (the mask selects nothing from the seed: the value is the constant, the seed only its level)
    return where(np.zeros(plain.shape, dtype=bool), seed, value)


@implements(np.zeros_like)
def zeros_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _active_like(a, np.zeros_like(strip(a), dtype=dtype, shape=shape))


@implements(np.ones_like)
def ones_like(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
    return _active_like(a, np.ones_like(strip(a), dtype=dtype, shape=shape))


@implements(np.empty_like)
def empty_like(prototype, dtype=None, order="K", subok=True, shape=None, *, device=None):
    # zeros rather than NumPy's uninitialised memory: the same contract, and a defined derivative
    return _active_like(prototype, np.zeros_like(strip(prototype), dtype=dtype, shape=shape))


@implements(np.full_like)
def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    plain = np.full_like(strip(a), strip(fill_value), dtype=dtype, shape=shape)
    return _active_like(a, plain, fill_value if isinstance(fill_value, Active) else None)


def _index_of(func):
    """An index function (argmax, argsort): its result remembers how it was computed
    (:mod:`dualad.core.observed`), so that a gather by it is replayed, not guarded."""

    def handler(*args, **kwargs):
        return observe_index(func, *args, **kwargs)

    handler.__name__ = func.__name__
    FUNCTIONS[func] = handler
    return handler


for _f in (np.argmax, np.argmin, np.argsort):
    _index_of(_f)


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
    y = S.concatenate.bind(*_common_dtype(arrays, "np.concatenate"), axis=_axis1(axis, nd), batch=0)
    return _astype_opt(y, dtype)


def _common_dtype(arrays: list, what: str) -> list:
    """The operands of a join, active ones cast to NumPy's result dtype of them all."""
    dt = device.result_type([strip(a) for a in arrays], what)
    return [a if np.dtype(a.dtype) == dt or not isinstance(a, Active) else astype(a, dt) for a in arrays]


@implements(np.stack)
def stack(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    """One ``stack`` entry for any number of arrays (``np.array([c1, ..., cn])`` of active
    scalars joins through it too)."""
    _no_out(out, "stack")
    arrays = [_arr(a) for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to stack")
    if len({tuple(a.shape) for a in arrays}) != 1:
        raise ValueError("all input arrays must have the same shape")
    y = S.stack.bind(*_common_dtype(arrays, "np.stack"), axis=_axis1(axis, arrays[0].ndim + 1), batch=0)
    return _astype_opt(y, dtype)


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


@implements(np.split)
def split(ary, indices_or_sections, axis=0):
    """As :func:`array_split`, but a number of sections must divide the axis (NumPy's rule)."""
    if np.ndim(indices_or_sections) == 0:
        n = np.shape(strip(ary))[axis] if np.ndim(strip(ary)) else 0
        if int(indices_or_sections) <= 0 or n % int(indices_or_sections):
            raise ValueError("array split does not result in an equal division")
    return array_split(ary, indices_or_sections, axis)


@implements(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    a = _arr(ary)
    ax = _axis1(axis, a.ndim)
    n = a.shape[ax]
    if np.ndim(indices_or_sections) == 0:  # a number of sections (int or 0-d array)
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
    # An active condition is tested for truth.  On a tape that will be replayed, a condition
    # computed from active values (x > 0, masks combined with & | ~) is computed again at each
    # replay (where_by); any other is a plain result that steers the values (a guard).
    if isinstance(condition, Active):
        condition = observe_index(_truth, condition)
    mask = observed_mask(condition)
    cond = None if mask is not None else device.asarray(plain_value(condition), dtype=bool)
    x, y = _operand(x), _operand(y)
    dt = device.result_type([strip(x), strip(y)], "np.where")
    if dt.kind not in "fc":
        dt = np.dtype(np.float64)
    x = astype(x, dt) if isinstance(x, Active) else device.asarray(x, dtype=dt)
    y = astype(y, dt) if isinstance(y, Active) else device.asarray(y, dtype=dt)
    like = device.locate([mask._value if mask is not None else cond, strip(x), strip(y)], "np.where")
    if like is not None:  # scalar branches go to the device with the rest
        x, y = (device.namespace(like).asarray(v) if type(v) is np.ndarray else v for v in (x, y))
    if mask is not None:
        by = S.MaskBy(mask.fn, {k: strip(v) for k, v in mask.kw.items()})
        return S.where_by.bind(x, y, *mask.args, by=by, batch=0)
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
    if has_observed(index):
        return take_observed(a, index)
    index = _norm_index(plain_value(index))
    if _is_basic(index):
        return S.getitem.bind(a, index=index, batch=0)
    return S.gather.bind(a, flat=_flat_positions(tuple(a.shape), index, a), batch=0)


def setitem_value(a, index, value):
    """The value of ``a`` after ``a[index] = value``: a new value (copy-on-write)."""
    index = _norm_index(plain_value(index))
    value = _arr(value)
    if _is_basic(index):
        return S.setitem.bind(a, value, index=index, batch=0)
    return S.setitem_flat.bind(a, value, flat=_flat_positions(tuple(a.shape), index, a), batch=0)


@implements(np.take)
def take(a, indices, axis=None, out=None, mode="raise"):
    _no_out(out, "take")
    a = _arr(a)
    if isinstance(indices, ObservedIndex):
        return take_observed(a, indices, functools.partial(np.take, axis=axis, mode=mode))
    flat = np.take(_positions(a, strip(indices)), strip(indices), axis=axis, mode=mode)
    return S.gather.bind(a, flat=flat, batch=0)


@implements(np.take_along_axis)
def take_along_axis(arr, indices, axis=-1):
    a = _arr(arr)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    if isinstance(indices, ObservedIndex):
        return take_observed(a, indices, functools.partial(np.take_along_axis, axis=axis))
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
    if mode in ("edge", "reflect", "symmetric", "wrap") and kwargs.get("reflect_type", "even") == "even":
        # every output element is a copy of one input element: NumPy's own pad of the positions
        return S.gather.bind(a, flat=np.pad(_positions(a), pad_width, mode=mode, **kwargs), batch=0)
    if mode != "constant":
        raise NotImplementedError(
            f"np.pad(mode={mode!r}{', reflect_type=' + repr(kwargs['reflect_type']) if 'reflect_type' in kwargs else ''}) "
            "on active values: the modes 'constant', 'edge', 'reflect', 'symmetric' and 'wrap' (reflect_type='even') are "
            "offered; build other paddings from them with np.concatenate")
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
    perm = observe_index(np.argsort, a, axis=axis, kind="stable")  # on a replayed tape: an op, not a guard
    return take_along_axis(a, perm, axis=axis)


@implements(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    a = _arr(a)
    if a.ndim == 2 and (axis1, axis2) in ((0, 1), (-2, -1)):  # a matrix's: a stride of n + 1, no index grid
        m, n = a.shape
        start, count = (offset, min(m, n - offset)) if offset >= 0 else (-offset * n, min(m + offset, n))
        return S.gather.bind(a, flat=start + (n + 1) * np.arange(max(count, 0), dtype=np.intp), batch=0)
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
    if dt.kind not in "fc":
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
    a = _arr(a)
    if np.dtype(a.dtype).kind == "c":  # NumPy's vdot conjugates its first argument
        a = np.conjugate(a)
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
    if a.shape[-1] != b.shape[-1 if b_vec else -2]:
        raise ValueError(f"matmul: mismatch in core dimension: {tuple(a.shape)} @ {tuple(b.shape)}")
    # A vector operand takes no letter for its missing axis (one einsum, no reshapes): the op
    # count matters in small programs, where each op costs microseconds of bookkeeping.
    if a_vec or b_vec:
        other = b if a_vec else a
        lb = _letters(other.ndim - (1 if a_vec and b_vec else 2), "ijk")
        sa = "j" if a_vec else lb + "ij"
        sb = "j" if b_vec else lb + "jk"
        out = lb + ("" if a_vec else "i") + ("" if b_vec else "k")
        return _einsum(f"{sa},{sb}->{out}", a, b)
    if a.ndim == 2 and b.ndim == 2:  # two matrices (no batch axes): the subscripts below, at once
        return _einsum("ij,jk->ik", a, b)
    a, b, batch = _broadcast_stacks(a, b)
    lb = _letters(len(batch), "ijk")
    return _einsum(f"{lb}ij,{lb}jk->{lb}ik", a, b)


FUNCTIONS[np.matmul] = matmul
