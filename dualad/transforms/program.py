"""A recording lowered to an operation sequence, run by the VM (CppAD's operation sequence).

:func:`lower` turns a recorded Wengert list (leaves, entries, constants, guards, outputs) into
a :class:`Program`: every node gets a slot in one flat buffer (offset and shape), constants are
written into the buffer's initial image once, and each entry becomes instructions of the
interpreter of :mod:`dualad.kernels.vm`, which is generated once from the rule table, not per
program.  Lowering is one linear pass over the list, so a 10,000-step loop costs no compilation.
Entries that neither the outputs nor the guards depend on are left out (:func:`live_entries`).

- An elementwise rule becomes one instruction; an operand that broadcasts (other than a
  scalar) is first gathered to the output's shape.  From :data:`HOST_MIN` elements on, an
  entry outside a fused run runs NumPy's ufunc instead (into its slot), and so does a full sum.
- Constant-index data movement (getitem, broadcast_to, reshape, transpose, gather, embed,
  concatenate, ``where`` with a recorded condition, setitem, flip, roll) is found
  by applying the op to arrays of buffer *positions*: the result says where each output element
  comes from (position 0 of the buffer holds a zero, for the elements an op fills with zeros).
  A result that is one contiguous run of positions costs nothing (the node aliases that run);
  any other is a ``GATHER``.
- ``sum`` becomes ``SUM`` or ``SCATTER_ADD`` (an output position per input element), as does
  ``scatter_add``; an einsum that is a (batched) matrix product becomes gathers around
  ``MATMUL`` rows.
- Runs of elementwise entries over one shape of :data:`HOST_MIN` elements or more (with full
  sums of their values) are *fused* (:mod:`.fusion`): one generated loop per run, a step of
  the program between compiled segments, forward and adjoint.
- Everything else (linear algebra, FFT, custom rules, ...) is a *host step*: that entry is
  evaluated in Python on views of the buffer, as a replay does, between compiled segments.

The buffer holds float32 values if every input is float32, else float64.  Values of another
dtype (complex ones, a float64 value in a float32 program) and values computed from constants
active at an outer level are *held* on the host: the entries that make or read them are host
steps.  After a run the guards are evaluated on the program's values; a changed one makes
:meth:`Program.run` return None (record again).
"""

from __future__ import annotations

import gc
import math
from collections import Counter

import numpy as np

from ..core.dispatch import Active, apply_elementwise, same_result
from ..kernels.vm import BINARY, GATHER, MATMUL, SCATTER_ADD, SUM, TERNARY, UNARY, WIDTH, get_vm
from ..reverse.tape import elementwise_adjoints
from ..rules import structural as S
from ..rules.base import ElementwiseRule
from .fusion import FusedRun, block_copy, build_run, schedule
from .numpy_steps import AxisSumStep, BroadcastStep, ProductStep

__all__ = ["Program", "NotLowerable", "lower", "live_entries", "MOVES", "HOST_MIN", "MATMUL_HOST_MIN", "BROADCAST_UFUNC_MIN",
           "SWEEP_ROWS_MAX", "SWEEP_SIZE_MAX", "SUMMED_MAX"]

#: Structural ops that only move data: lowered by applying them to arrays of buffer positions.
MOVES = frozenset([S.getitem, S.broadcast_to, S.reshape, S.transpose, S.embed, S.gather, S.concatenate, S.where,
                   S.setitem, S.setitem_flat, S.flip, S.roll])
#: Recording.jacobian(mode="reverse") sweeps the program once per output element up to this many
#: (a compiled sweep per row beats one Python sweep carrying all rows as lanes for small outputs).
SWEEP_ROWS_MAX = 64
#: Compiled adjoint sweeps run for programs whose values all have fewer elements than this:
#: scalar and small-array code, where the per-op cost of a Python sweep dominates.  Larger
#: values sweep faster through the replay's fused kernels and BLAS (measured: the MLP of W3,
#: 128 × 784 inputs, took 24 ms in the VM's sweep against 3.8 ms replayed).
SWEEP_SIZE_MAX = 1 << 10
#: Elementwise entries of a ufunc with at least this many elements are host steps, and so are
#: full sums of as many: NumPy's vectorised loops beat the VM's element loop there (which calls
#: the rule element by element; measured, the crossover lies between 4096 and 8192 elements).
HOST_MIN = 1 << 12
#: Embeddings one sum may gather into a fused run's stores (:meth:`_Lowering.summed_embeddings`).
SUMMED_MAX = 8
#: Matrix products of at least this many multiply-adds whose operands or result the VM would
#: have to gather (transposed) are host steps: NumPy's matmul reads them in place.  The VM calls
#: BLAS too, so products on operands as they lie stay in it.  W3 (products of 128 × 784 × 256,
#: transposed in the gradient) replays 3.7 → 3.2 ms this way.
MATMUL_HOST_MIN = 1 << 16
#: Elementwise entries of at least this many elements with an operand that broadcasts (other than
#: a scalar) run NumPy's ufunc, which reads the operand in place, instead of joining a fused run,
#: which reads it copied to the full size first: in memory-bound sizes the copy's write and read
#: cost more than the fused loop saves (W4 tall under ``jit(jacrev)``, three products of
#: 2000-vectors broadcast against the 2000 × 2000 seed: 24.3 → 19.4 ms, CPU time); in smaller
#: ones the fused loop wins (W3's bias add and relu on 128 × 256 values: 27 µs against 50 µs).
BROADCAST_UFUNC_MIN = 1 << 18
_KINDS = {1: UNARY, 2: BINARY, 3: TERNARY}
_PAD = [[0] * (WIDTH - k) for k in range(WIDTH + 1)]


class NotLowerable(NotImplementedError):
    """An entry cannot be compiled (a constant the buffer cannot hold): it becomes a host step."""


class Program:
    """A lowered recording: instructions, an initial buffer image, host steps, guards.

    Attributes
    ----------
    image : numpy.ndarray
        The buffer's initial contents (a zero at position 0, the constants).
    code : numpy.ndarray
        Instructions, ``(n, WIDTH)`` int64 (see :mod:`dualad.kernels.vm`).
    ints : numpy.ndarray
        The int64 positions that gather and scatter instructions read.
    steps : list
        ``(start, stop, host)``: run instructions ``start:stop``, then the host step ``host``:
        ``(entry, constants)`` for a tape entry evaluated in Python, a
        :class:`~dualad.transforms.fusion.FusedRun` or
        :class:`~dualad.transforms.fusion.BlockCopy` (large values), or None for none.
    slots : list
        Per node, ``(offset, shape)`` or None.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.transforms.program import lower
    >>> rec = ad.record(lambda x: np.sum(np.sin(x) * x), np.zeros(3))
    >>> prog = lower(rec.tape, rec.leaf_nodes, rec.in_sig)
    >>> out = prog.run([np.array([0.0, 1.0, 2.0])], rec.outs)
    >>> round(float(out[0]), 6)
    2.660066
    """

    def __init__(self, image, code, ints, steps, slots, leaf_slots, guards, vm, fresh=None, direct=frozenset()):
        self.image, self.code, self.ints, self.steps = image, code, ints, steps
        self.slots, self.leaf_slots, self.guards = slots, leaf_slots, guards
        #: Values that only the outputs and guards read, made by a host step (a ufunc, an einsum) as a new array
        #: per run (kept in ``held``, handed out as they are: no copy out of the buffer): node ->
        #: the host step's node (itself, or the node it reshapes).
        self.fresh = fresh or {}
        #: Leaves that only fused runs read (``FusedRun.direct``): not copied into the buffer.
        self.direct = direct
        self._vm, self._sweep = vm
        #: Whether :meth:`value_and_grad` applies: no value is held on the host.
        self.differentiable = all(slot is None or slot[0] >= 0 for slot in slots)
        #: The most elements of any value of the program.
        self.largest = max([math.prod(slot[1]) for slot in slots if slot is not None] + [0])
        self._spare: list = []  # buffers of finished runs, for reuse
        #: The instructions as the lane sweeps run them, and those sweeps (made by
        #: :func:`dualad.transforms.sweeps.lane_code`).
        self.lane_code = None

    def value(self, buf, held, node):
        """Node ``node``'s value in ``buf`` (a NumPy scalar for shape (), else a view), or in
        ``held`` for a value kept on the host."""
        off, shape = self.slots[node]
        if off < 0:
            return held[node]
        if node in self.fresh:
            return held[self.fresh[node]].reshape(shape)
        if shape == ():
            return buf[off]
        return buf[off:off + math.prod(shape)].reshape(shape)

    def prepare(self, leaves: list):
        """``(buffer, held)`` before a run at ``leaves``: the constants and the leaves in place
        (a buffer of an earlier run, or a copy of :attr:`image`), the values kept on the host
        (complex, other precision, outer level; and every leaf, for the guards) in ``held``."""
        try:  # a buffer of an earlier run: its constants are in place, every other slot is written
            buf = self._spare.pop()
        except IndexError:
            buf = self.image.copy()
        held: dict = {}
        direct = self.direct
        for (node, off, size), x in zip(self.leaf_slots, leaves):
            if off < 0 or node in direct:
                held[node] = x
            else:
                buf[off:off + size] = np.ravel(x)
        if self.guards:
            held.update((node, x) for (node, _, _), x in zip(self.leaf_slots, leaves))
        return buf, held

    def release(self, buf) -> None:
        """Hand back a buffer of a finished run (:meth:`prepare`), for the next run to reuse."""
        self._spare.append(buf)

    def _forward(self, leaves: list, residuals: list | None = None):
        """A buffer (and the held values) with every node computed at ``leaves``; with
        ``residuals``, each host step's residual appended to it."""
        buf, held = self.prepare(leaves)
        vm, code, ints = self._vm, self.code, self.ints
        with np.errstate(all="ignore"):
            for start, stop, host in self.steps:
                if stop > start:
                    vm(buf, code, ints, start, stop)
                if host is not None:
                    res = self._host(buf, held, *host) if type(host) is tuple else host.run(buf, held)
                    if residuals is not None:
                        residuals.append(res)
        return buf, held

    def run(self, leaves: list, outs: list):
        """The outputs ``outs`` (``("n", node)`` or ``("c", constant)``) at the leaf values
        ``leaves``, or None if a guard changed."""
        buf, held = self._forward(leaves)
        if self.guards and not self.guards_hold(buf, held):
            return None
        vals, given = [], set()
        for kind, v in outs:
            if kind != "n":
                vals.append(v)
                continue
            y = self.value(buf, held, v)
            made = self.fresh.get(v)
            if made is not None and made not in given:  # a new array of this run: handed over as it is
                given.add(made)
                vals.append(y)
                continue
            vals.append(y.copy() if isinstance(y, np.ndarray) else y)
        self._spare.append(buf)  # (only now: outputs and guards read it; other threads take others)
        return vals


    def value_and_grad(self, leaves: list, node: int):
        """``(value, gradients)`` of the scalar node ``node`` at ``leaves``: the forward run,
        then the adjoint sweep (:func:`dualad.kernels.vm.get_vm`) from ``∂node = 1``, host steps
        pulled by their ops' own adjoints; one gradient per leaf, of its shape.  None if a guard
        changed.  Needs :attr:`differentiable`."""
        residuals: list = []
        buf, held = self._forward(leaves, residuals)
        if self.guards and not self.guards_hold(buf, held):
            return None
        adj = np.zeros_like(buf)
        off, shape = self.slots[node]
        adj[off] = 1
        self._backward(buf, adj, residuals, held)
        value = buf[off] if node not in self.fresh else self.value(buf, held, node)[()]
        grads = [adj[o:o + size].reshape(self.slots[n][1]) for n, o, size in self.leaf_slots]
        self._spare.append(buf)
        return value, grads

    def value_and_jacobian(self, leaves: list, outs: list):
        """``(outputs, J)`` at ``leaves``: the outputs as :meth:`run` gives them and the
        Jacobian matrix (one row per output element, one column per input element, constant
        outputs giving zero rows), one adjoint sweep per row.  None if a guard changed.  Needs
        :attr:`differentiable`."""
        residuals: list = []
        buf, held = self._forward(leaves, residuals)
        if self.guards and not self.guards_hold(buf, held):
            return None
        n = sum(size for _, _, size in self.leaf_slots)
        rows = []
        for kind, v in outs:
            if kind != "n":
                rows.append(np.zeros((int(np.size(v)), n), dtype=buf.dtype))
                continue
            off, shape = self.slots[v]
            for i in range(math.prod(shape)):
                adj = np.zeros_like(buf)
                adj[off + i] = 1
                self._backward(buf, adj, residuals, held)
                rows.append(np.concatenate([adj[o:o + size] for _, o, size in self.leaf_slots])[None])
        values = [v if kind != "n" else np.copy(self.value(buf, held, v)) for kind, v in outs]
        self._spare.append(buf)
        return values, np.concatenate(rows) if rows else np.zeros((0, n), dtype=buf.dtype)

    def _backward(self, buf, adj, residuals: list, held: dict) -> None:
        """The adjoint sweep over all steps, compiled segments and host steps, into ``adj``."""
        k = len(residuals)
        with np.errstate(all="ignore"):
            for start, stop, host in reversed(self.steps):
                if host is not None:
                    k -= 1
                    if type(host) is tuple:
                        self._host_adjoint(adj, host[0], residuals[k])
                    else:  # a fused run or a block copy (:mod:`.fusion`)
                        host.adjoint(buf, adj, held)
                if stop > start:
                    self._sweep(buf, adj, self.code, self.ints, start, stop)

    def _host_adjoint(self, adj, entry, res) -> None:
        """Add a host step's adjoint contributions (its op's own backward, on one lane)."""
        off, shape = self.slots[entry.out_node]
        g = adj[off:off + math.prod(shape)].reshape((1,) + tuple(shape)).copy()
        if not g.any():
            return
        needed = [n is not None for n in entry.in_nodes]
        if isinstance(entry.op, ElementwiseRule):
            contribs = elementwise_adjoints(entry.op, res, g, needed, shape, None)
        else:
            contribs = entry.op.backward(res, g, entry.params, needed)
        for n, c in zip(entry.in_nodes, contribs):
            if n is not None and c is not None:
                o, s = self.slots[n]
                adj[o:o + math.prod(s)] += np.ravel(np.broadcast_to(c, (1,) + tuple(s)))

    def guards_hold(self, buf, held) -> bool:
        """Whether every guard gives its recorded result on this run's values (the inputs as
        given; a 0-d value as a NumPy scalar, or else as a 0-d array, the two forms NumPy gives)."""
        for fn, refs, kw, result in self.guards:
            args = [(held[v] if v in held else self.value(buf, held, v)) if kind == "n" else v for kind, v in refs]
            if same_result(fn(*args, **kw), result):
                continue
            zero_d = [np.asarray(a) if kind == "n" and type(a) is not np.ndarray and np.ndim(a) == 0 else a
                      for (kind, _), a in zip(refs, args)]
            if any(a is not b for a, b in zip(args, zero_d)) and same_result(fn(*zero_d, **kw), result):
                continue
            return False
        return True

    def _host(self, buf, held, entry, consts):
        """Evaluate a host step on the buffer's values; returns its residual."""
        op, in_nodes, params, node = entry.op, entry.in_nodes, entry.params, entry.out_node
        vals = [self.value(buf, held, n) if n is not None else c for n, c in zip(in_nodes, consts)]
        off, shape = self.slots[node]
        if isinstance(op, ElementwiseRule):
            if off >= 0 and op.array_fn is not None and not any(isinstance(v, Active) for v in vals):
                if node in self.fresh:  # a new array, which the run hands to its caller
                    y = op.array_fn(*vals)
                    held[node] = y if y.dtype == buf.dtype else y.astype(buf.dtype)
                else:
                    op.array_fn(*vals, out=buf[off:off + math.prod(shape)].reshape(shape))  # straight into its slot
                return vals
            y, res = apply_elementwise(op, vals), vals
        else:
            y, res = op.forward(vals, params)
        if off < 0:
            held[node] = y
        elif node in self.fresh:
            held[node] = _owned(y, vals, buf.dtype, shape)
        else:
            buf[off:off + math.prod(shape)] = np.ravel(y)
        return res


def _owned(y, operands: list, dtype, shape: tuple) -> np.ndarray:
    """``y`` as a C-ordered array of ``dtype`` and ``shape`` that nothing else holds: ``y``
    itself (reshaped) when it owns its memory and is none of ``operands``, else a copy."""
    if (type(y) is np.ndarray and y.dtype == dtype and y.flags.owndata and y.flags.c_contiguous
            and not any(y is v for v in operands)):
        return y.reshape(shape)
    return np.array(y, dtype=dtype, order="C").reshape(shape)


class _Lowering:
    """One pass over a tape, building the program's buffer layout and instructions."""

    def __init__(self, tape, dtype, outs=None):
        self.tape, self.dtype, self.outs = tape, dtype, outs
        self.entries = live_entries(tape, outs)
        self.readers: Counter | None = None  # node -> how many entries, guards and outputs read it
        self.reading: dict = {}  # node -> the entries that read it
        self.hosted: dict = {}  # embedding's node -> its slot, where a fused run wrote its operand
        # summed embeddings of a run's values (:meth:`summed_embeddings`): positions planned for a
        # run's value, pairs to settle, stores added, buffer ranges zeroed per run, the run's nodes
        self.summed: dict = {}
        self.groups: list = []
        self.adding: set = set()
        self.zeroing: list = []
        self.run_nodes: set = set()
        self.alone: set = set()
        self.settled: list = []  # (root add, offset, size, [(value, offset)], written value, zeroed) per sum of a run
        self.made_by = {e.out_node: e for e in self.entries}
        self.run, table, self.sweep = get_vm()
        self.subs = {r: (_KINDS[nin], s) for nin, rs in table.items() for s, r in enumerate(rs)}
        self.scalars: dict = {}  # float constant (and its sign, for -0.0) -> its slot
        self.size = 1  # position 0: a zero
        self.chunks: list = []  # (offset, constant values)
        self.rows: list = []  # the instructions, flat (WIDTH fields each)
        self.ints: list = []
        self.nints = 0
        self.steps: list = []
        self.start = 0
        self.slots: list = [None] * tape.nodes
        self.fresh: dict = {}  # values made as new arrays per run (:attr:`Program.fresh`)
        self.products: list = []  # (first row, stop row, ProductStep) of large in-place VM products

    def alloc(self, size: int) -> int:
        off = self.size
        self.size += size
        return off

    def const(self, c) -> tuple:
        """A slot holding constant ``c``."""
        if type(c) is float:
            key = (c, math.copysign(1.0, c))
            slot = self.scalars.get(key)
            if slot is None:
                slot = self.scalars[key] = (self.alloc(1), ())
                self.chunks.append((slot[0], np.array([c])))
            return slot
        if isinstance(c, Active):
            raise NotLowerable("a constant of the recording is active at an outer level")
        a = np.asarray(c)
        if a.dtype.kind not in "fiub":
            raise NotLowerable(f"a constant of dtype {a.dtype} cannot live in a {self.dtype} program")
        off = self.alloc(a.size)
        self.chunks.append((off, a.ravel()))
        return off, tuple(a.shape)

    def operand(self, n, c) -> tuple:
        return self.slots[n] if n is not None else self.const(c)

    def size_of(self, entry, consts) -> int:
        """The size of ``entry``'s first operand."""
        n, c = entry.in_nodes[0], consts[0]
        return math.prod(self.slots[n][1]) if n is not None else int(np.size(c))

    def positions(self, slot) -> np.ndarray:
        off, shape = slot
        return np.arange(off, off + math.prod(shape), dtype=np.int64).reshape(shape)

    def gather(self, idx) -> int:
        """The offset of the values at buffer positions ``idx``: an alias when they are one run."""
        idx = np.ascontiguousarray(idx, dtype=np.int64).reshape(-1)
        n = idx.size
        if n == 0:
            return self.alloc(0)
        if _is_run(idx):
            return int(idx[0])
        out = self.alloc(n)
        copy = block_copy(idx, out) if n >= HOST_MIN else None
        if copy is not None:
            self.step(copy)
            return out
        self.emit([GATHER, 0, out, n, self.nints])
        self.add_ints(idx)
        return out

    def add_ints(self, idx) -> None:
        self.ints.append(idx)
        self.nints += idx.size

    def emit(self, fields: list) -> None:
        self.rows += fields
        self.rows += _PAD[len(fields)]

    def spread(self, slot, out_shape) -> tuple[int, bool]:
        """An elementwise operand's offset for an output of shape ``out_shape`` and whether it
        is a broadcast scalar; an operand that broadcasts otherwise is gathered first."""
        off, shape = slot
        if shape == out_shape:
            return off, False
        if math.prod(shape) == 1:
            return off, True
        if math.prod(out_shape) >= HOST_MIN:  # a strided copy, not a gather through an index table
            out = self.alloc(math.prod(out_shape))
            self.step(BroadcastStep(off, shape, out, out_shape))
            return out, False
        return self.gather(np.broadcast_to(self.positions(slot), out_shape)), False

    def step(self, host) -> None:
        """End the compiled segment: a host step (or a fused run) follows it."""
        self.start, start = len(self.rows) // WIDTH, self.start
        self.steps.append((start, self.start, host))

    def host(self, entry, consts, step=None) -> None:
        """Evaluate ``entry`` in Python between compiled segments (by ``step``, a step of
        :mod:`.numpy_steps` made from the slot, if given); its value lives in the buffer if it
        is of the buffer's dtype and made of plain operands, else on the host."""
        node = entry.out_node
        dt = self.tape.dtypes.get(node, self.dtype)
        active = any(isinstance(c, Active) for n, c in zip(entry.in_nodes, consts) if n is None)
        off = -1 if active or dt != self.dtype else self.alloc(math.prod(entry.out_shape))
        self.slots[node] = (off, entry.out_shape)
        op = entry.op
        new = op is S.einsum or (isinstance(op, ElementwiseRule) and op.array_fn is not None)
        if off >= 0 and new and self.outs is not None and math.prod(entry.out_shape) >= HOST_MIN:
            views = self.output_only(node, self.slots[node])
            self.fresh.update((v, node) for v in views or ())
        if step is not None and off >= 0:
            step = step(off)
            step.fresh = node in self.fresh
            return self.step(step)
        self.step((entry, consts))

    def output_only(self, node, slot) -> list | None:
        """``node`` and the values that rename it whole (reshapes, ``[0]`` of a leading axis of
        one, ...), if only they, the outputs and the guards read it (a host step can then make
        it as a new array per run, :attr:`Program.fresh`), else None."""
        views = [node]
        readers = self.readers_of(node)
        for e in readers:
            more = None
            if e.op in MOVES and len(e.in_nodes) == 1 and tuple(e.out_shape) != () and self.outs is not None:
                idx = np.ravel(e.op.impl(self.positions(slot), **e.params))
                whole = idx.size == math.prod(slot[1]) and idx.size > 0 and int(idx[0]) == slot[0] and _is_run(idx)
                more = self.output_only(e.out_node, (slot[0], tuple(e.out_shape))) if whole else None
            if more is None:
                return None
            views += more
        reads = sum(kind == "n" and v == node for kind, v in self.outs)
        reads += sum(kind == "n" and v == node for _, refs, _, _ in self.tape.guards or [] for kind, v in refs)
        return None if self.read_after(node, len(readers) + reads) else views

    # -- fusion (:mod:`.fusion`) -----------------------------------------------------------
    def fits(self, entry, made) -> tuple | None:
        """Whether ``entry`` can join a fused run whose values are ``made`` (node -> shape), as
        :func:`.fusion.schedule` asks: an elementwise rule of the VM on :data:`HOST_MIN` elements
        or more of the buffer's dtype, a full sum of such values, or a reshape of a run's value."""
        op, out_shape = entry.op, entry.out_shape
        if entry.out_node in self.hosted:  # (a sum that a fused run makes in place)
            return None
        if isinstance(op, ElementwiseRule):
            n = math.prod(out_shape)
            if n < HOST_MIN or op not in self.subs or self.tape.dtypes.get(entry.out_node, self.dtype) != self.dtype:
                return None
            for node, r in zip(entry.in_nodes, entry.residual):
                if node is None:
                    if isinstance(r, Active) or np.asarray(r).dtype.kind not in "fiub":
                        return None
                elif node not in made and self.slots[node][0] < 0:
                    return None
                shape = np.shape(r) if node is None else made[node] if node in made else self.slots[node][1]
                if n >= BROADCAST_UFUNC_MIN and op.array_fn is not None and 1 < math.prod(shape) < n:
                    return None  # an operand that broadcasts: NumPy's ufunc reads it in place
            return ("e", n)
        node = entry.in_nodes[0] if entry.in_nodes else None
        if node is None or self.tape.dtypes.get(entry.out_node, self.dtype) != self.dtype:
            return None
        if node in made and op is S.reshape:
            return ("r", math.prod(made[node]))
        if op is S.sum_ and math.prod(out_shape) == 1:
            shape = made[node] if node in made else self.slots[node][1]
            return ("s", math.prod(shape)) if node in made or self.slots[node][0] >= 0 else None
        return None

    def fused(self, entries, consts) -> None:
        """One fused loop for a run of entries (:func:`.fusion.build_run`) as a step."""
        def operand(node, c, shape):
            if node is None and np.size(c) > 1:
                a = np.asarray(c)
                if a.flat[0] == a.flat[0] and np.all(a == a.flat[0]):  # one value (not NaN): a scalar
                    c = float(a.flat[0])
            slot = self.operand(node, c)
            return (slot[0], False) if shape is None else self.spread(slot, shape)

        def adds(asked) -> bool | None:  # the nodes stored alone, then each store's node
            if isinstance(asked, set):
                self.alone = asked
                return None
            self.settle()
            return asked in self.adding

        self.run_nodes = {e.out_node for e in entries}
        run, placed = build_run(entries, consts, operand, self.place, self.read_after, adds)
        self.settle()
        for e in entries:
            if e.out_node in placed:
                self.slots[e.out_node] = (placed[e.out_node], tuple(e.out_shape))
        if self.outs is not None:
            self.fresh_stores(run, [e.out_node for e in entries if e.out_node in placed])
        run.zeros = tuple((a, b) for a, b in self.zeroing if b > a)
        self.zeroing, self.adding, self.settled = [], set(), []
        self.step(run)

    def fresh_stores(self, run, nodes: list) -> None:
        """Let ``run`` write the stored values that only the outputs read (through whole-value
        renames) to new arrays per run, handed out as they are (:attr:`Program.fresh`)."""
        first = run.spec.inputs + run.spec.scalars
        fresh = []
        for j in range(len(run.spec.stores)):
            off = int(run.offs[first + j])
            same = [n for n in nodes if self.slots[n][0] == off]
            views = [self.output_only(n, self.slots[n]) for n in same]
            if same and all(v is not None for v in views):
                fresh.append((j, same[0]))
                self.fresh.update((v, same[0]) for vs in views for v in vs)
        slabs = []
        for root, out, n, places, _, zeroed in self.settled:  # summed embeddings only the outputs read
            views = self.output_only(root.out_node, (out, tuple(root.out_shape)))
            if views is None:
                continue
            parts = tuple((run.store_nodes.index(v), off - out) for v, off in places)
            slabs.append((root.out_node, n, parts, tuple((a - out, b - out) for a, b in zeroed if b > a)))
            self.zeroing = [z for z in self.zeroing if z not in zeroed]
            self.fresh.update((v, root.out_node) for v in views)
        if fresh or slabs:
            run.write_fresh(fresh, slabs)

    def place(self, node, shape: tuple) -> int:
        """Positions for a value a fused run stores: inside the slot of an embedding that reads
        it, if one does (zeros around the value, which nothing else writes: the embedding then
        costs no copy; where the embedding is summed with another of the run's values,
        :meth:`summed_embeddings`), else new ones."""
        planned = self.summed.pop(node, None)
        if planned is not None:
            return planned
        for e in self.readers_of(node):
            k = self.embedded_at(e, shape)
            if k is None:
                continue
            summed = self.summed_embeddings(e, node, k, shape)
            if summed is not None:
                return summed
            off = self.hosted[e.out_node] = self.alloc(math.prod(e.out_shape))
            return off + k
        return self.alloc(math.prod(shape))

    def embedded_at(self, e, shape: tuple) -> int | None:
        """Where entry ``e`` embeds its operand (of ``shape``) into zeros, as one contiguous run
        of its output, or None (not such an embedding, or its slot is taken)."""
        if e.op is not S.embed or e.out_node in self.hosted or self.tape.dtypes.get(e.out_node, self.dtype) != self.dtype:
            return None
        size = math.prod(shape)
        idx = np.ravel(S.embed.impl(np.arange(1, size + 1).reshape(shape), **e.params))
        k = int(np.argmax(idx == 1))
        return k if np.array_equal(idx[k:k + size], np.arange(1, size + 1)) and np.count_nonzero(idx) == size else None

    def summed_embeddings(self, e, node, k: int, shape: tuple) -> int | None:
        """Positions for ``node`` when the embedding ``e`` (at ``k``) is a term of a sum (``add``
        entries read by nothing else) of embeddings into zeros of values of the run, each read
        by nothing but its embedding after the run (the adjoints of ``x[1:]`` and ``x[:-1]``
        summed): every value goes into the sum's slot, the one at the highest offset written,
        the others *added* (:attr:`dualad.kernels.fused.FusedSpec.adds`; :meth:`settle`), so the
        embeddings and the adds cost nothing."""
        if self.outs is None:  # (any value may be read: every one keeps its own)
            return None
        root, terms, inner = self.embedding_sum(e)
        if root is None or len(terms) > SUMMED_MAX:
            return None
        places = []
        for emb in terms:
            value = emb.in_nodes[0]
            at = self.embedded_at(emb, shape) if value in self.run_nodes and tuple(self.made_by[value].out_shape) == shape else None
            readers = self.readers_of(value)
            if at is None or value not in self.alone or any(v == value for v, _ in places) or (
                    self.readers[value] != len(readers) or any(r is not emb and r.out_node not in self.run_nodes for r in readers)):
                return None
            places.append((value, at))
        n = math.prod(root.out_shape)
        out = self.alloc(n)
        for m in inner:
            self.hosted[m] = out
        self.summed.update((value, out + at) for value, at in places if value != node)
        self.groups.append((root, out, n, math.prod(shape), [(v, out + at) for v, at in places]))
        return out + dict(places)[node]

    def embedding_sum(self, e) -> tuple:
        """``(root, terms, nodes)`` of the sum that embedding ``e`` is a term of: its last
        ``add``, the embeddings summed (entries) and every embedding's and add's node; or
        ``(None, None, None)``.  Each add and embedding of it is read only by the add after it."""
        shape = tuple(e.out_shape)

        def single_reader(node):
            readers = self.readers_of(node)
            return readers[0] if len(readers) == 1 and self.readers[node] == 1 else None

        def is_add(entry):
            return (entry is not None and getattr(entry.op, "name", None) == "add" and tuple(entry.out_shape) == shape
                    and entry.out_node not in self.hosted and self.tape.dtypes.get(entry.out_node, self.dtype) == self.dtype)

        root = single_reader(e.out_node)
        if not is_add(root):
            return None, None, None
        while is_add(single_reader(root.out_node)):
            root = single_reader(root.out_node)
        terms, inner, todo = [], [], [root]
        while todo:
            entry = todo.pop()
            inner.append(entry.out_node)
            if entry.op is S.embed:
                terms.append(entry)
                continue
            for m in entry.in_nodes:
                below = self.made_by.get(m) if m is not None else None
                if below is None or single_reader(m) is not entry or not (below.op is S.embed or is_add(below)):
                    return None, None, None
                todo.append(below)
        return root, terms, inner

    def settle(self) -> None:
        """After a run's stores are placed: per sum of embeddings, the store at the highest
        offset is written, the others added, and the sum's slot is zeroed around the written
        one (every value of it is placed as planned: each is stored alone, :meth:`place`)."""
        for root, out, n, size, places in self.groups:
            unplaced = [v for v, _ in places if self.summed.pop(v, None) is not None]
            if unplaced:
                raise NotLowerable(f"values {unplaced} of a sum of embeddings were not stored apart")
            top, written = max(places, key=lambda p: p[1])
            self.adding.update(v for v, _ in places if v != top)
            zeroed = ((out, written), (written + size, out + n))
            self.zeroing += zeroed
            self.settled.append((root, out, n, places, top, zeroed))
        self.groups.clear()

    def readers_of(self, node) -> list:
        """The entries that read ``node``."""
        if self.readers is None:
            self.read_after(node, 0)
        return self.reading.get(node, [])

    def read_after(self, node, uses: int) -> bool:
        """Whether anything but ``uses`` reads of a run read ``node``: later entries, guards or
        the outputs (all nodes, when the outputs are not known)."""
        if self.readers is None:
            for e in self.entries:
                for n in e.in_nodes:
                    if n is not None:
                        self.reading.setdefault(n, []).append(e)
            count = self.readers = Counter({n: len(es) for n, es in self.reading.items()})
            count.update(v for _, refs, _, _ in self.tape.guards or [] for kind, v in refs if kind == "n")
            count.update(v for kind, v in self.outs or [] if kind == "n")
        return self.outs is None or self.readers[node] > uses

    # -- entries ---------------------------------------------------------------------------
    def elementwise(self, entry) -> bool:
        """One VM instruction for an elementwise entry; False (nothing emitted) if the VM does
        not have the rule (declared after it was generated), an operand is held on the host, or
        the entry is large enough for NumPy's loop (:data:`HOST_MIN`)."""
        op, out_shape = entry.op, entry.out_shape
        found = self.subs.get(op)
        n = math.prod(out_shape)
        if found is None or (n >= HOST_MIN and op.array_fn is not None):
            return False
        row = [found[0], found[1], 0, n]
        slots = self.slots
        for node, r in zip(entry.in_nodes, entry.residual):
            if node is None:
                off, shape = self.const(r)
            else:
                off, shape = slots[node]
                if off < 0:
                    return False
            off, scalar = self.spread((off, shape), out_shape)
            row += (off, 0 if scalar else 1)
        row[2] = out = self.size
        self.size = out + n
        slots[entry.out_node] = (out, out_shape)
        self.rows += row
        self.rows += _PAD[len(row)]
        return True

    def move(self, entry, consts) -> None:
        if entry.out_node in self.hosted:  # an embedding whose operand a fused run wrote in place
            self.slots[entry.out_node] = (self.hosted.pop(entry.out_node), tuple(entry.out_shape))
            return
        ins = [self.positions(self.operand(n, c)) for n, c in zip(entry.in_nodes, consts)]
        idx = entry.op.impl(*ins, **entry.params)
        if tuple(np.shape(idx)) != tuple(entry.out_shape):
            return self.host(entry, consts)
        self.slots[entry.out_node] = (self.gather(idx), tuple(entry.out_shape))

    def reduce(self, entry, consts, target) -> None:
        """``sum`` and ``scatter_add``: each input element added at position ``target``."""
        (off, shape), = [self.operand(n, c) for n, c in zip(entry.in_nodes, consts)]
        out_shape = tuple(entry.out_shape)
        nout, nin = math.prod(out_shape), math.prod(shape)
        out = self.alloc(nout)
        self.slots[entry.out_node] = (out, out_shape)
        if nout == 1:
            self.emit([SUM, 0, out, nin, off])
            return
        idx = np.ascontiguousarray(target(np.arange(out, out + nout, dtype=np.int64), shape), dtype=np.int64).reshape(-1)
        self.emit([SCATTER_ADD, 0, out, nout, self.nints, nin, off])
        self.add_ints(idx)

    def einsum(self, entry, consts) -> None:
        slots = [self.operand(n, c) for n, c in zip(entry.in_nodes, consts)]
        layout = _matmul_layout(entry.params["subscripts"], [s for _, s in slots])
        if layout is None:
            return self.host(entry, consts)
        perm_a, perm_b, nbatch, m, k, n, natural, perm_out = layout
        pos_a = np.transpose(self.positions(slots[0]), perm_a)
        pos_b = np.transpose(self.positions(slots[1]), perm_b)
        in_place = _is_run(pos_a) and _is_run(pos_b) and list(perm_out) == sorted(perm_out)
        large = nbatch * m * k * n >= MATMUL_HOST_MIN
        operands = [(n_, o, s) for n_, (o, s) in zip(entry.in_nodes, slots)]
        if not in_place and large:  # BLAS on the operands as they lie, no gathers
            return self.host(entry, consts, lambda off: ProductStep(operands, (entry.out_node, off, entry.out_shape), layout))
        a = self.gather(pos_a)
        b = self.gather(pos_b)
        prod = self.alloc(nbatch * m * n)
        first = len(self.rows) // WIDTH
        for i in range(nbatch):
            self.emit([MATMUL, 0, prod + i * m * n, m, a + i * m * k, k, b + i * k * n, n])
        if large:  # NumPy's matmul instead, if the program has host steps anyway (:meth:`finish`)
            self.products.append((first, first + nbatch, ProductStep(operands, (entry.out_node, prod, natural), layout)))
        idx = np.transpose(self.positions((prod, natural)), perm_out)
        self.slots[entry.out_node] = (self.gather(idx), tuple(entry.out_shape))

    def structural(self, entry, c) -> None:
        op = entry.op
        if op in MOVES:
            self.move(entry, c)
        elif op is S.astype and np.dtype(entry.params["dtype"]) == self.dtype:
            self.slots[entry.out_node] = self.operand(entry.in_nodes[0], c[0])
        elif op is S.sum_ and math.prod(entry.out_shape) == 1 and self.size_of(entry, c) >= HOST_MIN:
            self.host(entry, c)  # NumPy's pairwise sum: faster, and rounds as NumPy does
        elif op is S.sum_ and self.size_of(entry, c) >= HOST_MIN:
            (off, shape), = [self.operand(n, v) for n, v in zip(entry.in_nodes, c)]
            out = self.alloc(math.prod(entry.out_shape))
            self.slots[entry.out_node] = (out, tuple(entry.out_shape))
            self.step(AxisSumStep(off, shape, entry.params["axis"], out, entry.out_shape))
        elif op is S.sum_:
            self.reduce(entry, c, _sum_target(entry))
        elif op is S.scatter_add:
            self.reduce(entry, c, _scatter_target(entry))
        elif op is S.einsum:
            self.einsum(entry, c)
        else:
            self.host(entry, c)

    def finish(self, leaf_nodes, guards) -> Program:
        image = np.zeros(self.size, dtype=self.dtype)
        for off, values in self.chunks:
            image[off:off + values.size] = values
        self.steps.append((self.start, len(self.rows) // WIDTH, None))
        code = np.array(self.rows, dtype=np.int64).reshape(-1, WIDTH)
        ints = np.concatenate(self.ints) if self.ints else np.zeros(0, np.int64)
        leaf_slots = [(n, self.slots[n][0], math.prod(self.slots[n][1])) for n in leaf_nodes]
        steps = [s for s in _products_on_host(self.steps, self.products) if s[1] > s[0] or s[2] is not None]
        copied = [(h.off, math.prod(h.shape)) for _, _, h in steps if isinstance(h, BroadcastStep)]
        direct = self.direct_leaves(leaf_slots, [h for _, _, h in steps if isinstance(h, (FusedRun, ProductStep))], copied)
        return Program(image, code, ints, steps, self.slots, leaf_slots, list(guards), (self.run, self.sweep),
                       dict(self.fresh), direct)

    def direct_leaves(self, leaf_slots: list, runs: list, copied: list = ()) -> frozenset:
        """The large leaves that only fused runs read, as input arrays of the run's size (the
        leaf or a contiguous part of it, such as ``x[1:]``): those runs read them from the
        caller's arrays (:meth:`.fusion.FusedRun.read_leaves`), and they are not copied into
        the buffer.  Outputs, guards on parts of them, and any other reader need the copy, and
        so do the ranges ``(offset, size)`` in ``copied``, read from the buffer by broadcast
        steps that spread an operand of a run (they are not readers on the tape)."""
        if self.outs is None or not runs:
            return frozenset()
        in_run = {node: run for run in runs for node in run.nodes}
        outs = {v for kind, v in self.outs if kind == "n"}
        outs.update(v for _, refs, _, _ in self.tape.guards or [] for kind, v in refs if kind == "n")
        direct, reads = set(), {}
        for node, lo, size in leaf_slots:
            if lo < 0 or size < HOST_MIN or any(o < lo + size and lo < o + n for o, n in copied):
                continue
            parts = {n for n, slot in enumerate(self.slots) if slot is not None and lo <= slot[0] < lo + size}
            if outs & (parts - {node}) or node in {v for kind, v in self.outs if kind == "n"}:
                continue
            for part in parts:
                for e in self.readers_of(part):
                    if e.out_node in parts:
                        continue  # an alias of the leaf: checked as a part
                    run = in_run.get(e.out_node)
                    if run is None or (part != node if type(run) is ProductStep else math.prod(self.slots[part][1]) != run.n):
                        break
                else:
                    continue
                break
            else:
                direct.add(node)
                reads[node] = (lo, size)
        for run in runs:
            if type(run) is ProductStep:
                run.read_leaves(direct)
                continue
            found = [(k, node, int(run.offs[k]) - lo) for k in range(run.spec.inputs)
                     for node, (lo, size) in reads.items() if lo <= run.offs[k] < lo + size]
            if found:
                run.read_leaves(found)
        return frozenset(direct)


def _products_on_host(steps: list, products: list) -> list:
    """``steps`` with the large products the VM would run (``(first row, stop row,
    ProductStep)``) run by their :class:`.numpy_steps.ProductStep` instead, if the program has
    host steps anyway (the lane sweeps, which need every step in the VM, do not apply to it):
    NumPy's matmul writes into the product's slot and reads a large argument where it lies."""
    if not products or all(host is None for _, _, host in steps):
        return steps
    out, todo = [], list(products)
    for start, stop, host in steps:
        while todo and todo[0][0] < stop:
            first, end, step = todo.pop(0)
            out.append((start, first, step))
            start = end
        out.append((start, stop, host))
    return out


def _is_run(idx) -> bool:
    """Whether buffer positions ``idx`` (any shape, C order) are one contiguous run."""
    idx = np.asarray(idx).reshape(-1)
    n = idx.size
    return n <= 1 or (int(idx[-1]) - int(idx[0]) == n - 1 and bool(np.all(np.diff(idx) == 1)))


def _sum_target(entry):
    def target(positions, shape):
        kd = list(shape)
        for a in entry.params["axis"]:
            kd[a] = 1
        return np.broadcast_to(positions.reshape(kd), shape)

    return target


def _scatter_target(entry):
    params = entry.params

    def target(positions, shape):
        lead = tuple(shape[:params["batch"]])
        idx = S.gather.impl(positions.reshape(lead + tuple(params["shape"])), flat=params["flat"], batch=params["batch"])
        if tuple(idx.shape) != tuple(shape):
            raise NotLowerable("scatter_add with a broadcast operand")
        return idx

    return target


def _matmul_layout(subscripts: str, shapes: list):
    """How a two-operand einsum runs as batched matrix products on C-ordered operands, or None:
    ``(perm_a, perm_b, batch count, m, k, n, natural shape, perm to the output)``, the
    operands permuted to (batch, free, contracted) and (batch, contracted, free)."""
    ins, out = subscripts.split("->")
    ops = ins.split(",")
    if len(ops) != 2 or any(len(set(s)) != len(s) for s in (*ops, out)):
        return None
    a, b = ops
    dims: dict = {}
    for sub, shape in zip(ops, shapes):
        if len(sub) != len(shape):
            return None
        for ch, d in zip(sub, shape):
            if dims.setdefault(ch, d) != d:
                return None
    batch = [c for c in out if c in a and c in b]
    con = [c for c in a if c in b and c not in out]
    fa = [c for c in out if c in a and c not in b]
    fb = [c for c in out if c in b and c not in a]
    if set(a) != set(batch + con + fa) or set(b) != set(batch + con + fb):
        return None
    size = lambda idx: math.prod(dims[c] for c in idx)
    natural = batch + fa + fb
    return (tuple(a.index(c) for c in batch + fa + con), tuple(b.index(c) for c in batch + con + fb),
            size(batch), size(fa), size(con), size(fb), tuple(dims[c] for c in natural),
            tuple(natural.index(c) for c in out))


def _program_dtype(in_sig) -> np.dtype:
    """The buffer's dtype: float32 if every input is float32, else float64."""
    if in_sig and all(np.dtype(d) == np.float32 for _, d in in_sig):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def lower(tape, leaf_nodes: list, in_sig: list, outs: list | None = None) -> Program:
    """Lower a recorded tape (with ``guards`` and ``consts``, as :func:`dualad.record` makes
    them) whose leaves are ``leaf_nodes`` with ``(shape, dtype)`` ``in_sig`` to a
    :class:`Program`.  Entries the VM cannot run become host steps, so every recording lowers.
    ``outs`` (``("n", node)`` or ``("c", constant)``, as :meth:`Program.run` takes them) says
    which nodes the caller reads: a fused run (:mod:`.fusion`) then keeps the values nothing
    after it reads in registers; without it, every value is stored.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.transforms.program import lower
    >>> rec = ad.record(lambda x: np.sum(x @ np.ones((3, 2))), np.zeros(3))
    >>> prog = lower(rec.tape, rec.leaf_nodes, rec.in_sig)
    >>> float(prog.run([np.array([1.0, 2.0, 3.0])], rec.outs)[0])
    12.0
    """
    low = _Lowering(tape, _program_dtype(in_sig), outs)
    for n, (shape, dt) in zip(leaf_nodes, in_sig):
        low.slots[n] = (low.alloc(math.prod(shape)) if dt == low.dtype else -1, tuple(shape))
    enabled = gc.isenabled()
    gc.disable()  # (a pass that allocates per entry over a list of many: no cyclic GC meanwhile)
    try:
        _lower_entries(low, tape)
    finally:
        if enabled:
            gc.enable()
    return low.finish(leaf_nodes, tape.guards or [])


def live_entries(tape, outs: list | None) -> list:
    """The entries of ``tape`` that the outputs ``outs`` or the guards depend on, in order (all
    of them without ``outs``).  The others compute what nothing reads: a recorded transform's
    by-products, such as the gradient inside a recorded Hessian-vector product.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> rec = ad.record(lambda x: ad.hvp(lambda y: np.sum(y**3), x, np.ones(3)), np.ones(3))
    >>> len(live_entries(rec.tape, rec.outs)) < len(rec.tape.entries)
    True
    """
    if outs is None:
        return list(tape.entries)
    live = {v for kind, v in outs if kind == "n"}
    live.update(v for _, refs, _, _ in tape.guards or [] for kind, v in refs if kind == "n")
    kept = []
    for e in reversed(tape.entries):
        if e.out_node in live:
            kept.append(e)
            live.update(n for n in e.in_nodes if n is not None)
    kept.reverse()
    return kept


def _lower_entries(low: _Lowering, tape) -> None:
    consts = tape.consts or {}
    for item in schedule(low.entries, low.fits):
        if type(item) is list:
            low.fused(item, consts)
        else:
            _lower_entry(low, item, consts)


def _lower_entry(low: _Lowering, entry, consts: dict) -> None:
    op, dtype, slots = entry.op, low.dtype, low.slots
    dt = low.tape.dtypes.get(entry.out_node, dtype)
    if isinstance(op, ElementwiseRule) and entry.out_node in low.hosted:  # summed embeddings a fused run added in place
        slots[entry.out_node] = (low.hosted.pop(entry.out_node), tuple(entry.out_shape))
        return None
    if isinstance(op, ElementwiseRule):
        try:
            if (dt is dtype or dt == dtype) and low.elementwise(entry):
                return
        except NotLowerable:  # a constant the buffer cannot hold
            pass
        return low.host(entry, entry.residual)
    c = consts.get(entry.out_node, [None] * len(entry.in_nodes))
    if dt != dtype or any(slots[n][0] < 0 if n is not None else isinstance(v, Active) for n, v in zip(entry.in_nodes, c)):
        return low.host(entry, c)
    try:
        low.structural(entry, c)
    except NotLowerable:
        low.host(entry, c)
