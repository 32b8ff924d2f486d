"""Where plain values live: on the host (NumPy) or on a GPU (CuPy).

A *device array* is any array whose type exposes ``__cuda_array_interface__`` and NumPy's
protocols (``__array_ufunc__``, ``__array_function__``), as CuPy's ``ndarray`` does.  Structural
ops on device values run through those protocols (``np.sum(x)`` runs ``cupy.sum``); elementwise
rules run through the CUDA kernels of :mod:`dualad.kernels.cuda`, chosen by
:mod:`dualad.kernels.backend`, whose outputs are allocated by the operands' array library
(CuPy's memory pool, :func:`namespace`) and written in place.  This module decides "host or
device", "which namespace", and reports host/device mixing; it never imports CuPy or
``numba.cuda`` itself.

Plain NumPy values take one ``type(x) is np.ndarray`` test and nothing more.
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = [
    "is_device",
    "HOST_TYPES",
    "namespace",
    "locate",
    "mixing_error",
    "zeros",
    "ones",
    "eye",
    "asarray",
    "to_place",
    "arange",
    "result_type",
    "result_dtype",
]

# Types that are never device arrays: checked before anything else.
_HOST = frozenset({np.ndarray, float, int, bool, np.float64, np.float32, np.int64, np.int32, np.bool_, type(None)})
#: The same types, for callers that test plain values before calling :func:`locate`: values all
#: of these types are host values (``locate`` returns None for them without raising).
HOST_TYPES = _HOST
_NAMESPACES: dict = {}


def is_device(x) -> bool:
    """Whether ``x`` is a device array (its type exposes ``__cuda_array_interface__``).

    Parameters
    ----------
    x : object
        Anything; active values (Duals, Variables) are not device arrays themselves.

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.core.device import is_device
    >>> is_device(np.ones(3)), is_device(2.0)
    (False, False)
    """
    t = type(x)
    return t not in _HOST and hasattr(t, "__cuda_array_interface__")


def namespace(x):
    """The array module of a device array: ``x.__array_namespace__()`` where the type has it,
    else the top-level module of its type (``cupy`` for ``cupy.ndarray``); NumPy for anything
    else.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.core.device import namespace
    >>> namespace(np.ones(2)).__name__
    'numpy'
    """
    t = type(x)
    if t in _HOST or not hasattr(t, "__cuda_array_interface__"):
        return np
    xp = _NAMESPACES.get(t)
    if xp is None:
        get = getattr(x, "__array_namespace__", None)
        if get is not None:
            xp = get()
        else:
            xp = sys.modules.get(t.__module__.partition(".")[0])
            if xp is None:
                raise TypeError(f"cannot tell the array library of {t.__name__}: it has no __array_namespace__ and its module is not imported")
        _NAMESPACES[t] = xp
    return xp


def mixing_error(host, dev, what: str = "this operation") -> TypeError:
    """The error for host and device arrays used together, naming both ways to fix it.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.core.device import mixing_error
    >>> class Dev:  # a stand-in device array type
    ...     __cuda_array_interface__ = {}
    >>> print(mixing_error(np.ones(2), Dev(), "add"))  # doctest: +ELLIPSIS
    add: mixing a host (NumPy) array of shape (2,) with a device array (...Dev)...
    """
    xp = namespace(dev).__name__
    return TypeError(
        f"{what}: mixing a host (NumPy) array of shape {tuple(np.shape(host))} with a device array "
        f"({type(dev).__module__}.{type(dev).__name__}). dualad does not move data implicitly: move the "
        f"NumPy array to the device with {xp}.asarray(a), or the device array to the host with a.get()"
    )


def locate(values, what: str = "this operation"):
    """The first device array among plain ``values``, or None if all are on the host.

    NumPy arrays of one or more dimensions are host arrays; Python and NumPy scalars and 0-d
    arrays have no place and go with either.  Active values are skipped (their own level
    checks their values).

    Raises
    ------
    TypeError
        If host arrays and device arrays are mixed (see :func:`mixing_error`).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.core.device import locate
    >>> locate([np.ones(3), 2.0]) is None
    True
    """
    dev = host = None
    for v in values:
        t = type(v)
        if t is np.ndarray:
            if v.ndim:
                host = v
        elif t not in _HOST and hasattr(t, "__cuda_array_interface__"):
            if dev is None:
                dev = v
    if dev is not None and host is not None:
        raise mixing_error(host, dev, what)
    return dev


def zeros(shape, dtype, like):
    """Zeros of ``shape`` and ``dtype`` where the plain value ``like`` lives.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.core.device import zeros
    >>> zeros((2,), np.float32, np.ones(3))
    array([0., 0.], dtype=float32)
    """
    if type(like) is np.ndarray or not is_device(like):
        return np.zeros(shape, dtype=dtype)
    return namespace(like).zeros(shape, dtype=dtype)


def ones(shape, dtype, like):
    """Ones of ``shape`` and ``dtype`` where the plain value ``like`` lives.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.core.device import ones
    >>> ones((2,), np.float64, 1.0)
    array([1., 1.])
    """
    if type(like) is np.ndarray or not is_device(like):
        return np.ones(shape, dtype=dtype)
    return namespace(like).ones(shape, dtype=dtype)


def eye(n: int, m: int, k: int, dtype, like):
    """The ``n × m`` matrix with ones on diagonal ``k`` (``np.eye(n, m, k)``), where ``like``
    lives: the seeds of Jacobian lanes.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.core.device import eye
    >>> eye(2, 3, 1, np.float64, np.ones(3))
    array([[0., 1., 0.],
           [0., 0., 1.]])
    """
    if type(like) is np.ndarray or not is_device(like):
        return np.eye(n, m, k, dtype=dtype)
    return namespace(like).eye(n, m, k=k, dtype=dtype)


def to_place(a, like):
    """Host data ``a`` (index arrays, masks that dualad computes with NumPy) where the plain
    value ``like`` lives: ``a`` itself on the host, a device copy for device arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.core.device import to_place
    >>> idx = np.array([0, 2])
    >>> to_place(idx, np.ones(3)) is idx
    True
    """
    if type(like) is np.ndarray or type(a) is not np.ndarray or not is_device(like):
        return a
    return namespace(like).asarray(a)


def arange(n: int, like):
    """``np.arange(n)`` of integer positions where the plain value ``like`` lives.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.core.device import arange
    >>> arange(3, np.ones(2))
    array([0, 1, 2])
    """
    if type(like) is np.ndarray or not is_device(like):
        return np.arange(n, dtype=np.intp)
    return namespace(like).arange(n, dtype=np.intp)


def asarray(x, dtype=None):
    """``np.asarray(x, dtype)`` for host values; device arrays stay on the device (cast with
    ``astype`` when ``dtype`` differs).

    Examples
    --------
    >>> from dualad.core.device import asarray
    >>> asarray([1, 2], dtype=float)
    array([1., 2.])
    """
    if type(x) is not np.ndarray and is_device(x):
        return x if dtype is None or x.dtype == np.dtype(dtype) else x.astype(dtype)
    return np.asarray(x, dtype=dtype)


def result_type(values, what: str = "this operation") -> np.dtype:
    """``np.result_type(*values)`` of plain values, host or device (device arrays by their
    dtype, without dispatching to their library); host and device arrays mixed raise.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.core.device import result_type
    >>> result_type([np.ones(2, np.float32), np.ones(2)])
    dtype('float64')
    """
    if locate(values, what) is None:
        return np.result_type(*values)
    return np.result_type(*[v if isinstance(v, (int, float, complex)) else v.dtype for v in values])


def result_dtype(values) -> np.dtype:
    """The float dtype of an elementwise op on ``values`` that include device arrays: NumPy's
    promotion on their dtypes (integers and bools to float64), without dispatching to the
    device library.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.core.device import result_dtype
    >>> result_dtype([np.ones(2, np.float32), 2.0])
    dtype('float32')
    """
    dt = np.result_type(*[v if isinstance(v, (int, float, complex)) else v.dtype for v in values])
    if dt.kind in "fc":
        return dt
    if dt.kind in "biu":
        return np.dtype(np.float64)
    raise TypeError(f"cannot differentiate device values of dtype {dt}; pass float arrays")
