"""``dualad.scipy.signal``: N-dimensional convolution and correlation on dualad values.

Both are computed directly: the full convolution gathers, for every output position, the
elements of ``in1`` that the kernel ``in2`` meets (a zero outside ``in1``) and contracts them
with ``in2`` — bilinear in the two inputs, so both modes and every nesting order follow from
the gather and the matrix product.  The gathered windows take ``out.size × in2.size`` memory.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.dispatch import strip

__all__ = ["convolve", "correlate"]

_MODES = ("full", "same", "valid")


def _check(in1, in2, mode: str, what: str):
    if mode not in _MODES:
        raise ValueError(f"{what}: mode must be one of {_MODES}, got {mode!r}")
    s1, s2 = np.shape(strip(in1)), np.shape(strip(in2))
    if len(s1) != len(s2):
        raise ValueError(f"{what}: in1 and in2 should have the same dimensionality, got shapes {s1} and {s2}")
    if 0 in s1 + s2:
        raise ValueError(f"{what}: inputs must not be empty")
    if mode == "valid" and not (all(a >= b for a, b in zip(s1, s2)) or all(a <= b for a, b in zip(s1, s2))):
        raise ValueError(f"{what}: for 'valid' mode, one must be at least as large as the other in every "
                         f"dimension; got shapes {s1} and {s2}")
    return s1, s2


def _full(in1, in2, s1: tuple, s2: tuple):
    """``Σ_j in2[j] in1[k − j]`` for every multi-index ``k``: a gather of the flattened ``in1``
    (position ``in1.size`` holds a zero, for ``k − j`` outside) contracted with ``in2``."""
    out = tuple(a + b - 1 for a, b in zip(s1, s2))
    d = len(out)
    pos = np.indices(out).reshape(d, -1, 1) - np.indices(s2).reshape(d, 1, -1)  # (d, out, kernel)
    inside = np.all((pos >= 0) & (pos < np.reshape(s1, (d, 1, 1))), axis=0)
    n1 = math.prod(s1)
    idx = np.where(inside, np.ravel_multi_index(tuple(np.where(inside, pos, 0)), s1), n1)
    padded = np.concatenate([np.reshape(in1, (n1,)), np.zeros(1, dtype=np.result_type(strip(in1), np.float64))])
    return np.reshape(padded[idx] @ np.reshape(in2, (-1,)), out)


def _crop(full, s1: tuple, s2: tuple, mode: str):
    if mode == "full":
        return full
    if mode == "same":  # in1's shape, centred as SciPy centres it
        return full[tuple(slice((b - 1) // 2, (b - 1) // 2 + a) for a, b in zip(s1, s2))]
    return full[tuple(slice(min(a, b) - 1, max(a, b)) for a, b in zip(s1, s2))]


def _flip(x):
    return np.flip(x, axis=tuple(range(np.ndim(strip(x))))) if np.ndim(strip(x)) else x


def convolve(in1, in2, mode="full", method="auto"):
    """The discrete linear convolution of two N-dimensional arrays, as ``scipy.signal.convolve``
    (``mode`` ``"full"``, ``"same"`` or ``"valid"``); differentiable in both inputs.

    ``method`` is accepted for SciPy's signature; every method computes the same convolution,
    and dualad computes it directly.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.signal import convolve
    >>> [float(v) for v in convolve(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]))]
    [0.0, 1.0, 2.5, 4.0, 1.5]
    >>> ad.jacfwd(lambda a: convolve(a, np.array([1.0, -1.0]), mode="valid"))(np.arange(3.0))
    array([[-1.,  1.,  0.],
           [ 0., -1.,  1.]])
    >>> convolve(np.ones((3, 3)), np.ones((2, 2)), mode="valid")
    array([[4., 4.],
           [4., 4.]])
    """
    s1, s2 = _check(in1, in2, mode, "convolve")
    if not s1:  # two scalars
        return in1 * in2
    return _crop(_full(in1, in2, s1, s2), s1, s2, mode)


def correlate(in1, in2, mode="full", method="auto"):
    """The cross-correlation of two N-dimensional arrays, as ``scipy.signal.correlate``:
    ``z[k] = Σ_l in1[l] conj(in2[l − k + N − 1])`` (``mode`` ``"full"``, ``"same"`` or
    ``"valid"``; ``N`` the shape of ``in2``).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.signal import correlate
    >>> [float(v) for v in correlate(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]))]
    [0.5, 2.0, 3.5, 3.0, 0.0]
    """
    s1, s2 = _check(in1, in2, mode, "correlate")
    if not s1:
        return in1 * np.conj(in2)
    if mode == "valid" and any(b > a for a, b in zip(s1, s2)):  # SciPy swaps the inputs, and reverses the result
        return np.conj(_flip(_crop(_full(in2, _flip(np.conj(in1)), s2, s1), s2, s1, mode)))
    return _crop(_full(in1, _flip(np.conj(in2)), s1, s2), s1, s2, mode)
