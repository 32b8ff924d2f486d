"""SciPy functions on dualad values, as ``jax.scipy`` offers them for JAX.

SciPy's ufuncs (``scipy.special.erf``...) take dualad values as they are; the functions here
are for the SciPy functions that convert their input with ``np.asarray`` (which would drop the
derivative).  The submodules import SciPy when first used: ``import dualad`` does not.

Examples
--------
>>> import numpy as np
>>> import dualad as ad
>>> from dualad.scipy.special import logsumexp
>>> float(ad.grad(lambda x: logsumexp(x))(np.zeros(4))[0])
0.25
"""

import importlib

__all__ = ["special", "stats", "integrate", "signal"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
