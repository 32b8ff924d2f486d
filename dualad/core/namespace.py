"""An array-API namespace for active values, so array-API-aware libraries pass them through.

Libraries such as SciPy (with ``SCIPY_ARRAY_API=1``) ask an array for its namespace and call
``xp.asarray(x)`` instead of ``np.asarray(x)``.  Here that namespace is NumPy itself — whose
functions reach dualad through ``__array_function__`` — except that ``asarray`` keeps active
values active instead of escaping them.
"""

from __future__ import annotations

import types

import numpy as np

from .dispatch import Active

__all__ = ["namespace"]


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


namespace = _Namespace("dualad.array_namespace", __doc__)
namespace.asarray = _asarray
