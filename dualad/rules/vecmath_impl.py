"""The Numba implementations behind :mod:`dualad.rules.vecmath` (imported when a kernel is built).

Every function is straight-line float64 code: range reduction, a polynomial, selects (``a if c
else b`` on floats, which LLVM turns into blends) and bit casts, so that LLVM's loop vectoriser
can run a kernel's element loop on whole vector registers.  The constants (π/2 and ln 2 split
into exactly multipliable parts, the table of ``2**q · 2/π mod 4``) are computed here from
integer arithmetic at import; the polynomials are Taylor series, truncated where the next term
is below 2**-60 of the result on the reduced interval.

* ``exp``: ``x = k ln2 + r``, ``|r| ≤ ln2/2`` (Cody–Waite), ``exp r`` to degree 13, then
  ``2**k`` as two exact powers of two so that overflow and gradual underflow round once.
* ``log``, ``log1p``: ``x = 2**e m``, ``m ∈ [√2/2, √2)``, ``log m = 2 atanh(s)``,
  ``s = (m−1)/(m+1)``; ``log1p`` adds the rounding error of ``1 + x`` divided by it.
* ``expm1``: as ``exp``, then ``2**k expm1(r) + (2**k − 1)``; ``tanh |x| = −e / (e + 2)``
  with ``e = expm1(−2|x|)``.
* ``sin``, ``cos``: ``|x| = k π/2 + r``, ``|r| ≤ π/4``; below 2**20 by subtracting π/2 in
  three 33-bit parts (exact products, the first difference exact), above by multiplying the
  53-bit significand by ``2**q · 2/π mod 4`` (four doubles, 212 bits) in double-double
  arithmetic (exact products by FMA where the CPU has it, else by Dekker's splitting); both
  are computed and one selected, so no lane branches.

Kernels call :data:`KERNEL_FUNCTIONS`, Numba intrinsics that compile each implementation once
per process on its own and call it with LLVM's ``alwaysinline`` attribute: LLVM inlines the
code into the kernel's loop (and merges the reduction that ``sin`` and ``cos`` of one argument
share), while Numba's front end, which is slow on large inlined IR, sees one call.
"""

from __future__ import annotations

import math
import platform

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["KERNEL_FUNCTIONS", "IMPLEMENTATIONS", "has_fma", "two_prod_fma", "two_prod_dekker"]

_SCALE = 1400  # bits after the binary point of the integer constants


def _atan_inv(m: int, one: int, alternating: bool = True) -> int:
    """``atan(1/m)`` (or ``atanh(1/m)``) times ``one``, by its series."""
    total, term, k = 0, one // m, 1
    while term:
        total += -(term // k) if alternating and (k // 2) % 2 else term // k
        term //= m * m
        k += 2
    return total


def _fixed_constants() -> tuple[int, int]:
    """π and ln 2 times ``2**_SCALE`` (Machin's formula; ``ln 2 = 2 atanh(1/3)``)."""
    guard = 16
    one = 1 << (_SCALE + guard)
    pi = 16 * _atan_inv(5, one) - 4 * _atan_inv(239, one)
    ln2 = 2 * _atan_inv(3, one, alternating=False)
    return pi >> guard, ln2 >> guard


def _chunks(value: int, sizes) -> list[float]:
    """``value / 2**_SCALE`` as consecutive parts of ``sizes`` significant bits (truncated)."""
    out = []
    for size in sizes:
        shift = max(value.bit_length() - size, 0)
        head = value >> shift
        out.append(math.ldexp(head, shift - _SCALE))
        value -= head << shift
    return out


_PI, _LN2 = _fixed_constants()
LN2_HI, LN2_LO = _chunks(_LN2, (32, 53))  # k · LN2_HI is exact for |k| < 2**21
PIO2_1, PIO2_2, PIO2_3, PIO2_3T = _chunks(_PI >> 1, (33, 33, 33, 53))  # k · PIO2_i exact, k < 2**20
PIO2_H, PIO2_L = _chunks(_PI >> 1, (53, 53))
TWO_OVER_PI = 2.0 / math.pi
_LARGE_EXP = 20  # |x| ≥ 2**20 takes the table reduction


def _table() -> np.ndarray:
    """Row ``i``: ``2**q · 2/π mod 4`` as four non-overlapping doubles, ``q = i + 20 − 52``
    (the exponent of the unit in the last place of a double with exponent ``i + 20``)."""
    two_over_pi = (2 << (2 * _SCALE)) // _PI
    rows = []
    for e in range(_LARGE_EXP, 1024):
        q = e - 52
        v = two_over_pi << q if q >= 0 else two_over_pi >> -q
        rows.append(_chunks(v % (4 << _SCALE), (53, 53, 53, 53)))
    return np.array(rows)


TABLE = _table()
_NLARGE = TABLE.shape[0]

MAGIC = 6755399441055744.0  # 1.5 · 2**52: v + MAGIC − MAGIC rounds v to an integer
TWO52 = 4503599627370496.0
EXPO_BITS = 0x4330000000000000  # the bits of 2**52
ONE_BITS = 0x3FF0000000000000
MANT = 0x000FFFFFFFFFFFFF
LOG2E = 1.4426950408889634
SQRT2 = 1.4142135623730951
INF = math.inf
NAN = math.nan
TINY = 2.0**-54  # below it, expm1, log1p and tanh round to x itself

# Taylor coefficients: 1/n!, 2/(2n+1) (2 atanh), (−1)^n/(2n+1)! (sin), (−1)^n/(2n)! (cos)
E = tuple(1.0 / math.factorial(n) for n in range(15))
L = tuple(2.0 / (2 * n + 1) for n in range(11))
S = tuple((-1.0) ** n / math.factorial(2 * n + 1) for n in range(9))
C = tuple((-1.0) ** n / math.factorial(2 * n) for n in range(9))


@intrinsic
def _bits(typingctx, x):
    """The bits of a float64 as an int64."""
    if not (isinstance(x, types.Float) and x.bitwidth == 64):
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, i):
    """The float64 whose bits are an int64."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """``a · b + c`` rounded once (LLVM's fma; one instruction where the CPU has FMA)."""
    if not all(isinstance(t, types.Float) and t.bitwidth == 64 for t in (a, b, c)):
        return None

    def codegen(context, builder, sig, args):
        d = ir.DoubleType()
        return builder.call(cgutils.get_or_insert_function(builder.module, ir.FunctionType(d, [d, d, d]), "llvm.fma.f64"), args)

    return types.float64(types.float64, types.float64, types.float64), codegen


def has_fma() -> bool:
    """Whether this CPU multiplies and adds with one rounding in one instruction (then the
    exact products of the sin/cos reduction use it; else Dekker's splitting)."""
    if platform.machine().lower() in ("arm64", "aarch64"):
        return True
    try:
        import llvmlite.binding as llvm

        return bool(llvm.get_host_cpu_features().get("fma", False))
    except (RuntimeError, AttributeError):
        return False


@intrinsic
def _select(typingctx, cond, a, b):
    """``a if cond else b`` as one LLVM ``select`` (no branch, also in Numba's IR when inlined)."""
    ty = typingctx.unify_types(a, b)
    if ty is None:
        return None

    def codegen(context, builder, sig, args):
        c = context.cast(builder, args[0], sig.args[0], types.boolean)
        x = context.cast(builder, args[1], sig.args[1], sig.return_type)
        y = context.cast(builder, args[2], sig.args[2], sig.return_type)
        return builder.select(c, x, y)

    return ty(cond, a, b), codegen


def _jit(fn):
    return numba.njit(fn, inline="always", error_model="numpy", cache=False)


@_jit
def _rint(v):
    """The nearest integer to ``v`` (|v| < 2**51), as a float."""
    return (v + MAGIC) - MAGIC


@_jit
def _pow2(k):
    """``2**k`` for an integer-valued float ``k`` in [−1022, 1023]."""
    return _from_bits(_bits(k + (1023.0 + MAGIC)) << 52)


@_jit
def _scale(p, k):
    """``p · 2**k`` for an integer-valued ``k`` in [−2044, 2046], rounded once."""
    k1 = np.floor(k * 0.5)
    return (p * _pow2(k1)) * _pow2(k - k1)


@_jit
def _two_sum(a, b):
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e = a + b`` exactly."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@_jit
def _split(a):
    c = 134217729.0 * a  # 2**27 + 1
    h = c - (c - a)
    return h, a - h


@_jit
def two_prod_dekker(a, b):
    """``(p, e)`` with ``p = fl(a · b)`` and ``p + e = a · b`` exactly (Dekker, no FMA)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@_jit
def two_prod_fma(a, b):
    """``(p, e)`` with ``p = fl(a · b)`` and ``p + e = a · b`` exactly (one FMA)."""
    p = a * b
    return p, _fma(a, b, -p)


_two_prod = two_prod_fma if has_fma() else two_prod_dekker


@_jit
def _expm1_small(r):
    """``expm1 r`` for ``|r| ≤ ln2/2`` (the error of a degree-13 series is below 2**-60)."""
    p = E[10] + r * (E[11] + r * (E[12] + r * E[13]))
    p = E[6] + r * (E[7] + r * (E[8] + r * (E[9] + r * p)))
    p = E[2] + r * (E[3] + r * (E[4] + r * (E[5] + r * p)))
    return r + r * r * p


@_jit
def _reduce_ln2(x, low):
    """``(k, hi, lo)`` with ``x`` clipped to [low, 710] (NaN to 0) ``= k ln2 + hi − lo``,
    ``|hi − lo| ≤ ln2/2``; ``hi`` is exact, ``lo`` has 53 bits."""
    xc = _select(x > 710.0, 710.0, x)
    xc = _select(xc < low, low, xc)
    xc = _select(xc != xc, 0.0, xc)
    k = _rint(xc * LOG2E)
    return k, xc - k * LN2_HI, k * LN2_LO


@_jit
def exp64(x):
    k, hi, lo = _reduce_ln2(x, -746.0)
    y = _scale(1.0 + _expm1_small(hi - lo), k)
    return _select(x == x, y, x)


@_jit
def expm1_64(x):
    k, hi, lo = _reduce_ln2(x, -45.0)
    r = hi - lo
    em = _expm1_small(r)
    em = em + ((hi - r) - lo) * (1.0 + em)  # the rounding error of r, times exp r
    k1 = np.floor(k * 0.5)
    s1 = _pow2(k1)
    s2 = _pow2(k - k1)
    s = s1 * s2
    y = _select(k <= 52.0, s * em + (s - 1.0), ((em + 1.0) * s1) * s2 - 1.0)
    y = _select(abs(x) < TINY, x, y)
    return _select(x == x, y, x)


@_jit
def _log_reduced(x, c):
    """``log x + c`` for finite ``x > 0`` and a correction ``c`` far below ``ulp(log x)``'s scale."""
    tiny = x < 2.2250738585072014e-308
    b = _bits(_select(tiny, x * TWO52, x))
    e = (_from_bits((b >> 52) | EXPO_BITS) - TWO52) - _select(tiny, 1075.0, 1023.0)
    m = _from_bits((b & MANT) | ONE_BITS)
    big = m > SQRT2
    m = _select(big, m * 0.5, m)
    e = _select(big, e + 1.0, e)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    p = L[6] + z * (L[7] + z * (L[8] + z * (L[9] + z * L[10])))
    p = z * (L[1] + z * (L[2] + z * (L[3] + z * (L[4] + z * (L[5] + z * p)))))
    hfsq = 0.5 * f * f
    return e * LN2_HI + (f - (hfsq - (s * (hfsq + p) + (e * LN2_LO + c))))


@_jit
def log64(x):
    y = _log_reduced(x, 0.0)
    y = _select(x < INF, y, x)
    y = _select(x == 0.0, -INF, y)
    return _select(x < 0.0, NAN, y)


@_jit
def log1p64(x):
    u = 1.0 + x
    bb = u - 1.0
    err = (1.0 - (u - bb)) + (x - bb)  # 1 + x = u + err exactly
    y = _log_reduced(u, err / u)
    y = _select(x < INF, y, x)
    y = _select(abs(x) < TINY, x, y)
    y = _select(x == -1.0, -INF, y)
    return _select(x < -1.0, NAN, y)


@_jit
def tanh64(x):
    a = abs(x)
    e = expm1_64(-2.0 * a)
    return math.copysign(-e / (e + 2.0), x)


@_jit
def _reduce_medium(a):
    """``(k, r)``, ``a = k π/2 + r``, for ``0 ≤ a < 2**20``."""
    k = _rint(a * TWO_OVER_PI)
    t, e1 = _two_sum(a - k * PIO2_1, -(k * PIO2_2))
    return k, (t - k * PIO2_3) + (e1 - k * PIO2_3T)


@_jit
def _reduce_large(a):
    """``(k, r)``, ``a = k π/2 + r`` modulo 2π, for finite ``a ≥ 2**20``."""
    b = _bits(a)
    i = (b >> 52) - (1023 + _LARGE_EXP)
    i = _select(i < 0, 0, i)
    i = _select(i > _NLARGE - 1, _NLARGE - 1, i)
    m = _from_bits((b & MANT) | EXPO_BITS)  # the significand as an integer
    a0, b0 = _two_prod(m, TABLE[i, 0])
    a1, b1 = _two_prod(m, TABLE[i, 1])
    a2, b2 = _two_prod(m, TABLE[i, 2])
    a3 = m * TABLE[i, 3]
    h, l1 = _two_sum(a0 - 4.0 * np.floor(a0 * 0.25), b0)
    h, l2 = _two_sum(h, a1)
    k = _rint(h)
    g, m1 = _two_sum(h - k, l1)
    g, m2 = _two_sum(g, l2)
    g, m3 = _two_sum(g, b1)
    g, m4 = _two_sum(g, a2)
    fh, fl = _two_sum(g, ((m1 + m2) + (m3 + m4)) + (b2 + a3))
    p, pe = _two_prod(fh, PIO2_H)
    return k, p + (pe + (fh * PIO2_L + fl * PIO2_H))


@_jit
def _sincos(x):
    """``(j, sin r, cos r)`` with ``|x| = k π/2 + r`` and ``j = k mod 4``."""
    a = abs(x)
    km, rm = _reduce_medium(a)
    kl, rl = _reduce_large(a)
    medium = a < 1048576.0
    k = _select(medium, km, kl)
    r = _select(medium, rm, rl)
    z = r * r
    ps = S[5] + z * (S[6] + z * (S[7] + z * S[8]))
    s = r + r * z * (S[1] + z * (S[2] + z * (S[3] + z * (S[4] + z * ps))))
    pc = C[5] + z * (C[6] + z * (C[7] + z * C[8]))
    hz = 0.5 * z
    w = 1.0 - hz
    c = w + (((1.0 - w) - hz) + z * z * (C[2] + z * (C[3] + z * (C[4] + z * pc))))
    return k - 4.0 * np.floor(k * 0.25), s, c


def _call_compiled_once(context, builder, impl, sig, args):
    """Lower a call of the ``_jit`` function ``impl``: compiled on its own, once per process
    (Numba does not copy its IR into the caller, which made every kernel that inlined these
    functions 3–19× slower to compile), and called with the ``alwaysinline`` attribute, so that
    LLVM inlines it into the caller's loop and vectorises it there."""
    from numba.core.compiler import Flags

    flags = Flags()
    flags.error_model = "numpy"
    cres = context.compile_subroutine(builder, impl.py_func, sig, flags=flags)
    fn = context.declare_function(builder.module, cres.fndesc)
    status, res = context.call_conv.call_function(builder, fn, sig.return_type, sig.args, args, attrs=("alwaysinline",))
    with cgutils.if_unlikely(builder, status.is_error):  # never taken: no exceptions (numpy error model)
        context.call_conv.return_status_propagate(builder, status)
    return res


@intrinsic
def _sincos_once(typingctx, x):
    """:func:`_sincos` compiled once for ``sin64`` and ``cos64`` (LLVM merges the two copies
    a kernel that needs both holds)."""
    sig = types.UniTuple(types.float64, 3)(types.float64)
    return sig, lambda context, builder, sig, args: _call_compiled_once(context, builder, _sincos, sig, args)


@_jit
def sin64(x):
    j, s, c = _sincos_once(x)
    y = _select((j == 1.0) | (j == 3.0), c, s)
    y = _select(j >= 2.0, -y, y)
    y = y * math.copysign(1.0, x)
    return _select(abs(x) < INF, y, x - x)


@_jit
def cos64(x):
    j, s, c = _sincos_once(x)
    y = _select((j == 1.0) | (j == 3.0), s, c)
    y = _select((j == 1.0) | (j == 2.0), -y, y)
    return _select(abs(x) < INF, y, x - x)


#: The float64 implementations, by name.
IMPLEMENTATIONS = {"exp": exp64, "log": log64, "log1p": log1p64, "expm1": expm1_64, "sin": sin64, "cos": cos64, "tanh": tanh64}


def _numpy(ufunc):
    return lambda z: ufunc(z)


def _kernel_intrinsic(impl, ufunc):
    """What kernels call for ``ufunc``: float64 → ``impl`` (see :func:`_call_compiled_once`),
    other floats → ``impl`` on float64 rounded back, integers and booleans → ``impl`` on
    float64, complex numbers → NumPy's own function."""

    @intrinsic
    def call(typingctx, x):
        if isinstance(x, types.Complex):
            return x(x), lambda context, builder, sig, args: context.compile_internal(builder, _numpy(ufunc), sig, args)
        if isinstance(x, types.Float):
            out = x
        elif isinstance(x, (types.Integer, types.Boolean)):
            out = types.float64
        else:
            return None

        def codegen(context, builder, sig, args):
            f64 = types.float64
            v = context.cast(builder, args[0], sig.args[0], f64)
            y = _call_compiled_once(context, builder, impl, f64(f64), [v])
            return context.cast(builder, y, f64, sig.return_type)

        return out(x), codegen

    return call


#: What kernels call, by name (Numba intrinsics).
KERNEL_FUNCTIONS = {name: _kernel_intrinsic(impl, getattr(np, name)) for name, impl in IMPLEMENTATIONS.items()}
