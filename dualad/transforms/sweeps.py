"""A lowered program's lane sweeps in compiled code: Jacobians by forward lanes, Hessians by
forward-over-reverse lanes, dense or star-coloured (:mod:`dualad.kernels.vm_lanes`).

A program applies when all its values live in the VM's buffer and no entry is a host step
(:func:`lanes_apply`): the whole computation is then one compiled ``jvp_run`` carrying k
tangent lanes per value, and for a Hessian one ``hvp_sweep`` back.  Lanes beyond
:data:`LANE_BUDGET` tangent elements run in chunks.  A Hessian with at least
:data:`RECORDED_SPARSE_MIN` unknowns whose star colouring needs under a quarter of them as lanes
runs one lane per colour and is decompressed (:class:`HessianPlan`), as the plain
:func:`dualad.hessian` chooses by itself from ``AUTO_SPARSE_MIN_LANES`` unknowns on: a
recording traces the pattern once, not per call, so colouring pays from fewer unknowns.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..kernels.vm import BINARY, MATMUL, TERNARY, UNARY, vm_rules
from ..kernels.vm_lanes import get_lane_sweeps
from ..rules.derive import derivable
from .colouring import Decompressor, star_color
from .sparsity import trace_pattern

__all__ = ["LANES_MAX", "LANE_BUDGET", "RECORDED_SPARSE_MIN", "lanes_apply", "lane_code", "second_order", "value_and_jacfwd",
           "hessian_lanes", "HessianPlan"]

#: The most lanes (input elements of a Jacobian, colours or unknowns of a Hessian) the compiled
#: lane sweeps take: each lane is a scalar loop of the VM, so beyond this the replay's
#: vectorised lanes (NumPy, BLAS) are faster (measured: W4 wide, 2000 lanes through an
#: 8 × 2000 product, 97 ms compiled against 30 ms for the plain jacfwd).
LANES_MAX = 64
#: Tangent elements (buffer positions × lanes) one sweep carries; more lanes run in chunks.
LANE_BUDGET = 1 << 23
#: Unknowns from which a recorded Hessian traces its sparsity pattern (once per recording) and
#: runs one lane per colour when the colours are under a quarter of the unknowns.
RECORDED_SPARSE_MIN = 32


def lanes_apply(prog) -> bool:
    """Whether the lane sweeps run ``prog``: every value in the buffer, no host step.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> lanes_apply(ad.record(lambda x: np.sum(np.sin(x)), np.zeros(3)).program())
    True
    >>> lanes_apply(ad.record(lambda x: np.linalg.det(x), np.eye(2)).program())   # a host step
    False
    """
    return prog.differentiable and all(host is None for _, _, host in prog.steps)


def second_order(prog) -> bool:
    """Whether every elementwise rule of ``prog`` has a tangent (second partials) in the VM.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> second_order(ad.record(lambda x: np.sum(np.tanh(x) * x), np.zeros(2)).program())
    True
    """
    table = vm_rules()
    kinds = {UNARY: 1, BINARY: 2, TERNARY: 3}
    for kind, sub in {(int(r[0]), int(r[1])) for r in prog.code if int(r[0]) in kinds}:
        if not derivable(table[kinds[kind]][sub]):
            return False
    return True


def lane_code(prog) -> tuple:
    """``(code, jvp_run, hvp_sweep, spare)``: ``prog``'s instructions for the lane sweeps, its
    matrix products marked where an operand is constant, the sweeps
    (:func:`dualad.kernels.vm_lanes.get_lane_sweeps`) and tangent arrays of finished runs by
    lane count (a run rewrites every row but the constants', which stay zero); made once per
    program.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> prog = ad.record(lambda x: np.sum(np.ones((3, 2)) @ x), np.zeros(2)).program()
    >>> [row[8:].tolist() for row in lane_code(prog)[0] if row[0] == MATMUL]     # A constant, B not
    [[1, 0]]
    """
    made = prog.lane_code
    if made is None:
        jvp_run, hvp_sweep, mark_fixed = get_lane_sweeps()
        code = prog.code.copy()
        if np.any(code[:, 0] == MATMUL):
            active = np.zeros(prog.image.size, dtype=np.bool_)
            for _, off, size in prog.leaf_slots:
                active[off:off + size] = True
            mark_fixed(code, prog.ints, active)
        made = prog.lane_code = (code, jvp_run, hvp_sweep, {})
    return made


def _lanes(prog, leaves: list, seeds: np.ndarray):
    """``(buf, held, tan)`` after the forward lane sweep from ``seeds`` (one row per input
    element, one column per lane); None if a guard changed."""
    code, jvp_run, _, spare = lane_code(prog)
    buf, held = prog.prepare(leaves)
    try:
        tan = spare.get(seeds.shape[1], []).pop()
    except IndexError:
        tan = np.zeros((buf.size, seeds.shape[1]), dtype=buf.dtype)
    row = 0
    for _, off, size in prog.leaf_slots:
        tan[off:off + size] = seeds[row:row + size]
        row += size
    jvp_run(buf, tan, code, prog.ints, 0, len(code))  # (compiled code: NumPy's error state has no say in it)
    if prog.guards and not prog.guards_hold(buf, held):
        _release(prog, buf, tan)
        return None
    return buf, held, tan


@functools.lru_cache(maxsize=64)
def _identity(n: int, dtype) -> np.ndarray:
    """The seeds of a dense forward Jacobian, read-only (made once per size and dtype)."""
    eye = np.eye(n, dtype=dtype)
    eye.flags.writeable = False
    return eye


def _release(prog, buf, tan) -> None:
    """Hand back a finished run's buffer and tangents, for the next run to reuse."""
    prog.release(buf)
    prog.lane_code[3].setdefault(tan.shape[1], []).append(tan)


def _chunks(prog, k: int):
    """Lane ranges ``(start, stop)`` covering ``k`` lanes within :data:`LANE_BUDGET`."""
    if k * prog.image.size <= LANE_BUDGET:
        return ((0, k),)
    step = max(1, LANE_BUDGET // max(prog.image.size, 1))
    return [(s, min(s + step, k)) for s in range(0, k, step)] or [(0, 0)]


def value_and_jacfwd(prog, leaves: list, outs: list, values: bool = True):
    """``(outputs, J)``: the outputs (``("n", node)`` or ``("c", constant)``) at ``leaves`` and
    the Jacobian matrix (a row per output element, a column per input element; constant outputs
    give zero rows), by forward lanes seeded with the identity; None if a guard changed, False
    for more than :data:`LANES_MAX` input elements.  With ``values=False`` the outputs are not
    copied out (``(None, J)``).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> rec = ad.record(lambda x: np.sin(x) * x[0], np.zeros(2))
    >>> values, J = value_and_jacfwd(rec.program(), [np.array([1.0, 2.0])], rec.outs)
    >>> bool(np.allclose(J, ad.jacfwd(lambda x: np.sin(x) * x[0])(np.array([1.0, 2.0]))))
    True
    """
    n = sum(size for _, _, size in prog.leaf_slots)
    if n > LANES_MAX:
        return False
    blocks, found = [], None
    eye = _identity(n, prog.image.dtype)
    for start, stop in _chunks(prog, n):
        seeds = eye[:, start:stop]
        result = _lanes(prog, leaves, seeds)
        if result is None:
            return None
        buf, held, tan = result
        rows = []
        for kind, v in outs:
            if kind != "n":
                rows.append(np.zeros((int(np.size(v)), stop - start), dtype=buf.dtype))
                continue
            off, shape = prog.slots[v]
            rows.append(tan[off:off + math.prod(shape)])
        if values and found is None:
            found = [v if kind != "n" else np.copy(prog.value(buf, held, v)) for kind, v in outs]
        blocks.append(np.concatenate(rows) if rows else np.zeros((0, stop - start)))  # (a copy: tan is reused)
        _release(prog, buf, tan)
    return found, blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)


def hessian_lanes(prog, leaves: list, node: int, seeds: np.ndarray):
    """``(value, gradient, H @ seeds)`` of the scalar node ``node`` at ``leaves`` by one forward
    lane sweep from ``seeds`` (``(n, k)``) and one forward-over-reverse sweep back; the
    gradient flat over the leaves, ``H @ seeds`` of shape ``(n, k)``.  None if a guard changed.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> rec = ad.record(lambda x: np.sum(x**3), np.zeros(2))
    >>> value, g, HV = hessian_lanes(rec.program(), [np.array([1.0, 2.0])], rec.outs[0][1], np.eye(2))
    >>> float(value), g, HV
    (9.0, array([ 3., 12.]), array([[ 6.,  0.],
           [ 0., 12.]]))
    """
    code, _, hvp_sweep, _ = lane_code(prog)
    cols, value, grad = [], None, None
    for start, stop in _chunks(prog, seeds.shape[1]):
        result = _lanes(prog, leaves, np.ascontiguousarray(seeds[:, start:stop], dtype=prog.image.dtype))
        if result is None:
            return None
        buf, _, tan = result
        adj, adjt = np.zeros_like(buf), np.zeros_like(tan)
        off = prog.slots[node][0]
        adj[off] = 1
        with np.errstate(all="ignore"):
            hvp_sweep(buf, tan, adj, adjt, code, prog.ints, 0, len(code))
        value = buf[off]
        if len(prog.leaf_slots) == 1:  # views: adj and adjt are this call's own
            (_, o, size), = prog.leaf_slots
            grad, col = adj[o:o + size], adjt[o:o + size]
        else:
            grad = np.concatenate([adj[o:o + size] for _, o, size in prog.leaf_slots])
            col = np.concatenate([adjt[o:o + size] for _, o, size in prog.leaf_slots])
        cols.append(col)
        _release(prog, buf, tan)
    return value, grad, cols[0] if len(cols) == 1 else np.concatenate(cols, axis=1)


class HessianPlan:
    """How a recorded Hessian runs its lanes: the identity (dense), or one lane per colour of
    the star colouring of its sparsity pattern, traced once per recording.

    Attributes
    ----------
    seeds : numpy.ndarray
        ``(n, k)``: the lanes' directions.
    decompress : Decompressor or None
        ``H S`` → the sparse Hessian, for a coloured plan; None for a dense one.

    Examples
    --------
    >>> import numpy as np
    >>> rosen = lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    >>> plan = HessianPlan.make(rosen, (np.zeros(100),), (0,), 100)
    >>> plan.seeds.shape             # three colours for a tridiagonal Hessian
    (100, 3)
    >>> HessianPlan.make(rosen, (np.zeros(10),), (0,), 10).seeds.shape     # small: dense
    (10, 10)
    """

    def __init__(self, seeds: np.ndarray, decompress: Decompressor | None = None):
        self.seeds, self.decompress = seeds, decompress
        if decompress is not None:  # the dense Hessian's flat positions of the pattern's entries
            n = seeds.shape[0]
            rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(decompress.indptr))
            self._at = rows * n + decompress.indices.astype(np.int64)

    @classmethod
    def make(cls, f, args: tuple, nums: tuple, n: int) -> HessianPlan:
        """The plan for ``f``'s Hessian in the arguments ``nums`` (``n`` unknowns) at ``args``:
        coloured when there are at least :data:`RECORDED_SPARSE_MIN` unknowns, the pattern holds
        for every input of the recording (no comparison steered it) and its colours are under
        a quarter of the unknowns; dense otherwise."""
        if n >= RECORDED_SPARSE_MIN:
            trace = trace_pattern(f, args, nums, hessian=True)
            if not trace.value_dependent:
                colors, k = star_color(trace.hessian)
                if 4 * k <= n:
                    seeds = np.zeros((n, k))
                    seeds[np.arange(n), colors] = 1.0
                    return cls(seeds, Decompressor(trace.hessian, colors, k, "star"))
        return cls(np.eye(n))

    def hessian(self, HS: np.ndarray) -> np.ndarray:
        """The dense ``(n, n)`` Hessian from the lanes' results ``H @ seeds``."""
        if self.decompress is None:
            return HS
        n = HS.shape[0]
        H = np.zeros(n * n, dtype=HS.dtype)
        H[self._at] = np.ascontiguousarray(HS).reshape(-1)[self.decompress.index]
        return H.reshape(n, n)
