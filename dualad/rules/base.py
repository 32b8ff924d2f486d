"""The rule table's machinery: how an elementwise rule is declared and looked up.

A rule is one Python function ``fn(*xs) -> (value, d/dx0, d/dx1, ...)`` written with NumPy
ufuncs only.  The same source is (a) compiled by Numba, element by element, into the fused
kernels of :mod:`dualad.kernels`, and (b) evaluated on whole arrays, Duals or Variables at
nested levels, where its NumPy calls dispatch back into dualad.  Branches are written as
arithmetic on comparisons (``(x > 0) * 1.0``) so that both readings work.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ElementwiseRule", "elementwise", "RULES", "UFUNC_RULES", "Primitive", "PRIMITIVES", "install_dispatcher"]

#: Every elementwise rule, by name, in declaration order.
RULES: dict[str, ElementwiseRule] = {}
#: The rules that implement a NumPy ufunc, by ufunc.
UFUNC_RULES: dict[np.ufunc, ElementwiseRule] = {}


@dataclass(eq=False)
class ElementwiseRule:
    """One elementwise function: its value and partial derivatives, declared once.

    Attributes
    ----------
    name : str
        The rule's name (the ufunc's name when it implements one).
    fn : callable
        ``fn(*xs) -> (value, partial_0, ..., partial_{nin-1})``, NumPy ufuncs only.
    nin : int
        Number of inputs.
    ufunc : numpy.ufunc or None
        The NumPy ufunc this rule differentiates, if any.
    domain : tuple of (low, high)
        Per input, an interval where the function is smooth enough for finite differences;
        the rule sweep tests draw points from it.
    nondiff : str
        What the rule does at points where the function is not differentiable (for the docs).
    """

    name: str
    fn: Callable
    nin: int
    ufunc: np.ufunc | None = None
    domain: tuple = ()
    nondiff: str = ""
    source_hash: str = field(default="", repr=False)

    def __call__(self, *args):
        if len(args) != self.nin:
            raise TypeError(f"{self.name} takes {self.nin} argument(s), got {len(args)}")
        return _DISPATCH.apply_elementwise(self, args)

    @property
    def constant_partials(self) -> tuple:
        """Per input, the partial if the rule declares it as a number literal (``add`` → 1.0,
        ``floor`` → 0.0), else None: such inputs need no multiply, only a scale."""
        cached = self.__dict__.get("_constant_partials")
        if cached is None:
            probe = [np.float64(0.5 * (lo + hi)) for lo, hi in self.domain]
            with np.errstate(all="ignore"):
                partials = self.fn(*probe)[1:]
            cached = tuple(float(p) if isinstance(p, (float, int)) and not isinstance(p, np.generic) else None for p in partials)
            self.__dict__["_constant_partials"] = cached
        return cached

    def evaluate(self, *xs):
        """Value and partials on whole arrays (or active values), NumPy dispatch."""
        with np.errstate(all="ignore"):
            return self.fn(*xs)


def elementwise(ufunc_or_name, *, domain=None, nondiff: str = ""):
    """Declare an elementwise rule.

    Parameters
    ----------
    ufunc_or_name : numpy.ufunc or str
        The ufunc differentiated, or a name for a rule that is not a NumPy ufunc.
    domain : sequence of (low, high), optional
        Per input, where finite differences are meaningful (default ``(-2, 2)`` each).
    nondiff : str
        The convention at non-differentiable points, published in the coverage table.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.rules.base import elementwise
    >>> @elementwise("my_cube_example")
    ... def cube(x):
    ...     return x * x * x, 3.0 * x * x
    >>> float(cube.evaluate(2.0)[1])
    12.0
    >>> from dualad.rules.base import RULES
    >>> _ = RULES.pop("my_cube_example")  # keep the doctest from extending the table
    """

    def register(fn: Callable) -> ElementwiseRule:
        nin = len(inspect.signature(fn).parameters)
        ufunc = ufunc_or_name if isinstance(ufunc_or_name, np.ufunc) else None
        name = ufunc.__name__ if ufunc is not None else str(ufunc_or_name)
        if name in RULES:
            raise ValueError(f"elementwise rule {name!r} is declared twice")
        if ufunc is not None and ufunc.nin != nin:
            raise ValueError(f"rule {name!r} takes {nin} inputs but np.{name} takes {ufunc.nin}")
        dom = tuple(domain) if domain is not None else ((-2.0, 2.0),) * nin
        if len(dom) != nin:
            raise ValueError(f"rule {name!r}: domain needs one interval per input")
        src = _fingerprint_source(fn, set())
        rule = ElementwiseRule(
            name=name,
            fn=fn,
            nin=nin,
            ufunc=ufunc,
            domain=dom,
            nondiff=nondiff,
            source_hash=hashlib.sha1(src.encode()).hexdigest()[:12],
        )
        rule.__doc__ = fn.__doc__
        RULES[name] = rule
        if ufunc is not None:
            UFUNC_RULES[ufunc] = rule
        return rule

    return register


def _code_names(code) -> list[str]:
    names = list(code.co_names)
    for c in code.co_consts:
        if inspect.iscode(c):
            names += _code_names(c)
    return names


def _fingerprint_source(fn: Callable, seen: set) -> str:
    """The text that identifies what a rule computes, for the kernels' on-disk cache: its own
    source and that of the Python functions and the values of the constants it reads from its
    module or closure.  (Numba caches a kernel by its file alone, so a helper changed between
    two runs must change the key, or a stale compiled derivative would be loaded.)"""
    if id(fn) in seen:
        return ""
    seen.add(id(fn))
    try:
        parts = [inspect.getsource(fn)]
    except (OSError, TypeError):  # defined at a prompt or by exec: the bytecode
        code = fn.__code__
        parts = [repr((code.co_code, code.co_consts, code.co_names))]
    cells = {n: c.cell_contents for n, c in zip(fn.__code__.co_freevars, fn.__closure__ or ()) if _filled(c)}
    env = {**getattr(fn, "__globals__", {}), **cells}
    for name in sorted(set(_code_names(fn.__code__)) | set(cells)):
        value = env.get(name)
        if inspect.isfunction(value):
            parts.append(f"{name}:{_fingerprint_source(value, seen)}")
        elif isinstance(value, (bool, int, float, complex, str, np.generic)):
            parts.append(f"{name}={value!r}")
    return "\n".join(parts)


def _filled(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


#: Every structural primitive, by name.
PRIMITIVES: dict[str, Primitive] = {}


class _Unset:
    def __getattr__(self, name):
        raise RuntimeError("dualad.core has not installed its dispatcher; import dualad first")


# The layer above (dualad.core.dispatch) installs itself here at import, so that rules can
# apply ops to values of any nesting level without importing upward.
_DISPATCH = _Unset()


def install_dispatcher(dispatcher) -> None:
    """Called once by :mod:`dualad.core.dispatch`: the object that routes ops to value types."""
    global _DISPATCH
    _DISPATCH = dispatcher


class Primitive:
    """A structural op declared once; forward and reverse mode both derive from it.

    Subclasses provide ``impl`` (plain arrays), ``jvp`` (push one lane axis of tangents) and
    ``forward``/``backward`` (save residuals, pull one lane axis of cotangents).  ``bind``
    applies the op to values of any type: plain arrays go to ``impl``, active values to the
    newest-tagged value's type.
    """

    name = "primitive"

    def __init__(self, name: str):
        self.name = name
        if name in PRIMITIVES:
            raise ValueError(f"primitive {name!r} is declared twice")
        PRIMITIVES[name] = self

    def bind(self, *args, **params):
        return _DISPATCH.bind(self, args, params)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"
