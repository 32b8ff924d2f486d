"""NumPy's view semantics for active values.

``v = y[1:]``, ``y.T``, ``y.reshape(...)`` and the other functions that NumPy answers with a
view of ``y``'s memory give active values too, but dualad never writes into an array: an
assignment (``v[0] = c``, ``v += 1``, ``np.putmask(v, ...)``) gives the written value a new
array (copy-on-write, recorded on the tape).  So that the program still computes what NumPy
computes, a view remembers the value it views (its *base*) and where its elements sit there,
and a write is carried across: a write into a view is written into its base at those
positions, and every live view of a written value reads its elements again.  Whether NumPy
made a view is read off NumPy itself: the view's plain array shares memory with its base's.

Everything is recorded with the structural ops (a scatter into the base, a gather per view),
so both modes, nesting and ``jit`` follow; nothing here knows about derivatives.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..rules import structural as S
from .dispatch import Active, strip

__all__ = ["linked", "linked_part", "write", "is_view_at", "VIEW_FUNCTIONS"]

#: NumPy functions whose result is a view of their first argument whenever NumPy can make one
#: (NumPy decides: a reshape of a transposed array is a copy, and then nothing is linked).
VIEW_FUNCTIONS = frozenset(
    f for f in (
        np.reshape, np.ravel, np.transpose, np.swapaxes, np.moveaxis, np.squeeze, np.expand_dims,
        np.atleast_1d, np.atleast_2d, np.atleast_3d, getattr(np, "matrix_transpose", None),
        getattr(np, "permute_dims", None),
    ) if f is not None
)


def linked(view, base, positions=None, index=None):
    """``view`` (the result of a NumPy view function applied to ``base``), linked to ``base``
    when NumPy's own result shares ``base``'s memory.  ``positions(P)`` applies the same
    function to an array ``P`` of ``base``'s shape (it locates the view's elements); a view made
    by indexing passes its ``index`` instead (``P[index]``; see also :func:`is_view_at`)."""
    p = strip(view)
    if type(p) is not np.ndarray or view is base or not isinstance(view, Active) or not isinstance(base, Active):
        return view  # (a NumPy scalar, such as x[i] of a vector, is never a view)
    b = strip(base)
    if type(b) is not np.ndarray or p.size == 0 or not np.may_share_memory(p, b):
        return view
    view._view = (base, positions, index)
    views = getattr(base, "_views", None)
    if views is None:
        base._views = views = []
    elif len(views) >= 16 and len(views) & (len(views) - 1) == 0:  # prune dead views at powers of two
        views[:] = [r for r in views if r() is not None]
    views.append(weakref.ref(view))
    return view


def linked_part(view, base, part: str, rebuild):
    """``base.real`` or ``base.imag`` (``part``), linked to ``base``: NumPy's views of a complex
    array's parts (and ``x.real`` of a real array is ``x`` itself).  ``rebuild(base, value)`` is
    ``base`` with that part replaced by ``value``.  ``x.imag`` of a real array is a new read-only
    array in NumPy: not linked."""
    if not (isinstance(view, Active) and isinstance(base, Active)) or view is base:
        return view
    if part == "imag" and np.dtype(base.dtype).kind != "c":
        return view
    view._view = (base, (part, rebuild), None)
    views = getattr(base, "_views", None)
    if views is None:
        base._views = views = []
    views.append(weakref.ref(view))
    return view


def is_view_at(value, base, index) -> bool:
    """Whether ``value`` is the live view ``base[index]``: its elements are ``base``'s there
    already (every write to either is carried to the other), so ``base[index] = value`` (the
    last step of ``base[index] += v``) has nothing to write."""
    link = getattr(value, "_view", None)
    if link is None or link[0] is not base or link[2] is None:
        return False
    try:
        return _plain_key(index) and bool(link[2] == index)
    except (TypeError, ValueError):  # keys holding arrays do not compare to one truth value
        return False


def _plain_key(index) -> bool:
    # ints, slices, None and Ellipsis only: an array in the key could compare equal elementwise
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(k, (int, np.integer, slice, type(None), type(Ellipsis))) and not isinstance(k, bool) for k in parts)


def _view_positions(view, base) -> np.ndarray:
    """The flat positions in ``base`` of ``view``'s elements (``view``'s shape)."""
    grid = np.arange(int(np.prod(base.shape, dtype=np.int64)), dtype=np.intp).reshape(tuple(base.shape))
    _, positions, index = view._view
    return np.asarray(grid[index] if positions is None else positions(grid))


def _refuse_leaf_base(a) -> None:
    """Raise before anything is written when a write through ``a`` would reach a leaf that
    must not change (a transform's input, a hand-made ``Variable``)."""
    link = getattr(a, "_view", None)
    while link is not None:
        base = link[0]
        if getattr(base, "_is_leaf", False):
            raise RuntimeError(
                "this array is a view of a leaf Variable (a transform's input, or a Variable made by "
                "hand), and writing into it would write into that input, as NumPy does, which would "
                "lose its gradient; copy the view first (v = x[...].copy()) and write into the copy"
            )
        link = getattr(base, "_view", None)


def write(a, new) -> None:
    """``a``'s value becomes ``new`` (of ``a``'s shape), as an in-place write: carried into the
    value ``a`` views (and so on up) and into every live view of the values written."""
    _refuse_leaf_base(a)
    a._assign(new)
    _refresh_views(a, None)
    child = a
    link = getattr(child, "_view", None)
    while link is not None:
        base, how = link[0], link[1]
        if isinstance(how, tuple):  # a complex part: the base with that part replaced
            base._assign(how[1](base, child))
        else:
            base._assign(S.setitem_flat.bind(base, child, flat=_view_positions(child, base), batch=0))
        _refresh_views(base, child)
        child, link = base, getattr(base, "_view", None)


def _refresh_views(a, skip) -> None:
    """Every live view of ``a`` (but ``skip``, which was just written into ``a``) reads its
    elements from ``a`` again, and so on down."""
    views = getattr(a, "_views", None)
    if not views:
        return
    for ref in list(views):
        v = ref()
        if v is None or v is skip or getattr(v, "_view", (None,))[0] is not a:
            continue
        how = v._view[1]
        if isinstance(how, tuple):
            v._assign(np.real(a) if how[0] == "real" else np.imag(a))
        else:
            v._assign(S.gather.bind(a, flat=_view_positions(v, a), batch=0))
        _refresh_views(v, None)
