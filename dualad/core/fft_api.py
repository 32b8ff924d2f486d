"""``numpy.fft`` on active values: every transform as the ops of :mod:`dualad.rules.fft`.

This module holds no derivative.  ``n``/``s`` become zero-padding or truncation (basic indexing
and its transpose), real inputs to complex transforms a dtype conversion, ``hfft``/``ihfft``
``conj`` around ``irfft``/``rfft`` with the opposite ``norm`` (as NumPy defines them), and
``fftshift``/``ifftshift`` rolls; the derivatives follow from those ops.  ``float32`` input
keeps single precision (``complex64``), as NumPy 2 does.  ``dualad.scipy.fft`` reuses these.
"""

from __future__ import annotations

import numpy as np

from ..rules import fft as F
from ..rules import structural as S
from .numpy_api import as_array, axes_of, implements, roll

__all__ = [
    "fft", "ifft", "fft2", "ifft2", "fftn", "ifftn",
    "rfft", "irfft", "rfft2", "irfft2", "rfftn", "irfftn",
    "hfft", "ihfft", "hfftn", "ihfftn", "fftshift", "ifftshift",
]  # fmt: skip

_NORMS = ("backward", "ortho", "forward")
_SWAP = F.SWAP_NORM


def _norm(norm) -> str:
    norm = "backward" if norm is None else norm
    if norm not in _NORMS:
        raise ValueError(f'Invalid norm value {norm!r}; should be "backward", "ortho" or "forward".')
    return norm


def _no_out(out, name: str) -> None:
    if out is not None:
        raise TypeError(f"np.fft.{name}(..., out=...) cannot write derivatives into an existing array; drop out=")


def _float(a):
    """``a`` with an inexact dtype (integers and booleans become float64)."""
    a = as_array(a)
    return S.astype.bind(a, dtype=np.dtype(np.float64), in_dtype=np.dtype(a.dtype), batch=0) if a.dtype.kind in "biu" else a


def _complex(a):
    a = _float(a)
    if a.dtype.kind == "c":
        return a
    return S.astype.bind(a, dtype=np.result_type(a.dtype, np.complex64), in_dtype=np.dtype(a.dtype), batch=0)


def _real(a, name: str):
    a = _float(a)
    if a.dtype.kind == "c":
        raise TypeError(f"np.fft.{name} takes real input, got {a.dtype}; take np.real(x) first, or use np.fft.fft")
    return a


def _resize(a, axis: int, size: int):
    """``a`` truncated or zero-padded to ``size`` along the negative ``axis``."""
    if size < 1:
        raise ValueError(f"Invalid number of FFT data points ({size}) specified.")
    have = a.shape[axis]
    index = [slice(None)] * a.ndim
    index[a.ndim + axis] = slice(0, min(size, have))
    if size < have:
        return S.getitem.bind(a, index=tuple(index), batch=0)
    if size > have:
        shape = list(a.shape)
        shape[axis] = size
        return S.embed.bind(a, index=tuple(index), shape=tuple(shape), batch=0)
    return a


def _axes_sizes(a, s, axes, last_from_half: bool = False):
    """NumPy's reading of ``s`` and ``axes``: negative axes and the size along each."""
    if axes is None:
        axes = range(-(len(s) if s is not None else a.ndim), 0)
    axes = [axes_of(ax, a.ndim)[0] for ax in axes]
    if s is None:
        s = [a.shape[ax] for ax in axes]
        if last_from_half and axes:
            s[-1] = 2 * (s[-1] - 1)
    elif len(s) != len(axes):
        raise ValueError("Shape and axes have different lengths.")
    s = [a.shape[ax] if n in (None, -1) else int(n) for ax, n in zip(axes, s)]
    return axes, s


def _c2c(a, s, axes, norm, inverse: bool):
    a = _complex(a)
    axes, s = _axes_sizes(a, s, axes)
    if not axes:
        return a
    for ax, n in zip(axes, s):
        a = _resize(a, ax, n)
    return F.fft.bind(a, axes=tuple(axes), inverse=inverse, norm=_norm(norm), batch=0)


def _r2c(a, n, axis, norm):
    a = _real(a, "rfft")
    ax = axes_of(axis, a.ndim)[0]
    a = _resize(a, ax, a.shape[ax] if n is None else int(n))
    return F.rfft.bind(a, axis=ax, norm=_norm(norm), real=np.dtype(a.dtype), batch=0)


def _c2r(a, n, axis, norm):
    a = _complex(a)
    ax = axes_of(axis, a.ndim)[0]
    n = 2 * (a.shape[ax] - 1) if n is None else int(n)
    a = _resize(a, ax, n // 2 + 1)
    real = np.dtype(a.dtype).type(0).real.dtype
    return F.irfft.bind(a, n=n, axis=ax, norm=_norm(norm), real=real, batch=0)


def _one_axis(np_func, body):
    """The handler of a one-axis transform ``np_func(a, n, axis, norm, out)``."""

    @implements(np_func)
    def handler(a, n=None, axis=-1, norm=None, out=None):
        _no_out(out, np_func.__name__)
        return body(a, n, axis, norm)

    handler.__name__ = handler.__qualname__ = np_func.__name__
    return handler


def _many_axes(np_func, body, default_axes=None):
    """The handler of an N-D transform ``np_func(a, s, axes, norm, out)``."""

    @implements(np_func)
    def handler(a, s=None, axes=default_axes, norm=None, out=None):
        _no_out(out, np_func.__name__)
        return body(a, s, axes, norm)

    handler.__name__ = handler.__qualname__ = np_func.__name__
    return handler


def _rfftn(a, s, axes, norm):
    a = _real(a, "rfftn")
    axes, s = _axes_sizes(a, s, axes)
    if not axes:
        return _complex(a)
    return _c2c(_r2c(a, s[-1], axes[-1], norm), s[:-1], axes[:-1], norm, False)


def _irfftn(a, s, axes, norm):
    a = _complex(a)
    axes, s = _axes_sizes(a, s, axes, last_from_half=True)
    if not axes:
        return a
    return _c2r(_c2c(a, s[:-1], axes[:-1], norm, True), s[-1], axes[-1], norm)


def _fftn(inverse: bool):
    return lambda a, s, axes, norm: _c2c(a, s, axes, norm, inverse)


def _fft1(inverse: bool):
    return lambda a, n, axis, norm: _c2c(a, None if n is None else (n,), (axis,), norm, inverse)


fft, ifft = _one_axis(np.fft.fft, _fft1(False)), _one_axis(np.fft.ifft, _fft1(True))
rfft, irfft = _one_axis(np.fft.rfft, _r2c), _one_axis(np.fft.irfft, _c2r)
hfft = _one_axis(np.fft.hfft, lambda a, n, axis, norm: _c2r(np.conj(_complex(a)), n, axis, _SWAP[_norm(norm)]))
ihfft = _one_axis(np.fft.ihfft, lambda a, n, axis, norm: np.conj(_r2c(a, n, axis, _SWAP[_norm(norm)])))
fftn, ifftn = _many_axes(np.fft.fftn, _fftn(False)), _many_axes(np.fft.ifftn, _fftn(True))
rfftn, irfftn = _many_axes(np.fft.rfftn, _rfftn), _many_axes(np.fft.irfftn, _irfftn)
fft2, ifft2 = _many_axes(np.fft.fft2, _fftn(False), (-2, -1)), _many_axes(np.fft.ifft2, _fftn(True), (-2, -1))
rfft2, irfft2 = _many_axes(np.fft.rfft2, _rfftn, (-2, -1)), _many_axes(np.fft.irfft2, _irfftn, (-2, -1))


def hfftn(a, s=None, axes=None, norm=None):
    """The N-D transform of a Hermitian-symmetric half spectrum (``scipy.fft.hfftn``): ``irfftn``
    of ``conj(a)`` with the opposite ``norm``.

    Examples
    --------
    >>> import numpy as np, scipy.fft
    >>> from dualad.core.fft_api import hfftn
    >>> a = np.array([[1.0, 2.0j], [3.0, 4.0]])
    >>> bool(np.allclose(hfftn(a), scipy.fft.hfftn(a)))
    True
    """
    return _irfftn(np.conj(_complex(a)), s, axes, _SWAP[_norm(norm)])


def ihfftn(a, s=None, axes=None, norm=None):
    """The inverse of :func:`hfftn` (``scipy.fft.ihfftn``): ``conj(rfftn(a))`` with the opposite
    ``norm``.

    Examples
    --------
    >>> import numpy as np, scipy.fft
    >>> from dualad.core.fft_api import ihfftn
    >>> a = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> bool(np.allclose(ihfftn(a), scipy.fft.ihfftn(a)))
    True
    """
    return np.conj(_rfftn(a, s, axes, _SWAP[_norm(norm)]))


def _shift(x, axes, sign: int):
    x = as_array(x)
    axes = tuple(range(x.ndim)) if axes is None else axes
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    return roll(x, tuple(sign * (x.shape[ax] // 2) for ax in axes), axes)


@implements(np.fft.fftshift)
def fftshift(x, axes=None):
    return _shift(x, axes, 1)


@implements(np.fft.ifftshift)
def ifftshift(x, axes=None):
    return _shift(x, axes, -1)
