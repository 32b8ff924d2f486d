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

import math
import os
import re
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..core import device
from ..core.dispatch import Active, new_tag, strip
from ..forward.dual import Dual
from ..reverse.variable import Variable
from .common import assemble_jacobian, check_callable, check_output, norm_argnums, prepare_args
from .forward import unwrap_dual
from .pytree import tree_flatten
from .reverse import _pull, _record, grad

__all__ = ["jacobian", "Decision", "default_memory_limit"]

MODES = ("auto", "forward", "reverse")

# Probe sizes (lanes) of the cost model.  Beyond the first two, a mode is probed further when
# the estimates are within AMBIGUOUS of each other, or when the probe costs at most PROBE_BUDGET
# times the better estimate.
PROBE_LANES = (1, 16, 128, 1024)
AMBIGUOUS = 3.0
PROBE_BUDGET = 0.5


# --------------------------------------------------------------------------------------------
# Memory


_MEM_DEFAULT: list = []


def default_memory_limit() -> int:
    """A quarter of the available memory (``MemAvailable`` in /proc/meminfo, else of physical
    memory), in bytes; 1 GiB if neither can be read.

    Examples
    --------
    >>> from dualad.transforms.jacobian import default_memory_limit
    >>> default_memory_limit() > 0
    True
    """
    if not _MEM_DEFAULT:
        avail = None
        try:
            with open("/proc/meminfo") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        avail = int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
        if avail is None:
            try:
                avail = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            except (ValueError, OSError, AttributeError):
                avail = 4 << 30
        _MEM_DEFAULT.append(max(int(avail) // 4, 1 << 20))
    return _MEM_DEFAULT[0]


_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def _parse_bytes(v, name: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, str):
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", v)
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError(f"{name}: cannot read memory_limit={v!r}; give bytes (an int) or a string like '2GB' or '512MiB'")
        v = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not v > 0:
        raise ValueError(f"{name}: memory_limit must be a positive number of bytes, got {v!r}")
    return int(v)


@dataclass
class _MemModel:
    """Bytes per lane in each mode, and lane-independent bytes, from a recorded tape."""

    forward_lane: int
    reverse_lane: int
    base: int


def _memory_model(tape, vars_, o_leaves, n: int, m: int, itemsize: int) -> _MemModel:
    entries = tape.entries
    E = len(entries)
    size_of: dict = {}
    for v in vars_:
        size_of[v._node] = int(math.prod(v.shape))
    producer: dict = {}
    last_use: dict = {}
    total = 0
    trans_f = 0
    trans_r = np.zeros(max(E, 1), dtype=np.int64)
    for t, (op, in_nodes, residual, params, out_node, out_shape) in enumerate(entries):
        s = int(math.prod(out_shape))
        size_of[out_node] = s
        producer[out_node] = t
        total += s
        ins = [size_of.get(nd, 0) for nd in in_nodes if nd is not None]
        trans_f = max(trans_f, 2 * s + sum(ins))
        trans_r[t] = sum(s + i for i in ins)
        for nd in in_nodes:
            if nd is not None:
                last_use[nd] = max(last_use.get(nd, -1), t)
    outs = {o._node for o in o_leaves if isinstance(o, Variable) and o._tape is tape}
    # Reverse sweep liveness: the adjoint of node v exists from the sweep step of its last
    # consumer (or from the start, for an output) down to the step of its producer (leaves: to
    # the end).  Steps run t = E-1 .. 0.
    live = np.zeros(E + 2, dtype=np.int64)
    for node, s in size_of.items():
        start = E if node in outs else last_use.get(node)
        if start is None:
            continue
        end = producer.get(node, 0)
        if end <= start - 1:
            live[end] += s
            live[start] -= s
    live = np.cumsum(live)[: max(E, 1)]
    peak_r = int(np.max(live + trans_r)) if E else 0
    forward_lane = itemsize * (n + total + trans_f + 2 * m)
    reverse_lane = itemsize * (m + 2 * n + peak_r)
    # Forward counts every tangent alive at once (an upper bound: Python locals keep them); the
    # reverse liveness is tight, so 25% for what the model does not see (NumPy temporaries).
    return _MemModel(int(forward_lane * 1.1) + 64, int(reverse_lane * 1.25) + 64, itemsize * (total + n + m))


def _chunk_cap(limit: int, mem: _MemModel | None, lane_bytes: str, N: int, name: str) -> int:
    if mem is None:
        return max(N, 1)
    per = getattr(mem, lane_bytes)
    cap = (limit - mem.base) // max(per, 1)
    if cap < 1:
        warnings.warn(
            f"{name}: memory_limit={limit} bytes is below the estimated memory of a single lane "
            f"({mem.base + per} bytes); computing one lane per pass",
            ResourceWarning,
            stacklevel=4,
        )
        cap = 1
    return int(min(cap, max(N, 1)))


# --------------------------------------------------------------------------------------------
# Passes (module level, so that executors can run them in worker processes)


def _seed(size: int, offset: int, colors, c0: int, k: int, dtype, like=None) -> np.ndarray:
    """(k, size) seed: lane c - c0 carries 1 at every position of colour c in [c0, c0 + k),
    made where the plain value ``like`` lives (dense seeds only: colourings are host data)."""
    if colors is None:
        return device.eye(k, size, c0 - offset, dtype, like)
    seed = np.zeros((k, size), dtype=dtype)
    idx = np.arange(size)
    lane = (idx + offset if colors is None else colors[offset: offset + size]) - c0
    ok = (lane >= 0) & (lane < k)
    seed[lane[ok], idx[ok]] = 1.0
    return seed


def _forward_lanes(f, args, nums, colors, c0: int, c1: int):
    """One forward pass with lanes c0..c1: ((k, m) block of J·S, output treedef, output shapes)."""
    leaves, _, rebuild = prepare_args(args, nums)
    k = c1 - c0
    tag = new_tag()
    duals, offset = [], 0
    for x in leaves:
        size = int(math.prod(x.shape))
        dt = x.dtype if np.dtype(x.dtype).kind == "f" else np.float64
        seed = _seed(size, offset, colors, c0, k, dt, strip(x))
        duals.append(Dual._new(x, seed.reshape((k,) + tuple(x.shape)), tag, False))
        offset += size
    out = f(*rebuild(duals))
    o_leaves, o_def = tree_flatten(out)
    blocks, shapes = [], []
    for i, o in enumerate(o_leaves):
        t = unwrap_dual(o, tag, k, "jacobian", i, len(o_leaves))[1]
        shapes.append(tuple(t.shape[1:]))
        blocks.append(np.reshape(t, (k, -1)))
    if not blocks:
        return np.zeros((k, 0)), o_def, shapes
    return (blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)), o_def, shapes


@dataclass
class _Recording:
    tape: object
    vars_: list
    o_leaves: list
    o_def: object
    shapes: list
    sizes: list
    dtype: object


def _reverse_record(f, args, nums) -> _Recording:
    tape, leaves, vars_, treedef, out = _record(f, args, nums)
    o_leaves, o_def = tree_flatten(out)
    for i, o in enumerate(o_leaves):
        check_output(o, "jacobian", i, len(o_leaves))
    shapes = [tuple(o.shape) if isinstance(o, Active) else tuple(np.shape(o)) for o in o_leaves]
    sizes = [int(math.prod(s)) for s in shapes]
    dt = np.result_type(*[np.dtype(v.dtype) for v in vars_]) if vars_ else np.dtype(np.float64)
    if dt.kind != "f":
        dt = np.dtype(np.float64)
    return _Recording(tape, vars_, o_leaves, o_def, shapes, sizes, dt)


def _reverse_lanes(rec: _Recording, colors, c0: int, c1: int):
    """One backward sweep with cotangent lanes c0..c1: the (k, n) block of Sᵀ·J."""
    k = c1 - c0
    cts, offset = [], 0
    for o, s, size in zip(rec.o_leaves, rec.shapes, rec.sizes):
        cts.append(_seed(size, offset, colors, c0, k, rec.dtype, strip(o)).reshape((k,) + tuple(s)))
        offset += size
    adj = _pull(rec.tape, rec.o_leaves, cts, rec.vars_, k)
    blocks = [np.reshape(a, (k, -1)) for a in adj]
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)


def _task(f, args, nums, kind: str, colors, c0: int, c1: int):
    """What a worker runs: one chunk of lanes, from scratch; the block and f's output structure
    (the caller checks it against its plan: f's output may depend on more than input shapes)."""
    if kind == "reverse":
        rec = _reverse_record(f, args, nums)
        return _reverse_lanes(rec, colors, c0, c1), (rec.o_def, rec.shapes)
    block, o_def, shapes = _forward_lanes(grad(f, nums) if kind == "hvp" else f, args, nums, colors, c0, c1)
    return block, (o_def, shapes)


# --------------------------------------------------------------------------------------------
# Executors and progress


def _parse_executor(executor, name: str):
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(f"{name}: executor must be a concurrent.futures.Executor (something with .submit), got {type(executor).__name__}")
    return executor


def _executor_workers(ex) -> int:
    n = getattr(ex, "_max_workers", None)
    if isinstance(n, int) and n > 0:
        return n
    client = getattr(ex, "_client", None)
    if client is not None:
        try:
            return max(1, sum(client.nthreads().values()))
        except Exception:  # noqa: BLE001  (best effort)
            pass
    return 4


def _pickler_for(ex):
    import concurrent.futures as cf
    import pickle

    if isinstance(ex, cf.ThreadPoolExecutor):
        return None
    mod = type(ex).__module__ or ""
    if not isinstance(ex, cf.ProcessPoolExecutor) and (mod.startswith("distributed") or mod.startswith("dask") or mod.startswith("loky")):
        try:
            import cloudpickle

            return cloudpickle.dumps
        except ImportError:
            return pickle.dumps
    return pickle.dumps


def _pickle_error(name: str, f, ex, err) -> TypeError:
    fname = getattr(f, "__qualname__", None) or repr(f)
    return TypeError(
        f"{name}(executor={type(ex).__name__}): cannot send the function {fname!r} and its arguments to the "
        f"executor's worker processes, because they cannot be pickled ({type(err).__name__}: {err}). Define f "
        "with def at module level (not a lambda, a nested function or a bound method of an unpicklable object) "
        "and pass picklable arguments; or use a ThreadPoolExecutor, or a Dask executor (cloudpickle sends lambdas)."
    )


def _is_pickle_error(e: BaseException) -> bool:
    import pickle

    if isinstance(e, pickle.PicklingError):
        return True
    msg = str(e).lower()
    return isinstance(e, (TypeError, AttributeError)) and ("pickle" in msg or "serializ" in msg)


def _worker_died(e: BaseException) -> bool:
    import concurrent.futures as cf

    return isinstance(e, cf.BrokenExecutor) or type(e).__name__ in ("KilledWorker", "BrokenProcessPool", "WorkerLostError")


class _Progress:
    def __init__(self, total: int, enabled: bool, desc: str):
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError as e:
                raise ImportError(
                    "progress=True shows a tqdm progress bar, but tqdm is not installed: "
                    "pip install dualad[distributed] (or pip install tqdm)"
                ) from e
            self.bar = tqdm(total=total, desc=desc, unit="chunk")

    def update(self):
        if self.bar is not None:
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class _Assembler:
    """The compressed result, filled chunk by chunk: forward blocks (k, rows) go to columns,
    reverse blocks (k, cols) to rows.  Active blocks (nested transforms) are concatenated."""

    def __init__(self, axis_lanes_last: bool):
        self.last = axis_lanes_last
        self.out = None
        self.parts: list | None = None
        self.N = 0

    def begin(self, N: int):
        self.N = N

    def add(self, c0: int, c1: int, block):
        if self.parts is None and (isinstance(block, np.ndarray) or device.is_device(block)):
            if self.out is None:
                shape = (block.shape[1], self.N) if self.last else (self.N, block.shape[1])
                self.out = device.zeros(shape, block.dtype, block)
            if self.last:
                self.out[:, c0:c1] = block.T
            else:
                self.out[c0:c1, :] = block
            return
        if self.parts is None:  # switch to collecting (nested, active blocks)
            self.parts = []
            if self.out is not None:
                raise NotImplementedError("mixing plain and active Jacobian chunks is not supported")
        self.parts.append((c0, block))

    def result(self, width: int, dtype):
        if self.parts is not None:
            blocks = [b for _, b in sorted(self.parts, key=lambda p: p[0])]
            full = np.concatenate(blocks, axis=0)
            return np.transpose(full) if self.last else full
        if self.out is None:
            return np.zeros((width, self.N) if self.last else (self.N, width), dtype=dtype)
        return self.out


class _Engine:
    """Runs the lane passes of one call, serially or on an executor."""

    def __init__(self, f, args, nums, kind: str, executor=None, progress: bool = False, rec: _Recording | None = None, name: str = "jacobian"):
        self.f, self.args, self.nums, self.kind = f, args, nums, kind
        self.executor, self.progress, self.rec, self.name = executor, progress, rec, name
        self.passes = 0
        self.out_info = None

    # serial passes
    def forward(self, colors, c0: int, c1: int):
        g = grad(self.f, self.nums) if self.kind == "hvp" else self.f
        block, o_def, shapes = _forward_lanes(g, self.args, self.nums, colors, c0, c1)
        self.out_info = (o_def, shapes)
        self.passes += 1
        return block

    def reverse(self, colors, c0: int, c1: int):
        if self.rec is None:
            self.rec = _reverse_record(self.f, self.args, self.nums)
        self.out_info = (self.rec.o_def, self.rec.shapes)
        self.passes += 1
        return _reverse_lanes(self.rec, colors, c0, c1)

    def run_forward(self, colors, N: int, chunk: int, prefilled=None):
        """``J S`` as an (m, N) array (``colors`` None: the identity, N = n)."""
        return self._run("forward", colors, N, chunk, prefilled)

    def run_reverse(self, colors, N: int, chunk: int, prefilled=None):
        """``Sᵀ J`` as an (N, n) array."""
        return self._run("reverse", colors, N, chunk, prefilled)

    def _run(self, mode: str, colors, N: int, chunk: int, prefilled):
        asm = _Assembler(axis_lanes_last=(mode == "forward"))
        asm.begin(N)
        start = 0
        if prefilled is not None:
            lo, hi, block = prefilled
            asm.add(lo, hi, block)
            start = hi
        chunk = max(1, int(chunk))
        ranges = [(c, min(c + chunk, N)) for c in range(start, N, chunk)]
        if self.executor is not None and ranges:
            self._run_executor(mode, colors, ranges, asm)
        else:
            bar = _Progress(len(ranges), self.progress, self.name)
            try:
                for c0, c1 in ranges:
                    asm.add(c0, c1, self.forward(colors, c0, c1) if mode == "forward" else self.reverse(colors, c0, c1))
                    bar.update()
            finally:
                bar.close()
        width = self._width(mode)
        dt = self.rec.dtype if self.rec is not None else np.float64
        return asm.result(width, dt)

    def _width(self, mode: str) -> int:
        if mode == "forward":
            if self.rec is not None:
                return sum(self.rec.sizes)
            if self.out_info is not None:
                return sum(int(math.prod(s)) for s in self.out_info[1])
            return 0
        leaves, _, _ = prepare_args(self.args, self.nums)
        return sum(int(math.prod(x.shape)) for x in leaves)

    def _run_executor(self, mode: str, colors, ranges, asm: _Assembler):
        import concurrent.futures as cf

        ex, name = self.executor, self.name
        kind = "hvp" if self.kind == "hvp" else mode
        dumps = _pickler_for(ex)
        if dumps is not None:
            try:
                dumps((self.f, self.args))
            except Exception as e:  # noqa: BLE001  (any pickling failure)
                raise _pickle_error(name, self.f, ex, e) from e
        futures: dict = {}
        bar = _Progress(len(ranges), self.progress, name)
        try:
            try:
                for c0, c1 in ranges:
                    futures[ex.submit(_task, self.f, self.args, self.nums, kind, colors, c0, c1)] = (c0, c1)
            except Exception as e:  # noqa: BLE001
                self._fail(futures, e, None, len(ranges))
            for fut in cf.as_completed(list(futures)):
                c0, c1 = futures[fut]
                try:
                    block, out_info = fut.result()
                except BaseException as e:  # noqa: BLE001  (classified and re-raised)
                    self._fail(futures, e, (c0, c1), len(ranges))
                self.out_info = out_info
                asm.add(c0, c1, block)
                self.passes += 1
                bar.update()
        finally:
            bar.close()

    def _fail(self, futures, e, where, nchunks):
        for fut in futures:
            fut.cancel()
        where_s = f"lanes {where[0]}..{where[1] - 1}" if where else "submitting chunks"
        if _worker_died(e):
            raise RuntimeError(
                f"{self.name}: a worker of the executor died while computing {where_s} ({type(e).__name__}: {e}). "
                f"No partial Jacobian is returned ({nchunks} chunks were submitted). A process pool is unusable after "
                "this: create a new executor. Common causes: the worker ran out of memory (lower chunk_size or "
                "memory_limit), or f called os._exit / crashed the interpreter."
            ) from e
        if _is_pickle_error(e):
            raise _pickle_error(self.name, self.f, self.executor, e) from e
        raise e


# --------------------------------------------------------------------------------------------
# Signatures and caches


def _leaf_sig(x):
    if isinstance(x, (np.ndarray, np.generic, Active)) or device.is_device(x):
        return (tuple(x.shape), np.dtype(x.dtype).str)
    if isinstance(x, (bool, int, float, complex)):
        # by type only: a time t passed to f(x, t) must not re-measure at every step
        return ((), type(x).__name__)
    if x is None or isinstance(x, (str, bytes)):
        return (type(x).__name__, x)
    return (type(x).__name__, id(x))


def _signature(args: tuple) -> tuple:
    """Structure, shapes and dtypes of every argument (the values of strings and None)."""
    sig = []
    for i, a in enumerate(args):
        leaves, d = tree_flatten(a)
        sig.append((d, tuple(_leaf_sig(x) for x in leaves)))
    return tuple(sig)


def _digest(a) -> str:
    import hashlib

    data = np.ascontiguousarray(a)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{data.dtype.str}{data.shape}".encode())
    h.update(data.view(np.uint8).data if data.size else b"")
    return h.hexdigest()


def pattern_key(P) -> tuple:
    """A cache key fixed by a CSR pattern's content (not its identity: ids are reused)."""
    return ("pattern", P.shape, _digest(P.indptr), _digest(P.indices))


def _fingerprint(args: tuple, nums: tuple) -> tuple | None:
    """What a sparsity pattern may depend on besides input shapes: the values of the
    non-differentiated arguments (zeros in products, branches on them), hashed in full.
    None when an argument cannot be keyed by value (an unhashable object): not cached then."""
    fp = []
    for i, a in enumerate(args):
        if i in nums:
            continue
        for x in tree_flatten(a)[0]:
            if isinstance(x, Active):
                x = strip(x)
            if isinstance(x, (np.ndarray, np.generic)):
                fp.append(_digest(x))
            elif x is None or isinstance(x, (bool, int, float, complex, str, bytes)):
                fp.append((type(x).__name__, x))  # Python branches may test them
            else:
                try:
                    hash(x)
                except TypeError:
                    return None
                fp.append(x)  # by its own equality, kept alive by the key (no reused ids)
    return tuple(fp)


def _sparse_input(sparsity, name: str):
    if sparsity is None or (isinstance(sparsity, str) and sparsity == "auto"):
        return None
    if isinstance(sparsity, str):
        raise ValueError(f"{name}: sparsity must be None, 'auto' or a scipy.sparse pattern, got {sparsity!r}")
    if not (hasattr(sparsity, "shape") and len(getattr(sparsity, "shape", ())) == 2):
        raise TypeError(f"{name}: sparsity must be None, 'auto' or a 2-D scipy.sparse pattern, got {type(sparsity).__name__}")
    return sparsity


def _same_structure(out_info, plan) -> bool:
    o_def, shapes = out_info
    return o_def == plan.out_def and [tuple(x) for x in shapes] == [tuple(x) for x in plan.out_shapes]


class _Stale(Exception):
    """A cached plan does not fit f's output any more (its shape depends on more than the
    input shapes, e.g. on the value of a Python number argument)."""


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


# --------------------------------------------------------------------------------------------
# The decision


@dataclass
class Decision:
    """How ``jacobian`` computes the Jacobian for one argument signature, and why.

    Attributes
    ----------
    mode : str
        ``"forward"`` or ``"reverse"``: the mode that runs.
    requested : str
        The ``mode`` argument (``"auto"`` when the cost model chose).
    n, m : int
        Flattened input and output sizes.
    lanes : int
        Lanes to compute in the chosen mode: n or m, or the number of colours when sparse.
    chunk, passes : int
        Lanes per pass and number of passes.
    sparse : bool
        A sparse (coloured) Jacobian.
    colors_forward, colors_reverse : int or None
        Column and row colours of the pattern (sparse only); ``nnz`` its nonzeros.
    estimate_forward_s, estimate_reverse_s : float or None
        The cost model's estimates of both modes (auto mode only).
    forward_pass_s, forward_lane_s, reverse_record_s, reverse_pass_s, reverse_lane_s : float or None
        The measured constants ``a_f, b_f, t_record, a_r, b_r`` of the model.
    forward_lane_bytes, reverse_lane_bytes, base_bytes, memory_limit : int or None
        The memory model and the limit the chunks respect.
    tape_length : int or None
        Entries of the recorded Wengert list.
    probe_s : float
        Time spent measuring (the first call only).
    reason : str
        One sentence on why this mode.
    """

    mode: str
    requested: str
    n: int
    m: int
    lanes: int
    chunk: int
    passes: int
    sparse: bool = False
    colors_forward: int | None = None
    colors_reverse: int | None = None
    nnz: int | None = None
    estimate_forward_s: float | None = None
    estimate_reverse_s: float | None = None
    forward_pass_s: float | None = None
    forward_lane_s: float | None = None
    reverse_record_s: float | None = None
    reverse_pass_s: float | None = None
    reverse_lane_s: float | None = None
    forward_lane_bytes: int | None = None
    reverse_lane_bytes: int | None = None
    base_bytes: int | None = None
    memory_limit: int | None = None
    tape_length: int | None = None
    probe_s: float = 0.0
    reason: str = ""

    def __str__(self) -> str:
        lines = [
            f"jacobian: {self.mode} mode ({self.requested} requested), n={self.n} -> m={self.m}"
            + (f", sparse: {self.nnz} nonzeros, {self.colors_forward} column / {self.colors_reverse} row colours" if self.sparse else ""),
            f"  {self.lanes} lanes in {self.passes} pass(es) of up to {self.chunk}",
        ]
        if self.estimate_forward_s is not None:
            lines.append(
                f"  estimated: forward {self.estimate_forward_s * 1e3:.3g} ms, reverse {self.estimate_reverse_s * 1e3:.3g} ms "
                f"(forward {self.forward_pass_s * 1e6:.3g} us/pass + {self.forward_lane_s * 1e6:.3g} us/lane; reverse "
                f"{self.reverse_record_s * 1e6:.3g} us record + {self.reverse_pass_s * 1e6:.3g} us/sweep + "
                f"{self.reverse_lane_s * 1e6:.3g} us/lane)"
            )
        lines.append(f"  reason: {self.reason}")
        return "\n".join(lines)


@dataclass
class _Fit:
    """Measured pass times {lanes: seconds} of one mode; ``a + b·k`` through the largest two."""

    points: dict = field(default_factory=dict)

    def clipped(self) -> tuple[list, list]:
        """Lane counts and their times, with what noise did to them clipped by two bounds:
        a pass of fewer lanes cannot cost more, and a pass of k lanes cannot cost more than
        k/j passes of j lanes (it does the same work in one go).  A time beyond either is a
        burst of load elsewhere or a first run that loaded kernels."""
        ks = sorted(self.points)
        ts = [self.points[k] for k in ks]
        for i in range(len(ts) - 2, -1, -1):
            ts[i] = min(ts[i], ts[i + 1])
        for i in range(1, len(ts)):
            ts[i] = min(ts[i], min(ts[j] * ks[i] / ks[j] for j in range(i)))
        return ks, ts

    def ab(self) -> tuple[float, float]:
        ks, ts = self.clipped()
        if len(ks) == 1:
            return ts[0], 0.0
        (k1, k2), (t1, t2) = ks[-2:], ts[-2:]
        b = (t2 - t1) / (k2 - k1)
        if b <= 0:  # flat within noise: a tiny positive slope
            b = 0.02 * t2 / k2
        return max(t2 - b * k2, 0.0), b

    def estimate(self, N: int, chunk: int) -> float:
        a, b = self.ab()
        if N in self.points and chunk >= N:
            ks, ts = self.clipped()
            return ts[ks.index(N)]
        return math.ceil(N / max(chunk, 1)) * a + b * N


@dataclass
class _Plan:
    """What is cached per argument signature."""

    n: int
    m: int
    out_def: object
    out_shapes: list
    mem: _MemModel | None
    record_s: float | None
    tape_length: int | None
    fits: dict = field(default_factory=lambda: {"forward": _Fit(), "reverse": _Fit()})
    probe_s: float = 0.0
    dense: dict = field(default_factory=dict)  # the decided mode of the dense Jacobian
    patterns: dict = field(default_factory=dict)  # per fingerprint: pattern, colourings, mode


# --------------------------------------------------------------------------------------------
# jacobian


def jacobian(
    f: Callable,
    argnums: int | Sequence[int] = 0,
    mode: str = "auto",
    chunk_size: int | None = None,
    memory_limit: int | str | None = None,
    sparsity=None,
    executor=None,
    progress: bool = False,
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
    sparsity : None, "auto" or scipy.sparse matrix
        ``"auto"`` detects the pattern without forming the Jacobian; a given ``(m, n)`` pattern
        must contain every nonzero.  Either way the result is a ``scipy.sparse.csr_matrix``
        ``(m, n)`` over the flattened outputs and inputs, computed by colouring.
    executor : concurrent.futures.Executor, optional
        Run the chunks on it (processes, threads, a Dask client's ``get_executor()``) and assemble
        them here.  With process-based executors f must be picklable (a ``def`` at module level).
    progress : bool
        Show a tqdm progress bar over chunks (``pip install dualad[distributed]``).

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
    if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) < 1):
        raise ValueError(f"jacobian: chunk_size must be a positive integer, got {chunk_size!r}")
    limit_arg = _parse_bytes(memory_limit, "jacobian")
    given = _sparse_input(sparsity, "jacobian")
    sparse = sparsity is not None
    _parse_executor(executor, "jacobian")
    single = isinstance(argnums, (int, np.integer))
    if given is not None:  # frozen and keyed by content: a pattern changed later is another key
        from .sparsity import _as_csr

        given = _as_csr(given)
    options = (mode, chunk_size, limit_arg, None if given is None else pattern_key(given), sparse)
    local: dict = {}

    def plans() -> dict:
        try:
            with _LOCK:
                return _PLANS.setdefault(f, {})
        except TypeError:  # f cannot be weakly referenced (a ufunc): cache with this function
            return local

    def caps(plan: _Plan, Nf: int, Nr: int, limit: int) -> tuple[int, int]:
        if chunk_size is not None:
            return min(int(chunk_size), max(Nf, 1)), min(int(chunk_size), max(Nr, 1))
        cap_f = _chunk_cap(limit, plan.mem, "forward_lane", Nf, "jacobian")
        cap_r = _chunk_cap(limit, plan.mem, "reverse_lane", Nr, "jacobian")
        if executor is not None:  # enough chunks to keep every worker busy
            parts = 2 * _executor_workers(executor)
            cap_f, cap_r = min(cap_f, max(1, -(-Nf // parts))), min(cap_r, max(1, -(-Nr // parts)))
        return cap_f, cap_r

    def run(args, finish: bool):
        nums = norm_argnums(argnums, len(args), "jacobian")
        key = (options, nums, _signature(args))
        table = plans()
        try:
            return run_plan(args, nums, table, key, finish)
        except _Stale:  # f's output changed shape for the same input signature: start afresh
            table.pop(key, None)
            return run_plan(args, nums, table, key, finish)

    def run_plan(args, nums, table, key, finish: bool):
        plan = table.get(key)
        rec = None
        if plan is None:
            plan, rec = _analyse(f, args, nums, mode)
            table[key] = plan
        limit = limit_arg if limit_arg is not None else default_memory_limit()
        engine = _Engine(f, args, nums, "forward", executor=executor, progress=progress, rec=rec)
        n, m = plan.n, plan.m
        if sparse:
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
            info = _pattern(plan, args, nums)
            P, colors_f, colors_r = info["P"], info["colors_f"], info["colors_r"]
            Nf, Nr = info["kf"] or 0, info["kr"] or 0  # 0: that colouring was not needed
        else:
            info, P, colors_f, colors_r, Nf, Nr = plan.dense, None, None, None, n, m
        cap_f, cap_r = caps(plan, Nf, Nr, limit)
        prefilled: dict = {}
        if mode != "auto":
            chosen, reason = mode, f"mode={mode!r} was requested"
        elif "mode" in info:
            chosen, reason = info["mode"], info["reason"]
        else:
            chosen, reason = _choose(plan, engine, colors_f, colors_r, Nf, Nr, cap_f, cap_r, prefilled)
            if info.get("cacheable", True):
                info["mode"], info["reason"] = chosen, reason
        # The decision is the same on every call with these settings: built once (the first
        # call's measurements are in the plan by then), reused after.
        dkey = ("decision", chosen, Nf, Nr, cap_f, cap_r, limit)
        decision = info.get(dkey) if info.get("cacheable", True) else None
        if decision is None:
            decision = _decision(plan, chosen, mode, Nf, Nr, cap_f, cap_r, limit, reason)
            if info.get("cacheable", True) and "mode" in info:
                info[dkey] = decision
        if sparse:
            decision.sparse, decision.nnz = True, int(P.nnz)
            decision.colors_forward, decision.colors_reverse = info["kf"], info["kr"]
        jac.decision = decision
        if not finish:
            return decision
        lanes = Nf if chosen == "forward" else Nr
        pre = prefilled.get(chosen)
        if n == 0 or m == 0 or lanes == 0:
            full = np.zeros((m, n) if not sparse else (m if chosen == "forward" else 0, n if chosen == "reverse" else 0))
        elif chosen == "forward":
            full = engine.run_forward(colors_f, Nf, cap_f, pre)
            if full.shape[0] != m:
                raise _Stale()
        else:
            if engine.rec is None and executor is None:
                engine.rec = _reverse_record(f, args, nums)
            if engine.rec is not None and sum(engine.rec.sizes) != m:
                raise _Stale()
            full = engine.run_reverse(colors_r, Nr, cap_r, pre)
        if engine.out_info is not None and not _same_structure(engine.out_info, plan):
            raise _Stale()  # same size, another shape or structure: the cached plan does not apply
        decision.passes = engine.passes + (1 if pre is not None else 0)
        if sparse:
            return info["decompress_f" if chosen == "forward" else "decompress_r"](full)
        return _assemble_dense(full, plan, args, nums, single)

    def _pattern(plan: _Plan, args, nums) -> dict:
        from .sparsity import Decompressor, _as_csr, _trace, color_columns, color_rows

        pkey = _fingerprint(args, nums)
        info = None if pkey is None else plan.patterns.get(pkey)
        if info is not None:
            return info
        if given is not None:
            P = _as_csr(given)
            if P.shape != (plan.m, plan.n):
                raise ValueError(f"jacobian: the given sparsity pattern has shape {P.shape}, but the Jacobian is {(plan.m, plan.n)}")
            dependent = False
        else:
            tr = _trace(f, args, nums)
            P, dependent = tr.jacobian, tr.value_dependent
            if P.shape != (plan.m, plan.n):
                raise _Stale()
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


def _analyse(f, args, nums, mode):
    """Record f once: output structure, tape size, memory model, recording time."""
    leaves, _, _ = prepare_args(args, nums)
    n = sum(int(math.prod(x.shape)) for x in leaves)
    itemsize = max([np.dtype(x.dtype).itemsize for x in leaves] + [4])
    try:
        t0 = time.perf_counter()
        rec = _reverse_record(f, args, nums)
        t_rec = time.perf_counter() - t0
    except Exception:
        if mode == "reverse":
            raise
        # f cannot be recorded (reverse mode lacks something it uses): forward only.
        _, o_def, shapes = _forward_lanes(f, args, nums, None, 0, min(n, 1))
        plan = _Plan(n, sum(int(math.prod(s)) for s in shapes), o_def, shapes, None, None, None)
        plan.dense.update(mode="forward", reason="f could not be recorded for reverse mode")
        return plan, None
    if t_rec < 0.05:  # time a second recording: the first may include one-off costs
        t0 = time.perf_counter()
        rec2 = _reverse_record(f, args, nums)
        t2 = time.perf_counter() - t0
        if t2 < t_rec:
            rec, t_rec = rec2, t2
    m = sum(rec.sizes)
    itemsize = max(itemsize, rec.dtype.itemsize)
    mem = _memory_model(rec.tape, rec.vars_, rec.o_leaves, n, m, itemsize)
    plan = _Plan(n, m, rec.o_def, rec.shapes, mem, t_rec, len(rec.tape.entries))
    return plan, rec


def _choose(plan: _Plan, engine: _Engine, colors_f, colors_r, Nf: int, Nr: int, cap_f: int, cap_r: int, prefilled: dict):
    """Measure both modes on small lane counts (cached per plan) and pick the cheaper."""
    if Nr == 0 and Nf > 0:
        return "reverse", "no output lanes: nothing to sweep"
    if Nf <= 1 and Nf <= Nr:
        return "forward", f"{Nf} input lane(s): one forward pass is the least work"
    if plan.mem is None or plan.record_s is None:
        return "forward", "f could not be recorded for reverse mode"
    t_start = time.perf_counter()
    fits = plan.fits
    runs = {
        "forward": (lambda c0, c1: engine.forward(colors_f, c0, c1)),
        "reverse": (lambda c0, c1: engine.reverse(colors_r, c0, c1)),
    }
    N = {"forward": Nf, "reverse": Nr}
    cap = {"forward": cap_f, "reverse": cap_r}

    def probe(k: int, modes=("forward", "reverse")):
        """Time passes of k lanes in the given modes, interleaved (so that a burst of load
        elsewhere on the machine hits both), keeping the fastest of a few runs of each."""
        todo = []
        for which in modes:
            kk = max(1, min(k, N[which], cap[which]))
            if kk not in fits[which].points:
                todo.append((which, kk))
        best: dict = {}
        rounds, previous = 0, None
        while todo:
            for which, kk in todo:
                if which == "reverse":  # re-record: the recording time is part of the model
                    t0 = time.perf_counter()
                    engine.rec = _reverse_record(engine.f, engine.args, engine.nums)
                    plan.record_s = min(plan.record_s, time.perf_counter() - t0)
                t0 = time.perf_counter()
                block = runs[which](0, kk)
                dt = time.perf_counter() - t0
                if which not in best or dt < best[which]:
                    best[which] = dt
                have = prefilled.get(which)
                if have is None or have[1] < kk:
                    prefilled[which] = (0, kk, block)
            rounds += 1
            worst = max(best.values())
            # Cheap passes: repeat for ~10 ms, so that being descheduled for a few ms (a loaded
            # machine) cannot spoil every run; others at least twice; and on while the times
            # still drop (the first runs load and compile kernels, warm caches).
            target = min(15, max(3, int(0.01 / max(worst, 1e-6)))) if worst < 2e-3 else 2
            warming = previous is not None and worst < 0.8 * previous and rounds < 8
            if rounds >= target and not warming:
                break
            previous = worst
        for which, kk in todo:
            fits[which].points[kk] = best[which]

    def estimates():
        ef = fits["forward"].estimate(Nf, cap_f)
        er = plan.record_s + fits["reverse"].estimate(Nr, cap_r)
        return ef, er

    probe(PROBE_LANES[0])
    probe(PROBE_LANES[1])
    # Larger probes, per mode, while they are affordable: when the estimates are close, or when
    # the probe costs at most half the best mode's estimated total.  Extrapolating from few lanes
    # misses cache effects and noise of the small probes; larger probes correct it, and those of
    # the winner are kept.
    for k in PROBE_LANES[2:]:
        ef, er = estimates()
        close = max(ef, er) <= AMBIGUOUS * min(ef, er)
        more = []
        for which, est in (("forward", 0.0), ("reverse", plan.record_s)):
            kk = min(k, N[which], cap[which])
            if kk <= max(fits[which].points):
                continue
            cost = est + fits[which].estimate(kk, kk)
            if close or cost <= PROBE_BUDGET * min(ef, er):
                more.append(which)
        if not more:
            break
        probe(k, tuple(more))
    # Passes made while probing count for the caller only through prefilled blocks.
    engine.passes = 0
    ef, er = estimates()
    plan.probe_s += time.perf_counter() - t_start
    chosen = "forward" if ef <= er else "reverse"
    reason = (
        f"cost model: forward {ef * 1e3:.3g} ms ({Nf} lanes) vs reverse {er * 1e3:.3g} ms ({Nr} lanes, "
        f"including {plan.record_s * 1e3:.3g} ms to record {plan.tape_length} tape entries)"
    )
    return chosen, reason


def _decision(plan: _Plan, chosen: str, requested: str, Nf: int, Nr: int, cap_f: int, cap_r: int, limit: int, reason: str) -> Decision:
    lanes = Nf if chosen == "forward" else Nr
    chunk = max(1, min(cap_f if chosen == "forward" else cap_r, max(lanes, 1)))
    d = Decision(
        mode=chosen,
        requested=requested,
        n=plan.n,
        m=plan.m,
        lanes=lanes,
        chunk=chunk,
        passes=-(-lanes // chunk) if lanes else 0,
        memory_limit=limit,
        tape_length=plan.tape_length,
        reverse_record_s=plan.record_s,
        probe_s=plan.probe_s,
        reason=reason,
    )
    if plan.mem is not None:
        d.forward_lane_bytes, d.reverse_lane_bytes, d.base_bytes = plan.mem.forward_lane, plan.mem.reverse_lane, plan.mem.base
    ff, fr = plan.fits["forward"], plan.fits["reverse"]
    if ff.points and fr.points and plan.record_s is not None:
        d.forward_pass_s, d.forward_lane_s = ff.ab()
        d.reverse_pass_s, d.reverse_lane_s = fr.ab()
        d.estimate_forward_s = ff.estimate(Nf, cap_f)
        d.estimate_reverse_s = plan.record_s + fr.estimate(Nr, cap_r)
    return d


def _assemble_dense(full, plan: _Plan, args, nums, single: bool):
    """(m, n) -> per output leaf S_out + (n,), then split per input leaf."""
    n = full.shape[1]
    if single and len(plan.out_shapes) == 1 and plan.out_def is None and type(args[nums[0]]) is np.ndarray:
        # one array in, one array out: the (m, n) block is the Jacobian, reshaped
        return full.reshape(tuple(plan.out_shapes[0]) + args[nums[0]].shape)
    leaves, treedef, _ = prepare_args(args, nums)
    blocks, offset = [], 0
    for s in plan.out_shapes:
        size = int(math.prod(s))
        blocks.append(np.reshape(full[offset: offset + size], tuple(s) + (n,)))
        offset += size
    return assemble_jacobian(plan.out_def, blocks, leaves, treedef, single)

