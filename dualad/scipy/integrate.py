"""``dualad.scipy.integrate``: ``scipy.integrate``'s quadrature and ODE solver on dualad values."""

from __future__ import annotations

import numpy as np

from ..core.dispatch import is_active, strip
from ..transforms.custom import custom_vjp
from ..transforms.pytree import tree_flatten, tree_unflatten
from ..transforms.reverse import vjp

__all__ = ["trapezoid", "odeint"]


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


def odeint(func, y0, t, args=(), **kwargs):
    """The solution of ``dy/dt = func(y, t, *args)`` at the times ``t``, as
    ``scipy.integrate.odeint`` (LSODA), differentiable in reverse mode in ``y0``, ``t`` and
    ``args`` (arrays or pytrees of arrays).

    The gradient comes from the adjoint method: the adjoint ``a = ∂L/∂y`` and the arguments'
    cotangent are integrated backwards, between each pair of output times, with SciPy's
    solver and ``func``'s vector-Jacobian products, as HIPS autograd and
    ``jax.experimental.ode.odeint`` do.  That backward solve is itself differentiable, so
    second derivatives (reverse over reverse) work.  Forward mode raises (as JAX's).

    Parameters
    ----------
    func : callable
        ``func(y, t, *args)``, written with NumPy; ``y`` is 1-D.
    y0 : array_like or active value
        The state at ``t[0]`` (1-D).
    t : array_like or active value
        Monotonic times, ``t[0]`` the initial one.
    args : tuple
        Further arguments of ``func``.
    **kwargs
        SciPy's solver options (``rtol``, ``atol``, ``mxstep``, ...), used forwards and
        backwards; ``full_output`` is refused on active values.

    Returns
    -------
    array of shape ``(len(t), len(y0))``

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.scipy.integrate import odeint
    >>> f = lambda y, t, k: -k * y                     # y(t) = y0 exp(-k t)
    >>> t = np.array([0.0, 1.0])
    >>> g = ad.grad(lambda k: odeint(f, np.array([2.0]), t, (k,))[1, 0])(0.5)
    >>> round(float(g), 6), round(float(-2.0 * np.exp(-0.5)), 6)
    (-1.213061, -1.213061)
    """
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    if not any(is_active(x) for x in tree_flatten((y0, t, args))[0]):
        from scipy import integrate

        return integrate.odeint(func, y0, t, args=args, **kwargs)
    if kwargs.get("full_output"):
        raise ValueError("odeint: full_output=True on active values: it has no derivative; drop it")
    y0 = y0 if is_active(y0) else np.asarray(y0, dtype=np.result_type(np.asarray(y0), np.float64))
    t = t if is_active(t) else np.asarray(t, dtype=np.float64)
    if len(np.shape(strip(y0))) != 1:
        raise ValueError(f"odeint: y0 must be 1-D (SciPy's), got shape {np.shape(strip(y0))}; ravel it")
    return _adjoint_odeint(func, tuple(sorted(kwargs.items())), y0, t, args)


def _solve(func, opts, y0, t, args):
    return odeint(func, y0, t, args, **dict(opts))


def _fwd(func, opts, y0, t, args):
    ys = _solve(func, opts, y0, t, args)
    return ys, (ys, t, args)


def _augmented(func, d: int):
    """The dynamics of ``(y, a, c)``: ``y' = f``, ``a' = −aᵀ∂f/∂y``, ``c' = −aᵀ∂f/∂args``."""

    def aug(s, tt, *args):
        y, a = s[:d], s[d:2 * d]
        fy, pullback = vjp(lambda yy, *aa: func(yy, tt, *aa), y, *args)
        cts = pullback(a)
        parts = [fy, -cts[0]] + [-np.ravel(c) for c in tree_flatten(cts[1:])[0]]
        return np.concatenate(parts)

    return aug


def _bwd(func, opts, res, g):
    ys, t, args = res
    n, d = ys.shape
    leaves, treedef = tree_flatten(args)
    sizes = [int(np.size(strip(x))) for x in leaves]
    aug = _augmented(func, d)
    a, c = (g[-1] if n > 1 else g[0] * 0.0), np.zeros(sum(sizes), dtype=np.result_type(*[strip(x) for x in leaves], np.float64))
    t_bars = []
    for i in range(n - 1, 0, -1):
        t_bars.append(np.sum(func(ys[i], t[i], *args) * g[i]))  # moving t_i moves y(t_i) by f
        s = _solve(aug, opts, np.concatenate([ys[i], a, c]), np.stack([t[i], t[i - 1]]), args)[1]
        a, c = s[d:2 * d], s[2 * d:]
        if i > 1:
            a = a + g[i - 1]
    t_bars.append(-np.sum(func(ys[0], t[0], *args) * a))  # moving t0 shifts the whole solution
    y0_bar = a + g[0]
    bounds = np.cumsum([0] + sizes)
    args_bar = tree_unflatten(treedef, [np.reshape(c[lo:hi], np.shape(strip(x))) for lo, hi, x in zip(bounds[:-1], bounds[1:], leaves)])
    return y0_bar, np.stack(t_bars[::-1]), args_bar


_adjoint_odeint = custom_vjp(_solve, nondiff_argnums=(0, 1))
_adjoint_odeint.defvjp(_fwd, _bwd)
