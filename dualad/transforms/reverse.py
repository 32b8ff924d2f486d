"""Reverse-mode transforms: vjp, grad, value_and_grad, jacrev."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core import device
from ..core.dispatch import Active, strip
from ..reverse.variable import Variable
from .common import check_callable, check_inputs_dtype, check_output, check_output_dtype, flatten_output, is_single, norm_argnums
from .engine import lane_jacobian
from .lanes import pull, record_tape
from .pytree import tree_flatten, tree_unflatten

__all__ = ["vjp", "grad", "value_and_grad", "jacrev"]


def _value(o, tag: int, name: str, index: int | None = None, count: int = 1):
    """The value of a differentiated output (raises for one that cannot carry a derivative)."""
    if isinstance(o, Variable) and o._tag == tag:
        return o._p
    check_output(o, name, index, count)
    return o if isinstance(o, Active) else device.asarray(o)


def _aux_value(o, tag: int):
    """An auxiliary output as it is (any type), its own level's Variables unwrapped."""
    return o._p if isinstance(o, Variable) and o._tag == tag else o


def vjp(f: Callable, *primals) -> tuple[Any, Callable]:
    """Value of ``f`` and its pullback (vector-Jacobian product), in reverse mode.

    ``f`` runs once, recorded on a tape; each call of the pullback sweeps it once.

    Parameters
    ----------
    f : callable
        Function of NumPy arrays (pytrees allowed).
    *primals
        Its arguments.

    Returns
    -------
    (y, pullback)
        ``pullback(ct)`` takes a cotangent shaped like ``y`` and returns a tuple with one
        cotangent per primal (``ctᵀ J``).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> y, pullback = ad.vjp(lambda x: x * 3.0, np.ones(2))
    >>> pullback(np.array([1.0, 2.0]))
    (array([3., 6.]),)
    """
    check_callable(f, "vjp")
    nums = tuple(range(len(primals)))
    if not nums:
        raise TypeError("vjp(f, *primals) needs at least one primal")
    tape, leaves, vars_, treedef, out = record_tape(f, primals, nums, allow_empty=True)
    o_leaves, o_def = flatten_output(out, "vjp")
    y = tree_unflatten(o_def, [_value(o, tape.tag, "vjp", i, len(o_leaves)) for i, o in enumerate(o_leaves)])

    def pullback(ct):
        c_leaves, c_def = tree_flatten(ct)
        if c_def != o_def:
            raise ValueError("pullback: the cotangent must have the same structure as the output")
        lanes = []
        for o, c in zip(o_leaves, c_leaves):
            shape = tuple(o.shape) if isinstance(o, Active) else np.shape(o)
            c = c if isinstance(c, Active) else device.asarray(c)
            device.locate([strip(o), strip(c)], "pullback(cotangent)")
            if tuple(c.shape) != tuple(shape):
                raise ValueError(f"pullback: cotangent shape {tuple(c.shape)} does not match output shape {tuple(shape)}")
            odt = np.dtype(o.dtype) if hasattr(o, "dtype") else np.asarray(o).dtype  # a Python float output
            dt = odt if odt.kind in "fc" else np.float64
            if np.dtype(c.dtype).kind == "c" and np.dtype(dt).kind != "c":
                raise TypeError(
                    f"pullback: a complex cotangent (dtype {c.dtype}) for a real output ({odt}); "
                    "a real output's cotangent is real: pass its real part"
                )
            lanes.append(c[None] if isinstance(c, Active) else c.astype(dt, copy=False)[None])
        res = pull(tape, o_leaves, lanes, vars_, 1)
        return tuple(tree_unflatten(treedef, [r[0] for r in res]))

    return y, pullback


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, holomorphic: bool = False) -> Callable:
    """A function returning ``f``'s value and its gradient, by one reverse sweep.

    Parameters
    ----------
    f : callable
        Scalar-valued function (returns shape ``()``; or ``(value, aux)`` with ``has_aux``).
    argnums : int or tuple of int
        Which positional arguments to differentiate; the gradient mirrors them.  Keyword
        arguments of the returned function go to ``f`` as they are, not differentiated.
    has_aux : bool
        ``f`` returns ``(value, aux)``; ``aux`` is passed through undifferentiated.
    holomorphic : bool
        ``f`` is holomorphic (complex inputs, complex output): the gradient is ``f'(z)``.
        Otherwise the output must be real; for complex inputs the gradient is then JAX's
        ``∂f/∂x − i ∂f/∂y`` (see :doc:`/complex`).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> f = lambda x1, x2: np.log(x1) + x1 * x2 - np.sin(x2)
    >>> value, (g1, g2) = ad.value_and_grad(f, argnums=(0, 1))(2.0, 5.0)
    >>> round(float(value), 3), float(g1), round(float(g2), 3)
    (11.652, 5.5, 1.716)
    """
    check_callable(f, "value_and_grad")
    return _value_and_grad(f, argnums, has_aux, "value_and_grad", holomorphic)


def _value_and_grad(f: Callable, argnums, has_aux: bool, name: str, holomorphic: bool) -> Callable:
    single = is_single(argnums)

    def vg(*args, **kwargs):
        nums = norm_argnums(argnums, len(args), name)
        # keyword arguments go to f as they are, not differentiated (as JAX's)
        tape, leaves, vars_, treedef, out = record_tape(functools.partial(f, **kwargs) if kwargs else f, args, nums, allow_empty=True)
        check_inputs_dtype(name, holomorphic, leaves)
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise TypeError("has_aux=True: f must return a pair (value, aux)")
            out, aux = out
            a_leaves, a_def = tree_flatten(aux)
            aux = tree_unflatten(a_def, [_aux_value(a, tape.tag) for a in a_leaves])
        elif isinstance(out, (tuple, list, dict)):
            raise TypeError(
                "grad: f returned a tuple/list/dict; grad needs a scalar. If the extra outputs are "
                "auxiliary data, pass has_aux=True and return (value, aux)"
            )
        value = _value(out, tape.tag, name)
        shape = tuple(out.shape) if isinstance(out, Active) else np.shape(value)
        if shape != ():
            raise ValueError(
                f"grad needs a scalar output, but f returned shape {shape}; reduce it (e.g. np.sum) "
                "or use jacrev / vjp for non-scalar outputs"
            )
        dt = np.dtype(value.dtype)
        check_output_dtype(name, holomorphic, dt)
        p = strip(value)
        # the cotangent seed: ones((1,)) where the value lives (np.array: what np.ones makes, sooner)
        seed = np.array((1,), dtype=dt) if type(p) in device.HOST_TYPES else device.ones((1,), dt, p)
        res = pull(tape, [out], [seed], vars_, 1)
        grads = tree_unflatten(treedef, [r[0] for r in res])
        g = grads[0] if single else tuple(grads)
        return ((value, aux), g) if has_aux else (value, g)

    vg.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    if not has_aux and not holomorphic:  # what dualad.jit runs for it: the compiled adjoint sweep
        vg.jit_route = ("value_and_grad", f, argnums)
    return vg


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, holomorphic: bool = False) -> Callable:
    """The gradient of a scalar function, by reverse mode (one sweep of a Wengert list).

    Parameters
    ----------
    f : callable
        Scalar-valued function of NumPy arrays (shape ``()`` output).
    argnums : int or tuple of int
        Which positional arguments to differentiate.  Keyword arguments of the returned
        function go to ``f`` as they are, not differentiated (as in JAX).
    has_aux : bool
        ``f`` returns ``(value, aux)``; the result is then ``(grad, aux)``.
    holomorphic : bool
        ``f`` is holomorphic (complex inputs, complex output): the result is ``f'(z)``.
        Otherwise ``f`` must be real-valued; for complex inputs the result is then JAX's
        gradient ``∂f/∂x − i ∂f/∂y`` (see :doc:`/complex`).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> ad.grad(lambda x: np.sum(x**2))(np.array([0.5, 1.0, 2.0]))
    array([1., 2., 4.])
    >>> complex(ad.grad(lambda z: np.abs(z) ** 2)(1.0 + 2.0j))             # 2 conj(z)
    (2-4j)
    >>> complex(ad.grad(lambda z: z**2, holomorphic=True)(1.0 + 2.0j))     # f'(z) = 2z
    (2+4j)
    """
    check_callable(f, "grad")
    vg = _value_and_grad(f, argnums, has_aux, "grad", holomorphic)

    def g(*args, **kwargs):
        value, gr = vg(*args, **kwargs)
        return (gr, value[1]) if has_aux else gr

    g.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    if not has_aux and not holomorphic:  # what dualad.jit runs for it: the compiled adjoint sweep
        g.jit_route = ("grad", f, argnums)
    return g


def jacrev(f: Callable, argnums: int | Sequence[int] = 0, chunk_size: int | None = None, *,
           executor=None, progress: bool = False, holomorphic: bool = False) -> Callable:
    """The Jacobian of ``f`` by reverse mode: one recording, one sweep per chunk of output rows.

    Parameters
    ----------
    f, argnums
        As in :func:`dualad.jacfwd`.
    chunk_size : int, optional
        Output rows pulled per sweep (default: all at once, as cotangent lanes).
    executor, progress
        As in :func:`dualad.jacfwd`.
    holomorphic : bool
        ``f`` is holomorphic (complex inputs and outputs): the result is the complex Jacobian
        ``∂f/∂z``.  Otherwise the outputs must be real (complex inputs give JAX's gradients,
        see :doc:`/complex`).

    Returns
    -------
    callable
        ``jac(*args)`` with shape ``S_out + S_in`` (pytrees mirror as in :func:`jacfwd`).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> ad.jacrev(lambda x: x * 2.0)(np.array([0.5, 1.0]))
    array([[2., 0.],
           [0., 2.]])
    """
    check_callable(f, "jacrev")
    return lane_jacobian(f, argnums, chunk_size, "reverse", "jacrev", executor, progress, holomorphic)
