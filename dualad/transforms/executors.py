"""Executors and progress: how many workers an executor has, pickling f for worker processes,
classifying what failed in a worker, and the tqdm progress bar over passes."""

from __future__ import annotations

__all__ = ["executor_workers", "pickler_for", "pickle_error", "is_pickle_error", "worker_died", "Progress"]


def executor_workers(ex) -> int:
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
    fname = getattr(f, "__qualname__", None) or repr(f)
    return TypeError(
        f"{name}(executor={type(ex).__name__}): cannot send the function {fname!r} and its arguments to the "
        f"executor's worker processes, because they cannot be pickled ({type(err).__name__}: {err}). Define f "
        "with def at module level (not a lambda, a nested function or a bound method of an unpicklable object) "
        "and pass picklable arguments; or use a ThreadPoolExecutor, or a Dask executor (cloudpickle sends lambdas)."
    )


def is_pickle_error(e: BaseException) -> bool:
    import pickle

    if isinstance(e, pickle.PicklingError):
        return True
    msg = str(e).lower()
    return isinstance(e, (TypeError, AttributeError)) and ("pickle" in msg or "serializ" in msg)


def worker_died(e: BaseException) -> bool:
    import concurrent.futures as cf

    return isinstance(e, cf.BrokenExecutor) or type(e).__name__ in ("KilledWorker", "BrokenProcessPool", "WorkerLostError")


class Progress:
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

