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
_SWAP = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


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


@implements(np.fft.fft)
def fft(a, n=None, axis=-1, norm=None, out=None):
    _no_out(out, "fft")
    return _c2c(a, None if n is None else (n,), (axis,), norm, False)


@implements(np.fft.ifft)
def ifft(a, n=None, axis=-1, norm=None, out=None):
    _no_out(out, "ifft")
    return _c2c(a, None if n is None else (n,), (axis,), norm, True)


@implements(np.fft.fftn)
def fftn(a, s=None, axes=None, norm=None, out=None):
    _no_out(out, "fftn")
    return _c2c(a, s, axes, norm, False)


@implements(np.fft.ifftn)
def ifftn(a, s=None, axes=None, norm=None, out=None):
    _no_out(out, "ifftn")
    return _c2c(a, s, axes, norm, True)


@implements(np.fft.fft2)
def fft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    return fftn(a, s, axes, norm, out)


@implements(np.fft.ifft2)
def ifft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    return ifftn(a, s, axes, norm, out)


@implements(np.fft.rfft)
def rfft(a, n=None, axis=-1, norm=None, out=None):
    _no_out(out, "rfft")
    return _r2c(a, n, axis, norm)


@implements(np.fft.irfft)
def irfft(a, n=None, axis=-1, norm=None, out=None):
    _no_out(out, "irfft")
    return _c2r(a, n, axis, norm)


@implements(np.fft.rfftn)
def rfftn(a, s=None, axes=None, norm=None, out=None):
    _no_out(out, "rfftn")
    a = _real(a, "rfftn")
    axes, s = _axes_sizes(a, s, axes)
    if not axes:
        return _complex(a)
    y = _r2c(a, s[-1], axes[-1], norm)
    return _c2c(y, s[:-1], axes[:-1], norm, False)


@implements(np.fft.irfftn)
def irfftn(a, s=None, axes=None, norm=None, out=None):
    _no_out(out, "irfftn")
    a = _complex(a)
    axes, s = _axes_sizes(a, s, axes, last_from_half=True)
    if not axes:
        return a
    y = _c2c(a, s[:-1], axes[:-1], norm, True)
    return _c2r(y, s[-1], axes[-1], norm)


@implements(np.fft.rfft2)
def rfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    return rfftn(a, s, axes, norm, out)


@implements(np.fft.irfft2)
def irfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    return irfftn(a, s, axes, norm, out)


@implements(np.fft.hfft)
def hfft(a, n=None, axis=-1, norm=None, out=None):
    _no_out(out, "hfft")
    return _c2r(np.conj(_complex(a)), n, axis, _SWAP[_norm(norm)])


@implements(np.fft.ihfft)
def ihfft(a, n=None, axis=-1, norm=None, out=None):
    _no_out(out, "ihfft")
    return np.conj(_r2c(a, n, axis, _SWAP[_norm(norm)]))


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
    return irfftn(np.conj(_complex(a)), s, axes, _SWAP[_norm(norm)])


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
    return np.conj(rfftn(a, s, axes, _SWAP[_norm(norm)]))


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
