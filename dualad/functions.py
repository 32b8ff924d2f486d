"""Stable machine-learning helpers: rules from the table and compositions of NumPy calls.

``relu``, ``sigmoid`` and ``softplus`` are elementwise rules (declared in the rule table);
``logsumexp``, ``softmax`` and ``log_softmax`` are written with NumPy calls around a constant
shift, so both modes and every nesting order differentiate them.
"""

from __future__ import annotations

import numpy as np

from .core.dispatch import Active, escape, keeps_guards, strip
from .core.numpy_api import as_array
from .rules import RULES
from .rules.structural import stop_gradient as _STOP_GRADIENT
from .transforms.pytree import tree_map

__all__ = ["relu", "sigmoid", "softplus", "logsumexp", "softmax", "log_softmax", "primal", "stop_gradient"]

_RELU, _SIGMOID, _SOFTPLUS = RULES["relu"], RULES["sigmoid"], RULES["softplus"]


def primal(x):
    """The plain value inside ``x``, through every nesting level: the explicit way out.

    Parameters
    ----------
    x : Dual, Variable, array or pytree leaf
        Plain inputs are returned unchanged.

    Returns
    -------
    ndarray
        The value, carrying no derivative.  A NumPy array comes back as a read-only view: the
        tape or Dual it came from still uses it, so writing into it would change a derivative
        silently; take ``.copy()`` to get an array to modify.  Inside :func:`dualad.record`
        the value is a guard: a replay at inputs where it differs records ``f`` again.

    Examples
    --------
    >>> import dualad as ad
    >>> float(ad.primal(ad.Dual(3.0, 1.0)))
    3.0
    """
    return escape(x)


def _stop(x):
    return _STOP_GRADIENT.bind(x) if isinstance(x, Active) else x


def stop_gradient(x):
    """The value of ``x`` with no derivative, in every mode and at every nesting level.

    Parameters
    ----------
    x : array_like, active value or pytree of them

    Returns
    -------
    The same value (the same structure), treated as a constant by every transform.  Unlike
    :func:`primal` it stays in the computation: :func:`dualad.record` replays it at new inputs.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> float(ad.grad(lambda x: x * ad.stop_gradient(x))(3.0))   # d/dx (x · c) with c = x = 3
    3.0
    >>> ad.stop_gradient({"a": np.ones(2)})
    {'a': array([1., 1.])}
    """
    return tree_map(_stop, x)


def relu(x):
    """max(x, 0), with relu'(0) = 0.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> ad.relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    >>> float(ad.grad(lambda x: ad.relu(x))(0.0))
    0.0
    """
    return _RELU(as_array(x))


def sigmoid(x):
    """The logistic function 1 / (1 + e^-x), without overflow for any x.

    Examples
    --------
    >>> import dualad as ad
    >>> float(ad.sigmoid(0.0)), float(ad.sigmoid(-1000.0))
    (0.5, 0.0)
    """
    return _SIGMOID(as_array(x))


def softplus(x):
    """log(1 + e^x) computed stably (``logaddexp(0, x)``); its derivative is the sigmoid.

    Examples
    --------
    >>> import dualad as ad
    >>> float(ad.softplus(1000.0))
    1000.0
    """
    return _SOFTPLUS(as_array(x))


def _shift(x, axis):
    # The maximum as a value of the computation without derivative (logsumexp is the same for
    # any shift), not a plain constant: a replayed recording must shift by the new inputs' max.
    v = strip(x)
    if type(v) is np.ndarray and not keeps_guards(x):
        # On no tape that will be replayed at other inputs (eager code, at every nesting
        # level), a plain constant is that value without derivative: the maximum of the plain
        # values, with no entries recorded for it (nor swept).  The same value as below.
        m = np.max(v, axis=axis, keepdims=True)
        fin = np.isfinite(m)
        return m if fin.all() else np.where(fin, m, 0.0)
    # The derivative is stopped last, so that a reverse sweep ends at stop_gradient and never
    # pulls through the where or the max.
    m = np.max(x, axis=axis, keepdims=True)
    return _stop(np.where(np.isfinite(m), m, 0.0))


def logsumexp(x, axis=None, keepdims: bool = False):
    """log(sum(exp(x))) over ``axis``, shifted by the maximum so it never overflows.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> float(ad.logsumexp(np.array([1000.0, 1000.0])))
    1000.6931471805599
    """
    x = as_array(x)
    m = _shift(x, axis)
    y = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return y if keepdims else np.squeeze(y, axis=axis)


def softmax(x, axis: int = -1):
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> ad.softmax(np.array([0.0, 0.0]))
    array([0.5, 0.5])
    """
    x = as_array(x)
    e = np.exp(x - _shift(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis: int = -1):
    """x - logsumexp(x) along ``axis``: log-probabilities without overflow or log(0).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> ad.log_softmax(np.array([0.0, 0.0]))
    array([-0.69314718, -0.69314718])
    """
    x = as_array(x)
    return x - logsumexp(x, axis=axis, keepdims=True)
