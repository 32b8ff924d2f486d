"""SciPy's functions on dualad's values, as ``jax.scipy``: ``dualad.scipy.linalg``, ``dualad.scipy.fft``.

Submodules import on first use, so ``import dualad`` does not import SciPy.

Examples
--------
>>> import numpy as np
>>> import dualad as ad
>>> import dualad.scipy.linalg as dsl
>>> ad.grad(lambda a: np.sum(dsl.expm(a)))(np.zeros((2, 2)))
array([[1., 1.],
       [1., 1.]])
"""

import importlib

__all__ = ["fft", "linalg"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
