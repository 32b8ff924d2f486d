"""Per-element cost of the special-function kernels against SciPy's own ufunc (issue 16).

For every special function the rule table declares (``scipy.special``'s, ``np.sinc``, and
``np.i0`` through ``scipy.special.i0``'s rule), on ``n`` = 1e6 float64 points of a typical
range of its last argument (the leading ones fixed scalars: an order, a shape parameter):

``scipy ms``
    SciPy's ufunc (NumPy's ``np.sinc``; ``scipy.special.polygamma``, a Python function over
    ``psi`` and ``zeta``, which ``dualad.scipy.special.polygamma`` calls on plain values),
    the baseline;
``value/scipy``
    the rule's compiled value kernel (:func:`dualad.kernels.value`), the kernels' per-element
    cost of the value alone;
``grad/scipy``
    ``dualad.grad`` of ``sum(f(..., x))`` in ``x``: the value (SciPy's ufunc), the tape and
    the fused adjoint kernel.

Process CPU time, the best of ``--repeat`` runs after one warm-up call (which compiles or
loads the kernels).  The issue's bar: value within 2x, gradient within 3x.  Run from the
repository root::

    python -m benchmarks.special_table [--repeat 5] [--only iv,gammainc]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import special
from scipy.special import _ufuncs

import dualad as ad
import dualad.scipy.special as dspecial
from dualad import kernels
from dualad.rules import RULES

from .timing import best_of

N = 1_000_000
_POS = (0.1, 3.0)
_PROB = (0.01, 0.99)
#: (rule name, the function, leading scalar arguments, range of the last argument)
CASES = [
    ("erf", special.erf, (), _POS), ("erfc", special.erfc, (), _POS), ("erfinv", special.erfinv, (), _PROB),
    ("erfcinv", special.erfcinv, (), (0.1, 1.9)), ("erfcx", special.erfcx, (), _POS),
    ("psi", special.psi, (), _POS), ("gamma", special.gamma, (), _POS), ("gammaln", special.gammaln, (), _POS),
    ("rgamma", special.rgamma, (), _POS), ("gammasgn", special.gammasgn, (), _POS),
    ("polygamma", dspecial.polygamma, (1,), _POS), ("_zeta", _ufuncs._zeta, (3.0,), _POS),
    ("beta", special.beta, (1.5,), _POS), ("betaln", special.betaln, (1.5,), _POS),
    ("betainc", special.betainc, (2.0, 3.0), _PROB), ("betaincc", special.betaincc, (2.0, 3.0), _PROB),
    ("gammainc", special.gammainc, (2.0,), _POS), ("gammaincc", special.gammaincc, (2.0,), _POS),
    ("chdtr", special.chdtr, (3.0,), (0.1, 6.0)), ("chdtrc", special.chdtrc, (3.0,), (0.1, 6.0)),
    ("stdtr", special.stdtr, (4.0,), (-3.0, 3.0)), ("expit", special.expit, (), (-4.0, 4.0)),
    ("logit", special.logit, (), _PROB), ("xlogy", special.xlogy, (1.5,), _POS),
    ("xlog1py", special.xlog1py, (1.5,), _POS), ("entr", special.entr, (), _POS),
    ("rel_entr", special.rel_entr, (1.5,), _POS), ("kl_div", special.kl_div, (1.5,), _POS),
    ("ndtr", special.ndtr, (), (-3.0, 3.0)), ("ndtri", special.ndtri, (), _PROB),
    ("log_ndtr", special.log_ndtr, (), (-3.0, 3.0)), ("i0", special.i0, (), _POS), ("i1", special.i1, (), _POS),
    ("i0e", special.i0e, (), _POS), ("i1e", special.i1e, (), _POS), ("iv", special.iv, (1.5,), _POS),
    ("ive", special.ive, (1.5,), _POS), ("j0", special.j0, (), _POS), ("j1", special.j1, (), _POS),
    ("jv", special.jv, (2.5,), _POS), ("y0", special.y0, (), _POS), ("y1", special.y1, (), _POS),
    ("yn", special.yn, (2,), _POS), ("gammaincinv", special.gammaincinv, (2.0,), _PROB),
    ("betaincinv", special.betaincinv, (2.0, 3.0), _PROB), ("stdtrit", special.stdtrit, (4.0,), _PROB),
    ("sinc", np.sinc, (), (-3.0, 3.0)),
]


def _best(fn, repeat: int) -> float:
    return best_of(fn, repeat, time.process_time, warm=True)


def row(name: str, fn, lead: tuple, span: tuple, repeat: int) -> tuple[float, float, float]:
    """``(scipy seconds, value / scipy, grad / scipy)`` for one case."""
    x = np.linspace(*span, N)
    rule = RULES[name]
    base = _best(lambda: fn(*lead, x), repeat)
    value = _best(lambda: kernels.value(rule, [*lead, x], np.float64), repeat)
    grad = ad.grad(lambda y: np.sum(fn(*lead, y)))
    return base, value / base, _best(lambda: grad(x), repeat) / base


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated rule names")
    args = parser.parse_args(argv)
    only = set(filter(None, args.only.split(",")))
    print(f"{'function':12s} {'scipy ms':>9s} {'value/scipy':>12s} {'grad/scipy':>11s}")
    for name, fn, lead, span in CASES:
        if only and name not in only:
            continue
        base, value, grad = row(name, fn, lead, span, args.repeat)
        flag = ("  value>2" if value > 2 else "") + ("  grad>3" if grad > 3 else "")
        print(f"{name:12s} {base * 1e3:9.2f} {value:12.2f} {grad:11.2f}{flag}", flush=True)


if __name__ == "__main__":
    main()
