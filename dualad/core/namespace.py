"""An array-API namespace for active values, so array-API-aware libraries pass them through.

Libraries such as SciPy (with ``SCIPY_ARRAY_API=1``) ask an array for its namespace and call
``xp.asarray(x)`` instead of ``np.asarray(x)``.  Here that namespace is NumPy itself — whose
functions reach dualad through ``__array_function__`` — except that ``asarray`` keeps active
values active instead of escaping them.

Such libraries find the namespace with ``array_api_compat.array_namespace(*arrays)``, which
refuses arrays of two libraries in one call ("Multiple namespaces").  To dualad a plain NumPy
array beside an active value is a constant, and dualad's namespace computes with both, so
:func:`join_numpy` teaches each loaded copy of ``array_api_compat`` (SciPy's vendored one, the
standalone package, scikit-learn's) that NumPy arrays and scalars go with active values: a call
given active values and NumPy arrays gets dualad's namespace; every other call is unchanged.
"""

from __future__ import annotations

import functools
import sys
import types

import numpy as np

from .dispatch import ON_NEW_TAG, Active

__all__ = ["namespace", "join_numpy", "COMPAT_MODULES"]

#: The module names under which array-API-aware libraries load ``array_api_compat``.
COMPAT_MODULES = ("scipy._lib.array_api_compat", "array_api_compat", "sklearn.externals.array_api_compat")


class _Namespace(types.ModuleType):
    def __getattr__(self, name):
        return getattr(np, name)


def _asarray(obj, /, *, dtype=None, device=None, copy=None, **kwargs):
    if isinstance(obj, Active):
        if dtype is not None and np.dtype(dtype) != obj.dtype:
            return obj.astype(dtype)
        # copy=True promises an array the caller may write into (SciPy's ``at(...).set(copy=True)``)
        return obj.copy() if copy else obj
    return np.asarray(obj, dtype=dtype, **kwargs)


class _Info:
    """``__array_namespace_info__()``: NumPy's, except that boolean indexing is reported absent.

    Active values index by boolean masks, but array-API code that has it writes results into a
    plain array it allocated (``out = xp.empty_like(mask); out[mask] = f(x[mask])``), which cannot
    hold a derivative; without it the same code takes its ``xp.where`` path, which can.
    """

    def __init__(self):
        self._numpy = np.__array_namespace_info__()

    def capabilities(self) -> dict:
        return {**self._numpy.capabilities(), "boolean indexing": False}

    def __getattr__(self, name):
        return getattr(self._numpy, name)


class _Special(types.ModuleType):
    """``xp.special``: SciPy's special-function ufuncs themselves, which reach dualad's rules
    through ``__array_ufunc__`` (SciPy's array-API mode looks here before converting the
    arguments to NumPy arrays)."""

    def __getattr__(self, name):
        import inspect

        import scipy.special

        fn = inspect.unwrap(getattr(scipy.special, name))  # array-API mode wraps each ufunc
        if not isinstance(fn, np.ufunc):
            raise AttributeError(name)
        return fn


namespace = _Namespace("dualad.array_namespace", __doc__)
namespace.asarray = _asarray
namespace.__array_namespace_info__ = _Info
namespace.special = _Special("dualad.array_namespace.special", _Special.__doc__)


def _with_numpy(original):
    @functools.wraps(original)
    def array_namespace(*xs, **kwargs):
        if any(isinstance(x, Active) for x in xs):
            xs = tuple(x for x in xs if not isinstance(x, (np.ndarray, np.generic)))
        return original(*xs, **kwargs)

    array_namespace.joins_numpy = True
    return array_namespace


def join_numpy() -> None:
    """Let each loaded ``array_api_compat`` give dualad's namespace to active values mixed
    with NumPy arrays (called when an active value is first asked for its namespace; cheap
    afterwards: one look-up per module name)."""
    modules = sys.modules
    for name in COMPAT_MODULES:
        mod = modules.get(name)
        if mod is None:  # (runs at every new tag: no attribute look-up on None)
            continue
        fn = getattr(mod, "array_namespace", None)
        if fn is not None and not getattr(fn, "joins_numpy", False):
            mod.array_namespace = _with_numpy(fn)


ON_NEW_TAG.append(join_numpy)
