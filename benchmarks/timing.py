"""A timer shared by the benchmark scripts that are run by hand (not by asv)."""

from __future__ import annotations

import os
import time

__all__ = ["best_of", "one_cpu"]


def best_of(fn, repeat: int = 7, clock=time.perf_counter, warm: bool = False) -> float:
    """The shortest of ``repeat`` timed calls of ``fn`` (after one untimed call if ``warm``).

    ``clock`` is ``time.perf_counter`` (wall) or ``time.process_time`` (CPU time of this
    process: on a loaded machine, time spent descheduled does not count).

    Examples
    --------
    >>> best_of(lambda: sum(range(100)), repeat=3) > 0.0
    True
    """
    if warm:
        fn()
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times)


def one_cpu():
    """A ``preexec_fn`` for :func:`subprocess.run` that pins the child to one CPU (None where the
    platform cannot).

    Thread-count variables do not bound every pool: jaxlib's CPU client runs a large ``dot`` on
    two threads even with ``XLA_FLAGS=intra_op_parallelism_threads=1`` (a 128×784 by 784×256
    matmul: 0.51 ms against NumPy's 0.99 ms on one thread here, 0.97 ms pinned). A one-thread
    comparison therefore pins every system's process to the same single CPU.

    Examples
    --------
    >>> pin = one_cpu()
    >>> pin is None or callable(pin)
    True
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    return lambda: os.sched_setaffinity(0, {cpu})
