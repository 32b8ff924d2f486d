"""``dualad.scipy.stats``: SciPy's distributions on dualad values, as ``jax.scipy.stats``.

Each distribution offers SciPy's methods with SciPy's arguments (shape parameters first, then
``loc`` and ``scale``): ``logpdf``, ``pdf``, ``cdf``, ``logcdf``, ``sf``, ``logsf`` and ``ppf``
(``logpmf``, ``pmf``, ``cdf``, ``sf`` for the discrete ``poisson`` and ``binom``), written with
differentiable operations and the rules of :mod:`dualad.rules.special`; every argument is
differentiable except where a special function is not (the shape parameters inside ``betainc``:
the cdf of ``beta`` and ``t`` in their shapes; the quantile functions in their shapes;
``poisson``/``binom`` in ``k`` and ``n``), which raises naming it.  ``multivariate_normal`` and ``dirichlet`` give
``logpdf`` and ``pdf`` (and ``multivariate_normal.entropy``).  ``uniform``, ``pareto``, ``gumbel_r``,
``gumbel_l``, ``truncnorm`` (SciPy's ``a``, ``b`` in standard units), ``gennorm`` and ``wrapcauchy`` give
every method; ``vonmises`` gives ``logpdf`` and ``pdf`` (as JAX; its cdf raises).  The discrete ``geom``,
``nbinom`` and ``betabinom`` give ``logpmf``, ``pmf``, ``cdf``, ``sf`` (in their real parameters; ``k``
carries no derivative), ``multinomial`` gives ``logpmf`` and ``pmf`` (in ``p``).  :class:`gaussian_kde` gives
``evaluate``/``pdf`` and ``logpdf``, in the points, the dataset and the weights.  :func:`sem` is differentiable;
:func:`rankdata` and :func:`mode` give plain values, as ``np.argsort`` does.

Examples
--------
>>> import numpy as np
>>> import dualad as ad
>>> from dualad.scipy import stats
>>> x = np.array([0.5, -1.0])
>>> np.allclose(ad.grad(lambda x: np.sum(stats.norm.logpdf(x, loc=0.2, scale=2.0)))(x), -(x - 0.2) / 4.0)
True
"""

from __future__ import annotations

import inspect
import math

import numpy as np
from scipy import special as sp

from ..core.dispatch import observe, strip
from ..rules import load_scipy_rules

__all__ = ["norm", "t", "gamma", "beta", "chi2", "expon", "laplace", "logistic", "cauchy", "poisson", "binom",
           "multivariate_normal", "dirichlet", "uniform", "pareto", "gumbel_r", "gumbel_l", "truncnorm", "gennorm",
           "vonmises", "wrapcauchy", "geom", "nbinom", "betabinom", "multinomial",
           "sem", "rankdata", "mode", "gaussian_kde"]

load_scipy_rules()
_LOG_SQRT_2PI = 0.9189385332046727
_LN2 = 0.6931471805599453
_LOG_2PI = 1.8378770664093453


def _mask(cond, value, outside):
    """``value`` where ``cond`` (plain booleans) holds, else the constant ``outside``."""
    return np.where(strip(cond), value, outside)


def _log1mexp(t):
    """``log(1 − e^−t)`` for ``t > 0``, accurate for small and large ``t``."""
    return _mask(strip(t) > _LN2, np.log1p(-np.exp(-t)), np.log(-np.expm1(-t)))


class _Continuous:
    """A location-scale family from its standard form: ``z = (x − loc) / scale``.

    Arguments after ``x`` are SciPy's: the ``numargs`` shape parameters (by position or by
    their SciPy names, which are ``_logpdf``'s), then ``loc`` and ``scale``."""

    name = ""
    numargs = 0

    @classmethod
    def shape_names(cls) -> tuple:
        """The shape parameters' names, as SciPy's ``shapes`` (``_logpdf(z, *shapes)``'s)."""
        return tuple(inspect.signature(cls._logpdf).parameters)[2:]

    def _args(self, args, loc, scale, named=None):
        n = self.numargs
        if named:  # shapes by name: after those given by position, in SciPy's order
            names = self.shape_names()
            k = min(len(args), n)
            unknown = sorted(set(named) - set(names[k:]))
            missing = [nm for nm in names[k:] if nm not in named]
            if unknown or missing or len(args) > n:
                raise TypeError(f"{self.name}: its shape parameters are {', '.join(names) or 'none'}, by position or by "
                                f"name (then loc and scale); got {len(args)} positional and {sorted(named)} by name")
            args = tuple(args) + tuple(named[nm] for nm in names[k:])
        if not n <= len(args) <= n + 2:
            raise TypeError(f"{self.name}: expected {n} shape parameter(s), then optionally loc and scale; "
                            f"got {len(args)} positional argument(s) after x")
        rest = args[n:] + (loc, scale)[len(args) - n:]
        return args[:n], rest[0], rest[1]

    def logpdf(self, x, *args, loc=0.0, scale=1.0, **shapes):
        shapes, loc, scale = self._args(args, loc, scale, shapes)
        # a Python scale's log stays a Python float, which keeps float32 values float32
        log_scale = math.log(scale) if isinstance(scale, (int, float)) else np.log(scale)
        return self._logpdf(self._z(x, loc, scale), *shapes) - log_scale

    def pdf(self, x, *args, loc=0.0, scale=1.0, **shapes):
        return np.exp(self.logpdf(x, *args, loc=loc, scale=scale, **shapes))

    def cdf(self, x, *args, loc=0.0, scale=1.0, **shapes):
        shapes, loc, scale = self._args(args, loc, scale, shapes)
        return self._cdf(self._z(x, loc, scale), *shapes)

    def logcdf(self, x, *args, loc=0.0, scale=1.0, **shapes):
        shapes, loc, scale = self._args(args, loc, scale, shapes)
        return self._logcdf(self._z(x, loc, scale), *shapes)

    def sf(self, x, *args, loc=0.0, scale=1.0, **shapes):
        shapes, loc, scale = self._args(args, loc, scale, shapes)
        return self._sf(self._z(x, loc, scale), *shapes)

    def logsf(self, x, *args, loc=0.0, scale=1.0, **shapes):
        shapes, loc, scale = self._args(args, loc, scale, shapes)
        return self._logsf(self._z(x, loc, scale), *shapes)

    def ppf(self, q, *args, loc=0.0, scale=1.0, **shapes):
        shapes, loc, scale = self._args(args, loc, scale, shapes)
        return loc + scale * self._ppf(q, *shapes)

    @staticmethod
    def _z(x, loc, scale):
        return (x - loc) / scale

    def _sf(self, z, *shapes):
        return 1.0 - self._cdf(z, *shapes)

    def _logcdf(self, z, *shapes):
        m = self._median(*shapes)
        if m is None:
            return np.log(self._cdf(z, *shapes))
        return _mask(strip(z) < m, np.log(self._cdf(z, *shapes)), np.log1p(-self._sf(z, *shapes)))

    def _logsf(self, z, *shapes):
        m = self._median(*shapes)
        if m is None:
            return np.log(self._sf(z, *shapes))
        return _mask(strip(z) > m, np.log(self._sf(z, *shapes)), np.log1p(-self._cdf(z, *shapes)))

    def _median(self, *shapes):
        """The standard median, where ``logcdf`` and ``logsf`` switch to the complement (as
        SciPy's generic ones); None: the log of the cdf (sf) everywhere."""
        return None

    def __repr__(self):
        return f"dualad.scipy.stats.{self.name}"


class _Norm(_Continuous):
    name = "norm"

    def _logpdf(self, z):
        return -0.5 * z * z - _LOG_SQRT_2PI

    def _cdf(self, z):
        return sp.ndtr(z)

    def _sf(self, z):
        return sp.ndtr(-z)

    def logcdf(self, x, loc=0.0, scale=1.0):
        return sp.log_ndtr(self._z(x, loc, scale))

    def logsf(self, x, loc=0.0, scale=1.0):
        return sp.log_ndtr(-self._z(x, loc, scale))

    def _ppf(self, q):
        return sp.ndtri(q)


class _T(_Continuous):
    name = "t"
    numargs = 1

    def _logpdf(self, z, df):
        return (sp.gammaln(0.5 * (df + 1.0)) - sp.gammaln(0.5 * df) - 0.5 * np.log(df * np.pi)
                - 0.5 * (df + 1.0) * np.log1p(z * z / df))

    def _tail(self, z, df):
        return 0.5 * sp.betainc(0.5 * df, 0.5, df / (df + z * z))

    def _cdf(self, z, df):
        tail = self._tail(z, df)
        return _mask(z > 0, 1.0 - tail, tail)

    def _sf(self, z, df):
        tail = self._tail(z, df)
        return _mask(z > 0, tail, 1.0 - tail)

    def _ppf(self, q, df):
        return sp.stdtrit(df, q)


class _Gamma(_Continuous):
    name = "gamma"
    numargs = 1

    def _logpdf(self, z, a):
        return _mask(z > 0, sp.xlogy(a - 1.0, z) - z - sp.gammaln(a), -np.inf)

    def _cdf(self, z, a):
        return sp.gammainc(a, np.maximum(z, 0.0))

    def _sf(self, z, a):
        return sp.gammaincc(a, np.maximum(z, 0.0))

    def _ppf(self, q, a):
        return sp.gammaincinv(a, q)


class _Chi2(_Gamma):
    """χ²(df): a gamma distribution of shape df/2 and scale 2 (its cdf and sf through SciPy's
    chdtr/chdtrc, which carry the derivative in df)."""

    name = "chi2"

    def _logpdf(self, z, df):
        return _Gamma._logpdf(self, 0.5 * z, 0.5 * df) - _LN2

    def _cdf(self, z, df):
        return sp.chdtr(df, np.maximum(z, 0.0))

    def _sf(self, z, df):
        return sp.chdtrc(df, np.maximum(z, 0.0))

    def _ppf(self, q, df):
        return 2.0 * sp.gammaincinv(0.5 * df, q)


class _Beta(_Continuous):
    name = "beta"
    numargs = 2

    def _logpdf(self, z, a, b):
        inside = (z > 0) & (z < 1)
        return _mask(inside, sp.xlogy(a - 1.0, z) + sp.xlog1py(b - 1.0, -z) - sp.betaln(a, b), -np.inf)

    def _cdf(self, z, a, b):
        return sp.betainc(a, b, np.clip(z, 0.0, 1.0))

    def _ppf(self, q, a, b):
        return sp.betaincinv(a, b, q)


class _Expon(_Continuous):
    name = "expon"

    def _logpdf(self, z):
        return _mask(z >= 0, -z, -np.inf)

    def _cdf(self, z):
        return -np.expm1(-np.maximum(z, 0.0))

    def _sf(self, z):
        return np.exp(-np.maximum(z, 0.0))

    def logsf(self, x, loc=0.0, scale=1.0):
        return -np.maximum(self._z(x, loc, scale), 0.0)

    def _ppf(self, q):
        return -np.log1p(-q)


class _Laplace(_Continuous):
    name = "laplace"

    def _logpdf(self, z):
        return -np.abs(z) - _LN2

    def _cdf(self, z):
        return _mask(z < 0, 0.5 * np.exp(np.minimum(z, 0.0)), 1.0 - 0.5 * np.exp(-np.maximum(z, 0.0)))

    def _sf(self, z):
        return self._cdf(-z)

    def _ppf(self, q):
        return _mask(q < 0.5, np.log(2.0 * q), -np.log(2.0 - 2.0 * q))


class _Logistic(_Continuous):
    name = "logistic"

    def _logpdf(self, z):
        a = np.abs(z)
        return -a - 2.0 * np.log1p(np.exp(-a))

    def _cdf(self, z):
        return sp.expit(z)

    def _sf(self, z):
        return sp.expit(-z)

    def logcdf(self, x, loc=0.0, scale=1.0):
        return -np.logaddexp(0.0, -self._z(x, loc, scale))

    def logsf(self, x, loc=0.0, scale=1.0):
        return -np.logaddexp(0.0, self._z(x, loc, scale))

    def _ppf(self, q):
        return sp.logit(q)


class _Cauchy(_Continuous):
    name = "cauchy"

    def _logpdf(self, z):
        return -np.log(np.pi) - np.log1p(z * z)

    def _cdf(self, z):
        return 0.5 + np.arctan(z) / np.pi

    def _sf(self, z):
        return 0.5 - np.arctan(z) / np.pi

    def _ppf(self, q):
        return np.tan(np.pi * (q - 0.5))


class _Uniform(_Continuous):
    """The uniform distribution on ``[loc, loc + scale]``, as ``scipy.stats.uniform``: every
    method, differentiable in ``x``, ``loc`` and ``scale`` (the density is 0 outside, its
    log ``-inf``).

    Examples
    --------
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> float(ad.grad(lambda s: stats.uniform.logpdf(0.5, 0.0, s))(2.0))   # d/ds (−ln s)
    -0.5
    """

    name = "uniform"

    def _logpdf(self, z):
        return _mask((z >= 0) & (z <= 1), 0.0 * z, -np.inf)

    def _cdf(self, z):
        return np.clip(z, 0.0, 1.0)

    def _sf(self, z):
        return np.clip(1.0 - z, 0.0, 1.0)

    def _ppf(self, q):
        return 1.0 * q


class _Pareto(_Continuous):
    """The Pareto distribution of shape ``b`` (density ``b / x^(b+1)`` for ``x ≥ 1``), as
    ``scipy.stats.pareto``: every method, differentiable in ``x``, ``b``, ``loc`` and ``scale``
    (``ppf`` in ``q`` and ``b`` too).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> g = ad.grad(lambda b: stats.pareto.logpdf(2.0, b))(3.0)   # 1/b − ln x
    >>> bool(np.isclose(g, 1 / 3 - np.log(2.0)))
    True
    """

    name = "pareto"
    numargs = 1

    @staticmethod
    def _log(z):
        return np.log(np.maximum(z, 1.0))  # 0 below the support, where the result is a constant

    def _logpdf(self, z, b):
        return _mask(z >= 1, np.log(b) - (b + 1.0) * self._log(z), -np.inf)

    def _cdf(self, z, b):
        return -np.expm1(-b * self._log(z))

    def _sf(self, z, b):
        return np.exp(-b * self._log(z))

    def _logsf(self, z, b):
        return -b * self._log(z)

    def _ppf(self, q, b):
        return np.exp(-np.log1p(-q) / b)


class _GumbelR(_Continuous):
    """The right-skewed Gumbel (extreme value of maxima) distribution, density
    ``exp(−z − e^−z)``, as ``scipy.stats.gumbel_r``: every method, differentiable in ``x``,
    ``loc`` and ``scale``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> bool(np.isclose(ad.grad(stats.gumbel_r.logcdf)(0.5), np.exp(-0.5)))   # d/dx (−e^−x)
    True
    """

    name = "gumbel_r"

    def _logpdf(self, z):
        return -z - np.exp(-z)

    def _cdf(self, z):
        return np.exp(-np.exp(-z))

    def _logcdf(self, z):
        return -np.exp(-z)

    def _sf(self, z):
        return -np.expm1(-np.exp(-z))

    def _logsf(self, z):
        return _log1mexp(np.exp(-z))

    def _ppf(self, q):
        return -np.log(-np.log(q))


class _GumbelL(_Continuous):
    """The left-skewed Gumbel (extreme value of minima) distribution, density
    ``exp(z − e^z)``, as ``scipy.stats.gumbel_l``: every method, differentiable in ``x``,
    ``loc`` and ``scale``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> bool(np.isclose(ad.grad(stats.gumbel_l.logsf)(0.5), -np.exp(0.5)))   # d/dx (−e^x)
    True
    """

    name = "gumbel_l"

    def _logpdf(self, z):
        return z - np.exp(z)

    def _cdf(self, z):
        return -np.expm1(-np.exp(z))

    def _logcdf(self, z):
        return _log1mexp(np.exp(z))

    def _sf(self, z):
        return np.exp(-np.exp(z))

    def _logsf(self, z):
        return -np.exp(z)

    def _ppf(self, q):
        return np.log(-np.log1p(-q))


def _log_diff(lp, lq):
    """``log(e^lp − e^lq)`` for ``lq < lp``."""
    return lp + _log1mexp(lp - lq)


def _log_gauss_mass(a, b):
    """``log(Φ(b) − Φ(a))`` for ``a < b``, as SciPy's truncnorm computes it: in the left tail
    from ``log Φ``, in the right tail by symmetry, across the centre as ``log1p`` of the tails."""
    left = _log_diff(sp.log_ndtr(b), sp.log_ndtr(a))
    right = _log_diff(sp.log_ndtr(-a), sp.log_ndtr(-b))
    central = np.log1p(-sp.ndtr(a) - sp.ndtr(-b))
    return _mask(strip(b) <= 0, left, _mask(strip(a) > 0, right, central))


class _Truncnorm(_Continuous):
    """The standard normal truncated to ``[a, b]`` (in standard units: the interval is
    ``[loc + a·scale, loc + b·scale]``), as ``scipy.stats.truncnorm``: every method,
    differentiable in ``x``, ``a``, ``b``, ``loc`` and ``scale`` (``a`` and ``b`` may be
    infinite, and are then constants); the masses computed in the tails as SciPy does.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> g = ad.grad(lambda x: stats.truncnorm.logpdf(x, -1.0, 2.0))(0.5)   # −x inside
    >>> bool(np.isclose(g, -0.5))
    True
    """

    name = "truncnorm"
    numargs = 2

    def _logpdf(self, z, a, b):
        inside = (strip(z) >= strip(a)) & (strip(z) <= strip(b))
        return _mask(inside, -0.5 * z * z - _LOG_SQRT_2PI - _log_gauss_mass(a, b), -np.inf)

    @staticmethod
    def _inner(z, a, b):
        """``z`` strictly inside ``(a, b)``, and a plain point inside where it is not (the
        result there is a constant, 0 or 1)."""
        pa, pb = np.asarray(strip(a), dtype=float), np.asarray(strip(b), dtype=float)
        inside = (strip(z) > pa) & (strip(z) < pb)
        mid = np.where(np.isinf(pa), np.where(np.isinf(pb), 0.0, pb - 1.0), np.where(np.isinf(pb), pa + 1.0, 0.5 * (pa + pb)))
        return _mask(inside, z, mid.astype(np.result_type(strip(z), 0.0))), strip(z) <= pa, strip(z) >= pb

    def _logs(self, z, a, b):
        """``(log cdf, log sf)`` inside, each from the other's complement where it is near 0."""
        zi, below, above = self._inner(z, a, b)
        mass = _log_gauss_mass(a, b)
        lc, ls = _log_gauss_mass(a, zi) - mass, _log_gauss_mass(zi, b) - mass
        lc, ls = _mask(strip(lc) > -0.1, np.log1p(-np.exp(ls)), lc), _mask(strip(ls) > -0.1, np.log1p(-np.exp(lc)), ls)
        return _mask(below, -np.inf, _mask(above, 0.0, lc)), _mask(below, 0.0, _mask(above, -np.inf, ls))

    def _logcdf(self, z, a, b):
        return self._logs(z, a, b)[0]

    def _logsf(self, z, a, b):
        return self._logs(z, a, b)[1]

    def _cdf(self, z, a, b):
        return np.exp(self._logcdf(z, a, b))

    def _sf(self, z, a, b):
        return np.exp(self._logsf(z, a, b))

    def _ppf(self, q, a, b):
        # Φ(x) = Φ(a) + q (Φ(b) − Φ(a)); from the right tail, Φ(−x) = (1 − q) Φ(−a) + q Φ(−b), for a > 0
        left = sp.ndtri(sp.ndtr(a) + q * (sp.ndtr(b) - sp.ndtr(a)))
        right = -sp.ndtri((1.0 - q) * sp.ndtr(-a) + q * sp.ndtr(-b))
        return _mask(strip(a) > 0, right, left)


class _Gennorm(_Continuous):
    """The generalized normal distribution of shape ``beta`` (density
    ``beta / (2Γ(1/beta)) exp(−|x|^beta)``), as ``scipy.stats.gennorm``: every method,
    differentiable in ``x``, ``beta`` (the cdf through ``gammaincc`` in its first argument),
    ``loc`` and ``scale``; ``ppf`` in ``q`` only.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> g = ad.grad(lambda x: stats.gennorm.logpdf(x, 2.0))(0.3)   # −2x at beta = 2
    >>> bool(np.isclose(g, -0.6))
    True
    """

    name = "gennorm"
    numargs = 1

    def _logpdf(self, z, beta):
        return np.log(0.5 * beta) - sp.gammaln(1.0 / beta) - np.abs(z) ** beta

    def _cdf(self, z, beta):
        c = 0.5 * np.sign(strip(z))
        return (0.5 + c) - c * sp.gammaincc(1.0 / beta, np.abs(z) ** beta)

    def _sf(self, z, beta):
        return self._cdf(-z, beta)

    def _median(self, beta):
        return 0.0

    def _ppf(self, q, beta):
        c = np.sign(strip(q) - 0.5)
        return c * sp.gammaincinv(1.0 / beta, np.abs(2.0 * q - 1.0)) ** (1.0 / beta)


class _DensityOnly(_Continuous):
    """A distribution that offers ``logpdf`` and ``pdf`` (and what a subclass adds)."""

    def _cdf(self, z, *shapes):
        raise NotImplementedError(f"dualad.scipy.stats.{self.name} offers logpdf and pdf (as jax.scipy.stats.{self.name}); "
                                  f"its cdf has no closed form: use scipy.stats.{self.name} on plain values")

    _ppf = _cdf


class _Vonmises(_DensityOnly):
    """The von Mises distribution of concentration ``kappa`` (density
    ``exp(kappa cos x) / (2π I₀(kappa))``, on the whole line as SciPy's), as
    ``scipy.stats.vonmises``: ``logpdf`` and ``pdf`` (as ``jax.scipy.stats.vonmises``),
    differentiable in ``x``, ``kappa``, ``loc`` and ``scale``.  The cdf and quantiles (SciPy's
    series and normal approximation) are not offered and raise ``NotImplementedError``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> g = ad.grad(lambda x: stats.vonmises.logpdf(x, 2.0))(0.5)   # −kappa sin x
    >>> bool(np.isclose(g, -2.0 * np.sin(0.5)))
    True
    """

    name = "vonmises"
    numargs = 1

    def _logpdf(self, z, kappa):
        s = np.sin(0.5 * z)  # cos z − 1 = −2 sin²(z/2), exact near 0
        return -2.0 * kappa * s * s - _LOG_2PI - np.log(sp.i0e(kappa))


class _Wrapcauchy(_Continuous):
    """The wrapped Cauchy distribution of shape ``0 < c < 1`` on ``[0, 2π]``, as
    ``scipy.stats.wrapcauchy``: every method (the cdf and quantiles in SciPy's closed forms),
    differentiable in ``x``, ``c``, ``loc`` and ``scale``; the density is 0 outside
    ``[0, 2π]``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> bool(np.isclose(stats.wrapcauchy.pdf(np.pi, 0.5), 0.75 / (2 * np.pi * 2.25)))
    True
    >>> float(ad.grad(lambda x: stats.wrapcauchy.logpdf(x, 0.5))(np.pi))   # a minimum of the density
    0.0
    """

    name = "wrapcauchy"
    numargs = 1

    def _logpdf(self, z, c):
        inside = (strip(z) >= 0) & (strip(z) <= 2.0 * np.pi)
        return _mask(inside, np.log1p(-c * c) - _LOG_2PI - np.log(1.0 + c * c - 2.0 * c * np.cos(z)), -np.inf)

    def _cdf(self, z, c):
        cr = (1.0 + c) / (1.0 - c)
        pz = strip(z)
        zi = _mask((pz >= 0) & (pz <= 2.0 * np.pi), z, 1.0)
        low = np.arctan(cr * np.tan(0.5 * zi)) / np.pi
        high = 1.0 - np.arctan(cr * np.tan(np.pi - 0.5 * zi)) / np.pi
        return _mask(pz < 0, 0.0, _mask(pz > 2.0 * np.pi, 1.0, _mask(pz < np.pi, low, high)))

    def _median(self, c):
        return np.pi

    def _ppf(self, q, c):
        val = (1.0 - c) / (1.0 + c)
        low = 2.0 * np.arctan(val * np.tan(np.pi * q))
        high = 2.0 * np.pi - 2.0 * np.arctan(val * np.tan(np.pi * (1.0 - q)))
        return _mask(strip(q) < 0.5, low, high)


class _Discrete:
    name = ""

    def pmf(self, k, *shapes, loc=0.0, **named):
        return np.exp(self.logpmf(k, *shapes, loc=loc, **named))

    def sf(self, k, *shapes, loc=0.0, **named):
        return 1.0 - self.cdf(k, *shapes, loc=loc, **named)

    def __repr__(self):
        return f"dualad.scipy.stats.{self.name}"


class _Poisson(_Discrete):
    name = "poisson"

    def logpmf(self, k, mu, loc=0.0):
        k = np.asarray(k, dtype=float) - loc
        ok = (k >= 0) & (k == np.floor(k))
        return _mask(ok, sp.xlogy(k, mu) - sp.gammaln(k + 1.0) - mu, -np.inf)

    def cdf(self, k, mu, loc=0.0):
        k = np.floor(np.asarray(k, dtype=float) - loc)
        return _mask(k >= 0, sp.gammaincc(np.maximum(k, 0.0) + 1.0, mu), 0.0)


class _Binom(_Discrete):
    name = "binom"

    def logpmf(self, k, n, p, loc=0.0):
        k = np.asarray(k, dtype=float) - loc
        n = np.asarray(n, dtype=float)
        ok = (k >= 0) & (k <= n) & (k == np.floor(k))
        comb = sp.gammaln(n + 1.0) - sp.gammaln(k + 1.0) - sp.gammaln(n - k + 1.0)
        return _mask(ok, comb + sp.xlogy(k, p) + sp.xlog1py(n - k, -p), -np.inf)

    def cdf(self, k, n, p, loc=0.0):
        k = np.floor(np.asarray(k, dtype=float) - loc)
        n = np.asarray(n, dtype=float)
        inner = np.clip(k, 0.0, np.maximum(n - 1.0, 0.0))
        low = sp.betainc(np.maximum(n - inner, 1.0), inner + 1.0, 1.0 - p)
        return _mask(k < 0, 0.0, _mask(k >= n, 1.0, low))


def _support_k(k, loc, low, high=None):
    """``k − loc`` (plain), where it is an integer in ``[low, high]``, and that ``k`` with 0 (a
    point inside, so that no pole is evaluated) where not."""
    k = np.asarray(k, dtype=float) - loc
    ok = (k >= low) & (k == np.floor(k))
    if high is not None:
        ok = ok & (k <= high)
    return np.where(ok, k, float(low)), ok


class _Geom(_Discrete):
    """The geometric distribution (trials up to the first success, ``k ≥ 1``), as
    ``scipy.stats.geom``: ``logpmf``, ``pmf``, ``cdf``, ``sf``, differentiable in ``p``
    (``k`` carries no derivative).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> g = ad.grad(lambda p: stats.geom.logpmf(3, p))(0.25)   # 1/p − 2/(1 − p)
    >>> bool(np.isclose(g, 4.0 - 2.0 / 0.75))
    True
    """

    name = "geom"

    def logpmf(self, k, p, loc=0.0):
        k, ok = _support_k(k, loc, 1.0)
        return _mask(ok, sp.xlog1py(k - 1.0, -p) + np.log(p), -np.inf)

    def cdf(self, k, p, loc=0.0):
        k = np.floor(np.asarray(k, dtype=float) - loc)
        return _mask(k < 1, 0.0, -np.expm1(np.log1p(-p) * np.maximum(k, 1.0)))

    def sf(self, k, p, loc=0.0):
        k = np.floor(np.asarray(k, dtype=float) - loc)
        return _mask(k < 1, 1.0, np.exp(np.log1p(-p) * np.maximum(k, 1.0)))


class _Nbinom(_Discrete):
    """The negative binomial distribution (failures before the ``n``-th success), as
    ``scipy.stats.nbinom``: ``logpmf``, ``pmf`` differentiable in ``n`` (real) and ``p``;
    ``cdf`` and ``sf`` (``betainc(n, k + 1, p)`` and its complement) in ``p`` (in ``n`` they
    raise, as ``betainc`` in its first argument); ``k`` carries no derivative.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> g = ad.grad(lambda p: stats.nbinom.logpmf(2, 3.0, p))(0.5)   # n/p − k/(1 − p)
    >>> bool(np.isclose(g, 6.0 - 4.0))
    True
    """

    name = "nbinom"

    def logpmf(self, k, n, p, loc=0.0):
        k, ok = _support_k(k, loc, 0.0)
        coeff = sp.gammaln(n + k) - sp.gammaln(k + 1.0) - sp.gammaln(n)
        return _mask(ok, coeff + n * np.log(p) + sp.xlog1py(k, -p), -np.inf)

    def cdf(self, k, n, p, loc=0.0):
        k = np.floor(np.asarray(k, dtype=float) - loc)
        return _mask(k < 0, 0.0, sp.betainc(n, np.maximum(k, 0.0) + 1.0, p))

    def sf(self, k, n, p, loc=0.0):
        k = np.floor(np.asarray(k, dtype=float) - loc)
        return _mask(k < 0, 1.0, sp.betaincc(n, np.maximum(k, 0.0) + 1.0, p))


class _Betabinom(_Discrete):
    """The beta-binomial distribution (``n`` trials, success probability beta(``a``, ``b``)),
    as ``scipy.stats.betabinom``: ``logpmf``, ``pmf``, ``cdf`` (the sum of the pmf up to
    ``k``), ``sf``, differentiable in ``n`` (as a real number), ``a`` and ``b``; ``k`` carries
    no derivative.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> g = ad.grad(lambda a: stats.betabinom.logpmf(1, 1, a, 1.0))(2.0)   # pmf a/(a + 1)
    >>> bool(np.isclose(g, 1 / 2.0 - 1 / 3.0))
    True
    """

    name = "betabinom"

    def logpmf(self, k, n, a, b, loc=0.0):
        k, ok = _support_k(k, loc, 0.0, strip(n))
        combiln = -np.log(n + 1.0) - sp.betaln(n - k + 1.0, k + 1.0)
        return _mask(ok, combiln + sp.betaln(k + a, n - k + b) - sp.betaln(a, b), -np.inf)

    def cdf(self, k, n, a, b, loc=0.0):
        k = np.floor(np.asarray(k, dtype=float) - loc)
        pn = np.asarray(strip(n), dtype=float)
        ndim = max(np.ndim(k), np.ndim(pn), np.ndim(strip(a)), np.ndim(strip(b)))
        top = np.minimum(k, pn)
        top = int(np.max(top[np.isfinite(top)], initial=0.0))
        j = np.arange(top + 1.0).reshape((-1,) + (1,) * ndim)  # the support's points, on a leading axis
        total = np.sum(_mask(j <= k, self.pmf(j, n, a, b), 0.0), axis=0)
        return _mask(k < 0, 0.0, _mask(k >= pn, 1.0, total))


class _Joint:
    """A distribution of vectors: ``pdf`` from ``logpdf``."""

    name = ""

    def pdf(self, *args, **kwargs):
        return np.exp(self.logpdf(*args, **kwargs))

    def __repr__(self):
        return f"dualad.scipy.stats.{self.name}"


class _Multinomial(_Joint):
    """The multinomial distribution of ``n`` trials over the categories of ``p`` (last axis),
    as ``scipy.stats.multinomial``: ``logpmf`` and ``pmf``, differentiable in ``p`` (``x`` and
    ``n`` carry no derivative).  As SciPy, a ``p`` whose sum is off 1 by more than 10 ε has its
    last entry replaced by ``1 − Σ`` of the others (then not differentiated in it); ``-inf``
    where ``x`` is not counts summing to ``n``, ``nan`` where ``p`` is not probabilities.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> x, p = np.array([2.0, 1.0]), np.array([0.6, 0.4])
    >>> bool(np.isclose(stats.multinomial.pmf(x, 3, p), 3 * 0.6**2 * 0.4))
    True
    >>> np.allclose(ad.grad(lambda p: stats.multinomial.logpmf(x, 3, p))(p), x / p)
    True
    """

    name = "multinomial"

    def logpmf(self, x, n, p):
        x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
        pp = np.asarray(strip(p), dtype=float)
        adjust = np.abs(1.0 - np.sum(pp, axis=-1)) > 10.0 * np.finfo(np.result_type(strip(p), np.float32)).eps
        if np.any(adjust):
            last = _mask(adjust[..., None], 1.0 - np.sum(p[..., :-1], axis=-1, keepdims=True), p[..., -1:])
            p = np.concatenate([p[..., :-1] * np.ones(np.shape(strip(last))), last], axis=-1)
            pp = np.asarray(strip(p), dtype=float)
        counts = np.all((x >= 0) & (x == np.floor(x)), axis=-1) & (np.sum(x, axis=-1) == n)
        xs = np.where(counts[..., None], x, 0.0)
        out = sp.gammaln(np.where(counts, n, 0.0) + 1.0) + np.sum(sp.xlogy(xs, p) - sp.gammaln(xs + 1.0), axis=-1)
        bad = np.any((pp < 0) | (pp > 1), axis=-1) | (n < 0) | (n != np.floor(n))
        return _mask(bad, np.nan, _mask(counts, out, -np.inf))

    def pmf(self, x, n, p):
        return np.exp(self.logpmf(x, n, p))


class _MultivariateNormal(_Joint):
    name = "multivariate_normal"

    def logpdf(self, x, mean=None, cov=1.0, allow_singular=False):
        """Log-density at ``x`` (``(..., d)``) of N(mean, cov), differentiable in all three.

        ``allow_singular=True`` takes a positive semidefinite ``cov`` as SciPy does: the
        pseudo-inverse and the pseudo-determinant over the eigenvalues above SciPy's cutoff,
        ``-inf`` off the support (``mean`` plus the range of ``cov``); derivatives where the rank
        does not change."""
        # the dimension comes from mean or cov, as in SciPy (1 when neither says)
        if mean is not None and np.ndim(strip(mean)) > 0:
            d = np.shape(strip(mean))[-1]
        else:
            d = np.shape(strip(cov))[-1] if np.ndim(strip(cov)) == 2 else 1
        if d == 1 and (np.ndim(strip(x)) == 0 or np.shape(strip(x))[-1] != 1):
            x = np.expand_dims(x, -1)  # SciPy reads each element as a one-dimensional point
        mean = np.zeros(d) if mean is None else mean * np.ones(d)
        cov = np.eye(d) * cov if np.ndim(strip(cov)) < 2 else cov
        r = x - mean
        if allow_singular:
            return _singular_logpdf(r, cov)
        sol = np.linalg.solve(cov, np.swapaxes(r, -1, -2) if np.ndim(strip(r)) > 1 else r)
        maha = np.sum(r * (np.swapaxes(sol, -1, -2) if np.ndim(strip(r)) > 1 else sol), axis=-1)
        _, logdet = np.linalg.slogdet(cov)
        return -0.5 * (maha + logdet) - d * _LOG_SQRT_2PI

    def entropy(self, mean=None, cov=1.0):
        """``½ log det(2πe·cov)``, differentiable in ``cov`` (``mean`` does not enter)."""
        cov = np.atleast_2d(cov) if np.ndim(strip(cov)) < 2 else cov
        return 0.5 * (np.linalg.slogdet(cov)[1] + np.shape(strip(cov))[-1] * (1.0 + 2.0 * _LOG_SQRT_2PI))


def _singular_logpdf(r, cov):
    """The normal log-density at deviations ``r`` from the mean for a positive semidefinite
    ``cov``, as SciPy's ``allow_singular=True`` computes it: the eigenvalues of the lower
    triangle above ``cond · max|λ|`` (cond 10⁶ float64 ε, 10³ float32 ε) are kept; the
    Mahalanobis term uses the pseudo-inverse at that cutoff and the normaliser the rank and
    the pseudo-determinant; ``-inf`` where ``r`` leaves the range of ``cov`` (by SciPy's
    tolerance, 1000 times the cutoff)."""
    c = np.asarray(strip(cov))
    lam, vec = np.linalg.eigh(c, UPLO="L")  # plain: which eigenvalues count, the support
    cond = (1e3 if c.dtype == np.float32 else 1e6) * np.finfo(c.dtype).eps
    eps = cond * np.max(np.abs(lam))
    if np.min(lam) < -eps:
        raise ValueError("multivariate_normal: the covariance matrix must be symmetric positive semidefinite "
                         f"(its smallest eigenvalue is {np.min(lam):.3g})")
    keep = lam > eps
    log_pdet = np.sum(np.log(np.where(keep, np.linalg.eigvalsh(cov, UPLO="L"), 1.0)))
    maha = np.sum(np.matmul(r, np.linalg.pinv(cov, rcond=cond, hermitian=True)) * r, axis=-1)
    out = -0.5 * (int(np.sum(keep)) * 2.0 * _LOG_SQRT_2PI + log_pdet + maha)
    if np.all(keep):
        return out
    off = np.linalg.norm(np.matmul(np.asarray(strip(r)), vec[:, ~keep]), axis=-1) >= 1e3 * eps
    return _mask(off, -np.inf, out)


class _Dirichlet(_Joint):
    name = "dirichlet"

    def logpdf(self, x, alpha):
        """Log-density at ``x`` (on the simplex, last axis) of Dirichlet(alpha)."""
        norm = np.sum(sp.gammaln(alpha), axis=-1) - sp.gammaln(np.sum(alpha, axis=-1))
        return np.sum(sp.xlogy(alpha - 1.0, x), axis=-1) - norm


# The distributions, with SciPy's signatures (see the module docstring).
norm, t, gamma, beta, chi2 = _Norm(), _T(), _Gamma(), _Beta(), _Chi2()
expon, laplace, logistic, cauchy = _Expon(), _Laplace(), _Logistic(), _Cauchy()
uniform, pareto, gumbel_r, gumbel_l, truncnorm = _Uniform(), _Pareto(), _GumbelR(), _GumbelL(), _Truncnorm()
gennorm, vonmises, wrapcauchy = _Gennorm(), _Vonmises(), _Wrapcauchy()
poisson, binom = _Poisson(), _Binom()
geom, nbinom, betabinom, multinomial = _Geom(), _Nbinom(), _Betabinom(), _Multinomial()
multivariate_normal, dirichlet = _MultivariateNormal(), _Dirichlet()


def sem(a, axis=0, ddof=1, nan_policy="propagate", *, keepdims=False):
    """The standard error of the mean, ``std(a, ddof) / √n`` along ``axis``, as
    ``scipy.stats.sem``; differentiable in ``a``.

    Parameters
    ----------
    a : array_like or active value
    axis : int or None
        The axis (None: all of ``a``, flattened).
    ddof : int
        Delta degrees of freedom of the standard deviation.
    nan_policy : {'propagate', 'omit', 'raise'}
        ``'omit'`` leaves the NaNs out (``nanstd`` over the count of the others);
        ``'raise'`` raises a ``ValueError`` where ``a`` holds one.
    keepdims : bool

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> a = np.array([1.0, 2.0, 4.0])
    >>> bool(np.isclose(stats.sem(a), np.std(a, ddof=1) / np.sqrt(3)))
    True
    >>> g = ad.grad(lambda a: stats.sem(a))(a)   # (a − mean) / ((n − 1) √n · std)
    >>> np.allclose(g, (a - a.mean()) / (2 * np.sqrt(3) * np.std(a, ddof=1)))
    True
    """
    if nan_policy not in ("propagate", "omit", "raise"):
        raise ValueError(f"sem: nan_policy must be 'propagate', 'omit' or 'raise', got {nan_policy!r}")
    nan = np.isnan(strip(a))
    if nan_policy == "raise" and np.any(nan):
        raise ValueError("sem: the input contains nan values")
    if nan_policy == "omit" and np.any(nan):
        n = np.sum(~nan, axis=axis, keepdims=keepdims)
        return np.nanstd(a, axis=axis, ddof=ddof, keepdims=keepdims) / np.sqrt(n)
    n = np.size(strip(a)) if axis is None else np.shape(strip(a))[axis]
    return np.std(a, axis=axis, ddof=ddof, keepdims=keepdims) / math.sqrt(n)


def rankdata(a, method="average", *, axis=None, nan_policy="propagate"):
    """The ranks of ``a``'s elements (1 for the smallest; ties by ``method``), as
    ``scipy.stats.rankdata``: a plain array of the values of an active ``a`` (ranks carry no
    derivative; on a tape that is replayed they are a guard, as ``np.argsort``'s are).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> stats.rankdata(np.array([3.0, 1.0, 3.0, 2.0]))
    array([3.5, 1. , 3.5, 2. ])
    >>> float(ad.grad(lambda x: np.sum(x * stats.rankdata(x)))(np.array([0.2, 0.1]))[0])   # the ranks, constant
    2.0
    """
    from scipy import stats as scipy_stats

    return observe(scipy_stats.rankdata, a, method=method, axis=axis, nan_policy=nan_policy)


def mode(a, axis=0, nan_policy="propagate", keepdims=False):
    """The most frequent value along ``axis`` and its count, as ``scipy.stats.mode`` (the
    smallest of equally frequent values): SciPy's ``ModeResult`` of plain arrays, for an active
    ``a`` of its values (a mode carries no derivative).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy import stats
    >>> m = stats.mode(np.array([[1.0, 2.0], [1.0, 3.0], [2.0, 3.0]]))
    >>> m.mode, m.count
    (array([1., 3.]), array([2, 2]))
    """
    from scipy import stats as scipy_stats

    return observe(scipy_stats.mode, a, axis=axis, nan_policy=nan_policy, keepdims=keepdims)


class gaussian_kde:
    """A Gaussian kernel density estimate of ``dataset`` (``(d, n)``: ``n`` points in ``d``
    dimensions), as ``scipy.stats.gaussian_kde`` and ``jax.scipy.stats.gaussian_kde``:
    ``evaluate`` (also ``pdf`` and calling it) and ``logpdf`` at ``(d, m)`` points,
    differentiable in the points, the dataset and the weights (the bandwidth follows the
    dataset: the weighted covariance times ``factor²``).

    Parameters
    ----------
    dataset : array_like or active value
    bw_method : {'scott', 'silverman'}, scalar or callable, optional
        SciPy's: Scott's factor ``neff^(−1/(d+4))`` by default; a scalar is the factor; a
        callable takes the estimate and returns it.
    weights : array_like or active value, optional
        Weights of the points (normalised to sum 1); ``neff = 1 / Σ w²``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy import stats
    >>> data = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> kde = stats.gaussian_kde(data)
    >>> from scipy.stats import gaussian_kde as scipy_kde
    >>> bool(np.allclose(kde.evaluate(0.3), scipy_kde(data).evaluate(0.3)))
    True
    >>> g = ad.grad(lambda d: stats.gaussian_kde(d).logpdf(0.3)[0])(data)   # in the data (and bandwidth)
    >>> g.shape
    (4,)
    """

    def __init__(self, dataset, bw_method=None, weights=None):
        self.dataset = dataset if np.ndim(strip(dataset)) == 2 else np.reshape(dataset, (1, -1))
        self.d, self.n = np.shape(strip(self.dataset))
        if self.n < 2:
            raise ValueError("gaussian_kde: the dataset needs more than one point")
        if weights is None:
            self.weights = np.full(self.n, 1.0 / self.n)
        else:
            self.weights = weights / np.sum(weights)
        self.neff = 1.0 / np.sum(self.weights ** 2)
        if bw_method is None or bw_method == "scott":
            self.factor = self.neff ** (-1.0 / (self.d + 4))
        elif bw_method == "silverman":
            self.factor = (self.neff * (self.d + 2.0) / 4.0) ** (-1.0 / (self.d + 4))
        elif callable(bw_method):
            self.factor = bw_method(self)
        elif np.ndim(strip(bw_method)) == 0 and not isinstance(bw_method, str):
            self.factor = bw_method
        else:
            raise ValueError("gaussian_kde: bw_method must be 'scott', 'silverman', a scalar or a callable")
        mean = np.sum(self.dataset * self.weights, axis=1, keepdims=True)
        dev = self.dataset - mean  # the weighted covariance, unbiased as numpy.cov's aweights
        data_cov = (dev * self.weights) @ np.swapaxes(dev, 0, 1) / (1.0 - np.sum(self.weights ** 2))
        self.covariance = data_cov * self.factor ** 2

    def _points(self, points):
        if np.ndim(strip(points)) != 2:
            points = np.reshape(points, (self.d, -1))
        if np.shape(strip(points))[0] != self.d:
            raise ValueError(f"gaussian_kde: points have dimension {np.shape(strip(points))[0]}, the dataset {self.d}")
        return points

    def logpdf(self, points):
        """The log of the estimate at ``points`` (``(d, m)``; a vector for ``d = 1``), by
        ``logsumexp`` over the data."""
        from .special import logsumexp

        points = self._points(points)
        m = np.shape(strip(points))[1]
        diff = np.reshape(points, (self.d, 1, m)) - np.reshape(self.dataset, (self.d, self.n, 1))
        flat = np.reshape(diff, (self.d, self.n * m))
        maha = np.reshape(np.sum(flat * np.linalg.solve(self.covariance, flat), axis=0), (self.n, m))
        _, logdet = np.linalg.slogdet(self.covariance)
        log_norm = -0.5 * logdet - self.d * _LOG_SQRT_2PI
        return logsumexp(-0.5 * maha + np.reshape(np.log(self.weights), (self.n, 1)), axis=0) + log_norm

    def evaluate(self, points):
        """The estimate at ``points``."""
        return np.exp(self.logpdf(points))

    pdf = __call__ = evaluate
