"""Vectorisable ``exp``, ``log``, ``log1p``, ``expm1``, ``sin``, ``cos`` and ``tanh`` for the CPU kernels.

Numba compiles ``np.exp`` and ``math.sin`` to calls of the C library, one element at a time:
a loop that calls them does not vectorise.  The functions here are written for LLVM's loop
vectoriser instead: a range reduction and a polynomial in straight-line code, with selects in
place of branches, bit casts for the exponent, and no calls.  A kernel's loop over them runs
4 (AVX2) or 8 (AVX-512) elements at a time.

Accuracy: a few ulp over the whole domain (``tests/test_vecmath.py`` measures them against
NumPy and the C library), with the special values of IEEE 754: ``exp`` overflows to ``inf``
above 709.78 and underflows through the subnormals to 0, ``log`` of 0 is ``-inf`` and of a
negative number NaN, ``tanh`` saturates at ±1, signed zeros keep their sign.  ``sin`` and
``cos`` reduce an argument below 2**20 by a three-part Cody–Waite subtraction and a larger
one exactly, from a table of ``2**q · 2/π mod 4`` (Payne–Hanek in double-double arithmetic),
so ``sin(1e300)`` is right too.

Each function is a Python function too: :func:`overloads` registers, when the kernels are
built, a Numba implementation per argument type (float64; float32 computed in float64 and
rounded; complex numbers keep NumPy's own).  The elementwise rules name them as their
``scalar=`` implementation (:func:`scalar`); CUDA kernels keep libdevice, the NumPy path keeps
NumPy.  Numba is imported only when a kernel is built.

Examples
--------
>>> import numpy as np
>>> from dualad.rules import vecmath
>>> float(vecmath.exp(1.0)) == float(np.exp(1.0))
True
"""

from __future__ import annotations

import functools
import hashlib
import threading
from pathlib import Path

import numpy as np

__all__ = ["FUNCTIONS", "scalar", "overloads", "kernel_function", "exp", "log", "log1p", "expm1", "sin", "cos", "tanh"]

#: The functions, by name; each is ``np.<name>`` in Python and the vectorisable one in kernels.
FUNCTIONS = ("exp", "log", "log1p", "expm1", "sin", "cos", "tanh")


def _stub(name: str):
    """The Python face of one function: ``np.<name>`` itself, which Numba code then calls as the
    vectorisable version once :func:`overloads` has registered it."""
    ufunc = getattr(np, name)

    def function(x):
        return ufunc(x)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``np.{name}`` in Python; in a kernel the vectorisable version (see the module)."
    return function


exp, log, log1p, expm1, sin, cos, tanh = (_stub(name) for name in FUNCTIONS)

_STUBS = {"exp": exp, "log": log, "log1p": log1p, "expm1": expm1, "sin": sin, "cos": cos, "tanh": tanh}
_SOURCE_HASH = hashlib.sha1((Path(__file__).parent / "vecmath_impl.py").read_bytes()).hexdigest()[:12]
_LOCK = threading.Lock()
_REGISTERED: list = []


def overloads() -> dict:
    """Register the Numba implementations of the functions (once) and return ``{name: function}``:
    the Python functions above, which Numba-compiled code then calls as the vectorisable ones.

    Examples
    --------
    >>> from dualad.rules import vecmath
    >>> sorted(vecmath.overloads()) == sorted(vecmath.FUNCTIONS)
    True
    """
    if not _REGISTERED:
        with _LOCK:
            if not _REGISTERED:
                from . import vecmath_impl

                vecmath_impl.register(_STUBS)
                _REGISTERED.append(True)
    return dict(_STUBS)


def kernel_function(name: str):
    """The function ``name`` as kernels call it (registering the implementations first).

    Examples
    --------
    >>> import numba
    >>> from dualad.rules import vecmath
    >>> vsin = vecmath.kernel_function("sin")
    >>> f = numba.njit(lambda x: vsin(x))
    >>> float(f(1e22))  # reduced exactly, as NumPy's sin(1e22)
    -0.8522008497671888
    """
    return overloads()[name]


@functools.cache
def scalar(name: str):
    """The ``scalar=`` implementation a rule declares for ``np.<name>``: a
    :class:`dualad.rules.native.Scalar` bound to :func:`kernel_function` on first use, keyed by
    the source of the implementations (a changed one does not load stale kernels).

    Examples
    --------
    >>> from dualad.rules import vecmath
    >>> vecmath.scalar("exp").name
    'exp'
    """
    from .native import Scalar

    if name not in _STUBS:
        raise ValueError(f"dualad.rules.vecmath has no {name!r}; it has {', '.join(FUNCTIONS)}")
    return Scalar(name, 1, lambda: kernel_function(name), f"dualad.rules.vecmath.{name}@{_SOURCE_HASH}")

