"""The rule table's machinery: how an elementwise rule is declared and looked up.

A rule is one Python function ``fn(*xs) -> (value, d/dx0, d/dx1, ...)`` written with NumPy
ufuncs only.  The same source is (a) compiled by Numba, element by element, into the fused
kernels of :mod:`dualad.kernels`, and (b) evaluated on whole arrays, Duals or Variables at
nested levels, where its NumPy calls dispatch back into dualad.  Branches are written as
arithmetic on comparisons (``(x > 0) * 1.0``) so that both readings work.

The declaration is all a function needs: besides the formulas it names the function it
differentiates (a NumPy or SciPy ufunc, or a NumPy function such as ``np.clip``: dispatch
routes it to the rule), how the kernels compute that function where Numba cannot compile it
(``scalar=``, and ``cuda=`` on the GPU), how a trace prints it (``text=``), the inputs it is
differentiable in, the dtypes it supports and an opcode.  Kernels, dispatch, traces, the
coverage table and the rule sweep read these fields; no other table repeats them.
"""

from __future__ import annotations

import hashlib
import inspect
import types
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ElementwiseRule",
    "elementwise",
    "ALL_DTYPES",
    "RULES",
    "UFUNC_RULES",
    "FUNCTION_RULES",
    "Implementation",
    "IMPLEMENTATIONS",
    "implementation",
    "implementation_of",
    "scalar_table",
    "retarget",
    "Primitive",
    "PRIMITIVES",
    "install_dispatcher",
    "dispatcher",
]

#: Every elementwise rule, by name, in declaration order (``rule.opcode`` is the position).
RULES: dict[str, ElementwiseRule] = {}
#: The rules that implement a ufunc (NumPy's or SciPy's), by ufunc: ``__array_ufunc__`` routes here.
UFUNC_RULES: dict[np.ufunc, ElementwiseRule] = {}
#: The rules that implement a NumPy function that is not a ufunc (``np.clip``), by function:
#: ``__array_function__`` routes here when no structural handler claims the function.
FUNCTION_RULES: dict[Callable, ElementwiseRule] = {}

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
#: float32, float64, complex64 and complex128: the dtypes of a rule NumPy defines for complex numbers.
ALL_DTYPES = _FLOATS + (np.dtype(np.complex64), np.dtype(np.complex128))


@dataclass(frozen=True)
class Implementation:
    """How the kernels compute a function that rules call, where Numba cannot use it as it is.

    Attributes
    ----------
    function : callable
        The function as rules call it (``np.sqrt``, ``scipy.special.erf``).
    scalar : callable or None
        A scalar function Numba compiles in its place on the CPU (and on the GPU when ``cuda``
        is None): a ``math`` function, an ``@numba.njit`` function, or a binding to a compiled
        native function (a ``ctypes``/``cffi`` function object, e.g. built from
        ``numba.extending.get_cython_function_address`` for ``scipy.special.cython_special``).
    cuda : callable, str or None
        Its twin in CUDA device code: a ``math`` function the CUDA target implements, a
        NumPy-written Python function (compiled as a device function, its own ``np`` calls
        retargeted too), ``"libdevice.<name>"`` (a double-precision libdevice function) or
        ``"native"`` (the CUDA target implements the ufunc itself).

    Examples
    --------
    >>> import math
    >>> import numpy as np
    >>> from dualad.rules.base import IMPLEMENTATIONS
    >>> IMPLEMENTATIONS[np.isnan].cuda is math.isnan
    True
    """

    function: Callable
    scalar: Callable | None = None
    cuda: Callable | str | None = None


#: Every declared :class:`Implementation`, by function (from rules and :func:`implementation`).
IMPLEMENTATIONS: dict[Callable, Implementation] = {}


def implementation(function: Callable, *, scalar: Callable | None = None, cuda=None) -> Implementation:
    """Declare how kernels compute ``function`` when it is not a rule of its own.

    Rules declare the implementation of the function they differentiate with the same
    ``scalar=`` and ``cuda=`` arguments of :func:`elementwise`; this is for the functions that
    rules only call (``np.isnan``).

    Parameters
    ----------
    function : callable
        The function as rules call it.
    scalar, cuda : optional
        See :class:`Implementation`.

    Returns
    -------
    Implementation
        The declaration, also stored in :data:`IMPLEMENTATIONS`.

    Examples
    --------
    >>> import math
    >>> import numpy as np
    >>> from dualad.rules.base import implementation
    >>> implementation(np.isinf, cuda=math.isinf).cuda is math.isinf
    True
    """
    impl = Implementation(function, scalar, cuda)
    IMPLEMENTATIONS[function] = impl
    return impl


def scalar_table() -> dict:
    """``{function: scalar}`` for every declared implementation with a ``scalar``.

    Examples
    --------
    >>> from dualad.rules.base import scalar_table
    >>> isinstance(scalar_table(), dict)
    True
    """
    return {f: impl.scalar for f, impl in IMPLEMENTATIONS.items() if impl.scalar is not None}


@dataclass(eq=False)
class ElementwiseRule:
    """One elementwise function: its value and partial derivatives, declared once.

    Attributes
    ----------
    name : str
        The rule's name (the function's ``__name__`` when it implements one).
    fn : callable
        ``fn(*xs) -> (value, partial_0, ..., partial_{nin-1})``, NumPy ufuncs only.
    nin : int
        Number of inputs.
    ufunc : numpy.ufunc or None
        The ufunc this rule differentiates, if any (NumPy's or SciPy's).
    domain : tuple of (low, high)
        Per input, an interval where the function is smooth enough for finite differences;
        the rule sweep tests draw points from it.
    nondiff : str
        What the rule does at points where the function is not differentiable (for the docs).
    function : callable or None
        The function differentiated: the ufunc, or a NumPy function that is not a ufunc
        (``np.clip``); None for a rule known by its name only (``relu``).
    scalar, cuda : optional
        How kernels compute ``function`` where Numba cannot compile it (see
        :class:`Implementation`).
    text : tuple or None
        How a trace prints the rule: ``(value, partials)`` with ``{a}``, ``{b}``, ... for the
        operands; ``value`` is None for a signed sum (add, subtract), ``partials`` is None for
        the generic ``∂₁name(a, b)``, else one *factor* per input (``"1"``, ``"/{b}"`` divides,
        anything else multiplies).  None: ``name a`` and ``name′(a)``.
    argnums : tuple of int
        The inputs the rule is differentiable in (the others are parameters; the rule sweep
        checks only these).
    dtypes : tuple of numpy.dtype
        The dtypes the rule supports (float32 and float64 by default; :data:`ALL_DTYPES` adds
        complex64 and complex128 for a function NumPy defines on complex numbers).  On complex
        inputs the partials are complex derivatives ``∂f/∂z``: forward mode pushes
        ``ẏ = Σ ∂_i ż_i``, reverse mode pulls ``z̄_i = ȳ ∂_i`` (JAX's plain transpose, no
        conjugate).
    takes_complex : bool
        Whether a complex dtype is among ``dtypes`` (kept in step with it).
    wirtinger : callable or None
        For a function that is not holomorphic (``abs``, ``conj``, ``real``, ``imag``,
        ``angle``): ``wirtinger(*zs) -> (∂f/∂z_0, ∂f/∂z̄_0, ∂f/∂z_1, ∂f/∂z̄_1, ...)``, used in
        place of ``fn``'s partials when an input is complex: ``ẏ = Σ ∂_i ż_i + ∂̄_i conj(ż_i)``
        and ``z̄_i = ȳ ∂_i + conj(ȳ ∂̄_i)`` (real part of both where the value is real).
        Declared with :meth:`def_wirtinger`.
    opcode : int
        The rule's position in :data:`RULES`, a dense small integer for a program compiler;
        ``name`` is the identity that stays the same across versions.
    parse : callable or None
        For a NumPy function: ``parse(*args, **kwargs) -> inputs`` normalises its signature
        (``np.clip(a, a_min=..., a_max=...)``); None takes the positional arguments as they are.
    array_fn : callable or None
        The value on plain arrays as a ufunc computes it (broadcasting its inputs, writing into
        ``out=``): the ufunc, or ``function`` where it is declared ``ufunc_like``.  Recordings
        run large entries through it in NumPy.

    Examples
    --------
    >>> from dualad.rules import RULES
    >>> rule = RULES["sin"]
    >>> rule.name, rule.nin, rule.argnums, rule.text
    ('sin', 1, (0,), ('sin {a}', ('cos {a}',)))
    >>> [float(v) for v in rule.evaluate(0.0)]
    [0.0, 1.0]
    """

    name: str
    fn: Callable
    nin: int
    ufunc: np.ufunc | None = None
    domain: tuple = ()
    nondiff: str = ""
    source_hash: str = field(default="", repr=False)
    function: Callable | None = None
    scalar: Callable | None = field(default=None, repr=False)
    cuda: Callable | str | None = field(default=None, repr=False)
    text: tuple | None = field(default=None, repr=False)
    argnums: tuple = ()
    dtypes: tuple = _FLOATS
    opcode: int = -1
    parse: Callable | None = field(default=None, repr=False)
    wirtinger: Callable | None = field(default=None, repr=False)
    array_fn: Callable | None = field(default=None, repr=False)

    def __call__(self, *args):
        if len(args) != self.nin:
            raise TypeError(f"{self.name} takes {self.nin} argument(s), got {len(args)}")
        return _DISPATCH.apply_elementwise(self, args)

    def __setattr__(self, name, value):
        # ``takes_complex`` (whether a complex dtype is among ``dtypes``) is read on every op:
        # a plain attribute kept in step with ``dtypes``, not a property computed per read.
        object.__setattr__(self, name, value)
        if name == "dtypes":
            object.__setattr__(self, "takes_complex", any(np.dtype(d).kind == "c" for d in value))

    def def_wirtinger(self, fn: Callable) -> Callable:
        """Declare the rule's Wirtinger partials on complex inputs (a function that is not
        holomorphic); see :attr:`wirtinger`.  Used as a decorator below the rule.

        Examples
        --------
        >>> from dualad.rules import RULES
        >>> [complex(d) for d in RULES["conjugate"].wirtinger(1j)]   # ∂conj/∂z, ∂conj/∂z̄
        [0j, (1+0j)]
        """
        if len(inspect.signature(fn).parameters) != self.nin:
            raise TypeError(f"rule {self.name!r}: its Wirtinger partials take {self.nin} argument(s)")
        self.wirtinger = fn
        self.source_hash = hashlib.sha1((self.source_hash + _fingerprint_source(fn, set())).encode()).hexdigest()[:12]
        return fn

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

    @property
    def kernel_fn(self) -> Callable:
        """``fn`` as the CPU kernels compile it: ``fn`` itself, or a copy sharing its code whose
        globals see each declared ``scalar`` implementation in place of its function.

        Examples
        --------
        >>> from dualad.rules import RULES
        >>> rule = RULES["sin"]
        >>> rule.kernel_fn is rule.fn, rule.kernel_fn.__code__ is rule.fn.__code__  # np.sin is vecmath's there
        (False, True)
        """
        return self._retargeted("_kernel_fn", scalar_table())

    @property
    def loop_fn(self) -> Callable:
        """``fn`` as compiled code calls it one element at a time in loops that do not
        vectorise (the VM's interpreter, a compiled recording's loop with its running sum):
        :attr:`kernel_fn` with the C library's functions where it has
        :mod:`dualad.rules.vecmath`'s, whose selects compute both of their paths (cheap only
        when LLVM vectorises the loop: measured 2-3x slower than the C library in such loops).

        Examples
        --------
        >>> from dualad.rules import RULES
        >>> rule = RULES["sin"]
        >>> rule.loop_fn is rule.fn, rule.loop_fn is rule.kernel_fn
        (True, False)
        """
        table = {f: s for f, s in scalar_table().items() if not getattr(s, "key", "").startswith("dualad.rules.vecmath.")}
        return self._retargeted("_loop_fn", table)

    def _retargeted(self, slot: str, table: dict) -> Callable:
        key = tuple(table.items())
        cached = self.__dict__.get(slot)
        if cached is None or cached[0] != key:
            # a declared native binding or jit function (dualad.rules.native) is bound here
            table = {f: s.numba_callable() if hasattr(s, "numba_callable") else s for f, s in table.items()}
            cached = (key, retarget(self.fn, table) if table else self.fn)
            self.__dict__[slot] = cached
        return cached[1]

    def evaluate(self, *xs):
        """Value and partials on whole arrays (or active values), NumPy dispatch."""
        with np.errstate(all="ignore"):
            return self.fn(*xs)


def elementwise(
    function_or_name,
    *,
    domain=None,
    nondiff: str = "",
    scalar: Callable | None = None,
    cuda=None,
    text: tuple | None = None,
    argnums=None,
    dtypes=None,
    parse: Callable | None = None,
    ufunc_like: bool = False,
    name: str | None = None,
):
    """Declare an elementwise rule.

    Parameters
    ----------
    function_or_name : numpy.ufunc, callable or str
        The function differentiated: a ufunc (NumPy's or SciPy's: ``np.sin(x)`` on dualad
        values then uses the rule), a NumPy function that is not a ufunc (``np.clip``: routed
        through ``__array_function__``), or a name for a rule exposed by itself (``"relu"``).
    domain : sequence of (low, high), optional
        Per input, where finite differences are meaningful (default ``(-2, 2)`` each).
    nondiff : str
        The convention at non-differentiable points, published in the coverage table.
    scalar : callable, optional
        A Numba-compilable scalar implementation of the function, used by the kernels when
        Numba cannot compile the function itself (``math.erf`` for ``scipy.special.erf``); also
        the slot for a binding to a compiled native function (see :class:`Implementation`).
    cuda : callable or str, optional
        The function's twin in CUDA device code (see :class:`Implementation`).
    text : tuple, optional
        How traces print the rule (see :class:`ElementwiseRule`).
    argnums : sequence of int, optional
        The inputs the rule is differentiable in (default: all).
    dtypes : sequence of dtype, optional
        Supported dtypes (default float32 and float64; :data:`ALL_DTYPES` for a function NumPy
        defines on complex numbers).
    parse : callable, optional
        For a NumPy function: maps its arguments to the rule's inputs.
    ufunc_like : bool
        ``function`` computes the value on plain arrays as a ufunc would (broadcasting,
        ``out=``): it becomes the rule's ``array_fn``.
    name : str, optional
        The rule's name, where the function's ``__name__`` is another rule's already (SciPy's
        ``log1p``, a ufunc of its own whose values are not NumPy's ``log1p``'s to the last bit).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.rules.base import elementwise
    >>> @elementwise("my_cube_example", text=("{a}³", ["(3 × {a}²)"]))
    ... def cube(x):
    ...     return x * x * x, 3.0 * x * x
    >>> float(cube.evaluate(2.0)[1])
    12.0
    >>> from dualad.rules.base import RULES
    >>> _ = RULES.pop("my_cube_example")  # keep the doctest from extending the table
    """

    def register(fn: Callable) -> ElementwiseRule:
        nin = len(inspect.signature(fn).parameters)
        rule = _make_rule(function_or_name, fn, nin, domain, nondiff, scalar, name)
        rule.scalar, rule.cuda, rule.parse = scalar, cuda, parse
        rule.text = _check_text(rule.name, nin, text)
        rule.argnums = tuple(range(nin)) if argnums is None else tuple(int(i) for i in argnums)
        rule.dtypes = _FLOATS if dtypes is None else tuple(np.dtype(d) for d in dtypes)
        rule.opcode = len(RULES)
        rule.__doc__ = fn.__doc__
        RULES[rule.name] = rule
        rule.array_fn = rule.ufunc if rule.ufunc is not None else (rule.function if ufunc_like else None)
        if rule.ufunc is not None:
            UFUNC_RULES[rule.ufunc] = rule
        elif rule.function is not None:
            FUNCTION_RULES[rule.function] = rule
        if scalar is not None or cuda is not None:
            implementation(rule.function, scalar=scalar, cuda=cuda)
        return rule

    return register


def _make_rule(function_or_name, fn: Callable, nin: int, domain, nondiff: str, scalar, name=None) -> ElementwiseRule:
    ufunc = function_or_name if isinstance(function_or_name, np.ufunc) else None
    function = function_or_name if callable(function_or_name) else None
    if name is None:
        name = function.__name__ if function is not None else str(function_or_name)
    if name in RULES:
        raise ValueError(f"elementwise rule {name!r} is declared twice")
    if ufunc is not None and ufunc.nin != nin:
        raise ValueError(f"rule {name!r} takes {nin} inputs but {name} takes {ufunc.nin}")
    dom = tuple(domain) if domain is not None else ((-2.0, 2.0),) * nin
    if len(dom) != nin:
        raise ValueError(f"rule {name!r}: domain needs one interval per input")
    src = _fingerprint_source(fn, set())
    if scalar is not None:  # the kernels compile it: a new one must not load a stale kernel
        src += f"\nscalar={_describe(scalar)}"
    return ElementwiseRule(
        name=name,
        fn=fn,
        nin=nin,
        ufunc=ufunc,
        domain=dom,
        nondiff=nondiff,
        source_hash=hashlib.sha1(src.encode()).hexdigest()[:12],
        function=function,
    )


def _check_text(name: str, nin: int, text):
    if text is None:
        return None
    value, partials = text
    if partials is not None:
        partials = tuple(partials)
        if len(partials) != nin:
            raise ValueError(f"rule {name!r}: text needs one partial per input")
    return (value, partials)


def retarget(fn: Callable, table: dict, copy: bool = False) -> Callable:
    """A copy of ``fn`` (same code object) whose globals and closure see ``table``'s
    replacements: a function bound to a name directly is replaced, and a module whose
    attributes include a replaced function (``np``, ``scipy.special``) is replaced by a copy
    with those attributes replaced (aliases too: ``np.abs`` is ``np.absolute``).

    Parameters
    ----------
    fn : callable
        A Python function.
    table : dict
        ``{function: replacement}``.
    copy : bool
        Copy ``fn`` even when nothing it reads is replaced (by default ``fn`` itself returns).

    Returns
    -------
    callable

    Examples
    --------
    >>> import math
    >>> import numpy as np
    >>> def f(x):
    ...     return np.sqrt(x)
    >>> g = retarget(f, {np.sqrt: math.sqrt})
    >>> g is not f and g.__code__ is f.__code__, g(4.0)
    (True, 2.0)
    """
    shims: dict = {}
    glb = {name: _substitute(val, table, shims) for name, val in fn.__globals__.items()}
    closure = fn.__closure__
    if closure is not None:
        closure = tuple(types.CellType(_substitute(c.cell_contents, table, shims)) if _filled(c) else c for c in closure)
    read = _code_names(fn.__code__)  # a replaced function the code never names changes nothing
    changed = any(glb[k] is not v for k, v in fn.__globals__.items() if k in read) or (
        closure is not None and any(a.cell_contents is not b.cell_contents for a, b in zip(closure, fn.__closure__) if _filled(b)))
    if not (changed or copy):
        return fn
    new = types.FunctionType(fn.__code__, glb, fn.__name__, fn.__defaults__, closure)
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__qualname__ = fn.__qualname__
    new.__module__ = fn.__module__
    new.__doc__ = fn.__doc__
    return new


def _lookup(table: dict, value):
    try:
        return table.get(value, value)
    except TypeError:  # unhashable
        return value


def _substitute(value, table: dict, shims: dict):
    if isinstance(value, types.ModuleType):
        if id(value) not in shims:
            hits = {k: _lookup(table, v) for k, v in vars(value).items() if not k.startswith("__")}
            hits = {k: v for k, v in hits.items() if v is not getattr(value, k)}
            if hits:
                shim = types.ModuleType(value.__name__, f"{value.__name__} as seen by dualad's kernels.")
                shim.__dict__.update({k: v for k, v in vars(value).items() if not k.startswith("__")})
                shim.__dict__.update(hits)
                shims[id(value)] = shim
            else:
                shims[id(value)] = value
        return shims[id(value)]
    return _lookup(table, value)


def _code_names(code) -> set:
    names = set(code.co_names)
    for c in code.co_consts:
        if inspect.iscode(c):
            names |= _code_names(c)
    return names


def outside_reads(fn: Callable) -> list[tuple]:
    """What ``fn``'s code reads from outside its arguments: ``(globals, name, value)`` for each
    name it uses that its module's globals hold, and ``(cell, name, value)`` for each filled
    closure cell.  Both the kernels' cache key and the recordings' replay check read this.

    Examples
    --------
    >>> from dualad.rules.base import outside_reads
    >>> k = 3.0
    >>> [(name, value) for _, name, value in outside_reads(lambda x: x * k)]
    [('k', 3.0)]
    """
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    g = getattr(fn, "__globals__", {})
    found = [(g, name, g[name]) for name in sorted(_code_names(code)) if name in g]
    cells = zip(code.co_freevars, getattr(fn, "__closure__", None) or ())
    return found + [(cell, name, cell.cell_contents) for name, cell in cells if _filled(cell)]


def _filled(cell) -> bool:
    """Whether a closure cell holds a value yet (reading an empty one raises)."""
    try:
        _ = cell.cell_contents
    except ValueError:
        return False
    return True


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
    names = _code_names(fn.__code__) if hasattr(fn, "__code__") else set()
    for _, name, value in outside_reads(fn):
        if inspect.isfunction(value):
            parts.append(f"{name}:{_fingerprint_source(value, seen)}")
        elif isinstance(value, (bool, int, float, complex, str, np.generic)):
            parts.append(f"{name}={value!r}")
        # the kernels compile the scalar implementations of the functions it calls (psi's
        # derivative calls zeta's): a changed one must change the key too
        for attr, f in ([(a, getattr(value, a, None)) for a in sorted(names)] if isinstance(value, types.ModuleType) else [(name, value)]):
            impl = implementation_of(f)
            if impl is not None and impl.scalar is not None:
                parts.append(f"{name}.{attr}->{_describe(impl.scalar)}")
    return "\n".join(parts)


def _describe(scalar) -> str:
    """A scalar implementation, as the kernels' cache key records it (no memory addresses)."""
    return f"{getattr(scalar, '__module__', '')}.{getattr(scalar, '__qualname__', None) or repr(scalar)}"


def implementation_of(function) -> Implementation | None:
    """The declared :class:`Implementation` of ``function``, or None (also for values that are
    not functions, such as the arrays a rule's module holds).

    Examples
    --------
    >>> import math
    >>> import numpy as np
    >>> from dualad.rules.base import implementation_of
    >>> implementation_of(np.isnan).cuda is math.isnan, implementation_of(np.zeros(2))
    (True, None)
    """
    try:
        return IMPLEMENTATIONS.get(function)
    except TypeError:  # unhashable
        return None


#: Every structural primitive, by name.
PRIMITIVES: dict[str, Primitive] = {}


class _Unset:
    def __getattr__(self, name):
        raise RuntimeError("dualad.core has not installed its dispatcher; import dualad first")


# The layer above (dualad.core.dispatch) installs itself here at import, so that rules can
# apply ops to values of any nesting level without importing upward.
_DISPATCH = _Unset()


def install_dispatcher(obj) -> None:
    """Called once by :mod:`dualad.core.dispatch`: the object that routes ops to value types."""
    global _DISPATCH
    _DISPATCH = obj


def dispatcher():
    """The object :mod:`dualad.core.dispatch` installed, which routes ops to value types.

    Examples
    --------
    >>> import dualad
    >>> from dualad.rules.base import dispatcher
    >>> callable(dispatcher().apply_elementwise)
    True
    """
    return _DISPATCH


class Primitive:
    """A structural op declared once; forward and reverse mode both derive from it.

    Subclasses provide ``impl`` (plain arrays), ``jvp`` (push one lane axis of tangents) and
    ``forward``/``backward`` (save residuals, pull one lane axis of cotangents).  ``bind``
    applies the op to values of any type: plain arrays go to ``impl``, active values to the
    newest-tagged value's type.
    """

    name = "primitive"
    #: ``accumulate(buf, ct, shapes=..., batch=..., **params)`` where the op's transpose writes
    #: ``ct`` into part of a zero array (indexing): add it into the input's adjoint ``buf`` in
    #: place instead (host arrays; the backward sweep uses it when it owns ``buf``).
    accumulate = None

    def __init__(self, name: str):
        self.name = name
        if name in PRIMITIVES:
            raise ValueError(f"primitive {name!r} is declared twice")
        PRIMITIVES[name] = self

    def bind(self, *args, **params):
        return _DISPATCH.bind(self, args, params)

    def bind_plain(self, args, params: dict):
        """``bind(*args, **params)``, with operands that are all NumPy ndarrays sent straight
        to ``impl`` (where bind would send them: no active value to dispatch to, no device
        array to check for): a rule's own forward and backward applications on host arrays
        skip the dispatch."""
        for a in args:
            if type(a) is not np.ndarray:
                return _DISPATCH.bind(self, args, params)
        return self.impl(*args, **params)

    def label(self, params: dict) -> str:
        """How a tape listing names one application of this op (its name, by default)."""
        return self.name

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"
