"""The NumPy face shared by Dual and Variable: operators, protocols, methods, escapes.

Operators go straight to the rule table (no detour through NumPy's ufunc machinery); NumPy
functions arrive through ``__array_ufunc__``/``__array_function__``.  Every way of turning an
active value into a plain number raises, naming :func:`dualad.primal` as the explicit way out.
"""

from __future__ import annotations

import numpy as np

from ..rules import RULES, UFUNC_RULES
from . import elements, numpy_numerics, numpy_shapes, numpy_stats, ufuncs  # noqa: F401  (the handler modules register on import)
from . import numpy_api as api
from .dispatch import Active, apply_elementwise, observe, strip
from .namespace import join_numpy, namespace
from .observed import observe_index
from .views import is_view_at, linked, linked_part, write

__all__ = ["ArrayBehaviour", "FlatView", "escape_error", "not_a_sequence", "ASARRAY_HINTS"]

_ADD, _SUB, _MUL, _DIV, _POW, _NEG, _ABS, _MOD, _SQUARE = (
    UFUNC_RULES[u] for u in (np.add, np.subtract, np.multiply, np.divide, np.power, np.negative, np.absolute, np.remainder, np.square)
)


def escape_error(what: str, kind: str, hint: str = "") -> TypeError:
    return TypeError(
        f"{what} of an active {kind} would drop its derivative. {hint}Take the value explicitly with "
        f"dualad.primal(x) if that is intended; to build an array that carries derivatives, return "
        f"np.array([...]) of active values or combine it with them (dualad joins it into one active "
        f"array), use np.stack / np.concatenate, or start from an active array: y = np.zeros_like(x) "
        f"(with shape= and dtype= as needed) is one when x is, then y[i] = ...."
    )


#: ``hint() -> str`` functions the public layer adds (``dualad.scipy``: which of its functions
#: replaces the SciPy function converting an active value with ``np.asarray``).
ASARRAY_HINTS: list = []


def not_a_sequence(cls: type) -> type:
    """Stop NumPy from treating instances of ``cls`` as sequences (they still index and iterate).

    ``plain[i] = active`` makes NumPy try ``float(active)``; for a "sequence" it then replaces
    the escape error with "setting an array element with a sequence".  CPython counts any class
    with ``__getitem__`` as a sequence, so the sequence slot of the type (not the mapping slot
    that serves ``x[i]``) is cleared.  On interpreters where this cannot be done safely the class
    is left as it is and the escape error is still reported, as the ValueError's cause.
    """
    import ctypes
    import platform

    if platform.python_implementation() != "CPython":
        return cls
    try:
        check = ctypes.pythonapi.PySequence_Check
        check.argtypes, check.restype = [ctypes.py_object], ctypes.c_int
        probe = object.__new__(cls)
        if not check(probe):
            return cls
        # PyTypeObject: 3 header words, then tp_name ... tp_as_number, tp_as_sequence (13th word);
        # PySequenceMethods: sq_length, sq_concat, sq_repeat, sq_item (4th word).
        word = ctypes.sizeof(ctypes.c_void_p)
        seq = ctypes.c_void_p.from_address(id(cls) + 13 * word).value
        if not seq:
            return cls
        sq_item = ctypes.c_void_p.from_address(seq + 3 * word)
        saved = sq_item.value
        sq_item.value = None
        if check(probe):  # layout not as expected: put it back
            sq_item.value = saved
    except Exception:  # noqa: BLE001  (best effort; behaviour is still correct without it)
        pass
    return cls


def _operand(x):
    if isinstance(x, (Active, float, int, complex, np.generic)) or (type(x) is np.ndarray and x.dtype.kind != "O"):
        return x
    return api.operand(x)


def _with_part(base, part: str, value):
    """``base`` with its real or imaginary part (``part``) replaced by ``value`` (broadcast), in
    ``base``'s shape and dtype: what writing into ``base.real`` / ``base.imag`` makes of it."""
    shape = tuple(base.shape)
    if np.dtype(base.dtype).kind != "c":
        if part == "imag":
            raise TypeError("array does not have imaginary part to set")
        new = api.where(np.ones(shape, dtype=bool), np.real(value), base)
    else:
        keep = np.imag(base) if part == "real" else np.real(base)
        v = np.real(value)
        new = v + 1j * keep if part == "real" else keep + 1j * v
        new = api.broadcast_to(new, shape) if tuple(new.shape) != shape else new
    return api.astype(new, base.dtype) if new.dtype != base.dtype else new


def _with_real(base, value):
    return _with_part(base, "real", value)


def _with_imag(base, value):
    return _with_part(base, "imag", value)


class ArrayBehaviour(Active):
    """Operators, NumPy protocols and array methods for active values."""

    __slots__ = ()
    __array_priority__ = 1000.0

    # -- protocols ------------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return ufuncs.handle_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return api.handle_function(func, args, kwargs)

    def __array__(self, dtype=None, copy=None):
        # NumPy asks alike for np.asarray(x) and for each element of np.array([c1, c2]); the
        # answer is an object array of escaped elements (dualad.core.elements): lists of active
        # values work, computing with an escaped array raises this message.  When SciPy is the
        # caller, the hints (dualad.scipy) name its dualad.scipy equivalent and array-API mode.
        hint = "".join(h() for h in ASARRAY_HINTS)
        if dtype is not None and np.dtype(dtype) != object:
            raise escape_error("np.asarray()/np.array()", self._kind, hint)
        return elements.holder(self, str(escape_error("computing with np.asarray()/np.array()", self._kind, hint)))

    def __array_namespace__(self, api_version=None):
        join_numpy()
        return namespace

    @property
    def device(self):
        """Where the value lives, as the array API names it: ``"cpu"`` on the host, else the
        device of the innermost plain value (a CuPy array's ``.device``)."""
        p = strip(self)
        return getattr(p, "device", "cpu") if type(p) is not np.ndarray else "cpu"

    # -- escapes ----------------------------------------------------------------------------
    def __float__(self):
        raise escape_error("float()", self._kind)

    def __int__(self):
        raise escape_error("int()", self._kind)

    def __index__(self):
        raise escape_error("using as an index", self._kind)

    def __complex__(self):
        raise escape_error("complex()", self._kind)

    def __bool__(self):
        raise TypeError(
            f"the truth value of an active {self._kind} is ambiguous and would drop its derivative: "
            "compare it instead (`if x > 0:` works, comparisons return plain booleans), or test "
            "dualad.primal(x)"
        )

    def __format__(self, spec: str) -> str:
        if not spec:
            return str(self)
        raise TypeError(
            f"formatting an active {self._kind} with {spec!r} would turn it into text and drop its "
            "derivative; format dualad.primal(x) if that is intended (plain f'{x}' shows the value)"
        )

    def __reduce_ex__(self, protocol):
        # A pickled active value would carry its tag (meaningless in another process, where it
        # could collide with a live one) and, for a Variable, a tape it no longer belongs to.
        raise TypeError(
            f"an active {self._kind} cannot be pickled: it belongs to a running differentiation. "
            "Pickle its value, dualad.primal(x), or pickle the inputs and differentiate there"
        )

    def __copy__(self):
        return self._copy()

    def __deepcopy__(self, memo):
        # Values are never written in place (assignment is copy-on-write), so a copy may share
        # them; a deep copy of the tape or tag would detach the copy from the derivative.
        return self._copy()

    def item(self, *args):
        raise escape_error(".item()", self._kind)

    def tolist(self):
        raise escape_error(".tolist()", self._kind)

    # -- arithmetic -------------------------------------------------------------------------
    def __add__(self, o):
        return apply_elementwise(_ADD, (self, _operand(o)))

    def __radd__(self, o):
        return apply_elementwise(_ADD, (_operand(o), self))

    def __sub__(self, o):
        return apply_elementwise(_SUB, (self, _operand(o)))

    def __rsub__(self, o):
        return apply_elementwise(_SUB, (_operand(o), self))

    def __mul__(self, o):
        return apply_elementwise(_MUL, (self, _operand(o)))

    def __rmul__(self, o):
        return apply_elementwise(_MUL, (_operand(o), self))

    def __truediv__(self, o):
        return apply_elementwise(_DIV, (self, _operand(o)))

    def __rtruediv__(self, o):
        return apply_elementwise(_DIV, (_operand(o), self))

    def __pow__(self, o):
        if isinstance(o, (int, float)) and o == 2:
            # One operand: its partial 2x is one product, where x·x's are two to be added.
            return apply_elementwise(_SQUARE, (self,))
        return apply_elementwise(_POW, (self, _operand(o)))

    def __rpow__(self, o):
        return apply_elementwise(_POW, (_operand(o), self))

    def __mod__(self, o):
        return apply_elementwise(_MOD, (self, _operand(o)))

    def __rmod__(self, o):
        return apply_elementwise(_MOD, (_operand(o), self))

    def __floordiv__(self, o):
        return observe(np.floor_divide, self, o)  # piecewise constant: no derivative

    def __rfloordiv__(self, o):
        return observe(np.floor_divide, o, self)

    def __divmod__(self, o):
        return self // o, self % o

    def __rdivmod__(self, o):
        return o // self, o % self

    def __matmul__(self, o):
        return api.matmul(self, o)

    def __rmatmul__(self, o):
        return api.matmul(o, self)

    # in place: NumPy writes the result into the array itself, so every alias and view sees it
    def _in_place(self, result):
        """``self op= o`` with ``result = self op o``: written into ``self`` (and carried to the
        array it views and to its views, core/views.py) in ``self``'s shape and dtype, as NumPy
        does.  A leaf Variable (a transform's input, whose gradient is being taken) and a result
        of another transform level are bound to the name instead, as in JAX."""
        if getattr(self, "_is_leaf", False) or type(result) is not type(self) or result._tag != self._tag:
            return result
        if tuple(result.shape) != tuple(self.shape):
            raise ValueError(
                f"non-broadcastable output operand with shape {tuple(self.shape)} doesn't match the "
                f"broadcast shape {tuple(result.shape)}"
            )
        if result.dtype != self.dtype:
            result = api.astype(result, self.dtype)
        write(self, result)
        return self

    def __iadd__(self, o):
        return self._in_place(self + o)

    def __isub__(self, o):
        return self._in_place(self - o)

    def __imul__(self, o):
        return self._in_place(self * o)

    def __itruediv__(self, o):
        return self._in_place(self / o)

    def __ipow__(self, o):
        return self._in_place(self**o)

    def __imod__(self, o):
        return self._in_place(self % o)

    def __imatmul__(self, o):
        return self._in_place(self @ o)

    def __neg__(self):
        return apply_elementwise(_NEG, (self,))

    def __pos__(self):
        return self

    def __abs__(self):
        return apply_elementwise(_ABS, (self,))

    # comparisons give plain booleans, so Python control flow works on active values (on a tape
    # that will be replayed, booleans that np.where computes again at each replay: observed.py)
    def __lt__(self, o):
        return observe_index(np.less, self, o)

    def __le__(self, o):
        return observe_index(np.less_equal, self, o)

    def __gt__(self, o):
        return observe_index(np.greater, self, o)

    def __ge__(self, o):
        return observe_index(np.greater_equal, self, o)

    def __eq__(self, o):
        return observe_index(np.equal, self, o)

    def __ne__(self, o):
        return observe_index(np.not_equal, self, o)

    __hash__ = None

    # -- shape ------------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        for i in range(self.shape[0]):
            yield self[i]

    def __getitem__(self, index):
        # basic indexing is a view in NumPy: writes through it reach self (core/views.py)
        return linked(api.getitem(self, index), self, index=index)

    def __setitem__(self, index, value):
        if is_view_at(value, self, index):  # ``y[i] += v``: the view wrote itself into self already
            return
        write(self, api.setitem_value(self, index, value))

    @property
    def flat(self):
        """NumPy's flat iterator: ``x.flat[i]``, ``x.flat[a:b]``, ``x.flat[idx]``, iteration,
        and ``x.flat[i] = v`` (copy-on-write, as ``x[i] = v``)."""
        return FlatView(self)

    @property
    def T(self):
        return linked(api.transpose(self), self, np.transpose)

    @property
    def mT(self):
        return linked(api.swapaxes(self, -1, -2), self, lambda grid: np.swapaxes(grid, -1, -2))

    # -- complex parts (rules of their own: not holomorphic, see docs/complex.md) -------------
    # (views in NumPy, of a complex array's parts or of a real array itself: core/views.py)
    @property
    def real(self):
        return linked_part(apply_elementwise(RULES["real"], (self,)), self, "real", _with_real)

    @real.setter
    def real(self, value):
        write(self, _with_real(self, value))

    @property
    def imag(self):
        return linked_part(apply_elementwise(RULES["imag"], (self,)), self, "imag", _with_imag)

    @imag.setter
    def imag(self, value):
        write(self, _with_imag(self, value))

    def conj(self):
        return apply_elementwise(RULES["conjugate"], (self,))

    conjugate = conj

    # -- methods (NumPy's array methods, routed through the same handlers) ------------------
    # (the methods NumPy answers with a view are linked as views: core/views.py)
    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return linked(api.reshape(self, shape, order=order), self, lambda grid: np.reshape(grid, shape, order=order))

    def ravel(self, order="C"):
        return linked(api.ravel(self, order), self, lambda grid: np.ravel(grid, order))

    def flatten(self, order="C"):
        y = api.ravel(self, order)  # a copy: never linked (nor self itself, for a 1-d array)
        return y._copy() if y is self else y

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        return linked(api.transpose(self, axes or None), self, lambda grid: np.transpose(grid, axes or None))

    def swapaxes(self, a, b):
        return linked(api.swapaxes(self, a, b), self, lambda grid: np.swapaxes(grid, a, b))

    def squeeze(self, axis=None):
        return linked(api.squeeze(self, axis), self, lambda grid: np.squeeze(grid, axis))

    def sum(self, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
        return api.sum_(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, initial=initial, where=where)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
        return api.mean(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, where=where)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None, correction=None):
        return api.var(self, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, where=where, mean=mean,
                       correction=correction)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None, correction=None):
        return api.std(self, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, where=where, mean=mean,
                       correction=correction)

    def prod(self, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
        return api.prod(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, initial=initial, where=where)

    def max(self, axis=None, out=None, keepdims=False, initial=None, where=None):
        return api.amax(self, axis=axis, out=out, keepdims=keepdims, initial=initial, where=where)

    def min(self, axis=None, out=None, keepdims=False, initial=None, where=None):
        return api.amin(self, axis=axis, out=out, keepdims=keepdims, initial=initial, where=where)

    def cumsum(self, axis=None, dtype=None, out=None):
        return api.cumsum(self, axis=axis, dtype=dtype, out=out)

    def cumprod(self, axis=None, dtype=None, out=None):
        return api.cumprod(self, axis=axis, dtype=dtype, out=out)

    def dot(self, b):
        return api.dot(self, b)

    def clip(self, min=None, max=None):
        return np.clip(self, min, max)  # the np.clip rule, through __array_function__

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return api.diagonal(self, offset, axis1, axis2)

    def trace(self, offset=0, axis1=0, axis2=1):
        return api.trace(self, offset, axis1, axis2)

    def take(self, indices, axis=None):
        return api.take(self, indices, axis)

    # in-place methods: the result written into self (and its views), as NumPy does
    def sort(self, axis=-1, kind=None, order=None, *, stable=None):
        write(self, np.sort(self, axis=axis))

    def partition(self, kth, axis=-1, kind="introselect", order=None):
        write(self, np.partition(self, kth, axis=axis))

    def put(self, indices, values, mode="raise"):
        np.put(self, indices, values, mode=mode)

    def compress(self, condition, axis=None, out=None):
        return np.compress(condition, self, axis=axis, out=out)

    def view(self, dtype=None, type=None):  # noqa: A002  (NumPy's names)
        """A view of the same values (a reinterpreting ``dtype`` would drop the derivative)."""
        if (dtype is not None and np.dtype(dtype) != self.dtype) or type is not None:
            raise TypeError(
                "x.view(dtype) of an active value reinterprets its bytes, which has no derivative; "
                "take dualad.primal(x).view(dtype) if that is intended"
            )
        return linked(self._copy(), self, lambda grid: grid)

    def argmax(self, axis=None):
        return observe_index(np.argmax, self, axis=axis)

    def argmin(self, axis=None):
        return observe_index(np.argmin, self, axis=axis)

    def argsort(self, axis=-1):
        return observe_index(np.argsort, self, axis=axis)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        return api.astype_copy(self, dtype, copy=copy)

    def fill(self, value):
        """Set every element to ``value`` in place (copy-on-write, as item assignment)."""
        v = api.operand(value)
        if isinstance(v, Active):
            v = api.astype(v, self.dtype) if v.dtype != self.dtype else v
        else:
            v = np.asarray(v, dtype=self.dtype)
        write(self, api.where(np.zeros(self.shape, dtype=bool), self, v))

    def round(self, decimals=0):
        return np.round(self, decimals)  # piecewise constant: a plain array

    def repeat(self, repeats, axis=None):
        return api.repeat(self, repeats, axis)

    def nonzero(self):
        return observe(np.nonzero, self)

    def any(self, axis=None, keepdims=False):
        return observe(np.any, self, axis=axis, keepdims=keepdims)

    def all(self, axis=None, keepdims=False):
        return observe(np.all, self, axis=axis, keepdims=keepdims)

    def copy(self):
        return self._copy()


class FlatView:
    """``x.flat`` of an active value: indexes ``x`` as if flattened (C order), as NumPy's
    ``flatiter`` does; assignment writes into ``x`` (recorded copy-on-write)."""

    __slots__ = ("base",)

    def __init__(self, base):
        self.base = base

    def __getitem__(self, index):
        return numpy_shapes.flat_getitem(self.base, index)

    def __setitem__(self, index, value):
        numpy_shapes.flat_setitem(self.base, index, value)

    def __len__(self) -> int:
        return self.base.size

    def __iter__(self):
        flat = api.ravel(self.base)
        for i in range(self.base.size):
            yield api.getitem(flat, i)

    def copy(self):
        """The elements as a new 1-D value."""
        return api.ravel(self.base).copy()


def _object_loop_method(ufunc):
    def method(self, *others):
        return ufunc(self, *others)

    method.__name__ = ufunc.__name__
    method.__doc__ = f"np.{ufunc.__name__} of this value (what NumPy's loops over object arrays call)."
    return method


# NumPy's ufunc loops over object arrays call a method of the ufunc's name on each element
# (``np.exp(np.array([c1, c2]))`` calls ``c1.exp()``): such arrays then compute element by element.
for _ufunc in UFUNC_RULES:
    if any(t.startswith("O") for t in _ufunc.types) and not hasattr(ArrayBehaviour, _ufunc.__name__):
        setattr(ArrayBehaviour, _ufunc.__name__, _object_loop_method(_ufunc))
