"""Discrete Fourier transforms, each declared once as a linear op with its transpose.

Three ops cover every ``numpy.fft`` / ``scipy.fft`` transform (the handlers in
:mod:`dualad.core.fft_api` compose them with zero-padding/truncation, ``conj`` and dtype
conversion):

``fft``
    complex to complex over ``axes``, forward or inverse, with NumPy's ``norm``.  The DFT matrix
    is symmetric, so its (plain, non-conjugating) transpose is the same transform.
``rfft``
    real to the half spectrum along one axis, ``y = R F x`` (``R`` keeps the first ``n//2 + 1``
    entries).  For the pairing ``Re Σ ȳ·y`` its transpose is ``x̄ = Re F (ȳ zero-padded to n)``.
``irfft``
    the half spectrum to ``n`` real values, ``x = Re G (w ⊙ y)`` with ``G`` the inverse DFT of the
    zero-padded half spectrum and ``w`` the Hermitian weights (1 for the DC term and, for even
    ``n``, the Nyquist term; 2 for the others).  Its transpose is ``ȳ = w ⊙ (G x̄)[:n//2 + 1]``.

The two real transforms' transposes are each other's, at half the cost of a complex transform of
length ``n``: ``Re F (ȳ padded) = irfft(conj(ȳ)/w)`` and ``(G x̄)[:n//2 + 1] = conj(rfft(x̄))``,
both with the opposite ``norm``.

The transforms run on ducc0 when it is installed (a dependency of dualad: the FFT library JAX
uses, about twice as fast as NumPy's pocketfft on long transforms here) and on NumPy otherwise, or
when ``DUALAD_FFT=numpy`` is set; only host arrays of the four IEEE dtypes go to ducc0.

These are JAX's conventions (the vjp is the plain transpose of the real-linear map), so
``Σ u·(Jv) = Σ (Jᵀu)·v`` holds exactly for the complex-linear ``fft`` and for the real parts
when one end is real.  Axes are negative, so lane axes in front never shift them.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os

import numpy as np

from .structural import LinearOp

__all__ = ["fft", "rfft", "irfft", "hermitian_weights", "SWAP_NORM", "BACKENDS", "backend"]

#: The ``norm`` that scales the other direction (NumPy's ``hfft`` swaps it, and so do transposes).
SWAP_NORM = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


def hermitian_weights(n: int, axis: int) -> np.ndarray:
    """The weights ``w`` of a half spectrum of ``n`` real values, shaped to broadcast along the
    negative ``axis``: each of the ``n//2 + 1`` stored terms counts ``w`` times in the full one.

    Examples
    --------
    >>> from dualad.rules.fft import hermitian_weights
    >>> hermitian_weights(4, -1).tolist(), hermitian_weights(5, -1).tolist()
    ([1.0, 2.0, 1.0], [1.0, 2.0, 2.0])
    """
    w = np.full(n // 2 + 1, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return np.reshape(w, (n // 2 + 1,) + (1,) * (-axis - 1))


#: The libraries that can compute the transforms, fastest first.
BACKENDS = ("ducc0", "numpy")


@functools.cache
def backend() -> str:
    """The library that computes the transforms: ``"ducc0"`` when it is installed, else
    ``"numpy"``; the environment variable ``DUALAD_FFT`` (read once) picks one of them.

    Examples
    --------
    >>> from dualad.rules.fft import backend
    >>> backend() in ("ducc0", "numpy")
    True
    """
    chosen = os.environ.get("DUALAD_FFT")
    if chosen is None:
        return "ducc0" if importlib.util.find_spec("ducc0") is not None else "numpy"
    if chosen not in BACKENDS:
        raise ValueError(f"DUALAD_FFT={chosen!r} names no FFT library; set it to one of {', '.join(BACKENDS)} or unset it")
    if chosen == "ducc0" and importlib.util.find_spec("ducc0") is None:
        raise ImportError("DUALAD_FFT=ducc0 but ducc0 is not installed; pip install ducc0, or unset DUALAD_FFT")
    return chosen


_DUCC_DTYPES = frozenset(map(np.dtype, ("float32", "float64", "complex64", "complex128")))


def _ducc(x, kind: str):
    """ducc0's ``fft`` module when it computes this transform of ``x``: a non-empty host array of
    an IEEE dtype of ``kind`` (``"c"`` or ``"f"``); None sends it to NumPy."""
    if type(x) is not np.ndarray or x.dtype.kind != kind or x.dtype not in _DUCC_DTYPES or x.size == 0 or backend() != "ducc0":
        return None
    return importlib.import_module("ducc0").fft


def _inorm(norm: str, inverse: bool) -> int:
    """ducc0's scaling of NumPy's ``norm``: 0 none, 1 by 1/√n, 2 by 1/n."""
    if norm == "ortho":
        return 1
    return 2 if (norm == "forward") != inverse else 0


def _fft(x, *, axes, inverse, norm, batch):
    ducc = _ducc(x, "c")
    if ducc is not None:
        axes = tuple(ax % x.ndim for ax in axes)
        return ducc.c2c(x, axes=axes, forward=not inverse, inorm=_inorm(norm, inverse), nthreads=1)
    return (np.fft.ifftn if inverse else np.fft.fftn)(x, axes=axes, norm=norm)


fft = LinearOp("fft", _fft)


@fft.def_transpose
def _fft_t(ct, *, shapes, axes, inverse, norm, batch):
    return (fft.bind(ct, axes=axes, inverse=inverse, norm=norm, batch=batch),)


def _rfft(x, *, axis, norm, real, batch):
    ducc = _ducc(x, "f")
    if ducc is not None:
        return ducc.r2c(x, axes=(axis % x.ndim,), forward=True, inorm=_inorm(norm, False), nthreads=1)
    return np.fft.rfft(x, axis=axis, norm=norm)


rfft = LinearOp("rfft", _rfft)


@rfft.def_transpose
def _rfft_t(ct, *, shapes, axis, norm, real, batch):
    # Re F (ȳ zero-padded) = Σ_k Re(conj(ȳ_k) e^{+2πijk/n}) = irfft(conj(ȳ) / w) with the opposite norm
    n = shapes[0][axis]
    c = _weigh(np.conj(ct), n, axis, real, inverse=True)
    return (irfft.bind(c, n=n, axis=axis, norm=SWAP_NORM[norm], real=real, batch=batch),)


def _irfft(y, *, n, axis, norm, real, batch):
    ducc = _ducc(y, "c")
    if ducc is not None and y.shape[axis] == n // 2 + 1:
        return ducc.c2r(y, axes=(axis % y.ndim,), lastsize=n, forward=False, inorm=_inorm(norm, True), nthreads=1)
    return np.fft.irfft(y, n, axis=axis, norm=norm)


irfft = LinearOp("irfft", _irfft)


@irfft.def_transpose
def _irfft_t(ct, *, shapes, n, axis, norm, real, batch):
    # (G x̄)[:n//2 + 1] for real x̄ = conj(rfft(x̄)) with the opposite norm
    half = np.conj(rfft.bind(ct, axis=axis, norm=SWAP_NORM[norm], real=real, batch=batch))
    return (_weigh(half, n, axis, real, inverse=False),)


def _weigh(c, n: int, axis: int, real, inverse: bool):
    """``c ⊙ w`` (or ``c / w``) for the Hermitian weights ``w`` of ``n`` along ``axis``, ``c`` a
    half spectrum just made by the caller: a host array is scaled in place where ``w = 2`` (no
    array of weights, no second full-size array); other values (nested, device) are multiplied."""
    if type(c) is np.ndarray:
        c[(Ellipsis, slice(1, (n + 1) // 2)) + (slice(None),) * (-axis - 1)] *= 0.5 if inverse else 2.0
        return c
    w = hermitian_weights(n, axis)
    return c * (1.0 / w if inverse else w).astype(real)
