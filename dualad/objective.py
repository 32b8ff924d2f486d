"""SciPy's optimisers with dualad's derivatives: :func:`scipy_objective` gives ``fun``, ``jac``,
``hess`` and ``hessp`` of one function, sharing work at each point."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .transforms.common import check_callable
from .transforms.nested import hessian, hvp
from .transforms.reverse import value_and_grad

__all__ = ["scipy_objective", "ScipyObjective"]


class ScipyObjective:
    """``fun``, ``jac``, ``hess`` and ``hessp`` of ``f(x, *args)`` for ``scipy.optimize``.

    SciPy calls ``fun(x)`` and then ``jac(x)`` at the same point: one reverse sweep gives
    both, so the value and the gradient of the last point are kept (keyed by the point's bytes:
    SciPy may change its array in place afterwards).  ``value_and_grad`` is the
    ``jac=True`` form.  Made by :func:`scipy_objective`.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> obj = ad.scipy_objective(lambda x: np.sum((x - 1.0) ** 2))
    >>> x = np.zeros(2)
    >>> float(obj.fun(x)), obj.jac(x), obj.sweeps       # one sweep for both
    (2.0, array([-2., -2.]), 1)
    """

    def __init__(self, f: Callable, args: tuple = (), hessian_mode: str = "forward-over-reverse"):
        self.f, self.args = f, tuple(args)
        self._vg = value_and_grad(f)
        self._hess = hessian(f, mode=hessian_mode)
        self._key = None
        self._value = self._grad = None
        self.sweeps = 0

    def _at(self, x):
        x = np.asarray(x, dtype=np.float64)
        key = (x.shape, x.tobytes())
        if key != self._key:
            value, grad = self._vg(x.copy(), *self.args)
            self._key, self._value, self._grad = key, float(value), np.array(grad, dtype=np.float64)
            self.sweeps += 1
        return self._value, self._grad

    def fun(self, x) -> float:
        """The value at ``x`` (a float, as SciPy wants)."""
        return self._at(x)[0]

    def jac(self, x) -> np.ndarray:
        """The gradient at ``x`` (a copy: SciPy may keep or change it)."""
        return self._at(x)[1].copy()

    def value_and_grad(self, x) -> tuple[float, np.ndarray]:
        """``(value, gradient)`` for ``minimize(..., jac=True)``."""
        value, grad = self._at(x)
        return value, grad.copy()

    def hess(self, x) -> np.ndarray:
        """The Hessian at ``x``, dense ``(n, n)``."""
        return np.asarray(self._hess(np.asarray(x, dtype=np.float64), *self.args))

    def hessp(self, x, p) -> np.ndarray:
        """The Hessian at ``x`` times ``p``, without forming the Hessian."""
        x = np.asarray(x, dtype=np.float64)
        return np.asarray(hvp(lambda z: self.f(z, *self.args), x, np.asarray(p, dtype=np.float64)))


def scipy_objective(f: Callable, args: tuple = (), hessian_mode: str = "forward-over-reverse") -> ScipyObjective:
    """The callables ``scipy.optimize`` wants, from one function written with NumPy.

    Parameters
    ----------
    f : callable
        ``f(x, *args)``, a scalar function of a 1-D float array ``x``.
    args : tuple
        Extra arguments, passed on (not differentiated), as SciPy's ``args=``.
    hessian_mode : str
        The nesting for ``hess`` (see :func:`dualad.hessian`).

    Returns
    -------
    ScipyObjective
        With ``fun``, ``jac``, ``value_and_grad``, ``hess`` and ``hessp``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import minimize
    >>> import dualad as ad
    >>> def rosen(x):
    ...     return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    >>> obj = ad.scipy_objective(rosen)
    >>> res = minimize(obj.fun, np.zeros(4), jac=obj.jac, hessp=obj.hessp, method="trust-ncg")
    >>> bool(res.success), np.round(res.x, 6)
    (True, array([1., 1., 1., 1.]))
    """
    check_callable(f, "scipy_objective")
    return ScipyObjective(f, args, hessian_mode)
