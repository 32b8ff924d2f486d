"""``scipy.fft`` for dualad's values, as ``jax.scipy.fft``.

SciPy's transforms turn their inputs into plain arrays (``np.asarray``), so they cannot see
derivatives; these take the same arguments, return SciPy's values on plain arrays, and on active
values are differentiable in every mode and nesting order (they are the ``numpy.fft`` handlers of
:mod:`dualad.core.fft_api`, plus ``hfft2``/``hfftn``/``ihfft2``/``ihfftn``).  ``overwrite_x`` and
``workers`` are accepted and change nothing; ``fftfreq``/``rfftfreq`` are SciPy's (constants).

Examples
--------
>>> import numpy as np
>>> import dualad as ad
>>> import dualad.scipy.fft as dsf
>>> x = np.array([1.0, 2.0, 0.0, -1.0])
>>> g = ad.grad(lambda x: np.sum(np.abs(dsf.fft(x)) ** 2))(x)
>>> bool(np.allclose(g, 2 * len(x) * x))  # Parseval: sum |fft(x)|^2 = n sum x^2
True
"""

from __future__ import annotations

import scipy.fft as _sf

from ..core import fft_api as _api

__all__ = [
    "fft", "ifft", "fft2", "ifft2", "fftn", "ifftn",
    "rfft", "irfft", "rfft2", "irfft2", "rfftn", "irfftn",
    "hfft", "ihfft", "hfft2", "ihfft2", "hfftn", "ihfftn",
    "fftshift", "ifftshift", "fftfreq", "rfftfreq",
]  # fmt: skip

_EXAMPLE = """As :func:`scipy.fft.{name}`, differentiable.

    Examples
    --------
    >>> import numpy as np, scipy.fft
    >>> from dualad.scipy.fft import {name}
    >>> x = np.array([[1.0, 2.0, 0.5, -1.0], [0.0, 3.0, 1.0, 2.0]])
    >>> bool(np.allclose({name}(x), scipy.fft.{name}(x)))
    True
    """


def _no_plan(plan) -> None:
    if plan is not None:
        raise NotImplementedError("Passing a precomputed plan is not supported by scipy.fft functions; drop plan=")


def _one_axis(name: str, handler):
    def transform(x, n=None, axis=-1, norm=None, overwrite_x=False, workers=None, *, plan=None):
        _no_plan(plan)
        return handler(x, n, axis, norm)

    transform.__name__ = transform.__qualname__ = name
    transform.__doc__ = _EXAMPLE.format(name=name)
    return transform


def _many_axes(name: str, handler, axes=None):
    def transform(x, s=None, axes=axes, norm=None, overwrite_x=False, workers=None, *, plan=None):
        _no_plan(plan)
        return handler(x, s, axes, norm)

    transform.__name__ = transform.__qualname__ = name
    transform.__doc__ = _EXAMPLE.format(name=name)
    return transform


fft, ifft, rfft, irfft, hfft, ihfft = (_one_axis(n, getattr(_api, n)) for n in ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft"))
fftn, ifftn, rfftn, irfftn, hfftn, ihfftn = (_many_axes(n, getattr(_api, n)) for n in ("fftn", "ifftn", "rfftn", "irfftn", "hfftn", "ihfftn"))
_KINDS = ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft")
fft2, ifft2, rfft2, irfft2, hfft2, ihfft2 = (_many_axes(n + "2", getattr(_api, n + "n"), (-2, -1)) for n in _KINDS)

def fftshift(x, axes=None):
    """As :func:`scipy.fft.fftshift`: the zero frequency moved to the centre (a roll).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.fft import fftshift
    >>> fftshift(np.arange(5.0))
    array([3., 4., 0., 1., 2.])
    """
    return _api.fftshift(x, axes)


def ifftshift(x, axes=None):
    """As :func:`scipy.fft.ifftshift`: the inverse of :func:`fftshift` (a roll).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.fft import ifftshift
    >>> ifftshift(np.array([3.0, 4.0, 0.0, 1.0, 2.0]))
    array([0., 1., 2., 3., 4.])
    """
    return _api.ifftshift(x, axes)


def fftfreq(n, d=1.0, *, xp=None, device=None):
    """As :func:`scipy.fft.fftfreq`: the sample frequencies, a constant (plain array).

    Examples
    --------
    >>> from dualad.scipy.fft import fftfreq
    >>> fftfreq(4, d=0.5)
    array([ 0. ,  0.5, -1. , -0.5])
    """
    return _sf.fftfreq(n, d) if xp is None and device is None else _sf.fftfreq(n, d, xp=xp, device=device)


def rfftfreq(n, d=1.0, *, xp=None, device=None):
    """As :func:`scipy.fft.rfftfreq`: the sample frequencies of a half spectrum, a constant.

    Examples
    --------
    >>> from dualad.scipy.fft import rfftfreq
    >>> rfftfreq(4, d=0.5)
    array([0. , 0.5, 1. ])
    """
    return _sf.rfftfreq(n, d) if xp is None and device is None else _sf.rfftfreq(n, d, xp=xp, device=device)
