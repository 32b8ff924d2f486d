"""The elementwise rule table: every elementwise derivative in dualad, each written once.

Each rule returns ``(value, d/dx0, d/dx1, ...)``.  Written with NumPy ufuncs and arithmetic on
comparisons only, so Numba compiles it per element and NumPy evaluates it on whole arrays and on
Duals/Variables of older nesting levels.  A constant partial is written as a float literal
(``0.0``): dualad then knows the input contributes nothing.

Non-differentiable points follow one table (DESIGN.md): relu'(0) = 0, abs'(0) = 0,
maximum/minimum ties split 0.5/0.5, sqrt'(0) = +inf, floor/ceil/rint/trunc/sign have zero
derivative.  ``x + (x == 0)`` is the idiom that turns a 0/0 at the origin into 0/1.
"""

from __future__ import annotations

import numpy as np

from .base import elementwise

_LN2 = 0.6931471805599453
_LN10 = 2.302585092994046
_DEG = 0.017453292519943295  # pi / 180

_POS = ((0.2, 3.0),)
_UNIT = ((-0.9, 0.9),)

# --- arithmetic -------------------------------------------------------------------------------


@elementwise(np.add)
def add(x, y):
    return x + y, 1.0, 1.0


@elementwise(np.subtract)
def subtract(x, y):
    return x - y, 1.0, -1.0


@elementwise(np.multiply)
def multiply(x, y):
    return x * y, y, x


@elementwise(np.true_divide, domain=((-2.0, 2.0), (0.5, 2.0)))
def true_divide(x, y):
    r = 1.0 / y
    return x * r, r, -x * r * r


@elementwise(np.negative)
def negative(x):
    return -x, -1.0


@elementwise(np.positive)
def positive(x):
    return np.positive(x), 1.0


@elementwise(
    np.power,
    domain=((0.3, 2.0), (-2.0, 2.0)),
    nondiff="d/dy at x = 0 is 0 where the value is 0",
)
def power(x, y):
    v = x**y
    return v, y * x ** (y - 1.0), v * np.log(x + (x == 0))


@elementwise(np.square)
def square(x):
    return x * x, 2.0 * x


@elementwise(np.sqrt, domain=_POS, nondiff="sqrt'(0) = +inf")
def sqrt(x):
    v = np.sqrt(x)
    return v, 0.5 / v


@elementwise(np.cbrt, domain=_POS, nondiff="cbrt'(0) = +inf")
def cbrt(x):
    v = np.cbrt(x)
    return v, 1.0 / (3.0 * v * v)


@elementwise(np.reciprocal, domain=_POS)
def reciprocal(x):
    v = 1.0 / x
    return v, -v * v


# --- exponentials and logarithms --------------------------------------------------------------


@elementwise(np.exp)
def exp(x):
    v = np.exp(x)
    return v, v


@elementwise(np.exp2)
def exp2(x):
    v = np.exp2(x)
    return v, v * _LN2


@elementwise(np.expm1)
def expm1(x):
    v = np.expm1(x)
    return v, v + 1.0


@elementwise(np.log, domain=_POS)
def log(x):
    return np.log(x), 1.0 / x


@elementwise(np.log2, domain=_POS)
def log2(x):
    return np.log2(x), 1.0 / (x * _LN2)


@elementwise(np.log10, domain=_POS)
def log10(x):
    return np.log10(x), 1.0 / (x * _LN10)


@elementwise(np.log1p, domain=((-0.8, 2.0),))
def log1p(x):
    return np.log1p(x), 1.0 / (1.0 + x)


@elementwise(np.logaddexp, domain=((-3.0, 3.0), (-3.0, 3.0)))
def logaddexp(x, y):
    v = np.logaddexp(x, y)
    return v, np.exp(x - v), np.exp(y - v)


@elementwise(np.logaddexp2, domain=((-3.0, 3.0), (-3.0, 3.0)))
def logaddexp2(x, y):
    v = np.logaddexp2(x, y)
    return v, np.exp2(x - v), np.exp2(y - v)


# --- trigonometric ----------------------------------------------------------------------------


@elementwise(np.sin, domain=((-3.0, 3.0),))
def sin(x):
    return np.sin(x), np.cos(x)


@elementwise(np.cos, domain=((-3.0, 3.0),))
def cos(x):
    return np.cos(x), -np.sin(x)


@elementwise(np.tan, domain=((-1.2, 1.2),))
def tan(x):
    v = np.tan(x)
    return v, 1.0 + v * v


@elementwise(np.arcsin, domain=_UNIT)
def arcsin(x):
    return np.arcsin(x), 1.0 / np.sqrt(1.0 - x * x)


@elementwise(np.arccos, domain=_UNIT)
def arccos(x):
    return np.arccos(x), -1.0 / np.sqrt(1.0 - x * x)


@elementwise(np.arctan)
def arctan(x):
    return np.arctan(x), 1.0 / (1.0 + x * x)


@elementwise(
    np.arctan2,
    domain=((0.2, 2.0), (0.2, 2.0)),
    nondiff="both partials are 0 at (0, 0)",
)
def arctan2(x, y):
    r = x * x + y * y
    r = r + (r == 0)
    return np.arctan2(x, y), y / r, -x / r


@elementwise(np.hypot, nondiff="both partials are 0 at (0, 0)")
def hypot(x, y):
    v = np.hypot(x, y)
    d = v + (v == 0)
    return v, x / d, y / d


@elementwise(np.deg2rad)
def deg2rad(x):
    return np.deg2rad(x), _DEG


@elementwise(np.rad2deg)
def rad2deg(x):
    return np.rad2deg(x), 1.0 / _DEG


# --- hyperbolic -------------------------------------------------------------------------------


@elementwise(np.sinh)
def sinh(x):
    return np.sinh(x), np.cosh(x)


@elementwise(np.cosh)
def cosh(x):
    return np.cosh(x), np.sinh(x)


@elementwise(np.tanh)
def tanh(x):
    v = np.tanh(x)
    return v, 1.0 - v * v


@elementwise(np.arcsinh)
def arcsinh(x):
    return np.arcsinh(x), 1.0 / np.sqrt(x * x + 1.0)


@elementwise(np.arccosh, domain=((1.2, 3.0),))
def arccosh(x):
    return np.arccosh(x), 1.0 / np.sqrt(x * x - 1.0)


@elementwise(np.arctanh, domain=_UNIT)
def arctanh(x):
    return np.arctanh(x), 1.0 / (1.0 - x * x)


# --- piecewise --------------------------------------------------------------------------------


@elementwise(np.absolute, nondiff="abs'(0) = 0")
def absolute(x):
    return np.absolute(x), np.sign(x)


@elementwise(np.sign, nondiff="derivative 0 everywhere (including 0)")
def sign(x):
    return np.sign(x), 0.0


@elementwise(np.maximum, nondiff="ties split 0.5 / 0.5")
def maximum(x, y):
    tie = 0.5 * (x == y)
    return np.maximum(x, y), (x > y) + tie, (y > x) + tie


@elementwise(np.minimum, nondiff="ties split 0.5 / 0.5")
def minimum(x, y):
    tie = 0.5 * (x == y)
    return np.minimum(x, y), (x < y) + tie, (y < x) + tie


@elementwise(np.fmax, nondiff="ties split 0.5 / 0.5; a NaN operand gets 0, the other 1")
def fmax(x, y):
    tie = 0.5 * (x == y)
    return np.fmax(x, y), (x > y) + tie + np.isnan(y) * (x == x), (y > x) + tie + np.isnan(x) * (y == y)


@elementwise(np.fmin, nondiff="ties split 0.5 / 0.5; a NaN operand gets 0, the other 1")
def fmin(x, y):
    tie = 0.5 * (x == y)
    return np.fmin(x, y), (x < y) + tie + np.isnan(y) * (x == x), (y < x) + tie + np.isnan(x) * (y == y)


@elementwise(np.floor, nondiff="derivative 0 everywhere")
def floor(x):
    return np.floor(x), 0.0


@elementwise(np.ceil, nondiff="derivative 0 everywhere")
def ceil(x):
    return np.ceil(x), 0.0


@elementwise(np.rint, nondiff="derivative 0 everywhere")
def rint(x):
    return np.rint(x), 0.0


@elementwise(np.trunc, nondiff="derivative 0 everywhere")
def trunc(x):
    return np.trunc(x), 0.0


@elementwise(
    "clip",
    domain=((-2.0, 2.0), (-3.0, -2.5), (2.5, 3.0)),
    nondiff="clip(x, lo, hi) = minimum(maximum(x, lo), hi): ties at a bound split 0.5 / 0.5",
)
def clip(x, lo, hi):
    m = np.maximum(x, lo)
    tie_lo = 0.5 * (x == lo)
    tie_hi = 0.5 * (m == hi)
    dm = (m < hi) + tie_hi
    return np.minimum(m, hi), dm * ((x > lo) + tie_lo), dm * ((lo > x) + tie_lo), (hi < m) + tie_hi


# --- machine-learning helpers (not ufuncs; exposed as dualad.relu etc.) -----------------------


@elementwise("relu", nondiff="relu'(0) = 0")
def relu(x):
    return np.maximum(x, 0.0), (x > 0) * 1.0


@elementwise("sigmoid", domain=((-4.0, 4.0),))
def sigmoid(x):
    # exp(-x) may overflow to inf for x << 0, giving exactly 0: accurate at both ends.
    v = 1.0 / (1.0 + np.exp(-x))
    return v, v * (1.0 - v)


@elementwise("softplus", domain=((-4.0, 4.0),))
def softplus(x):
    # log(1 + e^x) without overflow; its derivative is the sigmoid.
    return np.logaddexp(0.0, x), 1.0 / (1.0 + np.exp(-x))
