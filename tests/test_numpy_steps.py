"""Program steps that call NumPy on views of the buffer (dualad.transforms.numpy_steps).

Large matrix products (transposed operands read in place, batched, constant operands), large
broadcasts and sums along axes of replayed programs, against the plain transforms, NumPy and
central differences; their adjoints through the program's own adjoint sweep against the plain
gradient; results of successive calls are fresh arrays and the caller's arrays stay as given.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import fd_directional

import dualad as ad
from dualad.transforms import program as P
from dualad.transforms.numpy_steps import AxisSumStep, BroadcastStep, ProductStep
from dualad.transforms.program import lower

RNG = np.random.default_rng(11)
X = RNG.standard_normal((64, 96))
LABELS = np.eye(5)[RNG.integers(0, 5, 64)]


def mlp(W1, b1, W2, b2):
    h = ad.relu(X @ W1 + b1)
    return -np.sum(LABELS * ad.log_softmax(h @ W2 + b2, axis=1)) / X.shape[0]


def _params(seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((96, 80)) * 0.1, rng.standard_normal(80) * 0.1,
            rng.standard_normal((80, 5)) * 0.1, rng.standard_normal(5) * 0.1)


def _steps(jitted):
    (entry,) = jitted._cache.values()
    return [h for _, _, h in entry.rec.program().steps if h is not None]


def test_jit_mlp_gradient_runs_numpy_steps_and_matches_plain_and_fd():
    f = ad.jit(ad.value_and_grad(mlp, argnums=(0, 1, 2, 3)))
    p = _params(0)
    f(*p)
    kinds = {type(h) for h in _steps(f)}
    assert {ProductStep, BroadcastStep, AxisSumStep} <= kinds, kinds
    for seed in (0, 1):  # (a new point may change relu's pattern: recorded again, never stale)
        p = _params(seed)
        value, grads = f(*p)
        want_value, want_grads = ad.value_and_grad(mlp, argnums=(0, 1, 2, 3))(*p)
        np.testing.assert_allclose(value, want_value, rtol=1e-13)
        for g, w in zip(grads, want_grads):
            np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-15)
        v = [np.random.default_rng(seed + 7).standard_normal(q.shape) for q in p]
        fd = fd_directional(lambda t: mlp(*[q + t * d for q, d in zip(p, v)]), 0.0, 1.0)
        np.testing.assert_allclose(sum(np.sum(g * d) for g, d in zip(grads, v)), fd, rtol=1e-6)


def test_results_are_fresh_arrays_and_arguments_untouched():
    f = ad.jit(ad.value_and_grad(mlp, argnums=(0, 1, 2, 3)))
    p = _params(2)
    kept = [q.copy() for q in p]
    _, first = f(*p)
    first_copy = [g.copy() for g in first]
    _, second = f(*[q * 1.01 for q in p])  # the same relu pattern: replayed, not recorded again
    assert f.records == 1
    for a, b, c in zip(first, first_copy, second):
        np.testing.assert_array_equal(a, b)  # the second call did not write into the first's results
        assert not np.shares_memory(a, c)
    for q, k in zip(p, kept):
        np.testing.assert_array_equal(q, k)


@pytest.mark.parametrize("case", ["transposed", "batched", "constant first", "vector", "narrow"])
def test_products_match_numpy_and_their_adjoints_the_plain_gradient(case):
    rng = np.random.default_rng(5)
    c, d = rng.standard_normal((48, 200)), rng.standard_normal((2000, 8)) / 40.0
    fns = {
        "transposed": (lambda x: np.tanh(np.einsum("ji,jk->ik", x, x)), (200, 48)),  # xᵀx, read in place
        "batched": (lambda x: np.einsum("bij,bkj->bik", x, np.sin(x)), (3, 64, 120)),
        "constant first": (lambda x: np.exp(0.1 * (c @ x)), (200, 100)),  # in place, beside a host step
        "vector": (lambda x: x @ np.cos(x), (70_000,)),
        "narrow": (lambda x: np.exp(x @ d), (1100, 2000)),  # a large x by 8 columns: flipped
    }
    fn, shape = fns[case]
    x0, x1 = rng.standard_normal(shape), rng.standard_normal(shape)
    rec = ad.record(fn, x0)
    np.testing.assert_allclose(rec(x1), fn(x1), rtol=1e-12, atol=1e-12)
    products = [h for _, _, h in rec.program().steps if isinstance(h, ProductStep)]
    assert products and any(h.flip for h in products) is (case == "narrow"), rec.program().steps
    # the adjoints: the program's own sweep (forward steps, then each step's adjoint backwards)
    loss = lambda x: np.sum(fn(x) ** 2)
    rec = ad.record(loss, x0)
    prog = lower(rec.tape, rec.leaf_nodes, rec.in_sig, rec.outs)
    value, (grad,) = prog.value_and_grad([x1], rec.outs[0][1])
    np.testing.assert_allclose(value, loss(x1), rtol=1e-12)
    np.testing.assert_allclose(grad, ad.grad(loss)(x1), rtol=1e-10, atol=1e-10)


def test_broadcasts_and_axis_sums_and_their_adjoints():
    rng = np.random.default_rng(6)
    row, col = rng.standard_normal(300), rng.standard_normal((40, 1))

    def f(x):
        y = np.exp(x[:, :1] * 0.1) * row + x * col  # (40, 300): a column and a row broadcast
        return np.sum(np.sum(y, axis=0) ** 2) + np.sum(np.sum(y * y, axis=1, keepdims=True) * col)

    x0, x1 = rng.standard_normal((40, 300)), rng.standard_normal((40, 300))
    rec = ad.record(f, x0)
    kinds = {type(h) for _, _, h in rec.program().steps}
    assert {BroadcastStep, AxisSumStep} <= kinds, kinds
    np.testing.assert_allclose(rec(x1), f(x1), rtol=1e-12)
    g = ad.jit(ad.grad(f))
    np.testing.assert_allclose(g(x1), ad.grad(f)(x1), rtol=1e-11)
    prog = lower(rec.tape, rec.leaf_nodes, rec.in_sig, rec.outs)
    value, (grad,) = prog.value_and_grad([x1], rec.outs[0][1])
    np.testing.assert_allclose(value, f(x1), rtol=1e-12)
    np.testing.assert_allclose(grad, ad.grad(f)(x1), rtol=1e-11)


def test_jit_jacrev_of_a_tall_map_broadcasts_in_numpy_and_matches_plain():
    """The recorded reverse lanes multiply output-sized vectors into the identity seed (600 ×
    600): NumPy's ufuncs read those vectors in place rather than a fused run reading copies."""
    rng = np.random.default_rng(8)
    A, B = rng.standard_normal((600, 8)), rng.standard_normal((600, 8))

    def f(x):
        return np.tanh(A @ x) * (B @ np.sin(x))

    def hand(x):
        t, s = np.tanh(A @ x), B @ np.sin(x)
        return ((1.0 - t * t) * s)[:, None] * A + t[:, None] * B * np.cos(x)[None, :]

    j = ad.jit(ad.jacrev(f))
    x0, x1 = rng.standard_normal(8), rng.standard_normal(8)
    first = j(x0)
    kept = first.copy()
    second = j(x1)
    assert j.records == 1
    np.testing.assert_allclose(first, hand(x0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(second, hand(x1), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(second, ad.jacrev(f)(x1), rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(first, kept)
    (entry,) = j._cache.values()
    big = [h for _, _, h in entry.rec.program().steps
           if isinstance(h, BroadcastStep) and np.prod(h.out_shape) >= P.BROADCAST_UFUNC_MIN]
    assert not big, big
