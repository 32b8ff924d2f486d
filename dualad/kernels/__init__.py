"""Kernels compiled from the rule table, and the array plumbing around them.

:func:`jvp` and :func:`vjp` take whole NumPy arrays of any (broadcastable) shapes, flatten them
into the layout the generated loops expect, call the compiled kernel and shape the results.
They know nothing about derivatives beyond "value, partials, multiply, add".  Which of these,
a CUDA kernel or plain NumPy evaluates a rule for the value types is decided in one place,
:mod:`dualad.kernels.backend`.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

from ..rules.base import ElementwiseRule
from ..rules.derive import value_partials
from .cache import cache_dir
from .cpu import compiles_complex, compiles_wirtinger, get_kernel

__all__ = ["jvp", "vjp", "hvp", "value", "value_and_partials", "cache_dir", "get_kernel", "compiles_complex", "compiles_wirtinger", "PARALLEL_MIN"]

def _parallel_min() -> int:
    # Threads pay on a quiet machine with cores to spare; on two shared cores, measured, they
    # made kernels 10-20x slower whenever another process was busy (threads spin-waiting for a
    # core).  So multi-threaded kernels are on by default only with more than two cores;
    # DUALAD_PARALLEL_MIN sets the threshold (elements × lanes) explicitly.
    env = os.environ.get("DUALAD_PARALLEL_MIN")
    if env:
        return int(env)
    return 1 << 16 if (os.cpu_count() or 1) > 2 else sys.maxsize


#: Arrays at least this large (elements × lanes) take the multi-threaded kernel variants.
PARALLEL_MIN = _parallel_min()
#: With several lanes over fewer elements than this, lanes (not elements) are the outer loop.
WIDE_MAX = 1 << 13


def _layout(k: int, size: int) -> str:
    return "one" if k == 1 else ("wide" if size < WIDE_MAX else "block")


def _kind(dtype) -> tuple:
    """The pattern's tail for a dtype: ``("complex",)`` for complex kernels, else nothing."""
    return ("complex",) if np.dtype(dtype).kind == "c" else ()


def _flat(a: np.ndarray, shape: tuple, size: int) -> tuple[np.ndarray, bool]:
    """``a`` as a 1-D array of the broadcast size, or of size 1 (a broadcast scalar)."""
    if a.size == 1:
        return a.reshape(1), True
    if a.shape != shape:
        a = np.broadcast_to(a, shape)
    return np.ascontiguousarray(a).reshape(size), False


def _flat_lanes(t: np.ndarray, k: int, shape: tuple, size: int, scalar: bool) -> np.ndarray:
    """Lane array ``(k,) + shape_i`` as ``(k, size)`` (or ``(k, 1)`` for a scalar input)."""
    if scalar:
        return np.ascontiguousarray(t).reshape(k, 1)
    if t.shape[1:] != shape:
        t = np.broadcast_to(t.reshape((k,) + (1,) * (len(shape) - t.ndim + 1) + t.shape[1:]), (k,) + shape)
    return np.ascontiguousarray(t).reshape(k, size)


def jvp(rule: ElementwiseRule, xs: list, ts: list, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Fused value and tangent lanes: ``xs`` arrays, ``ts`` lane arrays ``(k,)+x.shape`` or None."""
    xs = [np.asarray(x, dtype=dtype) for x in xs]
    shape = xs[0].shape if len(xs) == 1 else np.broadcast_shapes(*(x.shape for x in xs))
    size = math.prod(shape)
    k = next(t.shape[0] for t in ts if t is not None)
    flat, pattern, lanes = [], [], []
    for x, t in zip(xs, ts):
        f, scalar = _flat(x, shape, size)
        flat.append(f)
        pattern.append((scalar, t is not None))
        if t is not None:
            lanes.append(_flat_lanes(t.astype(dtype, copy=False), k, shape, size, scalar))
    y = np.empty(size, dtype=dtype)
    ty = np.empty((k, size), dtype=dtype)
    get_kernel(rule, "jvp", (tuple(pattern), _layout(k, size)) + _kind(dtype), size * k >= PARALLEL_MIN)(*flat, *lanes, y, ty)
    return y.reshape(shape), ty.reshape((k,) + shape)


def vjp(rule: ElementwiseRule, xs: list, g: np.ndarray, needed: list, dtype, into: list | None = None, y=None,
        wirtinger: bool = False) -> list:
    """Adjoint contributions ``ȳ · ∂_i`` of shape ``(m,) + out_shape`` for each needed input.

    ``into[i]`` (optional, C-contiguous, of that full shape) is added into instead of
    allocating: the result for that input is then ``into[i]`` itself.  ``y`` (optional) is
    the rule's output at ``xs``; a rule whose partials read their value reads it from there
    (:func:`dualad.rules.derive.value_partials`).  ``wirtinger``: the rule's Wirtinger partials
    on complex inputs, ``ȳ ∂_i + conj(ȳ ∂̄_i)`` (``dtype`` complex, that of the inputs and the
    contributions; ``g`` keeps its own, real for a real output).  Returns a list with None for
    inputs not needed; unbroadcasting is the caller's job.
    """
    xs = [np.asarray(x, dtype=dtype) for x in xs]
    shape = xs[0].shape if len(xs) == 1 else np.broadcast_shapes(*(x.shape for x in xs))
    size = math.prod(shape)
    m = g.shape[0]
    into = into or [None] * len(xs)
    flat, per_input = [], []
    for x, need, buf in zip(xs, needed, into):
        f, scalar = _flat(x, shape, size)
        flat.append(f)
        per_input.append((scalar, ("a" if buf is not None else "w") if need else "n"))
    if not wirtinger:
        g = np.asarray(g, dtype=dtype)
    if g.size == m or (g.ndim > 1 and not any(g.strides[1:])):
        # one cotangent value per lane, possibly a broadcast view: pass it as a column
        g = g[(slice(None),) + (0,) * (g.ndim - 1)] if g.ndim > 1 else g
        gflat, g_scalar = np.ascontiguousarray(g).reshape(m, 1), True
    else:
        if g.shape[1:] != shape:
            g = np.broadcast_to(g, (m,) + shape)
        gflat, g_scalar = np.ascontiguousarray(g).reshape(m, size), False
    outs, made = [], []  # made: the new contributions, in their own shape (arrays that own their data)
    for need, buf in zip(needed, into):
        if not need:
            outs.append(None)
        elif buf is not None:
            outs.append(buf.reshape(m, size))
        else:
            made.append(np.empty((m,) + shape, dtype=dtype))
            outs.append(made[-1].reshape(m, size))
    valued = not wirtinger and y is not None and value_partials(rule) is not None
    if valued:
        flat.append(np.ascontiguousarray(y, dtype=dtype).reshape(size))  # the output: the broadcast shape
    kind = "wvjp" if wirtinger else "vjp"
    real_g = ("real cotangent",) if wirtinger and gflat.dtype.kind != "c" else ()
    pattern = (tuple(per_input), g_scalar, _layout(m, size), valued) + real_g + _kind(dtype)
    kern = get_kernel(rule, kind, pattern, size * m >= PARALLEL_MIN)
    kern(*flat, gflat, *(o for o in outs if o is not None))
    new = iter(made)
    return [None if o is None else (buf if buf is not None else next(new)) for o, buf in zip(outs, into)]


def hvp(rule: ElementwiseRule, xs: list, ts: list, gp: np.ndarray, gt: np.ndarray, needed: list, dtype) -> list:
    """Forward-over-reverse adjoints of ``rule`` in one pass: dual inputs, a dual cotangent.

    ``xs`` are the inputs' primals, ``ts`` their tangent lanes ``(k,) + x.shape`` (or None for a
    constant input; at least one is given), ``gp`` the cotangent's primal (the output's shape)
    and ``gt`` its lanes ``(k,) + out_shape``, or None for a constant cotangent.  Returns, per
    input, None if not needed, else ``(cp, ct)``: the primal ``ȳ·∂_i`` (output shape) and its
    k tangent lanes, not yet unbroadcast.  At least one input must be needed.
    """
    xs = [np.asarray(x, dtype=dtype) for x in xs]
    shape = xs[0].shape if len(xs) == 1 else np.broadcast_shapes(*(x.shape for x in xs))
    size = math.prod(shape)
    k = next(t.shape[0] for t in ts if t is not None)
    flat, pattern, lanes = [], [], []
    for x, t, need in zip(xs, ts, needed):
        f, scalar = _flat(x, shape, size)
        flat.append(f)
        pattern.append((scalar, t is not None, bool(need)))
        if t is not None:
            lanes.append(_flat_lanes(t.astype(dtype, copy=False), k, shape, size, scalar))
    gp = np.asarray(gp, dtype=dtype)
    g_scalar = gp.size == 1 or (gp.ndim > 0 and not any(gp.strides))  # one value everywhere (a sum's cotangent)
    if g_scalar:
        gpf = np.ascontiguousarray(gp.reshape(-1)[:1])
    else:
        gpf = np.ascontiguousarray(np.broadcast_to(gp, shape)).reshape(size)
    gts = [] if gt is None else [_flat_lanes(np.asarray(gt, dtype=dtype), k, shape, size, False)]
    cps = [np.empty(size, dtype=dtype) for n in needed if n]
    cts = [np.empty((k, size), dtype=dtype) for n in needed if n]
    pattern = (tuple(pattern), gt is not None, "one" if k == 1 else "lanes", g_scalar)
    kern = get_kernel(rule, "hvp", pattern, size * k >= PARALLEL_MIN)
    kern(*flat, *lanes, gpf, *gts, *cps, *cts)
    made = iter(zip(cps, cts))
    out = []
    for need in needed:
        if need:
            cp, ct = next(made)
            out.append((cp.reshape(shape), ct.reshape((k,) + shape)))
        else:
            out.append(None)
    return out


def value(rule: ElementwiseRule, xs: list, dtype) -> np.ndarray:
    """The rule's value alone, for rules that are not NumPy ufuncs."""
    return value_and_partials(rule, xs, [False] * len(xs), dtype)[0]


def value_and_partials(rule: ElementwiseRule, xs: list, needed: list, dtype) -> tuple[np.ndarray, list]:
    """``(y, partials)``: the rule's value at ``xs`` and, in the same pass, the partial of each
    ``needed`` input (of the broadcast shape; None for the others).  Real dtypes."""
    xs = [np.asarray(x, dtype=dtype) for x in xs]
    shape = xs[0].shape if len(xs) == 1 else np.broadcast_shapes(*(x.shape for x in xs))
    size = math.prod(shape)
    flat, pattern = [], []
    for x in xs:
        f, scalar = _flat(x, shape, size)
        flat.append(f)
        pattern.append(scalar)
    y = np.empty(size, dtype=dtype)
    ps = [np.empty(size, dtype=dtype) if need else None for need in needed]
    if any(needed):
        kern = get_kernel(rule, "partials", (tuple(pattern), tuple(bool(n) for n in needed)), size >= PARALLEL_MIN)
    else:
        kern = get_kernel(rule, "value", tuple(pattern), size >= PARALLEL_MIN)
    kern(*flat, y, *(p for p in ps if p is not None))
    return y.reshape(shape), [None if p is None else p.reshape(shape) for p in ps]
