"""Sparsity patterns of Jacobians and Hessians, traced without forming them (colourings are in
:mod:`.colouring`, the sparse Hessian driver in :mod:`.nested`).

**Detecting a pattern without forming the Jacobian.**  ``f`` runs once on *dependency
tracers*: a tracer carries its primal value (so Python control flow runs as usual) and, for every
element, the set of input indices it depends on, stored as the rows of a boolean
``scipy.sparse`` CSR matrix (one row per element, one column per input).  The tracer is one more
active value type of :mod:`dualad.core.dispatch`, so NumPy calls reach it through the same rule
table and structural primitives as forward and reverse mode:

* an elementwise rule ORs the (broadcast) rows of its inputs, except for an input whose partial
  is written as the literal ``0.0`` in the rule (``floor``, ``sign``, ...): that input
  contributes nothing.  No partial is evaluated numerically, so no value-dependent zero (relu'
  on a negative input, a tie of ``maximum``) drops a dependency: the pattern holds for every x;
* data-movement primitives (reshape, transpose, indexing, gather, concatenate, where, set-item,
  flip, roll, broadcast) are applied to arrays of element *ids*, which says exactly which input
  element every output element copies; sums, cumulative sums and scatter-adds become boolean
  sparse products;
* ``einsum`` (matmul, dot, tensordot, ...) is a boolean product: an output element depends on an
  operand element when some term of the sum pairs them and every *constant* factor of that term
  is nonzero.  Booleans never cancel, so ``[1, -1] @ [x, x]`` still depends on x;
* reductions with a partial (max, prod, det, logabsdet) and ``solve`` depend on their whole
  reduced group; a primitive without a pattern rule depends on everything (with a warning).

The result is a superset of the Jacobian's nonzeros at every point where the same Python branches
are taken.  Comparisons and other value-dependent NumPy calls on a tracer are recorded; a pattern
traced through one is marked ``value_dependent`` and is not reused for other inputs.

**Hessian patterns.**  For a scalar f, ``∇²f = Σ_v v̄ · Σ_{a,b} ∂²φ_v/∂u_a∂u_b ∇u_a ∇u_bᵀ`` over the
elementary operations ``v = φ_v(u_1, ...)``.  So the Hessian pattern is contained in the union,
over operations, of ``rows(u_a)ᵀ rows(u_b)`` for every pair of arguments with a nonzero second
partial.  Which pairs those are is read off the rule table itself: each rule's partials are traced
with scalar tracers (``multiply``: ∂/∂x = y depends on y, so the pair (x, y); ``sin``: ∂ = cos x
depends on x, so (x, x); ``add``: literal partials, no pair).  Einsum contributes the pairs of its
active operands, ``prod``/``det``/``solve`` all pairs of their group, ``max``/``min`` none.

**Colouring.**  Columns that share no row are structurally orthogonal and can share one forward
lane (a greedy distance-2 colouring of the column intersection graph, largest-first ordering);
rows likewise share a reverse lane.  A symmetric Hessian is coloured with a *star colouring*
(distance-1 proper, every path on four vertices uses at least three colours, Gebremedhin, Manne
and Pothen 2005), which allows direct recovery from ``H S`` and needs far fewer colours than a
column colouring for arrowhead-like patterns (2 instead of n).

Examples
--------
>>> import numpy as np
>>> from dualad.transforms.sparsity import jacobian_sparsity, color_columns
>>> f = lambda x: x[1:] * x[:-1]
>>> P = jacobian_sparsity(f, np.ones(5))
>>> P.toarray().astype(int)
array([[1, 1, 0, 0, 0],
       [0, 1, 1, 0, 0],
       [0, 0, 1, 1, 0],
       [0, 0, 0, 1, 1]])
>>> colors, k = color_columns(P)
>>> k
2
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..core.array import ArrayBehaviour, not_a_sequence
from ..core.dispatch import Active, apply_elementwise, new_tag, strip
from ..rules import structural as S
from ..rules.base import ElementwiseRule
from .colouring import Decompressor, color_columns, color_rows, scipy_sparse, star_color
from .common import check_callable, norm_argnums, prepare_args, size_of
from .pytree import tree_flatten

__all__ = [
    "jacobian_sparsity",
    "hessian_sparsity",
    "color_columns",
    "color_rows",
    "star_color",
    "SparsityTrace",
    "Decompressor",
]

# Einsum structures (and dense fallbacks) larger than this many index combinations are not
# enumerated: the dependency is then taken as dense (a superset), with a warning.
_ENUM_LIMIT = 1 << 26

# NumPy calls that look at shapes/dtypes only: seen on a tracer, they do not make the pattern
# depend on values.
_SHAPE_ONLY = {np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.result_type, np.iscomplexobj, np.isrealobj}


def _sparse():
    return scipy_sparse()


def _shape(x) -> tuple:
    return tuple(x.shape) if isinstance(x, (np.ndarray, Active)) else tuple(np.shape(x))


def _empty(rows: int, n: int):
    sp = _sparse()
    return sp.csr_matrix((np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int32), np.zeros(rows + 1, dtype=np.int32)), shape=(rows, n))


def _csr(rows, cols, shape):
    """Boolean CSR with True at (rows, cols); duplicates OR together."""
    sp = _sparse()
    m = sp.coo_matrix((np.ones(len(rows), dtype=bool), (np.asarray(rows), np.asarray(cols))), shape=shape).tocsr()
    m.sum_duplicates()
    return m


def _identity_rows(offset: int, size: int, n: int):
    sp = _sparse()
    return sp.csr_matrix(
        (np.ones(size, dtype=bool), np.arange(offset, offset + size, dtype=np.int64), np.arange(size + 1, dtype=np.int64)),
        shape=(size, n),
    )


def _bcast_rows(P, in_shape: tuple, out_shape: tuple):
    """Rows of ``P`` (one per element of ``in_shape``) for each element of ``out_shape``."""
    if in_shape == out_shape:
        return P
    idx = np.broadcast_to(np.arange(size_of(in_shape)).reshape(in_shape), out_shape).ravel()
    return P[idx]


def _or(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


# --------------------------------------------------------------------------------------------
# What the rule table says about dependencies

_PROBES = (0.3, -0.7, 1.9)
_FIRST: dict[str, tuple[bool, ...]] = {}
_SECOND: dict[str, tuple[tuple[int, int], ...]] = {}


def _first_order(rule: ElementwiseRule) -> tuple[bool, ...]:
    """Per input: does the value depend on it?  False only for partials written as ``0.0``."""
    nz = _FIRST.get(rule.name)
    if nz is None:
        dep = [False] * rule.nin
        for v in _PROBES:
            outs = rule.evaluate(*([np.float64(v)] * rule.nin))
            for i, p in enumerate(outs[1:]):
                if not (type(p) is float and p == 0.0):
                    dep[i] = True
        nz = _FIRST[rule.name] = tuple(dep)
    return nz


def _second_order(rule: ElementwiseRule) -> tuple[tuple[int, int], ...]:
    """Pairs (a, b), a <= b, of inputs with a possibly nonzero second partial: traced from the
    rule's own partials with scalar dependency tracers."""
    pairs = _SECOND.get(rule.name)
    if pairs is None:
        found: set = set()
        nin = rule.nin
        for v in _PROBES:
            ctx = _Ctx(nin, hessian=False)
            tag = new_tag()
            xs = [_Tracer._new(np.float64(v), _identity_rows(b, 1, nin), tag, ctx) for b in range(nin)]
            with np.errstate(all="ignore"):
                outs = rule.fn(*xs)
            for a, p in enumerate(outs[1:]):
                if isinstance(p, _Tracer) and p._tag == tag:
                    deps = p._P.indices
                elif isinstance(p, Active):  # cannot tell: assume every input
                    deps = range(nin)
                else:
                    deps = ()
                for b in deps:
                    found.add((min(a, int(b)), max(a, int(b))))
        pairs = _SECOND[rule.name] = tuple(sorted(found))
    return pairs


# --------------------------------------------------------------------------------------------
# The dependency tracer


class _Ctx:
    """State shared by the tracers of one detection run."""

    __slots__ = ("n", "hess", "guards", "lossy")

    def __init__(self, n: int, hessian: bool):
        self.n = n
        self.hess: list | None = [] if hessian else None
        self.guards: list = []
        self.lossy: list = []


@not_a_sequence
class _Tracer(ArrayBehaviour):
    """A primal value with one row of input dependencies per element (boolean CSR)."""

    __slots__ = ("_p", "_P", "_tag", "_ctx", "shape", "dtype")
    _kind = "sparsity tracer"

    @staticmethod
    def _new(p, P, tag: int, ctx: _Ctx) -> _Tracer:
        t = object.__new__(_Tracer)
        t._p, t._P, t._tag, t._ctx = p, P, tag, ctx
        t.shape, t.dtype = _shape(p), p.dtype if hasattr(p, "dtype") else np.asarray(p).dtype
        return t

    def __repr__(self) -> str:
        return f"<sparsity tracer shape={self.shape} nnz={self._P.nnz}>"

    def _guard_ref(self):
        # observe() (comparisons, argsort, ...) appends here: the pattern then depends on values.
        return (self._ctx.guards, None)

    def _copy(self) -> _Tracer:
        return _Tracer._new(self._p, self._P, self._tag, self._ctx)

    def _assign(self, new) -> None:
        if not isinstance(new, _Tracer) or new._tag != self._tag:
            raise TypeError("cannot assign a value of another transform into a sparsity tracer in place")
        self._p, self._P = new._p, new._P
        self.shape, self.dtype = new.shape, new.dtype

    def _split(self, args):
        ps, Ps = [], []
        for a in args:
            if type(a) is _Tracer and a._tag == self._tag:
                ps.append(a._p)
                Ps.append(a._P)
            else:
                ps.append(a)
                Ps.append(None)
        return ps, Ps

    def _wrap(self, y, P):
        if P is None:
            return y
        if not isinstance(y, (np.ndarray, Active)):
            y = np.asarray(y)
        return _Tracer._new(y, P, self._tag, self._ctx)

    def _elementwise(self, rule, args):
        ps, Ps = self._split(args)
        y = apply_elementwise(rule, ps)
        out_shape = _shape(y)
        dep = _first_order(rule)
        rows: list = [None] * len(ps)

        def row(i):
            if rows[i] is None:
                rows[i] = _bcast_rows(Ps[i], _shape(ps[i]), out_shape)
            return rows[i]

        acc = None
        for i, P in enumerate(Ps):
            if P is not None and dep[i]:
                acc = _or(acc, row(i))
        ctx = self._ctx
        if ctx.hess is not None:
            for a, b in _second_order(rule):
                if Ps[a] is not None and Ps[b] is not None:
                    ctx.hess.append(row(a).T @ row(b))
        return self._wrap(y, acc)

    def _process(self, prim, args, params):
        ps, Ps = self._split(args)
        y = prim.bind(*ps, **params)
        shapes = [_shape(p) for p in ps]
        out_shape = _shape(y)
        ctx = self._ctx
        try:
            if isinstance(prim, S.LinearOp):
                P = _linear_pattern(prim, ps, Ps, shapes, out_shape, params, ctx.n)
            elif isinstance(prim, S.EinsumOp):
                P = _einsum_pattern(ps, Ps, shapes, out_shape, params["subscripts"], ctx)
            elif isinstance(prim, S.ReduceOp):
                P = _group_pattern(Ps[0], shapes[0], params["axis"], ctx.n)
                if ctx.hess is not None and prim.name not in ("max", "min"):
                    ctx.hess.append(P.T @ P)
            elif isinstance(prim, S.SolveOp):
                P = _solve_pattern(Ps, shapes, ctx.n)
                if ctx.hess is not None:
                    ctx.hess.append(P.T @ P)
            else:
                raise _Dense(prim.name)
        except _Dense as e:
            ctx.lossy.append(str(e))
            P = _all_to_all(Ps, size_of(out_shape), ctx.n)
            if ctx.hess is not None and not isinstance(prim, S.LinearOp):
                ctx.hess.append(P.T @ P)
        return self._wrap(y, P)


class _Dense(Exception):
    """A dependency structure too large (or unknown) to enumerate: assume dense."""


def _all_to_all(Ps, rows: int, n: int):
    cols = None
    for P in Ps:
        if P is not None:
            c = np.unique(P.indices)
            cols = c if cols is None else np.union1d(cols, c)
    sp = _sparse()
    cols = cols.astype(np.int64)
    return sp.csr_matrix(
        (np.ones(rows * len(cols), dtype=bool), np.tile(cols, rows), np.arange(rows + 1, dtype=np.int64) * len(cols)),
        shape=(rows, n),
    )


# LinearOps whose every output element is a copy of at most one input element (or a constant).
_SELECT = {"reshape", "transpose", "getitem", "gather", "flip", "roll", "broadcast_to", "embed", "concatenate", "stack", "where",
           "setitem", "setitem_flat"}


def _linear_pattern(prim, ps, Ps, shapes, out_shape, params, n):
    name = prim.name
    size_out = size_of(out_shape)
    if name == "astype":
        return Ps[0]
    if name in _SELECT:
        # Apply the op to element ids: id k+1 is row k of the stacked patterns, 0 is "constant".
        ids, stack, offset = [], [], 0
        for P, shp in zip(Ps, shapes):
            size = size_of(shp)
            if P is None:
                ids.append(np.zeros(shp, dtype=np.int64))
            else:
                ids.append(np.arange(offset + 1, offset + size + 1, dtype=np.int64).reshape(shp))
                stack.append(P)
                offset += size
        out_ids = np.asarray(prim.impl(*ids, **params)).ravel()
        if out_ids.size != size_out:
            raise _Dense(name)
        sp = _sparse()
        big = sp.vstack(stack + [_empty(1, n)], format="csr")
        return big[np.where(out_ids > 0, out_ids - 1, offset)]
    if params.get("batch", 0) == 0:
        if name == "sum":
            return _group_pattern(Ps[0], shapes[0], params["axis"], n)
        if name == "cumsum":
            x_shape = shapes[0]
            size, ax = size_of(x_shape), params["axis"]
            L = x_shape[ax]
            ids = np.moveaxis(np.arange(size).reshape(x_shape), ax, -1).reshape(-1, L)
            t, s = np.tril_indices(L)
            if ids.shape[0] * len(t) > _ENUM_LIMIT:
                raise _Dense(name)
            return _csr(ids[:, t].ravel(), ids[:, s].ravel(), (size, size)) @ Ps[0]
        if name == "scatter_add":
            flat = np.asarray(params["flat"]).ravel()
            return _csr(flat, np.arange(flat.size), (size_out, size_of(shapes[0]))) @ Ps[0]
    return _linear_dense(prim, Ps, shapes, size_out, params, n)


def _linear_dense(prim, Ps, shapes, size_out, params, n):
    """Any LinearOp: its matrix from applying it to identity lanes (small sizes only)."""
    if "batch" not in params:
        raise _Dense(prim.name)
    acc = None
    for i, P in enumerate(Ps):
        if P is None:
            continue
        size_i = size_of(shapes[i])
        if size_i * size_out > _ENUM_LIMIT // 4:
            raise _Dense(prim.name)
        lanes = [
            np.eye(size_i).reshape((size_i,) + shapes[i]) if j == i else np.zeros((size_i,) + shapes[j])
            for j in range(len(Ps))
        ]
        r = np.asarray(prim.impl(*lanes, **{**params, "batch": params["batch"] + 1})).reshape(size_i, -1)
        cols, rows = np.nonzero(r)
        acc = _or(acc, _csr(rows, cols, (size_out, size_i)) @ P)
    return acc


def _group_pattern(P, x_shape: tuple, axis, n: int):
    """Each output element depends on its whole group of input elements (reduced ``axis``)."""
    axis = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    kd = list(x_shape)
    for a in axis:
        kd[a] = 1
    size_out = size_of(kd)
    out_idx = np.broadcast_to(np.arange(size_out).reshape(kd), x_shape).ravel()
    return _csr(out_idx, np.arange(out_idx.size), (size_out, size_of(x_shape))) @ P


def _einsum_coords(T1: str, T2: str, constraints: list, dims: dict):
    """Index pairs (ravel over ``T1`` letters, ravel over ``T2`` letters) that share a term of
    the sum in which every constant factor (``constraints``: (letters, nonzero mask)) is nonzero."""
    V = "".join(dict.fromkeys(T1 + T2))
    shapeV = tuple(dims[ch] for ch in V)
    if size_of(shapeV) > _ENUM_LIMIT:
        raise _Dense("einsum")
    if constraints:
        present = "".join(ch for ch in V if any(ch in s for s, _ in constraints))
        spec = ",".join(s for s, _ in constraints) + "->" + present
        D = np.einsum(spec, *[m.astype(np.float64) for _, m in constraints], optimize=len(constraints) > 2) > 0
        D = np.broadcast_to(np.reshape(D, [dims[ch] if ch in present else 1 for ch in V]), shapeV)
    else:
        D = np.ones(shapeV, dtype=bool)
    if not V:
        coords: tuple = ()
        count = int(bool(D))
    else:
        coords = np.nonzero(D)
        count = len(coords[0])

    def ravel(T):
        if not T:
            return np.zeros(count, dtype=np.int64)
        return np.ravel_multi_index(tuple(coords[V.index(ch)] for ch in T), tuple(dims[ch] for ch in T))

    return ravel(T1), ravel(T2)


def _einsum_pattern(ps, Ps, shapes, out_shape, subscripts: str, ctx: _Ctx):
    ins, out = subscripts.split("->")
    ins = ins.split(",")
    dims: dict = {}
    for s, shp in zip(ins, shapes):
        for ch, d in zip(s, shp):
            dims[ch] = d
    consts = {i: np.asarray(strip(p)) != 0 for i, (p, P) in enumerate(zip(ps, Ps)) if P is None}
    size_out = size_of(out_shape)
    acc = None
    for a, P in enumerate(Ps):
        if P is None:
            continue
        r, c = _einsum_coords(out, ins[a], [(ins[i], m) for i, m in consts.items()], dims)
        acc = _or(acc, _csr(r, c, (size_out, size_of(shapes[a]))) @ P)
    if ctx.hess is not None:
        active = [i for i, P in enumerate(Ps) if P is not None]
        for x, a in enumerate(active):
            for b in active[x + 1:]:
                r, c = _einsum_coords(ins[a], ins[b], [(ins[i], m) for i, m in consts.items()], dims)
                C = _csr(r, c, (size_of(shapes[a]), size_of(shapes[b])))
                ctx.hess.append(Ps[a].T @ (C @ Ps[b]))
    return acc


def _solve_pattern(Ps, shapes, n: int):
    """x = solve(a, b): every x[..., i, c] depends on all of a[...] and on b[..., :, c]."""
    a_shape, b_shape = shapes
    nb = len(a_shape) - 2
    batch = "".join(ch for ch in "zyxwvutsrmlkhgfe"[:nb])
    dims = dict(zip(batch, a_shape[:nb]))
    dims.update(i=a_shape[-1], j=a_shape[-1], p=a_shape[-1], q=a_shape[-1], c=b_shape[-1])
    size_out = size_of(b_shape)
    acc = None
    if Ps[0] is not None:
        r, c = _einsum_coords(batch + "ic", batch + "pq", [], dims)
        acc = _or(acc, _csr(r, c, (size_out, size_of(a_shape))) @ Ps[0])
    if Ps[1] is not None:
        r, c = _einsum_coords(batch + "ic", batch + "jc", [], dims)
        acc = _or(acc, _csr(r, c, (size_out, size_of(b_shape))) @ Ps[1])
    return acc


# --------------------------------------------------------------------------------------------
# Detection


@dataclass
class SparsityTrace:
    """What one detection run found.

    Attributes
    ----------
    jacobian : scipy.sparse.csr_matrix
        ``(m, n)`` boolean pattern over the flattened outputs and inputs.
    hessian : scipy.sparse.csr_matrix or None
        ``(n, n)`` symmetric boolean pattern (Hessian detection only).
    value_dependent : bool
        A comparison (or another value-dependent NumPy call) was applied to a traced value:
        the pattern holds for inputs that take the same branches and is not cached.
    dense_ops : list of str
        Primitives whose dependencies were taken as dense (no pattern rule, or too large).
    """

    jacobian: object
    hessian: object = None
    value_dependent: bool = False
    dense_ops: list = field(default_factory=list)
    out_treedef: object = None
    out_shapes: list = field(default_factory=list)


def trace_pattern(f: Callable, args: tuple, nums: tuple, hessian: bool = False) -> SparsityTrace:
    sp = _sparse()
    leaves, _, rebuild = prepare_args(args, nums)
    sizes = [size_of(_shape(x)) for x in leaves]
    n = sum(sizes)
    ctx = _Ctx(n, hessian)
    tag = new_tag()
    tracers, offset = [], 0
    for x, size in zip(leaves, sizes):
        tracers.append(_Tracer._new(x, _identity_rows(offset, size, n), tag, ctx))
        offset += size
    with np.errstate(all="ignore"):
        out = f(*rebuild(tracers))
    o_leaves, o_def = tree_flatten(out)
    blocks, shapes = [], []
    for o in o_leaves:
        shp = _shape(o)
        shapes.append(shp)
        blocks.append(o._P if isinstance(o, _Tracer) and o._tag == tag else _empty(size_of(shp), n))
    J = sp.vstack(blocks, format="csr") if blocks else _empty(0, n)
    J.sum_duplicates()
    H = None
    if hessian:
        if len(shapes) != 1 or size_of(shapes[0]) != 1:
            raise ValueError(f"a Hessian needs a scalar-valued function, but f returned shape(s) {shapes}")
        H = _empty(n, n)
        for term in ctx.hess:
            H = H + term
        H = (H + H.T).tocsr()
        H.sum_duplicates()
    if ctx.lossy:
        warnings.warn(
            f"sparsity detection: no exact dependency rule for {sorted(set(ctx.lossy))} at these sizes; their outputs "
            "are taken to depend on all their inputs (the pattern is a dense superset there)",
            RuntimeWarning,
            stacklevel=3,
        )
    guards = [g for g in ctx.guards if g[0] not in _SHAPE_ONLY]
    return SparsityTrace(J, H, bool(guards), list(ctx.lossy), o_def, shapes)


def jacobian_sparsity(f: Callable, *args, argnums: int | Sequence[int] = 0):
    """The sparsity pattern of f's Jacobian at ``args``, without forming the Jacobian.

    Parameters
    ----------
    f : callable
        A function of NumPy arrays (pytrees allowed), written with plain NumPy.
    *args
        Its arguments: the pattern is traced at this point.
    argnums : int or tuple of int
        Which positional arguments to differentiate.

    Returns
    -------
    scipy.sparse.csr_matrix
        Boolean ``(m, n)``: rows are the flattened outputs (pytree leaves in order, C order),
        columns the flattened differentiated inputs.  A superset of the nonzeros of the
        Jacobian wherever the same Python branches are taken.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.sparsity import jacobian_sparsity
    >>> P = jacobian_sparsity(lambda x: np.cumsum(x) * np.floor(x), np.ones(3))
    >>> P.toarray().astype(int)
    array([[1, 0, 0],
           [1, 1, 0],
           [1, 1, 1]])
    """
    check_callable(f, "jacobian_sparsity")
    nums = norm_argnums(argnums, len(args), "jacobian_sparsity")
    return trace_pattern(f, args, nums).jacobian


def hessian_sparsity(f: Callable, *args, argnums: int | Sequence[int] = 0):
    """The sparsity pattern of the Hessian of a scalar function at ``args`` (boolean, symmetric).

    Parameters
    ----------
    f, *args, argnums
        As in :func:`jacobian_sparsity`; ``f`` returns a scalar.

    Returns
    -------
    scipy.sparse.csr_matrix
        Boolean ``(n, n)`` over the flattened differentiated inputs: a superset of the Hessian's
        nonzeros wherever the same Python branches are taken (see the module docs).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.sparsity import hessian_sparsity
    >>> f = lambda x: np.sum(x[1:] * x[:-1]) + np.sum(np.sin(x))
    >>> hessian_sparsity(f, np.ones(4)).toarray().astype(int)
    array([[1, 1, 0, 0],
           [1, 1, 1, 0],
           [0, 1, 1, 1],
           [0, 0, 1, 1]])
    """
    check_callable(f, "hessian_sparsity")
    nums = norm_argnums(argnums, len(args), "hessian_sparsity")
    return trace_pattern(f, args, nums, hessian=True).hessian


