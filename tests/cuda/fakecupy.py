"""A CuPy look-alike for testing dualad's GPU path without a GPU (a test double, not a library).

``fakecupy.ndarray`` wraps a NumPy array and behaves like ``cupy.ndarray`` where dualad can
tell the difference:

- no implicit host conversion: ``np.asarray(a)`` (``__array__``) raises ``TypeError``, and
  ``.get()`` is the explicit copy to the host;
- NumPy's protocols: ``__array_ufunc__`` and ``__array_function__`` compute on the wrapped
  arrays and wrap the results (reductions give 0-d arrays, as CuPy's do), and refuse NumPy
  arrays among the operands with CuPy's ``TypeError`` (CuPy does not mix host and device);
  for other types (dualad's Duals and Variables) they return ``NotImplemented``;
- ``__cuda_array_interface__`` describes the wrapped buffer.  Under the CUDA simulator device
  memory *is* host memory, so Numba's simulated kernels read and write these buffers in place;
- ``__array_priority__`` 100, as CuPy's, and operators that defer to unknown types;
- the module is the namespace (``asarray`` adopts ``__cuda_array_interface__`` objects
  without a copy, ``zeros``, ``ones``, ``eye``, ...), found from ``type(a).__module__``.

``STATS`` counts host-to-device copies (``asarray``/``array`` of host data), device-to-host
copies (``get``, ``tolist``) and scalar reads that would wait for the device (``bool``,
``float``, ``item``: "sync"), so tests can check that differentiation keeps values on the device.
"""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np

STATS: Counter = Counter()

float32 = np.float32
float64 = np.float64
int64 = np.int64
bool_ = np.bool_
newaxis = None


def _unsupported(x):
    return TypeError(f"Unsupported type {type(x)}")


class _Flags:
    __slots__ = ("c_contiguous", "f_contiguous", "owndata")

    def __init__(self, a):
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous
        self.owndata = a.flags.owndata


class _HostView:
    __slots__ = ("__array_interface__", "owner")

    def __init__(self, cai, owner):
        self.__array_interface__ = {k: cai[k] for k in ("shape", "typestr", "data", "strides")} | {"version": 3}
        self.owner = owner


_PLAIN = (int, float, bool, complex, np.generic)


def _unwrap(x):
    """Device arrays to their NumPy arrays, recursively; NumPy arrays are refused."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        raise _unsupported(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def _wrap(r):
    if isinstance(r, np.ndarray):
        return ndarray(r)
    if isinstance(r, np.generic) and r.dtype.kind in "fiub":
        return ndarray(np.asarray(r))  # CuPy returns 0-d arrays where NumPy returns scalars
    if isinstance(r, tuple):
        return tuple(_wrap(v) for v in r)
    if isinstance(r, list):
        return [_wrap(v) for v in r]
    return r


def _operand_ok(x) -> bool:
    return isinstance(x, (ndarray, np.ndarray) + _PLAIN)


class ndarray:  # noqa: N801  (CuPy's name)
    """A device array (see the module docstring)."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100

    def __init__(self, a):
        assert type(a) is np.ndarray, type(a)
        self._a = a

    # -- attributes ---------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: _Flags(self._a))
    T = property(lambda self: ndarray(self._a.T))

    @property
    def base(self):
        return None if self._a.base is None else self  # a view: not None, as CuPy's

    @property
    def __cuda_array_interface__(self):
        ai = self._a.__array_interface__
        return {
            "shape": ai["shape"],
            "typestr": ai["typestr"],
            "data": ai["data"],
            "strides": ai["strides"],
            "version": 3,
            "stream": 1,
        }

    # -- no implicit host conversion ----------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy array explicitly."
        )

    def get(self):
        STATS["get"] += 1
        return self._a.copy()

    def item(self):
        STATS["sync"] += 1
        return self._a.item()

    def tolist(self):
        STATS["get"] += 1
        return self._a.tolist()

    def __float__(self):
        STATS["sync"] += 1
        return float(self._a)

    def __int__(self):
        STATS["sync"] += 1
        return int(self._a)

    def __bool__(self):
        STATS["sync"] += 1
        return bool(self._a)

    def __repr__(self):
        return "fakecupy." + repr(self._a)

    # -- protocols ----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        for x in inputs + tuple(kwargs.get("out", ())):
            if isinstance(x, np.ndarray):
                raise _unsupported(x)
            if not _operand_ok(x):
                return NotImplemented
        if "out" in kwargs:
            kwargs["out"] = tuple(_unwrap(o) for o in kwargs["out"])
        return _wrap(getattr(ufunc, method)(*_unwrap(inputs), **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        if not all(issubclass(t, (ndarray, np.ndarray)) for t in types):
            return NotImplemented
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    # -- indexing -----------------------------------------------------------------------
    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index)])

    def __setitem__(self, index, value):
        if isinstance(value, np.ndarray):
            raise _unsupported(value)
        self._a[_unwrap(index)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # -- methods ------------------------------------------------------------------------
    def reshape(self, *shape, order="C"):
        return ndarray(self._a.reshape(*shape, order=order))

    def astype(self, dtype, copy=True):
        return ndarray(self._a.astype(dtype, copy=copy))

    def copy(self, order="C"):
        return ndarray(self._a.copy(order=order))

    def transpose(self, *axes):
        return ndarray(self._a.transpose(*axes))

    def ravel(self, order="C"):
        return ndarray(self._a.ravel(order))

    def squeeze(self, axis=None):
        return ndarray(self._a.squeeze(axis))

    def swapaxes(self, a, b):
        return ndarray(self._a.swapaxes(a, b))

    def sum(self, axis=None, dtype=None, keepdims=False):
        return _wrap(self._a.sum(axis=axis, dtype=dtype, keepdims=keepdims))

    def mean(self, axis=None, dtype=None, keepdims=False):
        return _wrap(self._a.mean(axis=axis, dtype=dtype, keepdims=keepdims))

    def max(self, axis=None, keepdims=False):
        return _wrap(self._a.max(axis=axis, keepdims=keepdims))

    def min(self, axis=None, keepdims=False):
        return _wrap(self._a.min(axis=axis, keepdims=keepdims))

    def any(self, axis=None, keepdims=False):
        return _wrap(self._a.any(axis=axis, keepdims=keepdims))

    def all(self, axis=None, keepdims=False):
        return _wrap(self._a.all(axis=axis, keepdims=keepdims))

    def dot(self, b):
        return np.dot(self, b)


def _binary(ufunc, reflected=False):
    def op(self, other):
        if not _operand_ok(other):
            return NotImplemented
        return ufunc(other, self) if reflected else ufunc(self, other)

    return op


for _name, _uf in {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide, "pow": np.power,
    "matmul": np.matmul, "floordiv": np.floor_divide, "mod": np.remainder, "and": np.bitwise_and,
    "or": np.bitwise_or, "xor": np.bitwise_xor,
}.items():
    setattr(ndarray, f"__{_name}__", _binary(_uf))
    setattr(ndarray, f"__r{_name}__", _binary(_uf, True))
for _name, _uf in {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal}.items():
    setattr(ndarray, f"__{_name}__", _binary(_uf))
ndarray.__neg__ = lambda self: np.negative(self)
ndarray.__pos__ = lambda self: self
ndarray.__abs__ = lambda self: np.absolute(self)
ndarray.__invert__ = lambda self: np.invert(self)
ndarray.__hash__ = None
ndarray.__module__ = "fakecupy"
sys.modules.setdefault("fakecupy", sys.modules[__name__])


# -- the namespace ----------------------------------------------------------------------------


def asarray(obj, dtype=None):
    """Like ``cupy.asarray``: device arrays as they are (cast if asked), other
    ``__cuda_array_interface__`` objects adopted without a copy, host data copied over."""
    if isinstance(obj, ndarray):
        return obj if dtype is None or obj.dtype == np.dtype(dtype) else obj.astype(dtype)
    cai = getattr(obj, "__cuda_array_interface__", None)
    if cai is not None:
        STATS["adopted"] += 1
        if not cai["data"][0]:
            a = np.empty(cai["shape"], dtype=np.dtype(cai["typestr"]))
        else:
            a = np.asarray(_HostView(cai, obj))
        out = ndarray(a)
        return out if dtype is None else out.astype(dtype, copy=False)
    STATS["to_device"] += 1
    return ndarray(np.array(obj, dtype=dtype))


def array(obj, dtype=None, copy=True):
    if isinstance(obj, ndarray):
        return obj.astype(dtype or obj.dtype, copy=copy)
    return asarray(obj, dtype)


def asnumpy(a):
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def zeros(shape, dtype=float):
    return ndarray(np.zeros(shape, dtype))


def ones(shape, dtype=float):
    return ndarray(np.ones(shape, dtype))


def empty(shape, dtype=float):
    return ndarray(np.empty(shape, dtype))


def full(shape, fill_value, dtype=None):
    return ndarray(np.full(shape, fill_value, dtype))


def eye(N, M=None, k=0, dtype=float):  # noqa: N803  (CuPy's names)
    return ndarray(np.eye(N, M, k, dtype=dtype))


def arange(*args, **kwargs):
    return ndarray(np.arange(*args, **kwargs))


def linspace(*args, **kwargs):
    return ndarray(np.linspace(*args, **kwargs))
