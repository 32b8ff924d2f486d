"""Derivatives of the hypergeometric functions ₁F₁ and ₂F₁ in their parameters.

They have no closed form: each is the hypergeometric series differentiated term by term,
``∂/∂a Σ t_k = Σ t_k Σ_{j<k} 1/(a + j)`` (and ``−Σ t_k Σ_{j<k} 1/(b + j)`` for a lower
parameter), summed until the terms are below rounding.  ₁F₁ at ``x < 0`` goes through Kummer's
transformation ``₁F₁(a; b; x) = eˣ ₁F₁(b − a; b; −x)`` (no cancelling alternating series);
₂F₁ at ``x < −1/2`` through Pfaff's ``₂F₁(a, b; c; x) = (1 − x)⁻ᵃ ₂F₁(a, c − b; c; x/(x − 1))``;
₂F₁ is not offered at ``x ≥ 1`` (nan), where its series diverges.  Checked against central
differences of SciPy's ``hyp1f1`` and ``hyp2f1`` (``tests/test_scipy_namespace.py``).

The functions are Numba-compiled scalars; :mod:`dualad.rules.special` makes ufuncs of them and
declares their rules (their derivatives in ``x`` are expressions of the same functions).
"""

from __future__ import annotations

import math

import numba

__all__ = ["hyp1f1_da", "hyp1f1_db", "hyp2f1_da", "hyp2f1_db", "hyp2f1_dc"]

_TINY = 1e-17
_MAX_TERMS = 100000


@numba.njit(cache=True, error_model="numpy")
def _series1(a, b, x):
    """(∂a, ∂b) of ₁F₁(a; b; x) for x ≥ 0: positive terms once k > −a."""
    t = s = 1.0
    sa = sb = da = db = 0.0
    for k in range(_MAX_TERMS):
        sa += 1.0 / (a + k)
        sb += 1.0 / (b + k)
        t *= (a + k) / (b + k) * x / (k + 1.0)
        s += t
        da += t * sa
        db -= t * sb
        if k > x + abs(a) + abs(b) and abs(t) * (1.0 + abs(sa) + abs(sb)) <= _TINY * (abs(s) + abs(da) + abs(db)):
            return da, db
    return math.nan, math.nan


@numba.njit(cache=True, error_model="numpy")
def _hyp1f1_dab(a, b, x):
    if x >= 0.0:
        return _series1(a, b, x)
    d1, d2 = _series1(b - a, b, -x)  # Kummer: eˣ ₁F₁(b − a; b; −x)
    e = math.exp(x)
    return -e * d1, e * (d1 + d2)


@numba.njit(cache=True, error_model="numpy")
def _series2(a, b, c, x):
    """(value, ∂a, ∂b, ∂c) of ₂F₁(a, b; c; x) for |x| < 1."""
    t = s = 1.0
    sa = sb = sc = da = db = dc = 0.0
    for k in range(_MAX_TERMS):
        sa += 1.0 / (a + k)
        sb += 1.0 / (b + k)
        sc += 1.0 / (c + k)
        t *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * x
        s += t
        da += t * sa
        db += t * sb
        dc -= t * sc
        size = abs(sa) + abs(sb) + abs(sc)
        if k > abs(a) + abs(b) + abs(c) and abs(t) * (1.0 + size) <= _TINY * (abs(s) + abs(da) + abs(db) + abs(dc)):
            return s, da, db, dc
    return math.nan, math.nan, math.nan, math.nan


@numba.njit(cache=True, error_model="numpy")
def _hyp2f1_dabc(a, b, c, x):
    if x >= 1.0:
        return math.nan, math.nan, math.nan
    if x >= -0.5:
        _, da, db, dc = _series2(a, b, c, x)
        return da, db, dc
    w = (1.0 - x) ** -a  # Pfaff: (1 − x)⁻ᵃ ₂F₁(a, c − b; c; x/(x − 1))
    g, g1, g2, g3 = _series2(a, c - b, c, x / (x - 1.0))
    return w * (g1 - math.log1p(-x) * g), -w * g2, w * (g2 + g3)


def hyp1f1_da(a, b, x):
    """∂/∂a ₁F₁(a; b; x) (a scalar function; a ufunc in :mod:`dualad.rules.special`)."""
    return _hyp1f1_dab(a, b, x)[0]


def hyp1f1_db(a, b, x):
    """∂/∂b ₁F₁(a; b; x)."""
    return _hyp1f1_dab(a, b, x)[1]


def hyp2f1_da(a, b, c, x):
    """∂/∂a ₂F₁(a, b; c; x)."""
    return _hyp2f1_dabc(a, b, c, x)[0]


def hyp2f1_db(a, b, c, x):
    """∂/∂b ₂F₁(a, b; c; x)."""
    return _hyp2f1_dabc(a, b, c, x)[1]


def hyp2f1_dc(a, b, c, x):
    """∂/∂c ₂F₁(a, b; c; x)."""
    return _hyp2f1_dabc(a, b, c, x)[2]
