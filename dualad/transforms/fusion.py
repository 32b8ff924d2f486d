"""Fusion: runs of elementwise entries over one shape in a program become one generated loop.

The lowering (:mod:`dualad.transforms.program`) hands its entries to :func:`schedule`, which
yields them back one by one, except for *runs*: consecutive elementwise entries over values of
one size (operands of that size, broadcast scalars and constants, or other operands gathered to
it first), with the full sums of such values and reshapes (which only rename a value) among
them.  An entry that cannot join an open run is *deferred* past it, with everything that reads
its value, so that a slice, an embedding or a sum in the middle of a computation does not split
the run in two; a run closes after :data:`DEFER_MAX` deferred entries or :data:`RUN_MAX`
entries.  Reordering is safe because every entry writes a new value (the buffer is written once
per position) and reads only values made before it, which the deferral keeps.

:func:`build_run` turns a run into a :class:`FusedRun`: the loop's structure
(:class:`dualad.kernels.fused.FusedSpec`, shared by every run of the same ops, operand kinds and
dtype) and its offsets in one program's buffer.  Values read only inside the run live in
registers; those read after it (by later entries, guards or outputs) are stored.  Identical
entries of a run (a recorded gradient recomputes the same ``sin(x)`` the function computed)
are computed once.  Values of a run embedded into zeros and summed (the adjoints of ``x[1:]``
and ``x[:-1]``), read by nothing else, are stored into the sum's positions, one written and the
others added (:attr:`dualad.kernels.fused.FusedSpec.adds`), so the embeddings and the sum take
no pass of their own.
"""

from __future__ import annotations

import math
from collections import Counter, deque

import numpy as np

from ..kernels.fused import FusedSpec, fused_kernel
from ..rules import structural as S

__all__ = ["FusedRun", "BlockCopy", "block_copy", "schedule", "build_run", "DEFER_MAX", "RUN_MAX", "COPY_SEGMENTS_MAX"]

#: Entries an open run may defer past itself before it closes.
DEFER_MAX = 32
#: Entries of one run at most (a larger loop takes longer to compile than it saves).
RUN_MAX = 96
#: Large gathers made of at most this many contiguous runs of positions (or of zeros) are
#: block copies (:class:`BlockCopy`) rather than element-by-element gathers.
COPY_SEGMENTS_MAX = 8


class FusedRun:
    """A step of a program: one generated loop over a run of elementwise entries.

    Attributes
    ----------
    spec : FusedSpec
        The loop's structure.
    offs : numpy.ndarray
        The offsets of its inputs, scalar inputs, stored values and sums in the buffer.
    n : int
        Elements per value.
    nodes : list
        The tape nodes the run computes.
    direct : tuple
        ``(input, leaf node, start)`` per input array read straight from a leaf's array (the
        caller's, at element ``start`` of it flattened) instead of the buffer (:meth:`read_leaves`).
    fresh : tuple
        ``(store, node)`` per stored value written to a new array per run, ``held[node]``,
        instead of the buffer (:meth:`write_fresh`).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> rec = ad.record(lambda x: np.sum(np.sin(x) * x), np.zeros(5000))
    >>> [type(h).__name__ for _, _, h in rec.program().steps]
    ['FusedRun']
    """

    def __init__(self, spec: FusedSpec, offs: list, n: int, nodes: list):
        self.spec, self.n, self.nodes = spec, n, nodes
        self.offs = np.asarray(offs, dtype=np.int64)
        self._kernel = fused_kernel(spec)
        self.direct: tuple = ()
        self.fresh: tuple = ()
        #: ``(start, stop)`` ranges of the buffer zeroed before each run (around a store that
        #: another store of the run is added to, :attr:`FusedSpec.adds`).
        self.zeros: tuple = ()
        #: ``(node, size, ((store, start), ...), zeros)``: stores written into one new array per
        #: run, ``held[node]``, at ``start`` (a store and the store added to it), its ``(start,
        #: stop)`` ranges ``zeros`` zeroed first (:meth:`write_fresh`).
        self.slabs: tuple = ()
        #: Per store, the node it was placed for.
        self.store_nodes: tuple = ()

    def __repr__(self) -> str:
        return f"<FusedRun of {len(self.spec.ops)} ops over {self.n} elements>"

    def read_leaves(self, direct: list) -> None:
        """Read the inputs of ``direct`` (``(input, leaf node, start)``) from the leaves' own
        arrays, given to :meth:`run` and :meth:`adjoint` in ``held``, not from the buffer."""
        self.direct = tuple(sorted(direct))
        self._rebuild()

    def write_fresh(self, fresh: list, slabs: list = ()) -> None:
        """Write the stored values of ``fresh`` (``(store, node)``) to a new array per run,
        kept in ``held[node]`` (flat), instead of the buffer; and those of ``slabs`` (see
        :attr:`slabs`) into parts of one new array each."""
        self.fresh, self.slabs = tuple(sorted(fresh)), tuple(slabs)
        self._rebuild()

    def _rebuild(self) -> None:
        fresh = sorted([j for j, _ in self.fresh] + [j for _, _, parts, _ in self.slabs for j, _ in parts])
        self._kernel = fused_kernel(self.spec, tuple(k for k, _, _ in self.direct), tuple(fresh))

    def _made(self, dtype, held) -> list:
        """New arrays for the fresh stores (in ``held``), in the order of the stores."""
        arrays = {}
        for j, node in self.fresh:
            arrays[j] = held[node] = np.empty(self.n, dtype)
        for node, size, parts, zeros in self.slabs:
            whole = held[node] = np.empty(size, dtype)
            for lo, hi in zeros:
                whole[lo:hi] = 0
            for j, start in parts:
                arrays[j] = whole[start:start + self.n]
        return [arrays[j] for j in sorted(arrays)]

    def _leaves(self, buf, held) -> list:
        n, dtype = self.n, buf.dtype
        return [np.ravel(np.asarray(held[node], dtype))[start:start + n] for _, node, start in self.direct]

    def run(self, buf, held=None) -> None:
        """Compute the run's stored values and sums in ``buf`` (``held``: the leaves' arrays, by
        node, where the run reads some of them directly)."""
        for lo, hi in self.zeros:
            buf[lo:hi] = 0
        if not (self.direct or self.fresh or self.slabs):
            self._kernel.run(buf, self.offs, self.n)
            return
        self._kernel.run(buf, self.offs, self.n, *self._leaves(buf, held), *self._made(buf.dtype, held))

    def adjoint(self, buf, adj, held=None) -> None:
        """Add the run's contributions to the inputs' adjoints in ``adj``, from the adjoints of
        its stored values and sums (``buf`` holds the values of a forward run)."""
        if self.direct:
            self._kernel.adjoint(buf, adj, self.offs, self.n, *self._leaves(buf, held))
        else:
            self._kernel.adjoint(buf, adj, self.offs, self.n)


class BlockCopy:
    """A step of a program: values moved by contiguous blocks (an embedding into zeros, a
    shifted slice, a concatenation), ``buf[dst : dst + k] = buf[src : src + k]`` per block,
    ``src`` None for zeros.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.fusion import block_copy
    >>> buf = np.array([0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0])
    >>> copy = block_copy(np.array([0, 1, 2, 3]), 4)      # x[:3] embedded after a zero
    >>> copy.run(buf); buf[4:]
    array([0., 1., 2., 3.])
    """

    def __init__(self, blocks: list):
        self.blocks = blocks

    def __repr__(self) -> str:
        return f"<BlockCopy of {len(self.blocks)} blocks>"

    def run(self, buf, held=None) -> None:
        """Move the values."""
        for dst, src, k in self.blocks:
            buf[dst:dst + k] = 0 if src is None else buf[src:src + k]

    def adjoint(self, buf, adj, held=None) -> None:
        """Add each moved value's adjoint to its source's."""
        for dst, src, k in self.blocks:
            if src is not None:
                adj[src:src + k] += adj[dst:dst + k]


def block_copy(idx: np.ndarray, out: int) -> BlockCopy | None:
    """A :class:`BlockCopy` writing the values at buffer positions ``idx`` (position 0 reads a
    zero) to ``out``, or None if ``idx`` has more than :data:`COPY_SEGMENTS_MAX` blocks or a
    block that overlaps its destination."""
    zero = idx == 0
    step = np.diff(idx)
    cut = np.flatnonzero((zero[1:] != zero[:-1]) | (~zero[1:] & (step != 1))) + 1
    if cut.size >= COPY_SEGMENTS_MAX:
        return None
    bounds = [0, *cut.tolist(), idx.size]
    blocks = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        src = None if zero[lo] else int(idx[lo])
        if src is not None and src < out + idx.size and out < src + hi - lo:
            return None
        blocks.append((out + lo, src, hi - lo))
    return BlockCopy(blocks)


def schedule(entries, fits, defer_max: int = DEFER_MAX, run_max: int = RUN_MAX):
    """Yield ``entries`` in an order that keeps every value made before it is read: single
    entries, and lists of entries that form a run.

    ``fits(entry, made)`` says whether ``entry`` can join a run whose values are the nodes of
    ``made`` (node → shape): ``(kind, size)`` with kind ``"e"`` (an elementwise entry; only
    these open a run), ``"s"`` (a full sum, whose value is ready only after the run) or ``"r"``
    (a reshape of a value of the run), or None.  It is called on an entry only when each of
    its operands is either in ``made`` or was yielded already (and lowered, since this is a
    generator).  An entry that cannot join but reads only values made before the run (a slice
    of an input, a constant gather) is yielded at once, ahead of the run; an elementwise entry
    of another size is deferred instead, to open a run of its own."""
    pending = deque(entries)
    while pending:
        entry = pending.popleft()
        first = fits(entry, {})
        if first is None or first[0] != "e":
            yield entry
            continue
        size = first[1]
        run, work, made, late, deferred = [entry], 1, {entry.out_node: entry.out_shape}, set(), []
        while pending and len(deferred) < defer_max and len(run) < run_max:
            e = pending.popleft()
            fit = None if any(n in late for n in e.in_nodes) else fits(e, made)
            if fit is None or fit[1] != size:
                if fit is None and not any(n in late or n in made for n in e.in_nodes):
                    yield e  # reads only values made before the run: lowered now, ahead of it
                else:
                    deferred.append(e)
                    late.add(e.out_node)
                continue
            run.append(e)
            if fit[0] == "s":
                late.add(e.out_node)
            else:
                made[e.out_node] = e.out_shape
            work += fit[0] != "r"
        pending.extendleft(reversed(deferred))
        if work > 1:
            yield run
        else:
            yield from run


def build_run(entries: list, consts: dict, operand, alloc, read_after, adds=None) -> tuple[FusedRun, dict]:
    """The loop of a run (from :func:`schedule`) and where its results live.

    ``operand(node, constant, shape)`` gives an operand's place outside the run: ``(offset,
    True)`` for a broadcast scalar, ``(offset, False)`` for values of the run's size (gathered
    there first if the operand broadcasts otherwise); ``alloc(node, shape)`` reserves buffer
    positions for a value the run stores;
    ``read_after(node, uses)`` says whether anything after the run reads ``node``, given the
    run's own ``uses`` of it; ``adds`` is told first the set of nodes stored alone (no other
    node of the run has the same value), then asked per store (by the node it was placed
    for), once every store is placed, whether it is added to what its positions hold
    (:attr:`FusedSpec.adds`).  ``consts`` maps a structural entry's node to its constant
    operands.  Returns the :class:`FusedRun` and ``{node: offset}`` for every value the run
    stores (the sums' included)."""
    refs: dict = {}  # node -> its reference in the loop
    places = {"a": {}, "s": {}}  # offset -> reference, per kind of input
    ops, seen, sums, sum_nodes, uses = [], {}, [], [], {}
    n = 0

    def ref(node, c, shape):
        if node in refs:
            uses[node] = uses.get(node, 0) + 1
            return refs[node]
        off, scalar = operand(node, c, shape)
        kind = places["s" if scalar else "a"]
        return kind.setdefault(off, f"{'s' if scalar else 'a'}{len(kind)}")

    for e in entries:
        cs = e.residual if e.op not in (S.sum_, S.reshape) else consts.get(e.out_node, [None])
        if e.op is S.sum_ and not read_after(e.out_node, 0):
            # a sum nothing reads (a recorded gradient's own value, say): not computed; its
            # operand is read by the run, not after it
            src = e.in_nodes[0]
            uses[src] = uses.get(src, 0) + 1
            continue
        if e.op is S.sum_ or e.op is S.reshape:
            src = ref(e.in_nodes[0], cs[0], None)
            if e.op is S.sum_:
                sums.append(src)
                sum_nodes.append((e.out_node, tuple(e.out_shape)))
            else:
                refs[e.out_node] = src
            continue
        n = math.prod(e.out_shape)
        key = (e.op.name, tuple(ref(nd, c, e.out_shape) for nd, c in zip(e.in_nodes, cs)))
        if key not in seen:
            seen[key] = f"v{len(ops)}"
            ops.append(key)
        refs[e.out_node] = seen[key]
    stored: dict = {}  # reference -> offset
    placed = {}
    storing = [(e, refs[e.out_node]) for e in entries
               if e.out_node in refs and read_after(e.out_node, uses.get(e.out_node, 0))]
    if adds is not None:  # the nodes stored alone: no other node of the run is the same value
        count = Counter(r for _, r in storing)
        adds({e.out_node for e, r in storing if count[r] == 1})
    first = []  # per store, the node it was placed for
    for e, r in storing:
        if r not in stored:
            stored[r] = alloc(e.out_node, tuple(e.out_shape))
            first.append(e.out_node)
        placed[e.out_node] = stored[r]
    for node, shape in sum_nodes:
        placed[node] = alloc(node, shape)
    added = tuple(j for j, node in enumerate(first) if adds is not None and adds(node))
    spec = FusedSpec(tuple(ops), len(places["a"]), len(places["s"]), tuple(stored), tuple(sums), added)
    offs = list(places["a"]) + list(places["s"]) + list(stored.values()) + [placed[m] for m, _ in sum_nodes]
    run = FusedRun(spec, offs, n, [e.out_node for e in entries])
    run.store_nodes = tuple(first)
    return run, placed
