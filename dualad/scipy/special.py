"""``dualad.scipy.special``: SciPy's special functions on dualad values.

The ufuncs (``erf``, ``gammaln``, ``xlogy``...) are SciPy's own, re-exported: they reach
dualad's rules (:mod:`dualad.rules.special`) through ``__array_ufunc__``.  The functions SciPy
writes in Python around ``np.asarray`` are written here with differentiable operations:
:func:`logsumexp`, :func:`softmax`, :func:`log_softmax`, :func:`polygamma`,
:func:`multigammaln`, :func:`comb`, :func:`factorial`, :func:`zeta`; and JAX's :func:`bessel_jn`
and :func:`bernoulli`.
"""

from __future__ import annotations

import numpy as np
from scipy import special as _sp
from scipy.special import (  # noqa: F401  (SciPy's ufuncs, differentiable as they are)
    beta,
    betainc,
    betaincinv,
    betaln,
    binom,
    boxcox,
    boxcox1p,
    cbrt,
    cosdg,
    cosm1,
    cotdg,
    dawsn,
    digamma,
    ellipe,
    ellipk,
    ellipkm1,
    entr,
    erf,
    erfc,
    erfcinv,
    erfcx,
    erfi,
    erfinv,
    exp1,
    exp2,
    exp10,
    expi,
    expit,
    expm1,
    expn,
    exprel,
    gamma,
    gammainc,
    gammaincc,
    gammaincinv,
    gammaln,
    gammasgn,
    huber,
    hyp1f1,
    hyp2f1,
    i0,
    i0e,
    i1,
    i1e,
    inv_boxcox,
    inv_boxcox1p,
    iv,
    ive,
    j0,
    j1,
    jn,
    jv,
    jve,
    k0,
    k0e,
    k1,
    k1e,
    kl_div,
    kv,
    kve,
    log1p,
    log_expit,
    log_ndtr,
    loggamma,
    logit,
    ndtr,
    ndtri,
    owens_t,
    poch,
    powm1,
    pseudo_huber,
    psi,
    rel_entr,
    rgamma,
    round,
    sindg,
    spence,
    stdtrit,
    tandg,
    wofz,
    wrightomega,
    xlog1py,
    xlogy,
    y0,
    y1,
    yn,
    yv,
    yve,
    zetac,
)

from ..core.dispatch import is_active, strip
from ..rules import RULES, load_scipy_rules
from ..rules import structural as _structural

__all__ = [
    "logsumexp", "softmax", "log_softmax", "polygamma", "multigammaln", "comb", "factorial", "zeta", "sici", "fresnel",
    "beta", "betainc", "betaincinv", "betaln", "binom", "boxcox", "boxcox1p", "dawsn", "digamma", "entr", "erf",
    "erfc", "erfcinv", "erfcx", "erfinv", "exp1", "expi", "expit", "expn", "gamma", "gammainc", "gammaincc",
    "gammaincinv", "gammaln", "gammasgn", "hyp1f1", "hyp2f1", "i0", "i0e", "i1", "i1e", "iv", "ive", "j0", "j1",
    "jv", "kl_div", "log_ndtr", "loggamma", "logit", "ndtr", "ndtri", "owens_t", "poch", "psi", "rel_entr",
    "rgamma", "stdtrit", "wofz", "xlog1py", "xlogy", "y0", "y1", "yn", "spence", "bessel_jn", "bernoulli",
    "cbrt", "cosdg", "cosm1", "cotdg", "ellipe", "ellipk", "ellipkm1", "erfi", "exp10", "exp2", "expm1", "exprel",
    "huber", "inv_boxcox", "inv_boxcox1p", "jn", "jve", "k0", "k0e", "k1", "k1e", "kv", "kve", "log1p",
    "log_expit", "powm1", "pseudo_huber", "round", "sindg", "tandg", "wrightomega", "yv", "yve", "zetac",
]

load_scipy_rules()


def _shift(a, axis, where=None):
    """The largest element along ``axis`` (kept dims; among those ``where`` selects), 0 where
    not finite: logsumexp is the same for any shift, so the shift carries no derivative.  A
    value of the computation (a replayed recording shifts by the new inputs' max), not a plain
    constant."""
    if not is_active(a):
        m = np.max(a, axis=axis, keepdims=True, initial=-np.inf, where=True if where is None else where)
        return np.where(np.isfinite(m), m, 0.0)
    if where is not None:
        a = np.where(where, a, -np.inf)
    m = _structural.stop_gradient.bind(np.max(a, axis=axis, keepdims=True))
    return np.where(np.isfinite(m), m, 0.0)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False, where=None):
    """``log(sum(b * exp(a)))`` along ``axis``, computed stably, as ``scipy.special.logsumexp``.

    Parameters
    ----------
    a : array_like or active value
    axis : None, int or tuple of int
        Axes summed over (None: all).
    b : array_like or active value, optional
        Weights (broadcast against ``a``); with negative weights the sum may be negative: pass
        ``return_sign=True`` to get ``log|sum|`` and the sign.
    keepdims : bool
    return_sign : bool
    where : array_like of bool, optional
        The elements summed (broadcast against ``a``), as ``jax.scipy.special.logsumexp``'s
        ``where``: the others contribute nothing, to the value or the derivative (even where
        ``exp`` of them overflows); with none selected the value is ``-inf``.

    Returns
    -------
    value, or (value, sign)
        The sign is a plain array (it carries no derivative).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.special import logsumexp
    >>> x = np.array([1.0, 2.0, 3.0])
    >>> np.allclose(ad.grad(logsumexp)(x), np.exp(x) / np.exp(x).sum())
    True
    """
    if where is not None:
        where = np.broadcast_to(np.asarray(where, dtype=bool), np.broadcast_shapes(np.shape(where), np.shape(a)))
    m = _shift(a, axis, where)
    e = np.exp(a - m if where is None else np.where(where, a - m, -np.inf))
    if b is not None:
        e = b * e
    s = np.sum(e, axis=axis, keepdims=True)
    sign = np.sign(strip(s))
    out = np.log(np.abs(s) if return_sign else s) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else np.reshape(out, ())
        sign = np.squeeze(sign, axis=axis) if axis is not None else np.reshape(sign, ())
    return (out, sign) if return_sign else out


def log_softmax(x, axis=None):
    """``x - logsumexp(x, axis, keepdims=True)``, as ``scipy.special.log_softmax``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.special import log_softmax
    >>> np.allclose(np.exp(log_softmax(np.array([0.0, np.log(3.0)]))), [0.25, 0.75])
    True
    """
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x, axis=None):
    """``exp(x) / sum(exp(x))`` along ``axis``, as ``scipy.special.softmax``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.special import softmax
    >>> J = ad.jacobian(softmax)(np.zeros(2))
    >>> np.allclose(J, [[0.25, -0.25], [-0.25, 0.25]])
    True
    """
    return np.exp(log_softmax(x, axis=axis))


def polygamma(n, x):
    """The n-th derivative of the digamma function, as ``scipy.special.polygamma``;
    differentiable in ``x`` (``n`` is an integer order).

    Examples
    --------
    >>> import dualad as ad
    >>> from scipy import special
    >>> from dualad.scipy.special import polygamma
    >>> bool(abs(ad.grad(lambda x: polygamma(1, x))(1.5) - special.polygamma(2, 1.5)) < 1e-12)
    True
    """
    if not (is_active(n) or is_active(x)):
        return _sp.polygamma(n, x)
    return RULES["polygamma"](n if is_active(n) else np.asarray(n, dtype=float), x)


def multigammaln(a, d: int):
    """The log of the multivariate gamma function of dimension ``d``, as
    ``scipy.special.multigammaln``: ``d(d-1)/4 ln π + Σ_j gammaln(a − j/2)``.

    Examples
    --------
    >>> import dualad as ad
    >>> from scipy import special
    >>> from dualad.scipy.special import multigammaln
    >>> g = ad.grad(lambda a: multigammaln(a, 3))(2.5)
    >>> bool(abs(g - sum(special.psi(2.5 - j / 2) for j in range(3))) < 1e-12)
    True
    """
    d = int(d)
    if d < 1:
        raise ValueError(f"multigammaln: the dimension d must be a positive integer, got {d}")
    if not np.all(strip(a) > 0.5 * (d - 1)):
        raise ValueError(f"multigammaln: a must be greater than (d - 1) / 2 = {0.5 * (d - 1)}")
    out = 0.25 * d * (d - 1) * np.log(np.pi)
    for j in range(d):
        out = out + _sp.gammaln(a - 0.5 * j)
    return out


def _exact_count(fn, *args, **kwargs):
    """SciPy's exact integer count (``exact=True``) of plain values; active ones refused."""
    if any(is_active(a) for a in args):
        raise TypeError(f"{fn.__name__}(exact=True) counts plain integers and has no derivative; "
                        "use exact=False to differentiate")
    return fn(*args, **kwargs)


def comb(N, k, exact=False, repetition=False):
    """The number of combinations of ``N`` things taken ``k`` at a time, as
    ``scipy.special.comb`` with ``exact=False``: ``binom(N, k)`` where ``0 ≤ k ≤ N``, else 0;
    differentiable in both (through the rule of ``binom``).

    Parameters
    ----------
    N, k : array_like or active values
    exact : bool
        Only ``False`` (floating point) is differentiable; ``True`` is SciPy's integer count of
        plain integers.
    repetition : bool
        Combinations with repetition: ``comb(N + k − 1, k)``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.special import comb
    >>> g = ad.grad(lambda n: comb(n, 2.0))(5.0)      # d/dn n(n − 1)/2 = n − 1/2
    >>> bool(np.isclose(g, 4.5))
    True
    """
    if exact:
        return _exact_count(_sp.comb, N, k, exact=True, repetition=repetition)
    if repetition:
        N = N + k - 1
    inside = (strip(k) <= strip(N)) & (strip(N) >= 0) & (strip(k) >= 0)
    return np.where(inside, binom(N, k), 0.0)


def factorial(n, exact=False):
    """``Γ(n + 1)``, 0 for ``n < 0``, as ``scipy.special.factorial`` with ``exact=False``;
    differentiable in ``n`` (``Γ(n + 1) ψ(n + 1)``).

    Examples
    --------
    >>> import dualad as ad
    >>> from dualad.scipy.special import digamma, factorial
    >>> bool(abs(ad.grad(factorial)(3.0) - 6.0 * digamma(4.0)) < 1e-12)   # Γ(4) ψ(4)
    True
    """
    if exact:
        return _exact_count(_sp.factorial, n, exact=True)
    return np.where(strip(n) < 0, 0.0, gamma(np.where(strip(n) < 0, 0.0, n) + 1.0))


def zeta(x, q=None):
    """The Hurwitz zeta function ``ζ(x, q) = Σ_k (k + q)^−x`` (Riemann's for ``q=None``), as
    ``scipy.special.zeta``; differentiable in ``q`` (``−x ζ(x + 1, q)``, to any order) and in
    ``x`` (``−Σ ln(k + q) (k + q)^−x``, summed as ζ itself; the second derivative in ``x`` is not
    offered and raises a ``TypeError`` naming it).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.special import zeta
    >>> bool(np.isclose(ad.grad(lambda q: zeta(3.0, q))(2.0), -3.0 * zeta(4.0, 2.0)))
    True
    """
    if q is None:
        if is_active(x):
            return zeta(x, 1.0)
        return _sp.zeta(x)
    return _sp.zeta(x, q)


def sici(x):
    """The sine and cosine integrals ``(Si(x), Ci(x))``, as ``scipy.special.sici`` (real ``x``;
    ``Ci`` of ``|x|`` for negative ``x``, as SciPy): ``Si′ = sin x / x``, ``Ci′ = cos x / x``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.special import sici
    >>> bool(np.isclose(ad.grad(lambda x: sici(x)[0])(1.0), np.sin(1.0)))
    True
    """
    if not is_active(x):
        return _sp.sici(x)
    return RULES["sici_si"](x), RULES["sici_ci"](x)


def fresnel(x):
    """The Fresnel integrals ``(S(x), C(x))``, as ``scipy.special.fresnel`` (real ``x``):
    ``S′ = sin(πx²/2)``, ``C′ = cos(πx²/2)``.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.special import fresnel
    >>> bool(np.isclose(ad.grad(lambda x: fresnel(x)[1])(1.0), np.cos(np.pi / 2)))
    True
    """
    if not is_active(x):
        return _sp.fresnel(x)
    return RULES["fresnel_s"](x), RULES["fresnel_c"](x)


def bessel_jn(z, *, v, n_iter=50):
    """The Bessel functions of the first kind ``J_0(z), ..., J_v(z)``, stacked on a new first
    axis, as ``jax.scipy.special.bessel_jn``: SciPy's ``jv`` of each order (its values, also at
    ``z = 0`` and ``z < 0``), differentiable in ``z`` through the rule of ``jv``.

    Parameters
    ----------
    z : array_like or active value
    v : int
        The highest order (keyword only, as JAX's).
    n_iter : int
        Accepted for JAX's signature (its recurrence's length); SciPy's ``jv`` needs none.

    Returns
    -------
    array of shape ``(v + 1,) + z.shape``

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from scipy import special
    >>> from dualad.scipy.special import bessel_jn
    >>> bessel_jn(np.array([0.0, 1.0]), v=1).shape
    (2, 2)
    >>> bool(np.isclose(ad.grad(lambda z: bessel_jn(z, v=1)[0])(1.0), -special.j1(1.0)))   # J₀′ = −J₁
    True
    """
    v = int(v)
    if v < 0:
        raise ValueError(f"bessel_jn: the highest order v must be a nonnegative integer, got {v}")
    return np.stack([jv(float(k), z) for k in range(v + 1)])


def bernoulli(n):
    """The Bernoulli numbers ``B_0, ..., B_n`` (``B_1 = −1/2``), as ``scipy.special.bernoulli``
    and ``jax.scipy.special.bernoulli``: plain numbers of a plain integer ``n``.

    Examples
    --------
    >>> from dualad.scipy.special import bernoulli
    >>> bernoulli(4)
    array([ 1.        , -0.5       ,  0.16666667,  0.        , -0.03333333])
    """
    if is_active(n):
        raise TypeError("bernoulli(n) takes a plain integer n: the Bernoulli numbers carry no derivative")
    return _sp.bernoulli(n)
