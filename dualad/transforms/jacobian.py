"""The Jacobian engine: mode choice by a measured cost model, memory-bounded chunks of lanes,
sparse Jacobians by colouring, and chunks on any ``concurrent.futures.Executor``.

When each mode wins
-------------------
For ``f: R^n -> R^m`` forward mode pushes one tangent *lane* per input direction through the
primal code, reverse mode records the code once (a Wengert list) and sweeps it backwards once per
output row.  Both cost about the same per lane, a small multiple of the primal, so to first order

* **forward** wins when ``n < m`` (tall Jacobians: few inputs, many outputs), and always for
  ``n = 1``;
* **reverse** wins when ``m < n`` (wide Jacobians: gradients of losses, few outputs), paying the
  recording once;
* near ``n ≈ m`` the constants decide: the per-pass overhead (Python dispatch of every op), the
  recording, and how well each mode's lane arithmetic vectorises (BLAS matmuls, fused kernels).

The fixed rules of the C++ tools (CppAD: forward iff ``n <= m``; ADOL-C: reverse only when
``m <= n/2``) ignore those constants.  ``mode="auto"`` measures them.

The cost model
--------------
A pass of ``k`` lanes costs ``a + b·k`` seconds, with ``a`` the pass overhead (running f on Duals,
or one sweep of the tape) and ``b`` the cost of one lane.  With ``N`` lanes to compute (``n`` input
columns forward, ``m`` output rows reverse, or the number of colours for sparse Jacobians) and
``c`` lanes per pass, ::

    T_forward = ceil(N_f / c_f) · a_f + b_f · N_f
    T_reverse = t_record + ceil(N_r / c_r) · a_r + b_r · N_r

``a`` and ``b`` are measured on the first call for each argument signature (shapes and dtypes),
by timing real passes of 1 and 16 lanes in each mode, interleaved and repeated (the fastest run
counts), and the recording of the tape.  Per-lane costs grow with the lane count (caches), so a
mode is then probed with 128 and 1024 lanes while that is affordable: when the two estimates are
within 3× of each other, or when the probe costs at most half of the better estimate.  ``a`` and
``b`` come from the two largest probes.  The probes compute real columns and rows, so those of the
winning mode are kept.  The decision is cached with the function: later calls run the chosen mode
directly.  It is inspectable as ``jac.decision`` (a :class:`Decision`) after a call, or
``jac.decide(*args)`` before one.

Memory
------
The recorded tape also gives a memory model: bytes per lane in forward mode (every intermediate's
tangent lanes plus the largest op's temporaries) and in reverse mode (the adjoints alive at once
during the sweep, from the tape's liveness, plus temporaries), and the lane-independent primal
memory.  Lanes are chunked so that ``base + chunk · bytes_per_lane <= memory_limit`` (default a
quarter of the available RAM); ``chunk_size`` overrides.  The Jacobian itself is allocated once
and filled chunk by chunk.

Sparse Jacobians
----------------
With ``sparsity="auto"`` the pattern is found by tracing f once with dependency tracers
(:mod:`dualad.transforms.sparsity`), without forming the Jacobian; a ``scipy.sparse`` pattern may be
given instead.  Columns (forward) or rows (reverse) are coloured so that structurally orthogonal
ones share a lane; the cost model compares the two colourings (``N_f`` = column colours, ``N_r``
= row colours), the compressed Jacobian is computed with one lane per colour and decompressed into
a CSR matrix.

Executors
---------
Chunks are independent: with ``executor=`` they are submitted to any
``concurrent.futures.Executor`` (``ProcessPoolExecutor``, ``ThreadPoolExecutor``, a Dask
``distributed`` client's ``get_executor()``) and assembled in the caller.  For process-based
executors, f and the arguments are pickled: a lambda or a local function cannot be sent to a
``ProcessPoolExecutor`` (Dask's cloudpickle can), and this is reported before anything runs.  A
worker that dies raises a ``RuntimeError``; no partial Jacobian is returned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from ..core import device
from ..core.dispatch import Active
from .colouring import Decompressor, as_csr, color_columns, color_rows
from .common import check_callable, is_single, norm_argnums, prepare_args
from .costmodel import Plan, analyse, choose, chunk_cap, make_decision
from .decision import Decision
from .engine import LaneEngine
from .executors import executor_workers
from .forward import jacfwd
from .lanes import reverse_record, rows_to_jacobian
from .options import AUTO_SPARSE_MIN_LANES, JacobianOptions, default_memory_limit
from .pytree import tree_flatten
from .reverse import jacrev
from .signatures import LOCK, PLANS, Stale, fingerprint, pattern_key, same_structure, signature
from .sparsity import trace_pattern

__all__ = ["jacobian", "Decision", "default_memory_limit"]

MODES = ("auto", "forward", "reverse")


def jacobian(
    f: Callable,
    argnums: int | Sequence[int] = 0,
    mode: str = "auto",
    chunk_size: int | None = None,
    memory_limit: int | str | None = None,
    sparsity=None,
    executor=None,
    progress: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """The Jacobian of ``f``, in the mode that a measured cost model picks, in memory-bounded
    chunks, optionally sparse and optionally on an executor.

    Parameters
    ----------
    f : callable
        A function of NumPy arrays (pytrees allowed), written with plain NumPy.
    argnums : int or tuple of int
        Which positional arguments to differentiate.
    mode : {"auto", "forward", "reverse"}
        ``"forward"`` pushes n input lanes, ``"reverse"`` pulls m output rows; ``"auto"`` decides
        by the cost model of this module (measured on the first call per argument signature,
        then cached; see ``jac.decision``).
    chunk_size : int, optional
        Lanes per pass; overrides the memory-derived chunking.
    memory_limit : int or str, optional
        Bound on the extra memory of the lane passes, in bytes or as ``"2GB"``/``"512MiB"``;
        default a quarter of the available RAM.  The Jacobian itself is not counted.
    sparsity : None, False, "auto" or scipy.sparse matrix
        ``"auto"`` detects the pattern without forming the Jacobian; a given ``(m, n)`` pattern
        must contain every nonzero.  Either way the result is a ``scipy.sparse.csr_matrix``
        ``(m, n)`` over the flattened outputs and inputs, computed by colouring.  With None
        (the default) the result is dense, and ``mode="auto"`` may still compute it by
        colouring when both modes need many lanes and the cost model says a pattern trace
        pays (``jac.decision.sparse`` and ``.reason`` say so); ``False`` turns that off.
    executor : concurrent.futures.Executor, optional
        Run the chunks on it (processes, threads, a Dask client's ``get_executor()``) and assemble
        them here.  With process-based executors f must be picklable (a ``def`` at module level).
    progress : bool
        Show a tqdm progress bar over chunks (``pip install dualad[distributed]``).
    holomorphic : bool
        ``f`` is holomorphic (complex inputs and outputs): the complex Jacobian ``∂f/∂z``.
        Complex arguments (holomorphic or not) take :func:`~dualad.jacrev` (``mode="forward"``:
        :func:`~dualad.jacfwd`) with JAX's conventions and checks, dense and serial
        (``jac.decision`` is then None); real arguments with complex outputs take forward mode.

    Returns
    -------
    callable
        ``jac(*args)``: an array of shape ``S_out + S_in`` (pytrees mirror as in :func:`jacfwd`),
        or a CSR matrix when sparse.  ``jac.decision`` is the :class:`Decision` of the last call;
        ``jac.decide(*args)`` makes (and returns) it without finishing the Jacobian;
        ``jac.clear_cache()`` forgets decisions and patterns.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.jacobian import jacobian
    >>> A = np.arange(6.0).reshape(3, 2)
    >>> jac = jacobian(lambda x: np.tanh(A @ x))
    >>> J = jac(np.zeros(2))
    >>> J
    array([[0., 1.],
           [2., 3.],
           [4., 5.]])
    >>> jac.decision.mode in ("forward", "reverse"), jac.decision.n, jac.decision.m
    (True, 2, 3)
    >>> jacobian(lambda x: x[1:] * x[:-1], sparsity="auto")(np.arange(4.0)).toarray()
    array([[1., 0., 0., 0.],
           [0., 2., 1., 0.],
           [0., 0., 3., 2.]])
    """
    check_callable(f, "jacobian")
    if mode not in MODES:
        raise ValueError(f"jacobian: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    options = JacobianOptions.make("jacobian", mode, chunk_size, memory_limit, sparsity, executor, progress)
    if options.pattern is not None:  # frozen and keyed by content: a pattern changed later is another key
        options = dataclasses.replace(options, pattern=as_csr(options.pattern))
    key0 = (mode, options.chunk_size, options.memory_limit,
            None if options.pattern is None else pattern_key(options.pattern), options.sparse)
    single = is_single(argnums)
    local: dict = {}

    def plans() -> dict:
        try:
            with LOCK:
                return PLANS.setdefault(f, {})
        except TypeError:  # f cannot be weakly referenced (a ufunc): cache with this function
            return local

    def run(args, finish: bool):
        nums = norm_argnums(argnums, len(args), "jacobian")
        if holomorphic or _complex_arguments(args, nums):
            jac.decision = None
            return _complex_jacobian(f, argnums, options, holomorphic)(*args) if finish else None
        key = (key0, nums, signature(args))
        table = plans()
        try:
            decision, result = _run_plan(f, options, args, nums, table, key, finish, single)
        except Stale:  # f's output changed shape for the same input signature: start afresh
            table.pop(key, None)
            decision, result = _run_plan(f, options, args, nums, table, key, finish, single)
        jac.decision = decision
        return result if finish else decision

    def jac(*args):
        return run(args, True)

    def decide(*args) -> Decision:
        """The :class:`Decision` for these arguments (measuring on first use), without
        computing the rest of the Jacobian."""
        return run(args, False)

    def clear_cache() -> None:
        """Forget the cached decisions, measurements and sparsity patterns of ``f``."""
        plans().clear()

    jac.decision = None
    jac.decide = decide
    jac.clear_cache = clear_cache
    jac.__name__ = f"jacobian({getattr(f, '__name__', 'f')})"
    return jac


def _complex_arguments(args, nums) -> bool:
    leaves = tree_flatten([args[i] for i in nums])[0]
    return any(np.dtype(x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype).kind == "c" for x in leaves)


def _complex_jacobian(f, argnums, options: JacobianOptions, holomorphic: bool):
    """The dense Jacobian of complex arguments: jacrev (jacfwd for ``mode="forward"``), whose
    checks are JAX's."""
    if options.sparse or options.executor is not None or options.progress:
        raise NotImplementedError(
            "jacobian of complex arguments (or holomorphic=True) is dense and serial here: drop "
            "sparsity=, executor= and progress="
        )
    make = jacfwd if options.mode == "forward" else jacrev
    return make(f, argnums, chunk_size=options.chunk_size, holomorphic=holomorphic)


def _caps(options: JacobianOptions, plan: Plan, Nf: int, Nr: int, limit: int) -> tuple[int, int]:
    """Lanes per pass in each mode: ``chunk_size``, else the memory model's bound (and enough
    chunks to keep an executor's workers busy)."""
    if options.chunk_size is not None:
        return options.chunk(Nf), options.chunk(Nr)
    cap_f = chunk_cap(limit, plan.mem, "forward_lane", Nf, "jacobian")
    cap_r = chunk_cap(limit, plan.mem, "reverse_lane", Nr, "jacobian")
    if options.executor is not None:
        parts = 2 * executor_workers(options.executor)
        cap_f, cap_r = min(cap_f, max(1, -(-Nf // parts))), min(cap_r, max(1, -(-Nr // parts)))
    return cap_f, cap_r


def _check_sparse_args(args, nums) -> None:
    if any(device.is_device(x) for x in tree_flatten(list(args))[0]):
        raise NotImplementedError(
            "jacobian(sparsity=...) works on host (NumPy) arrays: its patterns and colourings are "
            "host data. Use sparsity=None for device arrays, or pass host copies (x.get())"
        )
    if any(isinstance(x, Active) for x in tree_flatten([args[i] for i in nums])[0]):
        raise NotImplementedError(
            "jacobian(sparsity=...) inside another transform (on active values) is not supported; "
            "use sparsity=None there"
        )


def _decide(f, options, plan, engine, info, lanes, limit, prefilled) -> Decision:
    """The mode (measured once, then cached in ``info``) and a fresh, frozen Decision."""
    colors_f, colors_r, Nf, Nr = lanes
    cap_f, cap_r = _caps(options, plan, Nf, Nr, limit)
    mode = options.mode
    if mode != "auto":
        chosen, reason = mode, f"mode={mode!r} was requested"
    elif "mode" in info:
        chosen, reason = info["mode"], info["reason"]
    else:
        chosen, reason = choose(plan, engine, colors_f, colors_r, Nf, Nr, cap_f, cap_r, prefilled)
        if info.get("cacheable", True):
            info["mode"], info["reason"] = chosen, reason
    # The decision is the same on every call with these settings: built once (the first
    # call's measurements are in the plan by then), reused after; it is frozen, so a call
    # that differs (passes) gets a copy.
    dkey = ("decision", chosen, Nf, Nr, cap_f, cap_r, limit)
    decision = info.get(dkey) if info.get("cacheable", True) else None
    if decision is None:
        decision = make_decision(plan, chosen, mode, Nf, Nr, cap_f, cap_r, limit, reason)
        if options.sparse:
            decision = dataclasses.replace(decision, sparse=True, nnz=int(info["P"].nnz),
                                           colors_forward=info["kf"], colors_reverse=info["kr"])
        if info.get("cacheable", True) and "mode" in info:
            info[dkey] = decision
    return decision


def _run_plan(f, options: JacobianOptions, args, nums, table, key, finish: bool, single: bool):
    """One call: the plan (analysed on first use), the decision, then the lanes; (decision, J)."""
    plan = table.get(key)
    rec = None
    if plan is None:
        plan, rec = analyse(f, args, nums, options.mode)
        table[key] = plan
    limit = options.memory_limit if options.memory_limit is not None else default_memory_limit()
    engine = LaneEngine(f, args, nums, executor=options.executor, progress=options.progress, rec=rec)
    if options.sparse:
        _check_sparse_args(args, nums)
        info = _pattern(f, options, plan, args, nums)
        lanes = (info["colors_f"], info["colors_r"], info["kf"] or 0, info["kr"] or 0)  # 0: not needed
    else:
        info, lanes = plan.dense, (None, None, plan.n, plan.m)
    prefilled: dict = {}
    coloured = _auto_colouring(f, options, plan, engine, args, nums, limit) if options.auto_sparse else None
    if coloured is not None:
        info, lanes, decision = coloured
    else:
        decision = _decide(f, options, plan, engine, info, lanes, limit, prefilled)
    if not finish:
        return decision, None
    pre = prefilled.get(decision.mode)
    full = _run_lanes(f, options, plan, engine, decision, lanes, pre, args, nums)
    if engine.out_info is not None and not same_structure(engine.out_info, plan):
        raise Stale()  # same size, another shape or structure: the cached plan does not apply
    passes = engine.passes + (1 if pre is not None else 0)
    if passes != decision.passes:
        decision = dataclasses.replace(decision, passes=passes)
    if options.sparse or coloured is not None:
        J = info["decompress_f" if decision.mode == "forward" else "decompress_r"](full)
        return (decision, J) if options.sparse else (decision, _assemble_dense(J.toarray(), plan, args, nums, single))
    return decision, _assemble_dense(full, plan, args, nums, single)


def _auto_colouring(f, options, plan: Plan, engine, args, nums, limit):
    """``(info, lanes, decision)`` when computing this dense Jacobian by colouring pays, else
    None.  Considered when both modes need many lanes: a pattern trace costs about as much as
    a few recordings, a dense Jacobian at least ``min(n, m)`` passes' worth of lanes.  The
    pattern is kept when it holds for every input, traced again on every call when a comparison
    steered it; it is used when its colours are fewer than a quarter of the dense lanes (and
    never looked at again for this signature when they are not)."""
    if plan.dense.get("colouring") == "no" or min(plan.n, plan.m) < AUTO_SPARSE_MIN_LANES or plan.record_s is None:
        return None
    if any(device.is_device(x) or isinstance(x, Active) for x in tree_flatten(list(args))[0]):
        return None
    info = _pattern(f, dataclasses.replace(options, mode="auto"), plan, args, nums)
    if 4 * min(info["kf"], info["kr"]) > min(plan.n, plan.m):
        if info["cacheable"]:
            plan.dense["colouring"] = "no"  # the pattern holds for every input: never again
        return None
    lanes = (info["colors_f"], info["colors_r"], info["kf"], info["kr"])
    decision = _decide(f, options, plan, engine, info, lanes, limit, {})
    reason = (f"automatic colouring: {decision.lanes} {decision.mode} lane(s) instead of {min(plan.n, plan.m)} dense "
              "(sparsity=False turns this off); " + decision.reason)
    decision = dataclasses.replace(decision, sparse=True, nnz=int(info["P"].nnz), colors_forward=info["kf"],
                                   colors_reverse=info["kr"], value_dependent=not info["cacheable"], reason=reason)
    return info, lanes, decision


def _run_lanes(f, options, plan, engine, decision, lanes, pre, args, nums):
    """``J S`` (forward, transposed to rows) or ``Sᵀ J`` (reverse) for the decided mode."""
    colors_f, colors_r, Nf, Nr = lanes
    n, m, chosen = plan.n, plan.m, decision.mode
    count = Nf if chosen == "forward" else Nr
    if n == 0 or m == 0 or count == 0:
        sparse = options.sparse
        return np.zeros((m, n) if not sparse else (m if chosen == "forward" else 0, n if chosen == "reverse" else 0))
    if chosen == "forward":
        full = engine.run_forward(colors_f, Nf, decision.chunk, pre)
        if full.shape[0] != m:
            raise Stale()
        return full
    if engine.rec is None and options.executor is None:
        engine.rec = reverse_record(f, args, nums)
    if engine.rec is not None and sum(engine.rec.sizes) != m:
        raise Stale()
    return engine.run_reverse(colors_r, Nr, decision.chunk, pre)


def _pattern(f, options: JacobianOptions, plan: Plan, args, nums) -> dict:
    """The pattern, colourings and decompressors of this call (cached by fingerprint)."""
    pkey = fingerprint(args, nums)
    info = None if pkey is None else plan.patterns.get(pkey)
    if info is not None:
        return info
    given, mode = options.pattern, options.mode
    if given is not None:
        P = as_csr(given)
        if P.shape != (plan.m, plan.n):
            raise ValueError(f"jacobian: the given sparsity pattern has shape {P.shape}, but the Jacobian is {(plan.m, plan.n)}")
        dependent = False
    else:
        tr = trace_pattern(f, args, nums)
        P, dependent = tr.jacobian, tr.value_dependent
        if P.shape != (plan.m, plan.n):
            raise Stale()
    colors_f, kf = color_columns(P) if mode in ("auto", "forward") else (None, None)
    colors_r, kr = color_rows(P) if mode in ("auto", "reverse") else (None, None)
    info = {"P": P, "colors_f": colors_f, "kf": kf, "colors_r": colors_r, "kr": kr, "cacheable": not dependent}
    if colors_f is not None:
        info["decompress_f"] = Decompressor(P, colors_f, kf, "columns")
    if colors_r is not None:
        info["decompress_r"] = Decompressor(P, colors_r, kr, "rows")
    if not dependent and pkey is not None:
        plan.patterns[pkey] = info
    return info


def _assemble_dense(full, plan: Plan, args, nums, single: bool):
    """(m, n) -> per output leaf S_out + (n,), then split per input leaf."""
    if single and len(plan.out_shapes) == 1 and plan.out_def is None and type(args[nums[0]]) is np.ndarray:
        # one array in, one array out: the (m, n) block is the Jacobian, reshaped
        return full.reshape(tuple(plan.out_shapes[0]) + args[nums[0]].shape)
    leaves, treedef, _ = prepare_args(args, nums)
    return rows_to_jacobian(full, plan.out_def, plan.out_shapes, leaves, treedef, single)
