"""checkpoint: the same values and derivatives in every mode and order, and a tape that keeps
only the checkpointed calls' inputs and outputs (√n checkpointing of a long loop)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import dualad as ad

HESSIAN_MODES = ["forward-over-reverse", "reverse-over-forward", "forward-over-forward", "reverse-over-reverse"]


def _step(x, p):
    return x + 0.01 * np.tanh(p["W"] @ x + p["b"])


def _block(x, p, k=5):
    for _ in range(k):
        x = _step(x, p)
    return x


_seg = ad.checkpoint(_block, static_argnums=(2,))


def _loss(p, x, seg):
    for _ in range(4):
        x = seg(x, p, 5)
    return np.sum(x**2)


rng = np.random.default_rng(0)
P = {"W": rng.normal(size=(3, 3)), "b": rng.normal(size=3)}
X0 = rng.normal(size=3)


def test_values_and_gradients_equal_the_plain_ones():
    assert _loss(P, X0, _seg) == _loss(P, X0, _block)
    g1, g0 = ad.grad(_loss)(P, X0, _seg), ad.grad(_loss)(P, X0, _block)
    assert type(g1) is dict
    for k in P:
        np.testing.assert_allclose(g1[k], g0[k], rtol=1e-13)
    np.testing.assert_allclose(ad.jacrev(lambda x: _seg(x, P, 5))(X0), ad.jacfwd(lambda x: _block(x, P))(X0), rtol=1e-12)
    np.testing.assert_allclose(ad.jacfwd(lambda x: _seg(x, P, 5))(X0), ad.jacfwd(lambda x: _block(x, P))(X0), rtol=1e-12)


@pytest.mark.parametrize("mode", HESSIAN_MODES)
def test_hessians_equal_the_plain_ones(mode):
    def f(b, seg):
        return _loss({"W": P["W"], "b": b}, X0, seg)

    np.testing.assert_allclose(ad.hessian(f, mode=mode)(P["b"], _seg), ad.hessian(f, mode=mode)(P["b"], _block), rtol=1e-10)


def test_nested_checkpoints_and_pytree_outputs():
    inner = ad.checkpoint(lambda x: (np.sin(x), {"c": np.cos(x)}))
    outer = ad.checkpoint(lambda x: inner(x)[0] * inner(2 * x)[1]["c"])
    x = np.array([0.3, 0.7])
    expected = np.cos(x) * np.cos(2 * x) - 2 * np.sin(x) * np.sin(2 * x)
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(outer(x)))(x), expected)
    np.testing.assert_allclose(ad.hessian(lambda x: np.sum(outer(x)), mode="reverse-over-reverse")(x),
                               ad.hessian(lambda x: np.sum(outer(x)), mode="forward-over-forward")(x), rtol=1e-12)


def test_the_tape_keeps_one_entry_per_checkpointed_call():
    tape = ad.Tape()
    x = tape.variable(X0)
    y = _seg(x, P, 5)
    assert [e.op.name for e in tape.entries] == ["checkpoint"]
    assert "v1 = checkpoint[_block](v0, const, const)" in str(tape)   # W and b are constants here
    y = np.sum(y * y)
    y.backward()
    np.testing.assert_allclose(x.grad, ad.grad(lambda x: np.sum(_block(x, P) ** 2))(X0))


def test_closure_over_a_differentiated_value_raises():
    def f(w):
        return np.sum(ad.checkpoint(lambda x: x * w)(np.ones(2)))

    with pytest.raises(TypeError, match="checkpoint function .* closes over it"):
        ad.grad(f)(2.0)


def _long(x, n):
    for _ in range(n):
        x = x + 0.001 * np.sin(x)
    return x


def _loop_loss(x, k):
    n = 2000
    if k is None:
        return np.sum(_long(x, n))
    seg = ad.checkpoint(_long, static_argnums=(1,))
    for _ in range(n // k):
        x = seg(x, k)
    return np.sum(_long(x, n % k))


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_sqrt_n_checkpointing_halves_peak_memory_of_a_2000_step_loop():
    x = np.linspace(0.0, 1.0, 400)
    g_plain = ad.grad(_loop_loss)(x, None)
    g_ckpt = ad.grad(_loop_loss)(x, 45)   # √2000 ≈ 45 steps per segment
    np.testing.assert_allclose(g_ckpt, g_plain, rtol=1e-12)
    plain = _peak(lambda: ad.grad(_loop_loss)(x, None))
    ckpt = _peak(lambda: ad.grad(_loop_loss)(x, 45))
    assert ckpt <= plain / 2, (ckpt, plain)


def test_jax_keywords_and_decorator_use():
    import functools

    @functools.partial(ad.checkpoint, static_argnums=1, prevent_cse=False)
    def power(x, n):
        return x**n

    assert float(ad.grad(power)(2.0, 3)) == 12.0
    with pytest.raises(NotImplementedError, match="policy"):
        ad.checkpoint(np.sin, policy=lambda *a: True)
