"""record / replay / compile: replayed and compiled derivatives equal fresh ones; guards re-record."""

import numpy as np
import pytest
from scipy.optimize import rosen_der, rosen_hess

import dualad as ad
from dualad.transforms.compiled import ProgramRecording


def lecture(x1, x2):
    return np.log(x1) + x1 * x2 - np.sin(x2)


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def chain(x):
    return np.sum(np.sin(x) * np.exp(-(x**2)) + np.log1p(x**2))


def test_replay_value_grad_jacobian_hessian_at_new_inputs():
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(6)
    rec = ad.record(rosen, x0)
    for _ in range(3):
        x = rng.standard_normal(6)
        np.testing.assert_allclose(rec(x), rosen(x), rtol=1e-13)
        np.testing.assert_allclose(rec.grad(x), rosen_der(x), rtol=1e-12)
        np.testing.assert_allclose(rec.jacobian(x), rosen_der(x), rtol=1e-12)
        np.testing.assert_allclose(rec.jacobian(x, mode="forward"), rosen_der(x), rtol=1e-12)
        np.testing.assert_allclose(rec.hessian(x), rosen_hess(x), rtol=1e-12, atol=1e-12)
    assert rec.records == 1


def test_replay_multiple_arguments_and_outputs():
    rec = ad.record(lambda a, b: (a * b, np.sin(a) + b), np.ones(3), np.full(3, 2.0))
    a, b = np.array([0.1, 0.2, 0.3]), np.array([1.0, -1.0, 2.0])
    J = rec.jacobian(a, b)
    ref = ad.jacrev(lambda a, b: (a * b, np.sin(a) + b), argnums=(0, 1))(a, b)
    for got, want in zip(J, ref):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-13)


def test_guard_change_records_again():
    def f(x):
        if x[0] > 0:
            return np.sum(x**2)
        return np.sum(x**3)

    rec = ad.record(f, np.array([1.0, 2.0]))
    np.testing.assert_allclose(rec.grad(np.array([3.0, 1.0])), [6.0, 2.0])
    assert rec.records == 1
    np.testing.assert_allclose(rec.grad(np.array([-1.0, 1.0])), [3.0, 3.0])
    assert rec.records == 2


def test_data_dependent_permutation_is_an_op_not_a_guard():
    rec = ad.record(lambda x: np.sort(x) @ np.arange(3.0), np.array([3.0, 1.0, 2.0]))
    x = np.array([1.0, 5.0, 2.0])  # another order: the recorded sort computes it again
    np.testing.assert_allclose(rec.grad(x), ad.grad(lambda x: np.sort(x) @ np.arange(3.0))(x))
    assert rec.records == 1
    assert "take_by[by argsort]" in str(rec.tape)


def test_an_index_that_steers_python_is_a_guard():
    def f(x):
        i = np.argmax(x)
        return x[i] * 2.0 if i > 0 else x[i]

    rec = ad.record(f, np.array([3.0, 1.0]))
    np.testing.assert_allclose(rec(np.array([1.0, 3.0])), 6.0)
    assert rec.records == 2


def test_shape_change_records_again():
    rec = ad.record(chain, np.ones(4))
    np.testing.assert_allclose(rec.grad(np.ones(7)), ad.grad(chain)(np.ones(7)))
    assert rec.records == 2


def test_non_differentiated_argument_change_records_again():
    rec = ad.record(lambda x, w: np.sum(w * x), np.ones(2), np.array([1.0, 2.0]), argnums=0)
    np.testing.assert_allclose(rec.grad(np.ones(2), np.array([1.0, 2.0])), [1.0, 2.0])
    np.testing.assert_allclose(rec.grad(np.ones(2), np.array([5.0, 7.0])), [5.0, 7.0])
    assert rec.records == 2


def test_compiled_scalar_tape_matches_grad():
    fast = ad.record(lecture, 2.0, 5.0).compile()
    value, (g1, g2) = fast.value_and_grad(2.0, 5.0)
    assert abs(float(value) - 11.652071455223084) < 1e-12
    assert float(g1) == pytest.approx(5.5, abs=1e-14)
    assert float(g2) == pytest.approx(1.7163378145367738, abs=1e-14)
    for a, b in [(0.3, 1.0), (4.0, -2.0)]:
        got = fast.value_and_grad(a, b)[1]
        want = ad.grad(lecture, argnums=(0, 1))(a, b)
        np.testing.assert_allclose(np.array(got, dtype=float), np.array(want, dtype=float), rtol=1e-14)


def test_compiled_elementwise_program_with_final_sum():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(1000)
    fast = ad.record(chain, x).compile()
    v, g = fast.value_and_grad(x)
    v0, g0 = ad.value_and_grad(chain)(x)
    np.testing.assert_allclose(v, v0, rtol=1e-12)
    np.testing.assert_allclose(g, g0, rtol=1e-12, atol=1e-15)


def test_compiled_strong_zero_and_float32():
    fast = ad.record(lambda x: np.sum(x * np.sqrt(x)), np.zeros(3, np.float32)).compile()
    v, g = fast.value_and_grad(np.zeros(3, np.float32))
    assert g.dtype == np.float32 and not np.isnan(g).any()
    np.testing.assert_array_equal(g, 0.0)


def test_compiled_scalar_guard_falls_back_to_replay():
    def f(a):
        return a * a if a > 0 else -a

    fast = ad.record(f, 2.0).compile()
    assert float(fast.grad(3.0)) == 6.0
    assert float(fast.grad(-3.0)) == -1.0


def test_compile_of_any_recording_runs_its_program():
    """A recording the one-loop kernel does not fit (a matrix product, an indexing op, two
    shapes) still compiles: it runs the lowered program, and says why it is not one loop."""
    M = np.array([[2.0, -1.0, 0.5], [0.0, 1.0, 3.0], [1.0, 1.0, 1.0]])

    def f(x, y):
        return np.sum(np.tanh(x @ M) * x[::-1]) + np.sum(y**2) * x[0]

    x, y = np.array([0.3, -0.7, 1.1]), np.array([1.5, 2.0])
    fast = ad.record(f, x, y).compile()
    assert isinstance(fast, ProgramRecording) and "one common shape" in fast.why
    assert "einsum is not elementwise" in ad.record(lambda x: np.sum(x @ M), x).compile().why
    for k in range(3):
        xk, yk = x + 0.1 * k, y - 0.2 * k
        v, g = fast.value_and_grad(xk, yk)
        v0, g0 = ad.value_and_grad(f, argnums=(0, 1))(xk, yk)
        np.testing.assert_allclose(v, v0, rtol=1e-13)
        for a, b in zip(g, g0):
            np.testing.assert_allclose(a, b, rtol=1e-12)
        np.testing.assert_allclose(fast(xk, yk), v0, rtol=1e-13)
    # against central finite differences in x
    eps = 1e-6
    fd = [(f(x + eps * e, y) - f(x - eps * e, y)) / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(fast.grad(x, y)[0], fd, rtol=1e-7)


def test_compile_of_a_vector_valued_recording_is_refused_at_the_call():
    fast = ad.record(lambda x: np.sin(x) @ np.ones((3, 2)), np.ones(3)).compile()
    with pytest.raises(ValueError, match="one scalar output"):
        fast.value_and_grad(np.ones(3))


def test_compiled_fast_and_general_argument_paths_agree():
    """Floats and arrays of the recorded signature take the compiled fast path; other
    spellings of the same point (NumPy scalars, ints, a pytree) give identical results."""
    fast = ad.record(lecture, 2.0, 5.0).compile()
    v1, g1 = fast.value_and_grad(2.0, 5.0)
    v2, g2 = fast.value_and_grad(np.float64(2.0), 5)
    assert type(v1) is type(v2) and v1 == v2
    assert isinstance(g1, tuple) and [type(g) for g in g1] == [type(g) for g in g2]
    assert [np.shape(g) for g in g1] == [(), ()] and all(a == b for a, b in zip(g1, g2))
    x = np.linspace(0.5, 1.5, 7)
    one = ad.record(chain, x).compile()
    assert isinstance(one.value_and_grad(x)[1], np.ndarray)
    tree = ad.record(lambda d: chain(d["x"]), {"x": x}).compile()
    np.testing.assert_array_equal(tree.grad({"x": x})["x"], one.grad(x))
