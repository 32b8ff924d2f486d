"""The benchmark workloads W1–W6 of issue 7, shared by the asv suite, the figures and compare.py.

Each workload builds its inputs once (fixed seed) and exposes plain callables, so that what is
timed is exactly the differentiation and nothing else.  The functions take an array namespace
``xp`` (``numpy`` by default, which is also how dualad sees them; ``math``, ``jax.numpy``,
``torch`` or ``autograd.numpy`` for the peers), so every system differentiates the same source.
Each workload also carries a hand-written NumPy reference for its derivatives, against which
every system's result is checked before it is timed.

=====  ========================================================================  ===============
W1     value and gradient of ln x1 + x1 x2 − sin x2 at (2, 5)                    :func:`lecture`
W2     value and gradient of sum(sin x · exp(−x²) + log1p(x²)), n = 1e6           :func:`w2`
W3     all gradients of a 784-256-10 ReLU MLP, softmax cross-entropy, batch 128   :class:`MLP`
W4     Jacobian of tanh(A x) · (B sin x), tall 8→2000 and wide 2000→8             :class:`TanhSin`
W5     dense Hessian of the generalised Rosenbrock function, n = 100 and 1000     :class:`Rosenbrock`
W6     Hessian-vector product of the same, n = 1e5                                :class:`Rosenbrock`
P      value and gradient of a damped pendulum integrated 1000 steps, 4 scalars   :func:`pendulum`
=====  ========================================================================  ===============
"""

from __future__ import annotations

import math

import numpy as np

import dualad as ad

#: The Hessian orders of :func:`dualad.hessian`, outer mode first.
HESSIAN_ORDERS = ("forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward")

#: W4's two shapes, ``(n_in, n_out)``.
W4_SHAPES = {"tall": (8, 2000), "wide": (2000, 8)}

#: W1's point.
W1_POINT = (2.0, 5.0)

#: Problem sizes of W2, W5 and W6.
W2_SIZE = 1_000_000
W5_SIZES = (100, 1000)
W6_SIZE = 100_000

#: The pendulum's parameters (theta0, g_over_l, c, dt) and its number of steps.
PENDULUM_POINT = (0.8, 9.81, 0.1, 1e-3)
PENDULUM_STEPS = 1000


def auto_jacobian():
    """``dualad.transforms.jacobian.jacobian`` (mode ``"auto"``) if that module exists, else ``None``."""
    try:
        from dualad.transforms.jacobian import jacobian
    except ImportError:
        return None
    return jacobian


# -- W1 -------------------------------------------------------------------------------------------
def lecture(x1, x2, xp=np):
    """W1: the lecture function ln x1 + x1 x2 − sin x2.

    Parameters
    ----------
    x1, x2 : float or scalar array
        The point.
    xp : module
        Array namespace providing ``log`` and ``sin`` (``math`` for plain Python floats).

    Returns
    -------
    scalar
        The value, of the namespace's scalar type.
    """
    return xp.log(x1) + x1 * x2 - xp.sin(x2)


def lecture_value_and_grad(x1: float, x2: float) -> tuple[float, tuple[float, float]]:
    """Hand-written value and gradient of :func:`lecture` (the W1 reference).

    Parameters
    ----------
    x1, x2 : float
        The point.

    Returns
    -------
    tuple
        ``(f, (df/dx1, df/dx2))`` as Python floats.
    """
    return lecture(x1, x2, xp=math), (1.0 / x1 + x2, x1 - math.cos(x2))


# -- W2 -------------------------------------------------------------------------------------------
def w2(x, xp=np):
    """W2: an elementwise chain reduced to a scalar, ``sum(sin x · exp(−x²) + log1p(x²))``.

    Parameters
    ----------
    x : array
        The input vector.
    xp : module
        Array namespace providing ``sum``, ``sin``, ``exp`` and ``log1p``.

    Returns
    -------
    scalar
    """
    return xp.sum(xp.sin(x) * xp.exp(-(x**2)) + xp.log1p(x**2))


def w2_value_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
    """Hand-written value and gradient of :func:`w2` (the W2 reference).

    Parameters
    ----------
    x : ndarray
        The input vector.

    Returns
    -------
    tuple
        ``(f, grad)``.
    """
    x2 = x * x
    s, c, e = np.sin(x), np.cos(x), np.exp(-x2)
    value = np.sum(s * e + np.log1p(x2))
    return value, (c - 2.0 * x * s) * e + 2.0 * x / (1.0 + x2)


def w2_input(n: int = W2_SIZE, seed: int = 0) -> np.ndarray:
    """W2's input: ``n`` standard normal samples.

    Parameters
    ----------
    n : int
        Length.
    seed : int
        Seed of the generator.

    Returns
    -------
    ndarray
    """
    return np.random.default_rng(seed).standard_normal(n)


# -- W3 -------------------------------------------------------------------------------------------
class MLP:
    """W3: a 784-256-10 ReLU MLP with softmax cross-entropy on a batch of 128.

    Parameters
    ----------
    batch : int
        Batch size.
    seed : int
        Seed of the generator for data and parameters.

    Attributes
    ----------
    X : ndarray
        Inputs, ``(batch, 784)``.
    labels : ndarray
        Integer class labels; ``Y`` is their one-hot encoding.
    params : tuple of ndarray
        ``(W1, b1, W2, b2)``.
    """

    def __init__(self, batch: int = 128, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.X = rng.standard_normal((batch, 784))
        self.labels = rng.integers(0, 10, size=batch)
        self.Y = np.eye(10)[self.labels]
        self.params = (
            rng.standard_normal((784, 256)) * 0.05,
            np.zeros(256),
            rng.standard_normal((256, 10)) * 0.05,
            np.zeros(10),
        )

    def loss(self, W1, b1, W2, b2):
        """The mean cross-entropy, written for dualad (NumPy code plus dualad's stable helpers)."""
        h = ad.relu(self.X @ W1 + b1)
        logits = h @ W2 + b2
        return -np.sum(self.Y * ad.log_softmax(logits, axis=1)) / self.X.shape[0]

    def numpy_loss(self, W1, b1, W2, b2) -> float:
        """The loss alone in plain NumPy (the primal cost)."""
        z = np.maximum(self.X @ W1 + b1, 0.0) @ W2 + b2
        z = z - z.max(axis=1, keepdims=True)
        return -np.sum(self.Y * (z - np.log(np.exp(z).sum(axis=1, keepdims=True)))) / self.X.shape[0]

    def numpy_value_and_grads(self, W1, b1, W2, b2):
        """Hand-written forward and backward pass in NumPy (the reference cost and result)."""
        n = self.X.shape[0]
        a = self.X @ W1 + b1
        h = np.maximum(a, 0.0)
        z = h @ W2 + b2
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        p = e / e.sum(axis=1, keepdims=True)
        loss = -np.sum(self.Y * (z - np.log(e.sum(axis=1, keepdims=True)))) / n
        dz = (p - self.Y) / n
        dW2 = h.T @ dz
        db2 = dz.sum(axis=0)
        dh = dz @ W2.T
        da = dh * (a > 0)
        dW1 = self.X.T @ da
        db1 = da.sum(axis=0)
        return loss, (dW1, db1, dW2, db2)

    def tangents(self, seed: int = 1) -> tuple[np.ndarray, ...]:
        """A random direction in parameter space, for a forward-mode JVP."""
        rng = np.random.default_rng(seed)
        return tuple(rng.standard_normal(p.shape) for p in self.params)


# -- W4 -------------------------------------------------------------------------------------------
def tanh_sin(x, A, B, xp=np):
    """W4: ``tanh(A x) · (B sin x)``, a map R^n → R^m.

    Parameters
    ----------
    x : array, shape (n,)
        The input.
    A, B : array, shape (m, n)
        Fixed matrices.
    xp : module
        Array namespace providing ``tanh`` and ``sin``.

    Returns
    -------
    array, shape (m,)
    """
    return xp.tanh(A @ x) * (B @ xp.sin(x))


class TanhSin:
    """W4's inputs and hand-written Jacobian for one shape.

    Parameters
    ----------
    shape : {"tall", "wide"}
        ``"tall"`` is 8 → 2000 (forward mode wins), ``"wide"`` is 2000 → 8 (reverse mode wins).
    seed : int
        Seed of the generator.

    Attributes
    ----------
    n_in, n_out : int
        Input and output sizes.
    A, B : ndarray, shape (n_out, n_in)
        The fixed matrices (scaled by ``1/sqrt(n_in)`` so that ``tanh`` is not saturated).
    x : ndarray, shape (n_in,)
        The point.
    """

    def __init__(self, shape: str, seed: int = 0):
        self.n_in, self.n_out = W4_SHAPES[shape]
        rng = np.random.default_rng(seed)
        scale = 1.0 / np.sqrt(self.n_in)
        self.A = rng.standard_normal((self.n_out, self.n_in)) * scale
        self.B = rng.standard_normal((self.n_out, self.n_in)) * scale
        self.x = rng.standard_normal(self.n_in)

    def f(self, x):
        """The map, as dualad differentiates it."""
        return tanh_sin(x, self.A, self.B)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """Hand-written Jacobian, shape ``(n_out, n_in)``."""
        t = np.tanh(self.A @ x)
        s = self.B @ np.sin(x)
        return ((1.0 - t * t) * s)[:, None] * self.A + t[:, None] * self.B * np.cos(x)[None, :]


# -- W5, W6 ---------------------------------------------------------------------------------------
def rosenbrock(x, xp=np):
    """The generalised Rosenbrock function ``Σ 100 (x[i+1] − x[i]²)² + (1 − x[i])²``.

    Parameters
    ----------
    x : array, shape (n,)
        The point, ``n ≥ 2``.
    xp : module
        Array namespace providing ``sum``.

    Returns
    -------
    scalar
    """
    head = x[:-1]
    return xp.sum(100.0 * (x[1:] - head**2) ** 2 + (1.0 - head) ** 2)


class Rosenbrock:
    """W5/W6: a point, a direction and the hand-written derivatives of :func:`rosenbrock`.

    Parameters
    ----------
    n : int
        Dimension.
    seed : int
        Seed of the generator.

    Attributes
    ----------
    x, v : ndarray, shape (n,)
        The point and an HVP direction.
    """

    def __init__(self, n: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.n = n
        self.x = rng.standard_normal(n)
        self.v = rng.standard_normal(n)

    @staticmethod
    def gradient(x: np.ndarray) -> np.ndarray:
        """Hand-written gradient."""
        g = np.zeros_like(x)
        r = x[1:] - x[:-1] ** 2
        g[:-1] = -400.0 * x[:-1] * r - 2.0 * (1.0 - x[:-1])
        g[1:] += 200.0 * r
        return g

    @staticmethod
    def _bands(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        diag = np.zeros_like(x)
        diag[:-1] = 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
        diag[1:] += 200.0
        return diag, -400.0 * x[:-1]

    @classmethod
    def hessian(cls, x: np.ndarray) -> np.ndarray:
        """Hand-written dense Hessian (tridiagonal, stored dense as W5 asks)."""
        diag, off = cls._bands(x)
        n = x.size
        H = np.zeros((n, n))
        H[np.arange(n), np.arange(n)] = diag
        H[np.arange(n - 1), np.arange(1, n)] = off
        H[np.arange(1, n), np.arange(n - 1)] = off
        return H

    @classmethod
    def hvp(cls, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Hand-written Hessian-vector product ``H(x) v`` (never forming H)."""
        diag, off = cls._bands(x)
        out = diag * v
        out[:-1] += off * v[1:]
        out[1:] += off * v[:-1]
        return out


def pendulum(theta, g_over_l, c, dt, steps: int = PENDULUM_STEPS, xp=np):
    """Final angle² + angular velocity² of a damped pendulum, semi-implicit Euler from rest.

    ``omega -= dt (g_over_l sin theta + c omega); theta += dt omega``, ``steps`` times: scalar
    code whose tape is 6 entries a step.  ``xp`` gives ``sin`` (``math`` for plain floats).
    """
    omega = 0.0 * theta
    for _ in range(steps):
        omega = omega - dt * (g_over_l * xp.sin(theta) + c * omega)
        theta = theta + dt * omega
    return theta**2 + omega**2


def pendulum_value_and_grad(theta, g_over_l, c, dt, steps: int = PENDULUM_STEPS):
    """The pendulum's value and gradient in its four parameters: the trajectory, then one hand-
    written adjoint sweep backwards over it (plain Python floats)."""
    thetas, omegas = [theta], [0.0]
    for _ in range(steps):
        omega = omegas[-1] - dt * (g_over_l * math.sin(thetas[-1]) + c * omegas[-1])
        thetas.append(thetas[-1] + dt * omega)
        omegas.append(omega)
    tb, wb = 2.0 * thetas[-1], 2.0 * omegas[-1]
    gb = cb = dtb = 0.0
    for k in range(steps - 1, -1, -1):
        th, om, om1 = thetas[k], omegas[k], omegas[k + 1]
        wb += dt * tb  # theta_{k+1} = theta_k + dt omega_{k+1}
        dtb += tb * om1
        dtb -= wb * (g_over_l * math.sin(th) + c * om)  # omega_{k+1} = omega_k - dt (...)
        gb -= wb * dt * math.sin(th)
        cb -= wb * dt * om
        tb -= wb * dt * g_over_l * math.cos(th)
        wb *= 1.0 - dt * c
    return thetas[-1] ** 2 + omegas[-1] ** 2, (tb, gb, cb, dtb)
