"""``dualad.scipy.signal``: one-dimensional convolution and correlation on dualad values."""

from __future__ import annotations

import numpy as np

from ..core.dispatch import strip

__all__ = ["convolve", "correlate"]

_MODES = ("full", "same", "valid")


def _check(in1, in2, mode: str, what: str):
    if mode not in _MODES:
        raise ValueError(f"{what}: mode must be one of {_MODES}, got {mode!r}")
    shapes = np.shape(strip(in1)), np.shape(strip(in2))
    if len(shapes[0]) != 1 or len(shapes[1]) != 1:
        raise NotImplementedError(f"{what}: dualad.scipy.signal handles 1-D inputs, got shapes {shapes}")
    if 0 in shapes[0] + shapes[1]:
        raise ValueError(f"{what}: inputs must not be empty")
    return shapes[0][0], shapes[1][0]


def _full(in1, in2, n1: int, n2: int):
    """Σ_j in2[j] in1[k − j] for every k: a gather of in1 (a zero where k − j is outside) times in2."""
    k = np.arange(n1 + n2 - 1)[:, None] - np.arange(n2)[None, :]
    idx = np.where((k >= 0) & (k < n1), k, n1)
    padded = np.concatenate([in1, np.zeros(1, dtype=np.result_type(strip(in1), np.float64))])
    return padded[idx] @ in2


def _crop(full, n1: int, n2: int, mode: str):
    if mode == "full":
        return full
    if mode == "same":
        start = (n2 - 1) // 2
        return full[start:start + n1]
    start = min(n1, n2) - 1
    return full[start:max(n1, n2)]


def convolve(in1, in2, mode="full"):
    """The discrete linear convolution of two 1-D arrays, as ``scipy.signal.convolve``
    (``mode`` ``"full"``, ``"same"`` or ``"valid"``); differentiable in both inputs.

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
    """
    n1, n2 = _check(in1, in2, mode, "convolve")
    return _crop(_full(in1, in2, n1, n2), n1, n2, mode)


def correlate(in1, in2, mode="full"):
    """The cross-correlation of two 1-D real arrays, as ``scipy.signal.correlate``:
    ``z[k] = Σ_l in1[l] in2[l − k + N − 1]`` (``mode`` ``"full"``, ``"same"`` or ``"valid"``).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.scipy.signal import correlate
    >>> [float(v) for v in correlate(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]))]
    [0.5, 2.0, 3.5, 3.0, 0.0]
    """
    n1, n2 = _check(in1, in2, mode, "correlate")
    if mode == "valid" and n2 > n1:  # SciPy swaps the inputs, and reverses the result
        return _crop(_full(in2, in1[::-1], n2, n1), n2, n1, mode)[::-1]
    return _crop(_full(in1, in2[::-1], n1, n2), n1, n2, mode)
