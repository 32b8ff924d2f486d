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

These are JAX's conventions (the vjp is the plain transpose of the real-linear map), so
``Σ u·(Jv) = Σ (Jᵀu)·v`` holds exactly for the complex-linear ``fft`` and for the real parts
when one end is real.  Axes are negative, so lane axes in front never shift them.
"""

from __future__ import annotations

import numpy as np

from .structural import LinearOp, astype, embed, getitem

__all__ = ["fft", "rfft", "irfft", "hermitian_weights"]


def _index(ndim: int, axis: int, stop: int) -> tuple:
    """A fully expanded basic index taking ``[:stop]`` on ``axis`` (negative) of ``ndim`` axes."""
    index = [slice(None)] * ndim
    index[ndim + axis] = slice(0, stop)
    return tuple(index)


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


def _complex_of(real) -> np.dtype:
    return np.result_type(real, np.complex64)


def _fft(x, *, axes, inverse, norm, batch):
    return (np.fft.ifftn if inverse else np.fft.fftn)(x, axes=axes, norm=norm)


fft = LinearOp("fft", _fft)


@fft.def_transpose
def _fft_t(ct, *, shapes, axes, inverse, norm, batch):
    return (fft.bind(ct, axes=axes, inverse=inverse, norm=norm, batch=batch),)


def _rfft(x, *, axis, norm, real, batch):
    return np.fft.rfft(x, axis=axis, norm=norm)


rfft = LinearOp("rfft", _rfft)


@rfft.def_transpose
def _rfft_t(ct, *, shapes, axis, norm, real, batch):
    (shape,) = shapes
    n = shape[axis]
    padded = embed.bind(ct, index=_index(len(shape), axis, n // 2 + 1), shape=tuple(shape), batch=batch)
    y = fft.bind(padded, axes=(axis,), inverse=False, norm=norm, batch=batch)
    return (astype.bind(y, dtype=real, in_dtype=_complex_of(real), batch=batch),)


def _irfft(y, *, n, axis, norm, real, batch):
    return np.fft.irfft(y, n, axis=axis, norm=norm)


irfft = LinearOp("irfft", _irfft)


@irfft.def_transpose
def _irfft_t(ct, *, shapes, n, axis, norm, real, batch):
    z = astype.bind(ct, dtype=_complex_of(real), in_dtype=real, batch=batch)
    z = fft.bind(z, axes=(axis,), inverse=True, norm=norm, batch=batch)
    half = getitem.bind(z, index=_index(len(shapes[0]), axis, n // 2 + 1), batch=batch)
    return (half * hermitian_weights(n, axis).astype(real),)
