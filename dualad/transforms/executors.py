"""Executors and progress: how many workers an executor has, pickling f for worker processes,
classifying what failed in a worker, and the tqdm progress bar over passes."""

from __future__ import annotations

__all__ = ["executor_workers", "pickler_for", "pickle_error", "is_pickle_error", "worker_died", "Progress"]


def executor_workers(ex) -> int:
    """Workers of an executor (``_max_workers``, a Dask client's threads), else 4.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> from dualad.transforms.executors import executor_workers
    >>> with ThreadPoolExecutor(3) as ex:
    ...     executor_workers(ex)
    3
    """
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


def pickler_for(ex):
    """How f and the arguments are sent to the executor's workers: None for threads, cloudpickle
    for Dask (when installed), else ``pickle.dumps``.

    Examples
    --------
    >>> from concurrent.futures import ThreadPoolExecutor
    >>> from dualad.transforms.executors import pickler_for
    >>> with ThreadPoolExecutor(1) as ex:
    ...     pickler_for(ex) is None
    True
    """
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


def pickle_error(name: str, f, ex, err) -> TypeError:
    """The ``TypeError`` saying that f or its arguments cannot be sent to worker processes.

    Examples
    --------
    >>> from concurrent.futures import ProcessPoolExecutor
    >>> from dualad.transforms.executors import pickle_error
    >>> "cannot be pickled" in str(pickle_error("jacobian", abs, ProcessPoolExecutor, ValueError("x")))
    True
    """
    fname = getattr(f, "__qualname__", None) or repr(f)
    return TypeError(
        f"{name}(executor={type(ex).__name__}): cannot send the function {fname!r} and its arguments to the "
        f"executor's worker processes, because they cannot be pickled ({type(err).__name__}: {err}). Define f "
        "with def at module level (not a lambda, a nested function or a bound method of an unpicklable object) "
        "and pass picklable arguments; or use a ThreadPoolExecutor, or a Dask executor (cloudpickle sends lambdas)."
    )


def is_pickle_error(e: BaseException) -> bool:
    """Whether an exception from submitting or running a chunk is a pickling failure.

    Examples
    --------
    >>> import pickle
    >>> from dualad.transforms.executors import is_pickle_error
    >>> is_pickle_error(pickle.PicklingError("no")), is_pickle_error(ValueError("no"))
    (True, False)
    """
    import pickle

    if isinstance(e, pickle.PicklingError):
        return True
    msg = str(e).lower()
    return isinstance(e, (TypeError, AttributeError)) and ("pickle" in msg or "serializ" in msg)


def worker_died(e: BaseException) -> bool:
    """Whether an exception means that a worker of the executor died.

    Examples
    --------
    >>> from concurrent.futures import BrokenExecutor
    >>> from dualad.transforms.executors import worker_died
    >>> worker_died(BrokenExecutor()), worker_died(ValueError())
    (True, False)
    """
    import concurrent.futures as cf

    return isinstance(e, cf.BrokenExecutor) or type(e).__name__ in ("KilledWorker", "BrokenProcessPool", "WorkerLostError")


class Progress:
    """A tqdm bar over passes when enabled (tqdm is then required), else nothing.

    Examples
    --------
    >>> from dualad.transforms.executors import Progress
    >>> bar = Progress(3, False, "jacobian")
    >>> bar.update(); bar.close()
    """

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

