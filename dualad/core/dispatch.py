"""Routing ops to value types: the one place that decides who differentiates an op.

Every active value (a :class:`~dualad.Dual` or :class:`~dualad.Variable`) carries a *tag*, an
integer that grows with each transform application.  An op whose operands carry several tags is
processed by the operand with the newest tag; older active values are constants to it (their
own level differentiates them when the op's rule is evaluated on them).  This is what keeps
nested derivatives free of perturbation confusion.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..kernels import backend
from ..rules import base as rules_base
from . import device

__all__ = [
    "Active", "bind", "apply_elementwise", "strip", "observe", "keeps_guards", "guard_entries", "escape", "same_result", "read_only", "new_tag",
    "is_active", "float_dtype", "float_array", "check_tangent_dtype", "ON_NEW_TAG",
]

_TAGS = itertools.count(1)


#: Functions called (without arguments) before each fresh tag, i.e. as each transform starts:
#: ``core.namespace`` checks there that array-API libraries loaded since know dualad's values.
ON_NEW_TAG: list = []


def new_tag() -> int:
    """A fresh tag, newer than every tag handed out before (thread-safe under the GIL)."""
    for hook in ON_NEW_TAG:
        hook()
    return next(_TAGS)


class Active:
    """Base of every value dualad differentiates.

    Every active value has ``_p``, its primal (or value), plain or active at an older level,
    and ``_tag``, the tag of the transform application it belongs to; dispatch (this module)
    reads them to route ops and to strip values, subclasses set them.
    """

    # _view/_views: set only for NumPy views, which the values they view refer to weakly (core/views.py)
    __slots__ = ("_p", "_tag", "_view", "_views", "__weakref__")

    @property
    def tag(self) -> int:
        """The tag of the transform application this value belongs to (newer is larger)."""
        return self._tag

    def _guard_ref(self):
        """(guard list, node) when this value sits on a tape that records guards, else None."""
        return None


def is_active(x) -> bool:
    return isinstance(x, Active)


def strip(x):
    """The innermost plain value of ``x``, through every nesting level."""
    while isinstance(x, Active):
        x = x._p
    return x


def observe(fn, *args, **kwargs):
    """``fn`` applied to the plain values of ``args``: a result that carries no derivative
    (a comparison, an argsort) but may steer the computation.  Tapes that will be replayed
    (:func:`dualad.record`) keep it as a *guard* — ``(fn, refs, kwargs, result)`` with each
    argument referred to as ``("n", node)`` or ``("c", value)`` — re-checked at each replay."""
    plain = [strip(a) for a in args]
    kw = {k: strip(v) for k, v in kwargs.items()}
    result = fn(*plain, **kw)
    for guards, entry in guard_entries(fn, args, kw, plain, result):
        guards.append(entry)
    return result


def keeps_guards(x) -> bool:
    """Whether ``x`` (through every nesting level) sits on a tape that will be replayed
    (:func:`dualad.record`, :func:`dualad.jit`): its plain value may differ at each replay."""
    while isinstance(x, Active):
        if x._guard_ref() is not None:
            return True
        x = x._p
    return False


def guard_entries(fn, args, kw, plain, result) -> list:
    """The guards ``fn(*args, **kw) == result`` owed to the tapes under ``args`` that keep guards:
    ``(guard list, (fn, refs, kw, result))`` per tape (:func:`observe` appends them)."""
    found: dict = {}
    for i, a in enumerate(args):
        x = a
        while isinstance(x, Active):
            ref = x._guard_ref()
            if ref is not None:
                found.setdefault(id(ref[0]), (ref[0], {}))[1][i] = ref[1]
            x = x._p
    out = []
    for guards, nodes in found.values():
        refs = tuple(("n", nodes[i]) if i in nodes else ("c", plain[i]) for i in range(len(args)))
        out.append((guards, (fn, refs, kw, result)))
    return out


def same_result(a, b) -> bool:
    """Whether a guard's result at replay equals the recorded one: same type and shape, equal
    elements (NaN equal to NaN: the same NaN escaped steers Python the same way), tuples and
    lists compared item by item (``np.nonzero``, ``np.unique``)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same_result(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_result(a[k], b[k]) for k in a)
    try:
        if np.shape(a) != np.shape(b):
            return False
        nan = getattr(a, "dtype", np.asarray(a).dtype).kind in "fc"
        return bool(np.array_equal(a, b, equal_nan=nan))
    except Exception:  # noqa: BLE001  (incomparable values: treat as changed, record again)
        return False


def read_only(a):
    """A read-only view of a NumPy array (other values as they are).

    What leaves an active value through the explicit ways out (``primal``, ``.value``,
    ``.tangent``) is still used by the tape or the Dual it came from: writing into it would
    change a recorded value or put a primal out of step with its tangent, silently.
    """
    if type(a) is np.ndarray and a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def escape(x):
    """The plain value of ``x``, taken out explicitly (``dualad.primal``).

    On a tape that will be replayed (:func:`dualad.record`) the value is a *guard*: whatever
    Python computes from it is baked into the recording, so a replay at inputs where it differs
    records again instead of reusing a stale constant.
    """
    return observe(read_only, x) if isinstance(x, Active) else x


def _owner(args):
    best = None
    for a in args:
        if isinstance(a, Active) and (best is None or a._tag > best._tag):
            best = a
    return best


def float_dtype(values) -> np.dtype:
    """Result dtype of an op on ``values``: NumPy promotion (float or complex), integers and
    bools to float64."""
    dt = np.result_type(*values)
    if dt.kind in "fc":
        return dt
    if dt.kind in "biu":
        return np.dtype(np.float64)
    raise TypeError(f"cannot differentiate values of dtype {dt}; pass float arrays")


def float_array(x, what: str = "input") -> np.ndarray:
    """``x`` as an array to differentiate: float32/float64 and complex64/complex128 kept,
    integers and bools promoted to float64; strings and objects rejected with the reason."""
    if x is None or isinstance(x, str):
        raise TypeError(f"cannot differentiate with respect to {what} {x!r}: pass a float array or number")
    a = x if type(x) is not np.ndarray and device.is_device(x) else np.asarray(x)
    if a.dtype.kind in "fc":
        return a
    if a.dtype.kind in "biu":
        return a.astype(np.float64)
    raise TypeError(f"cannot differentiate with respect to {what} of dtype {a.dtype}: pass a float array")


def check_tangent_dtype(p, t, where: str) -> None:
    """Raise unless the plain tangent ``t`` fits the primal ``p``: the primal's own float or
    complex dtype (a 0-d tangent or an integer one is cast to it), a real tangent for a complex
    primal (a real direction), never a complex tangent for a real primal."""
    pk, tk = p.dtype.kind, t.dtype.kind
    if tk == "c" and pk != "c":
        raise TypeError(
            f"{where}: a complex tangent (dtype {t.dtype}) for a real primal ({p.dtype}); a real input "
            "moves along real directions only: pass a real tangent"
        )
    if tk in "fc" and t.ndim > 0 and t.dtype != p.dtype and not (tk == "f" and pk == "c" and t.dtype.itemsize * 2 == p.dtype.itemsize):
        raise TypeError(f"{where}: tangent dtype {t.dtype} does not match primal dtype {p.dtype}; pass tangent.astype({p.dtype.name!r})")
    if tk not in "fciub":
        raise TypeError(f"{where}: tangent must be a numeric array, got dtype {t.dtype}")


def bind(prim, args, params):
    """Apply a structural primitive: plain arrays to its ``impl``, active values to their type."""
    owner = _owner(args)
    if owner is None:
        device.locate(args, prim.name)
        return prim.impl(*args, **params)
    return owner._process(prim, args, params)


def apply_elementwise(rule, args):
    """Apply an elementwise rule to any mix of plain and active values."""
    owner = None
    for a in args:  # (_owner, inline: this runs once per op)
        if isinstance(a, Active) and (owner is None or a._tag > owner._tag):
            owner = a
    if owner is None:
        like = device.locate(args, rule.name)
        if like is not None:
            return backend.value(rule, list(args), device.result_dtype(args), device.namespace(like))
        return backend.value(rule, args, None if rule.ufunc is not None else float_dtype(args))
    if not rule.takes_complex:
        for a in args:
            dt = getattr(a, "dtype", None)
            if (dt.kind == "c") if dt is not None else isinstance(a, complex):
                raise TypeError(
                    f"dualad's rule for {rule.name} takes real values only (dtypes "
                    f"{', '.join(d.name for d in rule.dtypes)}), and NumPy's {rule.name} of a complex "
                    "value has no complex derivative here; apply it to np.real(z) / np.abs(z) as meant"
                )
    elif rule.dtypes[0].kind == "c" and not any(np.iscomplexobj(strip(a)) for a in args):
        raise TypeError(
            f"dualad's rule for {rule.name} takes complex values only: NumPy's {rule.name} of a real "
            f"value is complex, which a real result would truncate; pass a complex value (x + 0j)"
        )
    if len(rule.argnums) < rule.nin:
        _check_differentiable(rule, args)
    return owner._elementwise(rule, args)


def _check_differentiable(rule, args) -> None:
    """Raise when an active value reaches an input the rule is not differentiable in (the order
    of a Bessel function, the shape parameters of betainc)."""
    for i, a in enumerate(args):
        if i not in rule.argnums and isinstance(a, Active):
            import inspect

            from ..rules import public_name

            param = list(inspect.signature(rule.fn).parameters)[i]
            raise TypeError(
                f"{public_name(rule)} is not differentiable in its argument {param!r} (position {i}): "
                f"dualad differentiates it only in {[list(inspect.signature(rule.fn).parameters)[j] for j in rule.argnums]}. "
                f"Pass {param} as a plain number or array, or dualad.primal({param}) to drop its derivative on purpose."
            )


class _Dispatcher:
    """What the rules layer calls to apply ops (installed there to keep imports one-way)."""

    bind = staticmethod(bind)
    apply_elementwise = staticmethod(apply_elementwise)
    strip = staticmethod(strip)
    is_active = staticmethod(is_active)
    keeps_guards = staticmethod(keeps_guards)
    is_device = staticmethod(device.is_device)

    @staticmethod
    def zeros(shape, dtype, like):
        """Zeros where the innermost value of ``like`` lives (host or device)."""
        return device.zeros(shape, dtype, strip(like))

    @staticmethod
    def ones(shape, dtype, like):
        """Ones where the innermost value of ``like`` lives (host or device)."""
        return device.ones(shape, dtype, strip(like))

    @staticmethod
    def to_place(a, like):
        """Host index or mask data ``a`` where the innermost value of ``like`` lives."""
        return device.to_place(a, strip(like))


rules_base.install_dispatcher(_Dispatcher())
