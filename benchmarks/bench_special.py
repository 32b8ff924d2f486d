"""asv benchmarks: SciPy's special functions through dualad's kernels, against SciPy's ufunc.

``scipy`` is SciPy's own ufunc on the array (the baseline), ``value`` the rule's compiled value
kernel (which calls the same compiled function: ``math.erf``/``math.lgamma`` here), ``grad``
the gradient of ``sum(f(x))`` in reverse mode (the value and the fused adjoint kernel).
"""

import functools

import numpy as np
from scipy import special

import dualad as ad
import dualad.scipy.special  # noqa: F401  (declares SciPy's rules)
from dualad import kernels
from dualad.rules import UFUNC_RULES

N = 1_000_000


@functools.cache
def _state(name: str, variant: str):
    uf = getattr(special, name)
    x = np.linspace(0.1, 3.0, N)
    if variant == "scipy":
        return lambda: uf(x)
    if variant == "value":
        rule = UFUNC_RULES[uf]
        return lambda: kernels.value(rule, [x], np.float64)
    if variant == "grad":
        g = ad.grad(lambda x: np.sum(uf(x)))
        return lambda: g(x)
    raise ValueError(variant)


class SpecialFunctions:
    """erf and gammaln on 10⁶ float64 elements: value and gradient, per call."""

    params = (["erf", "gammaln"], ["scipy", "value", "grad"])
    param_names = ["function", "variant"]

    def setup(self, name, variant):
        self.fn = _state(name, variant)
        self.fn()  # compile or load the kernels before timing

    def time_call(self, name, variant):
        self.fn()
