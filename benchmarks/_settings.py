"""Settings shared by the asv benchmark modules (mixins and process set-up; no benchmarks here).

asv imports the benchmark modules once in a server process and forks a child per benchmark and
parameter set (``"launch_method": "forkserver"`` in ``asv.conf.json``).  dualad imports Numba
lazily, on the first kernel it needs, which would cost every child about half a second;
importing Numba here, in the server, lets the children inherit it.  Nothing is compiled or run
here, so no thread pool exists before the fork.
"""

import numba  # noqa: F401  (inherited by the forked benchmark processes; see above)

try:
    from asv_runner.benchmarks.mark import skip_for_params
except ImportError:  # imported outside asv: nothing to skip

    def skip_for_params(skip_params_list):
        """Stand-in for asv's decorator that skips the listed parameter tuples (no-op here)."""
        return lambda func: func


__all__ = ["SlowCalls", "skip_for_params"]


class SlowCalls:
    """For calls of about 0.05–2 s: one call per sample, a few samples, a bounded time per round.

    asv's defaults (up to 10 samples or 20 s per round, two rounds, 60 s timeout) would spend
    minutes on each of these and time out on the slowest; the class attributes below are read
    by asv through inheritance.  asv's default warm-up (0.1 s, at least one call) stays: it
    loads the kernels before the first sample.
    """

    number = 1
    repeat = (3, 10, 10.0)
    timeout = 300
