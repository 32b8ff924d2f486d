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

These are JAX's conventions (the vjp is the plain transpose of the real-linear map), so
``Σ u·(Jv) = Σ (Jᵀu)·v`` holds exactly for the complex-linear ``fft`` and for the real parts
when one end is real.  Axes are negative, so lane axes in front never shift them.
"""

from __future__ import annotations

import numpy as np

from .structural import LinearOp

__all__ = ["fft", "rfft", "irfft", "hermitian_weights", "SWAP_NORM"]

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
    # Re F (ȳ zero-padded) = Σ_k Re(conj(ȳ_k) e^{+2πijk/n}) = irfft(conj(ȳ) / w) with the opposite norm
    n = shapes[0][axis]
    c = _weigh(np.conj(ct), n, axis, real, inverse=True)
    return (irfft.bind(c, n=n, axis=axis, norm=SWAP_NORM[norm], real=real, batch=batch),)


def _irfft(y, *, n, axis, norm, real, batch):
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
