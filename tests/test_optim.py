"""dualad.optim: SGD, momentum, Nesterov and Adam against the formulas, two steps by hand."""

from __future__ import annotations

import numpy as np
import pytest

import dualad as ad
from dualad import optim

P0 = np.array([1.0, -2.0, 0.5])
G1 = np.array([0.3, -0.1, 2.0])
G2 = np.array([-0.5, 0.4, 1.0])


def two_steps(opt, p=P0, grads=(G1, G2)):
    state = opt.init({"w": p})
    params = {"w": p}
    for g in grads:
        params, state = opt.update({"w": g}, state, params)
    return params["w"], state


def test_sgd_plain():
    lr = 0.1
    p, state = two_steps(optim.SGD(lr))
    np.testing.assert_allclose(p, P0 - lr * G1 - lr * G2)
    assert state.count == 2 and state.velocity["w"] is None


def test_sgd_momentum():
    lr, mu = 0.1, 0.9
    v1 = G1
    p1 = P0 - lr * v1
    v2 = mu * v1 + G2
    p2 = p1 - lr * v2
    p, state = two_steps(optim.SGD(lr, momentum=mu))
    np.testing.assert_allclose(p, p2)
    np.testing.assert_allclose(state.velocity["w"], v2)


def test_sgd_nesterov():
    lr, mu = 0.1, 0.9
    v1 = G1
    p1 = P0 - lr * (G1 + mu * v1)
    v2 = mu * v1 + G2
    p2 = p1 - lr * (G2 + mu * v2)
    p, state = two_steps(optim.SGD(lr, momentum=mu, nesterov=True))
    np.testing.assert_allclose(p, p2)
    np.testing.assert_allclose(state.velocity["w"], v2)


def test_adam():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    m1 = (1 - b1) * G1
    s1 = (1 - b2) * G1**2
    p1 = P0 - lr * (m1 / (1 - b1)) / (np.sqrt(s1 / (1 - b2)) + eps)
    m2 = b1 * m1 + (1 - b1) * G2
    s2 = b2 * s1 + (1 - b2) * G2**2
    p2 = p1 - lr * (m2 / (1 - b1**2)) / (np.sqrt(s2 / (1 - b2**2)) + eps)
    p, state = two_steps(optim.Adam(lr))
    np.testing.assert_allclose(p, p2, rtol=1e-13)
    np.testing.assert_allclose(state.mu["w"], m2)
    np.testing.assert_allclose(state.nu["w"], s2)
    assert state.count == 2
    # The first Adam step moves every coordinate by lr (up to eps): sign(g) · lr.
    p_first, _ = two_steps(optim.Adam(lr), grads=(G1,))
    np.testing.assert_allclose(P0 - p_first, lr * np.sign(G1), rtol=1e-6)


def test_adam_custom_betas():
    lr, b1, b2, eps = 0.05, 0.5, 0.9, 1e-3
    m1, s1 = (1 - b1) * G1, (1 - b2) * G1**2
    p1 = P0 - lr * (m1 / (1 - b1)) / (np.sqrt(s1 / (1 - b2)) + eps)
    m2, s2 = b1 * m1 + (1 - b1) * G2, b2 * s1 + (1 - b2) * G2**2
    p2 = p1 - lr * (m2 / (1 - b1**2)) / (np.sqrt(s2 / (1 - b2**2)) + eps)
    p, _ = two_steps(optim.Adam(lr, b1=b1, b2=b2, eps=eps))
    np.testing.assert_allclose(p, p2, rtol=1e-13)


def test_update_is_functional_and_keeps_structure():
    params = {"layer": [np.ones(2), (np.zeros(3), np.full((2, 2), 2.0))], "b": np.array(1.0)}
    grads = {"layer": [np.ones(2), (np.ones(3), np.ones((2, 2)))], "b": np.array(2.0)}
    before = {"layer": [params["layer"][0].copy()], "b": params["b"].copy()}
    opt = optim.SGD(0.5, momentum=0.9)
    state = opt.init(params)
    new, state = opt.update(grads, state, params)
    assert isinstance(new["layer"], list) and isinstance(new["layer"][1], tuple)
    np.testing.assert_allclose(new["layer"][1][1], np.full((2, 2), 1.5))
    assert float(new["b"]) == 0.0
    np.testing.assert_array_equal(params["layer"][0], before["layer"][0])  # nothing changed in place
    assert float(params["b"]) == float(before["b"])
    with pytest.raises(ValueError, match="same structure"):
        opt.update({"b": 1.0}, state, params)


def test_none_gradient_leaves_parameter():
    params = [np.ones(2), np.ones(2)]
    opt = optim.Adam(0.1)
    new, _ = opt.update([np.ones(2), None], opt.init(params), params)
    np.testing.assert_array_equal(new[1], np.ones(2))
    assert np.all(new[0] < 1.0)


def test_float32_stays_float32():
    p = np.ones(3, dtype=np.float32)
    for opt in (optim.SGD(0.1, momentum=0.9), optim.Adam(0.1)):
        new, state = opt.update(np.full(3, 0.5, dtype=np.float32), opt.init(p), p)
        assert new.dtype == np.float32


def test_learning_rate_schedule():
    seen = []

    def lr(step):
        seen.append(step)
        return 0.1 / step

    p, _ = two_steps(optim.SGD(lr))
    np.testing.assert_allclose(p, P0 - 0.1 * G1 - 0.05 * G2)
    assert seen == [1, 2]


def test_validation():
    with pytest.raises(ValueError, match="positive"):
        optim.SGD(0.0)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD(0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(0.1, nesterov=True)
    with pytest.raises(ValueError, match="b1"):
        optim.Adam(0.1, b1=1.0)
    with pytest.raises(ValueError, match="eps"):
        optim.Adam(0.1, eps=-1.0)
    assert "momentum=0.9" in repr(optim.SGD(0.1, momentum=0.9))
    assert "b2=0.999" in repr(optim.Adam(0.1))


# -- PyTorch-style step() over Variables ------------------------------------------------------


def quadratic_grads(w):
    """Gradients of 0.5 Σ c w² with c = (1, 2, 3): c·w."""
    return np.array([1.0, 2.0, 3.0]) * w


@pytest.mark.parametrize(
    "make",
    [
        lambda: optim.SGD(0.1),
        lambda: optim.SGD(0.1, momentum=0.9),
        lambda: optim.SGD(0.1, momentum=0.9, nesterov=True),
        lambda: optim.Adam(0.05),
    ],
    ids=["sgd", "momentum", "nesterov", "adam"],
)
def test_step_matches_update(make):
    c = np.array([1.0, 2.0, 3.0])
    w = ad.Variable(P0)
    ident = id(w)
    opt_step, opt_fun = make(), make()
    params = P0.copy()
    state = opt_fun.init(params)
    for _ in range(3):
        opt_step.zero_grad([w])
        np.sum(0.5 * c * w * w).backward()
        np.testing.assert_allclose(w.grad, quadratic_grads(w.value))
        opt_step.step([w])
        params, state = opt_fun.update(quadratic_grads(params), state, params)
        np.testing.assert_allclose(w.value, params, rtol=1e-14)
    assert id(w) == ident and w.is_leaf


def test_step_two_steps_by_hand():
    lr, mu = 0.1, 0.9
    w = ad.Variable(P0)
    opt = optim.SGD(lr, momentum=mu)
    for g in (G1, G2):
        w.grad = g.copy()
        opt.step(w)
    v2 = mu * G1 + G2
    np.testing.assert_allclose(w.value, P0 - lr * G1 - lr * v2)


def test_step_several_variables_and_skips_missing_grads():
    a, b = ad.Variable(np.ones(2)), ad.Variable(np.ones(2))
    opt = optim.Adam(0.1)
    np.sum(a * a).backward()  # b took no part: b.grad is None
    opt.step({"a": a, "b": b})
    assert np.all(a.value < 1.0)
    np.testing.assert_array_equal(b.value, np.ones(2))
    optim.zero_grad({"a": a, "b": b})
    assert a.grad is None and b.grad is None


def test_step_uses_per_variable_state():
    a, b = ad.Variable(np.ones(1)), ad.Variable(np.ones(1))
    opt = optim.Adam(0.1)
    a.grad = np.ones(1)
    opt.step([a])
    opt.step([a])
    b.grad = np.ones(1)
    opt.step([a, b])
    # b's first step is a first Adam step (bias correction with t = 1): exactly lr.
    np.testing.assert_allclose(1.0 - b.value, 0.1, rtol=1e-6)


def test_step_rejects_non_variables():
    with pytest.raises(TypeError, match="Variable"):
        optim.SGD(0.1).step([np.ones(2)])


def test_assign():
    w = ad.Variable(np.array([1.0, 2.0], dtype=np.float32))
    y = w * 2.0
    old = w.value
    optim.assign(w, [3, 4])
    assert w.value.dtype == np.float32
    np.testing.assert_array_equal(w.value, [3.0, 4.0])
    np.testing.assert_array_equal(old, [1.0, 2.0])  # a fresh array: nothing a tape saved changes
    with pytest.raises(ValueError, match="shape"):
        optim.assign(w, np.ones(3))
    with pytest.raises(ValueError, match="leaf"):
        optim.assign(y, np.ones(2))
    with pytest.raises(TypeError, match="Variable"):
        optim.assign(np.ones(2), np.ones(2))


def test_training_loop_converges():
    # Both styles minimise a least-squares problem to its closed-form solution.
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]

    def loss(w):
        r = X @ w - y
        return np.mean(r * r)

    w = ad.Variable(np.zeros(3))
    opt = optim.Adam(0.05)
    for _ in range(1500):
        opt.zero_grad(w)
        loss(w).backward()
        opt.step(w)
    np.testing.assert_allclose(w.value, w_star, atol=1e-5)
