"""Reverse mode: the Variable value type, recorded on a Tape.

Operations on Variables compute their value at once (through NumPy, or the older level when
nested) and append one entry to the Wengert list.  ``y.backward()`` sweeps it and leaves the
gradient in each leaf's ``.grad``, PyTorch style; the transforms (``grad``, ``vjp``,
``jacrev``) use the same machinery on a tape of their own.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..core import device
from ..core.array import ArrayBehaviour, not_a_sequence
from ..core.dispatch import Active, apply_elementwise, escape, float_array, strip
from ..kernels import backend
from ..rules.derive import costly_partials
from .tape import Tape, current_default_tape, default_tape, kept, operands, recording_enabled

__all__ = ["Variable"]


def _as_value(x) -> np.ndarray:
    """A leaf's value: a float array of its own (copied, so later writes to ``x`` do not
    change the recorded computation)."""
    if isinstance(x, Active):
        return x
    a = float_array(x, "a Variable's value")
    if a is x or a.base is not None or not a.flags.owndata:
        return np.array(a, copy=True) if type(a) is np.ndarray else a.copy()
    return a


@not_a_sequence
class Variable(ArrayBehaviour):
    """A value recorded on a tape: reverse mode, PyTorch style.

    Parameters
    ----------
    value : array_like
        The leaf's value (copied; integers become float64).

    Attributes
    ----------
    value : ndarray
        The value.
    grad : ndarray or None
        For a leaf, the gradient accumulated by ``backward()`` (None before).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> x1, x2 = ad.Variable(2.0), ad.Variable(5.0)
    >>> y = np.log(x1) + x1 * x2 - np.sin(x2)
    >>> y.backward()
    >>> float(x1.grad), round(float(x2.grad), 3)
    (5.5, 1.716)
    """

    __slots__ = ("_tape", "_node", "_gen", "_is_leaf", "grad", "shape", "dtype")  # and Active's _p, _tag, __weakref__
    _kind = "Variable"

    def __init__(self, value):
        v = _as_value(value)
        tape = default_tape()
        self._init(v, tape, tape.new_node(), True)
        self._gen = -1  # its array is not locked yet: the first recorded use locks it
        tape.leaves.append((self._node, self.shape, weakref.ref(self)))

    @staticmethod
    def leaf(value, tape: Tape) -> Variable:
        """A leaf on ``tape`` for a transform's input: not copied, but made read-only while the
        tape lives, so that writing into it raises instead of changing a gradient."""
        v = object.__new__(Variable)
        if not isinstance(value, Active):
            value = float_array(value, "an input")
            if value.ndim:
                tape.lock(value)
        v._init(value, tape, tape.new_node(), True)
        tape.leaves.append((v._node, v.shape, weakref.ref(v)))
        return v

    def _init(self, value, tape, node, is_leaf):
        tape.dtypes[node] = value.dtype
        self._p, self._tape, self._node, self._tag = value, tape, node, tape.tag
        self._gen, self._is_leaf, self.grad = tape.generation, is_leaf, None
        self.shape, self.dtype = tuple(value.shape), value.dtype

    @staticmethod
    def make(value, tape: Tape, node: int) -> Variable:
        """The Variable of ``node`` on ``tape``, holding ``value`` (not a leaf): what a recorded
        op returns (package-internal)."""
        v = object.__new__(Variable)
        v._p, v._tape, v._node, v._tag = value, tape, node, tape.tag
        v._gen, v._is_leaf, v.grad = tape.generation, False, None
        v.shape, v.dtype = tuple(value.shape), value.dtype
        return v

    @property
    def value(self):
        """The value (an array, or an active value of an outer level when nested).

        A leaf made by hand (``Variable(x)``) returns its own array, so that parameters can be
        updated in place after ``backward()`` (while a graph still uses it, it is read-only).
        Any other value comes back read-only, and inside :func:`dualad.record` it is a guard,
        as with :func:`dualad.primal`.
        """
        p = self._p
        if isinstance(p, Active):
            return p
        if self._is_leaf and self._tape.guards is None:
            return p
        return escape(self)

    @property
    def node(self) -> int:
        """This value's node on its tape (``v<node>`` in the listing)."""
        return self._node

    @property
    def is_leaf(self) -> bool:
        return self._is_leaf

    @property
    def tape(self) -> Tape:
        """The tape this Variable is recorded on."""
        return self._tape

    def __repr__(self) -> str:
        return f"Variable({self._p!r}, v{self._node})"

    def _copy(self) -> Variable:
        return Variable.make(self._p, self._tape, self._node)

    def _assign(self, new) -> None:
        if self._is_leaf:
            raise RuntimeError(
                "item assignment into a leaf Variable would lose its gradient; assign into a copy "
                "instead: y = x.copy(); y[i] = ..."
            )
        if not isinstance(new, Variable) or new._tape is not self._tape:
            raise TypeError("cannot assign a value of another transform into this Variable in place")
        self._p, self._node, self._gen = new._p, new._node, new._gen
        self.shape, self.dtype = new.shape, new.dtype

    def _guard_ref(self):
        guards = self._tape.guards
        return None if guards is None else (guards, self._node)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``.grad = None``)."""
        self.grad = None

    # -- recording ----------------------------------------------------------------------------
    def _split(self, args):
        """(values, nodes, nested, host): the operands' values, their nodes on this tape (None
        for constants), whether any value is active at an older level, and whether every value
        is of a host type (:data:`dualad.core.device.HOST_TYPES`: no device array among them)."""
        tag, tape = self._tag, self._tape
        vals, nodes = [], []
        nested = False
        host = True
        host_types = device.HOST_TYPES
        for a in args:
            if type(a) is Variable and a._tag == tag:
                if a._is_leaf:
                    if a._gen != tape.generation and self._recording():
                        # A hand-made leaf's array (a parameter updated in place between steps)
                        # is read-only while this graph uses it: a write would change the
                        # gradient.  Locked once per graph (clear() unlocks and moves on the
                        # generation); a transform's leaves were locked when made.
                        tape.lock(a._p)
                        a._gen = tape.generation
                elif a._gen != tape.generation:
                    raise RuntimeError(
                        "this value's graph was freed by an earlier backward(); recompute it, or "
                        "call backward(retain_graph=True) to keep the graph"
                    )
                p = a._p
                if type(p) not in host_types:
                    host = False
                    nested = nested or isinstance(p, Active)
                vals.append(p)
                nodes.append(a._node)
            else:
                if type(a) is np.ndarray:
                    tape.lock(a)
                elif type(a) not in host_types:
                    host = False
                    nested = nested or isinstance(a, Active)
                vals.append(a)
                nodes.append(None)
        return vals, nodes, nested, host

    def _recording(self) -> bool:
        # no_grad() pauses the hand-made (PyTorch-style) tape only; transforms own theirs (a
        # tape not made by default_tape is no thread's default tape: no lookups for it).
        tape = self._tape
        return not tape.by_hand or recording_enabled() or tape is not current_default_tape()

    def _elementwise(self, rule, args):
        vals, nodes, nested, host = self._split(args)
        tape = self._tape
        recording = not tape.by_hand or self._recording()
        # Costly partials of plain host arrays: computed with the value in one kernel pass and
        # kept for the sweep (see dualad.rules.derive.costly_partials).
        costly = rule.__dict__.get("_costly_partials")  # (costly_partials' cache: one lookup per op)
        if costly is None:
            costly = costly_partials(rule)
        if costly and recording and not nested:
            small = backend.SMALL
            for v in vals:  # (keep_partials needs a host array of SMALL elements: no call for scalars)
                if type(v) is np.ndarray and v.size >= small:
                    both = backend.keep_partials(rule, vals, nodes)
                    if both is not None:
                        y, partials = both
                        return Variable.make(y, tape, tape.record(rule, nodes, kept(vals, partials), None, y))
                    break
        # Plain values of a NumPy ufunc: call it directly, exactly as the primal code would
        # (device values: the rule's CUDA kernel, through apply_elementwise).
        if rule.ufunc is not None and (host or (not nested and device.locate(vals, rule.name) is None)):
            y = rule.ufunc(*vals)
        else:
            y = apply_elementwise(rule, vals)
        if not isinstance(y, (np.ndarray, np.generic, Active)):
            y = device.asarray(y)
        if not recording:
            return y
        # (a NumPy scalar keeps its operands alone: see operands)
        node = tape.record(rule, nodes, vals if isinstance(y, np.generic) else operands(rule, vals, y), None, y)
        return Variable.make(y, tape, node)

    def _process(self, prim, args, params):
        vals, nodes, nested, host = self._split(args)
        if not (nested or host):  # (host values only: no device array to mix with)
            device.locate(vals, prim.name)
        y, residual = prim.forward(vals, params)
        if not isinstance(y, (np.ndarray, np.generic, Active)):
            y = device.asarray(y)
        tape = self._tape
        if tape.by_hand and not self._recording():
            return y
        node = tape.record(prim, nodes, residual, params, y)
        if tape.consts is not None:  # a tape for replay keeps the constant operands
            tape.consts[node] = [v if n is None else None for v, n in zip(vals, nodes)]
        return Variable.make(y, tape, node)

    # -- backward ---------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` by one backward sweep.

        Parameters
        ----------
        gradient : array_like, optional
            The cotangent to pull back; required unless ``self`` has a single element.
        retain_graph : bool
            Keep the tape for another backward (by default it is freed, so training loops
            do not grow memory).
        """
        tape = self._tape
        if self._gen != tape.generation and not self._is_leaf:
            raise RuntimeError(
                "backward() through a graph that was already freed: call the first "
                "backward(retain_graph=True) to sweep the same graph twice"
            )
        if gradient is None:
            if np.dtype(self.dtype).kind == "c":
                raise TypeError(
                    "backward() of a complex output needs gradient= (its cotangent); for a real loss "
                    "reduce it to a real value first, e.g. np.abs(z) ** 2 or np.real(z)"
                )
            if self.size != 1:
                raise ValueError(
                    f"backward() without a gradient needs a single-element output, got shape {self.shape}; "
                    "pass gradient= of that shape, or reduce the output (e.g. .sum())"
                )
            ct = device.ones((1,) + self.shape, self.dtype, strip(self._p))
        else:
            g = gradient if isinstance(gradient, Active) else device.asarray(gradient, dtype=self.dtype)
            device.locate([strip(self._p), strip(g)], "backward(gradient)")
            if tuple(g.shape) != self.shape:
                raise ValueError(f"backward(gradient): shape {tuple(g.shape)} does not match the output's {self.shape}")
            ct = g[None]
        adj = tape.backward({self._node: ct}, wanted={n for n, _, _ in tape.leaves})
        used = None
        for node, _, ref in tape.leaves:
            leaf = ref()
            if leaf is None:
                continue
            if node in adj:
                g = adj[node][0]
            else:
                # A leaf the graph used but whose every partial was zero (floor, sign) gets a
                # zero gradient, as in PyTorch; a leaf the graph never touched keeps None.
                if used is None:
                    used = {n for entry in tape.entries for n in entry.in_nodes if n is not None}
                if node not in used:
                    continue
                g = device.zeros(leaf.shape, leaf.dtype, strip(leaf._p))
            leaf.grad = g if leaf.grad is None else leaf.grad + g
        if not retain_graph:
            tape.clear()


Tape.leaf_type = Variable
