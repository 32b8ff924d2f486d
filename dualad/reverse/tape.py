"""Reverse mode: the Wengert list and its backward sweep.

A :class:`Tape` is an ordered list of assignments ``v_i = op(v_j, v_k, ...)``, each with what
its adjoint needs: the input values for an elementwise rule (the fused adjoint kernel
recomputes the partials from them in the same pass that applies them; the output too where
the partials read it, :class:`Operands`; the partials themselves where they are costly and
were computed with the value, :class:`Kept`), the residuals a structural primitive asked for
(often just shapes).  ``backward`` sweeps the list once, in
reverse order, accumulating adjoints that carry a leading lane axis, so m cotangent rows come
back from one sweep.
"""

from __future__ import annotations

import functools
import math
import threading
import weakref
from typing import Any, NamedTuple

import numpy as np

from ..core import device
from ..core.dispatch import Active, new_tag
from ..kernels import backend
from ..rules.arith import any_complex, is_complex, pull_terms, real_dtype, strong_multiply, to_dtype, unbroadcast
from ..rules.base import ElementwiseRule
from ..rules.derive import partials_at, value_partials

__all__ = ["Tape", "TapeEntry", "new_entry", "default_tape", "recording_enabled", "no_grad", "elementwise_adjoints", "unlock",
           "Operands", "operands", "Kept", "kept"]

_local = threading.local()


class TapeEntry(NamedTuple):
    """One assignment ``v_out = op(v_in...)`` of the Wengert list.

    Attributes
    ----------
    op : ElementwiseRule or Primitive
        What was applied.
    in_nodes : list
        Per operand, its node on this tape, or None for a constant.
    residual : object
        What the adjoint needs: an elementwise rule's operand values, a primitive's residual.
    params : dict or None
        A primitive's parameters (None for elementwise rules).
    out_node : int
        The node assigned.
    out_shape : tuple
        Its shape.
    """

    op: Any
    in_nodes: list
    residual: Any
    params: dict | None
    out_node: int
    out_shape: tuple


class Operands(list):
    """An elementwise entry's residual when its rule's partials read its value
    (:func:`dualad.rules.derive.with_value`): the operand values, as a list, and the output
    ``value``, which the sweep hands to the rule instead of computing it again.

    Examples
    --------
    >>> res = Operands([1.0]); res.value = 2.0
    >>> list(res), res.value
    ([1.0], 2.0)
    """

    __slots__ = ("value",)


def operands(rule: ElementwiseRule, vals: list, y):
    """The residual an elementwise entry keeps: the operand values ``vals``, with the output
    ``y`` where the rule's partials read it (an :class:`Operands`; arrays and values active at
    an older level, not plain scalars)."""
    if isinstance(y, np.generic):  # a plain scalar: keeping it costs about what computing it again does
        return vals
    reader = rule.__dict__.get("_value_partials", False)  # (value_partials' cache: one lookup per op)
    if reader is None or (reader is False and value_partials(rule) is None):
        return vals
    res = Operands(vals)
    res.value = y
    return res


class Kept(Operands):
    """An elementwise entry's residual when its partials were computed with its value while
    recording (:func:`dualad.kernels.backend.keep_partials`): the operand values, as a list, and
    ``partials``, per input its partial (None for a constant).  The sweep multiplies them with
    the cotangent; values active at an outer level (a cotangent of a higher-order sweep) take
    the rule's partials from the operands as usual.

    Examples
    --------
    >>> res = kept([0.5], [2.0])
    >>> list(res), res.partials
    ([0.5], [2.0])
    """

    __slots__ = ("partials",)


def kept(vals: list, partials: list) -> Kept:
    """The residual of an entry whose ``partials`` were kept (see :class:`Kept`)."""
    res = Kept(vals)
    res.partials = partials
    return res


#: ``new_entry((op, in_nodes, residual, params, out_node, out_shape))``: a TapeEntry from a
#: tuple without the Python-level ``__new__`` that NamedTuple generates (entries are made once
#: per recorded op, and a Python call per op shows in scalar code).
new_entry = functools.partial(tuple.__new__, TapeEntry)


def unlock(arrays: list) -> None:
    """Make arrays that :meth:`Tape.lock` made read-only writeable again."""
    for a in arrays:
        try:
            a.flags.writeable = True
        except ValueError:
            pass


class Tape:
    """The Wengert list of one reverse-mode level.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> tape = ad.Tape()
    >>> x = tape.variable(np.array([0.5, 2.0]))
    >>> y = np.sum(np.sin(x) * x)
    >>> print(tape)
    v0 = input                 (2,)
    v1 = sin(v0)               (2,)
    v2 = multiply(v1, v0)      (2,)
    v3 = sum(v2)               ()
    >>> y.backward()
    >>> x.grad
    array([0.91821682, 0.07700375])
    """

    __slots__ = ("tag", "entries", "leaves", "dtypes", "_next", "generation", "_locked", "_finalizer", "guards", "consts",
                 "by_hand", "__weakref__")

    def __init__(self, tag: int | None = None):
        self.tag = new_tag() if tag is None else tag
        self.entries: list[TapeEntry] = []
        self.leaves: list[tuple] = []  # (node, shape, weakref to the leaf Variable)
        # Each node's dtype: adjoints take their node's dtype (a float32 input mixed with a
        # float64 constant gets a float32 gradient, as its value is float32).
        self.dtypes: dict = {}
        self._next = 0
        self.generation = 0
        self._locked: list = []
        self._finalizer = None  # made on the first lock: most tapes never lock anything
        # Set by dualad.record on tapes meant for replay: branch guards, constant operands.
        self.guards: list | None = None
        self.consts: dict | None = None
        # Whether this is a thread's tape for hand-made Variables (default_tape): only such a
        # tape can pause under no_grad(); a transform's own tape always records.
        self.by_hand = False

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def nodes(self) -> int:
        """How many nodes this tape has numbered (leaves and entries): the next node's number."""
        return self._next

    def adopt(self, entries: list, nodes: int) -> None:
        """Take ``entries`` (TapeEntry values whose nodes are numbered below ``nodes``) as this
        tape's list: a replay's fresh residuals for a recorded program."""
        self.entries = entries
        self._next = nodes

    def new_node(self) -> int:
        n = self._next
        self._next = n + 1
        return n

    #: The leaf value type, ``Variable``: set by :mod:`dualad.reverse.variable`, which builds
    #: on this module (so this one need not import it back).
    leaf_type: Any = None

    def variable(self, value):
        """A new leaf Variable on this tape (its ``.grad`` is filled by ``backward``)."""
        return self.leaf_type.leaf(value, self)

    def lock(self, a) -> None:
        """Make a plain array the tape saved read-only while the tape lives, so that writing
        into it raises instead of silently changing a gradient.  (Device arrays have no
        read-only flag: they are not locked.)"""
        if not isinstance(a, np.ndarray):
            return
        base = a
        while isinstance(base.base, np.ndarray):
            base = base.base
        if base.flags.writeable:
            base.flags.writeable = False
            self._locked.append(base)
            if self._finalizer is None:
                self._finalizer = weakref.finalize(self, unlock, self._locked)

    def record(self, op, in_nodes, residual, params, value) -> int:
        """Append ``v_new = op(inputs)``; returns the new node.  Subclasses (e.g. a tracing
        tape) may keep ``value``; this one keeps only its shape."""
        node = self._next
        self._next = node + 1
        self.entries.append(new_entry((op, in_nodes, residual, params, node, tuple(value.shape))))
        self.dtypes[node] = value.dtype
        return node

    def clear(self) -> None:
        """Drop every entry (leaves stay usable); values computed before become stale."""
        self.entries = []
        self.dtypes = {n: self.dtypes[n] for n, _, ref in self.leaves if ref() is not None and n in self.dtypes}
        self.leaves = [leaf for leaf in self.leaves if leaf[2]() is not None]
        self.generation += 1
        self.release()

    def release(self) -> None:
        """Hand back the arrays this tape made read-only (once nothing will sweep it again)."""
        unlock(self._locked)
        self._locked.clear()

    # -- the backward sweep -----------------------------------------------------------------
    def backward(self, seeds: dict, wanted=None, keep: dict | None = None) -> dict:
        """Sweep the list once in reverse from ``seeds`` {node: cotangent with lane axis}.

        Returns the adjoints of the ``wanted`` nodes (all nodes reached if None).  If ``keep``
        is a dict, every intermediate node's complete adjoint is also stored in it (for traces).
        """
        adj = dict(seeds)
        dtypes = self.dtypes
        owned: dict = {}  # adjoint buffers this sweep allocated: safe to accumulate into
        top = max(seeds) if seeds else -1
        # One float64 lane: scalar entries' adjoints may travel as Python floats (no array per
        # contribution); they become (1,)-arrays again wherever an array is needed.
        one_lane = True
        for s in seeds.values():  # (a loop, not all(...): no generator per sweep in scalar code)
            if not (type(s) is np.ndarray and s.shape[0] == 1 and s.dtype == np.float64):
                one_lane = False
                break
        scalar = one_lane and keep is None  # scalar entries may take scalar_adjoints
        # The sweep runs only dualad's own arithmetic: 0·inf and 1/0 in partials are expected
        # (strong zeros resolve them), so floating-point warnings are silenced once, here.
        with np.errstate(all="ignore"):
            for op, in_nodes, residual, params, out_node, out_shape in reversed(self.entries):
                if out_node > top:
                    continue
                g = adj.pop(out_node, None)
                if g is None:
                    continue
                if scalar and out_shape == () and type(op) is ElementwiseRule:
                    cs = scalar_adjoints(op, residual, g, in_nodes)
                    if cs is not None:
                        for n, c in zip(in_nodes, cs):
                            if c is not None:
                                prev = adj.get(n)
                                adj[n] = c if prev is None else prev + c
                        continue
                if type(g) is float:
                    g = np.array([g])
                owned.pop(id(g), None)
                if keep is not None:
                    keep[out_node] = g
                needed = [n is not None for n in in_nodes]
                new = False  # whether contributions that own their data are new arrays of this entry
                if isinstance(op, ElementwiseRule):
                    new = True
                    into = None
                    if owned and math.prod(out_shape) >= backend.SMALL:
                        into = [_owned_array(owned, adj.get(n)) if n is not None else None for n in in_nodes]
                    contribs = elementwise_adjoints(op, residual, g, needed, out_shape, into)
                elif op.accumulate is not None and _accumulate(op, residual, g, params, in_nodes, adj, owned, dtypes):
                    continue
                else:
                    into = None
                    contribs = op.backward(residual, g, params, needed)
                for n, c in zip(in_nodes, contribs):
                    if n is None or c is None:
                        continue
                    dt = dtypes.get(n)
                    if dt is not None and c.dtype is not dt and c.dtype != dt:  # (identity first: cheap)
                        c = to_dtype(c, dt)
                    prev = adj.get(n)
                    if prev is None:
                        adj[n] = c
                        if new and c is not g and type(c) is np.ndarray and c.flags.owndata and id(c) not in owned:
                            owned[id(c)] = c  # a new array of an elementwise adjoint: later contributions add into it
                    elif prev is c and into is not None and any(c is b for b in into):
                        continue  # the kernel added into this buffer already
                    elif type(c) is np.ndarray and type(prev) is np.ndarray and id(prev) in owned and c.shape == prev.shape:
                        np.add(prev, c, out=prev)
                    else:
                        s = prev + c
                        adj[n] = s
                        if type(s) is np.ndarray:
                            owned[id(s)] = s
        if one_lane:
            for n, a in adj.items():
                if type(a) is float:
                    adj[n] = np.array([a])
        if wanted is None:
            return adj
        return {n: adj[n] for n in wanted if n in adj}

    def __repr__(self) -> str:
        lines = []
        for node, shape, _ in self.leaves:
            lines.append((node, f"v{node} = input", shape))
        for op, in_nodes, residual, params, out_node, out_shape in self.entries:
            args = []
            for i, n in enumerate(in_nodes):
                if n is not None:
                    args.append(f"v{n}")
                elif isinstance(op, ElementwiseRule):
                    args.append(_const(residual[i]))
                else:
                    args.append("const")
            name = op.name if params is None else op.label(params)
            lines.append((out_node, f"v{out_node} = {name}({', '.join(args)})", out_shape))
        lines.sort(key=lambda t: t[0])
        width = max([len(s) for _, s, _ in lines] + [24])
        return "\n".join(f"{s:<{width + 2}} {tuple(shape)}" for _, s, shape in lines)

    __str__ = __repr__


def _accumulate(op, shapes, g, params, in_nodes, adj: dict, owned: dict, dtypes: dict) -> bool:
    """Pull ``g`` through an indexing op by adding it into its input's adjoint in place (a
    buffer this sweep owns, made once per node) instead of building a zero array of the
    input's size per entry: reading n elements one by one then costs O(n), not O(n²).
    Host cotangents of the input's dtype only; False (nothing done) otherwise."""
    if len(in_nodes) != 1 or in_nodes[0] is None:
        return False
    n = in_nodes[0]
    if type(g) is not np.ndarray:
        dt = dtypes.get(n)
        return (dt is None or g.dtype == dt) and _accumulate_active(op, shapes, g, params, n, adj, owned)
    batch = params["batch"] + 1
    dt = dtypes.get(n, g.dtype)
    shape = g.shape[:batch] + tuple(shapes[0])
    if g.dtype != dt:
        return False
    buf = adj.get(n)
    if buf is None:
        # The first contribution: the transpose writes ``g`` into fresh zeros, one reading
        # pass fewer than adding it into them; later ones add into that buffer in place.
        (buf,) = op.backward(shapes, g, params, [True])
        adj[n] = buf
        if type(buf) is np.ndarray and buf.flags.c_contiguous and buf.flags.writeable:
            owned[id(buf)] = buf
        return True
    if type(buf) is not np.ndarray:  # an active adjoint (a Dual's buffer): added as usual
        return False
    if id(buf) not in owned or not buf.flags.c_contiguous:  # gather adds through a flat view
        if buf.shape != shape:
            return False
        buf = np.array(buf, dtype=dt, order="C")
        adj[n] = owned[id(buf)] = buf
    op.accumulate(buf, g, shapes=shapes, **{**params, "batch": batch})
    return True


def _owned_array(owned: dict, a):
    """``a`` if it is a plain adjoint buffer this sweep owns (a kernel may add into it), else None."""
    b = owned.get(id(a))
    return b if type(b) is np.ndarray else None


def _accumulate_active(op, shapes, g, params, n: int, adj: dict, owned: dict) -> bool:
    """:func:`_accumulate` for an active cotangent (a Dual under forward-over-reverse): its
    ``pull_into`` adds its parts into a buffer of this sweep in place (the first contribution
    makes that buffer by the transpose).  False where the value offers no such path."""
    pull_into = getattr(g, "pull_into", None)
    if pull_into is None:
        return False
    buf = adj.get(n)
    if buf is None:
        buf = pull_into(None, op, shapes, params)
        if buf is None:
            return False
        adj[n] = owned[id(buf)] = buf
        return True
    return id(buf) in owned and pull_into(buf, op, shapes, params) is not None


def _const(x) -> str:
    if isinstance(x, Active):
        return "outer"
    if device.is_device(x):
        return f"const{tuple(x.shape)}"
    a = np.asarray(x)
    return f"{a.item():.4g}" if a.size == 1 else f"const{a.shape}"


_SCALARS = frozenset({float, np.float64, int})  # (bool is not among them, as before)


def scalar_adjoints(rule: ElementwiseRule, values: list, g, in_nodes: list) -> list | None:
    """Adjoint contributions of a scalar float64 entry as Python floats (None where an input
    is a constant), or None when the entry is not that simple (arrays, other dtypes, nested
    values): the general path then handles it.  Strong zeros as everywhere else."""
    if type(g) is np.ndarray:
        if g.dtype != np.float64:
            return None
        gv = float(g[0])
    else:
        gv = g
    for v in values:
        if type(v) not in _SCALARS:
            if type(v) is not np.ndarray or v.ndim or v.dtype != np.float64:
                return None
    consts = rule.__dict__.get("_constant_partials")  # (constant_partials' cache: one lookup per entry)
    if consts is None:
        consts = rule.constant_partials
    if None not in consts:
        ps = consts  # declared number literals (add, subtract, negative): no call of the partials
    elif type(values) is Operands:
        ps = partials_at(rule, values, values.value)
    else:
        only = rule.__dict__.get("_partials_only")  # (partials_at's cache without a value)
        ps = only(*values)[1:] if only is not None else partials_at(rule, values)
    out = []
    for n, p in zip(in_nodes, ps):
        if n is None:
            out.append(None)
            continue
        if type(p) not in _SCALARS:
            if type(p) is not np.ndarray or p.ndim or p.dtype != np.float64:
                return None
        p = float(p)  # (exact: a float64 or an int partial; compared and multiplied as a float)
        out.append(0.0 if gv == 0.0 or p == 0.0 else gv * p)
    return out


def elementwise_adjoints(rule: ElementwiseRule, values: list, g, needed: list, out_shape, into: list) -> list:
    """x̄_i contributions ``ȳ·∂_i`` for each needed input, unbroadcast to its shape.

    ``into[i]``, when given, is an adjoint buffer of this sweep that the kernel may add into.
    Plain values go to the backend selector (:mod:`dualad.kernels.backend`); values active at
    an older level (nesting) are differentiated by their own level.
    """
    out_shape = tuple(out_shape)
    m = g.shape[0]
    y = values.value if type(values) is Operands else None  # the output, where the partials read it (Operands)
    if rule.wirtinger is not None and any_complex(values):
        # Not holomorphic, complex inputs: ȳ ∂ + conj(ȳ ∂̄) (host arrays: the backend's choice;
        # nested values: NumPy dispatch at their level).
        if type(g) is np.ndarray and not any(isinstance(v, Active) for v in values):
            contribs = backend.pull_wirtinger(rule, values, g, needed, into)
        else:
            contribs = pull_terms(rule, values, g, needed)
        return _shape_contributions(values, contribs, g, m, out_shape)
    consts = rule.constant_partials
    if None not in consts:
        # Declared constant partials (add, subtract, negative, ...): scale, or pass ȳ through.
        contribs = [None if not need or c == 0.0 else (g if c == 1.0 else c * g) for c, need in zip(consts, needed)]
        return _shape_contributions(values, contribs, g, m, out_shape)
    if type(g) is np.ndarray:
        if type(values) is Kept:
            return _shape_contributions(values, backend.pull_kept(values.partials, g, needed, into), g, m, out_shape)
        for v in values:  # (a loop, not any(...): no generator per entry in scalar code)
            if isinstance(v, Active):
                contribs = _nested_adjoints(rule, values, g, needed, y)
                break
        else:
            if out_shape == () and m == 1:
                return backend.pull_scalar(rule, values, g, needed, y)
            contribs = backend.pull(rule, values, g, needed, into, y=y)
    elif isinstance(g, Active) or any(isinstance(v, Active) for v in values):
        contribs = _nested_adjoints(rule, values, g, needed, y)
    else:
        like = device.locate([g, *values], rule.name)
        if like is None:
            contribs = _nested_adjoints(rule, values, g, needed, y)
        else:
            contribs = backend.pull(rule, values, g, needed, None, device.namespace(like), y)
    return _shape_contributions(values, contribs, g, m, out_shape)


def _nested_adjoints(rule: ElementwiseRule, values: list, g, needed: list, y=None) -> list:
    """Contributions when the values or the cotangent are active (forward over reverse, or
    deeper): the values' own fused kernel if they offer one, else the rule's partials
    evaluated on them (dispatched to their level; read from the output ``y`` where the rule's
    partials read it), multiplied with strong zeros."""
    owner = next((v for v in (g, *values) if hasattr(v, "fused_adjoints")), None)
    contribs = None if owner is None else owner.fused_adjoints(rule, values, g, needed)
    if contribs is not None:
        return contribs
    ps = partials_at(rule, values, y)
    return [None if not need or (type(p) is float and p == 0.0) else strong_multiply(p, g) for p, need in zip(ps, needed)]


def _shape_contributions(values, contribs, g, m, out_shape) -> list:
    """Each contribution in ``g``'s precision (complex for a complex input, else real),
    unbroadcast to its input's shape."""
    out = []
    for v, c in zip(values, contribs):
        if c is None:
            out.append(None)
            continue
        shape = tuple(v.shape) if hasattr(v, "shape") else ()
        dt = g.dtype
        if dt.kind == "c" or c.dtype.kind == "c":
            dt = np.result_type(real_dtype(dt), np.complex64) if is_complex(v) else real_dtype(dt)
        if c.dtype != dt:  # a float64 partial (e.g. ``(x > 0) * 1.0``) must not widen
            c = to_dtype(c, dt)
        if tuple(c.shape[1:]) != out_shape:
            c = np.broadcast_to(c, (m,) + out_shape)
        out.append(c if shape == out_shape else unbroadcast(c, shape, 1))
    return out


def default_tape() -> Tape:
    """This thread's tape for Variables made by hand (``Variable(x)``, PyTorch style)."""
    tape = getattr(_local, "tape", None)
    if tape is None:
        tape = _local.tape = Tape()
        tape.by_hand = True
    return tape


def current_default_tape() -> Tape | None:
    return getattr(_local, "tape", None)


def recording_enabled() -> bool:
    return getattr(_local, "no_grad", 0) == 0


class no_grad:
    """Context manager: operations on hand-made Variables are not recorded inside it.

    Values computed inside are plain arrays (constants).  Transforms such as ``grad`` keep
    working inside it: they own their tapes.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> w = ad.Variable(np.array([1.0, 2.0]))
    >>> with ad.no_grad():
    ...     y = w * 2.0
    >>> type(y).__name__
    'ndarray'
    """

    def __enter__(self):
        _local.no_grad = getattr(_local, "no_grad", 0) + 1
        return self

    def __exit__(self, *exc):
        _local.no_grad -= 1
        return False
