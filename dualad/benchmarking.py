"""Track the cost of your own derivatives in asv: :func:`asv_suite` turns a function and example
arguments into a benchmark class that asv (airspeed velocity) collects."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np

from .transforms.common import check_callable
from .transforms.jacobian import jacobian
from .transforms.nested import HESSIAN_MODES, hessian
from .transforms.pytree import tree_flatten
from .transforms.reverse import grad

__all__ = ["asv_suite"]

_JACOBIAN_MODES = ("forward", "reverse", "auto")


def _is_scalar(out) -> bool:
    leaves, _ = tree_flatten(out)
    return len(leaves) == 1 and np.shape(leaves[0]) == () and np.asarray(leaves[0]).dtype.kind == "f"


def _method(call: Callable, doc: str) -> Callable:
    def bench(self):
        call(self)

    bench.__doc__ = doc
    return bench


def asv_suite(
    f: Callable,
    example_args: Sequence,
    *,
    name: str | None = None,
    argnums: int | Sequence[int] = 0,
    jacobian_modes: Sequence[str] = _JACOBIAN_MODES,
    hessian_orders: Sequence[str] = (),
    memory: bool = True,
) -> type:
    """A benchmark class for asv that times ``f`` and its derivatives at ``example_args``.

    Assign the result to a module-level name in a file of your asv project's benchmark folder;
    asv collects its ``time_*`` and ``peakmem_*`` methods like those of a class written by hand.
    What is timed depends on ``f``'s output at the example arguments:

    * ``time_value``: ``f`` itself (the baseline the derivatives are compared with);
    * scalar output: ``time_grad`` (reverse mode), ``time_hessian_<order>`` for each of
      ``hessian_orders`` (``"forward_over_reverse"`` ...), and ``peakmem_grad``;
    * any output: ``time_jacobian_<mode>`` for each of ``jacobian_modes`` (``forward``,
      ``reverse``, ``auto``: the mode the cost model picks).

    ``setup`` builds the transforms and makes one call of each, so that kernel compilation and
    ``mode="auto"``'s first-call measurements stay out of the timings (asv's ``setup`` is not
    timed).

    Parameters
    ----------
    f : callable
        The function, written with NumPy, as dualad differentiates it.
    example_args : sequence
        Its arguments for the benchmark (copied; pytrees of arrays allowed).
    name : str, optional
        The class name asv reports (default ``f``'s name, capitalised, plus ``Suite``).
    argnums : int or tuple of int
        The differentiated arguments.
    jacobian_modes : sequence of str
        Which of ``"forward"``, ``"reverse"``, ``"auto"`` to time as Jacobians.
    hessian_orders : sequence of str
        Hessian nestings to time (see :func:`dualad.hessian`), scalar outputs only.
    memory : bool
        Add ``peakmem_grad`` (the process's peak memory while computing the gradient).

    Returns
    -------
    type
        A class with asv's ``setup``, ``time_*`` and ``peakmem_*`` methods.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> def rosen(x):
    ...     return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    >>> Rosen = ad.asv_suite(rosen, (np.linspace(-1.0, 1.0, 50),), hessian_orders=["forward-over-reverse"])
    >>> for m in sorted(m for m in vars(Rosen) if m.startswith(("time_", "peakmem_"))):
    ...     print(m)
    peakmem_grad
    time_grad
    time_hessian_forward_over_reverse
    time_jacobian_auto
    time_jacobian_forward
    time_jacobian_reverse
    time_value
    >>> bench = Rosen()
    >>> bench.setup()
    >>> bench.time_grad()
    """
    check_callable(f, "asv_suite")
    args = tuple(example_args) if isinstance(example_args, (tuple, list)) else (example_args,)
    for mode in jacobian_modes:
        if mode not in _JACOBIAN_MODES:
            raise ValueError(f"asv_suite: unknown Jacobian mode {mode!r}; choose from {_JACOBIAN_MODES}")
    for order in hessian_orders:
        if order not in HESSIAN_MODES:
            raise ValueError(f"asv_suite: unknown Hessian order {order!r}; choose from {HESSIAN_MODES}")
    scalar = _is_scalar(f(*args))
    if hessian_orders and not scalar:
        raise ValueError("asv_suite: hessian_orders needs a function with a scalar float output")
    transforms: dict[str, Callable] = {"value": lambda: f}
    if scalar:
        transforms["grad"] = lambda: grad(f, argnums)
        for order in hessian_orders:
            transforms["hessian_" + order.replace("-", "_")] = (lambda o: lambda: hessian(f, argnums, mode=o))(order)
    for mode in jacobian_modes:
        transforms["jacobian_" + mode] = (lambda m: lambda: jacobian(f, argnums, mode=m))(mode)

    def setup(self):
        self.args = copy.deepcopy(args)
        self.fns = {key: make() for key, make in transforms.items()}
        for fn in self.fns.values():  # compile kernels, measure auto's modes: not timed
            fn(*self.args)

    body: dict = {"setup": setup, "__doc__": f"dualad's asv suite for {getattr(f, '__name__', 'f')}."}
    for key in transforms:
        body["time_" + key] = _method(lambda self, k=key: self.fns[k](*self.args), f"Seconds per call of {key}.")
    if scalar and memory:
        body["peakmem_grad"] = _method(lambda self: self.fns["grad"](*self.args), "Peak memory of the gradient.")
    cls_name = name or (getattr(f, "__name__", "f").strip("<>").capitalize() + "Suite")
    return type(cls_name, (), body)
