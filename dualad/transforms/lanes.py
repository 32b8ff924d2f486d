"""Lanes: seeding, one forward or reverse lane pass, and the dense layout of their blocks.

A *lane* is one direction carried through a pass: a forward pass of k lanes pushes k tangent
directions (columns of ``J S``), a reverse sweep of k lanes pulls k cotangents (rows of
``Sᵀ J``).  ``S`` is the identity (dense Jacobians, seeded chunk by chunk) or a colouring (sparse
ones: every lane carries all columns or rows of one colour).  jacfwd, jacrev, jacobian, the
sparse drivers and recordings all seed and sweep here; :mod:`.engine` runs chunks of these
passes serially or on an executor.

Examples
--------
>>> import numpy as np
>>> from dualad.transforms.lanes import seed
>>> seed(3, 0, None, 1, 2, np.float64)            # identity lanes 1..2 of 3 inputs
array([[0., 1., 0.],
       [0., 0., 1.]])
>>> seed(3, 0, np.array([0, 1, 0]), 0, 2, np.float64)   # colours: one lane per colour
array([[1., 0., 1.],
       [0., 1., 0.]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import device
from ..core.dispatch import Active, new_tag, strip
from ..forward.dual import Dual
from ..reverse.tape import Tape
from ..reverse.variable import Variable
from .common import assemble_jacobian, check_inputs_dtype, check_output, check_output_dtype, flatten_output, prepare_args, size_of
from .pytree import tree_flatten, tree_unflatten

__all__ = [
    "Directions",
    "seed",
    "seed_lanes",
    "pull_nodes",
    "out_nodes",
    "unwrap_dual",
    "record_tape",
    "pull",
    "forward_pass",
    "forward_lanes",
    "ReverseRecording",
    "reverse_record",
    "reverse_lanes",
    "lane_ranges",
    "rows_to_jacobian",
]


def _float(dt):
    return dt if np.dtype(dt).kind in "fc" else np.float64


@dataclass(frozen=True)
class Directions:
    """Explicit seed directions for the lanes: row ``c`` of ``matrix`` (``(N, n)``, over the
    flattened inputs, or outputs in reverse mode) is lane ``c`` — batched Hessian-vector
    products run on the lane engine with these in place of the identity or a colouring."""

    matrix: object


def seed(size: int, offset: int, colors, c0: int, k: int, dtype, like=None):
    """(k, size) seed of the flat positions ``offset .. offset + size``: lane ``c - c0``
    carries 1 at every position of colour c in ``[c0, c0 + k)`` (``colors`` None: position p
    has colour p, the identity).  Made where the plain value ``like`` lives (dense seeds only:
    colourings are host data).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.lanes import seed
    >>> seed(2, 1, None, 0, 3, np.float64)         # positions 1, 2 of the identity's 3 lanes
    array([[0., 0.],
           [1., 0.],
           [0., 1.]])
    """
    if colors is None:
        return device.eye(k, size, c0 - offset, dtype, like)
    if isinstance(colors, Directions):
        return colors.matrix[c0: c0 + k, offset: offset + size].astype(dtype, copy=False)
    out = np.zeros((k, size), dtype=dtype)
    idx = np.arange(size)
    lane = colors[offset: offset + size] - c0
    ok = (lane >= 0) & (lane < k)
    out[lane[ok], idx[ok]] = 1.0
    return out


def seed_lanes(leaves: list, start: int, k: int, tag: int, colors=None) -> list:
    """Duals carrying lanes ``start .. start+k`` of the identity (or of the colouring
    ``colors``) over the flattened leaves.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.core.dispatch import new_tag
    >>> from dualad.transforms.lanes import seed_lanes
    >>> seed_lanes([np.zeros(2)], 0, 2, new_tag())[0].tangent
    array([[1., 0.],
           [0., 1.]])
    """
    duals, offset = [], 0
    for x in leaves:
        size = size_of(x.shape)
        s = seed(size, offset, colors, start, k, _float(x.dtype), strip(x))
        duals.append(Dual.make(x, s.reshape((k,) + tuple(x.shape)), tag, False))
        offset += size
    return duals


def unwrap_dual(o, tag: int, k: int, name: str = "jacfwd", index: int | None = None, count: int = 1):
    """(primal, tangent lanes) of an output at ``tag``; float outputs that do not depend on the
    inputs get zero lanes, outputs that cannot carry a derivative raise (naming ``name``).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.lanes import unwrap_dual
    >>> unwrap_dual(np.ones(2), 0, 3)[1].shape
    (3, 2)
    """
    if isinstance(o, Dual) and o._tag == tag:
        return o._p, o._t
    check_output(o, name, index, count)
    if not isinstance(o, Active):
        o = device.asarray(o)
    return o, device.zeros((k,) + tuple(o.shape), o.dtype, strip(o))


def record_tape(f, args, nums, allow_empty: bool = False):
    """Run ``f`` once on fresh leaf Variables: (tape, leaves, leaf Variables, leaf treedef, output).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.lanes import record_tape
    >>> tape, leaves, vars_, treedef, out = record_tape(np.sin, (np.zeros(2),), (0,))
    >>> len(tape.entries)
    1
    """
    leaves, treedef, rebuild = prepare_args(args, nums, allow_empty)
    tape = Tape()
    vars_ = [Variable.leaf(x, tape) for x in leaves]
    out = f(*rebuild(vars_))
    if isinstance(out, Active):  # one active leaf: the output itself (no tree walk)
        return tape, leaves, vars_, treedef, out
    out_leaves, out_def = tree_flatten(out)  # object arrays of actives joined
    return tape, leaves, vars_, treedef, tree_unflatten(out_def, out_leaves)


def pull(tape: Tape, outs: list, cts: list, vars_: list, k: int) -> list:
    """One backward sweep from cotangent lanes ``cts`` on ``outs``; lanes for every leaf.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.lanes import pull, record_tape
    >>> tape, _, vars_, _, out = record_tape(lambda x: 3.0 * x, (np.ones(2),), (0,))
    >>> pull(tape, [out], [np.ones((1, 2))], vars_, 1)[0]
    array([[3., 3.]])
    """
    return pull_nodes(tape, out_nodes(tape, outs), cts, [v.node for v in vars_], vars_, k)


def out_nodes(tape: Tape, outs: list) -> list:
    """The tape node of each output, None where an output is not on ``tape`` (a constant)."""
    return [o.node if isinstance(o, Variable) and o.tape is tape else None for o in outs]


def pull_nodes(tape: Tape, outs: list, cts: list, leaf_nodes: list, leaves: list, k: int) -> list:
    """:func:`pull` by node numbers: ``outs`` the outputs' nodes (None: constant), ``leaves``
    the leaf values (for the shape, dtype and place of zero adjoints).  A replayed recording
    (:class:`dualad.transforms.record.Recording`) has nodes, not Variables."""
    seeds: dict = {}
    for node, ct in zip(outs, cts):
        if node is not None:
            prev = seeds.get(node)
            seeds[node] = ct if prev is None else prev + ct
    adj = tape.backward(seeds, wanted=set(leaf_nodes)) if seeds else {}
    res = []
    for node, x in zip(leaf_nodes, leaves):
        a = adj.get(node)
        if a is None:
            a = device.zeros((k,) + tuple(x.shape), x.dtype, strip(x))
        res.append(a)
    return res


def _join(blocks: list, axis: int):
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=axis)


def forward_pass(f, leaves: list, rebuild, colors, c0: int, c1: int, name: str = "jacobian"):
    """One forward pass with lanes c0..c1 over prepared arguments: ((k, m) block of ``J S``,
    output treedef, output shapes).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.common import prepare_args
    >>> from dualad.transforms.lanes import forward_pass
    >>> leaves, _, rebuild = prepare_args((np.ones(2),), (0,))
    >>> forward_pass(lambda x: 2.0 * x, leaves, rebuild, None, 0, 2)[0]
    array([[2., 0.],
           [0., 2.]])
    """
    k = c1 - c0
    tag = new_tag()
    out = f(*rebuild(seed_lanes(leaves, c0, k, tag, colors)))
    o_leaves, o_def = flatten_output(out, name)
    blocks, shapes = [], []
    for i, o in enumerate(o_leaves):
        t = unwrap_dual(o, tag, k, name, i, len(o_leaves))[1]
        shapes.append(tuple(t.shape[1:]))
        blocks.append(np.reshape(t, (k, size_of(t.shape[1:]))))  # explicit: k or the size may be 0
    if not blocks:
        return np.zeros((k, 0)), o_def, shapes
    return _join(blocks, 1), o_def, shapes


def forward_lanes(f, args, nums, colors, c0: int, c1: int, name: str = "jacobian"):
    """:func:`forward_pass` from the call's arguments (what a worker runs).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.lanes import forward_lanes
    >>> forward_lanes(np.sin, (np.zeros(2),), (0,), None, 0, 2)[0]
    array([[1., 0.],
           [0., 1.]])
    """
    leaves, _, rebuild = prepare_args(args, nums)
    return forward_pass(f, leaves, rebuild, colors, c0, c1, name)


@dataclass
class ReverseRecording:
    """One recording of f for reverse lane sweeps: tape, outputs and leaves, their layout.

    ``out_nodes``/``leaf_nodes`` are tape nodes (None for a constant output); ``vars_`` the
    leaf Variables of a fresh recording (None for a replayed one).
    """

    tape: object
    out_nodes: list
    leaf_nodes: list
    o_leaves: list
    o_def: object
    shapes: list
    sizes: list
    dtype: object
    leaves: list
    treedef: object
    vars_: list | None = None

    @classmethod
    def of(cls, tape, o_leaves, o_def, leaf_nodes, leaves, treedef, out_nodes, vars_=None, name="jacobian", holomorphic=False):
        """Check the outputs (each must carry a derivative; complex ones only if ``holomorphic``)
        and work out the layout."""
        for i, o in enumerate(o_leaves):
            check_output(o, name, i, len(o_leaves))
            check_output_dtype(name, holomorphic, o.dtype if hasattr(o, "dtype") else np.asarray(o).dtype)
        shapes = [tuple(o.shape) if isinstance(o, Active) else tuple(np.shape(o)) for o in o_leaves]
        dt = np.result_type(*[np.dtype(x.dtype) for x in leaves]) if leaves else np.dtype(np.float64)
        if dt.kind not in "fc":
            dt = np.dtype(np.float64)
        # the cotangent seeds: real (real outputs), complex for a holomorphic f's complex outputs
        dt = np.result_type(dt, np.complex64) if holomorphic else np.finfo(dt).dtype
        return cls(tape, out_nodes, leaf_nodes, o_leaves, o_def, shapes, [size_of(s) for s in shapes], dt,
                   leaves, treedef, vars_)


def reverse_record(f, args, nums, name: str = "jacobian", holomorphic: bool = False) -> ReverseRecording:
    """Record f for reverse sweeps; outputs that cannot carry a derivative raise, and so do
    complex outputs unless ``holomorphic`` (then the inputs and outputs must be complex).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.lanes import reverse_record
    >>> reverse_record(lambda x: x[:2] * x[1:], (np.ones(3),), (0,)).sizes
    [2]
    """
    tape, leaves, vars_, treedef, out = record_tape(f, args, nums)
    check_inputs_dtype(name, holomorphic, leaves)
    o_leaves, o_def = flatten_output(out, name)
    return ReverseRecording.of(tape, o_leaves, o_def, [v.node for v in vars_], leaves, treedef,
                               out_nodes(tape, o_leaves), vars_, name, holomorphic)


def reverse_lanes(rec: ReverseRecording, colors, c0: int, c1: int):
    """One backward sweep with cotangent lanes c0..c1: the (k, n) block of ``Sᵀ J``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.lanes import reverse_lanes, reverse_record
    >>> rec = reverse_record(lambda x: 2.0 * x, (np.ones(2),), (0,))
    >>> reverse_lanes(rec, None, 0, 2)
    array([[2., 0.],
           [0., 2.]])
    """
    k = c1 - c0
    cts, offset = [], 0
    for o, s, size in zip(rec.o_leaves, rec.shapes, rec.sizes):
        cts.append(seed(size, offset, colors, c0, k, rec.dtype, strip(o)).reshape((k,) + tuple(s)))
        offset += size
    adj = pull_nodes(rec.tape, rec.out_nodes, cts, rec.leaf_nodes, rec.leaves, k)
    if not adj:
        return np.zeros((k, 0), dtype=rec.dtype)
    return _join([np.reshape(a, (k, size_of(a.shape[1:]))) for a in adj], 1)


def lane_ranges(N: int, chunk: int, start: int = 0) -> list[tuple[int, int]]:
    """The passes ``[(c0, c1), ...]`` covering lanes ``start .. N`` in chunks of ``chunk``.

    Examples
    --------
    >>> from dualad.transforms.lanes import lane_ranges
    >>> lane_ranges(5, 2)
    [(0, 2), (2, 4), (4, 5)]
    """
    chunk = max(1, int(chunk))
    return [(c, min(c + chunk, N)) for c in range(start, N, chunk)]


def rows_to_jacobian(full, out_def, out_shapes, leaves, treedef, single: bool):
    """The (m, n) Jacobian matrix -> per output leaf ``S_out + (n,)``, split per input leaf.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.lanes import rows_to_jacobian
    >>> from dualad.transforms.pytree import tree_flatten
    >>> x = np.zeros(2)
    >>> leaves, treedef = tree_flatten([x])
    >>> rows_to_jacobian(np.eye(2), None, [(2,)], leaves, treedef, True).shape
    (2, 2)
    """
    n = full.shape[1]
    blocks, offset = [], 0
    for s in out_shapes:
        size = size_of(s)
        blocks.append(np.reshape(full[offset: offset + size], tuple(s) + (n,)))
        offset += size
    return assemble_jacobian(out_def, blocks, leaves, treedef, single)
