"""asv benchmarks for W1–W3: scalar code, an elementwise chain, an MLP; per-op cost; import.

Each class takes the *variant* as an asv parameter — the NumPy baselines, forward mode, reverse
mode, a replayed recording (:func:`dualad.record`) and a compiled recording — and builds only
that variant, so a ``peakmem_`` result is the variant's own peak (the process's, Numba and kernel
loading included), not its neighbours'.  asv's warm-up call loads the kernels before the timed
samples (a ``--quick`` run has no warm-up and times that first call: a smoke test, not a figure).

asv re-runs ``setup`` before every sample, so the state (inputs, transformed functions, compiled
recordings) is built once per process by the memoised ``_state`` functions and only looked up after.
"""

import functools
import math
import subprocess
import sys

import numpy as np

import dualad as ad

from ._settings import SlowCalls, skip_for_params
from .workloads import (
    MLP,
    PENDULUM_POINT,
    W1_POINT,
    lecture,
    lecture_value_and_grad,
    pendulum,
    pendulum_value_and_grad,
    w2,
    w2_input,
    w2_value_and_grad,
)


# -- W1 -------------------------------------------------------------------------------------------
@functools.cache
def _w1_state(variant: str):
    x1, x2 = W1_POINT
    if variant == "python-hand":
        fn = functools.partial(lecture_value_and_grad, x1, x2)
    elif variant == "forward":
        jac = ad.jacfwd(lecture, argnums=(0, 1))
        fn = functools.partial(jac, x1, x2)
    elif variant == "reverse":
        fn = functools.partial(ad.value_and_grad(lecture, argnums=(0, 1)), x1, x2)
    elif variant == "record":
        fn = functools.partial(ad.record(lecture, x1, x2).value_and_grad, x1, x2)
    elif variant == "compiled":
        fn = functools.partial(ad.record(lecture, x1, x2).compile().value_and_grad, x1, x2)
    elif variant == "jit":
        fn = functools.partial(ad.jit(ad.value_and_grad(lecture, argnums=(0, 1))), x1, x2)
    else:
        raise ValueError(variant)
    return fn


class Lecture:
    """W1: value and gradient of ln x1 + x1 x2 − sin x2 at (2, 5).

    ``python-hand`` is the hand-written derivative in plain Python (``math``); ``forward`` is
    ``jacfwd`` (two lanes), ``reverse`` is ``value_and_grad``; ``record`` replays a recorded tape,
    ``compiled`` runs the tape compiled by Numba and ``jit`` is ``jit(value_and_grad)``.
    """

    params = ["python-hand", "forward", "reverse", "record", "compiled", "jit"]
    param_names = ["variant"]
    number = 200
    repeat = (5, 20, 5.0)

    def setup(self, variant):
        self.fn = _w1_state(variant)

    def time_value_and_grad(self, variant):
        self.fn()


class ScalarOverhead:
    """Per-operation cost of scalar values: one Dual product, one recorded Variable product."""

    number = 2000
    repeat = (5, 20, 5.0)

    def setup(self):
        self.d = ad.Dual(2.0, 1.0)
        self.v = ad.Variable(2.0)

    def time_dual_multiply(self):
        self.d * self.d

    def time_variable_multiply(self):
        self.v * self.v


# -- W2 -------------------------------------------------------------------------------------------
def _w2_lanes(x, lanes):
    """W2 at a Dual carrying ``len(lanes)`` tangent lanes: its value and directional derivatives."""
    out = w2(ad.Dual(x, lanes))
    return out.primal, out.tangent


@functools.cache
def _w2_state(variant: str):
    x = w2_input()
    if variant == "numpy-primal":
        fn = functools.partial(w2, x)
    elif variant == "numpy-hand":
        fn = functools.partial(w2_value_and_grad, x)
    elif variant == "forward-1":
        fn = functools.partial(ad.jvp, w2, (x,), (np.ones_like(x),))
    elif variant == "forward-8":
        v8 = np.random.default_rng(1).standard_normal((8, x.size))
        fn = functools.partial(_w2_lanes, x, v8)
    elif variant == "reverse":
        fn = functools.partial(ad.value_and_grad(w2), x)
    elif variant == "record":
        fn = functools.partial(ad.record(w2, x).value_and_grad, x)
    elif variant == "compiled":
        fn = functools.partial(ad.record(w2, x).compile().value_and_grad, x)
    elif variant == "jit":
        fn = functools.partial(ad.jit(ad.value_and_grad(w2)), x)
    else:
        raise ValueError(variant)
    return fn


class ElementwiseChain(SlowCalls):
    """W2 at n = 1e6: NumPy primal and hand gradient; forward with 1 and 8 lanes; reverse
    gradient; replayed and compiled recordings; ``jit(value_and_grad)``."""

    params = ["numpy-primal", "numpy-hand", "forward-1", "forward-8", "reverse", "record", "compiled", "jit"]
    param_names = ["variant"]

    def setup(self, variant):
        self.fn = _w2_state(variant)

    def time_w2(self, variant):
        self.fn()

    @skip_for_params([("numpy-hand",), ("forward-1",)])
    def peakmem_w2(self, variant):
        self.fn()


# -- W3 -------------------------------------------------------------------------------------------
@functools.cache
def _w3_state(variant: str):
    mlp = MLP()
    p = mlp.params
    if variant == "numpy-primal":
        fn = functools.partial(mlp.numpy_loss, *p)
    elif variant == "numpy-hand":
        fn = functools.partial(mlp.numpy_value_and_grads, *p)
    elif variant == "forward-jvp":
        fn = functools.partial(ad.jvp, mlp.loss, p, mlp.tangents())
    elif variant == "reverse":
        fn = functools.partial(ad.value_and_grad(mlp.loss, argnums=(0, 1, 2, 3)), *p)
    elif variant == "record":
        fn = functools.partial(ad.record(mlp.loss, *p).value_and_grad, *p)
    elif variant == "jit":
        fn = functools.partial(ad.jit(ad.value_and_grad(mlp.loss, argnums=(0, 1, 2, 3))), *p)
    else:
        raise ValueError(variant)
    return fn


class MultilayerPerceptron:
    """W3: all four parameter gradients of a 784-256-10 MLP, batch 128.

    ``forward-jvp`` is one directional derivative (forward mode cannot give all 203 530
    gradient entries at this price); the recording is not compilable (matmuls), so there is
    no ``compiled`` variant; ``jit`` is ``jit(value_and_grad)``.
    """

    params = ["numpy-primal", "numpy-hand", "forward-jvp", "reverse", "record", "jit"]
    param_names = ["variant"]
    number = 1
    repeat = (5, 30, 5.0)

    def setup(self, variant):
        self.fn = _w3_state(variant)

    def time_mlp(self, variant):
        self.fn()

    @skip_for_params([("numpy-primal",), ("forward-jvp",)])
    def peakmem_mlp(self, variant):
        self.fn()


# -- the pendulum ---------------------------------------------------------------------------------
@functools.cache
def _pendulum_state(variant: str):
    p = PENDULUM_POINT
    if variant == "python-primal":
        fn = functools.partial(pendulum, *p, xp=math)
    elif variant == "python-hand":
        fn = functools.partial(pendulum_value_and_grad, *p)
    elif variant == "reverse":
        fn = functools.partial(ad.value_and_grad(pendulum, argnums=(0, 1, 2, 3)), *p)
    elif variant == "jit":
        fn = functools.partial(ad.jit(ad.value_and_grad(pendulum, argnums=(0, 1, 2, 3))), *p)
    else:
        raise ValueError(variant)
    return fn


class Pendulum(SlowCalls):
    """Value and gradient of a damped pendulum integrated 1000 steps (four scalar parameters):
    the loop in plain Python floats, its hand-written adjoint, ``value_and_grad`` and its ``jit``
    (whose calls replay the recording; its first call is in ``bench_firstcall``)."""

    params = ["python-primal", "python-hand", "reverse", "jit"]
    param_names = ["variant"]

    def setup(self, variant):
        self.fn = _pendulum_state(variant)

    def time_pendulum(self, variant):
        self.fn()


# -- import ---------------------------------------------------------------------------------------
class Import:
    """``import dualad`` in a fresh interpreter, against NumPy and Numba's own import."""

    timeout = 120
    number = 1
    repeat = (3, 10, 10.0)
    warmup_time = 0.0

    def time_import_dualad(self):
        subprocess.run([sys.executable, "-c", "import dualad"], check=True)

    def time_import_numpy_numba(self):
        subprocess.run([sys.executable, "-c", "import numpy, numba"], check=True)
