"""A user's asv benchmarks of their own model's derivatives, made by dualad.asv_suite.

Run from this folder (``examples/asv_project``)::

    asv machine --yes
    asv run --python=same --quick        # or without --quick for real timings
    asv publish && asv preview           # the web report

asv collects every module-level class below; each times the value, the gradient, the
Jacobians and the Hessian orders asked for, and the gradient's peak memory.
"""

import numpy as np

import dualad as ad


def rosenbrock(x):
    """The chained Rosenbrock function: a scalar loss with a banded Hessian."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def mlp_loss(W1, W2, X, y):
    """A one-hidden-layer network's mean squared error."""
    return np.mean((np.tanh(X @ W1) @ W2 - y) ** 2)


def residual(u):
    """A vector function (a 1-D reaction-diffusion residual): Jacobians only."""
    return np.concatenate([u[:1], u[:-2] - 2.0 * u[1:-1] + u[2:] + 0.1 * np.sin(u[1:-1]), u[-1:]])


_rng = np.random.default_rng(0)

Rosenbrock = ad.asv_suite(rosenbrock, (np.linspace(-1.0, 1.0, 200),), name="Rosenbrock",
                          hessian_orders=["forward-over-reverse", "reverse-over-reverse"])

MLP = ad.asv_suite(mlp_loss, (_rng.standard_normal((10, 32)) * 0.3, _rng.standard_normal(32) * 0.3,
                              _rng.standard_normal((256, 10)), _rng.standard_normal(256)),
                   name="MLP", argnums=(0, 1), jacobian_modes=("reverse",))

Residual = ad.asv_suite(residual, (np.linspace(0.0, 1.0, 500),), name="Residual")
