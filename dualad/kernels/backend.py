"""The backend choice: where one elementwise rule is evaluated on plain values.

The value types ask this module to *push* a rule (forward mode: the value and k tangent lanes)
or to *pull* it (reverse mode: the adjoint contributions ``ȳ · ∂_i``), and it picks one of

* NumPy on whole arrays (few elements: a kernel call's fixed cost would dominate; a scalar
  fast path for one-element values),
* the rule's fused CPU kernel (:mod:`dualad.kernels.cpu`, through :mod:`dualad.kernels`),
* the rule's fused CUDA kernel (:mod:`dualad.kernels.cuda`) when the operands are device
  arrays; ``xp`` is then their array library, which allocates the outputs.

Only plain values come here (host or device arrays and numbers); values that are active at an
older nesting level are the value types' business.  The size threshold lives here, once.
"""

from __future__ import annotations

import numpy as np

from ..rules.arith import any_complex, lane_sum, pull_terms, push_terms, strong_multiply
from ..rules.base import RULES, ElementwiseRule
from ..rules.derive import partials_at
from . import compiles_complex, compiles_wirtinger
from . import hvp as cpu_hvp
from . import jvp as cpu_jvp
from . import value as cpu_value
from . import value_and_partials as cpu_value_and_partials
from . import vjp as cpu_vjp

__all__ = ["SMALL", "push", "pull", "pull_wirtinger", "pull_scalar", "value", "fused_hvp", "keep_partials", "pull_kept"]

#: Below this many elements × lanes a NumPy evaluation of the rule is cheaper than a kernel call.
SMALL = 256


def compiled_dtype(dtype) -> bool:
    """Whether the kernels compile for ``dtype`` (float32/64, complex64/128); float16 and
    longdouble values are evaluated with NumPy at every size."""
    return np.dtype(dtype).char in "fdFD"


def push(rule: ElementwiseRule, ps: list, ts: list, k: int, dtype, xp=None) -> tuple:
    """``(y, lanes)``: the rule's value at plain ``ps`` and its k tangent lanes.

    ``ts[i]`` is input i's lane array ``(k,) + shape_i`` or None for a constant; the first
    given one decides the size (the operand that owns the op).  ``xp``: the device arrays'
    library, or None on the host.
    """
    complex_ = np.dtype(dtype).kind == "c"
    if complex_:
        _no_device(xp)
        if rule.wirtinger is not None:
            return _push_wirtinger(rule, ps, ts, k, dtype)
    elif xp is not None:
        # Device values: one fused CUDA kernel, results in the operands' array type.
        cuda = _cuda()
        return cuda.jvp(rule, _scalars_on_device(ps, dtype, xp), ts, dtype, empty=_allocator(xp))
    consts = rule.constant_partials
    if None not in consts and rule.ufunc is not None:
        # Constant partials (add, subtract, ...): the ufunc for the value, scaled sums of
        # lanes for the tangent; nothing to fuse.
        y = np.asarray(rule.ufunc(*ps), dtype=dtype)
        return y, _lanes(consts, ts, y, k)
    for t in ts:
        if t is not None:
            break
    if t.size >= SMALL and compiled_dtype(dtype) and (not complex_ or compiles_complex(rule)):
        return cpu_jvp(rule, ps, ts, dtype)
    # Few elements: NumPy on whole arrays beats the fixed cost of a kernel call.
    outs = rule.evaluate(*ps)
    y = outs[0]
    if not (isinstance(y, (np.ndarray, np.generic)) and y.dtype == dtype):
        y = np.asarray(y, dtype=dtype)
    return y, _lanes(outs[1:], ts, y, k)


def _push_wirtinger(rule: ElementwiseRule, ps: list, ts: list, k: int, dtype):
    """:func:`push` of a rule that is not holomorphic on complex operands: its Wirtinger
    partials, NumPy on whole arrays (these rules are a few cheap passes)."""
    y, partials, lanes = push_terms(rule, ps, ts)
    y = np.asarray(y)
    if y.dtype.kind == "c" and y.dtype != dtype:
        y = y.astype(dtype)
    return y, _lanes(partials, lanes, y, k)


def _no_device(xp) -> None:
    if xp is not None:
        raise NotImplementedError(
            "complex values on a GPU are not differentiated yet (the CUDA kernels are real-only); "
            "differentiate complex code on host (NumPy) arrays"
        )


def _lanes(partials, ts, y, k: int):
    ty = lane_sum(partials, ts, y, k)
    return np.zeros((k,) + tuple(y.shape), dtype=y.dtype) if ty is None else ty


def pull(rule: ElementwiseRule, values: list, g, needed: list, into: list | None, xp=None, y=None) -> list:
    """Adjoint contributions ``ȳ · ∂_i`` (lanes first, not yet unbroadcast; None where not
    needed) of the rule at plain ``values`` for a plain cotangent ``g`` of shape
    ``(m,) + out_shape``.

    ``into[i]``, when given, is an adjoint buffer the CPU kernel may add into (the result for
    that input is then the buffer itself).  ``y``, when given, is the rule's output at
    ``values``: a rule whose partials read its value reads it there instead of computing it
    (:func:`dualad.rules.derive.with_value`).
    """
    complex_ = g.dtype.kind == "c" or any_complex(values)
    if complex_:
        _no_device(xp)
    if xp is not None:
        # Device values: the rule's fused CUDA adjoint kernel (no buffers to add into).
        cuda = _cuda()
        return cuda.vjp(rule, _scalars_on_device(values, g.dtype, xp), g, needed, g.dtype, None, empty=_allocator(xp), y=y)
    m = g.shape[0]
    if m and g.size // m >= SMALL and compiled_dtype(g.dtype) and (not complex_ or compiles_complex(rule)):  # m = 0: no rows (an empty output)
        full = g.shape
        into = [b if b is not None and b.shape == full and b.dtype == g.dtype and b.flags.c_contiguous else None
                for b in into or [None] * len(values)]
        return cpu_vjp(rule, values, g, needed, g.dtype, into, y)
    contribs = []
    for p, need in zip(partials_at(rule, values, y), needed):
        if not need or (type(p) is float and p == 0.0):
            contribs.append(None)
        else:
            contribs.append(strong_multiply(p, g))
    return contribs


def pull_wirtinger(rule: ElementwiseRule, values: list, g: np.ndarray, needed: list, into: list | None) -> list:
    """:func:`pull` of a rule that is not holomorphic, on complex host operands: from its
    Wirtinger partials, ``ȳ ∂_i + conj(ȳ ∂̄_i)`` per needed input, complex in ``g``'s precision.
    From :data:`SMALL` elements one pass of the rule's fused ``"wvjp"`` kernel (which may add
    into ``into[i]`` as :func:`pull` does), below it NumPy on whole arrays."""
    m = g.shape[0]
    plain = all(isinstance(v, (np.ndarray, np.generic, float, complex, int)) for v in values)
    if not (m and plain and g.size // m >= SMALL and compiled_dtype(g.dtype) and compiles_wirtinger(rule)):
        return pull_terms(rule, values, g, needed)
    dtype = np.result_type(g.dtype, np.complex64)
    into = [b if b is not None and b.shape == g.shape and b.dtype == dtype and b.flags.c_contiguous else None
            for b in into or [None] * len(values)]
    return cpu_vjp(rule, values, g, needed, dtype, into, wirtinger=True)


def pull_scalar(rule: ElementwiseRule, values: list, g: np.ndarray, needed: list, y=None) -> list:
    """:func:`pull` for one scalar adjoint (``g`` of shape ``(1,)``, scalar host values):
    plain Python arithmetic on NumPy scalars, strong zeros included; the contributions come
    back shaped ``(1,)`` in ``g``'s dtype."""
    gv = g[0]
    out = []
    for p, need in zip(partials_at(rule, values, y), needed):
        if not need or (type(p) is float and p == 0.0):
            out.append(None)
        elif gv == 0 or p == 0:
            out.append(np.zeros(1, dtype=g.dtype))
        else:
            out.append(np.array([gv * p], dtype=g.dtype))
    return out


def value(rule: ElementwiseRule, xs: list, dtype=None, xp=None):
    """The rule's value alone at plain ``xs``: the NumPy ufunc where the rule has one, else
    its compiled value kernel (``dtype`` is then required); on a device the CUDA kernel."""
    if xp is not None:
        if (dtype is not None and np.dtype(dtype).kind == "c") or any_complex(xs):
            _no_device(xp)
        return _cuda().value(rule, _scalars_on_device(xs, dtype, xp), dtype, empty=_allocator(xp))
    if rule.ufunc is not None:
        with np.errstate(all="ignore"):
            return rule.ufunc(*xs)
    if np.dtype(dtype).kind == "c" or not compiled_dtype(dtype):
        return rule.evaluate(*xs)[0]
    return cpu_value(rule, list(xs), dtype)


_KEPT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def keep_partials(rule: ElementwiseRule, xs: list, nodes: list):
    """``(y, partials)`` for reverse mode to record, or None: for a rule whose partials are
    costly (:func:`dualad.rules.derive.costly_partials`; the caller asks first), on plain real
    host values of at least :data:`SMALL` elements, one CPU kernel pass computes the value and
    the partials of the inputs whose ``nodes`` entry is not None (the others are constants),
    so that the sweep (:func:`pull_kept`) only multiplies."""
    size = 0
    for x in xs:
        if type(x) is np.ndarray:
            size = max(size, x.size)
        elif not isinstance(x, (float, int, np.floating, np.integer)) or isinstance(x, bool):
            return None
    if size < SMALL:
        return None
    dtype = np.result_type(*xs)
    if dtype not in _KEPT_DTYPES:
        return None
    return cpu_value_and_partials(rule, xs, [n is not None for n in nodes], dtype)


def pull_kept(partials: list, g: np.ndarray, needed: list, into: list | None) -> list:
    """Adjoint contributions ``ȳ · ∂_i`` from partials :func:`keep_partials` kept: the
    ``multiply`` rule's adjoint (strong zeros; adding into ``into[i]`` as :func:`pull` does)."""
    multiply = RULES["multiply"]
    into = into or [None] * len(partials)
    out = []
    for p, need, buf in zip(partials, needed, into):
        out.append(pull(multiply, [p, p], g, [True, False], [buf, None])[0] if need else None)
    return out


def fused_hvp(rule: ElementwiseRule, xs: list, ts: list, gp, gt, needed: list, dtype):
    """Forward-over-reverse adjoints in one CPU kernel pass (see :func:`dualad.kernels.hvp`);
    worth it from :data:`SMALL` elements of ``gp`` (the caller checks, before gathering)."""
    return cpu_hvp(rule, xs, ts, gp, gt, needed, dtype)


# --- CUDA: outputs allocated in the operands' array library -----------------------------------


def _cuda():
    # numba.cuda is imported only when a device array is first differentiated.
    from . import cuda

    return cuda


def _allocator(xp):
    """Allocation of kernel outputs in the array library ``xp`` (its memory pool, its type)."""
    return lambda shape, dtype: xp.empty(shape, dtype=dtype)


def _scalars_on_device(xs, dtype, xp) -> list:
    """Host scalar operands as 0-d device arrays made by ``xp`` (``cupy.full`` passes the
    number to a fill kernel: no host-to-device copy that would wait)."""
    out = []
    for x in xs:
        if x is not None and not hasattr(type(x), "__cuda_array_interface__"):
            x = xp.full((), x[()] if type(x) is np.ndarray else x, dtype=dtype)
        out.append(x)
    return out
