"""Integer results computed from active values that remember how they were computed.

``np.argmax``, ``np.argmin``, ``np.argsort`` and ``np.argpartition`` of an active value carry no
derivative.  On an ordinary tape they are plain arrays.  On a tape that will be replayed
(:func:`dualad.record`, :func:`dualad.jit`) their result is an :class:`ObservedIndex`: used as an
index into an active value (``x[i]``, ``np.take_along_axis``, ``np.take``, and ``np.sort`` built
on them) it becomes a gather whose positions are computed again at each replay
(:class:`dualad.rules.structural.GatherBy`), so a new permutation does not record ``f`` again.
Every other use — a comparison steering Python (``if i > 3``), ``int(i)``, ``np.asarray(i)``,
arithmetic, printing — takes its plain value, and that makes it a *guard* of the recording, as
:func:`dualad.core.dispatch.observe` does at once for other plain results.
"""

from __future__ import annotations

import functools
import operator

import numpy as np

from ..rules import structural as S
from .dispatch import Active, guard_entries, strip

__all__ = ["ObservedIndex", "observe_index", "plain", "has_observed", "take_observed", "observed_mask"]


class _Pending:
    """The guards an index still owes its tapes (appended once, at its first plain use)."""

    __slots__ = ("entries",)

    def __init__(self, entries):
        self.entries = entries

    def settle(self) -> None:
        entries, self.entries = self.entries, None
        for guards, entry in entries or ():
            guards.append(entry)


class ObservedIndex:
    """An integer array computed by ``fn(*args, **kw)`` from active values, its guard deferred.

    Attributes
    ----------
    fn, args, kw
        How it is computed (``args`` may be active).
    shape, ndim, dtype, size
        Those of the value (they depend on shapes only: reading them is no guard).
    """

    __slots__ = ("fn", "args", "kw", "_value", "_pending")
    __array_priority__ = -1

    def __init__(self, fn, args, kw, value, pending: _Pending):
        self.fn, self.args, self.kw = fn, tuple(args), dict(kw)
        self._value, self._pending = value, pending

    shape = property(lambda self: np.shape(self._value))
    ndim = property(lambda self: np.ndim(self._value))
    dtype = property(lambda self: np.asarray(self._value).dtype)
    size = property(lambda self: np.size(self._value))

    def value(self):
        """The plain value, made a guard of the recording (Python may now depend on it)."""
        self._pending.settle()
        return self._value

    def derived(self, fn) -> ObservedIndex:
        """The index ``fn(self)`` (a reshape, a slice), still computed at each replay."""
        return ObservedIndex(_Then(self.fn, fn), self.args, self.kw, fn(self._value), self._pending)

    # -- plain uses: each one a guard -------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        return np.array(self.value(), dtype=dtype, copy=True)

    def __format__(self, spec) -> str:
        return format(self.value(), spec)

    def __getattr__(self, name):  # tolist, item, astype, ...: NumPy's, on the plain value
        return getattr(self.value(), name)

    def __getitem__(self, key):
        if not _plain_key(key):
            return self.value()[plain(key)]
        return self.derived(functools.partial(_index, key=key))

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return getattr(ufunc, method)(*[plain(x) for x in inputs], **{k: plain(v) for k, v in kwargs.items()})

    def __array_function__(self, func, types, args, kwargs):
        if func is np.where and any(isinstance(a, Active) for a in args[1:]):
            return NotImplemented  # dualad's np.where: a mask computed again at each replay
        shaping = _SHAPING.get(func)
        if shaping is not None and args and args[0] is self and _plain_key((args[1:], kwargs)):
            return self.derived(functools.partial(_call_on, func=func, rest=args[1:], kwargs=kwargs))
        return func(*plain(list(args)), **plain(dict(kwargs)))


def _binary(name):
    def method(self, other):
        if name in _LOGICAL:
            both = _combined(_LOGICAL[name], self, other)
            if both is not None:
                return both
        return getattr(operator, name)(self.value(), plain(other))

    def reflected(self, other):
        if name in _LOGICAL:
            both = _combined(_LOGICAL[name], other, self)
            if both is not None:
                return both
        return getattr(operator, name)(plain(other), self.value())

    return method, reflected


_LOGICAL = {"and_": np.logical_and, "or_": np.logical_or, "xor": np.logical_xor}


class _Both:
    """The guards two combined masks owe (each settled at the first plain use of the result)."""

    __slots__ = ("parts",)

    def __init__(self, *parts):
        self.parts = parts

    def settle(self) -> None:
        for part in self.parts:
            part.settle()


class _Combine:
    """``op(first(*args[:n], **kw1), second(*args[n:], **kw2))``: two masks combined."""

    __slots__ = ("op", "first", "kw1", "n", "second", "kw2", "__name__")

    def __init__(self, op, first, kw1, n, second, kw2):
        self.op, self.first, self.kw1, self.n, self.second, self.kw2 = op, first, kw1, n, second, kw2
        self.__name__ = op.__name__

    def __call__(self, *args):
        return self.op(self.first(*args[: self.n], **self.kw1), self.second(*args[self.n:], **self.kw2))


def _constant(value):
    return lambda: value


def _is_mask(x) -> bool:
    return isinstance(x, ObservedIndex) and x.dtype.kind == "b"


def _combined(op, a, b):
    """``op(a, b)`` of two boolean masks at least one of which is observed (the other may be a
    plain bool array or bool), still computed at each replay; None when they are not masks."""
    masks = [x if _is_mask(x) else None for x in (a, b)]
    for i, x in enumerate((a, b)):
        if masks[i] is None:
            if isinstance(x, (ObservedIndex, Active)) or np.asarray(x).dtype.kind != "b":
                return None
            masks[i] = ObservedIndex(_constant(np.asarray(x)), (), {}, np.asarray(x), _Pending(None))
    first, second = masks
    fn = _Combine(op, first.fn, first.kw, len(first.args), second.fn, second.kw)
    return ObservedIndex(fn, first.args + second.args, {}, op(first._value, second._value), _Both(first._pending, second._pending))


def observed_mask(x) -> ObservedIndex | None:
    """``x`` if it is a boolean mask computed from active values that a replay computes again
    (a comparison on a tape that will be replayed), else None."""
    return x if _is_mask(x) else None


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and_", "or_", "xor", "lshift", "rshift", "matmul"):
    _m, _r = _binary(_name)
    _dunder = _name.rstrip("_")
    setattr(ObservedIndex, f"__{_dunder}__", _m)
    setattr(ObservedIndex, f"__r{_dunder}__", _r)
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(ObservedIndex, f"__{_name}__", _binary(_name)[0])
for _name, _fn in (
    ("neg", operator.neg), ("pos", operator.pos), ("abs", operator.abs),
    ("index", operator.index), ("int", int), ("float", float), ("complex", complex), ("bool", bool),
    ("len", len), ("iter", iter), ("hash", hash), ("repr", repr), ("str", str),
):  # each a plain use of the value: a guard
    setattr(ObservedIndex, f"__{_name}__", (lambda fn: lambda self: fn(self.value()))(_fn))


def _invert(self):
    return self.derived(np.logical_not) if _is_mask(self) else operator.invert(self.value())


ObservedIndex.__invert__ = _invert

_SHAPING = {f: f.__name__ for f in (
    np.broadcast_to, np.reshape, np.expand_dims, np.ravel, np.transpose, np.flip, np.squeeze, np.swapaxes, np.moveaxis,
)}


class _Then:
    """``after(first(*args, **kw))``: an index computed, then reshaped or sliced."""

    __slots__ = ("first", "after", "__name__")

    def __init__(self, first, after):
        self.first, self.after = first, after
        self.__name__ = getattr(first, "__name__", "index")

    def __call__(self, *args, **kw):
        return self.after(self.first(*args, **kw))


def _index(value, key):
    return value[key]


def _call_on(value, func, rest, kwargs):
    return func(value, *rest, **kwargs)


def _plain_key(key) -> bool:
    """Whether ``key`` (nested tuples, lists, dicts) holds no observed or active value."""
    if isinstance(key, (ObservedIndex, Active)):
        return False
    if isinstance(key, (tuple, list)):
        return all(_plain_key(k) for k in key)
    if isinstance(key, dict):
        return all(_plain_key(k) for k in key.values())
    return True


def plain(x):
    """``x`` with every :class:`ObservedIndex` in it (through tuples, lists, dicts) replaced by
    its plain value — each one made a guard."""
    if isinstance(x, ObservedIndex):
        return x.value()
    if isinstance(x, (tuple, list)) and any(isinstance(k, (ObservedIndex, tuple, list, dict)) for k in x):
        return type(x)(plain(k) for k in x) if isinstance(x, tuple) else [plain(k) for k in x]
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    return x


def _gathers(k) -> bool:
    # a boolean mask as an index picks as many elements as it holds True: a shape that depends
    # on values, so it is used plainly (a guard), not gathered by at each replay
    return isinstance(k, ObservedIndex) and k.dtype.kind != "b"


def has_observed(key) -> bool:
    """Whether an index ``key`` (or a tuple of them) holds an integer :class:`ObservedIndex`
    (one that a replay gathers by; a boolean mask is used plainly)."""
    return _gathers(key) or (isinstance(key, tuple) and any(_gathers(k) for k in key))


def observe_index(fn, *args, **kwargs):
    """``fn`` of the plain values of ``args`` (an argmax, an argsort): a plain array, or on a tape
    that will be replayed an :class:`ObservedIndex` whose guard waits for a plain use."""
    plain_args = [strip(a) for a in args]
    kw = {k: strip(v) for k, v in kwargs.items()}
    result = fn(*plain_args, **kw)
    entries = guard_entries(fn, args, kw, plain_args, result)
    pending = _Pending(entries)
    if not entries or any(all(ref[1] is None for ref in refs if ref[0] == "n") for _, (_, refs, _, _) in entries):
        pending.settle()  # not replayed, or a sparsity tracer: a guard now, as observe()
        return result
    return ObservedIndex(fn, args, kw, result, pending)


def take_observed(a, key, locate=None):
    """``a`` gathered at ``locate(grid, index)`` for the :class:`ObservedIndex` ``key`` (by
    default ``grid[index]``; in a tuple ``key`` the first observed index, the others used
    plainly), computed again at each replay."""
    idx = key
    if isinstance(key, tuple):
        slot = next(i for i, k in enumerate(key) if _gathers(k))
        idx = key[slot]
        template = tuple(plain(k) if i != slot else None for i, k in enumerate(key))
        locate = functools.partial(_at_slot, template=template, slot=slot)
    kw = {k: strip(v) for k, v in idx.kw.items()}
    return S.take_by.bind(a, *idx.args, by=S.IndexBy(idx.fn, kw, locate or _at_key), batch=0)


def _at_slot(grid, index, template, slot):
    key = list(template)
    key[slot] = index
    return grid[tuple(key)]


def _at_key(grid, index):
    return grid[index]
