"""No silent wrong answers: values that leave a tape or a Dual, outputs without derivatives,
caches keyed on what does not fix the result.

Each test reproduces a way a wrong number used to come back without a word (issue 13) and
checks the right answer, or a clear error, against an independent computation.
"""

from __future__ import annotations

import copy
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import dualad as ad

# --------------------------------------------------------------------------------------------
# Recordings never replay a value that escaped them


def _escaping(x):
    return np.sum(float(ad.primal(x[0])) * x)


def test_record_guards_a_value_taken_out_with_primal():
    rec = ad.record(_escaping, np.array([1.0, 1.0]))
    x = np.array([3.0, 4.0])
    assert float(rec(x)) == 21.0
    np.testing.assert_array_equal(rec.grad(x), [3.0, 3.0])
    np.testing.assert_array_equal(rec.grad(x), ad.grad(_escaping)(x))
    assert rec.records == 2
    rec.grad(np.array([3.0, -7.0]))  # the escaped value x[0] is unchanged: replayed
    assert rec.records == 2


def test_record_guards_variable_value():
    f = lambda x: np.sum(x * x.value[0])
    rec = ad.record(f, np.array([1.0, 1.0]))
    np.testing.assert_array_equal(rec.grad(np.array([3.0, 4.0])), [3.0, 3.0])


def test_compiled_recording_guards_an_escaped_scalar():
    g = lambda a, b: a * float(ad.primal(a)) + np.sin(b)
    fast = ad.record(g, 1.0, 2.0).compile()
    for a, b in [(3.0, 2.0), (-1.5, 0.3), (1.0, 2.0)]:
        value, grads = fast.value_and_grad(a, b)
        ref_value, ref_grads = ad.value_and_grad(g, argnums=(0, 1))(a, b)
        assert value == ref_value
        np.testing.assert_allclose(grads, ref_grads, rtol=1e-15)


@given(st.lists(st.floats(-5, 5), min_size=3, max_size=3), st.lists(st.floats(-5, 5), min_size=3, max_size=3))
@settings(max_examples=60, deadline=None)
def test_record_with_escapes_matches_retracing(x0, x1):
    """Whatever Python computes from escaped values, a replay equals a fresh trace."""

    def f(x):
        k = int(np.floor(ad.primal(x[1])))  # an escaped value used as an integer
        scale = float(ad.primal(np.sum(x)))
        return np.sum(np.sin(x) * scale) + x[0] * k

    rec = ad.record(f, np.array(x0))
    x = np.array(x1)
    np.testing.assert_allclose(rec(x), f(x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(rec.grad(x), ad.grad(f)(x), rtol=1e-13, atol=1e-13)


def test_record_sees_a_fixed_argument_changed_in_place():
    W = np.array([2.0])
    f = lambda x, W: x * float(W[0])  # (W read by Python: not an op operand)
    rec = ad.record(f, 1.0, W, argnums=0)
    W[0] = 3.0
    assert float(rec(1.0, W)) == 3.0
    assert float(rec.grad(1.0, W)) == 3.0


def test_record_guards_slogdet_sign_and_norm_zero():
    f = lambda x: np.linalg.slogdet(np.diag(x))[0] * np.sum(x)
    rec = ad.record(f, np.array([1.0, 2.0, 3.0]))
    x = np.array([-1.0, 2.0, 3.0])  # the sign flips
    np.testing.assert_array_equal(rec.grad(x), ad.grad(f)(x))
    np.testing.assert_array_equal(rec.grad(x), [-1.0, -1.0, -1.0])
    g = lambda x: np.linalg.norm(x, 0) * np.sum(x)
    rec = ad.record(g, np.array([1.0, 2.0, 3.0]))
    x = np.array([0.0, 2.0, 3.0])
    np.testing.assert_array_equal(rec.grad(x), [2.0, 2.0, 2.0])


def test_record_guards_where_on_an_active_condition():
    f = lambda x: np.sum(np.where(x - 1.0, x, 2.0 * x))  # (truth of x - 1)
    rec = ad.record(f, np.array([2.0, 3.0]))
    x = np.array([1.0, 3.0])
    np.testing.assert_array_equal(rec.grad(x), ad.grad(f)(x))
    np.testing.assert_array_equal(rec.grad(x), [2.0, 1.0])


def test_record_guard_on_nan_holds_for_the_same_nan():
    f = lambda x: x * (1.0 if np.isnan(ad.primal(x)) else 2.0)
    rec = ad.record(f, np.nan)
    for _ in range(3):
        assert np.isnan(rec(np.nan))
    assert rec.records == 1
    assert float(rec(1.0)) == 2.0 and rec.records == 2


def test_record_guard_on_a_tuple_result_is_replayed():
    """np.nonzero gives a tuple: compared item by item, not re-recorded at every replay."""
    f = lambda x: np.sum(x[np.nonzero(x)] ** 2)
    rec = ad.record(f, np.array([1.0, 0.0, 2.0]))
    assert float(rec(np.array([5.0, 0.0, 1.0]))) == 26.0
    assert rec.records == 1
    assert float(rec(np.array([5.0, 1.0, 1.0]))) == 27.0
    assert rec.records == 2


# --------------------------------------------------------------------------------------------
# The explicit ways out give values that cannot be written back


def test_primal_is_read_only():
    seen = {}

    def f(x):
        y = np.sin(x)
        p = ad.primal(y)
        seen["writeable"] = p.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            p[0] = 0.0
        return np.sum(y * x)

    x = np.array([0.5, 1.5])
    np.testing.assert_allclose(ad.grad(f)(x), np.sin(x) + x * np.cos(x), rtol=1e-15)
    assert seen["writeable"] is False
    assert ad.primal(np.ones(2)).flags.writeable  # plain input: returned as it is


def test_dual_primal_and_tangent_are_read_only():
    d = ad.Dual(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="read-only"):
        d.primal[0] = 3.0
    with pytest.raises(ValueError, match="read-only"):
        d.tangent[0] = 3.0


def test_hand_made_leaf_is_locked_while_a_graph_uses_it():
    w = ad.Variable(np.array([1.0, 2.0]))
    loss = np.sum(w * w)
    with pytest.raises(ValueError, match="read-only"):
        w.value[0] = 10.0
    loss.backward(retain_graph=True)
    with pytest.raises(ValueError, match="read-only"):  # the graph is kept: still locked
        w.value[0] = 10.0
    np.testing.assert_array_equal(w.grad, [2.0, 4.0])
    w.zero_grad()
    np.sum(w * w).backward()
    w.value[...] -= 0.5 * w.grad  # after backward(): an in-place parameter update
    np.testing.assert_array_equal(w.value, [0.0, 0.0])
    with ad.no_grad():  # evaluation without a graph does not lock
        np.sum(w * w)
    w.value[0] = 1.0


# --------------------------------------------------------------------------------------------
# Outputs that carry no derivative raise, naming their dtype

_X = np.array([1.0, 2.0])

_TRANSFORMS = {
    "grad": lambda f: ad.grad(f)(_X),
    "value_and_grad": lambda f: ad.value_and_grad(f)(_X),
    "jvp": lambda f: ad.jvp(f, (_X,), (_X,)),
    "vjp": lambda f: ad.vjp(f, _X),
    "jacfwd": lambda f: ad.jacfwd(f)(_X),
    "jacrev": lambda f: ad.jacrev(f)(_X),
    "jacobian": lambda f: ad.jacobian(f)(_X),
    "jacobian-forward": lambda f: ad.jacobian(f, mode="forward")(_X),
    "jacobian-reverse": lambda f: ad.jacobian(f, mode="reverse")(_X),
    "hessian": lambda f: ad.hessian(f)(_X),
    "hessian-ff": lambda f: ad.hessian(f, mode="forward-over-forward")(_X),
    "hvp": lambda f: ad.hvp(f, _X, _X),
    "derivative": lambda f: ad.derivative(lambda s: f(s * _X))(1.0),
    "check_grads": lambda f: ad.check_grads(f, (_X,)),
    "record.grad": lambda f: ad.record(f, _X).grad(_X),
    "record.jacobian": lambda f: ad.record(f, _X).jacobian(_X),
    "record.jacobian-forward": lambda f: ad.record(f, _X).jacobian(_X, mode="forward"),
    "record.hessian": lambda f: ad.record(f, _X).hessian(_X),
}

_NO_DERIVATIVE = {
    "np.allclose": (lambda x: np.allclose(x, 1.0), "bool"),
    "comparison": (lambda x: np.sum(x) > 1.0, "bool"),
    "argmax": (lambda x: np.argmax(x), "int"),
    "None": (lambda x: None, "None"),
    "string": (lambda x: "done", "str"),
    "in a tuple": (lambda x: (np.sum(x), np.sum(x) > 0), "bool"),
}


@pytest.mark.parametrize("output", sorted(_NO_DERIVATIVE))
@pytest.mark.parametrize("transform", sorted(_TRANSFORMS))
def test_output_without_derivative_raises(transform, output):
    f, dtype = _NO_DERIVATIVE[output]
    if output == "in a tuple" and transform in ("grad", "value_and_grad", "hessian", "hessian-ff", "hvp", "derivative",
                                                "check_grads", "record.grad", "record.hessian"):
        pytest.skip("scalar-output transforms refuse tuples for another reason")
    with pytest.raises(TypeError, match=r"carries no derivative") as info:
        _TRANSFORMS[transform](f)
    assert dtype in str(info.value)


def test_float_outputs_that_do_not_depend_on_the_input_have_zero_derivative():
    np.testing.assert_array_equal(ad.grad(lambda x: 3.0)(_X), [0.0, 0.0])
    np.testing.assert_array_equal(ad.jacfwd(lambda x: np.ones(3))(_X), np.zeros((3, 2)))
    np.testing.assert_array_equal(ad.jacrev(lambda x: np.ones(3))(_X), np.zeros((3, 2)))


def test_aux_may_be_anything():
    (value, aux), g = ad.value_and_grad(lambda x: (np.sum(x * x), {"n": 3, "ok": True, "tag": "a"}), has_aux=True)(_X)
    assert aux == {"n": 3, "ok": True, "tag": "a"}
    np.testing.assert_array_equal(g, 2 * _X)


# --------------------------------------------------------------------------------------------
# Copies, pickles and format strings


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy, lambda x: copy.deepcopy({"a": [x]})["a"][0]])
def test_copies_keep_the_derivative(copier):
    f = lambda x: np.sum(copier(x) ** 2)
    np.testing.assert_array_equal(ad.grad(f)(_X), 2 * _X)
    np.testing.assert_array_equal(ad.jacfwd(lambda x: copier(x) ** 2)(_X), np.diag(2 * _X))
    w = ad.Variable(_X.copy())
    f(w).backward()
    np.testing.assert_array_equal(w.grad, 2 * _X)


def test_pickling_an_active_value_raises():
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(ad.Dual(_X, _X))

    def f(x):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(x)
        return np.sum(x)

    ad.grad(f)(_X)


def test_format_spec_raises_plain_format_shows_the_value():
    d = ad.Dual(1.5, 1.0)
    assert "1.5" in f"{d}"
    with pytest.raises(TypeError, match=r"primal\(x\)"):
        f"{d:.3f}"


# --------------------------------------------------------------------------------------------
# np.unique carries derivatives (it used to return plain values: a silent zero gradient)


def test_unique_values_are_differentiable():
    x = np.array([1.0, 2.0, 1.0, 3.0])
    np.testing.assert_array_equal(ad.grad(lambda x: np.sum(np.unique(x) ** 2))(x), [2.0, 4.0, 0.0, 6.0])
    values, index, inverse, counts = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
    out = np.unique(ad.Dual(x, np.arange(4.0)), return_index=True, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(out[0].primal, values)
    np.testing.assert_array_equal(out[0].tangent, [0.0, 1.0, 3.0])  # first occurrences' tangents
    for a, b in zip(out[1:], (index, inverse, counts)):
        np.testing.assert_array_equal(a, b)
    J = ad.jacrev(lambda x: np.unique(x.reshape(2, 2), axis=0))(np.array([1.0, 2.0, 1.0, 2.0]))
    np.testing.assert_array_equal(J.reshape(2, 4), [[1, 0, 0, 0], [0, 1, 0, 0]])


# --------------------------------------------------------------------------------------------
# Caches keyed on what fixes the result


@pytest.mark.parametrize("mode", ["auto", "forward", "reverse"])
@pytest.mark.parametrize("executor", [False, True])
def test_jacobian_plan_reused_only_for_the_same_output_structure(mode, executor):
    """An int argument is keyed by type (so a time step does not re-measure); the output's
    shape may still depend on its value: the plan must not reshape into the old shape."""
    x = np.arange(8.0)
    with ThreadPoolExecutor(2) as ex:
        J = ad.jacobian(lambda x, k: x.reshape(k, -1) * 2.0, mode=mode, executor=ex if executor else None)
        for k in (2, 4, 8, 2):
            np.testing.assert_array_equal(J(x, k), 2.0 * np.eye(8).reshape(k, 8 // k, 8))
        Jd = ad.jacobian(lambda x, k: {"a": x[:k], "b": x[k:]}, mode=mode, executor=ex if executor else None)
        for k in (2, 5):
            out = Jd(x, k)
            np.testing.assert_array_equal(out["a"], np.eye(8)[:k])
            np.testing.assert_array_equal(out["b"], np.eye(8)[k:])


def test_sparse_pattern_of_a_large_argument_changed_in_place():
    """The pattern depends on A's zeros: every element counts, not a sample of a large A."""
    A = np.ones(600_000)
    A[3] = 0.0
    J = ad.jacobian(lambda x, A: x * A[:5], sparsity="auto")
    x = np.arange(1.0, 6.0)
    assert J(x, A).toarray()[3, 3] == 0.0
    A[3] = 2.0  # a position a strided sample of A would miss
    np.testing.assert_array_equal(J(x, A).toarray(), np.diag(A[:5]))


def test_given_sparsity_pattern_is_frozen_and_keyed_by_content():
    f = lambda x: x**2
    x = np.arange(1.0, 5.0)
    P = sp.lil_matrix(np.eye(4, dtype=bool))
    J = ad.jacobian(f, sparsity=P)
    np.testing.assert_array_equal(J(x).toarray(), np.diag(2 * x))
    P[0, 1] = True  # changing the caller's matrix later changes nothing
    np.testing.assert_array_equal(J(x).toarray(), np.diag(2 * x))
    tri = sp.csr_matrix(np.triu(np.ones((4, 4), dtype=bool)))
    J2 = ad.jacobian(lambda x: np.cumsum(x[::-1])[::-1], sparsity=tri)  # another f, another pattern
    np.testing.assert_array_equal(J2(x).toarray(), np.triu(np.ones((4, 4))))
    H = ad.hessian(lambda x: np.sum(x**3), sparsity=sp.csr_matrix(np.eye(4)))
    np.testing.assert_array_equal(H(x).toarray(), np.diag(6 * x))


def test_rule_cache_key_covers_helpers_and_constants():
    """Kernels are cached on disk by the rule's key: a helper or constant the rule reads,
    changed between two runs, must change the key (else a stale derivative is loaded)."""
    from dualad.rules.base import _fingerprint_source

    namespace = {"np": np}
    exec("K = 3.0\ndef helper(x):\n    return x * K\ndef rule(x):\n    return helper(x), K\n", namespace)
    first = _fingerprint_source(namespace["rule"], set())
    exec("K = 4.0", namespace)
    assert _fingerprint_source(namespace["rule"], set()) != first
    exec("K = 3.0\ndef helper(x):\n    return x * K * 1.0\n", namespace)
    assert _fingerprint_source(namespace["rule"], set()) != first
    exec("def helper(x):\n    return x * K\n", namespace)
    assert _fingerprint_source(namespace["rule"], set()) == first


SCALE = 2.0


def _scaled(x):
    return np.sum(x * SCALE)


def test_record_sees_a_changed_global_and_closure():
    global SCALE
    rec = ad.record(_scaled, np.ones(2))
    try:
        SCALE = 3.0
        np.testing.assert_array_equal(rec.grad(np.ones(2)), [3.0, 3.0])
    finally:
        SCALE = 2.0
    weights = np.array([1.0, 1.0])
    f = lambda x: np.sum(x * weights)  # (an operand: the recording keeps it read-only)
    rec = ad.record(f, np.ones(2))
    with pytest.raises(ValueError, match="read-only"):
        weights[0] = 5.0
    box = np.array([2.0])
    g = lambda x: x * float(box[0])  # (read by Python: checked at each replay)
    rec = ad.record(g, 1.0)
    box[0] = 4.0
    assert float(rec.grad(1.0)) == 4.0


def test_compiled_recording_follows_the_recording_it_came_from():
    c = [2.0]
    f = lambda a: np.sum(a * a * c[0])  # (c[0] read through a list: a constant of the recording)
    rec = ad.record(f, 1.0)
    fast = rec.compile()
    assert fast.value_and_grad(3.0)[1] == 12.0
    rec.grad(np.array([1.0, 2.0]))  # recorded again at another shape
    np.testing.assert_array_equal(fast.grad(np.array([1.0, 2.0, 3.0])), ad.grad(f)(np.array([1.0, 2.0, 3.0])))
    k = 2.0
    g = lambda a: a * a * k
    fast = ad.record(g, 1.0).compile()
    assert fast.grad(3.0) == 12.0
    k = 5.0
    assert fast.grad(3.0) == 30.0


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev", "jacobian", "record-reverse", "record-forward"])
def test_empty_inputs_and_outputs_give_empty_jacobians(transform):
    x = np.zeros((0, 3))
    run = {
        "jacfwd": lambda f: ad.jacfwd(f)(x),
        "jacrev": lambda f: ad.jacrev(f)(x),
        "jacobian": lambda f: ad.jacobian(f)(x),
        "record-reverse": lambda f: ad.record(f, x).jacobian(x),
        "record-forward": lambda f: ad.record(f, x).jacobian(x, mode="forward"),
    }[transform]
    assert run(np.sin).shape == (0, 3, 0, 3)
    np.testing.assert_array_equal(run(lambda x: np.sum(x, axis=0)), np.zeros((3, 0, 3)))
