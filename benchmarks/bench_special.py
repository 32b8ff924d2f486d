"""asv benchmarks: SciPy's special functions through dualad's kernels, against SciPy's ufunc.

``scipy`` is SciPy's own ufunc on the array (the baseline), ``value`` the rule's compiled value
kernel (which calls the same compiled function: ``math.erf``/``math.lgamma``, SciPy's own
``jv``), ``grad`` the gradient of ``sum(f(x))`` in reverse mode (the value and the fused adjoint
kernel; ``jv``'s reads the value the forward pass kept: one Bessel function more, not two).
"""

import functools

import numpy as np
from scipy import special

import dualad as ad
import dualad.scipy.special  # noqa: F401  (declares SciPy's rules)
from dualad import kernels
from dualad.rules import UFUNC_RULES

N = 1_000_000
#: Leading arguments before x (jv's order).
_LEAD = {"jv": (2.5,)}


@functools.cache
def _state(name: str, variant: str):
    uf = getattr(special, name)
    lead = _LEAD.get(name, ())
    x = np.linspace(0.1, 3.0, N)
    if variant == "scipy":
        return lambda: uf(*lead, x)
    if variant == "value":
        rule = UFUNC_RULES[uf]
        return lambda: kernels.value(rule, [*lead, x], np.float64)
    if variant == "grad":
        g = ad.grad(lambda x: np.sum(uf(*lead, x)))
        return lambda: g(x)
    raise ValueError(variant)


class SpecialFunctions:
    """erf, gammaln and jv (order 2.5) on 10⁶ float64 elements: value and gradient, per call."""

    params = (["erf", "gammaln", "jv"], ["scipy", "value", "grad"])
    param_names = ["function", "variant"]

    def setup(self, name, variant):
        self.fn = _state(name, variant)
        self.fn()  # compile or load the kernels before timing

    def time_call(self, name, variant):
        self.fn()
