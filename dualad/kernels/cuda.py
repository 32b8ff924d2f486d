"""Numba CUDA kernels generated from the rule table: the GPU twin of :mod:`dualad.kernels.cpu`.

No derivative formula lives here either.  For a rule ``fn(*xs) -> (value, *partials)`` this
module compiles ``fn`` itself as a CUDA *device function* and generates ``@cuda.jit``
grid-stride kernels around it, one per rule, kind and layout *pattern*:

``jvp``
    One thread per element (grid-stride): evaluates the rule once, writes ``y`` and, for each of
    the k lanes, ``ẏ[l] = Σ_i ∂_i · ẋ_i[l]``; the partials stay in registers across lanes.
``vjp``
    Evaluates the rule once per element and writes (or adds into) ``x̄_i[l] = ȳ[l] · ∂_i``.
``value``
    The value alone.

Layouts are those of the CPU kernels: lanes on a leading axis, ``(k, n)`` C-contiguous; an input
(or its lanes, or the cotangent) may be a size-1 *broadcast scalar*.  Products follow the same
*strong zero* policy: an exact zero on either side contributes 0, even against inf or NaN.

**Rules as device functions.**  Numba's CUDA target does not implement every NumPy ufunc that
the rule table uses on scalars (``np.sqrt``, ``np.exp``, ``np.cbrt``, ``np.sign``,
``np.logaddexp``, ``np.floor``, ``np.isnan``... are missing from its ufunc database, and which
ones are missing differs between the built-in ``numba.cuda`` and the ``numba-cuda`` package).
So the rule is not rewritten; a *copy of the rule function* is made whose globals see a NumPy
look-alike module (:func:`dualad.rules.base.retarget`): every ufunc the CUDA target may lack is
replaced there by the device twin its declaration names (``cuda=`` of the rule, or of
:func:`dualad.rules.implementation`, listed by :func:`device_table`: the ``math`` function with
the same IEEE meaning, a libdevice function, or a small NumPy-written device function that
follows NumPy's own algorithm, e.g. ``logaddexp``), everything else is NumPy itself.  This
module holds no table of its own.  The copy shares the rule's code object, so the derivative
formulas exist once, in :mod:`dualad.rules`.

Under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) device code runs as Python: there the
ufuncs with a ``math`` twin are left as NumPy (Python's ``math`` raises on ``sqrt(-1)`` or
``exp(1000)`` where the GPU returns nan or inf) while the composites still replace theirs, so
the simulator exercises them.

``numba.cuda`` is imported lazily, when a CUDA kernel or device function is first requested:
``import dualad`` (and importing this module) never imports it.
"""

from __future__ import annotations

import inspect
import threading
import types
from collections.abc import Sequence

import numpy as np

from ..rules.base import IMPLEMENTATIONS, ElementwiseRule, implementation_of, outside_reads, retarget
from ..rules.derive import value_partials
from .cache import load_generated
from .cpu import memo, pattern_tag

if not hasattr(np, "row_stack"):
    # numba-cuda 0.30 registers an overload for np.row_stack when it first compiles a kernel;
    # NumPy 2.5 removed that alias of np.vstack, and every compile then fails (seen on an H200
    # with numba-cuda 0.30.4 and NumPy 2.5.2).  The alias restores what numba-cuda expects.
    np.row_stack = np.vstack

__all__ = [
    "jvp",
    "vjp",
    "value",
    "get_kernel",
    "device_rule",
    "device_function",
    "launch_config",
    "kernel_source",
    "is_simulator",
    "is_device_array",
    "device_table",
    "host_only",
    "DEFAULT_THREADS",
    "BLOCKS_PER_SM",
    "SIMULATOR_LAUNCH",
]

_FORMAT = 2  # bump when the generated source changes shape
_LOCK = threading.RLock()
_KERNELS: dict[tuple, object] = {}
_DEVICE_FNS: dict[tuple, object] = {}
_CUDA = None
_TABLE: dict | None = None

#: Threads per block of the default launch configuration.
DEFAULT_THREADS = 256
#: The default grid has at most this many blocks per multiprocessor (grid-stride loops cover
#: the rest of the elements).
BLOCKS_PER_SM = 32
#: The default ``(blocks, threads)`` under the simulator, which runs one Python thread per CUDA
#: thread: small, so that it stays fast.
SIMULATOR_LAUNCH = (1, 32)

# --- lazy numba.cuda ----------------------------------------------------------------------------


def _cuda():
    """``numba.cuda``, imported on first use."""
    global _CUDA
    if _CUDA is None:
        from numba import cuda

        _CUDA = cuda
    return _CUDA


def is_simulator() -> bool:
    """Whether ``numba.cuda`` is the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``).

    Imports ``numba.cuda`` if it was not imported yet.

    Returns
    -------
    bool
        True under the simulator, where device code runs as Python.
    """
    return _cuda().jit.__module__.startswith("numba.cuda.simulator")


def device_table() -> dict:
    """How device code computes each function the declarations give a twin for.

    Reads :data:`dualad.rules.IMPLEMENTATIONS` (a rule's ``cuda=``/``scalar=``, or
    :func:`dualad.rules.implementation`): ``{function: twin}`` with twin a ``math`` function,
    ``"libdevice.<name>"``, a NumPy-written Python function or ``"native"``; a function with a
    ``scalar`` and no ``cuda`` twin gets its scalar.  Nothing is compiled.

    Returns
    -------
    dict

    Examples
    --------
    >>> import math
    >>> import numpy as np
    >>> device_table()[np.sqrt] is math.sqrt, device_table()[np.cbrt]
    (True, 'libdevice.cbrt')
    """
    return {f: impl.cuda if impl.cuda is not None else impl.scalar for f, impl in IMPLEMENTATIONS.items()}


def _replacements() -> dict:
    """``{function: device callable}`` from :func:`device_table`: under the simulator only the
    NumPy-written twins replace theirs (Python's ``math`` raises on ``sqrt(-1)`` or
    ``exp(1000)`` where the GPU returns nan or inf); the composites are compiled lazily, after
    every replacement is in place, and see the same replacements."""
    cuda = _cuda()
    sim = is_simulator()
    table: dict = {}
    composites = {}
    for f, twin in device_table().items():
        if twin == "native":
            continue
        if inspect.isfunction(twin):
            composites[f] = twin
        elif sim:
            continue
        elif isinstance(twin, str):
            from numba.cuda import libdevice

            table[f] = getattr(libdevice, twin.split(".", 1)[1])
        else:
            table[f] = twin
    for f, twin in composites.items():
        table[f] = cuda.jit(device=True)(retarget(twin, table, copy=True))
    return table


def _table() -> dict:
    global _TABLE
    with _LOCK:
        if _TABLE is None:
            _TABLE = _replacements()
        return _TABLE


def device_function(fn):
    """``fn``, written with NumPy ufuncs on scalars, compiled as a CUDA device function.

    A copy of ``fn`` sharing its code object is compiled, whose globals see NumPy through a
    look-alike module in which each ufunc the CUDA target may lack is replaced by its device
    equivalent (:func:`device_table`).

    Parameters
    ----------
    fn : callable
        A function of scalars that Numba can compile (no Python objects, no array creation).

    Returns
    -------
    numba.cuda dispatcher
        A device function (``cuda.jit(device=True)``); it can be called only from device code.
    """
    def build():
        return _cuda().jit(device=True)(retarget(fn, _table(), copy=True))

    return memo(_DEVICE_FNS, _LOCK, ("fn", fn), build)


def device_rule(rule: ElementwiseRule):
    """The rule's function ``fn(*xs) -> (value, *partials)`` as a CUDA device function.

    Parameters
    ----------
    rule : ElementwiseRule
        A rule of :data:`dualad.rules.RULES`.

    Returns
    -------
    numba.cuda dispatcher
        See :func:`device_function`; cached per rule and rule source.
    """
    missing = host_only(rule)
    if missing:
        raise NotImplementedError(
            f"rule {rule.name!r} calls {', '.join('scipy.special.' + m for m in missing)}, which dualad computes with SciPy's compiled "
            "code on the CPU only (no CUDA twin): apply it to host arrays (move device values with .get())"
        )
    return memo(_DEVICE_FNS, _LOCK, ("rule", rule.name, rule.source_hash), lambda: device_function(rule.fn))


def host_only(rule: ElementwiseRule) -> list[str]:
    """The functions ``rule`` calls that have a host binding (``dualad.rules.native``) and no
    ``cuda=`` twin, by name: device code cannot call them.

    Examples
    --------
    >>> from dualad.rules import RULES
    >>> host_only(RULES["sin"])
    []
    """
    found = set()
    for _, _, value in outside_reads(rule.fn):
        candidates = [getattr(value, n, None) for n in rule.fn.__code__.co_names] if isinstance(value, types.ModuleType) else [value]
        for f in candidates:
            impl = implementation_of(f)
            if impl is not None and impl.cuda is None and hasattr(impl.scalar, "numba_callable"):
                found.add(getattr(f, "__name__", repr(f)))
    return sorted(found)


# --- kernel source ------------------------------------------------------------------------------

_HEADER = """\
# Generated by dualad.kernels.cuda from the rule {name!r}; do not edit.
from numba import cuda

from dualad.kernels.cuda import device_function, device_rule
from dualad.rules.base import RULES
from dualad.rules.derive import restricted, value_partials

_rule = device_rule(RULES[{name!r}])

"""

_LOOP = [
    "    start = cuda.grid(1)",
    "    stride = cuda.gridsize(1)",
    "    for i in range(start, n, stride):",
]


def _sz(dst: str, a: str, b: str) -> list[str]:
    """Strong-zero product: 0 when either factor is exactly 0 (even against inf/nan)."""
    return [f"{dst} = {a} * {b}", f"{dst} = 0.0 if ({a} == 0.0) | ({b} == 0.0) else {dst}"]


def _x(i: int, scalar: bool) -> str:
    return f"x{i}[0]" if scalar else f"x{i}[i]"


def _jvp_source(rule: ElementwiseRule, pattern: tuple) -> str:
    """pattern: per input (is_scalar, has_tangent); lanes t_i are (k, n) or (k, 1)."""
    nin = rule.nin
    with_t = [i for i in range(nin) if pattern[i][1]]
    args = [f"x{i}" for i in range(nin)] + [f"t{i}" for i in with_t] + ["y", "ty"]
    body = [f"def kernel({', '.join(args)}):", "    n = y.shape[0]", "    k = ty.shape[0]"] + _LOOP
    body += [f"        r = _rule({', '.join(_x(i, pattern[i][0]) for i in range(nin))})", "        y[i] = r[0]"]
    body += [f"        q{i} = r[{i + 1}]" for i in with_t]
    body += ["        for l in range(k):"]
    terms = []
    for i in with_t:
        body.append(f"            s{i} = t{i}[l, {'0' if pattern[i][0] else 'i'}]")
        body += ["            " + line for line in _sz(f"a{i}", f"q{i}", f"s{i}")]
        terms.append(f"a{i}")
    body.append(f"            ty[l, i] = {' + '.join(terms)}")
    return "\n".join(body) + "\n"


def _vjp_source(rule: ElementwiseRule, pattern: tuple) -> str:
    """pattern: (per input (is_scalar, action), g_is_scalar, valued); action 'n', 'w' or 'a';
    ``valued``: the output ``yv`` is an argument the rule's partials read (see
    :func:`dualad.rules.derive.with_value`)."""
    per_input, g_scalar, valued = pattern
    nin = rule.nin
    out = [i for i in range(nin) if per_input[i][1] != "n"]
    args = [f"x{i}" for i in range(nin)] + ["yv"] * valued + ["g"] + [f"c{i}" for i in out]
    xs = [_x(i, per_input[i][0]) for i in range(nin)]
    head = [f"_valued = device_function(value_partials(RULES[{rule.name!r}]))", "", ""] if valued else []
    body = head + [f"def kernel({', '.join(args)}):", f"    n = c{out[0]}.shape[1]", "    m = g.shape[0]"] + _LOOP
    body.append(f"        r = _valued({', '.join(xs + ['yv[i]'])})" if valued else f"        r = _rule({', '.join(xs)})")
    body += [f"        q{i} = r[{i + 1}]" for i in out]
    body += ["        for l in range(m):", f"            gv = g[l, {'0' if g_scalar else 'i'}]"]
    for i in out:
        op = "=" if per_input[i][1] == "w" else "+="
        body += ["            " + line for line in _sz(f"a{i}", "gv", f"q{i}")]
        body.append(f"            c{i}[l, i] {op} a{i}")
    return "\n".join(body) + "\n"


def _value_source(rule: ElementwiseRule, pattern: tuple) -> str:
    """The value alone: the rule's copy that computes no partial
    (:func:`dualad.rules.derive.restricted`)."""
    nin = rule.nin
    args = [f"x{i}" for i in range(nin)] + ["y"]
    body = [f"_value = device_function(restricted(RULES[{rule.name!r}].fn, (0,)))", "", ""]
    body += [f"def kernel({', '.join(args)}):", "    n = y.shape[0]"] + _LOOP
    body.append(f"        y[i] = _value({', '.join(_x(i, pattern[i]) for i in range(nin))})[0]")
    return "\n".join(body) + "\n"


_SOURCES = {"jvp": _jvp_source, "vjp": _vjp_source, "value": _value_source}


def kernel_source(rule: ElementwiseRule, kind: str, pattern: tuple) -> str:
    """The generated Python source of a CUDA kernel, as :func:`get_kernel` compiles it.

    Parameters
    ----------
    rule, kind, pattern
        As in :func:`get_kernel`.

    Returns
    -------
    str
        A module's source: the rule's device function and one ``@cuda.jit`` grid-stride kernel.

    Examples
    --------
    >>> from dualad.rules import RULES
    >>> src = kernel_source(RULES["sin"], "value", (False,))
    >>> print(src[src.index("def kernel"):])
    def kernel(x0, y):
        n = y.shape[0]
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, n, stride):
            y[i] = _value(x0[i])[0]
    <BLANKLINE>
    kernel = cuda.jit(kernel)
    <BLANKLINE>
    """
    return _HEADER.format(name=rule.name) + _SOURCES[kind](rule, pattern) + "\nkernel = cuda.jit(kernel)\n"


def get_kernel(rule: ElementwiseRule, kind: str, pattern: tuple):
    """The CUDA kernel for ``rule`` of ``kind`` ('jvp', 'vjp' or 'value') and ``pattern``.

    Parameters
    ----------
    rule : ElementwiseRule
        The rule.
    kind : {'jvp', 'vjp', 'value'}
        Which kernel.
    pattern : tuple
        ``jvp``: per input ``(is_scalar, has_tangent)``; ``vjp``: ``(per input (is_scalar,
        action), g_is_scalar)`` with action ``'n'`` (skip), ``'w'`` (write) or ``'a'`` (add);
        ``value``: per input ``is_scalar``.

    Returns
    -------
    numba.cuda dispatcher
        A ``@cuda.jit`` kernel, compiled per argument types on its first launch; launch it as
        ``kernel[blocks, threads](*arrays)``.
    """
    if kind not in _SOURCES:
        raise ValueError(f"unknown kernel kind {kind!r}; expected one of {sorted(_SOURCES)}")
    def build():
        safe = "".join(ch if ch.isalnum() else "_" for ch in rule.name)
        modname = f"dualad_cuda{_FORMAT}_{safe}_{kind}_{pattern_tag(pattern)}_{rule.source_hash}"
        return load_generated(modname, kernel_source(rule, kind, pattern)).kernel

    return memo(_KERNELS, _LOCK, (rule.name, rule.source_hash, kind, pattern), build)


# --- gather: broadcast, cast and compact any device array into the kernels' layouts -------------


def _gather_source(amap: tuple, ndst: int) -> str:
    """Kernel copying ``src`` into the flat C-ordered ``dst`` of shape ``(d0, ..., d{ndst-1})``.

    ``amap[a]`` is the destination axis that source axis ``a`` follows, or None for a source
    axis of length 1 (read at index 0).
    """
    dims = [f"d{j}" for j in range(ndst)]
    body = [f"def kernel({', '.join(['src', 'dst'] + dims)}):", "    n = dst.shape[0]"] + _LOOP
    body.append("        r = i")
    for j in reversed(range(ndst)):
        if j:
            body += [f"        j{j} = r % d{j}", f"        r = r // d{j}"]
        else:
            body.append("        j0 = r")
    idx = ", ".join("0" if a is None else f"j{a}" for a in amap)
    body.append(f"        dst[i] = src[{idx}]")
    return "from numba import cuda\n\n\n" + "\n".join(body) + "\n\nkernel = cuda.jit(kernel)\n"


def _gather_kernel(amap: tuple, ndst: int):
    def build():
        tag = "".join("n" if a is None else str(a) for a in amap)
        return load_generated(f"dualad_cuda{_FORMAT}_gather_{tag}_{ndst}", _gather_source(amap, ndst)).kernel

    return memo(_KERNELS, _LOCK, ("gather", amap, ndst), build)


def _c_contiguous(a) -> bool:
    # not "size <= 1 or ...": a zero-stride (broadcast) size-1 view cannot be reshaped in place
    return a.is_c_contiguous()


def _compact(a, shape: tuple, dtype: np.dtype, lanes: bool, launch, empty=None):
    """``a`` broadcast to ``shape`` (lanes: leading axis kept, the rest right-aligned), cast to
    ``dtype`` and laid out C-contiguously: ``a`` itself reshaped when it already is, else a
    gathered copy.  Returns a device array of ``shape``."""
    if tuple(a.shape) == shape and a.dtype == dtype and _c_contiguous(a):
        return a
    nsrc, ndst = a.ndim, len(shape)
    if a.ndim == 0:
        a, nsrc = a.reshape(1), 1
        amap: tuple = (None,)
    else:
        off = ndst - nsrc
        amap = tuple(
            None if a.shape[ax] == 1 else (0 if (lanes and ax == 0) else ax + off) for ax in range(nsrc)
        )
    size = int(np.prod(shape, dtype=np.int64))
    dst = _alloc(empty, (size,), dtype)[1]  # the view keeps its owner alive
    if size:
        dims = shape if ndst else (1,)
        blocks, threads = launch_config(size, launch)
        _gather_kernel(amap, len(dims))[blocks, threads](a, dst, *dims)
    return dst.reshape(shape) if shape else dst.reshape(())


# --- host-side plumbing -------------------------------------------------------------------------


def is_device_array(a) -> bool:
    """Whether ``a`` is a CUDA array the kernels accept.

    Parameters
    ----------
    a : object
        Anything.

    Returns
    -------
    bool
        True for Numba device arrays (simulated ones included) and for any object exposing
        ``__cuda_array_interface__`` (CuPy, PyTorch...).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.kernels.cuda import is_device_array
    >>> is_device_array(np.ones(3))
    False
    """
    return bool(getattr(a, "__cuda_ndarray__", False)) or hasattr(a, "__cuda_array_interface__")


class _HostView:
    """Under the simulator device memory is host memory: NumPy reads a
    ``__cuda_array_interface__`` buffer through this ``__array_interface__`` (zero-copy; the
    view keeps ``owner`` alive)."""

    __slots__ = ("__array_interface__", "owner")

    def __init__(self, cai: dict, owner):
        self.__array_interface__ = {
            "shape": tuple(cai["shape"]),
            "typestr": cai["typestr"],
            "data": tuple(cai["data"]),
            "strides": cai.get("strides"),
            "version": 3,
        }
        self.owner = owner


def _simulated_view(a):
    """A simulator device array viewing the buffer of a ``__cuda_array_interface__`` object."""
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    cai = a.__cuda_array_interface__
    if cai.get("mask") is not None:
        raise TypeError("masked __cuda_array_interface__ arrays are not supported")
    shape = tuple(cai["shape"])
    if not cai["data"][0]:  # empty arrays may have a NULL pointer
        return FakeCUDAArray(np.empty(shape, dtype=np.dtype(cai["typestr"])))
    return FakeCUDAArray(np.asarray(_HostView(cai, a)))


def _alloc(empty, shape: tuple, dtype: np.dtype):
    """A new C-contiguous device array: (the result to return, the kernels' view of it).

    ``empty(shape, dtype)`` allocates it in the caller's array library (``cupy.empty``: its
    memory pool, its array type); None: a Numba device array."""
    if empty is None:
        d = _cuda().device_array(shape, dtype=dtype)
        return d, d
    a = empty(shape, dtype)
    return a, _as_device(a, dtype)


def _as_device(a, dtype: np.dtype):
    """A Numba device array for ``a``: device arrays as zero-copy views, host scalars copied."""
    cuda = _cuda()
    if getattr(a, "__cuda_ndarray__", False):
        return a
    if hasattr(a, "__cuda_array_interface__"):
        if is_simulator():
            return _simulated_view(a)
        # The kernels launch on the legacy default stream, which is ordered after the work of
        # the exporter on that stream (and on blocking streams): Numba's synchronisation of the
        # exporter's stream would only make the host wait.  Other streams are synchronised.
        stream = a.__cuda_array_interface__.get("stream")
        return cuda.as_cuda_array(a, sync=stream not in (None, 1))
    if isinstance(a, (int, float, np.number, np.bool_)) or (isinstance(a, np.ndarray) and a.ndim == 0):
        return cuda.to_device(np.asarray(a, dtype=dtype).reshape(1))
    raise TypeError(
        f"CUDA kernels take device arrays (numba.cuda, CuPy or any __cuda_array_interface__ array) "
        f"and host scalars; got {type(a).__name__}. Mixing host and device arrays is not supported: "
        "move the array to the device first (cupy.asarray(a))."
    )


def _float_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"CUDA kernels are compiled for float32 and float64, not {dt}")
    return dt


def _broadcast(xs: list) -> tuple[tuple, int]:
    """The broadcast shape and size of the inputs (host scalars count as 0-d)."""
    shapes = [tuple(getattr(x, "shape", ())) for x in xs]
    shape = shapes[0] if len(shapes) == 1 else np.broadcast_shapes(*shapes)
    return shape, int(np.prod(shape, dtype=np.int64))


def _flat(x, shape: tuple, size: int, dtype, launch, empty=None):
    """``x`` as a 1-D device array of the broadcast size, or of size 1 (a broadcast scalar)."""
    if x.size == 1:
        return _compact(x, tuple(x.shape), dtype, False, launch, empty).reshape(1), True
    return _compact(x, shape, dtype, False, launch, empty).reshape(size), False


def _flat_lanes(t, k: int, shape: tuple, size: int, scalar: bool, dtype, launch, empty=None):
    """Lane array ``(k,) + shape_i`` as ``(k, size)`` (or ``(k, 1)`` for a scalar input)."""
    if t.shape[0] != k:
        raise ValueError(f"tangent lanes disagree: {t.shape[0]} and {k}")
    if scalar:
        return _compact(t, tuple(t.shape), dtype, True, launch, empty).reshape(k, 1)
    return _compact(t, (k,) + shape, dtype, True, launch, empty).reshape(k, size)


def launch_config(n: int, launch=None) -> tuple[int, int]:
    """The ``(blocks, threads_per_block)`` of a grid-stride launch over ``n`` elements.

    Parameters
    ----------
    n : int
        Number of elements (the kernels loop over lanes inside a thread).
    launch : None or (blocks, threads)
        ``None``: :data:`DEFAULT_THREADS` threads per block and enough blocks to cover ``n``, at
        most :data:`BLOCKS_PER_SM` per multiprocessor of the current device (under the
        simulator, :data:`SIMULATOR_LAUNCH`).  ``blocks`` may be None: enough to cover ``n``
        (capped likewise).  Any positive grid is correct: the loops stride over the grid.

    Returns
    -------
    (int, int)
        Blocks and threads per block.
    """
    if launch is None:
        if is_simulator():
            return SIMULATOR_LAUNCH
        blocks, threads = None, DEFAULT_THREADS
    else:
        try:
            blocks, threads = launch
        except (TypeError, ValueError):
            raise ValueError(f"launch must be None or a (blocks, threads_per_block) pair, got {launch!r}") from None
    if not isinstance(threads, (int, np.integer)) or not 1 <= threads <= 1024:
        raise ValueError(f"threads per block must be an integer in [1, 1024], got {threads!r}")
    threads = int(threads)
    if blocks is None:
        blocks = max(1, min(-(-int(n) // threads), _max_blocks()))
    elif not isinstance(blocks, (int, np.integer)) or blocks < 1:
        raise ValueError(f"blocks must be a positive integer or None, got {blocks!r}")
    return int(blocks), threads


_SM_COUNT: dict = {}


def _max_blocks() -> int:
    cuda = _cuda()
    if is_simulator():
        return SIMULATOR_LAUNCH[0]
    dev = cuda.get_current_device()
    sms = _SM_COUNT.get(dev.id)
    if sms is None:
        sms = _SM_COUNT[dev.id] = int(dev.MULTIPROCESSOR_COUNT)
    return sms * BLOCKS_PER_SM


def _flat_all(xs: Sequence, shape, size: int, dtype, launch, empty) -> tuple:
    """Every input as the kernels take it: (flat arrays, which are size-1 scalars)."""
    flat, scalars = [], []
    for x in xs:
        f, scalar = _flat(x, shape, size, dtype, launch, empty)
        flat.append(f)
        scalars.append(scalar)
    return flat, scalars


def jvp(rule: ElementwiseRule, xs: Sequence, ts: Sequence, dtype, launch=None, empty=None) -> tuple:
    """Fused value and tangent lanes of ``rule`` on the GPU.

    The CUDA twin of :func:`dualad.kernels.jvp`: ``y = v``, ``ẏ[l] = Σ_i ∂_i · ẋ_i[l]`` with
    strong-zero products, one pass over the data.

    Parameters
    ----------
    rule : ElementwiseRule
        The rule.
    xs : sequence of device arrays or host scalars
        The inputs, of broadcastable shapes; size-1 inputs are broadcast scalars.  Any
        ``__cuda_array_interface__`` array works (views are not copied unless they must be
        broadcast, cast or compacted); host arrays raise ``TypeError``.
    ts : sequence of device arrays or None
        Per input, its tangent lanes of shape ``(k,) + x.shape`` (broadcastable), or None for an
        input that carries no tangent.  At least one must be given.
    dtype : {numpy.float32, numpy.float64}
        The computation and output dtype.
    launch : None or (blocks, threads), optional
        See :func:`launch_config`.
    empty : callable, optional
        ``empty(shape, dtype)`` allocates the outputs in another array library (e.g.
        ``lambda s, d: cupy.empty(s, dtype=d)``); by default they are Numba device arrays.

    Returns
    -------
    y : device array
        The value, of the broadcast shape.
    ty : device array
        The tangent lanes, ``(k,) + y.shape``.
    """
    dtype = _float_dtype(dtype)
    if len(xs) != rule.nin or len(ts) != rule.nin:
        raise TypeError(f"{rule.name} takes {rule.nin} input(s), got {len(xs)} values and {len(ts)} tangents")
    shape, size = _broadcast(xs)
    xs = [_as_device(x, dtype) for x in xs]
    ts = [None if t is None else _as_device(t, dtype) for t in ts]
    ks = [t.shape[0] for t in ts if t is not None]
    if not ks:
        raise ValueError("jvp needs a tangent for at least one input")
    k = ks[0]
    y, yk = _alloc(empty, (size,), dtype)
    ty, tyk = _alloc(empty, (k, size), dtype)
    if size and k:
        flat, scalars = _flat_all(xs, shape, size, dtype, launch, empty)
        pattern = [(scalar, t is not None) for scalar, t in zip(scalars, ts)]
        lanes = [_flat_lanes(t, k, shape, size, scalar, dtype, launch, empty)
                 for scalar, t in zip(scalars, ts) if t is not None]
        blocks, threads = launch_config(size, launch)
        get_kernel(rule, "jvp", tuple(pattern))[blocks, threads](*flat, *lanes, yk, tyk)
    return y.reshape(shape), ty.reshape((k,) + shape)


def vjp(rule: ElementwiseRule, xs: Sequence, g, needed: Sequence, dtype, into: Sequence | None = None, launch=None, empty=None,
        y=None) -> list:
    """Adjoint contributions ``ȳ · ∂_i`` of ``rule`` on the GPU, for each needed input.

    The CUDA twin of :func:`dualad.kernels.vjp`.

    Parameters
    ----------
    rule : ElementwiseRule
        The rule.
    xs : sequence of device arrays or host scalars
        The inputs, of broadcastable shapes (see :func:`jvp`).
    g : device array
        The cotangent lanes, ``(m,) + out_shape`` (broadcastable; one value per lane, or a
        broadcast view of one, is passed to the kernel as a column).
    needed : sequence of bool
        Per input, whether its contribution is wanted.
    dtype : {numpy.float32, numpy.float64}
        The computation and output dtype.
    into : sequence of device arrays or None, optional
        Per input, a C-contiguous device array of shape ``(m,) + out_shape`` and ``dtype`` to
        add the contribution into (returned as the result for that input), or None to allocate.
    launch : None or (blocks, threads), optional
        See :func:`launch_config`.
    empty : callable, optional
        Allocates the outputs (see :func:`jvp`).
    y : device array, optional
        The rule's output at ``xs`` (the broadcast shape): a rule whose partials read their
        value (:func:`dualad.rules.derive.value_partials`) reads it instead of computing it.

    Returns
    -------
    list
        Per input: None if not needed, else a device array of shape ``(m,) + out_shape`` (the
        ``into`` array itself where one was given).  Unbroadcasting is the caller's job.
    """
    dtype = _float_dtype(dtype)
    if len(xs) != rule.nin or len(needed) != rule.nin:
        raise TypeError(f"{rule.name} takes {rule.nin} input(s), got {len(xs)} values and {len(needed)} flags")
    into = list(into) if into is not None else [None] * rule.nin
    shape, size = _broadcast(xs)
    xs = [_as_device(x, dtype) for x in xs]
    g = _as_device(g, dtype)
    if g.ndim == 0:
        raise ValueError("the cotangent needs a leading lane axis: shape (m,) + out_shape")
    m = g.shape[0]
    bufs = []
    for i, (need, buf) in enumerate(zip(needed, into)):
        if not need or buf is None:
            bufs.append(None)
            continue
        dev = _as_device(buf, dtype)
        if tuple(dev.shape) != (m,) + shape or dev.dtype != dtype or not _c_contiguous(dev):
            raise ValueError(
                f"into[{i}] must be a C-contiguous {dtype} device array of shape {(m,) + shape}, "
                f"got {dev.dtype} {tuple(dev.shape)}"
            )
        bufs.append(dev.reshape(m, size))
    outs, results = [], []  # the kernels' views; what is returned
    for need, dev in zip(needed, bufs):
        res, view = (None, None) if not need else ((None, dev) if dev is not None else _alloc(empty, (m, size), dtype))
        outs.append(view)
        results.append(res)
    if any(needed) and size and m:
        flat, scalars = _flat_all(xs, shape, size, dtype, launch, empty)
        per_input = [(scalar, ("a" if buf is not None else "w") if need else "n")
                     for scalar, need, buf in zip(scalars, needed, into)]
        if g.size == m or (g.ndim > 1 and not any(g.strides[1:])):
            # one cotangent value per lane, possibly a broadcast view: pass it as a column
            col = g[(slice(None),) + (0,) * (g.ndim - 1)] if g.ndim > 1 else g
            gflat, g_scalar = _compact(col, (m,), dtype, True, launch, empty).reshape(m, 1), True
        else:
            gflat, g_scalar = _compact(g, (m,) + shape, dtype, True, launch, empty).reshape(m, size), False
        valued = y is not None and value_partials(rule) is not None
        if valued:
            flat.insert(rule.nin, _compact(_as_device(y, dtype), shape, dtype, False, launch, empty).reshape(size))
        blocks, threads = launch_config(size, launch)
        kern = get_kernel(rule, "vjp", (tuple(per_input), g_scalar, valued))
        kern[blocks, threads](*flat, gflat, *(o for o in outs if o is not None))
    return [None if o is None else (buf if buf is not None else r.reshape((m,) + shape)) for o, r, buf in zip(outs, results, into)]


def value(rule: ElementwiseRule, xs: Sequence, dtype, launch=None, empty=None):
    """The value of ``rule`` alone, on the GPU.

    The CUDA twin of :func:`dualad.kernels.value`.

    Parameters
    ----------
    rule, xs, dtype, launch, empty
        As in :func:`jvp`.

    Returns
    -------
    device array
        The value, of the broadcast shape.
    """
    dtype = _float_dtype(dtype)
    if len(xs) != rule.nin:
        raise TypeError(f"{rule.name} takes {rule.nin} argument(s), got {len(xs)}")
    shape, size = _broadcast(xs)
    xs = [_as_device(x, dtype) for x in xs]
    y, yk = _alloc(empty, (size,), dtype)
    if size:
        flat, pattern = _flat_all(xs, shape, size, dtype, launch, empty)
        blocks, threads = launch_config(size, launch)
        get_kernel(rule, "value", tuple(pattern))[blocks, threads](*flat, yk)
    return y.reshape(shape)
