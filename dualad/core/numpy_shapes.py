"""NumPy's shape and selection functions on active values, beyond :mod:`dualad.core.numpy_api`.

``meshgrid``, ``diagflat``, ``append``, ``insert``, ``delete``, the ``v/h/dsplit`` family,
``rot90``, ``kron``, ``atleast_3d``, ``dstack``, ``rollaxis``, ``partition``, ``select``, ``piecewise``,
``resize``, ``compress``, ``extract``, ``choose``, ``putmask``, ``place``, ``apply_along_axis``,
``block``, ``sliding_window_view``, ``trim_zeros``, ``sort_complex``, ``fill_diagonal``, ``put``,
``put_along_axis``, ``copyto`` and ``x.flat`` (:func:`flat_getitem`, :func:`flat_setitem`): each
is a composition of the structural handlers (reshape, broadcast, transpose, flip, gather, where,
einsum).  Where an element goes is computed by NumPy itself on an array of positions, so the
placement is NumPy's exactly; in-place writes are recorded copy-on-write into the active target.
No derivative is written here.
"""

from __future__ import annotations

import string

import numpy as np

from ..rules import structural as S
from . import numpy_api as api
from .dispatch import Active, observe, strip
from .observed import has_observed, observe_index
from .observed import plain as plain_value
from .views import write

__all__ = [
    "meshgrid", "diagflat", "append", "insert", "delete", "vsplit", "hsplit", "dsplit", "rot90", "kron",
    "atleast_3d", "dstack", "rollaxis", "partition", "select", "piecewise", "resize", "compress", "extract",
    "choose", "putmask", "place", "apply_along_axis", "block", "sliding_window_view", "trim_zeros", "sort_complex",
    "fill_diagonal", "put", "put_along_axis", "copyto", "flat_getitem", "flat_setitem",
]


def _positions(a):
    return np.arange(a.size, dtype=np.intp).reshape(tuple(a.shape))


@api.implements(np.meshgrid)
def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    xs = [api.ravel(api.as_array(x)) for x in xi]
    nd = len(xs)
    out = []
    for i, x in enumerate(xs):
        shape = [1] * nd
        shape[i] = x.shape[0]
        if indexing == "xy" and nd > 1 and i < 2:
            shape[0], shape[1] = shape[1], shape[0]
        out.append(api.reshape(x, tuple(shape)))
    if not sparse:
        full = np.broadcast_shapes(*(tuple(o.shape) for o in out))
        out = [api.broadcast_to(o, full) for o in out]
    return tuple(out)


@api.implements(np.diagflat)
def diagflat(v, k=0):
    return api.diag(api.ravel(api.as_array(v)), k)


@api.implements(np.append)
def append(arr, values, axis=None):
    arr, values = api.as_array(arr), api.as_array(values)
    if axis is None:
        return api.concatenate([api.ravel(arr), api.ravel(values)], axis=0)
    return api.concatenate([arr, values], axis=axis)


@api.implements(np.insert)
def insert(arr, obj, values, axis=None):
    """Where ``arr``'s and ``values``' elements land is NumPy's ``insert`` of their positions."""
    arr, values = api.as_array(arr), api.as_array(values)
    if axis is None:
        arr, axis = api.ravel(arr), 0
    obj = strip(obj)
    from_arr = np.insert(_positions(arr), obj, -1, axis=axis)
    from_values = np.insert(np.full(tuple(arr.shape), -1, dtype=np.intp), obj, _positions(values), axis=axis)
    taken = from_arr >= 0
    dt = np.result_type(strip(arr), strip(values)) if arr.dtype.kind == "f" else np.dtype(np.float64)
    a = S.gather.bind(_as(arr, dt), flat=np.where(taken, from_arr, 0), batch=0)
    v = S.gather.bind(_as(values, dt), flat=np.where(taken, 0, from_values), batch=0)
    return api.where(taken, a, v)


def _as(x, dt):
    if isinstance(x, Active):
        return api.astype(x, dt) if x.dtype != dt else x
    return np.asarray(x, dtype=dt).reshape(np.shape(x))


@api.implements(np.delete)
def delete(arr, obj, axis=None):
    arr = api.as_array(arr)
    return S.gather.bind(arr, flat=np.delete(_positions(arr), strip(obj), axis=axis), batch=0)


def _split_on(axis, minimum):
    def handler(ary, indices_or_sections):
        a = api.as_array(ary)
        if a.ndim < minimum:
            raise ValueError(f"this split only works on arrays of {minimum} or more dimensions")
        ax = axis if axis is not None else (1 if a.ndim > 1 else 0)
        return api.split(a, indices_or_sections, axis=ax)

    return handler


vsplit = api.implements(np.vsplit)(_split_on(0, 2))
hsplit = api.implements(np.hsplit)(_split_on(None, 1))
dsplit = api.implements(np.dsplit)(_split_on(2, 3))


@api.implements(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    """NumPy's composition: flips and a transpose of the two axes."""
    m = api.as_array(m)
    a0, a1 = (int(ax) % m.ndim for ax in axes)
    if a0 == a1 or len(axes) != 2:
        raise ValueError("Axes must be different.")
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return api.flip(api.flip(m, a0), a1)
    perm = list(range(m.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return api.transpose(api.flip(m, a1), perm)
    return api.flip(api.transpose(m, perm), a1)


@api.implements(np.kron)
def kron(a, b):
    """The outer product with each axis of ``a`` next to the same axis of ``b``, merged."""
    a, b = api.as_array(a), api.as_array(b)
    nd = max(a.ndim, b.ndim)
    a = api.reshape(a, (1,) * (nd - a.ndim) + tuple(a.shape))
    b = api.reshape(b, (1,) * (nd - b.ndim) + tuple(b.shape))
    if nd == 0:
        return a * b
    la, lb = string.ascii_letters[:nd], string.ascii_letters[nd:2 * nd]
    out = "".join(x + y for x, y in zip(la, lb))
    y = np.einsum(f"{la},{lb}->{out}", a, b)
    return api.reshape(y, tuple(p * q for p, q in zip(a.shape, b.shape)))


@api.implements(np.atleast_3d)
def atleast_3d(*arys):
    out = []
    for x in arys:
        x = api.as_array(x)
        shape = {0: (1, 1, 1), 1: (1,) + tuple(x.shape) + (1,), 2: tuple(x.shape) + (1,)}.get(x.ndim, tuple(x.shape))
        out.append(api.reshape(x, shape))
    return out[0] if len(out) == 1 else tuple(out)


@api.implements(np.dstack)
def dstack(tup):
    """Along the third axis, each array first made at least 3-D (NumPy's rule)."""
    arrs = [atleast_3d(x) for x in tup]
    return api.concatenate(arrs, axis=2)


@api.implements(np.rollaxis)
def rollaxis(a, axis, start=0):
    a = api.as_array(a)
    n = a.ndim
    axis = api.axis_of(axis, n) % n
    if not -n <= start <= n:
        raise np.exceptions.AxisError(f"start={start} is out of bounds for array of dimension {n}")
    start = start % (n + 1) if start < 0 else start
    if axis < start:
        start -= 1
    if axis == start:
        return a
    axes = [i for i in range(n) if i != axis]
    axes.insert(start, axis)
    return api.transpose(a, axes)


@api.implements(np.partition)
def partition(a, kth, axis=-1, kind="introselect", order=None):
    """The elements in NumPy's partitioned order (``argpartition`` of the values), gathered."""
    a = api.as_array(a)
    if axis is None:
        a, axis = api.ravel(a), -1
    perm = observe_index(np.argpartition, a, kth, axis=axis)
    return api.take_along_axis(a, perm, axis=axis)


@api.implements(np.select)
def select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    conds = [np.asarray(_plain_mask(c), dtype=bool) for c in condlist]
    choices = [api.operand(c) for c in choicelist]
    out = api.operand(default)
    for c, v in zip(conds[::-1], choices[::-1]):
        out = api.where(c, v, out)
    shape = np.broadcast_shapes(*(np.shape(strip(v)) for v in [out, *choices]), *(c.shape for c in conds))
    return api.broadcast_to(api.as_array(out), shape) if np.shape(strip(out)) != shape else out


@api.implements(np.piecewise)
def piecewise(x, condlist, funclist, *args, **kw):
    """NumPy's loop: ``y[cond] = f(x[cond])`` for each condition in turn (later ones win)."""
    x = api.as_array(x)
    if isinstance(condlist, (bool, np.bool_)) or (not isinstance(condlist, list) and np.ndim(strip(condlist)) == x.ndim):
        condlist = [condlist]
    conds = [np.asarray(_plain_mask(c), dtype=bool) for c in condlist]
    if len(funclist) == len(conds) + 1:
        conds.append(~np.any(conds, axis=0))
    elif len(funclist) != len(conds):
        raise ValueError(f"with {len(conds)} condition(s), either {len(conds)} or {len(conds) + 1} functions are expected")
    y = np.zeros(tuple(x.shape), dtype=x.dtype)
    for cond, f in zip(conds, funclist):
        if not np.any(cond):
            continue
        cond = np.broadcast_to(cond, tuple(x.shape))
        value = f(api.getitem(x, cond), *args, **kw) if callable(f) else f
        if isinstance(y, Active) or isinstance(value, Active):
            y = api.setitem_value(y, cond, value)
        else:
            y = y.copy()
            y[cond] = value
    return y


@api.implements(np.resize)
def resize(a, new_shape):
    """``a``'s elements repeated in order to fill ``new_shape`` (NumPy's resize of the positions)."""
    a = api.as_array(a)
    return S.gather.bind(a, flat=np.resize(_positions(a), new_shape), batch=0)


def _plain_mask(condition):
    # a condition computed from active values: its value (a guard on recorded tapes)
    return np.asarray(observe(np.asarray, condition) if isinstance(condition, Active) else condition)


@api.implements(np.compress)
def compress(condition, a, axis=None, out=None):
    api.no_out(out, "compress")
    a = api.as_array(a)
    return S.gather.bind(a, flat=np.compress(_plain_mask(condition), _positions(a), axis=axis), batch=0)


@api.implements(np.extract)
def extract(condition, arr):
    a = api.as_array(arr)
    return S.gather.bind(a, flat=np.extract(_plain_mask(condition), _positions(a)), batch=0)


@api.implements(np.choose)
def choose(a, choices, out=None, mode="raise"):
    """``choices[a[i]][i]``: the choices broadcast and stacked, gathered at NumPy's ``choose`` of
    their positions."""
    api.no_out(out, "choose")
    index = np.asarray(strip(a))
    parts = api.broadcast_arrays(*[api.as_array(c) for c in choices])
    stacked = api.stack(parts, axis=0)
    pos = _positions(stacked)
    return S.gather.bind(stacked, flat=np.choose(index, list(pos), mode=mode), batch=0)


def _in_place(name: str, a, new) -> None:
    if not isinstance(a, Active):
        raise TypeError(
            f"np.{name} cannot write active values into a plain array in place; make the target active "
            f"first (e.g. a = np.zeros_like(x, shape=n), then np.{name}(a, ...)), or build a new array with np.where"
        )
    write(a, new)


@api.implements(np.putmask)
def putmask(a, mask, values):
    """``a.flat[n] = values.flat[n % len(values)]`` where ``mask.flat[n]``: in place, as NumPy
    (the target is recorded anew, copy-on-write)."""
    target = api.as_array(a)
    m = np.broadcast_to(_plain_mask(mask).astype(bool), tuple(target.shape))
    v = api.as_array(values)
    filled = S.gather.bind(api.ravel(v), flat=np.resize(np.arange(v.size), tuple(target.shape)), batch=0)
    _in_place("putmask", a, api.where(m, filled, target))


@api.implements(np.place)
def place(arr, mask, vals):
    """``arr[mask] = vals`` with ``vals`` repeated in order over the selected elements, in place."""
    target = api.as_array(arr)
    picked = np.flatnonzero(np.broadcast_to(_plain_mask(mask).astype(bool), tuple(target.shape)))
    v = api.ravel(api.as_array(vals))
    if picked.size and v.size == 0:
        raise ValueError("Cannot insert from an empty array!")
    flat = api.ravel(target)
    if picked.size:
        flat = api.setitem_value(flat, picked, S.gather.bind(v, flat=np.resize(np.arange(v.size), picked.size), batch=0))
    _in_place("place", arr, api.reshape(flat, tuple(target.shape)))


@api.implements(np.apply_along_axis)
def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """NumPy's loop: ``func1d`` on each 1-D slice along ``axis``; the results stacked where the
    axis was (a scalar result removes it, an n-d one takes its place)."""
    a = api.as_array(arr)
    ax = api.axis_of(axis, a.ndim) + a.ndim
    moved = api.moveaxis(a, ax, -1)
    outer = tuple(moved.shape[:-1])
    if 0 in outer:
        raise ValueError("Cannot apply_along_axis when any iteration dimensions are 0")
    results = [api.as_array(func1d(api.getitem(moved, i), *args, **kwargs)) for i in np.ndindex(*outer)]
    y = api.reshape(api.stack(results, axis=0), outer + tuple(results[0].shape))
    r = results[0].ndim  # the result's own axes go where ``axis`` was
    return api.moveaxis(y, tuple(range(len(outer), len(outer) + r)), tuple(range(ax, ax + r))) if r else y


# --------------------------------------------------------------------------------------------
# Blocks, windows, trimming


def _leaves_as_positions(arrays, leaves: list):
    """``arrays`` with each leaf (anything but a list) replaced by the positions its elements
    will have in the concatenation of all leaves, flattened; the leaves are collected in order.
    Tuples stay as they are, for NumPy to refuse."""
    if type(arrays) is list:
        return [_leaves_as_positions(x, leaves) for x in arrays]
    if type(arrays) is tuple:
        return arrays
    leaf = api.as_array(arrays)
    start = sum(int(x.size) for x in leaves)
    leaves.append(leaf)
    return np.arange(start, start + leaf.size, dtype=np.intp).reshape(tuple(leaf.shape))


@api.implements(np.block)
def block(arrays):
    """NumPy's ``block`` of the leaves' positions (its shapes, depth rules and errors) gathers
    from all the leaves, flattened and joined in NumPy's result dtype."""
    leaves: list = []
    positions = np.block(_leaves_as_positions(arrays, leaves))
    joined = api.concatenate([api.ravel(x) for x in leaves], axis=0)
    return S.gather.bind(joined, flat=positions, batch=0)


@api.implements(np.lib.stride_tricks.sliding_window_view)
def sliding_window_view(x, window_shape, axis=None, *, subok=False, writeable=False):
    """The windows gathered at NumPy's ``sliding_window_view`` of the positions: a read-only
    copy, where NumPy's is a view."""
    if writeable:
        raise TypeError(
            "sliding_window_view(writeable=True) of an active value would write through to it; "
            "take the windows read-only and build a new array from them (np.where, np.concatenate)"
        )
    a = api.as_array(x)
    windows = np.lib.stride_tricks.sliding_window_view(_positions(a), window_shape, axis=axis)
    return S.gather.bind(a, flat=np.ascontiguousarray(windows), batch=0)


def _trim_box(filt, trim, axis) -> tuple:
    """NumPy's ``trim_zeros`` box: one slice per axis (its errors, from NumPy itself)."""
    np.trim_zeros(filt, trim=trim, axis=axis)
    nonzero = np.argwhere(filt)
    axes = range(filt.ndim) if axis is None else np.lib.array_utils.normalize_axis_tuple(axis, filt.ndim)
    if nonzero.size == 0:
        start = stop = np.zeros(filt.ndim, dtype=np.intp)
    else:
        start, stop = nonzero.min(axis=0), nonzero.max(axis=0) + 1
    trim = trim.lower()
    return tuple(slice(int(start[i]) if "f" in trim else None, int(stop[i]) if "b" in trim else None) if i in axes
                 else slice(None) for i in range(filt.ndim))


@api.implements(np.trim_zeros)
def trim_zeros(filt, trim="fb", axis=None):
    """``filt`` without its leading/trailing zeros: which elements are kept is decided on the
    values (plain, a guard on recorded tapes); the kept ones carry their derivatives."""
    a = api.as_array(filt)
    return api.getitem(a, observe(_trim_box, a, trim, axis))


@api.implements(np.sort_complex)
def sort_complex(a):
    """Sorted along the last axis (real part first, then imaginary), as a complex array: real
    values become complex128 (float32 too, as NumPy)."""
    y = api.sort(api.as_array(a))
    return y if y.dtype.kind == "c" else api.astype(y, np.complex128)


# --------------------------------------------------------------------------------------------
# Writing in place: NumPy marks which element of ``values`` goes where


def _write_marked(target, marked, values, name: str) -> None:
    """Write into ``target`` in place: ``marked`` (target's shape) holds for each element the flat
    position in ``values`` that NumPy's own function put there, or -1 where it wrote nothing."""
    t = api.as_array(target)
    v = api.as_array(values)
    written = marked >= 0
    if not written.any():
        new = t
    else:
        source = api.ravel(_as(v, np.dtype(t.dtype)))
        new = api.where(written, S.gather.bind(source, flat=np.where(written, marked, 0), batch=0), t)
    _in_place(name, target, new)


def _unmarked(shape) -> np.ndarray:
    return np.full(shape, -1, dtype=np.intp)


@api.implements(np.fill_diagonal)
def fill_diagonal(a, val, wrap=False):
    """``a``'s main diagonal set to ``val`` (repeated in order), in place, where NumPy puts it."""
    marked = _unmarked(np.shape(strip(a)))
    np.fill_diagonal(marked, _positions(api.as_array(val)).ravel(), wrap=wrap)
    _write_marked(a, marked, val, "fill_diagonal")


@api.implements(np.put)
def put(a, ind, v, mode="raise"):
    """``a.flat[ind] = v`` (``v`` repeated in order; ``mode`` for indices out of range), in place."""
    marked = _unmarked(np.shape(strip(a)))
    np.put(marked, strip(ind), _positions(api.as_array(v)).ravel(), mode=mode)
    _write_marked(a, marked, v, "put")


@api.implements(np.put_along_axis)
def put_along_axis(arr, indices, values, axis):
    """``values`` (broadcast to ``indices``) written along ``axis`` at ``indices``, in place."""
    marked = _unmarked(np.shape(strip(arr)))
    np.put_along_axis(marked, strip(indices), _positions(api.as_array(values)), axis)
    _write_marked(arr, marked, values, "put_along_axis")


@api.implements(np.copyto)
def copyto(dst, src, casting="same_kind", where=True):
    """``dst[...] = src`` (broadcast) where ``where``, in place; ``casting`` checked by NumPy on
    the dtypes."""
    s = api.as_array(src)
    like = src if isinstance(src, (int, float, complex)) else np.zeros((), dtype=s.dtype)
    np.copyto(np.empty((), dtype=np.dtype(api.as_array(dst).dtype)), like, casting=casting)
    marked = _unmarked(np.shape(strip(dst)))
    np.copyto(marked, _positions(s), where=_plain_mask(where).astype(bool) if where is not True else True)
    _write_marked(dst, marked, src, "copyto")


# --------------------------------------------------------------------------------------------
# ``x.flat`` of active values


def flat_getitem(x, index):
    """``x.flat[index]``: the elements NumPy's ``flat`` picks from the positions array."""
    if isinstance(index, Active):
        raise TypeError("cannot index with an active value; index with dualad.primal(i) (indices carry no derivative)")
    if has_observed(index):
        return api.getitem(api.ravel(x), index)
    return S.gather.bind(x, flat=np.asarray(_positions(x).flat[plain_value(index)]), batch=0)


def flat_setitem(x, index, value) -> None:
    """``x.flat[index] = value`` (``value`` repeated in order, as NumPy), copy-on-write."""
    if isinstance(index, Active):
        raise TypeError("cannot index with an active value; index with dualad.primal(i) (indices carry no derivative)")
    marked = _unmarked(tuple(x.shape))
    sources = _positions(api.as_array(value)).ravel()
    # one element as a scalar: NumPy's flat sets a single item only from a scalar
    marked.flat[plain_value(index)] = sources[0] if sources.size == 1 else sources
    _write_marked(x, marked, value, "flat assignment")
