"""Reverse mode: the transforms (grad, value_and_grad, vjp, jacrev), the PyTorch-style Variable
API, the Wengert list, error messages, memory and threads."""

from __future__ import annotations

import gc
import sys
import threading

import numpy as np
import pytest

import dualad as ad


def lecture(x1, x2):
    return np.log(x1) + x1 * x2 - np.sin(x2)


LECTURE_VALUE = np.log(2.0) + 10.0 - np.sin(5.0)
LECTURE_GRAD = (5.5, 2.0 - np.cos(5.0))  # (1/x1 + x2, x1 - cos x2)


# --------------------------------------------------------------------------------------------
# the lecture example, four ways
# --------------------------------------------------------------------------------------------


def test_lecture_value_reference():
    assert round(float(LECTURE_VALUE), 3) == 11.652
    assert LECTURE_GRAD[0] == 5.5 and round(LECTURE_GRAD[1], 3) == 1.716


def test_lecture_grad_argnums():
    g1, g2 = ad.grad(lecture, argnums=(0, 1))(2.0, 5.0)
    assert float(g1) == pytest.approx(5.5, abs=1e-14)
    assert float(g2) == pytest.approx(LECTURE_GRAD[1], abs=1e-14)
    assert round(float(g2), 3) == 1.716
    # single argnums give a bare gradient, not a tuple
    assert float(ad.grad(lecture)(2.0, 5.0)) == pytest.approx(5.5)
    assert float(ad.grad(lecture, argnums=1)(2.0, 5.0)) == pytest.approx(LECTURE_GRAD[1])
    assert float(ad.grad(lecture, argnums=-1)(2.0, 5.0)) == pytest.approx(LECTURE_GRAD[1])


def test_lecture_value_and_grad():
    value, (g1, g2) = ad.value_and_grad(lecture, argnums=(0, 1))(2.0, 5.0)
    assert round(float(value), 3) == 11.652
    assert float(value) == pytest.approx(LECTURE_VALUE, abs=1e-14)
    assert float(g1) == pytest.approx(5.5) and round(float(g2), 3) == 1.716


def test_keyword_arguments_pass_through_undifferentiated():
    """As JAX's: grad(f)(x, k=...) calls f(x, k=...) and differentiates x only."""
    def f(x, y, scale=1.0, shift=0.0):
        return scale * lecture(x, y) + shift

    eps = 1e-6
    fd = (f(2.0 + eps, 5.0, scale=3.0, shift=2.0) - f(2.0 - eps, 5.0, scale=3.0, shift=2.0)) / (2 * eps)
    assert float(ad.grad(f)(2.0, 5.0, scale=3.0, shift=2.0)) == pytest.approx(fd, rel=1e-8)
    value, (g1, g2) = ad.value_and_grad(f, argnums=(0, 1))(2.0, 5.0, scale=3.0, shift=2.0)
    assert float(value) == pytest.approx(3.0 * LECTURE_VALUE + 2.0)
    assert (float(g1), float(g2)) == pytest.approx((3.0 * 5.5, 3.0 * LECTURE_GRAD[1]))
    (g, aux) = ad.grad(lambda x, k: (f(x, 5.0, scale=k), k), has_aux=True)(2.0, k=2.0)
    assert float(g) == pytest.approx(11.0) and aux == 2.0


def test_lecture_vjp():
    y, pullback = ad.vjp(lecture, 2.0, 5.0)
    assert round(float(y), 3) == 11.652
    g1, g2 = pullback(1.0)
    assert float(g1) == pytest.approx(5.5) and float(g2) == pytest.approx(LECTURE_GRAD[1])
    # the pullback is linear and can be called again
    h1, h2 = pullback(2.0)
    assert float(h1) == pytest.approx(11.0) and float(h2) == pytest.approx(2 * LECTURE_GRAD[1])


def test_lecture_variable_backward():
    x1, x2 = ad.Variable(2.0), ad.Variable(5.0)
    y = lecture(x1, x2)
    assert isinstance(y, ad.Variable)
    assert round(float(ad.primal(y)), 3) == 11.652
    y.backward()
    assert float(x1.grad) == pytest.approx(5.5)
    assert round(float(x2.grad), 3) == 1.716


def test_lecture_tape_listing():
    tape = ad.Tape()
    x1, x2 = tape.variable(2.0), tape.variable(5.0)
    lecture(x1, x2)
    text = str(tape)
    lines = [ln.split()[0:3] for ln in text.splitlines()]
    assert len(text.splitlines()) == 7, text
    assert "v0 = input" in text and "v1 = input" in text
    assert "v2 = log(v0)" in text
    assert "v3 = multiply(v0, v1)" in text
    assert "v4 = add(v2, v3)" in text
    assert "v5 = sin(v1)" in text
    assert "v6 = subtract(v4, v5)" in text
    assert lines[0][0] == "v0"


def test_print_tape_shows_assignments(capsys):
    tape = ad.Tape()
    x = tape.variable(np.array([0.5, 2.0]))
    y = np.sum(np.sin(x) * x)
    print(tape)
    out = capsys.readouterr().out
    assert "v1 = sin(v0)" in out
    assert "v2 = multiply(v1, v0)" in out
    assert "v3 = sum(v2)" in out
    y.backward()
    np.testing.assert_allclose(x.grad, np.cos([0.5, 2.0]) * [0.5, 2.0] + np.sin([0.5, 2.0]))


# --------------------------------------------------------------------------------------------
# least squares by gradient descent; the swap rule of a linear layer
# --------------------------------------------------------------------------------------------


def test_ols_gradient_descent_reaches_lstsq():
    rng = np.random.default_rng(0)
    n, p = 40, 3
    X = rng.normal(size=(n, p))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.1 * rng.normal(size=n)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]

    loss = lambda w: np.mean((X @ w - y) ** 2)
    g = ad.grad(loss)
    eig = np.linalg.eigvalsh(2.0 * X.T @ X / n)
    lr = 1.0 / eig[-1]
    w = np.zeros(p)
    for _ in range(2000):
        w = w - lr * g(w)
        if np.max(np.abs(w - w_star)) < 1e-9:
            break
    np.testing.assert_allclose(w, w_star, atol=1e-6)
    np.testing.assert_allclose(g(w_star), np.zeros(p), atol=1e-10)
    np.testing.assert_allclose(g(np.zeros(p)), 2.0 * X.T @ (X @ np.zeros(p) - y) / n, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_swap_rule_minibatched_linear_layer(dtype):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(8, 5)).astype(dtype)
    W = rng.normal(size=(5, 3)).astype(dtype)
    G = rng.normal(size=(8, 3)).astype(dtype)
    L = lambda X, W: np.sum(G * (X @ W))
    gX, gW = ad.grad(L, argnums=(0, 1))(X, W)
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gW, X.T @ G, **tol)
    np.testing.assert_allclose(gX, G @ W.T, **tol)
    assert gW.dtype == dtype and gX.dtype == dtype
    assert gW.shape == W.shape and gX.shape == X.shape
    # the same through the PyTorch-style API
    Xv, Wv = ad.Variable(X), ad.Variable(W)
    L(Xv, Wv).backward()
    np.testing.assert_allclose(Wv.grad, X.T @ G, **tol)
    np.testing.assert_allclose(Xv.grad, G @ W.T, **tol)


def test_swap_rule_with_bias_and_vjp():
    rng = np.random.default_rng(2)
    X, W, b = rng.normal(size=(6, 4)), rng.normal(size=(4, 2)), rng.normal(size=2)
    G = rng.normal(size=(6, 2))
    y, pullback = ad.vjp(lambda X, W, b: X @ W + b, X, W, b)
    np.testing.assert_allclose(y, X @ W + b)
    gX, gW, gb = pullback(G)
    np.testing.assert_allclose(gX, G @ W.T, rtol=1e-12)
    np.testing.assert_allclose(gW, X.T @ G, rtol=1e-12)
    np.testing.assert_allclose(gb, G.sum(axis=0), rtol=1e-12)  # unbroadcast over the batch


# --------------------------------------------------------------------------------------------
# jacrev vs jacfwd, pytrees, argnums, chunking
# --------------------------------------------------------------------------------------------

_R = np.random.default_rng(3)
_A = _R.normal(size=(3, 4))

JAC_CASES = {
    "elementwise": (lambda x: np.sin(x) * x, (_R.normal(size=4),), 0),
    "matrix_in_vector_out": (lambda M: np.sum(M**2, axis=1), (_R.normal(size=(3, 2)),), 0),
    "vector_in_matrix_out": (lambda x: np.outer(x, np.tanh(x)), (_R.normal(size=3),), 0),
    "scalar_in": (lambda t: np.array([1.0, 2.0, 3.0]) * np.exp(t), (0.3,), 0),
    "scalar_out": (lambda x: np.sum(np.log1p(x**2)), (_R.normal(size=(2, 3)),), 0),
    "two_args": (lambda x, y: _A @ x * y[0] + np.sum(y), (_R.normal(size=4), _R.normal(size=2)), (0, 1)),
    "two_args_second": (lambda x, y: x * np.exp(y), (_R.normal(size=3), _R.normal(size=3)), 1),
    "dict_in": (lambda d: d["a"] * np.sum(d["b"] ** 2), ({"a": _R.normal(size=2), "b": _R.normal(size=3)},), 0),
    "tuple_out": (lambda x: (np.sum(x), x[:2] * x[1:3], np.cos(x)), (_R.normal(size=4),), 0),
    "dict_out_tuple_in": (
        lambda p, c: {"y": np.tanh(p[0] @ p[1]) * c, "z": np.sum(p[1])},
        ((_R.normal(size=(2, 3)), _R.normal(size=3)), 2.0),
        0,
    ),
    "pytree_both_argnums": (
        lambda d, t: {"u": d["w"] * t[0], "v": (np.sum(t[1] * d["w"][0]),)},
        ({"w": _R.normal(size=2)}, (_R.normal(size=2), _R.normal(size=(2, 2)))),
        (0, 1),
    ),
}


def _leaves(tree):
    if isinstance(tree, dict):
        return [x for k in tree for x in _leaves(tree[k])]
    if isinstance(tree, (tuple, list)):
        return [x for t in tree for x in _leaves(t)]
    return [tree]


def _same_structure(a, b):
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            _same_structure(a[k], b[k])
    elif isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), (type(a), type(b))
        for x, y in zip(a, b):
            _same_structure(x, y)
    else:
        assert not isinstance(b, (dict, tuple, list))


@pytest.mark.parametrize("name", list(JAC_CASES))
def test_jacrev_equals_jacfwd(name):
    f, args, argnums = JAC_CASES[name]
    jr = ad.jacrev(f, argnums=argnums)(*args)
    jf = ad.jacfwd(f, argnums=argnums)(*args)
    _same_structure(jr, jf)
    for a, b in zip(_leaves(jr), _leaves(jf)):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_jacrev_shapes_s_out_plus_s_in():
    f = lambda M: np.sin(M).T[None] * 2.0  # (3,2) -> (1,2,3)
    J = ad.jacrev(f)(np.ones((3, 2)))
    assert J.shape == (1, 2, 3, 3, 2)
    np.testing.assert_allclose(J, ad.jacfwd(f)(np.ones((3, 2))))
    J = ad.jacrev(lambda x: np.sum(x))(np.ones((2, 3)))
    assert J.shape == (2, 3)
    J = ad.jacrev(lambda t: np.full((2, 2), 1.0) * t)(1.5)
    assert J.shape == (2, 2)
    J = ad.jacrev(lambda x, y: x * y, argnums=(0, 1))(np.ones(3), 2.0)
    assert isinstance(J, tuple) and J[0].shape == (3, 3) and J[1].shape == (3,)
    np.testing.assert_allclose(J[0], 2.0 * np.eye(3))
    np.testing.assert_allclose(J[1], np.ones(3))


def test_jacrev_pytree_structure_mirrors():
    f, args, argnums = JAC_CASES["pytree_both_argnums"]
    J = ad.jacrev(f, argnums=argnums)(*args)
    assert set(J) == {"u", "v"}
    Ju_d, Ju_t = J["u"]
    assert set(Ju_d) == {"w"} and Ju_d["w"].shape == (2, 2)
    assert isinstance(Ju_t, tuple) and Ju_t[0].shape == (2, 2) and Ju_t[1].shape == (2, 2, 2)
    assert isinstance(J["v"], tuple) and len(J["v"]) == 1
    Jv_d, Jv_t = J["v"][0]
    assert Jv_d["w"].shape == (2,) and Jv_t[1].shape == (2, 2)


@pytest.mark.parametrize("chunk", [1, 3])
@pytest.mark.parametrize("name", ["elementwise", "matrix_in_vector_out", "vector_in_matrix_out", "two_args", "tuple_out", "dict_out_tuple_in"])
def test_jacrev_chunked_equals_unchunked(name, chunk):
    f, args, argnums = JAC_CASES[name]
    full = ad.jacrev(f, argnums=argnums)(*args)
    chunked = ad.jacrev(f, argnums=argnums, chunk_size=chunk)(*args)
    _same_structure(full, chunked)
    for a, b in zip(_leaves(full), _leaves(chunked)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)


def test_jacrev_bad_chunk_size():
    with pytest.raises(ValueError):
        ad.jacrev(np.sin, chunk_size=0)


# --------------------------------------------------------------------------------------------
# item assignment
# --------------------------------------------------------------------------------------------


def _assign_fn(x):
    y = x.copy()
    y[1] = x[0] ** 2
    y[[0, 2]] = x[2]
    return y


def test_item_assignment_on_variable_differentiated():
    x0 = np.array([1.5, 2.0, 3.0, -1.0])
    w = np.array([1.0, 10.0, 100.0, 1000.0])
    # y = [x2, x0^2, x2, x3]
    expected = np.array([10.0 * 2 * 1.5, 0.0, 1.0 + 100.0, 1000.0])
    x = ad.Variable(x0)
    y = _assign_fn(x)
    np.testing.assert_allclose(ad.primal(y), [3.0, 2.25, 3.0, -1.0])
    np.sum(w * y).backward()
    np.testing.assert_allclose(x.grad, expected)
    # the same through grad and jacrev
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(w * _assign_fn(x)))(x0), expected)
    J = ad.jacrev(_assign_fn)(x0)
    np.testing.assert_allclose(J, ad.jacfwd(_assign_fn)(x0))
    np.testing.assert_allclose(J, [[0, 0, 1, 0], [3.0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(x0, [1.5, 2.0, 3.0, -1.0])  # the input is untouched


def test_advanced_index_assignment_into_non_contiguous_values():
    """``y[int arrays] = v`` where y (or its cotangent) is not C-contiguous: the write once went
    into a reshaped copy and was lost -- a wrong value when y was a transpose, and a wrong
    gradient when the cotangent arrived transposed (``y @ y.T``)."""
    x = np.arange(6.0).reshape(2, 3) / 7.0
    idx = (np.array([2, 0]), np.array([0, 1]))

    def assign_t(x):
        y = np.copy(x.T)  # F-ordered, as np.copy keeps the layout
        y[idx] = 5.0 * x[1, 2]
        return y

    want = np.copy(x.T)
    want[idx] = 5.0 * x[1, 2]
    y, _ = ad.jvp(assign_t, (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(ad.primal(assign_t(ad.Variable(x))), want)
    J = np.zeros((3, 2, 2, 3))
    for i in range(3):
        for j in range(2):
            J[i, j, j, i] = 1.0
    J[idx + (slice(None), slice(None))] = 0.0
    J[idx + (1, 2)] = 5.0
    np.testing.assert_array_equal(ad.jacfwd(assign_t)(x), J)
    np.testing.assert_array_equal(ad.jacrev(assign_t)(x), J)

    def gram(x):
        y = np.copy(x)
        y[np.array([1]), np.array([1])] = np.mean(x)
        return np.sum(y @ y.T)

    g = ad.grad(gram)(x)
    np.testing.assert_allclose(g, ad.jacfwd(gram)(x), rtol=1e-13)
    y = x.copy()
    y[1, 1] = np.mean(x)
    closed = 2.0 * np.sum(y, axis=0)[None, :].repeat(2, axis=0)  # d/dy sum(y y^T) = 2 (1 1^T) y
    expected = closed.copy()
    expected[1, 1] = 0.0
    expected += np.sum(closed[1, 1]) / x.size  # through the mean
    np.testing.assert_allclose(g, expected, rtol=1e-13)


def test_item_assignment_slice_and_accumulate():
    def f(x):
        y = np.zeros(4) * x[0]
        y[1:3] = x[:2] * 3.0
        y[0] += x[1]
        return np.sum(y * np.array([1.0, 2.0, 5.0, 7.0]))

    g = ad.grad(f)(np.array([1.0, 2.0]))
    np.testing.assert_allclose(g, [6.0, 15.0 + 1.0])


def test_assignment_into_leaf_variable_raises():
    x = ad.Variable(np.array([1.0, 2.0, 3.0]))
    with pytest.raises((RuntimeError, TypeError, ValueError)):
        x[0] = 5.0
    np.testing.assert_array_equal(ad.primal(x), [1.0, 2.0, 3.0])


def test_writing_into_saved_array_raises():
    """A constant the tape saved cannot be modified behind its back."""
    c = np.array([1.0, 2.0])
    x = ad.Variable(np.array([3.0, 4.0]))
    y = np.sum(x * c)
    with pytest.raises(ValueError):
        c[0] = 10.0
    y.backward()
    np.testing.assert_allclose(x.grad, [1.0, 2.0])


# --------------------------------------------------------------------------------------------
# strong zeros
# --------------------------------------------------------------------------------------------


def test_strong_zero_where_branch_not_selected():
    f = lambda x: np.sum(np.where(x > 0, np.sqrt(x), 0.0))
    with np.errstate(all="ignore"):
        g = ad.grad(f)(np.array([-1.0, 4.0]))
    assert not np.any(np.isnan(g))
    np.testing.assert_array_equal(g, [0.0, 0.25])
    x = ad.Variable(np.array([-1.0, 4.0]))
    with np.errstate(all="ignore"):
        f(x).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.25])


def test_strong_zero_x_sqrt_x_at_zero():
    assert float(ad.grad(lambda x: x * np.sqrt(x))(0.0)) == 0.0
    g = ad.grad(lambda x: np.sum(x * np.sqrt(x)))(np.array([0.0, 4.0]))
    np.testing.assert_array_equal(g, [0.0, 3.0])
    assert float(ad.derivative(lambda x: x * np.sqrt(x))(0.0)) == 0.0


def test_nondiff_conventions_reverse():
    assert float(ad.grad(lambda x: ad.relu(x))(0.0)) == 0.0
    assert float(ad.grad(np.abs)(0.0)) == 0.0
    g = ad.grad(lambda x, y: np.maximum(x, y), argnums=(0, 1))(1.0, 1.0)
    assert (float(g[0]), float(g[1])) == (0.5, 0.5)
    assert float(ad.grad(np.sqrt)(0.0)) == np.inf
    assert float(ad.grad(np.floor)(1.3)) == 0.0


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


def test_grad_non_scalar_output_error_names_shape():
    with pytest.raises(ValueError, match=r"\(3,\)"):
        ad.grad(lambda x: x * 2.0)(np.ones(3))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        ad.value_and_grad(lambda x: x * 2.0)(np.ones((2, 3)))


def test_has_aux():
    f = lambda x: (np.sum(x**2), {"twice": x * 2.0, "n": 3})
    g, aux = ad.grad(f, has_aux=True)(np.array([1.0, 2.0]))
    np.testing.assert_allclose(g, [2.0, 4.0])
    assert isinstance(aux["twice"], np.ndarray)  # plain, not a Variable
    np.testing.assert_allclose(aux["twice"], [2.0, 4.0])
    assert int(aux["n"]) == 3
    (value, aux2), g2 = ad.value_and_grad(f, has_aux=True)(np.array([1.0, 2.0]))
    assert float(value) == 5.0
    np.testing.assert_allclose(g2, g)
    np.testing.assert_allclose(aux2["twice"], [2.0, 4.0])


def test_has_aux_misuse_raises_typeerror():
    with pytest.raises(TypeError):
        ad.grad(lambda x: np.sum(x), has_aux=True)(np.ones(3))
    with pytest.raises(TypeError):
        ad.grad(lambda x: (np.sum(x), x, x), has_aux=True)(np.ones(3))


def test_grad_of_tuple_without_has_aux_raises():
    with pytest.raises((TypeError, ValueError)):
        ad.grad(lambda x: (np.sum(x), x))(np.ones(3))


@pytest.mark.parametrize("escape", [float, np.asarray, np.array, lambda v: v.item()], ids=["float", "asarray", "array", "item"])
def test_escaping_a_variable_raises_typeerror(escape):
    with pytest.raises(TypeError, match=r"dualad\.primal"):
        ad.grad(lambda x: escape(x) * 2.0)(1.0)
    v = ad.Variable(np.array(2.0))
    with pytest.raises(TypeError, match=r"dualad\.primal"):
        escape(v * 3.0) + 1.0  # np.asarray/np.array give escaped elements: computing raises


def test_argnums_out_of_range():
    with pytest.raises(ValueError):
        ad.grad(lambda x: x, argnums=1)(1.0)
    with pytest.raises(ValueError):
        ad.grad(lambda x, y: x * y, argnums=(0, 2))(1.0, 2.0)
    with pytest.raises(ValueError):
        ad.value_and_grad(lambda x: x, argnums=-2)(1.0)
    with pytest.raises(ValueError):
        ad.jacrev(lambda x: x, argnums=3)(np.ones(2))


def test_non_callable_raises_typeerror():
    for transform in (ad.grad, ad.value_and_grad, ad.jacrev):
        with pytest.raises(TypeError):
            transform(3.0)
    with pytest.raises(TypeError):
        ad.vjp("not a function", 1.0)


def test_vjp_wrong_cotangent_shape():
    _, pullback = ad.vjp(lambda x: x * 3.0, np.ones(3))
    with pytest.raises(ValueError, match=r"\(2,\)"):
        pullback(np.ones(2))
    with pytest.raises(ValueError):
        pullback(np.ones((3, 1)))
    _, pullback = ad.vjp(lambda x: (x, np.sum(x)), np.ones(3))
    with pytest.raises(ValueError):
        pullback(np.ones(3))  # wrong structure


def test_unknown_numpy_function_raises_typeerror_naming_it():
    with pytest.raises(TypeError, match="histogramdd"):
        ad.grad(lambda x: np.sum(np.histogramdd(x[:, None], weights=x)[0]))(np.ones(3))


def test_complex_output_needs_holomorphic():
    with pytest.raises(TypeError, match="holomorphic=True"):
        ad.grad(lambda z: np.sum(z))(np.ones(2, dtype=complex))
    assert ad.grad(lambda z: np.sum(z), holomorphic=True)(np.ones(2, dtype=complex)).dtype == np.complex128


def test_int_input_promoted_to_float64():
    g = ad.grad(lambda x: np.sum(x**2))(np.array([1, 2, 3]))
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, [2.0, 4.0, 6.0])


def test_output_not_depending_on_input_gives_zero_grad():
    g = ad.grad(lambda x, y: np.sum(y**2), argnums=(0, 1))(np.ones(2, np.float32), np.ones(3))
    np.testing.assert_array_equal(g[0], np.zeros(2))
    assert g[0].dtype == np.float32 and g[0].shape == (2,)
    np.testing.assert_allclose(g[1], 2.0 * np.ones(3))
    np.testing.assert_array_equal(ad.grad(lambda x: 3.0)(np.ones(2)), np.zeros(2))


# --------------------------------------------------------------------------------------------
# Variable API
# --------------------------------------------------------------------------------------------


def test_variable_grad_accumulates_and_zero_grad():
    w = ad.Variable(np.array([1.0, 2.0]))
    np.sum(w * w).backward()
    np.testing.assert_allclose(w.grad, [2.0, 4.0])
    np.sum(3.0 * w).backward()  # a separate graph
    np.testing.assert_allclose(w.grad, [5.0, 7.0])
    w.zero_grad()
    assert w.grad is None or np.all(np.asarray(w.grad) == 0)
    np.sum(w).backward()
    np.testing.assert_allclose(w.grad, [1.0, 1.0])


def test_variable_backward_with_gradient_argument():
    x = ad.Variable(np.array([1.0, 2.0, 3.0]))
    y = x**2
    y.backward(gradient=np.array([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(x.grad, [2.0, 0.0, 12.0])
    x2 = ad.Variable(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"\(2,\)"):
        (x2 * 2.0).backward()
    x3 = ad.Variable(np.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        (x3 * 2.0).backward(gradient=np.ones(3))


def test_no_grad_gives_plain_arrays():
    w = ad.Variable(np.array([1.0, 2.0]))
    with ad.no_grad():
        y = np.sin(w) * 2.0 + w @ w
        z = np.sum(w)
    assert type(y) is np.ndarray and type(z) in (np.ndarray, np.float64)
    np.testing.assert_allclose(y, 2.0 * np.sin([1.0, 2.0]) + 5.0)
    # recording resumes afterwards
    loss = np.sum(w * w)
    assert isinstance(loss, ad.Variable)
    loss.backward()
    np.testing.assert_allclose(w.grad, [2.0, 4.0])


def test_no_grad_does_not_disable_transforms():
    with ad.no_grad():
        g = ad.grad(lambda x: np.sum(x**3))(np.array([1.0, 2.0]))
    np.testing.assert_allclose(g, [3.0, 12.0])


def test_backward_twice_needs_retain_graph():
    x = ad.Variable(np.array([1.0, 2.0]))
    y = np.sum(np.exp(x))
    y.backward()
    with pytest.raises(RuntimeError):
        y.backward()

    x = ad.Variable(np.array([1.0, 2.0]))
    y = np.sum(np.exp(x))
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2.0 * np.exp([1.0, 2.0]))


def test_variable_properties():
    x = ad.Variable(np.array([[1, 2], [3, 4]]))
    assert x.dtype == np.float64 and x.shape == (2, 2)
    assert x.is_leaf and x.grad is None
    y = x.T @ x
    assert isinstance(y, ad.Variable) and not y.is_leaf and y.shape == (2, 2)
    np.testing.assert_allclose(ad.primal(y), np.array([[10.0, 14.0], [14.0, 20.0]]))
    assert isinstance(x > 2.0, np.ndarray) and (x > 2.0).dtype == bool
    f32 = ad.Variable(np.ones(3, np.float32))
    assert (f32 * 2.0).dtype == np.float32


def test_variable_control_flow():
    def f(x):
        s = x * 0.0
        while np.sum(ad.primal(s)) < 10.0:
            s = s + x
        return np.sum(s) if np.sum(x) > 0 else -np.sum(s)

    assert float(ad.grad(f)(np.array([1.0, 2.0]).sum())) == pytest.approx(4.0)


# --------------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------------

_MEM_RNG = np.random.default_rng(4)
_MX = _MEM_RNG.normal(size=(8, 3))
_MY = _MEM_RNG.normal(size=8)
BOUND = 32 * 1024  # bytes per 4,000 iterations: 4,000 leaked tape entries would be megabytes


def _probe(loop: str) -> tuple[list, np.ndarray]:
    """Traced memory marks of a 10,000-step training loop (``tests/memory_probe.py``), in a
    fresh interpreter: global tables that earlier test modules filled (and resize later) were
    seen to add one-off steps of 70-140 KB inside a long pytest session."""
    import json
    import subprocess
    from pathlib import Path

    probe = Path(__file__).with_name("memory_probe.py")
    proc = subprocess.run([sys.executable, str(probe), loop], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["marks"], np.array(out["w"])


def _assert_flat(marks) -> None:
    """Neither window after the warm-up grows traced memory (current or peak) by a bound a
    leak of one tape entry per step would exceed many times over."""
    (c0, p0), (c1, p1), (c2, p2) = marks
    for before, after in ((c0, c1), (c1, c2), (p0, p1), (p1, p2)):
        assert after - before < BOUND, marks


def test_memory_flat_variable_loop_new_variable():
    marks, w = _probe("variable")
    _assert_flat(marks)
    # and it actually trained
    w_star = np.linalg.lstsq(_MX, _MY, rcond=None)[0]
    np.testing.assert_allclose(w, w_star, atol=1e-6)


def test_memory_flat_variable_loop_in_place():
    """In-place update of the leaf's value; measured by live allocator blocks (cheap), and the
    tape must not keep entries between iterations."""
    w = ad.Variable(np.zeros(3))

    def step():
        w.zero_grad()
        loss = np.sum((_MX @ w - _MY) ** 2)
        loss.backward()
        w.value[...] -= 0.01 * w.grad

    for _ in range(1000):
        step()
    gc.collect()
    blocks1 = sys.getallocatedblocks()
    for _ in range(9000):
        step()
    gc.collect()
    blocks2 = sys.getallocatedblocks()
    assert blocks2 - blocks1 < 200, (blocks1, blocks2)
    assert len(w.tape) == 0
    assert len(w.tape.leaves) < 100
    w_star = np.linalg.lstsq(_MX, _MY, rcond=None)[0]
    np.testing.assert_allclose(ad.primal(w), w_star, atol=1e-6)


def test_memory_flat_grad_loop():
    marks, w = _probe("grad")
    _assert_flat(marks)
    np.testing.assert_allclose(w, np.linalg.lstsq(_MX, _MY, rcond=None)[0], atol=1e-6)


def test_memory_probe_sees_a_leak():
    """The probe's bound catches a loop that keeps one small object per step."""
    import memory_probe

    kept = []
    marks = memory_probe.measure(lambda: kept.append(object()))
    with pytest.raises(AssertionError):
        _assert_flat(marks)


# --------------------------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------------------------


def test_tapes_are_per_thread():
    rng = np.random.default_rng(5)
    xa, xb = rng.normal(size=50), rng.uniform(0.5, 2.0, size=(4, 4))
    fa = lambda x: np.sum(np.sin(x) * x**2)
    fb = lambda M: np.sum(np.log(M) @ M.T) + np.prod(M[0])
    jobs = {"a": (fa, xa), "b": (fb, xb)}
    serial = {k: ad.grad(f)(x) for k, (f, x) in jobs.items()}
    serial_var = {}
    for k, (f, x) in jobs.items():
        v = ad.Variable(x)
        f(v).backward()
        serial_var[k] = v.grad

    n_iter = 200
    barrier = threading.Barrier(2)
    results: dict = {k: [] for k in jobs}
    errors: list = []

    def worker(k):
        f, x = jobs[k]
        try:
            barrier.wait()
            for i in range(n_iter):
                if i % 2:
                    results[k].append(ad.grad(f)(x))
                else:
                    v = ad.Variable(x)
                    f(v).backward()
                    results[k].append(v.grad)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k in jobs:
        assert len(results[k]) == n_iter
        np.testing.assert_allclose(serial[k], serial_var[k], rtol=1e-12)
        for r in results[k]:
            np.testing.assert_allclose(r, serial[k], rtol=1e-12, atol=1e-12)


def test_reusing_intermediate_of_freed_graph_raises():
    x = ad.Variable(np.array([1.0, 2.0]))
    h = np.sin(x)
    np.sum(h).backward()
    with pytest.raises(RuntimeError):
        np.sum(h * 2.0)
    # leaves stay usable
    np.sum(x * 2.0).backward()
    np.testing.assert_allclose(x.grad, np.cos([1.0, 2.0]) + 2.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_jacrev_dtype_and_vjp_dtype(dtype):
    x = np.array([0.5, 1.0, 2.0], dtype=dtype)
    f = lambda x: np.tanh(x) * x[::-1] + 1.0
    J = ad.jacrev(f)(x)
    assert J.dtype == np.dtype(dtype) and J.shape == (3, 3)
    np.testing.assert_allclose(J, ad.jacfwd(f)(x), rtol=1e-6)
    y, pullback = ad.vjp(f, x)
    assert np.asarray(y).dtype == np.dtype(dtype)
    assert pullback(np.ones(3, dtype=dtype))[0].dtype == np.dtype(dtype)
    g = ad.grad(lambda x: np.sum(f(x)))(x)
    assert g.dtype == np.dtype(dtype)
