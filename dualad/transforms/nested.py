"""Higher order by nesting: hessian (all four orders), hvp, check_grads."""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..core import device
from ..core.dispatch import Active, new_tag, strip
from ..forward.dual import Dual
from .colouring import Decompressor, as_csr, star_color
from .common import check_callable, check_inputs_dtype, is_single, norm_argnums, prepare_args, size_of
from .decision import Decision
from .engine import LaneEngine
from .forward import jacfwd, jvp
from .lanes import Directions, rows_to_jacobian, unwrap_dual
from .options import AUTO_SPARSE_MIN_LANES, JacobianOptions
from .pytree import as_input, tree_flatten, tree_unflatten
from .reverse import grad, jacrev, vjp
from .signatures import fingerprint, pattern_key, signature
from .sparsity import trace_pattern

__all__ = ["hessian", "sparse_hessian", "hvp", "check_grads", "HESSIAN_MODES"]

# Elements of tangent lanes a nested forward level may hold at once (2^26 doubles = 512 MiB).
_NESTED_LANE_BUDGET = 1 << 26

HESSIAN_MODES = ("forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward")


class InnerDerivative:
    """The gradient of ``f`` by reverse (``inner="reverse"``) or forward mode, as the lane
    target of a Hessian: a module-level class, so it pickles for executors whenever ``f`` does.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.nested import InnerDerivative
    >>> InnerDerivative(lambda x: np.sum(x**2), (0,), "reverse")(np.ones(2))   # one per argnum
    (array([2., 2.]),)
    """

    def __init__(self, f, nums, inner: str):
        self.f, self.nums, self.inner = f, tuple(nums), inner

    def __call__(self, *args):
        d = grad if self.inner == "reverse" else jacfwd
        return d(self.f, self.nums)(*args)


def hessian(
    f: Callable,
    argnums: int | Sequence[int] = 0,
    mode: str = "forward-over-reverse",
    chunk_size: int | None = None,
    sparsity=None,
    executor=None,
    progress: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """The Hessian of a scalar function, by nesting two AD modes.

    Parameters
    ----------
    f : callable
        Scalar-valued function of NumPy arrays (pytrees allowed).
    argnums : int or tuple of int
        Which positional arguments to differentiate; the result has one block per pair.
    mode : str
        ``"forward-over-reverse"`` (default: one reverse sweep carries ``chunk_size`` tangent
        lanes, giving that many columns at once), ``"reverse-over-reverse"``,
        ``"forward-over-forward"`` or ``"reverse-over-forward"``.
    chunk_size : int, optional
        Lanes per pass of the outer level (default: all n at once).
    sparsity : None, False, "auto" or scipy.sparse matrix
        ``"auto"`` detects the pattern, colours it symmetrically and returns a
        ``scipy.sparse`` matrix from lanes of ``mode``, one lane per colour (see
        :func:`dualad.sparse_hessian`); a given pattern is used as it is.  ``mode`` says
        which level runs the colour lanes.  With None (the default) the result is dense, but
        for one array argument of 200 or more elements the pattern is traced and, when its
        colours are under a quarter of the unknowns, the dense Hessian is computed from them
        (``h.decision`` then says so); ``False`` turns that off.
    executor : concurrent.futures.Executor, optional
        Run the outer level's passes on it (see :func:`dualad.transforms.jacobian.jacobian`);
        for process pools f must be picklable.
    progress : bool
        Show a tqdm progress bar over the outer level's passes.
    holomorphic : bool
        ``f`` is holomorphic: the complex second derivative ``∂²f/∂z²`` (dense, without
        ``sparsity``, ``executor`` or ``progress``).  Complex inputs need it, as in JAX (the
        second derivative of a real function of complex inputs is real-linear, not a complex
        matrix: use :func:`hvp` for it).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> f = lambda x: np.sum(x**3)
    >>> ad.hessian(f)(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    >>> ad.hessian(f, mode="reverse-over-forward")(np.array([1.0, 2.0]))[1, 1]
    np.float64(12.0)
    """
    check_callable(f, "hessian")
    if mode not in HESSIAN_MODES:
        raise ValueError(f"hessian: unknown mode {mode!r}; choose one of {', '.join(HESSIAN_MODES)}")
    options = JacobianOptions.make("hessian", mode, chunk_size, None, sparsity, executor, progress)
    if sparsity is not None and sparsity is not False:
        if holomorphic:
            raise NotImplementedError("hessian(holomorphic=True) is dense: drop sparsity=")
        return sparse_hessian(f, argnums, sparsity=sparsity, chunk_size=chunk_size, executor=executor,
                              progress=progress, mode=mode)
    outer, inner = mode.split("-over-")
    kw = {"holomorphic": True} if holomorphic else {}
    first = grad(f, argnums, **kw) if inner == "reverse" else jacfwd(f, argnums, **kw)
    outer_jac = jacfwd if outer == "forward" else jacrev
    single = is_single(argnums)
    coloured = None if sparsity is False else sparse_hessian(
        f, argnums, sparsity="auto", chunk_size=chunk_size, executor=executor, progress=progress, mode=mode)
    dense_verdicts: set = set()
    outer_jacs: dict = {}  # per chunk size: the outer transform, with its options validated once

    def h(*args):
        h.decision = None
        if coloured is not None:
            H = _auto_coloured_hessian(coloured, argnums, args, dense_verdicts)
            if H is not None:
                h.decision = coloured.decision
                return H
        chunk = options.chunk_size
        on_engine = options.executor is not None or options.progress
        check_inputs_dtype("hessian", holomorphic, prepare_args(args, norm_argnums(argnums, len(args), "hessian"))[0], forward=True)
        if holomorphic and on_engine:
            raise NotImplementedError("hessian(holomorphic=True) runs without executor= or progress=")
        if chunk is None and inner == "forward" or on_engine:
            nums = norm_argnums(argnums, len(args), "hessian")
            n = sum(size_of(np.shape(leaf) if not hasattr(leaf, "shape") else leaf.shape) for i in nums for leaf in tree_flatten(args[i])[0])
            if chunk is None and inner == "forward":
                # The inner level carries n lanes on every value, the outer one k more: k·n² per
                # value.  Bound that block instead of letting n³ grow unchecked.
                chunk = max(1, min(n, _NESTED_LANE_BUDGET // max(1, n * n)))
            if on_engine and n > 0:
                return _engine_hessian(f, args, nums, outer, inner, options, chunk or n, single)
        jac = outer_jacs.get(chunk)
        if jac is None:
            jac = outer_jacs[chunk] = outer_jac(first, argnums, chunk_size=chunk, **kw)
        return jac(*args)

    h.decision = None
    h.__name__ = f"hessian({getattr(f, '__name__', 'f')}, mode={mode!r})"
    if sparsity is None and not holomorphic and chunk_size is None and executor is None and not progress:
        h.jit_route = ("hessian", f, argnums)  # what dualad.jit runs for it: compiled (coloured) lanes
    return h


def _auto_coloured_hessian(coloured, argnums, args, dense_verdicts: set):
    """The dense Hessian of one plain array argument by star colouring, when that pays: at
    least :data:`AUTO_SPARSE_MIN_LANES` unknowns and colours under a quarter of them; else None
    (a verdict kept per signature when the pattern holds for every input)."""
    if not isinstance(argnums, (int, np.integer)) or len(args) <= argnums:
        return None
    x = args[argnums]
    if type(x) is not np.ndarray or x.size < AUTO_SPARSE_MIN_LANES or x.dtype.kind != "f":
        return None
    sig = signature(args)
    if sig in dense_verdicts:
        return None
    plan = coloured.plan(*args)
    if 4 * plan.k > x.size:
        if not plan.value_dependent:
            dense_verdicts.add(sig)
        return None
    H = coloured(*args, _plan=plan).toarray().reshape(x.shape + x.shape)
    d = coloured.decision
    coloured.decision = dataclasses.replace(
        d, reason=f"automatic colouring: {d.lanes} lane(s) instead of {x.size} dense (sparsity=False turns this off); {d.reason}")
    return H


def _engine_hessian(f, args, nums, outer: str, inner: str, options: JacobianOptions, chunk: int, single: bool):
    """A dense Hessian on the lane engine (identity lanes over the gradient), so that passes run
    on ``options.executor`` and show progress."""
    engine = LaneEngine(InnerDerivative(f, nums, inner), args, nums, executor=options.executor,
                        progress=options.progress, name="hessian")
    leaves, treedef, _ = engine.prepared
    n = engine.n
    full = engine.run_forward(None, n, chunk) if outer == "forward" else engine.run_reverse(None, n, chunk)
    # the gradient mirrors the differentiated arguments (one of them, or a tuple over argnums)
    o_def = tree_flatten(args[nums[0]] if single else tuple(args[i] for i in nums))[1]
    return rows_to_jacobian(full, o_def, [tuple(x.shape) for x in leaves], leaves, treedef, single)


@dataclass
class _HessPlan:
    pattern: object
    colors: np.ndarray
    k: int
    value_dependent: bool
    decompress: Decompressor


_HESS_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def sparse_hessian(
    f: Callable,
    argnums: int | Sequence[int] = 0,
    sparsity="auto",
    chunk_size: int | None = None,
    executor=None,
    progress: bool = False,
    mode: str = "forward-over-reverse",
) -> Callable:
    """The Hessian of a scalar function as a ``scipy.sparse`` matrix, by colouring.

    The Hessian's pattern is detected once per argument signature (see the module docs), its
    columns are star-coloured, and ``H @ S`` is computed with one forward-over-reverse lane per
    colour (dual numbers pushed through a reverse-mode gradient), then decompressed.

    Parameters
    ----------
    f : callable
        Scalar-valued function of NumPy arrays (pytrees allowed).
    argnums : int or tuple of int
        Which positional arguments to differentiate.
    sparsity : "auto" or scipy.sparse matrix
        ``"auto"`` detects the pattern; a given ``(n, n)`` pattern is used as it is (it must
        contain every nonzero of the Hessian).
    chunk_size : int, optional
        Colours (lanes) per pass; default all at once.
    executor : concurrent.futures.Executor, optional
        Run the passes on it (see :func:`dualad.transforms.jacobian.jacobian`).
    progress : bool
        Show a tqdm progress bar over passes.
    mode : str
        The nesting, as in :func:`hessian`: the outer level runs the colour lanes (forward:
        ``H S`` by columns; reverse: ``Sᵀ H`` by rows, the same for a symmetric H), the inner
        one gives the gradient.

    Returns
    -------
    callable
        ``hess(*args)`` returning a ``(n, n)`` CSR matrix over the flattened differentiated
        inputs, with the detected pattern as its structure.  ``hess.decision`` describes the
        last call (a :class:`~dualad.transforms.decision.Decision`: pattern size, colours,
        passes).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import rosen, rosen_hess
    >>> from dualad.transforms.nested import sparse_hessian
    >>> rosen_np = lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    >>> x = np.linspace(-1.0, 2.0, 8)
    >>> H = sparse_hessian(rosen_np)(x)
    >>> H.shape, H.nnz, bool(np.allclose(H.toarray(), rosen_hess(x)))
    ((8, 8), 22, True)
    >>> sparse_hessian(rosen_np).decision is None   # filled by a call
    True
    """
    check_callable(f, "sparse_hessian")
    if mode not in HESSIAN_MODES:
        raise ValueError(f"sparse_hessian: unknown mode {mode!r}; choose one of {', '.join(HESSIAN_MODES)}")
    options = JacobianOptions.make("sparse_hessian", mode, chunk_size, None, sparsity, executor, progress)
    outer, inner = mode.split("-over-")
    given = None if options.pattern is None else as_csr(options.pattern, "pattern")  # frozen, keyed by content
    given_key = None if given is None else pattern_key(given)
    local: dict = {}

    def cache() -> dict:
        try:
            return _HESS_CACHE.setdefault(f, {})
        except TypeError:  # not weak-referenceable (a ufunc, a builtin): keep it with this function
            return local

    def plan_for(args, nums, n):
        """The pattern, its star colouring and decompressor at ``args`` (cached unless a
        comparison steered the pattern)."""
        fp = fingerprint(args, nums)
        key = None if fp is None else ("hess", nums, signature(args), fp, given_key)
        plan = None if key is None else cache().get(key)
        if plan is None:
            if given is not None:
                P = as_csr(given, "pattern")
                if P.shape != (n, n):
                    raise ValueError(f"sparse_hessian: the given pattern has shape {P.shape}, expected {(n, n)}")
                P = (P + P.T).tocsr()
                dependent = False
            else:
                tr = trace_pattern(f, args, nums, hessian=True)
                P, dependent = tr.hessian, tr.value_dependent
            colors, k = star_color(P)
            plan = _HessPlan(P, colors, k, dependent, Decompressor(P, colors, k, "star"))
            if not dependent and key is not None:
                cache()[key] = plan
        return plan

    def sizes(args):
        nums = norm_argnums(argnums, len(args), "sparse_hessian")
        leaves, _, _ = prepare_args(args, nums)
        check_inputs_dtype("sparse_hessian", False, leaves, forward=True)
        return nums, sum(size_of(x.shape) for x in leaves)

    def plan(*args):
        """The pattern's plan at ``args`` (its star colouring: ``.k`` lanes), without the passes."""
        nums, n = sizes(args)
        return plan_for(args, nums, n)

    def hess(*args, _plan=None):
        nums, n = sizes(args)
        plan = _plan if _plan is not None else plan_for(args, nums, n)
        engine = LaneEngine(InnerDerivative(f, nums, inner), args, nums, executor=options.executor,
                            progress=options.progress, name="sparse_hessian")
        chunk = options.chunk(plan.k)
        if outer == "forward":
            H = plan.decompress(engine.run_forward(plan.colors, plan.k, chunk))  # (n, k) = H S
        else:
            H = plan.decompress(engine.run_reverse(plan.colors, plan.k, chunk).T)  # (k, n) = Sᵀ H = (H S)ᵀ
        hess.decision = Decision(
            mode=mode, requested=options.mode, n=n, m=n, lanes=plan.k, chunk=chunk,
            passes=engine.passes, sparse=True, nnz=int(plan.pattern.nnz), value_dependent=plan.value_dependent,
            colors_forward=plan.k if outer == "forward" else None, colors_reverse=plan.k if outer == "reverse" else None,
            reason=f"star colouring: {plan.k} {mode} lane(s) for {n} columns",
        )
        return H

    hess.decision = None
    hess.plan = plan
    hess.__name__ = f"sparse_hessian({getattr(f, '__name__', 'f')})"
    return hess



def hvp(f: Callable, x, v, *, chunk_size: int | None = None, executor=None, progress: bool = False):
    """Hessian-vector product ``H(x) @ v`` in one forward-over-reverse pass, never forming H.

    Parameters
    ----------
    f : callable
        Scalar-valued function of one array argument (or a pytree of arrays).
    x : array or pytree
        The point.
    v : array or pytree
        A direction shaped like ``x``, or (for an array ``x``) a batch ``(k,) + x.shape`` of
        k directions, all pushed through the same pass: the result is then ``(k,) + x.shape``.
    chunk_size : int, optional
        For a batch: directions per pass (default: all in one).
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        For a batch: run the passes there (see :func:`dualad.jacobian`).
    progress : bool
        For a batch: show a progress bar over the passes.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> f = lambda x: np.sum(x**3)
    >>> ad.hvp(f, np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    array([ 6., 12.])
    >>> ad.hvp(f, np.array([1.0, 2.0]), np.eye(2))   # two directions: the Hessian's rows
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    check_callable(f, "hvp")
    g = grad(f)
    if isinstance(x, (tuple, list, dict)):
        return jvp(g, (x,), (v,))[1]
    x = as_input(x, "x")
    vv = v if isinstance(v, Active) else device.asarray(v)
    device.locate([strip(x), strip(vv)], "hvp(f, x, v)")
    xshape = tuple(x.shape)
    if tuple(vv.shape) == xshape:
        return jvp(g, (x,), (vv,))[1]
    if tuple(vv.shape[1:]) != xshape:
        raise ValueError(f"hvp: v must have shape {xshape} or (k,) + {xshape}, got {tuple(vv.shape)}")
    if not isinstance(vv, Active):
        vv = vv.astype(x.dtype, copy=False)
        if chunk_size is not None or executor is not None or progress:
            return _engine_hvp(f, x, vv, chunk_size, executor, progress)
    tag = new_tag()
    out = g(Dual.make(x, vv, tag, False))
    return unwrap_dual(out, tag, vv.shape[0])[1]


def _engine_hvp(f, x, vv, chunk_size, executor, progress):
    """A batch of Hessian-vector products on the lane engine: the directions are the seeds of
    forward lanes over the gradient, in chunks, serially or on an executor."""
    options = JacobianOptions.make("hvp", "forward", chunk_size, executor=executor, progress=progress)
    k = vv.shape[0]
    engine = LaneEngine(InnerDerivative(f, (0,), "reverse"), (x,), (0,), executor=options.executor,
                        progress=options.progress, name="hvp")
    full = engine.run_forward(Directions(vv.reshape(k, -1)), k, options.chunk(k))  # (n, k) = H Vᵀ
    return np.transpose(full).reshape((k,) + tuple(x.shape))


def _default_tols(dtype) -> tuple[float, float, float]:
    if np.dtype(dtype) in (np.float32, np.complex64):
        return 1e-2, 2e-2, 2e-2  # eps, atol, rtol
    return 1e-5, 1e-6, 1e-5


def _wide(a):
    """``a`` in float64, or complex128 for a complex value (host or device)."""
    a = device.asarray(a)
    return a.astype(np.complex128 if np.dtype(a.dtype).kind == "c" else np.float64, copy=False)


def _vdot(a_leaves, b_leaves) -> float:
    """``Re Σ a·b`` (no conjugate): the pairing for which vjp is the transpose of jvp."""
    total = 0.0
    for a, b in zip(a_leaves, b_leaves):
        total += float(np.real(np.sum(_wide(a) * _wide(b))))
    return total


def check_grads(
    f: Callable,
    args: Sequence,
    order: int = 2,
    modes: Sequence[str] = ("forward", "reverse"),
    eps: float | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    seed: int = 0,
) -> None:
    """Check f's derivatives against finite differences and each other, up to ``order``.

    Forward mode: the directional derivative ``J v`` equals central differences
    ``(f(x + εv) − f(x − εv)) / 2ε`` for a random direction v.  Reverse mode: the
    inner-product identity ``<u, J v> = <Jᵀu, v>`` for random u, v.  Complex values take
    complex directions and the pairing ``<a, b> = Re Σ a·b``, for which JAX's (and dualad's)
    vjp is the transpose of the jvp.  For ``order > 1`` the same
    checks run on the functions ``x ↦ J(x) v`` and ``x ↦ J(x)ᵀ u``, recursively.

    ``modes`` also takes JAX's names ``"fwd"`` and ``"rev"``, and ``atol``/``rtol`` a dict of
    tolerances per dtype (the arguments' dtype picks one), so calls written for
    ``jax.test_util.check_grads`` carry over.

    Raises
    ------
    AssertionError
        With a report naming the order, the mode and both numbers, if a check fails.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> ad.check_grads(lambda x: np.sum(np.sin(x)), (np.array([0.5, 1.0]),), order=2)
    """
    check_callable(f, "check_grads")
    if not isinstance(args, (tuple, list)):
        raise TypeError("check_grads(f, args, ...): args must be a tuple of arguments")
    modes = tuple(_JAX_MODES.get(m, m) for m in modes)
    for m in modes:
        if m not in ("forward", "reverse"):
            raise ValueError(f"check_grads: unknown mode {m!r}; use 'forward' and/or 'reverse' (JAX's 'fwd', 'rev')")
    rng = np.random.default_rng(seed)
    leaves, treedef = tree_flatten(tuple(args))
    leaves = [as_input(x) for x in leaves]
    args = tree_unflatten(treedef, leaves)
    dtype = np.result_type(*[x.dtype for x in leaves]) if leaves else np.float64
    d_eps, d_atol, d_rtol = _default_tols(dtype)
    atol, rtol = (_for_dtype(t, dtype) for t in (atol, rtol))
    eps, atol, rtol = eps or d_eps, atol or d_atol, rtol or d_rtol
    _check_level(f, tuple(args), order, tuple(modes), eps, atol, rtol, rng, level=1)


_JAX_MODES = {"fwd": "forward", "rev": "reverse"}


def _for_dtype(tol, dtype):
    """A tolerance given per dtype (``{np.float32: 1e-3, ...}``, as JAX's check_grads takes):
    the arguments' dtype's, None (the default) where it has none."""
    if not isinstance(tol, dict):
        return tol
    return {np.dtype(k): v for k, v in tol.items()}.get(np.dtype(dtype))


def _random_like(leaves, rng):
    """Random directions shaped like ``leaves``, drawn on the host and placed with each leaf."""
    out = []
    for x in leaves:
        kind = np.dtype(x.dtype).kind
        r = rng.standard_normal(tuple(x.shape))
        if kind == "c":
            r = r + 1j * rng.standard_normal(tuple(x.shape))
        r = r.astype(x.dtype if kind in "fc" else np.float64)
        out.append(device.to_place(r, strip(x)))
    return out


def _fail(level, what, a, b, atol, rtol):
    raise AssertionError(
        f"check_grads: order {level}, {what}: {a!r} vs {b!r} (|difference| = {abs(a - b):.3g}, "
        f"allowed {atol + rtol * max(abs(a), abs(b)):.3g})"
    )


def _check_level(f, args, order, modes, eps, atol, rtol, rng, level):
    leaves, treedef = tree_flatten(args)
    v = _random_like(leaves, rng)
    tangents = tree_unflatten(treedef, v)
    y, y_dot = jvp(f, args, tangents)
    y_leaves, y_def = tree_flatten(y)
    u = _random_like([device.asarray(t) for t in y_leaves], rng)
    if "forward" in modes:
        plus = tree_unflatten(treedef, [x + eps * d for x, d in zip(leaves, v)])
        minus = tree_unflatten(treedef, [x - eps * d for x, d in zip(leaves, v)])
        fp, _ = tree_flatten(f(*plus))
        fm, _ = tree_flatten(f(*minus))
        fd = [(_wide(a) - _wide(b)) / (2 * eps) for a, b in zip(fp, fm)]
        ad_dir = _vdot(u, tree_flatten(y_dot)[0])
        fd_dir = _vdot(u, fd)
        if not abs(ad_dir - fd_dir) <= atol + rtol * max(abs(ad_dir), abs(fd_dir)):
            _fail(level, "forward mode <u, J v> vs central differences", ad_dir, fd_dir, atol, rtol)
    if "reverse" in modes:
        _, pullback = vjp(f, *args)
        ct = pullback(tree_unflatten(y_def, u))
        lhs = _vdot(u, tree_flatten(y_dot)[0])
        rhs = _vdot(tree_flatten(ct)[0], v)
        if not abs(lhs - rhs) <= atol + rtol * max(abs(lhs), abs(rhs)):
            _fail(level, "reverse mode <u, J v> (forward) vs <J^T u, v> (reverse)", lhs, rhs, atol, rtol)
    if order > 1:
        if "forward" in modes:
            _check_level(lambda *a: jvp(f, a, tangents)[1], args, order - 1, modes, eps, atol, rtol, rng, level + 1)
        if "reverse" in modes:
            cot = tree_unflatten(y_def, u)
            _check_level(lambda *a: vjp(f, *a)[1](cot), args, order - 1, modes, eps, atol, rtol, rng, level + 1)
