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

Kernels call them as Numba intrinsics (:func:`kernel_function`): each function is compiled
once per process on its own and its call is marked ``alwaysinline``, so that LLVM inlines it
into the kernel's loop and vectorises it, while Numba's front end handles one call per use
instead of a copy of the whole function (which made every kernel that uses them several times
slower to compile).  float64 runs the code here; float32 is computed in float64 and rounded;
integers are converted to float64; complex numbers keep NumPy's own functions.  The
elementwise rules name them as their ``scalar=`` implementation (:func:`scalar`); CUDA kernels
keep libdevice, the NumPy path keeps NumPy.  Numba is imported only when a kernel is built.

Examples
--------
>>> import math
>>> import numba
>>> from dualad.rules import vecmath
>>> vexp = vecmath.kernel_function("exp")
>>> math.isclose(numba.njit(lambda x: vexp(x))(1.0), math.e, rel_tol=2**-52)  # within an ulp
True
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__all__ = ["FUNCTIONS", "scalar", "kernel_function"]

#: The functions' names: NumPy's ufuncs of these names are computed by the code here in kernels.
FUNCTIONS = ("exp", "log", "log1p", "expm1", "sin", "cos", "tanh")

_SOURCE_HASH = hashlib.sha1((Path(__file__).parent / "vecmath_impl.py").read_bytes()).hexdigest()[:12]


def _check(name: str) -> None:
    if name not in FUNCTIONS:
        raise ValueError(f"dualad.rules.vecmath has no {name!r}; it has {', '.join(FUNCTIONS)}")


def kernel_function(name: str):
    """The function ``name`` as kernels call it: a Numba intrinsic (of a float, integer or
    complex number), callable in Numba-compiled code only.

    Examples
    --------
    >>> import numba
    >>> from dualad.rules import vecmath
    >>> vsin = vecmath.kernel_function("sin")
    >>> f = numba.njit(lambda x: vsin(x))
    >>> float(f(1e22))  # reduced exactly, as NumPy's sin(1e22)
    -0.8522008497671888
    """
    _check(name)
    from .vecmath_impl import KERNEL_FUNCTIONS

    return KERNEL_FUNCTIONS[name]


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

    _check(name)
    return Scalar(name, 1, lambda: kernel_function(name), f"dualad.rules.vecmath.{name}@{_SOURCE_HASH}")

