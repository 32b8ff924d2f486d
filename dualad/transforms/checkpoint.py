"""``checkpoint``: trade recomputation for tape memory (JAX's ``jax.checkpoint``).

In reverse mode a checkpointed call is one entry of the tape that keeps only the call's inputs
(its outputs are what later entries read): the function runs on the plain values, recording
nothing.  The backward sweep runs it again on a fresh tape of its own, sweeps that tape with
the output's cotangent and hands the inputs' adjoints on; the fresh tape is dropped after.  So
a loop of n steps split into segments of k checkpointed steps keeps about n/k states on the
tape plus, during the sweep, one segment's k steps; k ≈ √n makes both about √n.

Forward mode keeps no tape: there a checkpointed function is called as it is.  Only the
innermost reverse level saves memory; older levels (nesting) record what the function computes
on their values as usual, so every order of derivative is unchanged.
"""

from __future__ import annotations

from ..reverse.tape import Tape
from ..reverse.variable import Variable
from .custom import CustomFunction, CustomOp, pack_leaves
from .pytree import tree_flatten

__all__ = ["checkpoint", "CheckpointOp", "Checkpointed"]


class CheckpointOp(CustomOp):
    """The primitive of a checkpointed call: ``forward`` runs the function on the values and
    keeps them; ``backward`` records it again and sweeps that recording."""

    def __init__(self):
        super().__init__("checkpoint")

    def jvp(self, primals, tangents, params):  # pragma: no cover  (forward mode calls the function directly)
        raise AssertionError("checkpoint is not bound in forward mode")

    def forward(self, primals, params):
        call = params["call"]
        o_leaves, o_def = tree_flatten(call.rule.fun(*call.args(primals)))
        call.check_level(o_leaves, "output")
        return call.pack(o_def, o_leaves), list(primals)

    def backward(self, res, ct, params, needed):
        call = params["call"]
        tape = Tape()
        leaves = [tape.variable(v) if need else v for v, need in zip(res, needed)]
        o_leaves, _ = tree_flatten(call.rule.fun(*call.args(leaves)))
        y = pack_leaves(o_leaves)
        if not isinstance(y, Variable) or y.tape is not tape:
            return [None] * len(res)
        nodes = [v.node if need else None for v, need in zip(leaves, needed)]
        adj = tape.backward({y.node: ct}, wanted={n for n in nodes if n is not None})
        return [None if n is None else adj.get(n) for n in nodes]


_CHECKPOINT = CheckpointOp()


class Checkpointed(CustomFunction):
    """A function whose reverse-mode internals are recomputed in the backward sweep (what
    :func:`checkpoint` returns)."""

    kind = "checkpoint"
    op = _CHECKPOINT

    def _ready(self) -> None:
        return None

    def direct(self, owner) -> bool:
        return not isinstance(owner, Variable)


def checkpoint(fun, *, prevent_cse: bool = True, policy=None, static_argnums=()):
    """``fun`` with the same values and derivatives, whose reverse-mode tape keeps only its
    inputs and outputs: the backward sweep recomputes its internals (JAX's ``jax.checkpoint``,
    also called ``remat``).

    Parameters
    ----------
    fun : callable
        Takes and returns pytrees of arrays.  Values being differentiated must be arguments,
        not closed over (that raises, naming the function).
    prevent_cse : bool
        Accepted for JAX compatibility; dualad has no compiler that could merge the
        recomputation away, so it has no effect.
    policy : None
        JAX's policies choose intermediates to save; dualad saves none (every internal is
        recomputed), so only ``None`` is accepted.
    static_argnums : tuple of int
        Arguments that are not arrays (functions, step counts), passed through as they are.

    Returns
    -------
    callable
        Same signature as ``fun``.

    Notes
    -----
    √n checkpointing of a loop of n steps: run it as n/k calls of a checkpointed segment of k
    steps, k ≈ √n; the tape then holds about n/k states and the sweep one segment's k steps at a
    time, for about one extra forward pass of work::

        segment = ad.checkpoint(lambda x, p: run(x, p, k))
        for _ in range(n // k):
            x = segment(x, p)

    Only the innermost reverse level saves memory; forward mode calls ``fun`` as it is.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> def block(x):
    ...     for _ in range(10):
    ...         x = np.sin(x) + x
    ...     return x
    >>> g = ad.grad(lambda x: np.sum(ad.checkpoint(block)(x)))(np.array([0.1, 0.2]))
    >>> np.allclose(g, ad.grad(lambda x: np.sum(block(x)))(np.array([0.1, 0.2])))
    True
    """
    if policy is not None:
        raise NotImplementedError(
            "checkpoint(policy=...): dualad saves no intermediates of a checkpointed function (it recomputes them "
            "all); split the function into smaller checkpointed pieces to choose what the tape keeps"
        )
    return Checkpointed(fun, static_argnums)
