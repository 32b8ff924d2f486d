"""SciPy functions on dualad values, as ``jax.scipy`` offers them for JAX.

SciPy's ufuncs (``scipy.special.erf``...) take dualad values as they are; the functions here
(``dualad.scipy.linalg``, ``fft``, ``special``, ``stats``, ``integrate``, ``signal``) are for the SciPy
functions that convert their input with ``np.asarray`` (which would drop the derivative).  The
submodules import SciPy when first used: ``import dualad`` does not.

Examples
--------
>>> import numpy as np
>>> import dualad as ad
>>> from dualad.scipy.special import logsumexp
>>> float(ad.grad(lambda x: logsumexp(x))(np.zeros(4))[0])
0.25
>>> import dualad.scipy.linalg as dsl
>>> ad.grad(lambda a: np.sum(dsl.expm(a)))(np.zeros((2, 2)))
array([[1., 1.],
       [1., 1.]])
"""

import importlib
import sys

from ..core.array import ASARRAY_HINTS

__all__ = ["linalg", "fft", "special", "stats", "integrate", "signal"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _equivalent(frame) -> str | None:
    """``dualad.scipy.<module>.<name>`` for the SciPy function a user's call entered (the
    outermost SciPy frame below it), if dualad.scipy offers it."""
    outer = None
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith("scipy."):
            outer = frame
        elif outer is not None:
            break
        frame = frame.f_back
    if outer is None:
        return None
    top = outer.f_globals["__name__"].split(".")[1]
    name = outer.f_code.co_name
    if name == "__ua_function__":  # scipy.fft's uarray dispatch: the function called is `method`
        name = getattr(outer.f_locals.get("method"), "__name__", name)
    dist = getattr(outer.f_locals.get("self"), "name", None)
    if top not in __all__:
        return None
    module = importlib.import_module(f"{__name__}.{top}")
    target = getattr(module, dist, None) if isinstance(dist, str) else module
    if dist is not None and target is not None:
        name = f"{dist}.{name}"
        target = getattr(target, outer.f_code.co_name, None)
    elif target is not None:
        target = getattr(module, name, None)
    return f"{__name__}.{top}.{name}" if target is not None else None


#: SciPy's distribution objects (``scipy.stats.norm``, ``scipy.stats.Normal``...): their methods
#: convert with ``np.asarray`` in array-API mode too (SciPy 1.17: ``asarray``/``place`` into NumPy
#: arrays; ``np.asarray`` and ``xp=np`` in the new infrastructure).
_NUMPY_ONLY = ("scipy.stats._distn_infrastructure", "scipy.stats._distribution_infrastructure")


def _hint() -> str:
    """The sentence the np.asarray escape error adds when SciPy is converting the value."""
    frame = sys._getframe(1)
    names = [f.f_globals.get("__name__", "") for f in _frames(frame)]
    if not any(name.startswith("scipy.") for name in names):
        return ""
    found = _equivalent(frame)
    use = f"Use {found}, which differentiates it" if found else "Look for an equivalent in dualad.scipy"
    if any(name in _NUMPY_ONLY for name in names):
        return (f"SciPy's distribution objects convert their inputs with np.asarray, even in SciPy's array-API mode "
                f"(SCIPY_ARRAY_API=1). {use}. ")
    api = sys.modules.get("scipy._lib._array_api")
    if api is not None and getattr(api, "SCIPY_ARRAY_API", False):
        return f"SciPy converts its inputs with np.asarray here, even in its array-API mode (SCIPY_ARRAY_API=1 is set). {use}. "
    return (f"SciPy converts its inputs with np.asarray here. {use}, or set SCIPY_ARRAY_API=1 before importing SciPy "
            "(its array-API mode passes dualad values through). ")


def _frames(frame):
    while frame is not None:
        yield frame
        frame = frame.f_back


ASARRAY_HINTS.append(_hint)
