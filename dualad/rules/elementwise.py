"""The elementwise rule table: every elementwise derivative in dualad, each written once.

Each rule returns ``(value, d/dx0, d/dx1, ...)``.  Written with NumPy ufuncs and arithmetic on
comparisons only, so Numba compiles it per element and NumPy evaluates it on whole arrays and on
Duals/Variables of older nesting levels.  A constant partial is written as a float literal
(``0.0``): dualad then knows the input contributes nothing.

Non-differentiable points follow one table (docs/coverage.md): relu'(0) = 0, abs'(0) = 0,
maximum/minimum ties split 0.5/0.5, sqrt'(0) = +inf, floor/ceil/rint/trunc/sign have zero
derivative.  ``x + (x == 0)`` is the idiom that turns a 0/0 at the origin into 0/1.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

from . import base, native, vecmath
from .base import ALL_DTYPES, elementwise, implementation

_LN2 = 0.6931471805599453
_LN10 = 2.302585092994046
_DEG = 0.017453292519943295  # pi / 180
_PI = 3.141592653589793

_LOG2E = 1.4426950408889634
_POS = ((0.2, 3.0),)
_UNIT = ((-0.9, 0.9),)

# --- CUDA twins ---------------------------------------------------------------------------------
# A rule's ``cuda=`` names how GPU device code computes its ufunc when numba's CUDA target lacks
# it (which ones are missing differs between the built-in ``numba.cuda`` and ``numba-cuda``): a
# ``math`` function of the same IEEE meaning, a double-precision libdevice function
# (``"libdevice.cbrt"``: a float32 argument is widened, the result narrowed on store), one of the
# NumPy-written device functions below, or ``"native"``.  The device functions follow NumPy's own
# scalar algorithms (npymath) so that the GPU agrees with the CPU at infinities, ties and NaN;
# their ``np.*`` calls are retargeted like a rule's.  No derivative formula here.


def _cuda_positive(x):
    return +x


def _cuda_zero(x):
    return 0.0  # np.imag of a real number, inf and NaN included


def _cuda_angle(x):
    return math.atan2(0.0, x)


def _cuda_sign(x):
    return 1.0 if x > 0 else (-1.0 if x < 0 else (0.0 if x == 0 else x))


def _cuda_logaddexp(x, y):
    if x == y:  # equal infinities without inf - inf
        return x + _LN2
    d = x - y
    if d > 0:
        return x + np.log1p(np.exp(-d))
    if d <= 0:
        return y + np.log1p(np.exp(d))
    return d  # NaN


def _cuda_logaddexp2(x, y):
    if x == y:
        return x + 1.0
    d = x - y
    if d > 0:
        return x + _LOG2E * np.log1p(np.exp2(-d))
    if d <= 0:
        return y + _LOG2E * np.log1p(np.exp2(d))
    return d


def _cuda_remainder(x, y):
    # npymath's npy_divmod: fmod, moved to the divisor's sign; a zero takes the divisor's sign.
    m = np.fmod(x, y)
    if m != 0:
        if (y < 0) != (m < 0):
            m += y
    else:
        m = np.copysign(0.0, y)
    return m


# The kernels' vectorisable exp, log, ... (their rules below name them again, with their CUDA
# twins), declared before any rule so that the kernels' cache key of every rule that calls them
# records them (power's partial calls np.log).
for _name in vecmath.FUNCTIONS:
    implementation(getattr(np, _name), scalar=vecmath.scalar(_name))

# Functions the rules call without differentiating them (predicates), and np.fabs for device
# functions written by users (:func:`dualad.kernels.cuda.device_function`).
implementation(np.isnan, cuda=math.isnan)
implementation(np.isinf, cuda=math.isinf)
implementation(np.isfinite, cuda=math.isfinite)

# --- arithmetic -------------------------------------------------------------------------------


@elementwise(np.add, text=(None, ("1", "1")), dtypes=ALL_DTYPES)
def add(x, y):
    return x + y, 1.0, 1.0


@elementwise(np.subtract, text=(None, ("1", "-1")), dtypes=ALL_DTYPES)
def subtract(x, y):
    return x - y, 1.0, -1.0


@elementwise(np.multiply, text=("{a} × {b}", ("{b}", "{a}")), dtypes=ALL_DTYPES)
def multiply(x, y):
    return x * y, y, x


def strong_product(x, y, out=None):
    """``x * y`` where an exact zero factor gives 0, even against inf or NaN.

    The *strong zero* of derivative products (docs/coverage.md) as a function of its own, so that
    a recording that will be replayed (:func:`dualad.jit`) computes it at every replay instead of
    keeping the choice made on the values seen while recording.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.rules.elementwise import strong_product
    >>> strong_product(np.array([0.0, 2.0]), np.array([np.inf, 3.0]))
    array([0., 6.])
    """
    dispatch = base.dispatcher()  # the rules layer's hook to the dispatcher above it
    if dispatch.is_active(x) or dispatch.is_active(y) or _on_device(dispatch, x) or _on_device(dispatch, y):
        return dispatch.apply_elementwise(_strong_product, (x, y))  # (device arrays: its CUDA kernel)
    with np.errstate(invalid="ignore", over="ignore"):
        prod = np.multiply(x, y, out=out)
        if _finite(x) and _finite(y):  # no inf or NaN to meet a zero: the plain product
            return prod
        if type(prod) is not np.ndarray:  # numbers
            return prod.dtype.type(0) if x == 0 or y == 0 else prod
    np.copyto(prod, 0, where=np.equal(x, 0) | np.equal(y, 0))
    return prod


#: id -> (weak reference, all finite) for large read-only arrays (a recording's constants, the
#: seeds of a Jacobian): checked once, not at every replay.
_FINITE_SEEN: dict = {}


def _finite(a) -> bool:
    """Whether ``a`` has no inf or NaN (one sum; a sum that overflows says no, which is safe)."""
    if type(a) is not np.ndarray:
        return bool(np.isfinite(a))
    owner = _read_only_owner(a) if a.size >= 1 << 14 else None
    if owner is not None:
        key = (id(owner), a.__array_interface__["data"][0], a.shape, a.strides)
        seen = _FINITE_SEEN.get(key)
        if seen is not None and seen[0]() is owner:
            return seen[1]
    finite = bool(np.isfinite(np.sum(a)))
    if owner is not None:
        if len(_FINITE_SEEN) > 256:
            _FINITE_SEEN.clear()
        _FINITE_SEEN[key] = (weakref.ref(owner), finite)
    return finite


def _read_only_owner(a: np.ndarray):
    """The array that owns ``a``'s memory if it is read-only (no one writes into it), else None."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a if a.base is None and not a.flags.writeable else None


def _on_device(dispatch, a) -> bool:
    return type(a) is not np.ndarray and not isinstance(a, (float, int, complex, np.generic)) and dispatch.is_device(a)


def _strong_product_scalar(x, y):
    return 0.0 if (x == 0) | (y == 0) else x * y


# Its partials are the product's: its derivatives follow the product rule, with strong zeros
# again at the next order (what the kernels' derived tangents compute).
@elementwise(
    strong_product,
    scalar=native.jit(_strong_product_scalar, inline=True),
    cuda=_strong_product_scalar,
    dtypes=ALL_DTYPES,
    ufunc_like=True,
    nondiff="an exact zero factor gives 0 even against inf or NaN; partials (y, x) as the product's",
    text=("{a} ⊙ {b}", ("{b}", "{a}")),
)
def _strong_product(x, y):
    return strong_product(x, y), y, x


@elementwise(np.true_divide, domain=((-2.0, 2.0), (0.5, 2.0)), text=("{a} / {b}", ("/{b}", "(−{a} / {b}²)")), dtypes=ALL_DTYPES)
def true_divide(x, y):
    r = 1.0 / y
    return x * r, r, -x * r * r


@elementwise(np.negative, text=("−{a}", ("-1",)), dtypes=ALL_DTYPES)
def negative(x):
    return -x, -1.0


@elementwise(np.positive, text=("+{a}", ("1",)), cuda=_cuda_positive, dtypes=ALL_DTYPES)
def positive(x):
    return np.positive(x), 1.0


@elementwise(
    np.power,
    domain=((0.3, 2.0), (-2.0, 2.0)),
    nondiff="d/dy at x = 0 is 0 where the value is 0; d/dx at x = 0 is its limit 0 when y = 0",
    text=("{a}^{b}", ("({b} × {a}^({b} − 1))", "({a}^{b} × ln {a})")),
    dtypes=ALL_DTYPES,
)
def power(x, y):
    v = x**y
    # At x = 0 with y = 0 the partial y·x^(y−1) is 0·inf: its limit 0 is taken by raising to
    # y − 1 + 1 there (x^0 = 1, times y = 0), which also makes nested orders exact (x**1.0).
    return v, y * x ** (y - 1.0 + (x == 0) * (y == 0)), v * np.log(x + (x == 0))


@elementwise(np.square, text=("{a}²", ("(2 × {a})",)), dtypes=ALL_DTYPES)
def square(x):
    return x * x, 2.0 * x


@elementwise(np.sqrt, domain=_POS, nondiff="sqrt'(0) = +inf", text=("√{a}", ("/(2√{a})",)), cuda=math.sqrt, dtypes=ALL_DTYPES)
def sqrt(x):
    v = np.sqrt(x)
    return v, 0.5 / v


@elementwise(np.cbrt, domain=_POS, nondiff="cbrt'(0) = +inf", text=("∛{a}", ("/(3∛{a}²)",)), cuda="libdevice.cbrt")
def cbrt(x):
    v = np.cbrt(x)
    return v, 1.0 / (3.0 * v * v)


@elementwise(np.reciprocal, domain=_POS, text=("1 / {a}", ("(−1 / {a}²)",)), dtypes=ALL_DTYPES)
def reciprocal(x):
    v = 1.0 / x
    return v, -v * v


# --- exponentials and logarithms --------------------------------------------------------------


@elementwise(np.exp, text=("exp {a}", ("exp {a}",)), cuda=math.exp, scalar=vecmath.scalar('exp'), dtypes=ALL_DTYPES)
def exp(x):
    v = np.exp(x)
    return v, v


@elementwise(np.exp2, text=("2^{a}", ("(2^{a} × ln 2)",)), cuda="libdevice.exp2", dtypes=ALL_DTYPES)
def exp2(x):
    v = np.exp2(x)
    return v, v * _LN2


@elementwise(np.expm1, text=("expm1 {a}", ("exp {a}",)), cuda=math.expm1, scalar=vecmath.scalar('expm1'), dtypes=ALL_DTYPES)
def expm1(x):
    v = np.expm1(x)
    return v, v + 1.0


@elementwise(np.log, domain=_POS, text=("ln {a}", ("/{a}",)), cuda=math.log, scalar=vecmath.scalar('log'), dtypes=ALL_DTYPES)
def log(x):
    return np.log(x), 1.0 / x


@elementwise(np.log2, domain=_POS, text=("log₂ {a}", ("/({a} × ln 2)",)), cuda=math.log2, dtypes=ALL_DTYPES)
def log2(x):
    return np.log2(x), 1.0 / (x * _LN2)


@elementwise(np.log10, domain=_POS, text=("log₁₀ {a}", ("/({a} × ln 10)",)), cuda=math.log10, dtypes=ALL_DTYPES)
def log10(x):
    return np.log10(x), 1.0 / (x * _LN10)


@elementwise(np.log1p, domain=((-0.8, 2.0),), text=("ln(1 + {a})", ("/(1 + {a})",)), cuda=math.log1p, scalar=vecmath.scalar('log1p'), dtypes=ALL_DTYPES)
def log1p(x):
    return np.log1p(x), 1.0 / (1.0 + x)


@elementwise(
    np.logaddexp, domain=((-3.0, 3.0), (-3.0, 3.0)),
    text=("ln(e^{a} + e^{b})", ("exp({a} − ln(e^{a} + e^{b}))", "exp({b} − ln(e^{a} + e^{b}))")),
    cuda=_cuda_logaddexp,
)
def logaddexp(x, y):
    v = np.logaddexp(x, y)
    return v, np.exp(x - v), np.exp(y - v)


@elementwise(
    np.logaddexp2, domain=((-3.0, 3.0), (-3.0, 3.0)),
    text=("log₂(2^{a} + 2^{b})", ("2^({a} − log₂(2^{a} + 2^{b}))", "2^({b} − log₂(2^{a} + 2^{b}))")),
    cuda=_cuda_logaddexp2,
)
def logaddexp2(x, y):
    v = np.logaddexp2(x, y)
    return v, np.exp2(x - v), np.exp2(y - v)


# --- trigonometric ----------------------------------------------------------------------------


@elementwise(np.sin, domain=((-3.0, 3.0),), text=("sin {a}", ("cos {a}",)), cuda=math.sin, scalar=vecmath.scalar('sin'), dtypes=ALL_DTYPES)
def sin(x):
    return np.sin(x), np.cos(x)


@elementwise(np.cos, domain=((-3.0, 3.0),), text=("cos {a}", ("(−sin {a})",)), cuda=math.cos, scalar=vecmath.scalar('cos'), dtypes=ALL_DTYPES)
def cos(x):
    return np.cos(x), -np.sin(x)


@elementwise(np.tan, domain=((-1.2, 1.2),), text=("tan {a}", ("(1 + tan² {a})",)), cuda=math.tan, dtypes=ALL_DTYPES)
def tan(x):
    v = np.tan(x)
    return v, 1.0 + v * v


@elementwise(np.arcsin, domain=_UNIT, text=("arcsin {a}", ("/√(1 − {a}²)",)), cuda=math.asin, dtypes=ALL_DTYPES)
def arcsin(x):
    return np.arcsin(x), 1.0 / np.sqrt(1.0 - x * x)


@elementwise(np.arccos, domain=_UNIT, text=("arccos {a}", ("(−1 / √(1 − {a}²))",)), cuda=math.acos, dtypes=ALL_DTYPES)
def arccos(x):
    return np.arccos(x), -1.0 / np.sqrt(1.0 - x * x)


@elementwise(np.arctan, text=("arctan {a}", ("/(1 + {a}²)",)), cuda=math.atan, dtypes=ALL_DTYPES)
def arctan(x):
    return np.arctan(x), 1.0 / (1.0 + x * x)


@elementwise(
    np.arctan2,
    domain=((0.2, 2.0), (0.2, 2.0)),
    nondiff="both partials are 0 at (0, 0)",
    text=("arctan2({a}, {b})", ("({b} / ({a}² + {b}²))", "(−{a} / ({a}² + {b}²))")),
    cuda=math.atan2,
)
def arctan2(x, y):
    r = x * x + y * y
    r = r + (r == 0)
    return np.arctan2(x, y), y / r, -x / r


@elementwise(
    np.hypot, nondiff="both partials are 0 at (0, 0)",
    text=("√({a}² + {b}²)", ("({a} / √({a}² + {b}²))", "({b} / √({a}² + {b}²))")),
    cuda=math.hypot,
)
def hypot(x, y):
    v = np.hypot(x, y)
    d = v + (v == 0)
    return v, x / d, y / d


@elementwise(np.deg2rad, text=("rad {a}", ("(π / 180)",)), cuda=math.radians)
def deg2rad(x):
    return np.deg2rad(x), _DEG


@elementwise(np.rad2deg, text=("deg {a}", ("(180 / π)",)), cuda=math.degrees)
def rad2deg(x):
    return np.rad2deg(x), 1.0 / _DEG


# The sweep's domain stays between sinc's zeros: near them sin(πx)/(πx) cancels, and float32
# values computed by NumPy (float32 throughout) and by the kernels (Numba widens πx to float64)
# differ in the last digits there.  Holomorphic (entire) on complex values.
@elementwise(np.sinc, domain=((-0.9, 0.9),), text=("sinc {a}", ("sinc′({a})",)), dtypes=ALL_DTYPES)
def sinc(x):
    xs = x + (x == 0)
    v = np.sin(_PI * x) / (_PI * xs) + (x == 0)  # sin(πx)/(πx), 1 at 0 (as np.sinc)
    # sinc'(x) = (cos πx − sinc x) / x cancels for small |x| (badly in float32): below 1/4 its
    # Taylor series, Σ (−1)^k π^2k 2k x^(2k−1) / (2k+1)!, to eight terms (float64 accurate, on
    # the disc |x| < 1/4 of the complex plane too); evaluated at 0 elsewhere (x finite) or NaN
    # (x infinite, where the other branch is NaN too), and dropped there.
    small = np.abs(x) < 0.25
    c = x * small
    c2 = c * c
    series = c * (-3.289868133696453 + c2 * (3.246969701133414 + c2 * (-1.144510944732505 + c2 * (
        0.20918278254123832 + c2 * (-0.023460810354558225 + c2 * (0.001781145516372851 + c2 * (
            -9.766223126318928e-05 + c2 * 4.049947846619241e-06)))))))
    return v, small * series + (1.0 - small) * ((np.cos(_PI * x) - v) / xs)


# --- hyperbolic -------------------------------------------------------------------------------


@elementwise(np.sinh, text=("sinh {a}", ("cosh {a}",)), cuda=math.sinh, dtypes=ALL_DTYPES)
def sinh(x):
    return np.sinh(x), np.cosh(x)


@elementwise(np.cosh, text=("cosh {a}", ("sinh {a}",)), cuda=math.cosh, dtypes=ALL_DTYPES)
def cosh(x):
    return np.cosh(x), np.sinh(x)


@elementwise(np.tanh, text=("tanh {a}", ("(1 − tanh² {a})",)), cuda=math.tanh, scalar=vecmath.scalar('tanh'), dtypes=ALL_DTYPES)
def tanh(x):
    v = np.tanh(x)
    return v, 1.0 - v * v


@elementwise(np.arcsinh, text=("arsinh {a}", ("/√({a}² + 1)",)), cuda=math.asinh, dtypes=ALL_DTYPES)
def arcsinh(x):
    return np.arcsinh(x), 1.0 / np.sqrt(x * x + 1.0)


@elementwise(np.arccosh, domain=((1.2, 3.0),), text=("arcosh {a}", ("/√({a}² − 1)",)), cuda=math.acosh, dtypes=ALL_DTYPES)
def arccosh(x):
    # √(x − 1)·√(x + 1), not √(x² − 1): the two differ in sign off the real axis (principal branches)
    return np.arccosh(x), 1.0 / (np.sqrt(x - 1.0) * np.sqrt(x + 1.0))


@elementwise(np.arctanh, domain=_UNIT, text=("artanh {a}", ("/(1 − {a}²)",)), cuda=math.atanh, dtypes=ALL_DTYPES)
def arctanh(x):
    return np.arctanh(x), 1.0 / (1.0 - x * x)


# --- complex parts ------------------------------------------------------------------------------
# Not holomorphic: on complex inputs the Wirtinger partials (∂/∂z, ∂/∂z̄) replace fn's partial,
# which is the derivative on real inputs (docs/complex.md).


@elementwise(np.conjugate, text=("conj {a}", ("1",)), cuda=_cuda_positive, dtypes=ALL_DTYPES)
def conjugate(x):
    return np.conjugate(x), 1.0


@conjugate.def_wirtinger
def _conjugate_wirtinger(z):
    return 0.0, 1.0


@elementwise(np.real, text=("Re {a}", ("1",)), cuda=_cuda_positive, dtypes=ALL_DTYPES)
def real(x):
    return np.real(x), 1.0


@real.def_wirtinger
def _real_wirtinger(z):
    return 0.5, 0.5  # Re z = (z + z̄) / 2


@elementwise(np.imag, text=("Im {a}", ("0",)), cuda=_cuda_zero, dtypes=ALL_DTYPES)
def imag(x):
    return np.imag(x), 0.0


@imag.def_wirtinger
def _imag_wirtinger(z):
    return -0.5j, 0.5j  # Im z = (z − z̄) / 2i


def _angle_inputs(z, deg=False):
    """``np.angle``'s arguments as the rule's one input (radians only)."""
    if deg:
        raise TypeError("np.angle(z, deg=True) on an active value: use np.angle(z) * (180 / np.pi)")
    return (z,)


@elementwise(
    np.angle, nondiff="derivative 0 at 0 (as arctan2 at (0, 0)); 0 on real inputs",
    text=("arg {a}", ("0",)), dtypes=ALL_DTYPES, parse=_angle_inputs, cuda=_cuda_angle,
)
def angle(x):
    return np.angle(x), 0.0


@angle.def_wirtinger
def _angle_wirtinger(z):
    # arg z = Im log z: ∂/∂z = 1 / 2iz = −i z̄ / 2|z|², ∂/∂z̄ = i z / 2|z|² (0 at z = 0)
    u, v, d = _unit(z)
    return -(v / d) - 1j * (u / d), -(v / d) + 1j * (u / d)


# --- piecewise --------------------------------------------------------------------------------


@elementwise(np.absolute, nondiff="abs'(0) = 0", text=("|{a}|", ("sign {a}",)), cuda=math.fabs, dtypes=ALL_DTYPES)
def absolute(x):
    return np.absolute(x), np.sign(x)


def _unit(z):
    """(Re, Im) of z / |z| by real divisions (NumPy's complex division overflows on subnormal
    divisors), (0, 0) at 0; and 2|z| (2 at 0), the denominator of the partials below."""
    a = np.absolute(z)
    a = a + (a == 0)
    return np.real(z) / a, np.imag(z) / a, 2.0 * a


@absolute.def_wirtinger
def _absolute_wirtinger(z):
    # |z| = √(z z̄): ∂/∂z = z̄ / 2|z|, ∂/∂z̄ = z / 2|z| (both 0 at z = 0, as abs'(0) = 0)
    u, v, _ = _unit(z)
    return 0.5 * u - 0.5j * v, 0.5 * u + 0.5j * v


@elementwise(np.fabs, nondiff="fabs'(0) = 0", text=("|{a}|", ("sign {a}",)), cuda=math.fabs)
def fabs(x):
    return np.fabs(x), np.sign(x)


@elementwise(
    np.copysign, domain=((0.2, 2.0), (-2.0, -0.2)), nondiff="d/dx at x = 0 is 0 (as abs); d/dy is 0",
    text=("copysign({a}, {b})", ("(sign {a} × sign {b})", "0")), cuda=math.copysign,
)
def copysign(x, y):
    return np.copysign(x, y), np.sign(x) * np.copysign(1.0, y), 0.0


@elementwise(
    np.fmod, domain=((1.3, 1.5), (0.8, 1.2)),
    nondiff="at the jumps (x/y an integer) the partials of the side fmod takes: 1 and −trunc(x/y)",
    text=("fmod({a}, {b})", ("1", "(−trunc({a} / {b}))")), cuda=math.fmod,
)
def fmod(x, y):
    v = np.fmod(x, y)
    return v, 1.0, -np.rint((x - v) / y)  # x = q·y + v with q an integer: exact


@elementwise(
    np.remainder, domain=((1.3, 1.5), (0.8, 1.2)),
    nondiff="at the jumps (x/y an integer) the partials of the side remainder takes: 1 and −floor(x/y)",
    text=("{a} mod {b}", ("1", "(−⌊{a} / {b}⌋)")), cuda=_cuda_remainder,
)
def remainder(x, y):
    v = np.remainder(x, y)
    return v, 1.0, -np.rint((x - v) / y)  # x = q·y + v with q an integer: exact


@elementwise(
    np.sign, nondiff="derivative 0 everywhere (including 0); on complex values that of z/|z|, 0 at 0",
    text=("sign {a}", ("0",)), cuda=_cuda_sign, dtypes=ALL_DTYPES,
)
def sign(x):
    return np.sign(x), 0.0


@sign.def_wirtinger
def _sign_wirtinger(z):
    # sign z = z / |z| (NumPy 2): ∂/∂z = 1 / 2|z|, ∂/∂z̄ = −z² / 2|z|³ (0 at z = 0).  JAX's
    # derivative of sign is 0 on complex values too; this one is the derivative.
    u, v, d = _unit(z)
    nonzero = (u != 0) | (v != 0)
    return (nonzero * 1.0) / d, (v * v - u * u) / d - 1j * ((2.0 * u * v) / d)


@elementwise(np.maximum, nondiff="ties split 0.5 / 0.5", text=("max({a}, {b})", None), cuda="native", dtypes=ALL_DTYPES)
def maximum(x, y):
    tie = 0.5 * (x == y)
    return np.maximum(x, y), (x > y) + tie, (y > x) + tie


@elementwise(np.minimum, nondiff="ties split 0.5 / 0.5", text=("min({a}, {b})", None), cuda="native", dtypes=ALL_DTYPES)
def minimum(x, y):
    tie = 0.5 * (x == y)
    return np.minimum(x, y), (x < y) + tie, (y < x) + tie


@elementwise(
    np.fmax, nondiff="ties split 0.5 / 0.5; a NaN operand gets 0, the other 1",
    text=("fmax({a}, {b})", None),
    cuda="native",
    dtypes=ALL_DTYPES,
)
def fmax(x, y):
    tie = 0.5 * (x == y)
    return np.fmax(x, y), (x > y) + tie + np.isnan(y) * (x == x), (y > x) + tie + np.isnan(x) * (y == y)


@elementwise(
    np.fmin, nondiff="ties split 0.5 / 0.5; a NaN operand gets 0, the other 1",
    text=("fmin({a}, {b})", None),
    cuda="native",
    dtypes=ALL_DTYPES,
)
def fmin(x, y):
    tie = 0.5 * (x == y)
    return np.fmin(x, y), (x < y) + tie + np.isnan(y) * (x == x), (y < x) + tie + np.isnan(x) * (y == y)


@elementwise(np.floor, nondiff="derivative 0 everywhere", text=("⌊{a}⌋", ("0",)), cuda=math.floor)
def floor(x):
    return np.floor(x), 0.0


@elementwise(np.ceil, nondiff="derivative 0 everywhere", text=("⌈{a}⌉", ("0",)), cuda=math.ceil)
def ceil(x):
    return np.ceil(x), 0.0


@elementwise(np.rint, nondiff="derivative 0 everywhere", text=("rint {a}", ("0",)), cuda="libdevice.rint", dtypes=ALL_DTYPES)
def rint(x):
    return np.rint(x), 0.0


@elementwise(np.trunc, nondiff="derivative 0 everywhere", text=("trunc {a}", ("0",)), cuda=math.trunc)
def trunc(x):
    return np.trunc(x), 0.0


def _clip_inputs(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue, max=np._NoValue, **kwargs):  # noqa: A002
    """``np.clip``'s arguments as the rule's three inputs; a missing bound is infinite."""
    if out is not None:
        raise TypeError("np.clip(..., out=...) cannot write derivatives into an existing array; drop out=")
    # ufunc keywords that change the values (where=, dtype=, ...) are refused, not ignored
    changing = sorted(k for k, v in kwargs.items() if k not in ("casting", "order", "subok") and not (k == "where" and v is True))
    if changing:
        raise TypeError(f"np.clip: keyword arguments {changing} are not supported on active values")
    lo = a_min if a_min is not np._NoValue else min
    hi = a_max if a_max is not np._NoValue else max
    lo = -np.inf if lo is np._NoValue or lo is None else lo
    hi = np.inf if hi is np._NoValue or hi is None else hi
    if isinstance(a, (bool, int, float)):  # the clipped value is an array, not a weak scalar
        a = np.asarray(a)
    return a, lo, hi


@elementwise(
    np.clip,
    domain=((-2.0, 2.0), (-3.0, -2.5), (2.5, 3.0)),
    nondiff="clip(x, lo, hi) = minimum(maximum(x, lo), hi): ties at a bound split 0.5 / 0.5",
    text=("clip({a}, {b}, {c})", None),
    parse=_clip_inputs,
)
def clip(x, lo, hi):
    m = np.maximum(x, lo)
    tie_lo = 0.5 * (x == lo)
    tie_hi = 0.5 * (m == hi)
    dm = (m < hi) + tie_hi
    return np.minimum(m, hi), dm * ((x > lo) + tie_lo), dm * ((lo > x) + tie_lo), (hi < m) + tie_hi


# --- machine-learning helpers (not ufuncs; exposed as dualad.relu etc.) -----------------------


# relu keeps the generic reading ``relu v₀`` / ``relu′(v₀)`` (text=None): tests/test_trace.py
# checks that path on it.  The partial is 1 for x > 0, else 0 (NaN included), written with rules
# rather than a comparison: inside a recorded gradient (``jit(grad(f))``) it is then an op of the
# program, computed again at each replay, not a guard that records ``f`` anew whenever the
# pattern of positive inputs changes (every step of a training loop).
@elementwise("relu", nondiff="relu'(0) = 0")
def relu(x):
    return np.maximum(x, 0.0), np.sign(np.fmax(x, 0.0))


@elementwise("sigmoid", domain=((-4.0, 4.0),), text=("σ({a})", ("σ′({a})",)))
def sigmoid(x):
    # exp(-x) may overflow to inf for x << 0, giving exactly 0: accurate at both ends.
    v = 1.0 / (1.0 + np.exp(-x))
    return v, v * (1.0 - v)


@elementwise("softplus", domain=((-4.0, 4.0),), text=("softplus {a}", ("σ({a})",)))
def softplus(x):
    # log(1 + e^x) without overflow; its derivative is the sigmoid.
    return np.logaddexp(0.0, x), 1.0 / (1.0 + np.exp(-x))
