"""Compiled tapes: a recorded Wengert list turned into one Numba function.

For a recording whose entries are all elementwise rules on one common shape (scalars
included), optionally ending in a full ``sum``, the forward sweep and the reverse sweep are
written out as straight-line code inside a single loop over elements: each element's values and
partials live in registers, its adjoints are accumulated right after, and nothing is allocated
per op.  The rules are inlined from the rule table, each restricted to the value and the
partials of its operands that are not constants (:func:`dualad.rules.derive.restricted`); the
generated source holds no derivative formula, only products of partials and adjoints (with
strong zeros).  A recording this loop does not fit compiles to its lowered program instead
(:class:`ProgramRecording`), so ``Recording.compile()`` never refuses.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .. import kernels
from ..core.dispatch import Active, same_result, strip
from ..kernels.cache import load_generated
from ..rules import structural as S
from ..rules.base import ElementwiseRule
from .guards import constants_hold

__all__ = ["compile_recording", "CompiledRecording", "ProgramRecording", "NotCompilable", "COMPILED_PARALLEL_MIN"]

#: Elements from which a compiled tape runs its loop on all cores.
COMPILED_PARALLEL_MIN = 1 << 16


class NotCompilable(NotImplementedError):
    """The recording does not fit the one-loop kernel (:class:`CompiledRecording`); the message
    names what does not fit.  :func:`compile_recording` then runs the recording's program."""


def _plan(rec):
    """Check the recording fits and lay out its program: (lines, leaves, consts, out node)."""
    tape = rec.tape
    shapes = {s for s, _ in rec.in_sig}
    if len(shapes) != 1:
        raise NotCompilable("all differentiated inputs must have one common shape")
    (shape,) = shapes
    if len(rec.outs) != 1 or rec.outs[0][0] != "n":
        raise NotCompilable("the function must have one output that depends on its inputs")
    out_node = rec.outs[0][1]
    entries = list(tape.entries)
    final_sum = False
    if entries and entries[-1].op is S.sum_ and entries[-1].out_node == out_node:
        last = entries[-1]
        if last.out_shape != () or last.params["batch"] != 0 or len(last.params["axis"]) != len(shape):
            raise NotCompilable("only a full sum may end the program")
        final_sum = True
        entries = entries[:-1]
        out_node = last.in_nodes[0]  # each element's output; the sum's adjoint broadcasts the seed
    for entry in entries:
        if not isinstance(entry.op, ElementwiseRule):
            raise NotCompilable(f"compile(): {entry.op.name} is not elementwise: the one-loop kernel takes elementwise programs only")
        if entry.out_shape != shape:
            raise NotCompilable("every intermediate must have the inputs' shape")
        for n, r in zip(entry.in_nodes, entry.residual):
            if n is None and (isinstance(r, Active) or np.size(r) != 1):
                raise NotCompilable("constant operands must be scalars")
    if not final_sum and shape != ():
        raise NotCompilable("a vector output needs a final np.sum to give a scalar")
    for fn, refs, kw, result in tape.guards:
        if any(kind == "n" for kind, _ in refs) and shape != ():
            raise NotCompilable("comparisons on array values (guards) are checked outside the one loop")
    return entries, shape, final_sum, out_node


def _source(entries, leaf_nodes, out_node, final_sum, guard_nodes, parallel) -> tuple[str, list, list]:
    rules, consts, lines = [], [], []
    rule_ix = {}
    var = {n: f"v{n}" for n in leaf_nodes}
    lines += [f"        v{n} = xs[{j}, i]" for j, n in enumerate(leaf_nodes)]
    partials = []  # (node, [(input var or None, partial name)])
    for entry in entries:
        op, in_nodes, residual, node = entry.op, entry.in_nodes, entry.residual, entry.out_node
        # the value and the partials of the operands that are not constants (the rule's copy
        # restricted to those, one per rule and pattern of constants)
        key = (op.name, (0,) + tuple(j + 1 for j, n in enumerate(in_nodes) if n is not None), op.source_hash)
        if key not in rule_ix:
            rule_ix[key] = len(rules)
            rules.append(key)
        args = []
        for n, r in zip(in_nodes, residual):
            if n is None:
                consts.append(float(np.asarray(strip(r))))
                args.append(f"cs[{len(consts) - 1}]")
            else:
                args.append(var[n])
        lines.append(f"        r{node} = _r{rule_ix[key]}({', '.join(args)})")
        lines.append(f"        v{node} = r{node}[0]")
        var[node] = f"v{node}"
        ps = []
        for j, n in enumerate(in_nodes):
            if n is not None:
                lines.append(f"        p{node}_{j} = r{node}[{j + 1}]")
                ps.append((n, f"p{node}_{j}"))
        partials.append((node, ps))
    # reverse sweep for this element
    adj_nodes = list(leaf_nodes) + [node for node, _ in partials]
    lines += [f"        g{n} = 0.0" for n in adj_nodes if n != out_node]
    lines.append(f"        g{out_node} = seed")
    for node, ps in reversed(partials):
        for n, p in ps:
            lines.append(f"        t = g{node} * {p}")
            lines.append(f"        g{n} += 0.0 if (g{node} == 0.0) | ({p} == 0.0) else t")
    lines += [f"        grads[{j}, i] = g{n}" for j, n in enumerate(leaf_nodes)]
    lines += [f"        gv[{j}, i] = v{n}" for j, n in enumerate(guard_nodes)]
    lines.append(f"        total += v{out_node}")
    head = [
        "# Generated by dualad.transforms.compiled from a recorded tape; do not edit.",
        "import numba",
        "import numpy as np",
        "from dualad.rules.base import RULES",
        "from dualad.rules.derive import restricted",
        "",
    ]
    head += [f'_r{i} = numba.njit(restricted(RULES["{name}"].loop_fn, {outputs!r}), inline="always", error_model="numpy")'
             f"  # {digest}" for i, (name, outputs, digest) in enumerate(rules)]
    head += [
        "",
        "",
        f'@numba.njit(cache=True, error_model="numpy", parallel={parallel})',
        "def run(xs, cs, seed, ng):",
        "    n = xs.shape[1]",
        "    grads = np.empty_like(xs)",
        "    gv = np.empty((ng, n), dtype=xs.dtype)",
        "    total = 0.0",
        f"    for i in {'numba.prange' if parallel else 'range'}(n):",
    ]
    return "\n".join(head + lines + ["    return total, grads, gv", ""]), [name for name, _, _ in rules], consts


class CompiledRecording:
    """``value_and_grad`` of a recording as one compiled loop (see :func:`compile_recording`)."""

    def __init__(self, rec):
        entries, shape, final_sum, out_node = _plan(rec)
        self._rec = rec
        self._shape = shape
        self._size = int(np.prod(shape, dtype=np.int64))
        self._tape = rec.tape
        self._free = list(rec.free_constants)
        self._guards = list(rec.tape.guards)
        self._guard_nodes = sorted({v for _, refs, _, _ in self._guards for kind, v in refs if kind == "n"})
        # One parallel region per call (not one per op): measured here, never slower than the
        # serial loop even with the other core busy, and about twice as fast when it is free.
        parallel = self._size >= min(kernels.PARALLEL_MIN, COMPILED_PARALLEL_MIN)
        src, rules, consts = _source(entries, rec.leaf_nodes, out_node, final_sum, self._guard_nodes, parallel)
        digest = hashlib.sha1(src.encode()).hexdigest()[:16]
        self._run = load_generated(f"dualad_tape_{digest}", src).run
        self._consts = np.asarray(consts, dtype=np.float64)
        self._dtype = np.result_type(*[d for _, d in rec.in_sig])
        self._nleaves = len(rec.leaf_nodes)
        self._consts_t = self._consts.astype(self._dtype)
        self._one = self._dtype.type(1.0)
        self._nguards = len(self._guard_nodes)
        # Every argument a leaf of the recorded dtype (no pytrees, no fixed arguments): the
        # fast path of value_and_grad applies.
        from .pytree import tree_flatten

        self._single = len(rec.nums) == 1
        self._flat = (
            not rec.rest
            and rec.nums == tuple(range(self._nleaves))
            and rec.in_def == tree_flatten([0.0] * self._nleaves)[1]
            and all(d == self._dtype for _, d in rec.in_sig)
        )

    def value_and_grad(self, *args):
        """``(f(args), ∇f(args))`` from the compiled sweeps; falls back to the recording (and
        re-records) when shapes, dtypes or a guard change."""
        if self._flat and len(args) == self._nleaves:
            # Arguments that are the recording's leaves as they are (floats, or arrays of the
            # recorded shape and dtype): no pytree or signature work, a few µs per call.
            xs = np.empty((self._nleaves, self._size), dtype=self._dtype)
            for j, a in enumerate(args):
                if type(a) is float and self._size == 1:
                    xs[j, 0] = a
                elif type(a) is np.ndarray and a.shape == self._shape and a.dtype == self._dtype:
                    xs[j] = a.reshape(-1)
                else:
                    break
            else:
                if self._free and not constants_hold(self._free):
                    return self._rec.value_and_grad(*args)
                total, grads, gv = self._run(xs, self._consts_t, self._one, self._nguards)
                if self._guards and not self._guards_hold(list(args), gv):
                    return self._rec.value_and_grad(*args)
                g = [grads[j].reshape(self._shape) for j in range(self._nleaves)]
                return self._dtype.type(total), (g[0] if self._nleaves == 1 and self._single else tuple(g))
        rec = self._rec
        nums, leaves, treedef, rest = rec.split_args(args)
        # The recording may have been recorded again since (other shapes, a changed guard):
        # this program then no longer describes it.
        if rec.tape is not self._tape or not rec.compatible(nums, leaves, treedef, rest):
            return rec.value_and_grad(*args)
        xs = np.empty((self._nleaves, self._size), dtype=self._dtype)
        for j, x in enumerate(leaves):
            xs[j] = np.reshape(x, -1)
        total, grads, gv = self._run(xs, self._consts_t, self._one, self._nguards)
        if self._guards and not self._guards_hold(leaves, gv):
            return rec.value_and_grad(*args)
        g = [grads[j].reshape(self._shape) for j in range(self._nleaves)]
        from .pytree import tree_unflatten

        grads_tree = tree_unflatten(rec.in_def, g)
        value = self._dtype.type(total)
        return value, rec.shape_grads(grads_tree)

    def _guards_hold(self, leaves, gv) -> bool:
        """Whether every comparison recorded as a guard still comes out the same."""
        where = {n: gv[j].reshape(self._shape) for j, n in enumerate(self._guard_nodes)}
        leaf_vals = dict(zip(self._rec.leaf_nodes, leaves))
        for fn, refs, kw, result in self._guards:
            vals = [(leaf_vals[v] if v in leaf_vals else where[v]) if kind == "n" else v for kind, v in refs]
            now = fn(*vals, **kw)
            if not same_result(now, result):
                return False
        return True

    def grad(self, *args):
        return self.value_and_grad(*args)[1]

    def __call__(self, *args):
        return self.value_and_grad(*args)[0]


class ProgramRecording:
    """``value_and_grad`` of a recording that the one-loop kernel does not fit (an op that is not
    elementwise, several shapes, a guard on array values): the recording's lowered program, run
    forward and swept backward in compiled code with host steps between (as
    :meth:`~dualad.Recording.value_and_grad`).  ``why`` says what kept it from the one loop."""

    def __init__(self, rec, why: str):
        self._rec = rec
        self.why = why

    def value_and_grad(self, *args):
        return self._rec.value_and_grad(*args)

    def grad(self, *args):
        return self._rec.grad(*args)

    def __call__(self, *args):
        return self._rec(*args)


def compile_recording(rec) -> CompiledRecording | ProgramRecording:
    """The fastest compiled ``value_and_grad`` of a :class:`~dualad.Recording`.

    Scalar code and elementwise programs on one shape (ending in a full ``np.sum``) become one
    generated loop that runs both sweeps per element (:class:`CompiledRecording`); any other
    recording runs its lowered program, the machinery ``jit`` replays
    (:class:`ProgramRecording`).
    """
    try:
        return CompiledRecording(rec)
    except NotCompilable as why:
        return ProgramRecording(rec, str(why))
