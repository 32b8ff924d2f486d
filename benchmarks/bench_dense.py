"""asv benchmarks for W4–W6: dense Jacobians, dense Hessians in all four orders, HVPs.

Parameters name the variant: the NumPy baselines (``numpy-primal``: the function alone;
``numpy-hand``: the hand-written derivative), dualad's transforms in each mode, and replayed
recordings (:func:`dualad.record`).  ``auto`` (``dualad.transforms.jacobian.jacobian`` with
``mode="auto"``) is skipped while that module does not exist.

The forward-over-forward and reverse-over-forward Hessians at n = 1000 carry n² lanes through
n-element arrays (about 35 s a call here, 8 GB without chunking); they are skipped unless the
environment variable ``DUALAD_BENCH_SLOW`` is set to ``1`` (then with ``chunk_size=50``).
``peakmem_`` benchmarks skip the NumPy baselines (the bare process, ~45 MB), the recordings of
W4 and the n = 100 Hessians, to keep ``asv run --quick`` short.

As in :mod:`benchmarks.bench_core`, the state of each variant is built once per process by a
memoised function (asv re-runs ``setup`` before every sample) and asv's warm-up call loads the
kernels before the timed samples.
"""

import functools
import os

import numpy as np

import dualad as ad

from ._settings import SlowCalls, skip_for_params
from .workloads import HESSIAN_ORDERS, W4_SHAPES, W5_SIZES, W6_SIZE, Rosenbrock, TanhSin, auto_jacobian, rosenbrock

#: Chunk size used by the over-forward Hessians at n = 1000 when they run (bounds their memory).
SLOW_CHUNK = 50


def _slow_enabled() -> bool:
    return os.environ.get("DUALAD_BENCH_SLOW", "") == "1"


#: The variants of :class:`Hessian`.
_W5_VARIANTS = ["numpy-hand", *HESSIAN_ORDERS, "record"]

#: Parameter tuples of :class:`Hessian` left out unless ``DUALAD_BENCH_SLOW=1``.
_SLOW_HESSIANS = [] if _slow_enabled() else [(n, o) for n in W5_SIZES if n > 100 for o in HESSIAN_ORDERS if o.endswith("over-forward")]

#: ``peakmem_hessian`` also leaves out n = 100 (a few MB) and the NumPy baseline.
_PEAKMEM_HESSIAN_SKIPS = _SLOW_HESSIANS + [(n, v) for n in W5_SIZES for v in _W5_VARIANTS if n == 100 or v == "numpy-hand"]


# -- W4 -------------------------------------------------------------------------------------------
@functools.cache
def _w4_state(shape: str, variant: str):
    w = TanhSin(shape)
    x = w.x
    if variant == "numpy-primal":
        fn = functools.partial(w.f, x)
    elif variant == "numpy-hand":
        fn = functools.partial(w.jacobian, x)
    elif variant == "forward":
        fn = functools.partial(ad.jacfwd(w.f), x)
    elif variant == "reverse":
        fn = functools.partial(ad.jacrev(w.f), x)
    elif variant == "auto":
        jacobian = auto_jacobian()
        if jacobian is None:
            raise NotImplementedError("dualad.transforms.jacobian does not exist yet")
        fn = functools.partial(jacobian(w.f, mode="auto"), x)
    elif variant in ("record-forward", "record-reverse"):
        fn = functools.partial(ad.record(w.f, x).jacobian, x, mode=variant.split("-")[1])
    else:
        raise ValueError(variant)
    return fn


class Jacobian(SlowCalls):
    """W4: the Jacobian of tanh(A x) · (B sin x), tall 8 → 2000 and wide 2000 → 8.

    Forward mode should win on the tall map (8 lanes against 2000 reverse sweeps), reverse mode
    on the wide one; ``auto`` should pick the winner.
    """

    params = [list(W4_SHAPES), ["numpy-primal", "numpy-hand", "forward", "reverse", "auto", "record-forward", "record-reverse"]]
    param_names = ["shape", "variant"]

    def setup(self, shape, variant):
        self.fn = _w4_state(shape, variant)

    def time_jacobian(self, shape, variant):
        self.fn()

    @skip_for_params([(s, v) for s in W4_SHAPES for v in ("numpy-primal", "numpy-hand", "record-forward", "record-reverse")])
    def peakmem_jacobian(self, shape, variant):
        self.fn()


# -- W5 -------------------------------------------------------------------------------------------
@functools.cache
def _w5_state(n: int, variant: str, chunk_size: int | None = None):
    x = Rosenbrock(n).x
    if variant == "numpy-hand":
        fn = functools.partial(Rosenbrock.hessian, x)
    elif variant == "record":
        fn = functools.partial(ad.record(rosenbrock, x).hessian, x)
    elif variant in HESSIAN_ORDERS:
        if n > 100 and variant.endswith("over-forward"):
            chunk_size = chunk_size or SLOW_CHUNK
        fn = functools.partial(ad.hessian(rosenbrock, mode=variant, chunk_size=chunk_size), x)
    else:
        raise ValueError(variant)
    return fn


class Hessian(SlowCalls):
    """W5: the dense Hessian of the generalised Rosenbrock function in all four orders.

    ``record`` replays a recorded tape forward-over-reverse.  The default ``chunk_size``
    (all n lanes at once) is what is timed; :class:`HessianChunks` varies it.  The over-forward
    orders at n = 1000 run only with ``DUALAD_BENCH_SLOW=1`` (see the module docstring).
    """

    params = [list(W5_SIZES), _W5_VARIANTS]
    param_names = ["n", "variant"]

    def setup(self, n, variant):
        self.fn = _w5_state(n, variant)

    @skip_for_params(_SLOW_HESSIANS)
    def time_hessian(self, n, variant):
        self.fn()

    @skip_for_params(_PEAKMEM_HESSIAN_SKIPS)
    def peakmem_hessian(self, n, variant):
        self.fn()


class HessianChunks(SlowCalls):
    """W5 at n = 1000, forward-over-reverse, with the outer level's lanes in chunks.

    Against ``Hessian.time_hessian(1000, "forward-over-reverse")`` (all 1000 lanes at once).
    """

    params = [["forward-over-reverse"], [16, 64]]
    param_names = ["order", "chunk_size"]

    def setup(self, order, chunk_size):
        self.fn = _w5_state(1000, order, chunk_size)

    def time_hessian(self, order, chunk_size):
        self.fn()


# -- W6 -------------------------------------------------------------------------------------------
def _hvp_reverse_over_reverse(f, x, v):
    return ad.grad(lambda y: np.sum(ad.grad(f)(y) * v))(x)


def _hvp_reverse_over_forward(f, x, v):
    return ad.grad(lambda y: ad.jvp(f, (y,), (v,))[1])(x)


@functools.cache
def _w6_state(variant: str):
    w = Rosenbrock(W6_SIZE)
    x, v = w.x, w.v
    fns = {
        "numpy-primal": functools.partial(rosenbrock, x),
        "numpy-hand": functools.partial(Rosenbrock.hvp, x, v),
        "forward-over-reverse": functools.partial(ad.hvp, rosenbrock, x, v),
        "reverse-over-reverse": functools.partial(_hvp_reverse_over_reverse, rosenbrock, x, v),
        "reverse-over-forward": functools.partial(_hvp_reverse_over_forward, rosenbrock, x, v),
    }
    return fns[variant]


class HessianVectorProduct(SlowCalls):
    """W6: H(x) v for the Rosenbrock function at n = 1e5, without forming H.

    ``forward-over-reverse`` is :func:`dualad.hvp`; the other orders are written with
    ``grad`` and ``jvp`` (forward-over-forward would need n lanes, so it is not an HVP).
    """

    params = ["numpy-primal", "numpy-hand", "forward-over-reverse", "reverse-over-reverse", "reverse-over-forward"]
    param_names = ["variant"]
    repeat = (3, 20, 5.0)

    def setup(self, variant):
        self.fn = _w6_state(variant)

    def time_hvp(self, variant):
        self.fn()

    @skip_for_params([("numpy-hand",)])
    def peakmem_hvp(self, variant):
        self.fn()
