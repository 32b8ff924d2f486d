"""``jit``: record ``f`` once per input signature and replay it (:class:`~dualad.Recording`).

A jitted function keys a small cache by its arguments' *signature*: the pytree structure, the
shape and dtype of every traced leaf, and the value of everything that is not traced (static
arguments, Python ``int``/``bool`` leaves, integer arrays, strings, ``None``).  The first call
with a signature records ``f`` as a Wengert list with guards (:func:`dualad.record`); later
calls replay it.  A guard that changes records again; a signature that records again more than
:data:`MAX_RERECORDS` times is given up: ``f`` runs directly from then on, with one
:class:`JitFallbackWarning`.
"""

from __future__ import annotations

import functools
import inspect
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from ..core.dispatch import Active, strip
from .common import check_callable, flatten_output
from .guards import constants_hold, free_constants
from .pytree import tree_flatten, tree_unflatten
from .record import Recording
from .sweeps import lanes_apply, value_and_jacfwd

__all__ = ["jit", "Jitted", "JitFallbackWarning", "MAX_RERECORDS", "MAX_SIGNATURES"]

MAX_RERECORDS = 8
"""Re-recordings (a guard changed) one signature may take before ``jit`` runs ``f`` directly."""

MAX_SIGNATURES = 64
"""Recordings a jitted function keeps (least recently used ones are dropped)."""


class JitFallbackWarning(UserWarning):
    """``dualad.jit`` gave up recording a function for one input signature and runs it directly.

    Raised once per signature, when ``f``'s guards (comparisons on its inputs that steer Python
    branches, values taken out with :func:`dualad.primal`) changed more than
    :data:`dualad.transforms.jit.MAX_RERECORDS` times: replaying would mostly record again.
    The results stay correct; only the replay's speed is lost.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> import dualad as ad
    >>> f = ad.jit(lambda x: x if x > 0 else -x)          # the branch changes with the sign
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     values = [f(np.float64((-1.0) ** i)) for i in range(12)]
    >>> [type(w.message).__name__ for w in caught]
    ['JitFallbackWarning']
    """


def _static_positions(static_argnums) -> tuple[int, ...]:
    if static_argnums is None:
        return ()
    nums = (static_argnums,) if isinstance(static_argnums, (int, np.integer)) else static_argnums
    try:
        nums = tuple(nums)
    except TypeError:
        nums = (nums,)
    for i in nums:
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(
                f"dualad.jit: static_argnums must be an int or a sequence of ints (argument positions), "
                f"got {static_argnums!r}; e.g. static_argnums=(1,)"
            )
    return tuple(int(i) for i in nums)


def _static_names(static_argnames) -> tuple[str, ...]:
    if static_argnames is None:
        return ()
    names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
    for n in names:
        if not isinstance(n, str):
            raise TypeError(
                f"dualad.jit: static_argnames must be a str or a sequence of str (parameter names), "
                f"got {static_argnames!r}; e.g. static_argnames=('n',)"
            )
    return names


def _parameters(f) -> list | None:
    try:
        return list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):  # builtins and some callables have no signature
        return None


def _both_ways(f, nums: tuple, names: tuple) -> tuple[tuple, tuple]:
    """Static positions and names completed from each other through ``f``'s signature, as JAX
    does (a static positional parameter passed by keyword stays static, and vice versa)."""
    params = _parameters(f)
    if params is None:
        return nums, names
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not any(p.kind == p.VAR_POSITIONAL for p in params):
        for i in nums:
            if not -len(positional) <= i < len(positional):
                raise ValueError(
                    f"dualad.jit: static_argnums={nums!r} names argument {i}, but "
                    f"{getattr(f, '__name__', 'f')} takes {len(positional)} positional argument(s); "
                    f"use positions between {-len(positional)} and {len(positional) - 1}"
                )
    by_name = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    more_names = tuple(positional[i] for i in nums if -len(positional) <= i < len(positional) and positional[i] in by_name)
    more_nums = tuple(positional.index(n) for n in names if n in positional)
    return tuple(dict.fromkeys(nums + more_nums)), tuple(dict.fromkeys(names + more_names))


_STATIC_FIX = (
    "static arguments are keys of the recording cache, so they must be hashable: pass a tuple instead "
    "of a list or array, or leave the argument out of static_argnums/static_argnames so that it is traced"
)
_LEAF_FIX = (
    "jit traces float and complex arrays and numbers and keys everything else by value, which needs a "
    "hashable value: pass arrays, or mark the argument static (static_argnums) with a hashable value"
)


def _hashable(value, what: str, fix: str = _STATIC_FIX):
    try:
        hash(value)
    except TypeError:
        raise TypeError(f"dualad.jit: {what} is of unhashable type {type(value).__name__!r}; {fix}") from None
    return value


def _has_active(tree) -> bool:
    return any(isinstance(x, Active) for x in tree_flatten(tree)[0])


def _traced(x) -> bool:
    """Whether a leaf is an input of the recording: a float or complex array or number (NumPy's
    or Python's).  Everything else is keyed by value."""
    if isinstance(x, (bool, int)):
        return False
    if isinstance(x, (float, complex)):
        return True
    return isinstance(x, (np.ndarray, np.generic)) and np.dtype(x.dtype).kind in "fc"


def _value_key(x, what: str):
    """A cache key standing for a leaf that is not traced (equal keys: equal values)."""
    if isinstance(x, (np.ndarray, np.generic)):
        a = np.asarray(x)
        return ("array", a.shape, a.dtype.str, a.tobytes())
    return (type(x), _hashable(x, what, _LEAF_FIX))


class _Entry:
    """One signature's recording (or the decision to run ``f`` directly), the values ``f``
    reads from its module and closure when it was recorded, and how often it was recorded."""

    __slots__ = ("rec", "consts", "traces", "direct", "routed")

    def __init__(self):
        self.rec: Recording | None = None
        self.consts: list = []
        self.traces = 0
        self.direct = False
        self.routed: bool | None = None  # whether rec records the transform's g (decided once)


def _plain_signature(args: tuple):
    """The signature of positional arguments that are all float/complex arrays or Python
    floats (what most jitted calls pass), cheaply; None for anything else (pytrees, ints,
    active values, NumPy scalars), which takes the general path."""
    key = []
    for a in args:
        t = type(a)
        if t is np.ndarray:
            dt = a.dtype
            if dt.kind not in "fc":
                return None
            key.append((a.shape, dt.char))
        elif t is float:
            key.append(float)
        else:
            return None
    return tuple(key)


class _Replayer:
    """A signature's recorded program, called straight from plain positional arguments: what
    :meth:`Jitted.__call__` runs when the signature was seen before (no pytree walk, no
    argument splitting).  Returns None whenever the general path must decide (the recording
    was made anew, a constant ``f`` reads changed, a guard changed)."""

    __slots__ = ("jitted", "entry", "rec", "tape", "dtypes", "routed", "jac_shape", "hess_shape")

    def __init__(self, jitted: Jitted, entry: _Entry, traced: list, args: tuple, routed: bool):
        self.jitted, self.entry, self.rec, self.tape = jitted, entry, entry.rec, entry.rec.tape
        # a Python float is traced in the dtype it took beside the arrays (JAX's weak type)
        self.dtypes = [x.dtype if type(a) is float else None for a, x in zip(args, traced)]
        self.routed = routed  # the entry holds a recording of hessian's/jacfwd's g, not of f
        # jacfwd(g) of one array to one array: the Jacobian's shape, for the lanes' rows as they come
        rec = entry.rec
        one = routed and jitted._route[0] == "jacfwd" and len(args) == 1 and rec.out_def is None and rec.outs[0][0] == "n"
        self.jac_shape = tuple(rec.program().slots[rec.outs[0][1]][1]) + np.shape(args[0]) if one else None
        # hessian(g) of one array: the Hessian's shape, for the lanes' matrix as it comes
        one = routed and jitted._route[0] == "hessian" and len(args) == 1 and type(args[0]) is np.ndarray and rec.nums == (0,)
        self.hess_shape = np.shape(args[0]) * 2 if one else None

    def __call__(self, args: tuple):
        entry, rec = self.entry, self.rec
        if entry.rec is not rec or rec.tape is not self.tape:
            return None
        if (entry.consts and not constants_hold(entry.consts)) or (
                rec.free_constants and not constants_hold(rec.free_constants)):
            return None
        leaves = [a if dt is None else np.asarray(a, dt) for a, dt in zip(args, self.dtypes)]
        if self.routed:
            kind = self.jitted._route[0]
            if kind in ("grad", "value_and_grad"):  # the adjoint sweep, straight from the program
                res = rec.program().value_and_grad(leaves, rec.outs[0][1])
                if res is None:  # a guard changed: the general path records again
                    return None
                value, grads = res
                grads = grads[0] if len(grads) == 1 else tuple(grads)
                return grads if kind == "grad" else (value, grads)
            if self.jac_shape is not None:  # the forward lanes, straight from the program
                prog = rec.program()
                res = lanes_apply(prog) and value_and_jacfwd(prog, leaves, rec.outs, values=False)
                return res[1].reshape(self.jac_shape) if res else None  # (else: the general path decides)
            if self.hess_shape is not None:  # the Hessian lanes, straight from the program
                prog = rec.program()
                if prog.differentiable:
                    H = rec._hessian_sweep(prog, leaves, leaves)  # (compiled sweeps: NumPy's error state has no say)
                    if H is not None and H is not False:
                        return H.reshape(self.hess_shape)
            with self.jitted._lock:
                return None if entry.direct else self.jitted._routed(entry, leaves)
        outs = rec.program().run(leaves, rec.outs)
        if outs is None:
            return None
        return tree_unflatten(rec.out_def, [strip(o) if isinstance(o, Active) else o for o in outs])


_UNROUTED = object()  # _routed's answer when the transform itself is to be recorded


def _adjoint_sweep_serves(rec: Recording) -> bool:
    """Whether ``Recording.value_and_grad`` runs ``rec`` by its compiled adjoint sweep: one real
    scalar output node, every value in the VM's buffer and smaller than ``SWEEP_SIZE_MAX``."""
    if len(rec.outs) != 1 or rec.outs[0][0] != "n" or not rec.small():
        return False
    prog = rec.program()
    slot = prog.slots[rec.outs[0][1]]
    return prog.differentiable and slot is not None and slot[1] == () and prog.image.dtype.kind == "f"


class Jitted:
    """A function that records itself per input signature and replays (made by :func:`jit`).

    Attributes
    ----------
    records : int
        How many times ``f`` was recorded, over all signatures (first recordings and
        re-recordings after a guard changed).
    fallbacks : int
        Signatures for which ``jit`` gave up recording and runs ``f`` directly.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> f = ad.jit(lambda x: np.sum(np.sin(x)))
    >>> float(f(np.zeros(3))), float(f(np.full(3, np.pi / 2))), f.records
    (0.0, 3.0, 1)
    """

    def __init__(self, f: Callable, static_argnums, static_argnames):
        self.f = f
        nums, names = _static_positions(static_argnums), _static_names(static_argnames)
        self.static_argnums, self.static_argnames = _both_ways(f, nums, names)
        self._cache: OrderedDict = OrderedDict()
        # plain positional signatures -> their replayers (only without static arguments)
        self._fast: dict | None = None if (self.static_argnums or self.static_argnames) else {}
        # hessian(g), jacfwd(g), grad(g) of float arrays: record g and run its compiled lanes or sweep
        self._route = getattr(f, "jit_route", None)
        self._lock = threading.RLock()
        self.records = 0
        self.fallbacks = 0
        functools.update_wrapper(self, f)

    def __repr__(self) -> str:
        return f"<dualad.jit of {getattr(self.f, '__qualname__', self.f)!r}>"

    def __get__(self, obj, owner=None):  # a jitted method binds as the function would
        return self if obj is None else functools.partial(self, obj)

    def cache_size(self) -> int:
        """How many signatures have a recording (or a fallback decision) now."""
        return len(self._cache)

    # -- splitting the arguments ---------------------------------------------------------------
    def _split(self, args: tuple, kwargs: dict):
        """(traced leaves, key, rebuild): ``rebuild(traced)`` gives ``(args, kwargs)`` again."""
        n = len(args)
        static = set()
        for i in self.static_argnums:
            if -n <= i < n:  # (one not passed positionally: given by keyword, or its default)
                static.add(i % n)
        dyn_args = [a for i, a in enumerate(args) if i not in static]
        dyn_kw = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        static_key = tuple(
            (i, _hashable(args[i], f"static argument {i} (static_argnums={self.static_argnums!r})")) for i in sorted(static)
        ) + tuple(
            (k, _hashable(v, f"static argument {k!r} (static_argnames={self.static_argnames!r})"))
            for k, v in sorted(kwargs.items()) if k in self.static_argnames
        )
        leaves, treedef = tree_flatten((dyn_args, dyn_kw))
        inexact = [np.dtype(x.dtype) for x in leaves if _traced(x) and not isinstance(x, (float, complex))]
        traced, leaf_keys, fixed = [], [], []
        for j, x in enumerate(leaves):
            if _traced(x):
                if isinstance(x, (float, complex)):  # weak, as JAX: the dtype of the arrays beside it
                    x = np.asarray(x, dtype=np.result_type(*inexact, x))
                traced.append(x)
                leaf_keys.append((tuple(x.shape), np.dtype(x.dtype).str))
            else:
                leaf_keys.append(_value_key(x, f"the argument leaf {j} (in flattening order), not an array,"))
            fixed.append(x)
        key = (treedef, tuple(leaf_keys), static_key)

        def rebuild(values):
            it = iter(values)
            new = [next(it) if _traced(x) else x for x in fixed]
            d_args, d_kw = tree_unflatten(treedef, new)
            d_args = iter(d_args)
            full = [args[i] if i in static else next(d_args) for i in range(n)]
            return full, {**{k: v for k, v in kwargs.items() if k in self.static_argnames}, **d_kw}

        return traced, key, rebuild

    # -- calling --------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        plain = None if kwargs or self._fast is None else _plain_signature(args)
        if plain is not None:
            replayer = self._fast.get(plain)
            if replayer is not None:
                out = replayer(args)
                if out is not None:
                    return out
        if _has_active((args, kwargs)):  # traced by an outer transform: as JAX, trace through
            return self.f(*args, **kwargs)
        traced, key, rebuild = self._split(args, kwargs)
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                entry = self._cache[key] = _Entry()
                while len(self._cache) > MAX_SIGNATURES:
                    self._cache.popitem(last=False)
                    if self._fast is not None:
                        self._fast.clear()  # (replayers of dropped signatures must go too)
            else:
                self._cache.move_to_end(key)
            if entry.direct:
                return self.f(*args, **kwargs)
            routed = None if entry.routed is False else self._route_args(traced, rebuild)
            out = _UNROUTED if routed is None else self._routed(entry, routed)
            if out is _UNROUTED:
                out = self._replay(entry, traced, rebuild)
            if plain is not None and entry.rec is not None and not entry.direct:
                self._fast[plain] = _Replayer(self, entry, traced, args, bool(entry.routed))
            return out

    def _route_args(self, traced: list, rebuild):
        """The arguments with which ``jit`` runs a recording of ``g`` instead of recording the
        transform ``hessian(g)``, ``jacfwd(g)``, ``grad(g)`` or ``value_and_grad(g)`` (see
        :func:`jit`): positional arguments of float arrays only, every one of them differentiated (and
        returned as the transform returns them: ``grad`` takes an int ``argnums`` for one
        argument, the tuple of all positions for several); each argument an array or a pytree of
        them; None where ``f`` is recorded."""
        if self._route is None:
            return None
        _, _, argnums = self._route
        args, kwargs = rebuild(traced)
        if kwargs or any(type(a) is not np.ndarray or a.dtype.kind != "f" for a in traced):
            return None
        n = len(args)  # arguments may be pytrees: the recording takes them as the transform does
        if isinstance(argnums, (int, np.integer)):
            return args if n == 1 and int(argnums) in (0, -1) else None
        nums = tuple(argnums)
        return args if n > 1 and all(isinstance(i, (int, np.integer)) for i in nums) and tuple(int(i) % n for i in nums) == tuple(range(n)) else None

    def _replay(self, entry: _Entry, traced: list, rebuild):
        traced_out = []

        def g(*values):
            a, kw = rebuild(values)
            out = self.f(*a, **kw)
            traced_out.append(out)
            return out

        if entry.rec is None or not constants_hold(entry.consts):  # new, or a global f reads changed
            entry.consts = free_constants(self.f)
            # copies: a recording's tape keeps its inputs read-only while it lives, not the caller's
            entry.rec = Recording(g, tuple(np.array(x, copy=True) for x in traced), None)
            self.records += 1
            entry.traces += 1
            leaves, treedef = flatten_output(traced_out[-1], "jit")
            return tree_unflatten(treedef, [strip(o) for o in leaves])  # the recording's own values
        entry.rec.f = g  # the same signature: only the traced values differ
        seen = entry.rec.records
        # The recording holds the derivative sweeps' own arithmetic, which the plain transforms
        # run with floating-point warnings silenced (0·inf resolved by strong zeros): so do replays.
        with np.errstate(all="ignore"):
            out = entry.rec(*traced)
        entry.traces += entry.rec.records - seen
        self.records += entry.rec.records - seen
        if entry.traces - 1 > MAX_RERECORDS and entry.rec.records > seen:
            self._give_up(entry)
        return out

    def _routed(self, entry: _Entry, args: tuple):
        """The transform at ``args`` from a recording of its ``g``: the compiled (coloured)
        lanes of :meth:`dualad.Recording.hessian` and ``jacobian(mode="forward")``, the
        compiled adjoint sweep of :meth:`dualad.Recording.value_and_grad`.  A gradient whose
        recording that sweep does not serve (large values, host steps, not one real scalar
        out) is not routed: ``_UNROUTED``, and the transform itself is recorded."""
        kind, g, _ = self._route
        seen = 0
        if entry.rec is None:
            leaves, treedef = tree_flatten(args)  # copies: the tape keeps its inputs read-only
            rec = Recording(g, tree_unflatten(treedef, [np.array(a, copy=True) for a in leaves]), None)
            if kind in ("grad", "value_and_grad") and not _adjoint_sweep_serves(rec):
                entry.routed = False
                return _UNROUTED
            entry.rec, entry.routed = rec, True
            self.records += 1
            entry.traces += 1
            seen = rec.records
        else:
            seen = entry.rec.records
        rec = entry.rec
        with np.errstate(all="ignore"):
            if kind == "hessian":
                out = rec.hessian(*args)
            elif kind == "jacfwd":
                out = rec.jacobian(*args, mode="forward")
            else:
                value, grads = rec.value_and_grad(*args)
                out = grads if kind == "grad" else (value, grads)
        entry.traces += rec.records - seen
        self.records += rec.records - seen
        if entry.traces - 1 > MAX_RERECORDS and rec.records > seen:
            self._give_up(entry)
        return out

    def _give_up(self, entry: _Entry) -> None:
        entry.direct, entry.rec, entry.consts = True, None, []
        self.fallbacks += 1
        warnings.warn(
            f"dualad.jit: {getattr(self.f, '__qualname__', self.f)!r} was recorded again "
            f"{entry.traces - 1} times for one input signature (its guards — comparisons that "
            "steer Python branches, or values taken out with dualad.primal — keep changing); it "
            "runs directly from now on for this signature. Move value-dependent branches into "
            "np.where, or make the deciding argument static (static_argnums)",
            JitFallbackWarning,
            stacklevel=4,
        )


def jit(f: Callable | None = None, static_argnums: int | Sequence[int] = (), static_argnames: str | Sequence[str] = ()):
    """Record ``f`` per input signature and replay the recording at later calls.

    The first call with a new signature — the pytree structure of the arguments, the shape and
    dtype of every float or complex array (or number), and the value of everything else —
    records ``f`` as a Wengert list (:func:`dualad.record`), with *guards* on the comparisons
    and other plain values computed from the inputs that may steer Python.  Later calls with
    the signature replay the list without running ``f``'s Python; a changed guard records
    again.  Transforms compose both ways: ``jit(grad(f))``, ``jit(hessian(f))``,
    ``jit(lambda x, v: hvp(f, x, v))`` record the derivative computation itself, and
    ``grad(jit(f))`` traces through the jitted function.

    Parameters
    ----------
    f : callable
        A function of NumPy arrays (pytrees of them) returning a pytree of arrays.  Can be used
        as a decorator, with or without arguments.
    static_argnums : int or sequence of int, optional
        Positional arguments that are not traced: their value (which must be hashable) is part
        of the signature, so a new value records anew.  Negative positions count from the end.
    static_argnames : str or sequence of str, optional
        Keyword arguments that are not traced (completed from ``static_argnums`` through
        ``f``'s signature, and the other way round, as in JAX).

    Returns
    -------
    Jitted
        Callable as ``f``, with ``f``'s ``__name__`` and ``__doc__``; ``records`` counts the
        recordings made, ``cache_size()`` the signatures kept (at most
        :data:`~dualad.transforms.jit.MAX_SIGNATURES`, least recently used dropped).

    Notes
    -----
    Float and complex arrays and Python ``float``/``complex`` numbers are traced (a Python
    number takes the dtype NumPy gives it beside the array arguments, as JAX's weak types);
    Python ``int`` and ``bool``, integer and bool arrays, strings and ``None`` are part of the
    signature by value (dualad's recordings carry floats only).  A signature whose guards
    changed more than :data:`~dualad.transforms.jit.MAX_RERECORDS` times runs ``f`` directly
    from then on, with one :class:`~dualad.JitFallbackWarning`.  Side effects (printing,
    appending to lists) and NumPy's floating-point warnings happen only while recording.
    A replay runs the recording lowered to a program (:mod:`dualad.transforms.program`):
    compiled code for scalar and small-array ops and for fused runs of large elementwise ops,
    NumPy and BLAS for the rest.  A signature seen before, called with plain positional
    arguments (float or complex arrays, Python floats), goes straight to its program.
    ``jit(hessian(g))`` and ``jit(jacfwd(g))`` without options, called with float arrays (or
    pytrees of them) that are all differentiated, record ``g`` itself and run the recording's compiled lanes
    (:meth:`~dualad.Recording.hessian`, coloured when the Hessian is sparse, and
    ``Recording.jacobian(mode="forward")``).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> def loss(w, x):
    ...     return np.sum(np.tanh(x @ w) ** 2)
    >>> g = ad.jit(ad.grad(loss))
    >>> x = np.array([[1.0, 2.0], [0.5, -1.0]])
    >>> np.allclose(g(np.array([0.1, 0.2]), x), ad.grad(loss)(np.array([0.1, 0.2]), x))
    True
    >>> np.allclose(g(np.array([0.3, -0.2]), x), ad.grad(loss)(np.array([0.3, -0.2]), x))  # replayed
    True
    >>> g.records
    1
    >>> @ad.jit
    ... def power(x, n):          # n is a Python int: part of the signature by value
    ...     return x**n
    >>> float(power(2.0, 3)), float(power(3.0, 3)), power.records
    (8.0, 27.0, 1)
    """
    if f is None:
        return functools.partial(jit, static_argnums=static_argnums, static_argnames=static_argnames)
    check_callable(f, "jit")
    return Jitted(f, static_argnums, static_argnames)
