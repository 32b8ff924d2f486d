"""asv benchmarks for the core: forward lanes, reverse gradients, per-op overhead, import."""

import subprocess
import sys

import numpy as np

import dualad as ad

from .workloads import MLP, lecture, w2


class ElementwiseChain:
    """W2 at n = 1e6: NumPy primal, forward with 1 and 8 lanes, reverse gradient."""

    def setup(self):
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal(1_000_000)
        self.v1 = np.ones_like(self.x)
        self.v8 = rng.standard_normal((8, self.x.size))
        self.grad = ad.grad(w2)
        w2(ad.Dual(self.x, self.v8))  # compile outside the timings
        ad.jvp(w2, (self.x,), (self.v1,))
        self.grad(self.x)

    def time_numpy_primal(self):
        w2(self.x)

    def time_forward_1_lane(self):
        ad.jvp(w2, (self.x,), (self.v1,))

    def time_forward_8_lanes(self):
        w2(ad.Dual(self.x, self.v8))

    def time_reverse_grad(self):
        self.grad(self.x)

    def peakmem_reverse_grad(self):
        self.grad(self.x)


class ScalarCode:
    """W1 and the per-op cost of scalar Duals."""

    def setup(self):
        self.vg = ad.value_and_grad(lecture, argnums=(0, 1))
        self.d = ad.Dual(2.0, 1.0)
        self.vg(2.0, 5.0)

    def time_value_and_grad_lecture(self):
        self.vg(2.0, 5.0)

    def time_scalar_dual_multiply(self):
        self.d * self.d


class MultilayerPerceptron:
    """W3: all four parameter gradients of a 784-256-10 MLP, batch 128."""

    def setup(self):
        self.mlp = MLP()
        self.vg = ad.value_and_grad(self.mlp.loss, argnums=(0, 1, 2, 3))
        self.vg(*self.mlp.params)

    def time_numpy_hand_backward(self):
        self.mlp.numpy_value_and_grads(*self.mlp.params)

    def time_dualad_value_and_grad(self):
        self.vg(*self.mlp.params)


class Import:
    """``import dualad`` in a fresh interpreter, beyond NumPy and Numba's own import."""

    timeout = 120

    def time_import_dualad(self):
        subprocess.run([sys.executable, "-c", "import dualad"], check=True)

    def time_import_numpy_numba(self):
        subprocess.run([sys.executable, "-c", "import numpy, numba"], check=True)
