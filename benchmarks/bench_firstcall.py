"""asv benchmarks for the first call: kernel compilation (cold cache) and cache loading (warm).

Each workload runs in a fresh interpreter with ``DUALAD_CACHE_DIR`` pointing at a new temporary
directory (``cold``: every kernel is generated and compiled by Numba), then once more in another
fresh interpreter on the directory the first run filled (``warm``: kernels are loaded from the
cache).  The child times only the first call, after ``import dualad`` and the inputs are built,
and prints the seconds; the numbers are asv ``track`` results in seconds.

Run a single measurement by hand with ``python -m benchmarks.bench_firstcall w2-reverse``.
"""

import functools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The workloads whose first call is measured (see :func:`_first_call`).
WORKLOADS = ["w1-compiled", "w2-reverse", "w2-forward-8", "w5-hessian", "pendulum-jit", "pendulum-jit-10000"]

_ROOT = Path(__file__).resolve().parents[1]
_MODULE = f"{__package__ or 'benchmarks'}.bench_firstcall"


def _first_call(workload: str) -> float:
    """Build the inputs of ``workload``, then time its first call (run inside the child)."""
    import numpy as np

    import dualad as ad

    from .workloads import PENDULUM_POINT, W1_POINT, Rosenbrock, lecture, pendulum, rosenbrock, w2, w2_input

    if workload == "w1-compiled":

        def call():
            return ad.record(lecture, *W1_POINT).compile().value_and_grad(*W1_POINT)

    elif workload == "w2-reverse":
        x = w2_input()
        vg = ad.value_and_grad(w2)

        def call():
            return vg(x)

    elif workload == "w2-forward-8":
        x = w2_input()
        v8 = np.random.default_rng(1).standard_normal((8, x.size))

        def call():
            return w2(ad.Dual(x, v8))

    elif workload == "w5-hessian":
        x = Rosenbrock(100).x
        h = ad.hessian(rosenbrock)

        def call():
            return h(x)

    elif workload.startswith("pendulum-jit"):  # record the 1000 (10,000) steps and replay once
        steps = 10_000 if workload.endswith("10000") else 1000
        vg = ad.jit(ad.value_and_grad(functools.partial(pendulum, steps=steps), argnums=(0, 1, 2, 3)))

        def call():
            return vg(*PENDULUM_POINT)

    else:
        raise ValueError(f"unknown workload {workload!r}; choose from {WORKLOADS}")
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(workload: str, cache_dir: str) -> float:
    """Run ``workload``'s first call in a fresh interpreter using ``cache_dir``; its seconds."""
    env = dict(os.environ, DUALAD_CACHE_DIR=cache_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = subprocess.run(
        [sys.executable, "-m", _MODULE, workload], cwd=_ROOT, env=env, check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip().splitlines()[-1])


class FirstCall:
    """Seconds of the first call of each workload, with a cold and with a warm kernel cache."""

    params = [WORKLOADS, ["cold", "warm"]]
    param_names = ["workload", "cache"]
    timeout = 600

    def setup_cache(self):
        results = {}
        for workload in WORKLOADS:
            with tempfile.TemporaryDirectory(prefix="dualad-bench-cache-") as tmp:
                results[workload, "cold"] = measure(workload, tmp)
                results[workload, "warm"] = measure(workload, tmp)
        return results

    def track_first_call(self, results, workload, cache):
        return results[workload, cache]

    track_first_call.unit = "seconds"


if __name__ == "__main__":
    print(_first_call(sys.argv[1]))
