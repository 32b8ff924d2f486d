"""A timer shared by the benchmark scripts that are run by hand (not by asv)."""

from __future__ import annotations

import time

__all__ = ["best_of"]


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
