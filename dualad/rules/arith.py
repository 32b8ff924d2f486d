"""Derivative arithmetic shared by every layer: strong-zero products, lane sums, unbroadcasting.

These are the semantics every mode shares (docs/coverage.md, docs/nesting.md): in derivative propagation an exact zero on
either side of a product is a *strong zero* (0 · inf and 0 · nan contribute 0), and a
contribution broadcast against a bigger operand is summed back to its input's shape.  Structural
transposes, the kernels' NumPy fallback, forward mode's tangent lanes and reverse mode's adjoints
all use them, so they live here, below all of them.

On active values (older nesting levels) or device arrays the work goes through the structural
primitives ``sum`` and ``where`` (looked up in :data:`~dualad.rules.base.PRIMITIVES`, so that
this module does not import :mod:`dualad.rules.structural`, which imports it), and is
differentiated again when nested.
"""

from __future__ import annotations

import math

import numpy as np

from . import base

__all__ = ["strong_multiply", "unbroadcast", "lane_sum", "is_complex", "any_complex", "to_dtype", "real_dtype", "push_terms", "pull_terms"]

_SCALARS = (float, np.float64, np.float32, int)
_PLAIN = (np.ndarray, np.generic, float, int, bool, complex)
_FLOATS = (float, np.float64, np.float32)


def is_complex(x) -> bool:
    """Whether ``x`` (an array, active value or number) has a complex dtype."""
    dt = getattr(x, "dtype", None)
    return isinstance(x, complex) if dt is None else dt.kind == "c"


def any_complex(values) -> bool:
    """Whether any of ``values`` has a complex dtype (:func:`is_complex` of each, in one call:
    the backward sweep asks this for every entry)."""
    for x in values:
        dt = getattr(x, "dtype", None)
        if (dt.kind == "c") if dt is not None else isinstance(x, complex):
            return True
    return False


def real_dtype(dtype) -> np.dtype:
    """The real dtype of the same precision (float64 for complex128; float dtypes as they are)."""
    dtype = np.dtype(dtype)
    return np.finfo(dtype).dtype if dtype.kind == "c" else dtype


def to_dtype(x, dtype):
    """``x`` in ``dtype``; a complex value cast to a real dtype keeps its real part, which is
    what a real input's derivative is under JAX's convention (its imaginary part is the
    derivative along a direction the input cannot move in).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.rules.arith import to_dtype
    >>> to_dtype(np.array([1.0 + 2.0j]), np.float32)
    array([1.], dtype=float32)
    """
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    if x.dtype.kind == "c" and dtype.kind != "c":
        x = np.real(x)
        if x.dtype == dtype:
            return x
    return x.astype(dtype)


def push_terms(rule, xs: list, ts: list):
    """``(value, partials, lanes)`` for :func:`lane_sum` of the rule at ``xs`` with tangent lanes
    ``ts``: the rule's own partials, or for a non-holomorphic rule on complex inputs the
    Wirtinger pairs against the lanes and their conjugates (``ẏ = Σ ∂ż + ∂̄ conj(ż)``)."""
    if rule.wirtinger is not None and any(is_complex(x) for x in xs):
        y = rule.evaluate(*xs)[0]
        with np.errstate(all="ignore"):
            d = rule.wirtinger(*xs)
        conj = [t if t is None or not is_complex(t) else np.conjugate(t) for t in ts]
        return y, list(d[0::2]) + list(d[1::2]), list(ts) + conj
    outs = rule.evaluate(*xs)
    return outs[0], outs[1:], ts


def pull_terms(rule, values: list, g, needed: list) -> list:
    """Adjoint contributions of a non-holomorphic rule on complex inputs:
    ``ȳ ∂_i + conj(ȳ ∂̄_i)`` per needed input (None elsewhere), lanes first, not unbroadcast."""
    with np.errstate(all="ignore"):
        d = rule.wirtinger(*values)
    out = []
    for i, need in enumerate(needed):
        c = None
        if need:
            for j, p in enumerate(d[2 * i: 2 * i + 2]):
                if type(p) is float and p == 0.0:
                    continue
                term = strong_multiply(p, g)
                if j:
                    term = np.conjugate(term)
                c = term if c is None else c + term
        out.append(c)
    return out


def strong_multiply(p, t):
    """``p * t`` where an exact zero on either side gives 0, even against inf or NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.rules.arith import strong_multiply
    >>> strong_multiply(np.array([0.0, 2.0]), np.array([np.inf, 3.0]))
    array([0., 6.])
    """
    if type(p) is np.ndarray and p.ndim == 0:
        p = p[()]
    if type(p) in _SCALARS and type(t) is np.ndarray:
        # A finite, nonzero scalar factor cannot turn anything into 0·inf: multiply directly.
        if p == 0.0:
            return np.zeros(t.shape, dtype=np.result_type(p, t))
        if math.isfinite(p):
            return p * t
    if isinstance(p, _PLAIN) and isinstance(t, _PLAIN):
        with np.errstate(all="ignore"):
            out = np.multiply(p, t)
            bad = np.isnan(out)
            if bad.any():
                out = np.where(np.equal(p, 0) | np.equal(t, 0), 0.0, out).astype(out.dtype, copy=False)
        return out
    return _strong_multiply_active(p, t)


def _strong_multiply_active(p, t):
    dispatch = base.dispatcher()  # the rules layer's hook to the dispatcher above it
    p_varies, t_varies = dispatch.keeps_guards(p), dispatch.keeps_guards(t)
    if (p_varies or t_varies) and not _finite_nonzero(dispatch.strip(t if p_varies else p), p_varies and t_varies):
        # On a tape that will be replayed, where the strong zeros fall depends on the values of
        # each replay: the product is the rule that decides them per element, at every replay.
        return _strong_product(p, t)
    prod_ = p * t
    # Where no strong zero arises (no 0·inf, 0·nan: the common case, tested cheaply on the plain
    # values) the product is the plain one; else the strong_product rule, whose derivatives are
    # the product rule's with strong zeros again (as the compiled kernels' derived tangents).
    # On a device, testing bad.any() would wait for the device: the rule is applied always.
    plain = dispatch.strip(prod_)
    if type(plain) in _FLOATS and not math.isnan(plain):  # scalar code: the common case, cheaply
        return prod_
    if type(plain) is not np.ndarray and dispatch.is_device(plain):
        return _strong_product(p, t)
    bad = np.isnan(plain)
    if not bad.any():
        return prod_
    sp, st = dispatch.strip(p), dispatch.strip(t)
    if not (bad & (np.equal(sp, 0) | np.equal(st, 0))).any():
        return prod_
    return _strong_product(p, t)


def _strong_product(p, t):
    # (the rule's function looked up where it is needed: the common path returns before)
    return base.RULES["strong_product"].function(p, t)


def _finite_nonzero(c, varies: bool) -> bool:
    """Whether the factor ``c``, a constant of the recording unless it ``varies``, has only
    finite nonzero elements: no strong zero can then arise against it, at any replay."""
    if varies:
        return False
    if type(c) in _FLOATS or type(c) is int:
        return c != 0 and math.isfinite(c)
    if type(c) is not np.ndarray:
        return False
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.isfinite(c) & (c != 0)))


def unbroadcast(ct, shape: tuple, batch: int):
    """Sum ``ct`` (lanes ``batch``, logical shape broadcast from ``shape``) back to ``shape``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.rules.arith import unbroadcast
    >>> unbroadcast(np.ones((1, 2, 3)), (3,), 1)
    array([[2., 2., 2.]])
    """
    out_shape = tuple(ct.shape[batch:])
    if out_shape == tuple(shape):
        return ct
    sum_ = base.PRIMITIVES["sum"]
    extra = len(out_shape) - len(shape)
    if extra > 0:
        ct = sum_.bind_plain((ct,), {"axis": tuple(range(-len(out_shape), -len(shape))), "keepdims": False, "batch": batch})
    ones = tuple(-(len(shape) - j) for j, d in enumerate(shape) if d == 1 and ct.shape[batch + j] != 1)
    if ones:
        ct = sum_.bind_plain((ct,), {"axis": ones, "keepdims": True, "batch": batch})
    return ct


def lane_sum(partials, ts, y, k: int):
    """Tangent lanes ``Σ_i ∂_i · ẋ_i`` of an output ``y`` with strong-zero products.

    ``ts[i]`` are the inputs' lane arrays ``(k,) + shape_i`` (None for constants); the partials
    may be numbers, arrays or active values.  Returns lanes of shape ``(k,) + y.shape`` in
    ``y``'s dtype, or None when no input contributes (the caller makes zeros where ``y``
    lives).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.rules.arith import lane_sum
    >>> lane_sum([2.0, -1.0], [np.ones((1, 2)), np.ones((1, 2))], np.zeros(2), 1)
    array([[1., 1.]])
    """
    nd = len(y.shape)
    if nd == 0 and k == 1 and isinstance(y, (np.ndarray, np.generic)):
        acc = _scalar_lane(partials, ts, y)
        if acc is not None:
            return acc
    ty = None
    for partial, t in zip(partials, ts):
        if t is None or (type(partial) is float and partial == 0.0):
            continue
        if len(t.shape) - 1 < nd:  # lanes lead: align the input's axes with the output's
            t = np.reshape(t, (k,) + (1,) * (nd - len(t.shape) + 1) + tuple(t.shape[1:]))
        if ty is not None and type(partial) is float and partial == -1.0:
            ty = ty - t  # a difference in one pass, not a scaled copy and a sum
            continue
        term = t if (type(partial) is float and partial == 1.0) else strong_multiply(partial, t)
        ty = term if ty is None else ty + term
    if ty is None:
        return None
    if ty.dtype != y.dtype:  # a float64 partial (e.g. ``(x > 0) * 1.0``) must not widen
        ty = to_dtype(ty, y.dtype)
    full = (k,) + tuple(y.shape)
    if tuple(ty.shape) != full:
        ty = np.broadcast_to(ty, full)
    return ty


def _scalar_lane(partials, ts, y):
    """One scalar lane: NumPy-scalar arithmetic, a fraction of the cost of array calls (None
    when an operand is not a plain host array)."""
    acc = y.dtype.type(0.0)
    for partial, t in zip(partials, ts):
        if t is None:
            continue
        if type(t) is not np.ndarray or not isinstance(partial, _PLAIN):
            return None
        s = t[0]
        if type(partial) is np.ndarray:
            partial = partial[()]
        if s == 0 or partial == 0:
            continue
        acc += partial * s
    if y.dtype.kind != "c":
        acc = np.real(acc)  # (a complex partial of a real output: its real part, JAX's convention)
    return np.array([acc], dtype=y.dtype)
