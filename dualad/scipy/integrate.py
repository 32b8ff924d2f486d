"""``dualad.scipy.integrate``: quadrature rules of ``scipy.integrate`` on dualad values."""

from __future__ import annotations

import numpy as np

from ..core.dispatch import strip

__all__ = ["trapezoid"]


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The trapezoidal rule along ``axis``, as ``scipy.integrate.trapezoid``; differentiable in
    ``y``, in the sample points ``x`` and in the spacing ``dx``.

    Parameters
    ----------
    y : array_like or active value
    x : array_like or active value, optional
        Sample points: 1-D along ``axis``, or of ``y``'s shape.  None: spacing ``dx``.
    dx : float or active scalar
    axis : int

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.integrate import trapezoid
    >>> x = np.linspace(0.0, 1.0, 5)
    >>> float(trapezoid(x * x, x))
    0.34375
    >>> [float(v) for v in ad.grad(lambda y: trapezoid(y, x))(x)]
    [0.125, 0.25, 0.25, 0.25, 0.125]
    """
    nd = np.ndim(strip(y))
    axis = int(axis) % nd if nd else 0
    lo, hi = [slice(None)] * nd, [slice(None)] * nd
    lo[axis], hi[axis] = slice(None, -1), slice(1, None)
    if x is None:
        d = dx
    elif np.ndim(strip(x)) == 1:
        shape = [1] * nd
        shape[axis] = -1
        d = np.reshape(np.diff(x), shape)
    else:
        d = np.diff(x, axis=axis)
    return np.sum(d * (y[tuple(lo)] + y[tuple(hi)]) * 0.5, axis=axis)
