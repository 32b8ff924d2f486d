"""Record once, replay at new inputs: the Wengert list as a reusable program (CppAD's ADFun).

``dualad.record(f, *example_args)`` runs ``f`` once on a tape that also keeps the constant
operands and every *guard* — each comparison, argsort or other plain result computed from an
active value, which may have steered Python's control flow.  Calling the recording replays the
list at new inputs without running ``f``'s Python: values, gradients, Jacobians, Hessians.  A
replay first re-evaluates the guards; if one gives a different result (a branch would go the
other way), or shapes, dtypes or non-differentiated arguments changed, ``f`` is recorded anew.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ..core import device
from ..core.dispatch import Active, apply_elementwise, same_result, strip
from ..reverse.tape import Tape, new_entry, operands
from ..reverse.variable import Variable
from ..rules.base import ElementwiseRule
from .common import check_callable, check_output, flatten_output, is_single
from .engine import LaneEngine
from .guards import constants_hold, free_constants, snapshot
from .lanes import ReverseRecording, pull_nodes, rows_to_jacobian
from .program import SWEEP_ROWS_MAX, SWEEP_SIZE_MAX, Program, lower
from .pytree import as_input, tree_flatten, tree_map, tree_unflatten
from .sweeps import LANES_MAX, HessianPlan, hessian_lanes, lanes_apply, second_order, value_and_jacfwd

__all__ = ["record", "Recording"]


class Recording:
    """A function recorded as a Wengert list, replayable at new inputs.

    Made by :func:`record`.  Call it for the value: the list, lowered once to an operation
    sequence (:meth:`program`), runs in compiled code; ``grad`` and ``value_and_grad`` run that
    program forward and its adjoint sweep backward in compiled code too (where no value is held
    on the host, e.g. a complex one: then they replay).  ``jacobian`` and ``hessian`` replay the
    list at the given inputs.  ``records`` counts how
    often ``f`` had to be run (1 + re-recordings after a guard changed).

    Attributes
    ----------
    tape : Tape
        The current recording (``print(rec.tape)`` lists it).
    records : int
        How many times ``f`` was traced.
    leaf_nodes, in_sig, in_def, nums, rest, outs, out_def
        The recording's layout, read by compiled recordings (:mod:`dualad.transforms.compiled`):
        the leaves' tape nodes, their (shape, dtype), their treedef, the differentiated
        argument numbers, a snapshot of the other arguments, the outputs (``("n", node)`` or
        ``("c", constant)``) and their treedef.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> rec = ad.record(lambda x: np.sum(np.sin(x) * x), np.zeros(2))
    >>> rec.value_and_grad(np.array([0.0, np.pi]))[1]
    array([ 0.        , -3.14159265])
    >>> rec.records
    1
    """

    def __init__(self, f: Callable, args: tuple, argnums: Sequence[int] | None):
        self.f = f
        self.argnums = argnums
        self.records = 0
        self._lowered = None
        self._small = (None, False)  # (tape, whether its values all have < SWEEP_SIZE_MAX elements)
        self._plan = (None, None)  # (tape, the HessianPlan of its compiled Hessian, None if none applies)
        self._trace(args)

    # -- recording ----------------------------------------------------------------------------
    def split_args(self, args):
        """(argument numbers, differentiated leaves, their treedef, the other arguments)."""
        nums = range(len(args)) if self.argnums is None else self.argnums
        nums = tuple(int(i) % len(args) for i in nums)
        leaves, treedef = tree_flatten([args[i] for i in nums])
        leaves = [as_input(x, "argument") for x in leaves]
        if any(device.is_device(strip(x)) for x in leaves + tree_flatten(list(args))[0]):
            raise NotImplementedError(
                "dualad.record replays on host (NumPy) arrays only; on device arrays call the transforms "
                "directly (ad.grad, ad.jacobian, ...), or record with host copies (x.get())"
            )
        rest = [a for i, a in enumerate(args) if i not in nums]
        return nums, leaves, treedef, rest

    def _trace(self, args):
        nums, leaves, treedef, rest = self.split_args(args)
        tape = Tape()
        tape.guards, tape.consts = [], {}
        vars_ = [Variable.leaf(x, tape) for x in leaves]
        new = list(args)
        for i, t in zip(nums, tree_unflatten(treedef, vars_)):
            new[i] = t
        out = self.f(*new)
        o_leaves, self.out_def = flatten_output(out, "record")
        self.outs = [
            ("n", o.node) if isinstance(o, Variable) and o.tape is tape else ("c", o) for o in o_leaves
        ]
        self.tape = tape
        self.leaf_nodes = [v.node for v in vars_]
        self.in_sig = [(tuple(x.shape), np.dtype(x.dtype)) for x in leaves]
        self.in_def = treedef
        self.nums = nums
        # A snapshot, not the caller's arrays: an argument changed in place since must not pass
        # for the recorded one (Python code may have read constants out of it).
        self.rest = tree_map(snapshot, rest)
        self.free_constants = free_constants(self.f)
        self.records += 1
        return leaves

    def compatible(self, nums, leaves, treedef, rest) -> bool:
        """Whether this recording applies to arguments split as by :meth:`split_args`."""
        if nums != self.nums or treedef != self.in_def or len(rest) != len(self.rest):
            return False
        if self.free_constants and not constants_hold(self.free_constants):
            return False
        if [(tuple(x.shape), np.dtype(x.dtype)) for x in leaves] != self.in_sig:
            return False
        return all(same_result(a, b) for a, b in zip(rest, self.rest))

    # -- replay -------------------------------------------------------------------------------
    def _replay(self, args, leaf_values=None):
        """Values of every node at ``args`` (leaves replaced by ``leaf_values`` if given) and a
        tape with fresh residuals; re-records (and replays that) if anything changed."""
        nums, leaves, treedef, rest = self.split_args(args)
        if not self.compatible(nums, leaves, treedef, rest):
            self._trace(args)
        result = self._forward(leaf_values if leaf_values is not None else leaves)
        if result is None:  # a guard changed: the recorded branch no longer applies
            self._trace(args)
            result = self._forward(leaf_values if leaf_values is not None else leaves)
        return result, leaves

    def _forward(self, leaf_values):
        old = self.tape
        values = dict(zip(self.leaf_nodes, leaf_values))
        tape = Tape()
        entries = []
        for op, in_nodes, residual, params, node, shape in old.entries:  # TapeEntry's fields
            if isinstance(op, ElementwiseRule):
                vals = [values[n] if n is not None else r for n, r in zip(in_nodes, residual)]
                ufunc = op.ufunc
                for v in vals:  # (a loop, not any(...): no generator per op in scalar code)
                    if isinstance(v, Active):
                        ufunc = None
                        break
                y = apply_elementwise(op, vals) if ufunc is None else ufunc(*vals)
                res = operands(op, vals, y)
            else:
                consts = old.consts[node]
                vals = [values[n] if n is not None else c for n, c in zip(in_nodes, consts)]
                y, res = op.forward(vals, params)
            values[node] = y
            entries.append(new_entry((op, in_nodes, res, params, node, shape)))
        for fn, refs, kw, result in old.guards:
            now = fn(*[strip(values[v]) if kind == "n" else v for kind, v in refs], **kw)
            if not same_result(now, result):
                return None
        tape.adopt(entries, old.nodes)
        return tape, values

    def _outputs(self, values):
        return [values[v] if kind == "n" else v for kind, v in self.outs]

    def program(self) -> Program:
        """The current recording lowered to an operation sequence (:mod:`.program`), made once
        per recording (and again after ``f`` is recorded anew).  Entries the VM does not run are
        host steps of the program.

        Examples
        --------
        >>> import numpy as np
        >>> import dualad as ad
        >>> rec = ad.record(lambda x: np.sum(np.sin(x) * x), np.zeros(3))
        >>> prog = rec.program()
        >>> len(prog.code), prog is rec.program()
        (3, True)
        """
        if self._lowered is None or self._lowered[0] is not self.tape:
            self._lowered = (self.tape, lower(self.tape, self.leaf_nodes, self.in_sig, self.outs))
        return self._lowered[1]

    def __call__(self, *args):
        """The value of ``f`` at ``args``: the lowered program run by the VM (a replay in Python
        when an argument is itself being differentiated)."""
        nums, leaves, treedef, rest = self.split_args(args)
        if not self.compatible(nums, leaves, treedef, rest):
            self._trace(args)
        if any(isinstance(x, Active) for x in leaves):  # differentiated from outside: replay
            (tape, values), _ = self._replay(args)  # on the active values, which carry the derivative
            return tree_unflatten(self.out_def, self._outputs(values))
        outs = self.program().run(leaves, self.outs)
        if outs is None:  # a guard changed: the recorded branch no longer applies
            self._trace(args)
            outs = self.program().run(leaves, self.outs)
        if outs is None:
            raise RuntimeError(
                "dualad.record: a comparison in f gave another result when f was replayed at the inputs it was "
                "just recorded at: f's control flow depends on something other than its arguments (random "
                "numbers, time, state it changes); pass such values as arguments, or call f directly")
        return tree_unflatten(self.out_def, [strip(o) if isinstance(o, Active) else o for o in outs])

    def _pull(self, tape, leaves, cts, k):
        outs = [v if kind == "n" else None for kind, v in self.outs]
        return pull_nodes(tape, outs, cts, self.leaf_nodes, leaves, k)

    def _check_outputs(self, name: str) -> None:
        """Raise if an output cannot carry a derivative (a bool or integer constant output)."""
        for i, (kind, v) in enumerate(self.outs):
            if kind == "c":
                check_output(v, name, i, len(self.outs))

    def _compiled_value_and_grad(self, args):
        """``(value, gradients)`` by the program's forward run and adjoint sweep, or None where
        that does not apply (active arguments, host-held values, values of SWEEP_SIZE_MAX
        elements or more, not one scalar node out)."""

        def sweep(prog, leaves):
            if len(self.outs) != 1 or self.outs[0][0] != "n" or prog.slots[self.outs[0][1]][1] != ():
                return False
            return prog.value_and_grad(leaves, self.outs[0][1])

        return self._compiled(args, sweep)

    def _compiled_jacobian(self, args):
        """``(outputs, Jacobian matrix)`` by one compiled adjoint sweep per output element, or
        None where that does not apply (as :meth:`_compiled_value_and_grad`, or too many rows)."""

        def sweep(prog, leaves):
            rows = sum(math.prod(prog.slots[v][1]) if kind == "n" else int(np.size(v)) for kind, v in self.outs)
            return prog.value_and_jacobian(leaves, self.outs) if rows <= SWEEP_ROWS_MAX else False

        return self._compiled(args, sweep)

    def small(self) -> bool:
        """Whether every value of the current recording has fewer than ``SWEEP_SIZE_MAX``
        elements (compiled sweeps apply), from its shapes alone; cached per recording."""
        tape, small = self._small
        if tape is not self.tape:
            sizes = [math.prod(shape) for shape, _ in self.in_sig] + [math.prod(e.out_shape) for e in self.tape.entries]
            small = max(sizes + [0]) < SWEEP_SIZE_MAX
            self._small = (self.tape, small)
        return small

    def _compiled(self, args, sweep, bounded: bool = True):
        """``sweep(program, leaves)`` at ``args`` if the program applies (recording anew after
        a guard changed; False from ``sweep``: it does not apply), else None.  ``bounded``:
        only for programs whose values all have fewer than ``SWEEP_SIZE_MAX`` elements (the
        adjoint sweep's bound; the lane sweeps apply to any program without host steps)."""
        if bounded and not self.small():  # (checked first: the replay that follows splits the arguments again)
            return None
        nums, leaves, treedef, rest = self.split_args(args)
        if any(isinstance(x, Active) for x in leaves):
            return None
        if not self.compatible(nums, leaves, treedef, rest):
            self._trace(args)
        for _attempt in range(2):
            prog = self.program()
            if not prog.differentiable or (bounded and prog.largest >= SWEEP_SIZE_MAX):
                return None
            result = sweep(prog, leaves)
            if result is False:
                return None
            if result is not None:
                return result
            self._trace(args)  # a guard changed
        return None

    def value_and_grad(self, *args):
        """``(f(args), ∇f(args))``: the program's forward run and adjoint sweep in compiled code
        (or a replay and one backward sweep); ``f`` must be scalar."""
        compiled = self._compiled_value_and_grad(args)
        if compiled is not None:
            value, grads = compiled
            return value, self.shape_grads(tree_unflatten(self.in_def, grads))
        (tape, values), leaves = self._replay(args)
        self._check_outputs("Recording.grad")
        (out,) = self._outputs(values) if len(self.outs) == 1 else (None,)
        if out is None or tuple(np.shape(out) if not isinstance(out, Active) else out.shape) != ():
            raise ValueError("Recording.grad needs a function with one scalar output; use jacobian() otherwise")
        if np.dtype(out.dtype).kind == "c":
            raise TypeError("Recording.grad needs a real-valued output (as dualad.grad without holomorphic=True)")
        dt = out.dtype if np.dtype(out.dtype).kind == "f" else np.float64
        res = self._pull(tape, leaves, [np.ones((1,), dtype=dt)], 1)
        grads = tree_unflatten(self.in_def, [r[0] for r in res])
        return out, self.shape_grads(grads)

    def grad(self, *args):
        """The gradient at ``args`` by replay (mirrors the differentiated arguments)."""
        return self.value_and_grad(*args)[1]

    def shape_grads(self, grads):
        return grads[0] if len(self.nums) == 1 else tuple(grads)

    def jacobian(self, *args, mode: str = "reverse"):
        """The Jacobian at ``args``: ``S_out + S_in`` per output/input leaf, by replay.

        ``mode="reverse"``: for up to ``SWEEP_ROWS_MAX`` output elements, the program's forward
        run and one compiled adjoint sweep per row; else a replay and one sweep with all output
        rows as lanes;
        ``mode="forward"`` replays once with all input directions as tangent lanes.  Both run
        on the lane engine (:class:`dualad.transforms.engine.LaneEngine`), as ``jacobian`` does.
        """
        if mode not in ("forward", "reverse"):
            raise ValueError(f"Recording.jacobian: mode must be 'forward' or 'reverse', got {mode!r}")
        nums, leaves, treedef, rest = self.split_args(args)
        if mode == "forward":
            compiled = self._compiled(args, lambda prog, lv: lanes_apply(prog) and value_and_jacfwd(prog, lv, self.outs), False)
            self._check_outputs("Recording.jacobian")
            if compiled is not None:
                values, full = compiled
                return rows_to_jacobian(full, self.out_def, [np.shape(v) for v in values], leaves, treedef, len(self.nums) == 1)
            engine = self._engine(args, nums, leaves, treedef, self._lane_outputs, "Recording.jacobian")
            n = engine.n
            full = engine.run_forward(None, n, max(n, 1)) if n else np.transpose(engine.forward(None, 0, 0))
            o_def, shapes = engine.out_info
            return rows_to_jacobian(full, o_def, shapes, leaves, treedef, len(self.nums) == 1)
        compiled = self._compiled_jacobian(args)
        self._check_outputs("Recording.jacobian")  # (of the recording that applies to args)
        if compiled is not None:
            values, full = compiled
            return rows_to_jacobian(full, self.out_def, [np.shape(v) for v in values], leaves, treedef, len(self.nums) == 1)
        (tape, values), leaves = self._replay(args)
        self._check_outputs("Recording.jacobian")
        outs = [v if kind == "n" else None for kind, v in self.outs]
        rec = ReverseRecording.of(tape, self._outputs(values), self.out_def, self.leaf_nodes, leaves, treedef,
                                  outs, name="Recording.jacobian")
        m = sum(rec.sizes)
        full = LaneEngine(self, args, nums, rec=rec, name="Recording.jacobian").run_reverse(None, m, max(m, 1))
        return rows_to_jacobian(full, rec.o_def, rec.shapes, leaves, treedef, len(self.nums) == 1)

    def hessian(self, *args):
        """The Hessian at ``args``: forward-over-reverse lanes through the program in compiled
        code where it applies (:mod:`.sweeps`: no host steps; star-coloured lanes when the
        Hessian is sparse enough, its pattern traced once per recording), else a replay with
        one sweep carrying n lanes."""
        nums, leaves, treedef, rest = self.split_args(args)
        compiled = self._compiled(args, lambda prog, lv: self._hessian_sweep(prog, lv, args), False)
        if compiled is not None:
            o_def = tree_flatten(self.shape_grads(tree_unflatten(self.in_def, leaves)))[1]
            return rows_to_jacobian(compiled, o_def, [tuple(x.shape) for x in leaves], leaves, treedef, len(self.nums) == 1)
        engine = self._engine(args, nums, leaves, treedef, self._lane_gradient, "Recording.hessian")
        n = engine.n
        full = engine.run_forward(None, n, max(n, 1))
        o_def, shapes = engine.out_info if engine.out_info else (None, [])
        return rows_to_jacobian(full, o_def, shapes, leaves, treedef, len(self.nums) == 1)

    def _hessian_sweep(self, prog, leaves, args):
        """The dense Hessian matrix by :func:`.sweeps.hessian_lanes` with this recording's
        plan (made once per recording); False where that does not apply, None if a guard
        changed."""
        if len(self.outs) != 1 or self.outs[0][0] != "n" or prog.slots[self.outs[0][1]][1] != ():
            return False
        if self._plan[0] is not self.tape:  # (None: the lane sweeps do not apply)
            n = sum(size for _, _, size in prog.leaf_slots)
            applies = lanes_apply(prog) and second_order(prog)
            self._plan = (self.tape, HessianPlan.make(self.f, tuple(args), self.nums, n) if applies else None)
        plan = self._plan[1]
        if plan is None or plan.seeds.shape[1] > LANES_MAX:
            return False
        result = hessian_lanes(prog, leaves, self.outs[0][1], plan.seeds)
        return None if result is None else plan.hessian(result[2])

    def _engine(self, args, nums, leaves, treedef, lane_fn, name: str) -> LaneEngine:
        """A lane engine whose passes replay this recording at ``args`` with seeded leaves."""
        def target(*lane_leaves):
            return lane_fn(args, list(lane_leaves), name)

        return LaneEngine(target, args, nums, name=name, prepared=(leaves, treedef, list))

    def _lane_outputs(self, args, lane_leaves, name):
        (tape, values), _ = self._replay(args, lane_leaves)
        self._check_outputs(name)
        return tree_unflatten(self.out_def, self._outputs(values))

    def _lane_gradient(self, args, lane_leaves, name):
        (tape, values), _ = self._replay(args, lane_leaves)
        self._check_outputs(name)
        outs = self._outputs(values)
        if len(outs) != 1 or tuple(np.shape(outs[0]) if not isinstance(outs[0], Active) else outs[0].shape) != ():
            raise ValueError(f"{name} needs a function with one scalar output; use jacobian() otherwise")
        dt = np.result_type(*[d for _, d in self.in_sig])
        res = self._pull(tape, lane_leaves, [np.ones((1,), dtype=dt)], 1)
        return self.shape_grads(tree_unflatten(self.in_def, [r[0] for r in res]))


def _compile(self):
    """This recording's value and gradient in compiled code, by the fastest route that applies.

    Scalar code and elementwise programs on one shape ending in a full ``np.sum`` become one
    Numba function that runs the forward and the reverse sweep per element (a few µs per call
    on scalars); any other recording (matrix products, indexing, reductions along axes, linear
    algebra, ...) runs its lowered program as :meth:`value_and_grad` does, which is what
    :func:`dualad.jit` replays.  The result has ``value_and_grad``, ``grad`` and ``__call__``
    and records again when a guard or an argument's shape changes.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> rec = ad.record(lambda a, b: np.log(a) + a * b - np.sin(b), 2.0, 5.0)
    >>> fast = rec.compile()
    >>> value, (g1, g2) = fast.value_and_grad(2.0, 5.0)
    >>> float(g1), round(float(g2), 4)
    (5.5, 1.7163)
    """
    from .compiled import compile_recording

    return compile_recording(self)


Recording.compile = _compile


def record(f: Callable, *example_args, argnums: int | Sequence[int] | None = None) -> Recording:
    """Record ``f`` once at ``example_args``; replay it at new inputs without re-tracing Python.

    Parameters
    ----------
    f : callable
        A function of NumPy arrays.
    *example_args
        Arguments to record at.  Replays need the same shapes and dtypes (and equal values for
        arguments not in ``argnums``); otherwise ``f`` is recorded again.
    argnums : int or tuple of int, optional
        Which arguments are inputs of the recording (default: all).

    Returns
    -------
    Recording
        Callable for the value, with ``grad``, ``value_and_grad``, ``jacobian``, ``hessian``.
        Comparisons made on active values while recording are guards: if one changes at new
        inputs (a branch would go the other way), ``f`` is recorded anew, automatically; so
        are values taken out with :func:`dualad.primal`.  Numbers and arrays that ``f``'s own
        code reads from its module globals or closure are checked at each replay too (a
        changed one records anew); values that functions called by ``f`` read from elsewhere
        are constants of the recording: pass them as arguments.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> def f(x):
    ...     return np.sum(x**2) if x[0] > 0 else np.sum(x**3)
    >>> rec = ad.record(f, np.array([1.0, 2.0]))
    >>> rec.grad(np.array([3.0, 1.0]))        # replayed: same branch
    array([6., 2.])
    >>> rec.grad(np.array([-1.0, 1.0]))       # the guard x[0] > 0 changed: recorded again
    array([3., 3.])
    >>> rec.records
    2
    """
    check_callable(f, "record")
    if is_single(argnums):
        argnums = (int(argnums),)
    return Recording(f, tuple(example_args), argnums)
