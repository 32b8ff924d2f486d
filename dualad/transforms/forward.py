"""Forward-mode transforms: jvp, jacfwd, derivative."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core import device
from ..core.dispatch import Active, new_tag, strip
from ..forward.dual import Dual
from .common import check_callable, flatten_output, same_place
from .engine import lane_jacobian
from .lanes import seed_lanes, unwrap_dual
from .pytree import as_input, tree_flatten, tree_unflatten

__all__ = ["jvp", "jacfwd", "derivative", "seed_lanes", "unwrap_dual"]


def jvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple[Any, Any]:
    """Value and directional derivative (Jacobian-vector product) of ``f``, in forward mode.

    Parameters
    ----------
    f : callable
        A function of NumPy arrays (pytrees of arrays allowed), written with plain NumPy.
    primals : tuple
        The arguments of ``f``.
    tangents : tuple
        One tangent per argument, same structure, shapes and dtypes.

    Returns
    -------
    (y, y_dot)
        ``f(*primals)`` and ``J(primals) @ tangents``, both mirroring f's output structure.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> y, y_dot = ad.jvp(np.sin, (0.0,), (1.0,))
    >>> float(y), float(y_dot)
    (0.0, 1.0)
    >>> float(ad.jvp(lambda x, w: np.sum(w * x**2), (np.ones(3), 2.0), (np.arange(3.0), 0.0))[1])
    12.0
    """
    check_callable(f, "jvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp(f, primals, tangents): primals and tangents must be tuples of arguments, e.g. (x,) and (v,)")
    p_leaves, p_def = tree_flatten(tuple(primals))
    t_leaves, t_def = tree_flatten(tuple(tangents))
    if p_def != t_def:
        raise ValueError("jvp: tangents must have the same structure as primals (one tangent per array)")
    tag = new_tag()
    duals = []
    p_leaves = same_place([as_input(p, "a primal") for p in p_leaves], "jvp's primals")
    t_leaves = [t if isinstance(t, Active) else device.asarray(t) for t in t_leaves]
    like = device.locate([strip(x) for x in p_leaves + t_leaves], "jvp's primals and tangents")
    if like is not None:  # scalar tangents go with device primals
        t_leaves = same_place(t_leaves, "jvp's tangents")
    for p, t in zip(p_leaves, t_leaves):
        if tuple(t.shape) != tuple(p.shape):
            raise ValueError(f"jvp: tangent shape {tuple(t.shape)} does not match primal shape {tuple(p.shape)}")
        if not isinstance(t, Active):
            if t.dtype.kind == "f" and t.ndim > 0 and t.dtype != p.dtype:
                raise TypeError(f"jvp: tangent dtype {t.dtype} does not match primal dtype {p.dtype}; cast the tangent")
            if t.dtype.kind not in "fiub":
                raise TypeError(f"jvp: tangent must be a real numeric array, got dtype {t.dtype}")
            t = t.astype(p.dtype, copy=False)
        duals.append(Dual.make(p, t[None], tag, True))
    out = f(*tree_unflatten(p_def, duals))
    o_leaves, o_def = flatten_output(out, "jvp")
    ys, ts = [], []
    for i, o in enumerate(o_leaves):
        y, t = unwrap_dual(o, tag, 1, "jvp", i, len(o_leaves))
        ys.append(y)
        ts.append(t[0])
    return tree_unflatten(o_def, ys), tree_unflatten(o_def, ts)


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0, chunk_size: int | None = None, *,
           executor=None, progress: bool = False) -> Callable:
    """The Jacobian of ``f`` by forward mode: one pass per chunk of input lanes.

    Parameters
    ----------
    f : callable
        Function of NumPy arrays (pytrees allowed).
    argnums : int or tuple of int
        Which positional arguments to differentiate.
    chunk_size : int, optional
        Input directions pushed per pass (default: all at once).
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Run the passes (one per chunk) there; see :func:`dualad.jacobian`.
    progress : bool
        Show a progress bar over the passes (tqdm).

    Returns
    -------
    callable
        ``jac(*args)``: for f: R^S_in -> R^S_out an array of shape ``S_out + S_in``; pytrees
        mirror the output structure, each leaf mirroring the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> ad.jacfwd(lambda x: x**2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    check_callable(f, "jacfwd")
    return lane_jacobian(f, argnums, chunk_size, "forward", "jacfwd", executor, progress)


def derivative(f: Callable, order: int = 1) -> Callable:
    """The ``order``-th derivative of a scalar (or elementwise) function, by nested forward mode.

    Parameters
    ----------
    f : callable
        ``f(x, *rest)``, differentiated with respect to ``x``.
    order : int
        0 returns ``f`` itself; each order nests one more forward level with a fresh tag.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> float(ad.derivative(np.sin, order=5)(0.0))   # sin''''' = cos
    1.0
    >>> float(ad.derivative(lambda x: x**4, order=3)(2.0))
    48.0
    """
    check_callable(f, "derivative")
    if not isinstance(order, (int, np.integer)) or order < 0:
        raise ValueError(f"derivative: order must be a non-negative integer, got {order!r}")
    g = f
    for _ in range(int(order)):
        g = _first_derivative(g)
    return g


def _first_derivative(g: Callable) -> Callable:
    def d(x, *rest):
        x = as_input(x)
        one = device.ones(tuple(x.shape), x.dtype, strip(x))
        return jvp(lambda x_: g(x_, *rest), (x,), (one,))[1]

    d.__name__ = f"d({getattr(g, '__name__', 'f')})"
    return d
