"""Scalar implementations the kernels compile, named by a declaration and bound on first use.

A rule's ``scalar=`` slot names how the kernels compute a function Numba cannot compile.  Two
kinds are declared here, neither importing Numba until a kernel is built:

* :func:`cython_special` — one of SciPy's compiled special functions
  (``scipy.special.cython_special``).  The binding picks, among the exported variants of the
  name (fused functions exist only as ``__pyx_fuse_N<name>``, N not tied to one dtype), the one
  whose C signature is all ``double``, registers its address with LLVM under a stable symbol
  name (``llvmlite.binding.add_symbol``) and declares it as a ``numba.types.ExternalFunction``:
  no pointer is baked into the compiled code, so Numba's on-disk cache keeps the kernels and
  loads them in a fresh process (where the symbol is registered again first).
* :func:`jit` — a scalar function written in Python (a loop Numba compiles, such as the
  Hurwitz zeta function SciPy does not export).

:attr:`dualad.rules.ElementwiseRule.kernel_fn` asks each declared scalar for
:meth:`Scalar.numba_callable`.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Scalar", "cython_special", "cython_special_pair", "jit"]

_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class Scalar:
    """A scalar implementation for the kernels, bound to something Numba calls on first use.

    Attributes
    ----------
    name : str
        What it computes (``"erf"``), for messages and the kernel cache key.
    nin : int
        Number of double arguments.
    bind : callable
        ``bind() -> numba-callable``, run once.
    key : str
        What identifies the implementation in the kernels' cache key (its repr): the exported
        name, or a hash of the Python source.

    Examples
    --------
    >>> from dualad.rules.native import cython_special
    >>> erf = cython_special("erf", 1)
    >>> erf.name, erf.nin
    ('erf', 1)
    """

    name: str
    nin: int
    bind: Callable = field(repr=False)
    key: str = ""
    _bound: list = field(default_factory=list, repr=False)

    def numba_callable(self):
        """What Numba compiles a call to (bound once, thread-safe)."""
        if not self._bound:
            with _LOCK:
                if not self._bound:
                    self._bound.append(self.bind())
        return self._bound[0]


def _capsule_signature(capsule) -> str:
    import ctypes

    get = ctypes.pythonapi.PyCapsule_GetName
    get.restype, get.argtypes = ctypes.c_char_p, [ctypes.py_object]
    return get(capsule).decode()


def _find_variant(name: str, nin: int, want: str = "") -> str:
    """The exported name of ``name``'s all-double variant in ``cython_special`` (or the one of
    C signature ``want``)."""
    from scipy.special import cython_special as cs

    want = want or "double (" + ", ".join(["double"] * nin) + ", int __pyx_skip_dispatch)"
    pattern = re.compile(rf"(__pyx_fuse_\d+)?{re.escape(name)}")
    for key, capsule in cs.__pyx_capi__.items():
        if pattern.fullmatch(key) and _capsule_signature(capsule) == want:
            return key
    raise LookupError(f"scipy.special.cython_special exports no variant {want} of {name!r}")


def _bind_cython(name: str, nin: int):
    import llvmlite.binding as llvm
    from numba import njit, types
    from numba.extending import get_cython_function_address

    key = _find_variant(name, nin)
    symbol = f"dualad_cython_special_{key}"
    llvm.add_symbol(symbol, get_cython_function_address("scipy.special.cython_special", key))
    c_fn = types.ExternalFunction(symbol, types.float64(*([types.float64] * nin), types.intc))
    args = ", ".join(f"x{i}" for i in range(nin))
    scope = {"c_fn": c_fn}
    # the trailing 0 is Cython's skip_dispatch flag
    exec(f"def call({args}):\n    return c_fn({args}, 0)\n", scope)  # noqa: S102
    return njit(inline="always", error_model="numpy")(scope["call"])


_PAIR = "void (double, double *, double *)"


def _bind_cython_pair(name: str, index: int):
    import llvmlite.binding as llvm
    import numpy as np
    from numba import njit, types
    from numba.extending import get_cython_function_address

    key = _find_variant(name, 1, _PAIR)
    symbol = f"dualad_cython_special_{key}"
    llvm.add_symbol(symbol, get_cython_function_address("scipy.special.cython_special", key))
    ptr = types.CPointer(types.float64)
    c_fn = types.ExternalFunction(symbol, types.void(types.float64, ptr, ptr))

    def call(x):
        out = np.empty(2)
        c_fn(x, out.ctypes, out[1:].ctypes)
        return out[index]

    return njit(error_model="numpy")(call)


def cython_special_pair(name: str, index: int) -> Scalar:
    """Declare output ``index`` (0 or 1) of SciPy's compiled two-output function
    ``scipy.special.cython_special.<name>`` (C signature ``void (double, double *, double *)``:
    ``sici``, ``fresnel``) as a rule's scalar implementation.

    Examples
    --------
    >>> from dualad.rules.native import cython_special_pair
    >>> cython_special_pair("sici", 1).key
    'scipy.special.cython_special.sici[1]'
    """
    return Scalar(f"{name}[{index}]", 1, lambda: _bind_cython_pair(name, index), f"scipy.special.cython_special.{name}[{index}]")


def cython_special(name: str, nin: int) -> Scalar:
    """Declare SciPy's compiled ``scipy.special.cython_special.<name>`` (double arguments) as a
    rule's scalar implementation.

    Parameters
    ----------
    name : str
        The function's name in ``scipy.special`` (``"erf"``, ``"gammaln"``).
    nin : int
        Its number of arguments.

    Returns
    -------
    Scalar

    Examples
    --------
    >>> from dualad.rules.native import cython_special
    >>> cython_special("gammaln", 1).key
    'scipy.special.cython_special.gammaln'
    """
    return Scalar(name, nin, lambda: _bind_cython(name, nin), f"scipy.special.cython_special.{name}")


def jit(fn: Callable, inline: bool = False) -> Scalar:
    """Declare a scalar Python function (loops allowed) that Numba compiles for the kernels.

    Parameters
    ----------
    fn : callable
        A function of floats using ``math`` and arithmetic.
    inline : bool
        Inline it into the kernels (Numba IR inlining): for a few operations without a loop,
        so that LLVM vectorises the kernels' loops around it (a call per element does not).

    Returns
    -------
    Scalar

    Examples
    --------
    >>> import math
    >>> from dualad.rules.native import jit
    >>> def half(x):
    ...     return 0.5 * x
    >>> jit(half).name
    'half'
    """

    def bind():
        from numba import njit

        if inline:
            return njit(error_model="numpy", inline="always")(fn)
        return njit(error_model="numpy")(fn)  # a loop: called, not inlined (Numba IR inlining made it 5x slower)

    digest = hashlib.sha1(inspect.getsource(fn).encode()).hexdigest()[:12]
    how = "inline" if inline else "called"
    return Scalar(fn.__name__, fn.__code__.co_argcount, bind, f"{fn.__module__}.{fn.__qualname__}@{digest}:{how}")
