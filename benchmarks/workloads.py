"""The benchmark workloads, shared by the asv suite and the figures script.

Each workload builds its inputs once (fixed seed) and exposes plain callables, so that what is
timed is exactly the differentiation and nothing else.
"""

from __future__ import annotations

import numpy as np

import dualad as ad


def lecture(x1, x2):
    """W1: the lecture function ln x1 + x1 x2 − sin x2."""
    return np.log(x1) + x1 * x2 - np.sin(x2)


def w2(x):
    """W2: an elementwise chain reduced to a scalar."""
    return np.sum(np.sin(x) * np.exp(-(x**2)) + np.log1p(x**2))


class MLP:
    """W3: a 784-256-10 ReLU MLP with softmax cross-entropy on a batch of 128."""

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
        h = ad.relu(self.X @ W1 + b1)
        logits = h @ W2 + b2
        return -np.sum(self.Y * ad.log_softmax(logits, axis=1)) / self.X.shape[0]

    def numpy_value_and_grads(self, W1, b1, W2, b2):
        """Hand-written forward and backward pass in NumPy (the reference cost)."""
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
