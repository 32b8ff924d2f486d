"""asv benchmarks for the Jacobian engine (issue 5): mode choice on tall and wide Jacobians,
sparse Rosenbrock Hessians."""

import numpy as np

from dualad.transforms.jacobian import jacobian
from dualad.transforms.nested import sparse_hessian
from dualad.transforms.sparsity import hessian_sparsity

SHAPES = {"tall": (8, 2000), "wide": (2000, 8)}


def tall_wide_problem(n, m, seed=0):
    """``tanh(A @ x) * (B @ sin(x))`` from R^n to R^m, as in the issue."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(n)
    B = rng.standard_normal((m, n)) / np.sqrt(n)

    def f(x):
        return np.tanh(A @ x) * (B @ np.sin(x))

    return f, rng.standard_normal(n)


def rosenbrock(x):
    """The generalised Rosenbrock function in NumPy (scipy.optimize.rosen)."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


class TallWideJacobian:
    """Tall 8 -> 2000 and wide 2000 -> 8 Jacobians in each mode and in auto (decided in setup)."""

    params = (list(SHAPES), ["auto", "forward", "reverse"])
    param_names = ["shape", "mode"]

    def setup(self, shape, mode):
        self.f, self.x = tall_wide_problem(*SHAPES[shape])
        self.jac = jacobian(self.f, mode=mode)
        self.jac(self.x)  # decide (auto) and compile kernels outside the timings
        self.jac(self.x)

    def time_jacobian(self, shape, mode):
        self.jac(self.x)

    def peakmem_jacobian(self, shape, mode):
        self.jac(self.x)


class ModeChoiceSweep:
    """``auto`` against both fixed modes on a grid of shapes: auto should track the faster."""

    params = ([8, 100, 1000], [8, 100, 1000], ["auto", "forward", "reverse"])
    param_names = ["n", "m", "mode"]
    timeout = 300

    def setup(self, n, m, mode):
        self.f, self.x = tall_wide_problem(n, m)
        self.jac = jacobian(self.f, mode=mode)
        self.jac(self.x)
        self.jac(self.x)

    def time_jacobian(self, n, m, mode):
        self.jac(self.x)


class AutoFirstCall:
    """The first call of ``auto`` on a new function: recording, probes, then the Jacobian."""

    params = list(SHAPES)
    param_names = ["shape"]

    def setup(self, shape):
        self.f, self.x = tall_wide_problem(*SHAPES[shape])
        self.jac = jacobian(self.f)
        self.jac(self.x)  # compile kernels once

    def time_first_call(self, shape):
        self.jac.clear_cache()  # forget the decision: measure, decide, compute
        self.jac(self.x)


class SparseRosenbrockHessian:
    """Sparse Hessian of the generalised Rosenbrock function by star colouring (3 colours)."""

    params = [1000, 100_000]
    param_names = ["n"]
    timeout = 120

    def setup(self, n):
        self.x = np.random.default_rng(0).uniform(-2.0, 2.0, n)
        self.hess = sparse_hessian(rosenbrock)
        self.hess(self.x)  # detect the pattern, colour, compile: once per signature
        self.hess(self.x)

    def time_sparse_hessian(self, n):
        self.hess(self.x)

    def time_detect_pattern(self, n):
        hessian_sparsity(rosenbrock, self.x)

    def peakmem_sparse_hessian(self, n):
        self.hess(self.x)


class DenseRosenbrockReference:
    """SciPy's hand-written dense ``rosen_hess`` at n = 1000, for scale."""

    def setup(self):
        from scipy.optimize import rosen_hess

        self.rosen_hess = rosen_hess
        self.x = np.random.default_rng(0).uniform(-2.0, 2.0, 1000)

    def time_scipy_rosen_hess_dense(self):
        self.rosen_hess(self.x)


class SparseTridiagonalJacobian:
    """A tridiagonal Jacobian at n = 1e5: pattern cached, 3 lanes."""

    def setup(self):
        self.x = np.linspace(0.0, 1.0, 100_000)
        self.jac = jacobian(lambda x: x[2:] - 2.0 * np.sin(x[1:-1]) + x[:-2] ** 2, sparsity="auto")
        self.jac(self.x)
        self.jac(self.x)

    def time_sparse_jacobian(self):
        self.jac(self.x)
