"""The lane engine: chunks of forward or reverse lane passes (:mod:`.lanes`), run serially or
on a ``concurrent.futures.Executor``, with a progress bar, assembled into ``J S`` or ``Sᵀ J``."""

from __future__ import annotations

import numpy as np

from ..core import device
from .common import check_inputs_dtype, check_output_dtype, is_single, norm_argnums, prepare_args, size_of
from .executors import Progress, is_pickle_error, pickle_error, pickler_for, worker_died
from .lanes import ReverseRecording, forward_lanes, forward_pass, reverse_lanes, reverse_record, rows_to_jacobian
from .options import JacobianOptions

__all__ = ["LaneEngine", "Assembler", "run_task", "lane_jacobian"]


def run_task(f, args, nums, mode: str, colors, c0: int, c1: int):
    """What a worker runs: one chunk of lanes of ``f``'s Jacobian, from scratch; the block and
    f's output structure (the caller checks it against its plan: f's output may depend on more
    than input shapes).  ``f`` is the lane target itself: for a Hessian, a picklable gradient
    of the user's function (:class:`dualad.transforms.nested.InnerDerivative`)."""
    if mode == "reverse":
        rec = reverse_record(f, args, nums)
        return reverse_lanes(rec, colors, c0, c1), (rec.o_def, rec.shapes)
    block, o_def, shapes = forward_lanes(f, args, nums, colors, c0, c1)
    return block, (o_def, shapes)



class Assembler:
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
            if self.out is None and c0 == 0 and c1 == self.N:  # one chunk: no copy
                self.out = block.T if self.last else block
                return
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


class LaneEngine:
    """Runs the lane passes of one call of ``f``'s Jacobian, serially or on an executor.

    jacfwd, jacrev, jacobian, hessian (with ``f`` a gradient) and sparse_hessian all run
    their lanes here; ``prepared`` is the call's arguments flattened once
    (:func:`dualad.transforms.common.prepare_args`).
    """

    def __init__(self, f, args, nums, executor=None, progress: bool = False,
                 rec: ReverseRecording | None = None, name: str = "jacobian", prepared=None):
        self.f, self.args, self.nums = f, args, nums
        self.executor, self.progress, self.rec, self.name = executor, progress, rec, name
        self.passes = 0
        self.out_info = None
        self._prepared = prepared

    @property
    def prepared(self):
        """``(leaves, treedef, rebuild)`` of the differentiated arguments, computed once."""
        if self._prepared is None:
            self._prepared = prepare_args(self.args, self.nums)
        return self._prepared

    @property
    def n(self) -> int:
        """The number of scalar inputs (the Jacobian's columns)."""
        leaves = self.rec.leaves if self.rec is not None else self.prepared[0]
        return sum(size_of(x.shape) for x in leaves)

    # serial passes
    def forward(self, colors, c0: int, c1: int):
        leaves, _, rebuild = self.prepared
        block, o_def, shapes = forward_pass(self.f, leaves, rebuild, colors, c0, c1, self.name)
        self.out_info = (o_def, shapes)
        self.passes += 1
        return block

    def reverse(self, colors, c0: int, c1: int):
        if self.rec is None:
            self.rec = reverse_record(self.f, self.args, self.nums, self.name)
        self.out_info = (self.rec.o_def, self.rec.shapes)
        self.passes += 1
        return reverse_lanes(self.rec, colors, c0, c1)

    def run_forward(self, colors, N: int, chunk: int, prefilled=None):
        """``J S`` as an (m, N) array (``colors`` None: the identity, N = n)."""
        return self._run("forward", colors, N, chunk, prefilled)

    def run_reverse(self, colors, N: int, chunk: int, prefilled=None):
        """``Sᵀ J`` as an (N, n) array."""
        return self._run("reverse", colors, N, chunk, prefilled)

    def _run(self, mode: str, colors, N: int, chunk: int, prefilled):
        asm = Assembler(axis_lanes_last=(mode == "forward"))
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
            bar = Progress(len(ranges), self.progress, self.name)
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
                return sum(size_of(s) for s in self.out_info[1])
            return 0
        return self.n

    def _run_executor(self, mode: str, colors, ranges, asm: Assembler):
        import concurrent.futures as cf

        ex, name = self.executor, self.name
        dumps = pickler_for(ex)
        if dumps is not None:
            try:
                dumps((self.f, self.args))
            except Exception as e:  # noqa: BLE001  (any pickling failure)
                raise pickle_error(name, self.f, ex, e) from e
        futures: dict = {}
        bar = Progress(len(ranges), self.progress, name)
        try:
            try:
                for c0, c1 in ranges:
                    futures[ex.submit(run_task, self.f, self.args, self.nums, mode, colors, c0, c1)] = (c0, c1)
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
        if worker_died(e):
            raise RuntimeError(
                f"{self.name}: a worker of the executor died while computing {where_s} ({type(e).__name__}: {e}). "
                f"No partial Jacobian is returned ({nchunks} chunks were submitted). A process pool is unusable after "
                "this: create a new executor. Common causes: the worker ran out of memory (lower chunk_size or "
                "memory_limit), or f called os._exit / crashed the interpreter."
            ) from e
        if is_pickle_error(e):
            raise pickle_error(self.name, self.f, self.executor, e) from e
        raise e


def lane_jacobian(f, argnums, chunk_size, mode: str, name: str, executor=None, progress: bool = False,
                  holomorphic: bool = False):
    """The dense Jacobian transform on the lane engine: ``jacfwd`` (``mode="forward"``: input
    lanes, one pass per chunk) and ``jacrev`` (``"reverse"``: one recording, one sweep per chunk
    of output rows) are this with their names.  ``holomorphic``: JAX's checks and complex
    lanes (see :func:`dualad.transforms.common.check_inputs_dtype`).

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.transforms.engine import lane_jacobian
    >>> lane_jacobian(np.sin, 0, None, "reverse", "jacrev")(np.zeros(2))
    array([[1., 0.],
           [0., 1.]])
    """
    options = JacobianOptions.make(name, mode, chunk_size, executor=executor, progress=progress)
    if holomorphic and options.executor is not None:
        raise NotImplementedError(f"{name}(holomorphic=True) runs its passes here: drop executor=")
    single = is_single(argnums)
    run = {"executor": options.executor, "progress": options.progress, "name": name}
    serial = options.executor is None and not options.progress

    def jac(*args):
        nums = norm_argnums(argnums, len(args), name)
        if mode == "reverse":
            rec = reverse_record(f, args, nums, name, holomorphic)
            m = sum(rec.sizes)
            if serial and options.chunk(m) >= m > 0:  # one sweep: no engine, executor or progress
                full = reverse_lanes(rec, None, 0, m)
            else:
                full = LaneEngine(f, args, nums, rec=rec, **run).run_reverse(None, m, options.chunk(m))
            return rows_to_jacobian(full, rec.o_def, rec.shapes, rec.leaves, rec.treedef, single)
        engine = LaneEngine(f, args, nums, **run)
        check_inputs_dtype(name, holomorphic, engine.prepared[0], forward=True)
        n = engine.n
        if n == 0:  # no input lanes: one empty pass still learns the output's structure
            full = np.transpose(engine.forward(None, 0, 0))
        else:
            full = engine.run_forward(None, n, options.chunk(n))
        check_output_dtype(name, holomorphic, full.dtype, forward=True)
        leaves, treedef, _ = engine.prepared
        return rows_to_jacobian(full, *engine.out_info, leaves, treedef, single)

    jac.__name__ = f"{name}({getattr(f, '__name__', 'f')})"
    return jac
