"""The rules of SciPy's special functions (``scipy.special``), each written once.

Like :mod:`dualad.rules.elementwise`, each rule returns ``(value, d/dx0, d/dx1, ...)`` written
with ufuncs and arithmetic, and every partial is itself an expression of rules (``gammaln′`` is
``psi``, ``psi′`` the Hurwitz zeta function ``ζ(2, x)``), so second and higher derivatives
follow.  The kernels call SciPy's own compiled implementations
(``scipy.special.cython_special``, bound by :mod:`dualad.rules.native`); ``math.erf`` and
``math.lgamma`` where they are exact.

Orders and shape parameters are differentiated where the derivative is an expression of these
functions; elsewhere (the order of ``jv``, ``iv``, ``yn``, ``polygamma``; ``a`` and ``b`` of
``betainc``) the rule declares the input as not differentiable
(``argnums``) and differentiating it raises, naming the input.

This module imports SciPy: ``dualad`` loads it when a SciPy ufunc first meets an active value
(or through :mod:`dualad.scipy`), not at ``import dualad``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import special as public
from scipy.special import _ufuncs
from scipy.special import _ufuncs as special  # the ufuncs themselves: SciPy's array-API mode wraps the public names

from . import hypergeom
from .base import ALL_DTYPES, RULES, elementwise
from .native import cython_special, cython_special_pair, jit

_TWO_OVER_SQRT_PI = 1.1283791670955126
_SQRT_PI_OVER_2 = 0.886226925452758
_INV_SQRT_2PI = 0.3989422804014327
_INV_SQRT_2 = 0.7071067811865476
_SQRT_2PI = 2.5066282746310002
_POS = ((0.3, 3.0),)
_PROB = ((0.05, 0.95),)
_PI = math.pi
_LN2 = math.log(2.0)
_ORDER = "not differentiable in the order"


def _native(name: str, nin: int = 1):
    return cython_special(name, nin)


# --- Hurwitz zeta: the derivatives of psi and polygamma -----------------------------------------
# SciPy does not export zeta(s, q) from cython_special; the kernels compile this Euler-Maclaurin
# summation (the algorithm of Cephes' zeta.c) instead.

_ZETA_A = (12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9, 7.47242496e10,
           -2.950130727918164224e12, 1.1646782814350067249e14, -4.5979787224074726105e15,
           1.8152105401943546773e17, -7.1661652561756670113e18)


def _zeta_scalar(x, q):
    if x == 1.0:
        return math.inf
    if x < 1.0:
        return math.nan
    if q <= 0.0:  # as Cephes: poles at the non-positive integers, defined for integer x only
        if q == math.floor(q):
            return math.inf
        if x != math.floor(x):
            return math.nan
    if x == 2.0:  # the trigamma function (psi's derivative): recurrence to q >= 10, then Stirling
        acc = 0.0
        while q < 1.0:  # near a pole: one term at a time
            acc += 1.0 / (q * q)
            q += 1.0
        num = 0.0
        den = 1.0
        while q < 10.0:  # the rest as one fraction: one division
            z2 = q * q
            num = num * z2 + den
            den = den * z2
            q += 1.0
        acc += num / den
        w = 1.0 / (q * q)
        tail = w * (1.0 / 6.0 - w * (1.0 / 30.0 - w * (1.0 / 42.0 - w * (1.0 / 30.0 - w * (5.0 / 66.0 - w * (691.0 / 2730.0 - w * (7.0 / 6.0)))))))
        return acc + (1.0 + 0.5 / q + tail) / q
    s = 1.0 / (q * q * q) if x == 3.0 else q ** -x  # cubes (psi's second derivative) without pow
    a = q
    i = 0
    b = 0.0
    while i < 9 or a <= 9.0:
        i += 1
        a += 1.0
        b = 1.0 / (a * a * a) if x == 3.0 else a ** -x
        s += b
        if abs(b / s) < 1.1102230246251565e-16:
            return s
    w = a
    s += b * w / (x - 1.0)
    s -= 0.5 * b
    fac = 1.0
    k = 0.0
    for j in range(12):
        fac *= x + k
        b /= w
        t = fac * b / _ZETA_A[j]
        s += t
        if abs(t / s) < 1.1102230246251565e-16:
            return s
        k += 1.0
        fac *= x + k
        b /= w
        k += 1.0
    return s


_BERNOULLI = (1.0 / 6.0, -1.0 / 30.0, 1.0 / 42.0, -1.0 / 30.0, 5.0 / 66.0, -691.0 / 2730.0, 7.0 / 6.0)


def zeta_ds(s, q):
    """∂ζ(s, q)/∂s = −Σ_k ln(k + q) (k + q)^−s: the Euler-Maclaurin summation of ζ (above),
    each term differentiated in s, from a = q + N ≥ s + 15 (a scalar function; the ufunc below)."""
    if not (s > 1.0 and q > 0.0):
        return math.nan
    acc = 0.0
    n = int(max(10.0, s + 15.0 - q)) + 1
    for k in range(n):
        acc -= math.log(k + q) * (k + q) ** -s
    a = q + n
    la = math.log(a)
    p = a ** (1.0 - s)
    acc -= p * la / (s - 1.0) + p / ((s - 1.0) * (s - 1.0)) + 0.5 * la * a ** -s
    rising = s  # (s)_{2j−1}, its derivative's share h = Σ 1/(s + i), and a^(−s−2j+1)
    h = 1.0 / s
    power = p / (a * a)
    fact = 2.0
    for j in range(7):
        acc += _BERNOULLI[j] / fact * rising * power * (h - la)
        rising *= (s + 2 * j + 1) * (s + 2 * j + 2)
        h += 1.0 / (s + 2 * j + 1) + 1.0 / (s + 2 * j + 2)
        power /= a * a
        fact *= (2 * j + 3) * (2 * j + 4)
    return acc


_zeta_ds_py = zeta_ds
zeta_ds = numba.vectorize(["float64(float64, float64)", "float32(float32, float32)"], cache=True)(_zeta_ds_py).ufunc


@elementwise(zeta_ds, domain=((2.0, 4.0), (0.3, 3.0)), argnums=(1,), scalar=jit(_zeta_ds_py),
             nondiff="not differentiable in s (the second derivative of zeta in s is not offered)",
             text=("∂ζ/∂s({a}, {b})", None))
def _zeta_ds(s, q):
    return zeta_ds(s, q), 0.0, -_ufuncs._zeta(s + 1.0, q) - s * zeta_ds(s + 1.0, q)


@elementwise(_ufuncs._zeta, domain=((2.0, 4.0), (0.3, 3.0)), scalar=jit(_zeta_scalar),
             text=("ζ({a}, {b})", ("∂ζ/∂s({a}, {b})", "(−{a} ζ({a} + 1, {b}))")))
def _zeta(s, q):
    return _ufuncs._zeta(s, q), zeta_ds(s, q), -s * _ufuncs._zeta(s + 1.0, q)


# --- error functions ----------------------------------------------------------------------------


# erf and erfc are entire functions: on complex numbers (SciPy's complex loops) the same partial
# is the complex derivative; complex arrays are evaluated with NumPy (math.erf is real-only).
@elementwise(special.erf, scalar=math.erf, text=("erf {a}", ("((2/√π) exp(−{a}²))",)), dtypes=ALL_DTYPES)
def erf(x):
    return special.erf(x), _TWO_OVER_SQRT_PI * np.exp(-x * x)


@elementwise(special.erfc, scalar=math.erfc, text=("erfc {a}", ("(−(2/√π) exp(−{a}²))",)), dtypes=ALL_DTYPES)
def erfc(x):
    return special.erfc(x), -_TWO_OVER_SQRT_PI * np.exp(-x * x)


@elementwise(special.erfinv, domain=((-0.9, 0.9),), scalar=_native("erfinv"), text=("erf⁻¹ {a}", None))
def erfinv(x):
    y = special.erfinv(x)
    return y, _SQRT_PI_OVER_2 * np.exp(y * y)


@elementwise(special.erfcinv, domain=((0.1, 1.9),), scalar=_native("erfcinv"), text=("erfc⁻¹ {a}", None))
def erfcinv(x):
    y = special.erfcinv(x)
    return y, -_SQRT_PI_OVER_2 * np.exp(y * y)


@elementwise(special.erfcx, scalar=_native("erfcx"), text=("erfcx {a}", ("(2{a} erfcx {a} − 2/√π)",)), dtypes=ALL_DTYPES)
def erfcx(x):
    y = special.erfcx(x)
    return y, 2.0 * x * y - _TWO_OVER_SQRT_PI


# The Faddeeva function w(z) = e^(−z²) erfc(−iz), entire: w′ = −2z w + 2i/√π.  SciPy's real loop
# returns complex values, which a real rule would truncate: complex dtypes only (a real value
# reaches it as a complex one, by dualad.scipy.special.wofz).
@elementwise(special.wofz, domain=((-2.0, 2.0),), dtypes=ALL_DTYPES[2:], text=("w({a})", ("(2i/√π − 2{a} w({a}))",)))
def wofz(z):
    y = special.wofz(z)
    return y, 1.1283791670955126j - 2.0 * z * y  # 2i/√π


@elementwise(special.dawsn, scalar=_native("dawsn"), text=("F({a})", ("(1 − 2{a} F({a}))",)))
def dawsn(x):
    y = special.dawsn(x)  # Dawson's integral: F′ = 1 − 2xF
    return y, 1.0 - 2.0 * x * y


@elementwise(special.owens_t, domain=((-2.0, 2.0), (-2.0, 2.0)), scalar=_native("owens_t", 2), text=("T({a}, {b})", None))
def owens_t(h, a):
    return (special.owens_t(h, a), -0.5 * _INV_SQRT_2PI * np.exp(-0.5 * h * h) * special.erf(a * h * _INV_SQRT_2),
            np.exp(-0.5 * h * h * (1.0 + a * a)) / (2.0 * _PI * (1.0 + a * a)))


# --- SciPy's two-output functions, one rule per output (dualad.scipy.special.sici, .fresnel) -------
# Each output is a function of its own: SciPy's on plain values, the rule itself on active ones
# (the rule's value expression meets those at nested levels).


def _output(fn, index, rule, x):
    if isinstance(x, (float, int, np.ndarray, np.generic)):
        return fn(x)[index]
    return RULES[rule](x)


def sici_si(x):
    """The sine integral Si(x), the first output of ``scipy.special.sici``."""
    return _output(special.sici, 0, "sici_si", x)


def sici_ci(x):
    """The cosine integral Ci(x) (of |x| for x < 0, as SciPy), the second output of ``sici``."""
    return _output(special.sici, 1, "sici_ci", x)


def fresnel_s(x):
    """The Fresnel integral S(x), the first output of ``scipy.special.fresnel``."""
    return _output(special.fresnel, 0, "fresnel_s", x)


def fresnel_c(x):
    """The Fresnel integral C(x), the second output of ``scipy.special.fresnel``."""
    return _output(special.fresnel, 1, "fresnel_c", x)


@elementwise(sici_si, scalar=cython_special_pair("sici", 0), nondiff="Si′(0) = 1, its limit", text=("Si({a})", None))
def _sici_si(x):
    z = (x == 0) * 1.0
    return sici_si(x), np.sin(x) / (x + z) + z


@elementwise(sici_ci, domain=_POS, scalar=cython_special_pair("sici", 1), nondiff="Ci′(0) = +inf",
             text=("Ci({a})", ("(cos {a} / {a})",)))
def _sici_ci(x):
    return sici_ci(x), np.cos(x) / x


@elementwise(fresnel_s, scalar=cython_special_pair("fresnel", 0), text=("S({a})", ("sin(π{a}²/2)",)))
def _fresnel_s(x):
    return fresnel_s(x), np.sin(0.5 * _PI * x * x)


@elementwise(fresnel_c, scalar=cython_special_pair("fresnel", 1), text=("C({a})", ("cos(π{a}²/2)",)))
def _fresnel_c(x):
    return fresnel_c(x), np.cos(0.5 * _PI * x * x)


# --- Spence's function (the dilogarithm) --------------------------------------------------------


@elementwise(special.spence, domain=((0.2, 3.0),), scalar=_native("spence"),
             nondiff="spence′(1) = −1, its limit (and its Taylor polynomial there for higher orders); spence′(0) = −inf",
             text=("spence({a})", ("(ln {a} / (1 − {a}))",)))
def spence(z):
    # spence(z) = ∫₁^z ln t / (1 − t) dt: the derivative ln z / (1 − z), and at z = 1 (0/0) the
    # series −ln(1 + u)/u = −1 + u/2 − u²/3 + u³/4 in u = z − 1 (exact there to the fourth order)
    one = (z == 1.0) * 1.0
    u = z - 1.0
    return special.spence(z), (1.0 - one) * np.log(z) / (one - u) + one * (u * (0.5 + u * (u * 0.25 - 1.0 / 3.0)) - 1.0)


# --- exponential integrals ----------------------------------------------------------------------


@elementwise(special.exp1, domain=_POS, scalar=_native("exp1"), text=("E₁({a})", ("(−e^−{a} / {a})",)))
def exp1(x):
    return special.exp1(x), -np.exp(-x) / x


@elementwise(special.expi, domain=_POS, scalar=_native("expi"), text=("Ei({a})", ("(e^{a} / {a})",)))
def expi(x):
    return special.expi(x), np.exp(x) / x


@elementwise(special.expn, domain=((0, 3), (0.3, 3.0)), argnums=(1,), scalar=_native("expn", 2), nondiff=_ORDER + " n (an integer)",
             text=("E_{a}({b})", ("0", "(−E_{a}−1({b}))")))
def expn(n, x):
    # E′_n = −E_{n−1} for n ≥ 1; E₀ = e^−x/x has E₀′ = −e^−x (1 + x)/x² (E_{−1} is not SciPy's)
    zero = (n == 0) * 1.0
    return special.expn(n, x), 0.0, (zero - 1.0) * special.expn(n - 1.0 + zero, x) - zero * np.exp(-x) * (1.0 + x) / (x * x)


# --- gamma and beta functions -------------------------------------------------------------------


@elementwise(special.psi, domain=_POS, scalar=_native("psi"), text=("ψ({a})", ("ζ(2, {a})",)))
def psi(x):
    return special.psi(x), _ufuncs._zeta(2.0, x)


@elementwise(special.gamma, domain=_POS, scalar=_native("gamma"), text=("Γ({a})", ("(Γ({a}) ψ({a}))",)))
def gamma(x):
    y = special.gamma(x)
    return y, y * special.psi(x)


@elementwise(special.gammaln, domain=_POS, scalar=math.lgamma, text=("ln|Γ({a})|", ("ψ({a})",)))
def gammaln(x):
    return special.gammaln(x), special.psi(x)


@elementwise(special.loggamma, domain=_POS, scalar=_native("loggamma"), text=("ln Γ({a})", ("ψ({a})",)))
def loggamma(x):
    return special.loggamma(x), special.psi(x)


@elementwise(special.poch, domain=((0.5, 3.0), (0.5, 3.0)), scalar=_native("poch", 2), text=("({a})_{b}", None))
def poch(z, m):
    y = special.poch(z, m)  # Γ(z + m) / Γ(z)
    d = special.psi(z + m)
    return y, y * (d - special.psi(z)), y * d


@elementwise(special.binom, domain=((2.0, 5.0), (0.3, 1.5)), scalar=_native("binom", 2), text=("C({a}, {b})", None))
def binom(n, k):
    y = special.binom(n, k)  # Γ(n + 1) / (Γ(k + 1) Γ(n − k + 1))
    d = special.psi(n - k + 1.0)
    return y, y * (special.psi(n + 1.0) - d), y * (d - special.psi(k + 1.0))


@elementwise(special.rgamma, domain=_POS, scalar=_native("rgamma"), text=("1/Γ({a})", ("(−ψ({a})/Γ({a}))",)))
def rgamma(x):
    y = special.rgamma(x)
    return y, -y * special.psi(x)


@elementwise(special.gammasgn, domain=_POS, scalar=_native("gammasgn"), nondiff="derivative 0 everywhere",
             text=("sgn Γ({a})", ("0",)))
def gammasgn(x):
    return special.gammasgn(x), 0.0


@elementwise(public.polygamma, domain=((0, 3), (0.3, 3.0)), argnums=(1,), nondiff=_ORDER + " n (an integer)",
             text=("ψ⁽{a}⁾({b})", ("0", "ψ⁽{a}⁺¹⁾({b})")))
def polygamma(n, x):
    # psi for n = 0, else (-1)^(n+1) n! zeta(n + 1, x); s avoids the pole of zeta at s = 1
    zero = n == 0
    s = n + 1.0 + zero
    c = -np.cos(_PI * n) * special.gamma(n + 1.0)
    value = zero * special.psi(x) + (1.0 - zero) * c * _ufuncs._zeta(s, x)
    return value, 0.0, zero * _ufuncs._zeta(2.0, x) - (1.0 - zero) * c * s * _ufuncs._zeta(s + 1.0, x)


@elementwise(special.beta, domain=((0.5, 3.0), (0.5, 3.0)), scalar=_native("beta", 2), text=("B({a}, {b})", None))
def beta(a, b):
    y = special.beta(a, b)
    d = special.psi(a + b)
    return y, y * (special.psi(a) - d), y * (special.psi(b) - d)


@elementwise(special.betaln, domain=((0.5, 3.0), (0.5, 3.0)), scalar=_native("betaln", 2), text=("ln|B({a}, {b})|", None))
def betaln(a, b):
    d = special.psi(a + b)
    return special.betaln(a, b), special.psi(a) - d, special.psi(b) - d


@elementwise(special.betainc, domain=((0.5, 3.0), (0.5, 3.0), (0.1, 0.9)), argnums=(2,), scalar=_native("betainc", 3),
             nondiff="not differentiable in a and b", text=("I_{c}({a}, {b})", None))
def betainc(a, b, x):
    density = np.exp((a - 1.0) * np.log(x) + (b - 1.0) * np.log1p(-x) - special.betaln(a, b))
    return special.betainc(a, b, x), 0.0, 0.0, density


@elementwise(special.betaincc, domain=((0.5, 3.0), (0.5, 3.0), (0.1, 0.9)), argnums=(2,), scalar=_native("betaincc", 3),
             nondiff="not differentiable in a and b", text=("(1 − I_{c}({a}, {b}))", None))
def betaincc(a, b, x):
    density = np.exp((a - 1.0) * np.log(x) + (b - 1.0) * np.log1p(-x) - special.betaln(a, b))
    return special.betaincc(a, b, x), 0.0, 0.0, -density


# --- the regularized incomplete gamma functions, in x and in a ------------------------------------
# d/da P(a, x) has no closed form: gammainc_da computes it, and gammainc_da2 its derivative in a (a ufunc Numba compiles, so that nested
# derivatives dispatch through it like any other).  For x below a + 20 + 2√a, the series
# P = e^(a ln x − x) / Γ(a + 1) Σ u_n with u_n = x^n / ((a + 1)...(a + n)), differentiated term by
# term; above, Q's integral from x to ∞ by 40-point Gauss-Laguerre quadrature.  Checked against
# 40-digit differences of mpmath's gammainc for a in [0.05, 150], x in [1e-3, 500]: relative
# error below 1e-10 or absolute below 1e-14.

_LAGUERRE = np.polynomial.laguerre.laggauss(40)
_LX = tuple(float(v) for v in _LAGUERRE[0])
_LW = tuple(float(v) for v in _LAGUERRE[1])


def _digamma_py(x):
    acc = 0.0
    while x < 10.0:
        acc -= 1.0 / x
        x += 1.0
    w = 1.0 / (x * x)
    series = w * (1.0 / 12.0 - w * (1.0 / 120.0 - w * (1.0 / 252.0 - w * (1.0 / 240.0 - w * (1.0 / 132.0 - w * (691.0 / 32760.0 - w / 12.0))))))
    return acc + math.log(x) - 0.5 / x - series


_digamma = numba.njit(cache=True, error_model="numpy")(_digamma_py)
_zeta_nb = numba.njit(cache=True, error_model="numpy")(_zeta_scalar)


@numba.njit(cache=True, error_model="numpy")
def _trigamma(q):
    return _zeta_nb(2.0, q)


@numba.njit(cache=True, error_model="numpy")
def _gammainc_in_a(a, x, second):
    """d/da (``second`` false) or d²/da² of P(a, x): the series, each term u_n differentiated
    (u_n' = −u_n H_n, u_n'' = u_n (H_n² + Σ 1/(a + k)²), H_n = Σ_{k≤n} 1/(a + k)), or the
    quadrature of Q, its integrand times (ln t − ψ(a)) or ((ln t − ψ(a))² − ψ′(a))."""
    if not (a > 0.0) or not (x >= 0.0):
        return math.nan
    if x == 0.0 or math.isinf(x):
        return 0.0
    lx = math.log(x)
    if x < a + 20.0 + 2.0 * math.sqrt(a):
        pref = math.exp(a * lx - x - math.lgamma(a + 1.0))
        big_l = lx - _digamma(a + 1.0)
        u, s, sh, shh, h, h2, n = 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0
        while True:
            n += 1.0
            r = 1.0 / (a + n)
            h += r
            h2 += r * r
            u *= x * r
            s += u
            sh += u * h
            shh += u * (h * h + h2)
            if u < 1e-17 * s and n > x - a:
                break
        if second:
            return pref * ((big_l * big_l - _trigamma(a + 1.0)) * s - 2.0 * big_l * sh + shh)
        return pref * (big_l * s - sh)
    da = _digamma(a)
    d2a = _trigamma(a) if second else 0.0
    lg = math.lgamma(a)
    acc = 0.0
    for i in range(len(_LX)):
        t = x + _LX[i]
        lt = math.log(t)
        dev = lt - da
        acc += _LW[i] * math.exp((a - 1.0) * lt - x - lg) * (dev * dev - d2a if second else dev)
    return -acc


def gammainc_da(a, x):
    """d/da of scipy.special.gammainc(a, x) (a scalar function; the ufunc below)."""
    return _gammainc_in_a(a, x, False)


def gammainc_da2(a, x):
    """d²/da² of scipy.special.gammainc(a, x) (a scalar function; the ufunc below)."""
    return _gammainc_in_a(a, x, True)


def _ufunc(fn):
    """A scalar function of floats (``(a, x)``, ``(a, b, x)``...) as a NumPy ufunc that Numba
    compiles (its wrapper keeps the loops alive)."""
    n = fn.__code__.co_argcount
    sigs = [f"{t}({', '.join([t] * n)})" for t in ("float64", "float32")]
    return numba.vectorize(sigs, cache=True)(fn).ufunc


_gammainc_da_py, _gammainc_da2_py = gammainc_da, gammainc_da2
gammainc_da, gammainc_da2 = _ufunc(_gammainc_da_py), _ufunc(_gammainc_da2_py)


@elementwise(gammainc_da2, domain=((0.5, 3.0), (0.2, 3.0)), argnums=(1,), scalar=jit(_gammainc_da2_py),
             nondiff="not differentiable in a (d³P/da³ is not offered)", text=("∂²P/∂a²({a}, {b})", None))
def _gammainc_da2(a, x):
    lx = np.log(x)
    dev = lx - special.psi(a)
    return gammainc_da2(a, x), 0.0, np.exp((a - 1.0) * lx - x - special.gammaln(a)) * (dev * dev - special._zeta(2.0, a))


@elementwise(gammainc_da, domain=((0.5, 3.0), (0.2, 3.0)), scalar=jit(_gammainc_da_py), text=("∂P/∂a({a}, {b})", None))
def _gammainc_da(a, x):
    lx = np.log(x)
    return gammainc_da(a, x), gammainc_da2(a, x), np.exp((a - 1.0) * lx - x - special.gammaln(a)) * (lx - special.psi(a))


@elementwise(special.gammainc, domain=((0.5, 3.0), (0.2, 3.0)), scalar=_native("gammainc", 2), text=("P({a}, {b})", None))
def gammainc(a, x):
    density = np.exp((a - 1.0) * np.log(x) - x - special.gammaln(a))
    return special.gammainc(a, x), gammainc_da(a, x), density


@elementwise(special.gammaincc, domain=((0.5, 3.0), (0.2, 3.0)), scalar=_native("gammaincc", 2), text=("Q({a}, {b})", None))
def gammaincc(a, x):
    density = np.exp((a - 1.0) * np.log(x) - x - special.gammaln(a))
    return special.gammaincc(a, x), -gammainc_da(a, x), -density


# --- distribution functions of scipy.stats' tests: chi-squared (P and Q at v/2, x/2), Student's t --


@elementwise(special.chdtr, domain=((1.0, 6.0), (0.4, 6.0)), scalar=_native("chdtr", 2), text=("χ²cdf({a}, {b})", None))
def chdtr(v, x):
    density = np.exp((0.5 * v - 1.0) * np.log(x) - 0.5 * x - special.gammaln(0.5 * v) - 0.5 * v * _LN2)
    return special.chdtr(v, x), 0.5 * gammainc_da(0.5 * v, 0.5 * x), density


@elementwise(special.chdtrc, domain=((1.0, 6.0), (0.4, 6.0)), scalar=_native("chdtrc", 2), text=("χ²sf({a}, {b})", None))
def chdtrc(v, x):
    density = np.exp((0.5 * v - 1.0) * np.log(x) - 0.5 * x - special.gammaln(0.5 * v) - 0.5 * v * _LN2)
    return special.chdtrc(v, x), -0.5 * gammainc_da(0.5 * v, 0.5 * x), -density


@elementwise(special.stdtr, domain=((1.0, 8.0), (-3.0, 3.0)), argnums=(1,), scalar=_native("stdtr", 2),
             nondiff="not differentiable in the degrees of freedom df", text=("t_cdf({a}, {b})", None))
def stdtr(df, t):
    log_density = special.gammaln(0.5 * (df + 1.0)) - special.gammaln(0.5 * df) - 0.5 * np.log(df * _PI) \
        - 0.5 * (df + 1.0) * np.log1p(t * t / df)
    return special.stdtr(df, t), 0.0, np.exp(log_density)


# --- logistic, logs and entropies ---------------------------------------------------------------


@elementwise(special.expit, domain=((-4.0, 4.0),), scalar=_native("expit"), text=("σ({a})", ("(σ({a})(1 − σ({a})))",)))
def expit(x):
    y = special.expit(x)
    return y, y * (1.0 - y)


@elementwise(special.logit, domain=_PROB, scalar=_native("logit"), text=("logit {a}", ("/({a}(1 − {a}))",)))
def logit(x):
    return special.logit(x), 1.0 / (x * (1.0 - x))


@elementwise(special.xlogy, domain=((-2.0, 2.0), (0.2, 3.0)), scalar=_native("xlogy", 2),
             nondiff="0 at x = 0 whatever y", text=("{a} ln {b}", ("ln {b}", "({a} / {b})")))
def xlogy(x, y):
    return special.xlogy(x, y), np.log(y), x / y


@elementwise(special.xlog1py, domain=((-2.0, 2.0), (-0.8, 2.0)), scalar=_native("xlog1py", 2),
             nondiff="0 at x = 0 whatever y", text=("{a} ln(1 + {b})", ("ln(1 + {b})", "({a} / (1 + {b}))")))
def xlog1py(x, y):
    return special.xlog1py(x, y), np.log1p(y), x / (1.0 + y)


@elementwise(special.entr, domain=_POS, scalar=_native("entr"), nondiff="−x ln x, −inf for x < 0; entr′(0) = +inf",
             text=("entr {a}", ("(−ln {a} − 1)",)))
def entr(x):
    return special.entr(x), -np.log(x) - 1.0


@elementwise(special.rel_entr, domain=(_POS[0], _POS[0]), scalar=_native("rel_entr", 2), text=("rel_entr({a}, {b})", None))
def rel_entr(x, y):
    r = np.log(x / y)
    return special.rel_entr(x, y), r + 1.0, -x / y


@elementwise(special.kl_div, domain=(_POS[0], _POS[0]), scalar=_native("kl_div", 2), text=("kl_div({a}, {b})", None))
def kl_div(x, y):
    return special.kl_div(x, y), np.log(x / y), 1.0 - x / y


# --- the normal distribution --------------------------------------------------------------------


@elementwise(special.ndtr, scalar=_native("ndtr"), text=("Φ({a})", ("φ({a})",)))
def ndtr(x):
    return special.ndtr(x), _INV_SQRT_2PI * np.exp(-0.5 * x * x)


@elementwise(special.ndtri, domain=_PROB, scalar=_native("ndtri"), text=("Φ⁻¹({a})", ("/φ(Φ⁻¹({a}))",)))
def ndtri(p):
    y = special.ndtri(p)
    return y, _SQRT_2PI * np.exp(0.5 * y * y)


@elementwise(special.log_ndtr, domain=((-4.0, 3.0),), scalar=_native("log_ndtr"), text=("ln Φ({a})", ("(φ({a}) / Φ({a}))",)))
def log_ndtr(x):
    y = special.log_ndtr(x)
    return y, _INV_SQRT_2PI * np.exp(-0.5 * x * x - y)


# --- Bessel functions ---------------------------------------------------------------------------


@elementwise(special.i0, scalar=_native("i0"), text=("I₀({a})", ("I₁({a})",)))
def i0(x):
    return special.i0(x), special.i1(x)


@elementwise(special.i1, scalar=_native("i1"), text=("I₁({a})", ("(I₀({a}) − I₁({a}) / {a})",)))
def i1(x):
    # I₁′ = I₀ − I₁/x (no I₂, a costly iv): the value read, and the limit 1/2 at x = 0
    y = special.i1(x)
    z = (x == 0) * 1.0
    return y, special.i0(x) - y / (x + z) - 0.5 * z


@elementwise(special.i0e, domain=((0.2, 3.0),), scalar=_native("i0e"), nondiff="i0e′(0) = 0",
             text=("I₀ₑ({a})", ("(I₁ₑ({a}) − sign({a}) I₀ₑ({a}))",)))
def i0e(x):
    y = special.i0e(x)
    return y, special.i1e(x) - np.sign(x) * y


@elementwise(special.i1e, domain=((0.2, 3.0),), scalar=_native("i1e"), nondiff="one-sided at 0: i1e′(0) = 1/2",
             text=("I₁ₑ({a})", None))
def i1e(x):
    # i1e′ = i0e − i1e/x − sign(x) i1e (no ive of order 2); 1/2 at x = 0
    y = special.i1e(x)
    z = (x == 0) * 1.0
    return y, special.i0e(x) - y / (x + z) - 0.5 * z - np.sign(x) * y


@elementwise(special.iv, domain=((0.0, 3.0), (0.2, 3.0)), argnums=(1,), scalar=_native("iv", 2), nondiff=_ORDER + " v",
             text=("I_{a}({b})", ("0", "(I_{a}±1({b}) + (|{a}|/{b}) I_{a}({b}))")))
def iv(v, x):
    # I′_v = I_{v+1} + (v/x) I_v = I_{v−1} − (v/x) I_v, the one of two terms of one sign (for
    # v ≥ 0, resp. v < 0, and x > 0): one Bessel function besides the value, which the partial
    # reads (the adjoint kernels are given it), and I_v's overflow to inf gives inf.  The
    # product (|v|/x) I_v reads 0 · inf as 0 (v = 0 where I_0 overflows).  At x = 0 the limit
    # ½(I_{v−1}(0) + I_{v+1}(0)) with SciPy's values: the order v − 1 there, v I_v(0) = 0 but
    # at the pole of an order v < 0 not an integer (SciPy's +inf there, as its I_{v−1}(0)),
    # and I_{v+1}(0) = 1 for v = −1.
    y = special.iv(v, x)
    z = (x == 0) * 1.0
    s = 1.0 - 2.0 * (v < 0)
    t = np.abs(v) / (x + z) * y
    t = np.fmin(t, 0.0) + np.fmax(t, 0.0)
    return y, 0.0, (1.0 - 0.5 * z) * special.iv(v + s - (s + 1.0) * z, x) + t + 0.5 * z * (v == -1.0)


@elementwise(special.ive, domain=((0.0, 3.0), (0.2, 3.0)), argnums=(1,), scalar=_native("ive", 2), nondiff=_ORDER + " v",
             text=("I_{a}ₑ({b})", None))
def ive(v, x):
    # ive_v = I_v e^(−|x|): ive′_v = ive_{v±1} + (|v|/x − sign x) ive_v as iv's, the same limit
    # at x = 0 (ive does not overflow)
    y = special.ive(v, x)
    z = (x == 0) * 1.0
    s = 1.0 - 2.0 * (v < 0)
    return y, 0.0, (1.0 - 0.5 * z) * special.ive(v + s - (s + 1.0) * z, x) + (np.abs(v) / (x + z) - np.sign(x)) * y \
        + 0.5 * z * (v == -1.0)


@elementwise(special.j0, scalar=_native("j0"), text=("J₀({a})", ("(−J₁({a}))",)))
def j0(x):
    return special.j0(x), -special.j1(x)


@elementwise(special.j1, scalar=_native("j1"), text=("J₁({a})", ("(J₀({a}) − J₁({a}) / {a})",)))
def j1(x):
    # J₁′ = J₀ − J₁/x (no J₂, a costly jv): the value read, and the limit 1/2 at x = 0
    y = special.j1(x)
    z = (x == 0) * 1.0
    return y, special.j0(x) - y / (x + z) - 0.5 * z


@elementwise(special.jv, domain=((0.0, 3.0), (0.2, 3.0)), argnums=(1,), scalar=_native("jv", 2), nondiff=_ORDER + " v",
             text=("J_{a}({b})", ("0", "(({a}/{b}) J_{a}({b}) − J_{a}+1({b}))")))
def jv(v, x):
    # J′_v = (v/x) J_v − J_{v+1}: one Bessel function besides the value, which the partial reads
    # (the adjoint kernels are given it).  At x = 0 the limit ½(J_{v−1}(0) − J_{v+1}(0)): the
    # order v − 1 in place of v + 1 there, and J_{v+1}(0) = 1 for v = −1, else 0 (or infinite
    # with J_{v−1}(0) and v J_v(0) of one sign, for v < −1 not an integer: a pole, ±inf).
    y = special.jv(v, x)
    z = (x == 0) * 1.0
    w = special.jv(v + 1.0 - 2.0 * z, x)
    return y, 0.0, (v / (x + z)) * y - (1.0 - 1.5 * z) * w - 0.5 * z * (v == -1.0)


@elementwise(special.y0, domain=_POS, scalar=_native("y0"), text=("Y₀({a})", ("(−Y₁({a}))",)))
def y0(x):
    return special.y0(x), -special.y1(x)


@elementwise(special.y1, domain=_POS, scalar=_native("y1"), text=("Y₁({a})", ("(Y₀({a}) − Y₁({a}) / {a})",)))
def y1(x):
    y = special.y1(x)  # the partial reads the value: the adjoint kernels compute Y₀ alone
    return y, special.y0(x) - y / x


@elementwise(special.yn, domain=((0, 3), (0.3, 3.0)), argnums=(1,), scalar=_native("yn", 2), nondiff=_ORDER + " n (an integer)",
             text=("Y_{a}({b})", ("0", "((Y_{a}−1({b}) − Y_{a}+1({b})) / 2)")))
def yn(n, x):
    return special.yn(n, x), 0.0, 0.5 * (special.yn(n - 1.0, x) - special.yn(n + 1.0, x))


# --- Box-Cox transforms: (x^λ − 1)/λ and the same of 1 + x -----------------------------------------
# d/dλ = (u eᵘ − (eᵘ − 1))/λ² with u = λ ln x: boxcox_dlambda computes it (its Taylor series in u
# where the difference cancels) as a ufunc Numba compiles, so that nested derivatives in x reach it.


def boxcox_dlambda(lx, lmbda):
    u = lmbda * lx
    if abs(u) < 0.01:
        return lx * lx * (0.5 + u * (1.0 / 3.0 + u * (0.125 + u * (1.0 / 30.0 + u / 144.0))))
    return (u * math.exp(u) - math.expm1(u)) / (lmbda * lmbda)


_boxcox_dlambda_py = boxcox_dlambda
boxcox_dlambda = _ufunc(_boxcox_dlambda_py)


@elementwise(boxcox_dlambda, domain=((0.2, 1.5), (-1.0, 1.0)), argnums=(0,), scalar=jit(_boxcox_dlambda_py),
             nondiff="not differentiable in λ (the second derivative of boxcox in λ is not offered)",
             text=("∂boxcox/∂λ({a}, {b})", None))
def _boxcox_dlambda(lx, lmbda):
    return boxcox_dlambda(lx, lmbda), lx * np.exp(lmbda * lx), 0.0


@elementwise(special.boxcox, domain=((0.3, 3.0), (-1.0, 1.0)), scalar=_native("boxcox", 2), text=("boxcox({a}, {b})", None))
def boxcox(x, lmbda):
    lx = np.log(x)
    return special.boxcox(x, lmbda), np.exp((lmbda - 1.0) * lx), boxcox_dlambda(lx, lmbda)


@elementwise(special.boxcox1p, domain=((-0.5, 3.0), (-1.0, 1.0)), scalar=_native("boxcox1p", 2),
             text=("boxcox1p({a}, {b})", None))
def boxcox1p(x, lmbda):
    lx = np.log1p(x)
    return special.boxcox1p(x, lmbda), np.exp((lmbda - 1.0) * lx), boxcox_dlambda(lx, lmbda)


# --- hypergeometric functions: d/dx of ₁F₁ and ₂F₁ are the functions at shifted parameters; the
# parameter derivatives are series (dualad.rules.hypergeom), ufuncs whose derivatives in x are
# expressions of them again (nested derivatives in x to any order; in the parameters, the first).

hyp1f1_da, hyp1f1_db = _ufunc(hypergeom.hyp1f1_da), _ufunc(hypergeom.hyp1f1_db)
hyp2f1_da, hyp2f1_db, hyp2f1_dc = (_ufunc(hypergeom.hyp2f1_da), _ufunc(hypergeom.hyp2f1_db),
                                   _ufunc(hypergeom.hyp2f1_dc))
_H1 = ((0.5, 2.0), (0.5, 2.0), (0.1, 2.0))
_H2 = ((0.2, 1.5), (0.2, 1.5), (0.5, 2.0), (0.1, 0.8))
_SECOND = "not differentiable in the parameters (second derivatives of {} in them are not offered)"


@elementwise(hyp1f1_da, domain=_H1, argnums=(2,), scalar=jit(hypergeom.hyp1f1_da), nondiff=_SECOND.format("hyp1f1"),
             text=("∂₁F₁/∂a({a}; {b}; {c})", None))
def _hyp1f1_da(a, b, x):
    return hyp1f1_da(a, b, x), 0.0, 0.0, (special.hyp1f1(a + 1.0, b + 1.0, x) + a * hyp1f1_da(a + 1.0, b + 1.0, x)) / b


@elementwise(hyp1f1_db, domain=_H1, argnums=(2,), scalar=jit(hypergeom.hyp1f1_db), nondiff=_SECOND.format("hyp1f1"),
             text=("∂₁F₁/∂b({a}; {b}; {c})", None))
def _hyp1f1_db(a, b, x):
    return hyp1f1_db(a, b, x), 0.0, 0.0, a / b * (hyp1f1_db(a + 1.0, b + 1.0, x) - special.hyp1f1(a + 1.0, b + 1.0, x) / b)


@elementwise(special.hyp1f1, domain=_H1, scalar=_native("hyp1f1", 3), text=("₁F₁({a}; {b}; {c})", None))
def hyp1f1(a, b, x):
    return special.hyp1f1(a, b, x), hyp1f1_da(a, b, x), hyp1f1_db(a, b, x), a / b * special.hyp1f1(a + 1.0, b + 1.0, x)


@elementwise(hyp2f1_da, domain=_H2, argnums=(3,), scalar=jit(hypergeom.hyp2f1_da), nondiff=_SECOND.format("hyp2f1"),
             text=("∂₂F₁/∂a({a}, {b}; {c}; {d})", None))
def _hyp2f1_da(a, b, c, x):
    up = special.hyp2f1(a + 1.0, b + 1.0, c + 1.0, x) + a * hyp2f1_da(a + 1.0, b + 1.0, c + 1.0, x)
    return hyp2f1_da(a, b, c, x), 0.0, 0.0, 0.0, b / c * up


@elementwise(hyp2f1_db, domain=_H2, argnums=(3,), scalar=jit(hypergeom.hyp2f1_db), nondiff=_SECOND.format("hyp2f1"),
             text=("∂₂F₁/∂b({a}, {b}; {c}; {d})", None))
def _hyp2f1_db(a, b, c, x):
    up = special.hyp2f1(a + 1.0, b + 1.0, c + 1.0, x) + b * hyp2f1_db(a + 1.0, b + 1.0, c + 1.0, x)
    return hyp2f1_db(a, b, c, x), 0.0, 0.0, 0.0, a / c * up


@elementwise(hyp2f1_dc, domain=_H2, argnums=(3,), scalar=jit(hypergeom.hyp2f1_dc), nondiff=_SECOND.format("hyp2f1"),
             text=("∂₂F₁/∂c({a}, {b}; {c}; {d})", None))
def _hyp2f1_dc(a, b, c, x):
    up = hyp2f1_dc(a + 1.0, b + 1.0, c + 1.0, x) - special.hyp2f1(a + 1.0, b + 1.0, c + 1.0, x) / c
    return hyp2f1_dc(a, b, c, x), 0.0, 0.0, 0.0, a * b / c * up


@elementwise(special.hyp2f1, domain=_H2, scalar=_native("hyp2f1", 4), text=("₂F₁({a}, {b}; {c}; {d})", None))
def hyp2f1(a, b, c, x):
    return (special.hyp2f1(a, b, c, x), hyp2f1_da(a, b, c, x), hyp2f1_db(a, b, c, x), hyp2f1_dc(a, b, c, x),
            a * b / c * special.hyp2f1(a + 1.0, b + 1.0, c + 1.0, x))


# --- inverses of distribution functions (the quantile functions of dualad.scipy.stats) -------------
# d/dy F⁻¹(y) = 1 / F′(F⁻¹(y)): the density at the quantile, written with the rules above.

_LOG_PI = 1.1447298858494002


@elementwise(special.gammaincinv, domain=((0.5, 3.0), (0.1, 0.9)), argnums=(1,), scalar=_native("gammaincinv", 2),
             nondiff="not differentiable in a", text=("P⁻¹({a}, {b})", None))
def gammaincinv(a, y):
    x = special.gammaincinv(a, y)
    return x, 0.0, np.exp(x - (a - 1.0) * np.log(x) + special.gammaln(a))


@elementwise(special.betaincinv, domain=((0.5, 3.0), (0.5, 3.0), (0.1, 0.9)), argnums=(2,), scalar=_native("betaincinv", 3),
             nondiff="not differentiable in a and b", text=("I⁻¹_{c}({a}, {b})", None))
def betaincinv(a, b, y):
    x = special.betaincinv(a, b, y)
    return x, 0.0, 0.0, np.exp(special.betaln(a, b) - (a - 1.0) * np.log(x) - (b - 1.0) * np.log1p(-x))


@elementwise(special.stdtrit, domain=((1.5, 6.0), (0.1, 0.9)), argnums=(1,), scalar=_native("stdtrit", 2),
             nondiff="not differentiable in df", text=("t⁻¹_{a}({b})", None))
def stdtrit(df, p):
    t = special.stdtrit(df, p)
    log_pdf = special.gammaln(0.5 * (df + 1.0)) - special.gammaln(0.5 * df) - 0.5 * (np.log(df) + _LOG_PI) - 0.5 * (df + 1.0) * np.log1p(t * t / df)
    return t, 0.0, np.exp(-log_pdf)


# --- SciPy's own versions of NumPy's functions: ufuncs of their own, whose values differ from
# NumPy's in the last bit (Cephes' algorithms), so each is its own rule, named special_<name> --------

_LN10 = math.log(10.0)


@elementwise(special.log1p, name="special_log1p", domain=((-0.8, 2.0),), scalar=_native("log1p"),
             text=("ln(1 + {a})", ("/(1 + {a})",)))
def special_log1p(x):
    return special.log1p(x), 1.0 / (1.0 + x)


@elementwise(special.expm1, name="special_expm1", scalar=_native("expm1"), text=("expm1 {a}", ("exp {a}",)))
def special_expm1(x):
    y = special.expm1(x)
    return y, y + 1.0


@elementwise(special.exp2, name="special_exp2", scalar=_native("exp2"), text=("2^{a}", ("(2^{a} × ln 2)",)))
def special_exp2(x):
    y = special.exp2(x)
    return y, y * _LN2


@elementwise(special.cbrt, name="special_cbrt", domain=_POS, scalar=_native("cbrt"), nondiff="cbrt'(0) = +inf",
             text=("∛{a}", ("/(3∛{a}²)",)))
def special_cbrt(x):
    y = special.cbrt(x)
    return y, 1.0 / (3.0 * y * y)


@elementwise(special.round, name="special_round", scalar=_native("round"), nondiff="derivative 0 everywhere",
             text=("round {a}", ("0",)))
def special_round(x):
    return special.round(x), 0.0


# --- closed forms: logistic, exponentials, trigonometric functions in degrees ------------------------

_DEG = _PI / 180.0


@elementwise(special.log_expit, domain=((-4.0, 4.0),), scalar=_native("log_expit"), text=("ln σ({a})", ("σ(−{a})",)))
def log_expit(x):
    return special.log_expit(x), special.expit(-x)


@elementwise(special.exp10, scalar=_native("exp10"), text=("10^{a}", ("(10^{a} × ln 10)",)))
def exp10(x):
    y = special.exp10(x)
    return y, y * _LN10


@elementwise(special.exprel, scalar=_native("exprel"), nondiff="exprel′(0) = 1/2, its limit",
             text=("exprel {a}", ("((e^{a} − exprel {a}) / {a})",)))
def exprel(x):
    # exprel = (eˣ − 1)/x: exprel′ = (eˣ − exprel)/x (a difference of O(x), not the O(x²) one of
    # (eˣ(x − 1) + 1)/x²), and the limit 1/2 at x = 0
    y = special.exprel(x)
    z = (x == 0) * 1.0
    return y, (np.exp(x) - y) / (x + z) + 0.5 * z


@elementwise(special.cosm1, scalar=_native("cosm1"), text=("(cos {a} − 1)", ("(−sin {a})",)))
def cosm1(x):
    return special.cosm1(x), -np.sin(x)


@elementwise(special.powm1, domain=((0.3, 3.0), (-2.0, 2.0)), scalar=_native("powm1", 2),
             nondiff="x > 0 (the derivative in y reads ln x)", text=("({a}^{b} − 1)", ("({b} {a}^({b} − 1))", "({a}^{b} ln {a})")))
def powm1(x, y):
    v = special.powm1(x, y)
    return v, y * np.power(x, y - 1.0), (v + 1.0) * np.log(x)


@elementwise(special.erfi, scalar=_native("erfi"), text=("erfi {a}", ("((2/√π) exp({a}²))",)))
def erfi(x):
    return special.erfi(x), _TWO_OVER_SQRT_PI * np.exp(x * x)


@elementwise(special.sindg, domain=((-170.0, 170.0),), scalar=_native("sindg"), text=("sin({a}°)", ("((π/180) cos({a}°))",)))
def sindg(x):
    return special.sindg(x), _DEG * special.cosdg(x)


@elementwise(special.cosdg, domain=((-170.0, 170.0),), scalar=_native("cosdg"), text=("cos({a}°)", ("(−(π/180) sin({a}°))",)))
def cosdg(x):
    return special.cosdg(x), -_DEG * special.sindg(x)


@elementwise(special.tandg, domain=((-80.0, 80.0),), scalar=_native("tandg"), text=("tan({a}°)", ("((π/180)(1 + tan²({a}°)))",)))
def tandg(x):
    y = special.tandg(x)
    return y, _DEG * (1.0 + y * y)


@elementwise(special.cotdg, domain=((10.0, 170.0),), scalar=_native("cotdg"), text=("cot({a}°)", ("(−(π/180)(1 + cot²({a}°)))",)))
def cotdg(x):
    y = special.cotdg(x)
    return y, -_DEG * (1.0 + y * y)


@elementwise(special.wrightomega, scalar=_native("wrightomega"), text=("ω({a})", ("(ω({a}) / (1 + ω({a})))",)))
def wrightomega(x):
    w = special.wrightomega(x)  # w + ln w = x: w′ = w / (1 + w)
    return w, w / (1.0 + w)


# --- Huber losses: in the residual r and in delta -------------------------------------------------


@elementwise(special.huber, domain=((0.5, 2.0), (-3.0, 3.0)), scalar=_native("huber", 2),
             nondiff="the second derivatives jump at |r| = delta (the quadratic branch's there); delta < 0: inf, derivatives 0",
             text=("huber({a}, {b})", None))
def huber(delta, r):
    # r²/2 for |r| ≤ δ, else δ(|r| − δ/2): ∂r = r or δ sign r, ∂δ = 0 or |r| − δ (continuous at |r| = δ)
    a = np.abs(r)
    inner = (a <= delta) * 1.0
    outer = (a > delta) * (delta >= 0) * 1.0
    return special.huber(delta, r), outer * (a - delta), inner * r + outer * delta * np.sign(r)


@elementwise(special.pseudo_huber, domain=((0.5, 2.0), (-3.0, 3.0)), scalar=_native("pseudo_huber", 2),
             nondiff="delta > 0", text=("pseudo_huber({a}, {b})", None))
def pseudo_huber(delta, r):
    # δ²(√(1 + (r/δ)²) − 1): ∂r = r/s, ∂δ = 2v/δ − r²/(δ s) with s = √(1 + (r/δ)²) (v read, no s − 1)
    v = special.pseudo_huber(delta, r)
    s = np.sqrt(1.0 + (r / delta) ** 2)
    return v, 2.0 * v / delta - r * r / (delta * s), r / s


# --- inverse Box-Cox transforms: the inverse function's derivatives, written with boxcox's ---------
# x = inv_boxcox(y, λ) solves boxcox(x, λ) = y: ∂x/∂y = 1/x^(λ−1) and ∂x/∂λ = −∂boxcox/∂λ · ∂x/∂y.


@elementwise(special.inv_boxcox, domain=((-0.5, 0.9), (-1.0, 1.0)), scalar=_native("inv_boxcox", 2),
             text=("boxcox⁻¹({a}, {b})", None))
def inv_boxcox(y, lmbda):
    x = special.inv_boxcox(y, lmbda)
    lx = np.log(x)
    dy = np.exp((1.0 - lmbda) * lx)
    return x, dy, -boxcox_dlambda(lx, lmbda) * dy


@elementwise(special.inv_boxcox1p, domain=((-0.5, 0.9), (-1.0, 1.0)), scalar=_native("inv_boxcox1p", 2),
             text=("boxcox1p⁻¹({a}, {b})", None))
def inv_boxcox1p(y, lmbda):
    x = special.inv_boxcox1p(y, lmbda)
    lx = np.log1p(x)
    dy = np.exp((1.0 - lmbda) * lx)
    return x, dy, -boxcox_dlambda(lx, lmbda) * dy


# --- the Riemann zeta function less 1: ζ(s, 1) − 1, its derivative zeta_ds(s, 1) ---------------------


@elementwise(special.zetac, domain=((2.0, 4.0),), scalar=_native("zetac"),
             nondiff="s > 1 (nan below: zeta_ds is the series there); not twice differentiable (zeta_ds is not in s)",
             text=("(ζ({a}) − 1)", ("∂ζ/∂s({a}, 1)",)))
def zetac(s):
    return special.zetac(s), zeta_ds(s, 1.0)


# --- modified Bessel functions of the second kind, Bessel functions of the second kind -----------


@elementwise(special.k0, domain=_POS, scalar=_native("k0"), nondiff="x > 0 (K₀′(0) = −inf)", text=("K₀({a})", ("(−K₁({a}))",)))
def k0(x):
    return special.k0(x), -special.k1(x)


@elementwise(special.k1, domain=_POS, scalar=_native("k1"), nondiff="x > 0", text=("K₁({a})", ("(−K₀({a}) − K₁({a}) / {a})",)))
def k1(x):
    y = special.k1(x)  # the partial reads the value: K₁′ = −K₀ − K₁/x
    return y, -special.k0(x) - y / x


@elementwise(special.k0e, domain=_POS, scalar=_native("k0e"), nondiff="x > 0", text=("K₀ₑ({a})", ("(K₀ₑ({a}) − K₁ₑ({a}))",)))
def k0e(x):
    y = special.k0e(x)  # K₀ eˣ
    return y, y - special.k1e(x)


@elementwise(special.k1e, domain=_POS, scalar=_native("k1e"), nondiff="x > 0", text=("K₁ₑ({a})", None))
def k1e(x):
    y = special.k1e(x)  # K₁ eˣ: K₁ₑ′ = K₁ₑ − K₀ₑ − K₁ₑ/x
    return y, y - special.k0e(x) - y / x


@elementwise(special.kv, domain=((0.0, 3.0), (0.3, 3.0)), argnums=(1,), scalar=_native("kv", 2), nondiff=_ORDER + " v; x > 0",
             text=("K_{a}({b})", ("0", "(−K_{a}−1({b}) − ({a}/{b}) K_{a}({b}))")))
def kv(v, x):
    # K′_v = −(K_{v−1} + K_{v+1})/2 = −K_{v−1} − (v/x) K_v: one Bessel function besides the value
    y = special.kv(v, x)
    return y, 0.0, -special.kv(v - 1.0, x) - (v / x) * y


@elementwise(special.kve, domain=((0.0, 3.0), (0.3, 3.0)), argnums=(1,), scalar=_native("kve", 2), nondiff=_ORDER + " v; x > 0",
             text=("K_{a}ₑ({b})", None))
def kve(v, x):
    y = special.kve(v, x)  # K_v eˣ
    return y, 0.0, y - special.kve(v - 1.0, x) - (v / x) * y


@elementwise(special.yv, domain=((0.0, 3.0), (0.3, 3.0)), argnums=(1,), scalar=_native("yv", 2), nondiff=_ORDER + " v; x > 0",
             text=("Y_{a}({b})", ("0", "(({a}/{b}) Y_{a}({b}) − Y_{a}+1({b}))")))
def yv(v, x):
    # Y′_v = (Y_{v−1} − Y_{v+1})/2 = (v/x) Y_v − Y_{v+1}: one Bessel function besides the value
    y = special.yv(v, x)
    return y, 0.0, (v / x) * y - special.yv(v + 1.0, x)


@elementwise(special.yve, domain=((0.0, 3.0), (0.3, 3.0)), argnums=(1,), scalar=_native("yve", 2), nondiff=_ORDER + " v; x > 0",
             text=("Y_{a}ₑ({b})", None))
def yve(v, x):
    y = special.yve(v, x)  # Y_v e^(−|Im x|): Y_v itself on real x
    return y, 0.0, (v / x) * y - special.yve(v + 1.0, x)


@elementwise(special.jve, domain=((0.0, 3.0), (0.2, 3.0)), argnums=(1,), scalar=_native("jve", 2), nondiff=_ORDER + " v",
             text=("J_{a}ₑ({b})", None))
def jve(v, x):
    # J_v e^(−|Im x|): J_v itself on real x, differentiated as jv (its limit at x = 0 included)
    y = special.jve(v, x)
    z = (x == 0) * 1.0
    w = special.jve(v + 1.0 - 2.0 * z, x)
    return y, 0.0, (v / (x + z)) * y - (1.0 - 1.5 * z) * w - 0.5 * z * (v == -1.0)


# --- complete elliptic integrals: dK/dm = (E − (1 − m)K)/(2m(1 − m)), dE/dm = (E − K)/(2m) ----------

_PI_OVER_8 = _PI / 8.0


@elementwise(special.ellipk, domain=((0.05, 0.95),), scalar=_native("ellipk"), nondiff="K′(0) = π/8, its limit; K′(1) = +inf",
             text=("K({a})", ("((E({a}) − (1 − {a})K({a})) / (2{a}(1 − {a})))",)))
def ellipk(m):
    k = special.ellipk(m)
    z = (m == 0) * 1.0
    return k, (special.ellipe(m) - (1.0 - m) * k) / (2.0 * (m + z) * (1.0 - m)) + _PI_OVER_8 * z


@elementwise(special.ellipkm1, domain=((0.05, 0.95),), scalar=_native("ellipkm1"),
             nondiff="K(1 − p)′ at p = 1: −π/8, its limit; at p = 0: −inf", text=("K(1 − {a})", None))
def ellipkm1(p):
    k = special.ellipkm1(p)  # K(m) at m = 1 − p: d/dp = −(E − pK)/(2mp)
    z = (p == 1) * 1.0
    m = 1.0 - p
    return k, -(special.ellipe(m) - p * k) / (2.0 * (m + z) * p) - _PI_OVER_8 * z


@elementwise(special.ellipe, domain=((0.05, 0.95),), scalar=_native("ellipe"), nondiff="E′(0) = −π/8, its limit; E′(1) = −inf",
             text=("E({a})", ("((E({a}) − K({a})) / (2{a}))",)))
def ellipe(m):
    e = special.ellipe(m)
    z = (m == 0) * 1.0
    return e, (e - special.ellipk(m)) / (2.0 * (m + z)) - _PI_OVER_8 * z
